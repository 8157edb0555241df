//! Black-box tests of the server: listeners, TLS, routing, metrics, shutdown,
//! and configuration errors through the `signet` binary.

mod common;
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{http_request, HttpsClient, TestServer};
use http::StatusCode;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use signet::clock::Clock as _;
use signet::server::routing::{json_response, BoxFuture, FrontEnd, HttpRequest, HttpResponse};
use support::spawn_serve;

/// Echoes what the server passed to a front end (client chain, TLS flag, body size);
/// sleeps `?sleep_ms=N` first.
struct Echo;

impl FrontEnd for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn prefix(&self) -> &str {
        "/test-echo"
    }
    fn handle(&self, req: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        Box::pin(async move {
            if let Some(ms) = req
                .query
                .as_deref()
                .and_then(|q| q.strip_prefix("sleep_ms="))
                .and_then(|v| v.parse::<u64>().ok())
            {
                tokio::time::sleep(Duration::from_millis(ms)).await;
            }
            if req.path == "/test-echo/panic" {
                panic!("front end bug");
            }
            let leaf_sha256 = req
                .client_chain
                .first()
                .map(|c| hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, c)));
            json_response(
                StatusCode::OK,
                &serde_json::json!({
                    "method": req.method.as_str(),
                    "path": req.path,
                    "query": req.query,
                    "tls": req.tls,
                    "chain_len": req.client_chain.len(),
                    "leaf_sha256": leaf_sha256,
                    "body_len": req.body.len(),
                    "content_type": req.header("content-type"),
                    "peer_ip": req.peer.ip().to_string(),
                }),
            )
        })
    }
}

/// A server with the echo front end, on its own runtime (like TestServer).
struct EchoServer {
    runtime: tokio::runtime::Runtime,
    server: Option<signet::server::RunningServer>,
    root_pem: String,
    _dir: tempfile::TempDir,
}

impl EchoServer {
    fn start(edit: impl FnOnce(&mut signet::config::Config)) -> EchoServer {
        Self::start_with_clock(signet::clock::system(), edit)
    }

    fn start_with_clock(
        clock: signet::clock::SharedClock,
        edit: impl FnOnce(&mut signet::config::Config),
    ) -> EchoServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = TestServer::test_config(dir.path());
        edit(&mut config);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let server = runtime
            .block_on(signet::server::start_with(
                config,
                clock,
                vec![Arc::new(Echo) as Arc<dyn FrontEnd>],
            ))
            .unwrap();
        // the HTTPS listener's certificate chains to the dev TLS CA
        let root_pem = std::fs::read_to_string(dir.path().join("ca/tls-ca.pem")).unwrap();
        EchoServer {
            runtime,
            server: Some(server),
            root_pem,
            _dir: dir,
        }
    }

    fn server(&self) -> &signet::server::RunningServer {
        self.server.as_ref().unwrap()
    }

    fn client(&self) -> HttpsClient {
        HttpsClient::new(self.server().https_addr, &self.root_pem)
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = self.runtime.block_on(server.shutdown());
        }
    }
}

/// A self-signed code-signing certificate (no clientAuth EKU) and its key.
fn code_signing_identity() -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "build-agent-7");
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::CodeSigning];
    let cert = params.self_signed(&key).unwrap();
    (
        vec![cert.der().clone()],
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
    )
}

