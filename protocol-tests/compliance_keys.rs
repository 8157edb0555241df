//! CS BR 6.1.1.3 (4)(5) and 6.1.6 (issue 18.3), black box against a real
//! server: RSA-3072 CSRs whose keys are weak (Fermat-factorable, a modulus
//! divisible by 751, the ROCA fingerprint, public exponent 3) are refused on
//! every path (ACME `badPublicKey`, EST 400, admin `bad_public_key`), a key
//! on the operator's blocklist (`ra.blocked_keys_file`) too, every refusal
//! leaves an audit record naming the requester (18.10) and nothing else,
//! and a sound RSA-3072 key still issues. The CSRs are in
//! protocol-tests/vectors/weak-keys (see its README).

mod acme_support;
mod common;

use acme_support::*;
use base64::Engine;
use common::TestServer;
use serde_json::json;

const WEAK: [(&str, &str); 4] = [
    ("rsa3072-fermat.csr", "Fermat"),
    ("rsa3072-smallfactor-751.csr", "divisible by 751"),
    ("rsa3072-roca.csr", "ROCA"),
    ("rsa3072-e3.csr", "exponent 3 is below 65537"),
];

fn vector(name: &str) -> String {
    let path = format!(
        "{}/protocol-tests/vectors/weak-keys/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn der_of(pem_text: &str) -> Vec<u8> {
    pem::parse(pem_text).unwrap().contents().to_vec()
}

fn server() -> TestServer {
    let srv = TestServer::start();
    seed(&srv);
    srv
}

/// The `request.refused` audit records: (actor, details).
fn refusals(srv: &TestServer) -> Vec<(String, serde_json::Value)> {
    srv.app
        .store
        .audit_records()
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "request.refused")
        .map(|r| (r.actor, r.details))
        .collect()
}

#[test]
fn acme_finalize_refuses_each_weak_key_with_bad_public_key_and_the_order_stays_ready() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    let p = order_and_respond(&c, "dev@example.com");
    ingest(&srv, &reply(&p, "dev@example.com", &digest_for(&c, &p)));
    let order = poll(&c, &p.order, &["pending"]);
    assert_eq!(order["status"], "ready", "{order}");
    let finalize = order["finalize"].as_str().unwrap().to_string();
    let certs_before = srv.app.store.list_certificates().unwrap().len();
    for (name, why) in WEAK {
        let r = c.post(&finalize, Some(json!({"csr": vector(name)})));
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        let v = expect_problem(&r, "badPublicKey");
        let detail = v["detail"].as_str().unwrap();
        assert!(detail.contains(why), "{name}: {detail}");
        // nothing stored: the order is still ready, no certificate
        assert_eq!(c.post(&p.order, None).json()["status"], "ready", "{name}");
    }
    assert_eq!(
        srv.app.store.list_certificates().unwrap().len(),
        certs_before
    );
    let refused = refusals(&srv);
    assert_eq!(refused.len(), WEAK.len(), "{refused:?}");
    for (actor, details) in &refused {
        assert!(actor.starts_with("acme:"), "{actor}");
        assert_eq!(details["reason"], "bad_public_key", "{details}");
        assert_eq!(details["email"], "dev@example.com", "{details}");
    }
    // A sound RSA-3072 key still issues on the same order.
    let r = c.post(&finalize, Some(json!({"csr": vector("rsa3072-good.csr")})));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(poll(&c, &p.order, &["processing"])["status"], "valid");
}

/// An EST first enrollment with an invitation's Basic credentials.
fn est_enroll(srv: &TestServer, inv: &Invite, csr_pem: &str) -> common::Response {
    let basic =
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", inv.kid, inv.hmac_b64));
    let body = base64::engine::general_purpose::STANDARD.encode(der_of(csr_pem));
    srv.post(
        "/.well-known/est/simpleenroll",
        &[
            ("Authorization", &format!("Basic {basic}")),
            ("Content-Type", "application/pkcs10"),
        ],
        body.as_bytes(),
    )
}

