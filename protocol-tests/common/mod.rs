//! Shared helper of the protocol tests: starts the real Signet server on
//! `127.0.0.1:0` (both listeners) with a temporary data directory, and talks
//! to it with tiny blocking HTTP clients.
//!
//! Use it from any test file with `mod common;`:
//!
//! ```ignore
//! mod common;
//! use common::TestServer;
//!
//! #[test]
//! fn directory_is_served() {
//!     let server = TestServer::start();                 // embedded defaults, temp data dir
//!     let resp = server.get("/acme/directory");          // HTTPS, trusting <data_dir>/ca/tls-ca.pem
//!     assert_eq!(resp.status, 200, "{}", resp.text());
//!     let json = resp.json();
//!     let metrics = server.http_get("/metrics");         // plain-HTTP listener
//!     let admin = server.admin("POST", "/admin/v1/organizations", Some(&serde_json::json!({})));
//! }   // dropped: graceful shutdown, temp dir removed
//! ```
//!
//! - [`TestServer::start_with`] edits the [`Config`] before start (e.g. mail
//!   transport, ttl); [`TestServer::start_with_clock`] runs on a `FakeClock`
//!   (start it near the real time: the HTTPS certificate is issued from the
//!   clock at start-up and the client checks it against the real time).
//! - [`TestServer::start_in`] reuses a data directory (restart tests).
//! - [`TestServer::client`] / [`HttpsClient::with_client_cert`] give a client
//!   presenting a TLS client certificate (EST re-enrollment).
//! - [`TestServer::outbox`] lists the mails written to the outbox, oldest first.
//!
//! The server runs on its own Tokio runtime in a background thread, so tests
//! can be plain `#[test]` functions (or async ones: the helpers block only the
//! calling thread). Every request opens a new connection (`Connection: close`).
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use signet::clock::SharedClock;
use signet::config::Config;
use signet::server::App;

/// A running server for one test. Dropping it shuts it down gracefully.
pub struct TestServer {
    /// HTTPS listener (ACME, EST, admin API).
    pub https_addr: SocketAddr,
    /// Plain-HTTP listener (/metrics, /ca/..., /crl/..., /healthz).
    pub http_addr: SocketAddr,
    /// Public base URL of the HTTPS listener, e.g. `https://localhost:40123` (no trailing `/`).
    pub base_url: String,
    /// Public base URL of the plain-HTTP listener.
    pub http_base_url: String,
    pub data_dir: PathBuf,
    /// Admin API bearer token.
    pub admin_token: String,
    /// The dev root certificate (PEM), read from `<data_dir>/ca/root.pem`.
    pub root_pem: String,
    /// The dev TLS CA (PEM) the HTTPS listener's certificate chains to, read
    /// from `<data_dir>/ca/tls-ca.pem` (not the code-signing root).
    pub tls_ca_pem: String,
    /// In-process access to the application (store, CA, RA, metrics, mailer).
    pub app: Arc<App>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    _temp: Option<tempfile::TempDir>,
}

/// A response: status, headers (names lower-case, in order), body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every header with this name (case-insensitive), e.g. several `Link`s.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (panics with the body text if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text()))
    }
}

impl TestServer {
    /// The configuration tests start from: embedded defaults with both
    /// listeners on `127.0.0.1:0` and the given data directory.
    pub fn test_config(data_dir: &Path) -> Config {
        let mut config = Config::default();
        config.server.data_dir = data_dir.to_path_buf();
        config.server.listen = "127.0.0.1:0".into();
        config.server.http_listen = "127.0.0.1:0".into();
        config.server.shutdown_timeout_secs = 5;
        config
    }

    /// Starts on embedded defaults in a fresh temporary data directory.
    pub fn start() -> TestServer {
        Self::start_with(|_| {})
    }

    /// Starts after `edit` has adjusted the test configuration.
    pub fn start_with(edit: impl FnOnce(&mut Config)) -> TestServer {
        Self::start_with_clock(signet::clock::system(), edit)
    }