#[test]
fn serves_https_on_embedded_defaults_with_a_cert_chaining_to_the_dev_tls_ca() {
    let server = TestServer::start();
    assert!(server.https_addr.ip().is_loopback());
    assert_ne!(server.https_addr.port(), 0);
    assert_ne!(server.http_addr.port(), server.https_addr.port());
    assert_eq!(
        server.base_url,
        format!("https://localhost:{}", server.https_addr.port())
    );
    assert_eq!(
        server.http_base_url,
        format!("http://localhost:{}", server.http_addr.port())
    );
    // the client verifies the chain against ca/tls-ca.pem and the name "localhost"
    let resp = server.get("/no/such/path");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.json()["error"]["type"], "notFound");
    // ... and the IP address in tls_hostnames
    let resp = server
        .client()
        .server_name("127.0.0.1")
        .request("GET", "/", &[], b"");
    assert_eq!(resp.status, 404);
    // a name not in the certificate is refused by the client
    let err = server
        .client()
        .server_name("signet.example.com")
        .try_request("GET", "/", &[], b"")
        .unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // a client trusting another root refuses the server
    let (other, _) = code_signing_identity();
    let other_pem = pem::encode(&pem::Pem::new("CERTIFICATE", other[0].to_vec()));
    assert!(HttpsClient::new(server.https_addr, &other_pem)
        .try_request("GET", "/", &[], b"")
        .is_err());
    // the listener's certificate comes from the dev TLS CA, never from the
    // code-signing root (CS BR 7.1.2.2): trusting only the root fails
    let err = HttpsClient::new(server.https_addr, &server.root_pem)
        .try_request("GET", "/", &[], b"")
        .unwrap_err();
    assert!(err.to_lowercase().contains("certificate"), "{err}");
}

#[test]
fn metrics_are_served_over_plain_http() {
    let server = TestServer::start();
    assert_eq!(server.get("/nope").status, 404);
    let resp = server.admin("GET", "/admin/v1/organizations", None);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let resp = server.http_get("/metrics");
    assert_eq!(resp.status, 200);
    assert!(
        resp.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        resp.headers
    );
    let text = resp.text();
    for needle in [
        "# TYPE signet_http_requests_total counter",
        "signet_http_requests_total{frontend=\"none\",route=\"unmatched\",status=\"404\"} 1",
        "signet_http_requests_total{frontend=\"admin\",route=\"/admin/v1\",status=\"200\"} 1",
        "# TYPE signet_http_request_duration_seconds histogram",
        "signet_http_request_duration_seconds_count{frontend=\"admin\",route=\"/admin/v1\",status=\"200\"} 1",
        "signet_mails_total{outcome=\"sent\",transport=\"outbox\"} 0",
        "signet_build_info{version=\"",
        "signet_http_connections_open{listener=\"http\"} 1",
        "process_resident_memory_bytes",
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    // HTTPS listener does not serve /metrics
    assert_eq!(server.get("/metrics").status, 404);
    // and the second scrape counts the first
    let text = server.http_get("/metrics").text();
    assert!(text.contains(
        "signet_http_requests_total{frontend=\"metrics\",route=\"/metrics\",status=\"200\"} 1"
    ));
    assert_eq!(server.http_get("/healthz").text(), "ok\n");
}

#[test]
fn unknown_paths_get_a_json_404_on_both_listeners() {
    let server = TestServer::start();
    for path in ["/", "/acmex", "/admin/v2/x", "/.well-known/other"] {
        let resp = server.get(path);
        assert_eq!(resp.status, 404, "{path}");
        assert_eq!(resp.json()["error"]["type"], "notFound", "{path}");
    }
    let resp = server.http_get("/admin/v1/organizations");
    assert_eq!(resp.status, 404, "the admin API is HTTPS only");
    assert_eq!(resp.json()["error"]["type"], "notFound");
    assert_eq!(server.http_get("/metricsx").status, 404);
}

#[test]
fn ca_certificates_are_served_over_plain_http() {
    let server = TestServer::start();
    let resp = server.http_get("/ca/root.pem");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("content-type"), Some("application/x-pem-file"));
    assert_eq!(resp.text(), server.root_pem);
    let der = server.http_get("/ca/issuing.crt");
    assert_eq!(der.status, 200);
    assert_eq!(der.header("content-type"), Some("application/pkix-cert"));
    assert_eq!(der.body, server.app.ca.issuing_cert_der());
    let (_, cert) = x509_parser::parse_x509_certificate(&der.body).unwrap();
    assert!(cert.is_ca());
    let root = server.http_get("/ca/root.crt");
    assert_eq!(root.body, server.app.ca.root_cert_der());
    // the AIA/CRL URLs given to the CA were derived from the plain-HTTP listener
    assert_eq!(
        server.app.config.ca.issuer_url,
        format!("{}/ca/issuing.crt", server.http_base_url)
    );
    assert_eq!(
        server.app.config.ca.crl_url,
        format!("{}/crl/issuing.crl", server.http_base_url)
    );
    assert_eq!(
        http_request(server.http_addr, "POST", "/ca/root.pem", &[], b"x").status,
        405
    );
    assert_eq!(server.http_get("/ca/nothing.pem").status, 404);
}