#[test]
fn est_simpleenroll_refuses_each_weak_key_with_400_and_the_invitation_stays_unused() {
    let srv = server();
    let inv = invite(&srv, "agent@example.com");
    for (name, why) in WEAK {
        let r = est_enroll(&srv, &inv, &vector(name));
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        assert!(r.text().contains(why), "{name}: {}", r.text());
    }
    let refused = refusals(&srv);
    assert_eq!(refused.len(), WEAK.len(), "{refused:?}");
    assert!(
        refused
            .iter()
            .all(|(a, _)| a == &format!("est:{}", inv.kid)),
        "{refused:?}"
    );
    // the refusals consumed nothing: the same invitation enrolls a good key
    let r = est_enroll(&srv, &inv, &vector("rsa3072-good.csr"));
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn admin_certificate_request_refuses_a_weak_key_naming_csr() {
    let srv = server();
    for (name, why) in WEAK {
        let r = srv.admin(
            "POST",
            "/admin/v1/certificates",
            Some(&json!({"account": "release", "email": "ops@example.com", "csr": vector(name)})),
        );
        assert_eq!(r.status, 400, "{name}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["type"], "bad_public_key", "{name}: {e}");
        assert_eq!(e["field"], "csr", "{name}: {e}");
        assert!(e["message"].as_str().unwrap().contains(why), "{name}: {e}");
    }
    assert_eq!(refusals(&srv).len(), WEAK.len());
    let r = srv.admin(
        "POST",
        "/admin/v1/certificates",
        Some(&json!({"account": "release", "email": "ops@example.com", "csr": vector("rsa3072-good.csr")})),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
}

/// SHA-256 (hex) of the SubjectPublicKeyInfo in a PEM CSR.
fn spki_sha256(csr_pem: &str) -> String {
    let csr = signet::csr::Csr::parse(csr_pem.as_bytes()).unwrap();
    hex::encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        &csr.spki_der,
    ))
}

#[test]
fn a_key_on_the_operators_blocklist_is_refused_on_acme_and_est() {
    let list = tempfile::NamedTempFile::new().unwrap();
    let good = vector("rsa3072-good.csr");
    std::fs::write(
        list.path(),
        format!(
            "# compromised elsewhere\n{}  reported 2026-12-01\n",
            spki_sha256(&good).to_uppercase()
        ),
    )
    .unwrap();
    let path = list.path().to_path_buf();
    let srv = TestServer::start_with(|cfg| cfg.ra.blocked_keys_file = Some(path));
    seed(&srv);
    let inv = invite(&srv, "agent@example.com");
    let r = est_enroll(&srv, &inv, &good);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(
        r.text().contains("operator's list of compromised keys"),
        "{}",
        r.text()
    );

    let c = Client::registered(&srv, "dev@example.com");
    let p = order_and_respond(&c, "dev@example.com");
    ingest(&srv, &reply(&p, "dev@example.com", &digest_for(&c, &p)));
    let order = poll(&c, &p.order, &["pending"]);
    let r = c.post(
        order["finalize"].as_str().unwrap(),
        Some(json!({"csr": good})),
    );
    let v = expect_problem(&r, "badPublicKey");
    assert!(v["detail"].as_str().unwrap().contains("compromised"), "{v}");
    // another key is not affected
    let (pem, _) = csr(Some("dev@example.com"));
    let r = c.post(
        order["finalize"].as_str().unwrap(),
        Some(json!({"csr": pem})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
}

#[test]
fn a_malformed_blocklist_stops_the_start_naming_the_key_and_line() {
    let list = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(list.path(), "# ok\nnot-a-hash\n").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = TestServer::test_config(dir.path());
    cfg.ra.blocked_keys_file = Some(list.path().to_path_buf());
    let e = match TestServer::try_start(cfg, signet::clock::system()) {
        Ok(_) => panic!("a malformed blocklist must stop the start"),
        Err(e) => e,
    };
    assert!(
        e.contains("ra.blocked_keys_file") && e.contains("line 2"),
        "{e}"
    );
}

#[test]
fn a_key_revoked_for_key_compromise_is_refused_through_the_same_check() {
    let srv = server();
    let inv = invite(&srv, "agent@example.com");
    let good = vector("rsa3072-good.csr");
    let r = est_enroll(&srv, &inv, &good);
    assert_eq!(r.status, 200, "{}", r.text());
    let cert = srv.app.store.list_certificates().unwrap().pop().unwrap();
    srv.app.ra.revoke(&cert.serial, 1, "admin").unwrap();
    let r = srv.admin(
        "POST",
        "/admin/v1/certificates",
        Some(&json!({"account": "release", "email": "ops@example.com", "csr": good})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("reported compromised"), "{}", r.text());
}
