//! CS BR compliance of the running server (issue 18), black-box: exact key
//! types (18.9), production URLs (18.7), no TLS certificate from an
//! operator's code-signing CA (18.1), the root CRL on the plain-HTTP
//! listener (18.6) and the audit records of CA key generation and CA
//! certificate loading at start-up (18.10).

mod support;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::{openssl_csr, AdminServer};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

/// `signet` with only the given `SIGNET_*` variables.
fn signet(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_signet"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SIGNET_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .env("SIGNET_SERVER__DATA_DIR", dir)
        .env("SIGNET_SERVER__LISTEN", "127.0.0.1:0")
        .env("SIGNET_SERVER__HTTP_LISTEN", "127.0.0.1:0")
        .env("SIGNET_CA__ALGORITHM", "p256")
        .envs(env.iter().copied());
    cmd
}

fn request(
    srv: &AdminServer,
    dir: &Path,
    account: &str,
    profile: &str,
    kind: &str,
) -> (bool, String) {
    let (_, csr) = openssl_csr(dir, &format!("{profile}-{kind}"), kind, &[]);
    let out = srv.admin(&[
        "cert",
        "request",
        "--account",
        account,
        "--profile",
        profile,
        "--email",
        "dev@acme.example",
        "--csr",
        csr.to_str().unwrap(),
    ]);
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// 18.9: a profile's key types are exact. `rsa-3072` issues RSA-3072 only
/// (before, any RSA key of at least 3072 bits), `rsa-4096` and `ecdsa-p521`
/// only when listed; the refusal names the key type.
#[test]
fn key_types_are_exactly_the_listed_ones() {
    let srv = AdminServer::start();
    srv.standard_directory(false); // profile cs: ecdsa-p256, rsa-3072
    let dir = tempfile::tempdir().unwrap();
    let (ok, _) = request(&srv, dir.path(), "release", "cs", "rsa3072");
    assert!(ok);
    for (kind, named) in [
        ("rsa4096", "RSA-4096"),
        ("p521", "ECDSA P-521"),
        ("p384", "ECDSA P-384"),
    ] {
        let (ok, text) = request(&srv, dir.path(), "release", "cs", kind);
        assert!(
            !ok,
            "{kind} issued under a profile that does not list it: {text}"
        );
        assert!(
            text.contains(named) && text.contains("allowed: ecdsa-p256, rsa-3072"),
            "{text}"
        );
    }
    srv.admin_json(&[
        "profile",
        "create",
        "--name",
        "big",
        "--template",
        "ov",
        "--term",
        "365",
        "--key-type",
        "rsa-4096",
        "--key-type",
        "ecdsa-p521",
        "--attestation",
        "optional",
    ]);
    srv.admin_json(&[
        "account",
        "create",
        "--name",
        "big",
        "--endpoint",
        "builds",
        "--org",
        "Acme Corp",
        "--profile",
        "big",
        "--auto-approve",
    ]);
    for kind in ["rsa4096", "p521"] {
        let (ok, text) = request(&srv, dir.path(), "big", "big", kind);
        assert!(ok, "{kind}: {text}");
    }
    let (ok, text) = request(&srv, dir.path(), "big", "big", "rsa3072");
    assert!(
        !ok && text.contains("RSA-3072") && text.contains("rsa-3072"),
        "{text}"
    );
}

/// 18.7: `signet config check --production` fails naming the key when a URL
/// certificates will carry is not a fully qualified public name; `signet
/// serve` starts but warns loudly.
#[test]
fn non_public_certificate_urls_fail_the_production_check_and_warn_at_serve() {
    let dir = tempfile::tempdir().unwrap();
    let check = |env: &[(&str, &str)], production: bool| {
        let mut args = vec!["config", "check"];
        if production {
            args.push("--production");
        }
        let out = signet(dir.path(), &args, env).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // the defaults derive http://localhost:<port>/...
    let (ok, err) = check(&[], true);
    assert!(!ok);
    assert!(
        err.contains("ca.crl_url") && err.contains("localhost"),
        "{err}"
    );
    assert!(
        err.contains("ca.issuer_url") && err.contains("ca.root_crl_url"),
        "{err}"
    );
    assert!(check(&[], false).0, "without --production the check passes");
    for (url, why) in [
        ("http://127.0.0.1:8080", "IP address literal"),
        ("http://[::1]:8080", "IP address literal"),
        ("http://signet:8080", "single-label"),
        ("http://pki.signet.test", "special-use"),
    ] {
        let (ok, err) = check(&[("SIGNET_SERVER__HTTP_PUBLIC_URL", url)], true);
        assert!(!ok && err.contains(why), "{url}: {err}");
    }
    let public = [("SIGNET_SERVER__HTTP_PUBLIC_URL", "http://pki.example.com")];
    let (ok, err) = check(&public, true);
    assert!(ok, "{err}");
    // an explicitly configured CRL URL is judged too
    let (ok, err) = check(
        &[
            public[0],
            ("SIGNET_CA__CRL_URL", "http://localhost/crl/issuing.crl"),
        ],
        true,
    );
    assert!(!ok && err.contains("ca.crl_url"), "{err}");

    // serve warns (and serves)
    let mut child = signet(dir.path(), &["serve"], &[("SIGNET_LOG__LEVEL", "warn")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !dir.path().join("server-url").exists() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "server did not start"
        );
        if let Ok(Some(status)) = child.try_wait() {
            panic!("signet serve exited: {status}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("NOT FOR PRODUCTION") && err.contains("ca.crl_url"),
        "{err}"
    );
}

/// 18.1: with an operator-supplied issuing CA the HTTPS listener needs its
/// own certificate; the code-signing CA is never asked to sign one.
#[test]
fn an_operator_issuing_ca_without_tls_cert_file_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let cert = dir.path().join("issuing.pem");
    let key = dir.path().join("issuing.key.pem");
    std::fs::write(&cert, "x").unwrap();
    std::fs::write(&key, "x").unwrap();
    let env = [
        ("SIGNET_CA__ISSUER_CERT_FILE", cert.to_str().unwrap()),
        ("SIGNET_CA__ISSUER_KEY_FILE", key.to_str().unwrap()),
    ];
    for args in [&["config", "check"][..], &["serve"][..]] {
        let out = signet(&dir.path().join("data"), args, &env)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("server.tls_cert_file"), "{args:?}: {err}");
    }
}

/// 18.6 and 18.10: the root CRL is served where the issuing CA's CDP points;
/// the audit log records the CA key generation and the CA certificates
/// loaded at start-up, with the actor `system`.
#[test]
fn root_crl_is_served_and_ca_start_up_is_audited() {
    let srv = AdminServer::start();
    let server = srv.server.as_ref().unwrap();
    let ca = &server.app.ca;
    let (_, issuing) = X509Certificate::from_der(ca.issuing_cert_der()).unwrap();
    let cdp = format!("{}/crl/root.crl", srv.http_url);
    assert!(
        issuing
            .extensions()
            .iter()
            .any(|e| e.value.windows(cdp.len()).any(|w| w == cdp.as_bytes())),
        "the issuing CA's CDP names {cdp}"
    );
    let out = Command::new("curl").args(["-sf", &cdp]).output().unwrap();
    assert!(out.status.success());
    let (_, crl) = CertificateRevocationList::from_der(&out.stdout).unwrap();
    let (_, root) = X509Certificate::from_der(ca.root_cert_der()).unwrap();
    crl.verify_signature(root.public_key()).unwrap();

    let records = server.app.store.audit_records().unwrap();
    let of = |action: &str| -> Vec<String> {
        records
            .iter()
            .filter(|r| r.action == action)
            .map(|r| {
                assert_eq!(r.actor, "system");
                r.details["role"].as_str().unwrap().to_string()
            })
            .collect()
    };
    assert_eq!(
        of("ca.key.generate"),
        [
            "development root",
            "development issuing CA",
            "development TLS CA"
        ]
    );
    assert_eq!(
        of("ca.certificate.load"),
        [
            "development root",
            "development issuing CA",
            "development TLS CA"
        ]
    );
}