#[test]
fn restart_reuses_the_same_ca_and_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let first = TestServer::start_in(dir.path(), |_| {});
    let root = first.root_pem.clone();
    let tls_ca = first.tls_ca_pem.clone();
    let issuing = first.app.ca.issuing_cert_der().to_vec();
    let token = first.admin_token.clone();
    assert_eq!(first.get("/x").status, 404);
    first.stop();

    let second = TestServer::start_in(dir.path(), |_| {});
    assert_eq!(second.root_pem, root);
    assert_eq!(second.tls_ca_pem, tls_ca);
    assert_eq!(second.app.ca.issuing_cert_der(), issuing.as_slice());
    assert_eq!(second.admin_token, token);
    // the new server certificate still chains to the same TLS CA
    assert_eq!(
        HttpsClient::new(second.https_addr, &tls_ca)
            .request("GET", "/x", &[], b"")
            .status,
        404
    );
}

#[test]
fn admin_token_is_generated_into_the_data_dir() {
    let server = TestServer::start();
    let path = server.data_dir.join("admin-token");
    let on_disk = std::fs::read_to_string(&path).unwrap();
    assert_eq!(on_disk.trim(), server.admin_token);
    assert_eq!(server.admin_token.len(), 43);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert_eq!(
        server.admin("GET", "/admin/v1/organizations", None).status,
        200
    );
    let unauth = server.get("/admin/v1/organizations");
    assert_eq!(unauth.status, 401);

    // a configured token wins and no file is written
    let configured = TestServer::start_with(|c| {
        c.server.admin_token = Some(signet::config::Secret::new("configured-token-0123456789"));
    });
    assert_eq!(configured.admin_token, "configured-token-0123456789");
    assert!(!configured.data_dir.join("admin-token").exists());
    assert_eq!(
        configured
            .admin("GET", "/admin/v1/organizations", None)
            .status,
        200
    );
}

#[test]
fn oversized_bodies_get_413() {
    let server = TestServer::start_with(|c| c.server.max_body_bytes = 2048);
    let resp = server.post(
        "/admin/v1/organizations",
        &[("Content-Type", "application/json")],
        &vec![b' '; 4096],
    );
    assert_eq!(resp.status, 413, "{}", resp.text());
    assert_eq!(resp.json()["error"]["type"], "payloadTooLarge");
    // chunked bodies are limited too (no Content-Length to check up front)
    let mut body = Vec::new();
    for _ in 0..4 {
        body.extend_from_slice(b"400\r\n");
        body.extend_from_slice(&[b' '; 1024]);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"0\r\n\r\n");
    let resp = server.post(
        "/admin/v1/organizations",
        &[("Transfer-Encoding", "chunked")],
        &body,
    );
    assert_eq!(resp.status, 413, "{}", resp.text());
}