    /// Starts on the given clock (e.g. an `Arc<FakeClock>`).
    pub fn start_with_clock(clock: SharedClock, edit: impl FnOnce(&mut Config)) -> TestServer {
        let temp = tempfile::tempdir().expect("temporary data directory");
        let mut config = Self::test_config(temp.path());
        edit(&mut config);
        let mut server =
            Self::try_start(config, clock).unwrap_or_else(|e| panic!("server start failed: {e}"));
        server._temp = Some(temp);
        server
    }

    /// Starts with the data directory `data_dir` (kept after the server stops).
    pub fn start_in(data_dir: &Path, edit: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Self::test_config(data_dir);
        edit(&mut config);
        Self::try_start(config, signet::clock::system())
            .unwrap_or_else(|e| panic!("server start failed: {e}"))
    }

    /// Starts with exactly this configuration; the error is the server's.
    pub fn try_start(config: Config, clock: SharedClock) -> Result<TestServer, String> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("signet-test-server".into())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    match signet::server::start(config, clock).await {
                        Ok(server) => {
                            let _ = ready_tx.send(Ok((
                                server.https_addr,
                                server.http_addr,
                                server.public_url.clone(),
                                server.http_public_url.clone(),
                                server.data_dir.clone(),
                                server.app.clone(),
                            )));
                            let _ = stop_rx.await;
                            if let Err(e) = server.shutdown().await {
                                eprintln!("test server shutdown: {e}");
                            }
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                        }
                    }
                });
            })
            .map_err(|e| format!("thread: {e}"))?;
        let (https_addr, http_addr, base_url, http_base_url, data_dir, app) = ready_rx
            .recv_timeout(Duration::from_secs(120))
            .map_err(|e| format!("server did not report readiness: {e}"))??;
        let root_pem = std::fs::read_to_string(data_dir.join("ca/root.pem"))
            .map_err(|e| format!("reading ca/root.pem: {e}"))?;
        let tls_ca_pem = std::fs::read_to_string(data_dir.join("ca/tls-ca.pem"))
            .map_err(|e| format!("reading ca/tls-ca.pem: {e}"))?;
        Ok(TestServer {
            https_addr,
            http_addr,
            base_url,
            http_base_url,
            admin_token: app.admin_token.expose().to_string(),
            data_dir,
            root_pem,
            tls_ca_pem,
            app,
            stop: Some(stop_tx),
            thread: Some(thread),
            _temp: None,
        })
    }

    /// Stops the server gracefully and waits for it (also done on drop).
    pub fn stop(mut self) {
        self.stop_inner();
    }

    fn stop_inner(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// The actions of the audit log, oldest first.
    pub fn audit_actions(&self) -> Vec<String> {
        self.app
            .store
            .audit_records()
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect()
    }

    /// An HTTPS client trusting the dev TLS CA, connecting as `localhost`.
    pub fn client(&self) -> HttpsClient {
        HttpsClient::new(self.https_addr, &self.tls_ca_pem)
    }

    /// `GET` over HTTPS.
    pub fn get(&self, path: &str) -> Response {
        self.client().request("GET", path, &[], b"")
    }

    /// `POST` over HTTPS with headers and a body.
    pub fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
        self.client().request("POST", path, headers, body)
    }

    /// Any method over HTTPS.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.client().request(method, path, headers, body)
    }

    /// An admin API call with the bearer token (and a JSON body if given).
    pub fn admin(&self, method: &str, path: &str, body: Option<&serde_json::Value>) -> Response {
        let auth = format!("Bearer {}", self.admin_token);
        let body = body
            .map(|b| serde_json::to_vec(b).unwrap())
            .unwrap_or_default();
        let mut headers = vec![("Authorization", auth.as_str())];
        if !body.is_empty() {
            headers.push(("Content-Type", "application/json"));
        }
        self.client().request(method, path, &headers, &body)
    }

    /// `GET` on the plain-HTTP listener.
    pub fn http_get(&self, path: &str) -> Response {
        http_request(self.http_addr, "GET", path, &[], b"")
    }

    /// The outbox's `.eml` files, oldest first.
    pub fn outbox(&self) -> Vec<PathBuf> {
        let dir = self
            .app
            .mailer
            .outbox_dir()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.data_dir.join("outbox"));
        signet::mail::outbox_messages(&dir).unwrap_or_default()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

