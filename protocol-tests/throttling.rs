//! Issue 19.7 / 18.10: failed authentication is throttled per client address
//! and per key id (429 + Retry-After after `server.auth_failures_before_backoff`
//! failures, doubling), other addresses and credentials are not slowed, every
//! failure counts in `signet_auth_failures_total{frontend,reason}`, and the
//! audit log records it with the source address (never the secret).
//!
//! The server runs on a fake clock so the backoff cannot expire between two
//! requests of a slow test run. The second client binds 127.0.0.2.

mod acme_support;
mod common;

use std::process::Command;
use std::sync::Arc;

use base64::Engine;
use common::{HttpsClient, TestServer};
use signet::clock::FakeClock;
use signet::ra::NewInvitation;
use time::OffsetDateTime;

fn server() -> TestServer {
    let clock = Arc::new(FakeClock::new(OffsetDateTime::now_utc()));
    TestServer::start_with_clock(clock, |c| c.server.auth_failures_before_backoff = 5)
}

/// The directory and two invitations: [(kid, hmac key); 2].
fn invitations(server: &TestServer) -> Vec<(String, String)> {
    common::build_agent_directory(server);
    let ra = &server.app.ra;
    ["a@example.com", "b@example.com"]
        .iter()
        .map(|email| {
            let inv = ra
                .create_invitation(
                    &NewInvitation {
                        email: (*email).into(),
                        account: "agents".into(),
                        profile: None,
                        ttl_days: None,
                    },
                    "test",
                )
                .unwrap();
            (inv.kid, inv.hmac_key)
        })
        .collect()
}

/// A P-256 CSR (base64 DER) made by openssl.
fn csr_b64() -> String {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let csr = dir.path().join("r.der");
    let ok = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
        ])
        .arg(&key)
        .status()
        .expect("openssl is needed (scripts/install-test-deps)");
    assert!(ok.success());
    let ok = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-subj",
            "/CN=agent",
            "-outform",
            "DER",
            "-key",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&csr)
        .status()
        .unwrap();
    assert!(ok.success());
    base64::engine::general_purpose::STANDARD.encode(std::fs::read(csr).unwrap())
}

fn enroll(client: &HttpsClient, user: &str, password: &str, csr: &str) -> common::Response {
    let auth = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    client.request(
        "POST",
        "/.well-known/est/builds/simpleenroll",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/pkcs10"),
        ],
        csr.as_bytes(),
    )
}

fn metric(server: &TestServer, frontend: &str, reason: &str) -> f64 {
    let text = server.http_get("/metrics").text();
    let name = format!("signet_auth_failures_total{{frontend=\"{frontend}\",reason=\"{reason}\"}}");
    text.lines()
        .find_map(|l| l.strip_prefix(&name).and_then(|v| v.trim().parse().ok()))
        .unwrap_or(0.0)
}

#[test]
fn wrong_est_passwords_are_throttled_while_another_address_still_enrolls() {
    let server = server();
    let invs = invitations(&server);
    let (kid, key) = &invs[0];
    let csr = csr_b64();
    let attacker = server.client();
    for i in 0..5 {
        let resp = enroll(&attacker, kid, "wrong-password", &csr);
        assert_eq!(resp.status, 401, "attempt {i}: {}", resp.text());
    }
    let resp = enroll(&attacker, kid, "wrong-password", &csr);
    assert_eq!(resp.status, 429, "{}", resp.text());
    let retry: u64 = resp
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .unwrap();
    assert!(retry >= 1, "{retry}");
    // during the backoff nothing is checked: not even the right password
    assert_eq!(enroll(&attacker, kid, key, &csr).status, 429);

    // another address with its own (right) credentials is not slowed
    let other = server.client().source_address("127.0.0.2");
    let (kid2, key2) = &invs[1];
    let resp = enroll(&other, kid2, key2, &csr);
    assert_eq!(resp.status, 200, "{}", resp.text());

    assert_eq!(metric(&server, "est", "bad_credentials"), 5.0);
    assert!(metric(&server, "est", "throttled") >= 2.0);

    // 18.10: audited with the source address, never the secret
    let failures: Vec<_> = server
        .app
        .store
        .audit_records()
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "auth.failure")
        .collect();
    assert_eq!(failures.len(), 5, "one record per checked failure");
    for r in &failures {
        assert_eq!(r.details["front_end"], "est");
        assert_eq!(r.details["source"], "127.0.0.1");
        assert_eq!(r.details["credential"], kid.as_str());
        let text = r.details.to_string();
        assert!(!text.contains("wrong-password") && !text.contains(key.as_str()));
        assert!(!text.contains("a@example.com"), "no email: {text}");
    }
}

#[test]
fn wrong_admin_tokens_are_throttled_per_address() {
    let server = server();
    let attacker = server.client();
    let wrong = "Bearer not-the-admin-token-at-all";
    for i in 0..5 {
        let resp = attacker.request(
            "GET",
            "/admin/v1/organizations",
            &[("Authorization", wrong)],
            b"",
        );
        assert_eq!(resp.status, 401, "attempt {i}: {}", resp.text());
    }
    let resp = attacker.request(
        "GET",
        "/admin/v1/organizations",
        &[("Authorization", wrong)],
        b"",
    );
    assert_eq!(resp.status, 429, "{}", resp.text());
    assert!(resp.header("retry-after").is_some());
    assert_eq!(resp.json()["error"]["type"], "rateLimited");

    let right = format!("Bearer {}", server.admin_token);
    let resp = server.client().source_address("127.0.0.2").request(
        "GET",
        "/admin/v1/organizations",
        &[("Authorization", right.as_str())],
        b"",
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(metric(&server, "admin", "bad_token"), 5.0);
    let audited = server
        .audit_actions()
        .iter()
        .filter(|a| *a == "auth.failure")
        .count();
    assert_eq!(audited, 5);
}

#[test]
fn wrong_external_account_bindings_are_throttled() {
    let server = server();
    acme_support::seed(&server);
    let inv = acme_support::invite(&server, "dev@example.com");
    let wrong = acme_support::Invite {
        kid: inv.kid.clone(),
        key: vec![7u8; 32],
        hmac_b64: String::new(),
    };
    let client = acme_support::Client::new(&server);
    let payload = serde_json::json!({"termsOfServiceAgreed": true});
    for i in 0..5 {
        let resp = client.new_account(&wrong, payload.clone());
        assert_eq!(resp.status, 403, "attempt {i}: {}", resp.text());
        assert_eq!(
            resp.json()["type"],
            "urn:ietf:params:acme:error:unauthorized"
        );
    }
    let resp = client.new_account(&wrong, payload.clone());
    assert_eq!(resp.status, 429, "{}", resp.text());
    assert_eq!(
        resp.json()["type"],
        "urn:ietf:params:acme:error:rateLimited"
    );
    assert!(resp.header("retry-after").is_some());
    assert!(resp.header("replay-nonce").is_some());
    // in the backoff nothing is checked, not even the right binding
    assert_eq!(client.new_account(&inv, payload).status, 429);
    assert_eq!(metric(&server, "acme_eab", "bad_binding"), 5.0);
    let audited: Vec<_> = server
        .app
        .store
        .audit_records()
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "auth.failure")
        .collect();
    assert_eq!(audited.len(), 5);
    assert_eq!(audited[0].details["front_end"], "acme_eab");
    assert!(!audited[0].details.to_string().contains("dev@example.com"));
}