#[test]
fn front_ends_get_the_request_and_optional_client_certificates() {
    let echo = EchoServer::start(|_| {});
    // without a client certificate
    let resp = echo.client().request(
        "POST",
        "/test-echo/x?y=z",
        &[("Content-Type", "application/pkcs10")],
        b"abc",
    );
    assert_eq!(resp.status, 200);
    let v = resp.json();
    assert_eq!(v["method"], "POST");
    assert_eq!(v["path"], "/test-echo/x");
    assert_eq!(v["query"], "y=z");
    assert_eq!(v["tls"], true);
    assert_eq!(v["chain_len"], 0);
    assert_eq!(v["body_len"], 3);
    assert_eq!(v["content_type"], "application/pkcs10");
    assert_eq!(v["peer_ip"], "127.0.0.1");

    // with a code-signing certificate that no WebPKI client verifier would accept
    let (chain, key) = code_signing_identity();
    let expected = hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &chain[0],
    ));
    let client =
        HttpsClient::with_client_cert(echo.server().https_addr, &echo.root_pem, chain, key);
    let v = client.request("GET", "/test-echo", &[], b"").json();
    assert_eq!(v["chain_len"], 1);
    assert_eq!(v["leaf_sha256"], expected);
    // the same client resumes its TLS session: the chain is still there
    for _ in 0..2 {
        let v = client.request("GET", "/test-echo", &[], b"").json();
        assert_eq!(v["chain_len"], 1);
        assert_eq!(v["leaf_sha256"], expected);
    }

    // a panicking front end costs a 500, not the server
    let resp = echo.client().request("GET", "/test-echo/panic", &[], b"");
    assert_eq!(resp.status, 500);
    assert_eq!(resp.json()["error"]["type"], "serverInternal");
    assert_eq!(
        echo.client().request("GET", "/test-echo", &[], b"").status,
        200
    );
}

#[test]
fn connections_are_kept_alive() {
    let echo = EchoServer::start(|_| {});
    let addr = echo.server().https_addr;
    let mut roots = rustls::RootCertStore::empty();
    for c in <CertificateDer as rustls_pki_types::pem::PemObject>::pem_slice_iter(
        echo.root_pem.as_bytes(),
    ) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(cfg), "localhost".try_into().unwrap()).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
    for i in 0..3 {
        write!(
            tls,
            "GET /test-echo/{i} HTTP/1.1\r\nHost: localhost\r\n\r\n"
        )
        .unwrap();
        tls.flush().unwrap();
        // read one response: head, then Content-Length bytes
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            tls.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        let len: usize = head
            .lines()
            .find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap();
        let mut body = vec![0u8; len];
        tls.read_exact(&mut body).unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["path"], format!("/test-echo/{i}"));
    }
}