/// A blocking HTTPS/1.1 client (rustls, aws-lc-rs) for tests.
#[derive(Clone)]
pub struct HttpsClient {
    addr: SocketAddr,
    server_name: String,
    config: Arc<rustls::ClientConfig>,
    /// Source address to connect from (None: the system's choice).
    local: Option<std::net::IpAddr>,
    read_timeout: Duration,
}

/// A TCP connection to `addr` from the source address `local` (e.g.
/// 127.0.0.2: Linux routes all of 127/8 to the loopback interface, so tests
/// can be several clients).
pub fn connect_from(local: std::net::IpAddr, addr: SocketAddr) -> std::io::Result<TcpStream> {
    use rustix::net::{ipproto, AddressFamily, SocketType};
    let family = if local.is_ipv4() {
        AddressFamily::INET
    } else {
        AddressFamily::INET6
    };
    let fd = rustix::net::socket(family, SocketType::STREAM, Some(ipproto::TCP))?;
    rustix::net::bind(&fd, &SocketAddr::new(local, 0))?;
    rustix::net::connect(&fd, &addr)?;
    Ok(TcpStream::from(fd))
}

impl HttpsClient {
    /// Trusts the PEM certificates in `root_pem`; verifies the server as `localhost`.
    pub fn new(addr: SocketAddr, root_pem: &str) -> HttpsClient {
        Self::build(addr, root_pem, None)
    }

    /// Like [`HttpsClient::new`], presenting a client certificate chain (leaf first).
    pub fn with_client_cert(
        addr: SocketAddr,
        root_pem: &str,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> HttpsClient {
        Self::build(addr, root_pem, Some((chain, key)))
    }

    fn build(
        addr: SocketAddr,
        root_pem: &str,
        identity: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    ) -> HttpsClient {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(root_pem.as_bytes()) {
            roots
                .add(cert.expect("root PEM"))
                .expect("root certificate");
        }
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots);
        let config = match identity {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .expect("client certificate"),
            None => builder.with_no_client_auth(),
        };
        HttpsClient {
            addr,
            server_name: "localhost".into(),
            config: Arc::new(config),
            local: None,
            read_timeout: Duration::from_secs(60),
        }
    }

    /// Connects from the source address `ip` (see [`connect_from`]).
    pub fn source_address(mut self, ip: &str) -> HttpsClient {
        self.local = Some(ip.parse().expect("an IP address"));
        self
    }

    /// Gives up on a response after `timeout` without data (default 60 s).
    pub fn read_timeout(mut self, timeout: Duration) -> HttpsClient {
        self.read_timeout = timeout;
        self
    }

    /// Verifies the server under another name (e.g. "127.0.0.1").
    pub fn server_name(mut self, name: &str) -> HttpsClient {
        self.server_name = name.into();
        self
    }

    /// Sends one request on a new connection and reads the whole response.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    }

    /// Like [`HttpsClient::request`], returning transport/TLS errors.
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, String> {
        let name = ServerName::try_from(self.server_name.clone()).map_err(|e| e.to_string())?;
        let conn =
            rustls::ClientConnection::new(self.config.clone(), name).map_err(|e| e.to_string())?;
        let tcp = match self.local {
            Some(local) => connect_from(local, self.addr),
            None => TcpStream::connect(self.addr),
        }
        .map_err(|e| format!("connect: {e}"))?;
        tcp.set_read_timeout(Some(self.read_timeout)).ok();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let host = format!("localhost:{}", self.addr.port());
        tls.write_all(&request_bytes(method, path, &host, headers, body))
            .map_err(|e| format!("write: {e}"))?;
        tls.flush().map_err(|e| format!("flush: {e}"))?;
        let raw = read_all(&mut tls)?;
        parse_response(&raw, method)
    }
}