#[test]
fn graceful_shutdown_finishes_in_flight_requests() {
    let mut echo = EchoServer::start(|c| c.server.shutdown_timeout_secs = 10);
    let addr = echo.server().https_addr;
    let client = echo.client();
    let slow = std::thread::spawn(move || {
        let started = Instant::now();
        let resp = client.request("GET", "/test-echo/slow?sleep_ms=1500", &[], b"");
        (resp, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(400));
    let server = echo.server.take().unwrap();
    let stopped = Instant::now();
    echo.runtime.block_on(server.shutdown()).unwrap();
    let (resp, took) = slow.join().unwrap();
    assert_eq!(resp.status, 200, "the in-flight request completes");
    assert!(took >= Duration::from_millis(1400), "{took:?}");
    assert!(stopped.elapsed() < Duration::from_secs(8));
    // the listener is closed
    assert!(TcpStream::connect(addr).is_err());
}

#[test]
fn shutdown_timeout_bounds_the_wait() {
    let mut echo = EchoServer::start(|c| c.server.shutdown_timeout_secs = 1);
    let client = echo.client();
    let slow = std::thread::spawn(move || {
        client.try_request("GET", "/test-echo/slow?sleep_ms=20000", &[], b"")
    });
    std::thread::sleep(Duration::from_millis(400));
    let server = echo.server.take().unwrap();
    let stopped = Instant::now();
    echo.runtime.block_on(server.shutdown()).unwrap();
    assert!(
        stopped.elapsed() < Duration::from_secs(5),
        "{:?}",
        stopped.elapsed()
    );
    assert!(
        slow.join().unwrap().is_err(),
        "the stuck request was cut off"
    );
}

#[test]
fn behind_a_tls_proxy_the_main_listener_speaks_plain_http() {
    let server = TestServer::start_with(|c| {
        c.server.behind_tls_proxy = true;
        c.server.public_url = Some("https://signet.example.com/".into());
    });
    assert_eq!(server.base_url, "https://signet.example.com");
    let resp = http_request(server.https_addr, "GET", "/nope", &[], b"");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.json()["error"]["type"], "notFound");
    let auth = format!("Bearer {}", server.admin_token);
    let resp = http_request(
        server.https_addr,
        "GET",
        "/admin/v1/organizations",
        &[("Authorization", &auth)],
        b"",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
}

#[test]
fn tls_certificate_files_replace_the_ca_issued_one() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let cert_path = dir.path().join("tls.pem");
    let key_path = dir.path().join("tls.key");
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let server = TestServer::start_with(|c| {
        c.server.tls_cert_file = Some(cert_path.clone());
        c.server.tls_key_file = Some(key_path.clone());
    });
    // trusted through the file's own certificate, not the dev root
    let resp = HttpsClient::new(server.https_addr, &cert.pem()).request("GET", "/x", &[], b"");
    assert_eq!(resp.status, 404);
    assert!(server.client().try_request("GET", "/x", &[], b"").is_err());

    // a missing file is a start-up error naming the key
    let mut config = TestServer::test_config(dir.path());
    config.server.tls_cert_file = Some(dir.path().join("missing.pem"));
    config.server.tls_key_file = Some(key_path);
    let err = TestServer::try_start(config, signet::clock::system())
        .err()
        .expect("start must fail");
    assert!(err.contains("server.tls_cert_file"), "{err}");
}

#[test]
fn a_busy_port_is_an_error_naming_the_key() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = TestServer::test_config(dir.path());
    config.server.http_listen = busy.local_addr().unwrap().to_string();
    let err = TestServer::try_start(config, signet::clock::system())
        .err()
        .expect("start must fail");
    assert!(err.contains("server.http_listen"), "{err}");
}

fn signet_bin(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_signet"));
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    // keep the caller's SIGNET_* out of the way
    for (k, _) in std::env::vars() {
        if k.starts_with("SIGNET_") {
            cmd.env_remove(k);
        }
    }
    cmd.output().expect("run signet")
}

#[test]
fn config_check_names_the_bad_key() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.display().to_string()
    };

    let good = write("good.toml", "[server]\nlisten = \"127.0.0.1:9443\"\n");
    let out = signet_bin(&["config", "check", "--config", &good], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("127.0.0.1:9443"));

    let bad_key = write("bad-key.toml", "[server]\nlisen = \"127.0.0.1:9443\"\n");
    let out = signet_bin(&["config", "check", "--config", &bad_key], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown key \"server.lisen\""), "{err}");

    let bad_value = write("bad-value.toml", "[server]\nlisten = \"abc\"\n");
    let out = signet_bin(&["config", "check", "--config", &bad_value], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("server.listen: invalid socket address \"abc\""),
        "{err}"
    );

    // environment overrides are checked too, and name the key
    let out = signet_bin(
        &["config", "check", "--config", &good],
        &[("SIGNET_MAIL__TRANSPORT", "pigeon")],
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("mail.transport"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // the shipped default.toml and examples pass
    let root = env!("CARGO_MANIFEST_DIR");
    for file in [
        "config/default.toml",
        "config/examples/development.toml",
        "config/examples/smtp-relay.toml",
        "config/examples/behind-proxy.toml",
    ] {
        let out = signet_bin(
            &["config", "check", "--config", &format!("{root}/{file}")],
            &[],
        );
        assert!(
            out.status.success(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // secrets are not printed
        assert!(!String::from_utf8_lossy(&out.stdout).contains("change-me"));
    }
}

/// `signet serve` from the environment alone, stopped by a signal: it exits 0
/// after a graceful shutdown.
#[test]
fn serve_binary_stops_gracefully_on_sigterm_and_sigint() {
    for signal in ["TERM", "INT"] {
        let dir = tempfile::tempdir().unwrap();
        let (mut child, url) = spawn_serve(dir.path(), &[]);
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        let root = std::fs::read_to_string(dir.path().join("ca/tls-ca.pem")).unwrap();
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let resp = HttpsClient::new(addr, &root).request("GET", "/nope", &[], b"");
        assert_eq!(resp.status, 404);

        let status = std::process::Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(child.id().to_string())
            .status()
            .unwrap();
        assert!(status.success());
        let stopped = Instant::now();
        let exit = loop {
            if let Some(exit) = child.try_wait().unwrap() {
                break exit;
            }
            if stopped.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                panic!("signet serve did not stop on SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut stderr);
        }
        assert!(exit.success(), "SIG{signal}: {exit}\n{stderr}");
        assert!(TcpStream::connect(addr).is_err(), "listener closed");
    }
}

/// Each thread of process `pid`: (name without a trailing `-<n>`, Linux
/// scheduling policy: 0 SCHED_OTHER, 3 SCHED_BATCH).
#[cfg(target_os = "linux")]
fn thread_policies(pid: u32) -> Vec<(String, u32)> {
    let mut out = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let stat = std::fs::read_to_string(task.unwrap().path().join("stat")).unwrap();
        // "tid (comm) state ...": the policy is field 41, the 39th after comm
        let (head, rest) = stat.rsplit_once(')').unwrap();
        let comm = head.split_once('(').unwrap().1;
        let policy: u32 = rest.split_whitespace().nth(38).unwrap().parse().unwrap();
        let name = match comm.rsplit_once('-') {
            Some((base, n)) if n.chars().all(|c| c.is_ascii_digit()) => base,
            _ => comm,
        };
        out.push((name.to_string(), policy));
    }
    out.sort();
    out
}

/// `signet serve` runs the signing threads in SCHED_OTHER and its other
/// threads in SCHED_BATCH, so other threads' wake-ups do not preempt a
/// signing thread holding the store's writer lock; `batch_scheduling =
/// false` leaves every thread in SCHED_OTHER.
#[cfg(target_os = "linux")]
#[test]
fn serve_binary_runs_only_the_signing_threads_in_sched_other() {
    const OTHER: u32 = 0;
    const BATCH: u32 = 3;
    for enabled in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let flag = if enabled { "true" } else { "false" };
        let (mut child, _url) =
            spawn_serve(dir.path(), &[("SIGNET_SERVER__BATCH_SCHEDULING", flag)]);
        let threads = thread_policies(child.id());
        let _ = child.kill();
        let _ = child.wait();
        let of = |name: &str| -> Vec<u32> {
            threads
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, p)| *p)
                .collect()
        };
        let signing = of("signet-sign");
        assert!(!signing.is_empty(), "no signing threads: {threads:?}");
        assert!(signing.iter().all(|p| *p == OTHER), "{threads:?}");
        // the main thread, Tokio's workers and sled's IO threads
        let others = [of("signet"), of("tokio-rt-worker"), of("sled-io")];
        for (name, policies) in ["signet", "tokio-rt-worker", "sled-io"].iter().zip(&others) {
            assert!(!policies.is_empty(), "no {name} thread: {threads:?}");
            let want = if enabled { BATCH } else { OTHER };
            assert!(
                policies.iter().all(|p| *p == want),
                "batch_scheduling = {flag}: {name} threads are not all policy {want}: {threads:?}"
            );
        }
    }
}