/// One request over plain HTTP on a new connection.
pub fn http_request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let run = || -> Result<Response, String> {
        let mut tcp = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
        tcp.set_read_timeout(Some(Duration::from_secs(60))).ok();
        let host = format!("localhost:{}", addr.port());
        tcp.write_all(&request_bytes(method, path, &host, headers, body))
            .map_err(|e| format!("write: {e}"))?;
        let raw = read_all(&mut tcp)?;
        parse_response(&raw, method)
    };
    run().unwrap_or_else(|e| panic!("{method} {path}: {e}"))
}

/// One request over plain HTTP from the source address `local`, giving up
/// after `timeout` without data; transport errors are returned.
pub fn try_http_request_from(
    local: &str,
    addr: SocketAddr,
    method: &str,
    path: &str,
    timeout: Duration,
) -> Result<Response, String> {
    let local = local.parse().map_err(|e| format!("{local}: {e}"))?;
    let mut tcp = connect_from(local, addr).map_err(|e| format!("connect: {e}"))?;
    tcp.set_read_timeout(Some(timeout)).ok();
    let host = format!("localhost:{}", addr.port());
    tcp.write_all(&request_bytes(method, path, &host, &[], b""))
        .map_err(|e| format!("write: {e}"))?;
    let raw = read_all(&mut tcp)?;
    parse_response(&raw, method)
}

fn request_bytes(
    method: &str,
    path: &str,
    host: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    let mut has_length = false;
    for (name, value) in headers {
        has_length |= name.eq_ignore_ascii_case("content-length")
            || name.eq_ignore_ascii_case("transfer-encoding");
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if !has_length && (!body.is_empty() || method == "POST" || method == "PUT") {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads until EOF; a missing TLS close_notify after data is tolerated.
fn read_all(stream: &mut impl Read) -> Result<Vec<u8>, String> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => break,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !raw.is_empty() => break,
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    Ok(raw)
}

fn parse_response(raw: &[u8], method: &str) -> Result<Response, String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no complete response head in {} bytes", raw.len()))?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|e| format!("response head: {e}"))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status: u16 = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[end + 4..];
    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let body = if method == "HEAD" || status == 204 || status == 304 {
        Vec::new()
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() < len {
            return Err(format!("body truncated: {} of {len} bytes", rest.len()));
        }
        rest[..len].to_vec()
    } else {
        rest.to_vec()
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line")?;
        let size_text = std::str::from_utf8(&data[..line_end]).map_err(|e| e.to_string())?;
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|e| format!("chunk size {size_text:?}: {e}"))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err("chunk truncated".into());
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// The build-agent directory several black-box tests start from, made
/// through the RA: organization "Acme Corp" (Berlin, DE), department
/// "Build", profile "cs" (OV, 365 days, P-256, attestation optional),
/// endpoint "builds" with the auto-approving account "agents".
pub fn build_agent_directory(server: &TestServer) {
    use signet::ra::attestation::AttestationPolicy;
    use signet::ra::{NewAccount, NewDepartment, NewEndpoint, NewOrganization, NewProfile};
    let ra = &server.app.ra;
    ra.create_organization(
        &NewOrganization {
            name: "Acme Corp".into(),
            city: Some("Berlin".into()),
            country: "DE".into(),
            ..Default::default()
        },
        "test",
    )
    .unwrap();
    ra.create_department(
        &NewDepartment {
            organization: "Acme Corp".into(),
            name: "Build".into(),
        },
        "test",
    )
    .unwrap();
    ra.create_profile(
        &NewProfile {
            name: "cs".into(),
            template: signet::ca::Template::Ov,
            terms_days: vec![365],
            key_types: vec!["ecdsa-p256".into()],
            requires_approval: false,
            attestation: Some(AttestationPolicy {
                required: false,
                ..AttestationPolicy::default()
            }),
        },
        "test",
    )
    .unwrap();
    ra.create_endpoint(
        &NewEndpoint {
            name: "builds".into(),
            label: "builds".into(),
        },
        "test",
    )
    .unwrap();
    ra.create_account(
        &NewAccount {
            name: "agents".into(),
            endpoint: "builds".into(),
            organization: "Acme Corp".into(),
            department: Some("Build".into()),
            profiles: vec!["cs".into()],
            auto_approve: true,
        },
        "test",
    )
    .unwrap();
}