#[test]
fn connections_beyond_the_limit_wait_for_a_free_slot() {
    let server = TestServer::start_with(|c| c.server.max_connections = 1);
    // an idle connection takes the only slot of the plain-HTTP listener
    let idle = TcpStream::connect(server.http_addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let addr = server.http_addr;
    let (tx, rx) = std::sync::mpsc::channel();
    let waiting = std::thread::spawn(move || {
        let resp = http_request(addr, "GET", "/healthz", &[], b"");
        let _ = tx.send(resp.status);
    });
    assert!(
        rx.recv_timeout(Duration::from_millis(700)).is_err(),
        "the second connection must wait while the first holds the slot"
    );
    drop(idle);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 200);
    waiting.join().unwrap();
    // the HTTPS listener has its own slot
    assert_eq!(server.get("/x").status, 404);
}

/// A self-signed TLS identity for "localhost": (certificate PEM, key PEM).
fn localhost_identity() -> (String, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn rotated_tls_certificate_files_are_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let cert_path = dir.path().join("tls.pem");
    let key_path = dir.path().join("tls.key");
    let (cert_a, key_a) = localhost_identity();
    std::fs::write(&cert_path, &cert_a).unwrap();
    std::fs::write(&key_path, &key_a).unwrap();
    let echo = EchoServer::start(|c| {
        c.server.tls_cert_file = Some(cert_path.clone());
        c.server.tls_key_file = Some(key_path.clone());
    });
    let addr = echo.server().https_addr;
    let identity = echo.server().tls_identity().unwrap().clone();
    assert!(
        !identity.refresh().unwrap(),
        "unchanged files: nothing to do"
    );
    assert_eq!(
        HttpsClient::new(addr, &cert_a)
            .request("GET", "/x", &[], b"")
            .status,
        404
    );

    let (cert_b, key_b) = localhost_identity();
    std::fs::write(&cert_path, &cert_b).unwrap();
    std::fs::write(&key_path, &key_b).unwrap();
    assert!(identity.refresh().unwrap());
    assert_eq!(
        HttpsClient::new(addr, &cert_b)
            .request("GET", "/x", &[], b"")
            .status,
        404
    );
    assert!(HttpsClient::new(addr, &cert_a)
        .try_request("GET", "/x", &[], b"")
        .is_err());

    // a broken rotation keeps the current certificate
    std::fs::write(&key_path, &key_a).unwrap(); // key no longer matches cert_b
    assert!(identity.refresh().is_err());
    assert_eq!(
        HttpsClient::new(addr, &cert_b)
            .request("GET", "/x", &[], b"")
            .status,
        404
    );
}

#[test]
fn the_ca_issued_tls_certificate_is_renewed_before_it_expires() {
    let clock = Arc::new(signet::clock::FakeClock::new(
        time::OffsetDateTime::now_utc(),
    ));
    let echo = EchoServer::start_with_clock(clock.clone(), |_| {});
    let identity = echo.server().tls_identity().unwrap().clone();
    let first = identity.not_after();
    assert!(first > clock.now() + time::Duration::days(300));
    assert!(
        !identity.refresh().unwrap(),
        "fresh certificate: nothing to do"
    );
    clock.advance(time::Duration::days(300));
    assert!(!identity.refresh().unwrap(), "still more than 30 days left");
    clock.advance(time::Duration::days(40));
    assert!(
        identity.refresh().unwrap(),
        "renewed within 30 days of expiry"
    );
    assert!(identity.not_after() >= first + time::Duration::days(300));
    assert!(!identity.refresh().unwrap());
}

#[test]
fn a_slow_front_end_gets_a_503_after_the_request_timeout() {
    let echo = EchoServer::start(|c| c.server.request_timeout_secs = 1);
    let started = Instant::now();
    let resp = echo
        .client()
        .request("GET", "/test-echo/slow?sleep_ms=4000", &[], b"");
    assert_eq!(resp.status, 503, "{}", resp.text());
    assert_eq!(resp.json()["error"]["type"], "timeout");
    assert!(
        started.elapsed() < Duration::from_millis(3500),
        "{:?}",
        started.elapsed()
    );
    // fast requests are unaffected
    assert_eq!(
        echo.client()
            .request("GET", "/test-echo/fast?sleep_ms=100", &[], b"")
            .status,
        200
    );
}
