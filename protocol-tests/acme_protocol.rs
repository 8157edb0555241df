//! ACME protocol catalogue (black box, over HTTPS against a real server): each
//! case expects one specific RFC 8555 problem type; plus the full email flow
//! with the reply piped through `signet mail ingest`.

mod acme_support;
mod common;

use std::sync::Arc;

use acme_support::*;
use common::TestServer;
use serde_json::{json, Value};
use signet::clock::FakeClock;

fn server() -> TestServer {
    let srv = TestServer::start();
    seed(&srv);
    srv
}

#[test]
fn directory_nonce_and_content_type() {
    let srv = server();
    let d = srv.get("/acme/directory");
    assert_eq!(d.status, 200);
    let d = d.json();
    assert_eq!(
        d["newAccount"],
        format!("{}/acme/new-account", srv.base_url)
    );
    assert_eq!(d["meta"]["externalAccountRequired"], true);
    assert!(d["meta"]["termsOfService"].is_string());
    assert!(d["meta"]["profiles"]["cs"].is_string());
    let h = srv.request("HEAD", "/acme/new-nonce", &[], b"");
    assert_eq!(h.status, 200);
    assert!(h.header("replay-nonce").is_some());
    assert_eq!(h.header("cache-control"), Some("no-store"));
    let g = srv.get("/acme/new-nonce");
    assert_eq!(g.status, 204);
    // Wrong content type: 415 with a problem document and a nonce.
    let r = srv.post(
        "/acme/new-account",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 415);
    expect_problem(&r, "malformed");
    // Not JSON at all
    let r = srv.post(
        "/acme/new-account",
        &[("Content-Type", "application/jose+json")],
        b"nope",
    );
    expect_problem(&r, "malformed");
}

#[test]
fn full_email_flow_over_https_with_mail_ingest() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    let (cert_url, order) = issue(&c, "dev@example.com");
    assert_eq!(
        order["identifiers"][0],
        json!({"type": "email", "value": "dev@example.com"})
    );
    let r = c.post(&cert_url, None);
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/pem-certificate-chain")
    );
    let chain = ::pem::parse_many(&r.body).unwrap();
    assert_eq!(chain.len(), 2);
    use x509_parser::prelude::*;
    let (_, leaf) = X509Certificate::from_der(chain[0].contents()).unwrap();
    assert!(
        leaf.extended_key_usage()
            .unwrap()
            .unwrap()
            .value
            .code_signing
    );
    // The challenge mail was RFC 8823 shaped.
    let mail = srv
        .outbox()
        .iter()
        .map(|m| std::fs::read_to_string(m).unwrap())
        .find(|m| mail_header(m, "Subject").starts_with("ACME: "))
        .expect("a challenge mail");
    assert_eq!(mail_header(&mail, "To"), "dev@example.com");
    assert_eq!(
        mail_header(&mail, "Auto-Submitted"),
        "auto-generated; type=acme"
    );
    // PKCS#7 on request.
    let jws = c.key.sign(&c.kid_header(&cert_url), None);
    let r = srv.post(
        &c.path(&cert_url),
        &[
            ("Content-Type", "application/jose+json"),
            ("Accept", "application/pkcs7-mime"),
        ],
        jws.to_string().as_bytes(),
    );
    assert_eq!(r.header("content-type"), Some("application/pkcs7-mime"));
    assert_eq!(r.body[0], 0x30);
    // The whole enrollment is in the audit log, in order, and the chain verifies.
    let actions = srv.audit_actions();
    let expected = [
        "invitation.create",
        "acme.account.create",
        "acme.order.create",
        "acme.challenge.mail_sent",
        "acme.challenge.valid",
        "certificate.issue",
    ];
    let mut it = actions.iter();
    for want in expected {
        assert!(
            it.any(|a| a == want),
            "{want} missing or out of order in {actions:?}"
        );
    }
    assert!(matches!(
        srv.app.store.verify_audit().unwrap(),
        signet::storage::audit::AuditVerdict::Intact { .. }
    ));
}

#[test]
fn jws_catalogue() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    let url = c.url("/acme/new-order");
    let payload = json!({"identifiers": [{"type": "email", "value": "dev@example.com"}]});
    let send = |h: Value| c.send(&url, &c.key.sign(&h, Some(&payload)));

    // alg none and HS256 on account requests
    for alg in ["none", "HS256", "HS512"] {
        let mut h = c.kid_header(&url);
        h["alg"] = json!(alg);
        let p = expect_problem(&send(h), "badSignatureAlgorithm");
        assert!(p["algorithms"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256")));
    }
    let mut h = c.jwk_header("/acme/new-account");
    h["alg"] = json!("HS256");
    let jws = c.key.sign(&h, Some(&json!({"termsOfServiceAgreed": true})));
    expect_problem(&c.send("/acme/new-account", &jws), "badSignatureAlgorithm");
    // url mismatch
    let mut h = c.kid_header(&url);
    h["url"] = json!(c.url("/acme/new-order?x"));
    expect_problem(&send(h), "unauthorized");
    // nonce mismatch (not ours) and replay
    let mut h = c.kid_header(&url);
    h["nonce"] = json!("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    expect_problem(&send(h), "badNonce");
    let h = c.kid_header(&url);
    assert_eq!(send(h.clone()).status, 201);
    expect_problem(&send(h), "badNonce");
    // jwk and kid together
    let mut h = c.kid_header(&url);
    h["jwk"] = c.key.jwk.clone();
    expect_problem(&send(h), "malformed");
    // wrong key for kid
    let other = Key::es256();
    let jws = other.sign(&c.kid_header(&url), Some(&payload));
    expect_problem(&c.send(&url, &jws), "malformed");
    // unprotected header
    let mut jws = c.key.sign(&c.kid_header(&url), Some(&payload));
    jws["header"] = json!({"kid": "x"});
    expect_problem(&c.send(&url, &jws), "malformed");
}

#[test]
fn eab_catalogue() {
    let clock = Arc::new(FakeClock::new(time::OffsetDateTime::now_utc()));
    let srv = TestServer::start_with_clock(clock.clone(), |_| {});
    seed(&srv);
    let c = Client::new(&srv);
    let tos = json!({"termsOfServiceAgreed": true});
    let url = c.url("/acme/new-account");

    // no EAB at all
    let jws = c.key.sign(&c.jwk_header(&url), Some(&tos));
    expect_problem(&c.send(&url, &jws), "externalAccountRequired");
    // wrong MAC
    let inv = invite(&srv, "dev@example.com");
    let wrong = Invite {
        key: vec![0u8; 32],
        ..inv.clone()
    };
    expect_problem(&c.new_account(&wrong, tos.clone()), "unauthorized");
    // signed over a different key
    let mut p = tos.clone();
    p["externalAccountBinding"] = eab(&inv.kid, &inv.key, &url, &Key::es256().jwk, "HS256");
    let jws = c.key.sign(&c.jwk_header(&url), Some(&p));
    expect_problem(&c.send(&url, &jws), "unauthorized");
    // good binding, then reuse
    let r = c.new_account(&inv, tos.clone());
    assert_eq!(r.status, 201, "{}", r.text());
    let second = Client::new(&srv);
    let v = expect_problem(&second.new_account(&inv, tos.clone()), "unauthorized");
    assert!(v["detail"].as_str().unwrap().contains("already been used"));
    // revoked
    let revoked = invite(&srv, "dev@example.com");
    srv.app.ra.revoke_invitation(&revoked.kid, "test").unwrap();
    let v = expect_problem(&second.new_account(&revoked, tos.clone()), "unauthorized");
    assert!(v["detail"].as_str().unwrap().contains("revoked"));
    // expired
    let expiring = invite(&srv, "dev@example.com");
    clock.advance(time::Duration::days(15));
    let v = expect_problem(&second.new_account(&expiring, tos.clone()), "unauthorized");
    assert!(v["detail"].as_str().unwrap().contains("expired"));
    // Nothing was created for the second key.
    let jws = second.key.sign(
        &second.jwk_header(&url),
        Some(&json!({"onlyReturnExisting": true})),
    );
    expect_problem(&second.send(&url, &jws), "accountDoesNotExist");
}

#[test]
fn identifier_catalogue() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    for (ty, value, expect) in [
        ("dns", "example.com", "unsupportedIdentifier"),
        ("ip", "192.0.2.1", "unsupportedIdentifier"),
        ("email", "someone-else@example.com", "rejectedIdentifier"),
        ("email", "not an address", "rejectedIdentifier"),
    ] {
        let r = c.post(
            "/acme/new-order",
            Some(json!({"identifiers": [{"type": ty, "value": value}]})),
        );
        let p = expect_problem(&r, expect);
        assert_eq!(p["subproblems"][0]["identifier"]["value"], value);
    }
    let r = c.post(
        "/acme/new-order",
        Some(json!({"identifiers": [{"type": "email", "value": "dev@example.com"}], "profile": "nope"})),
    );
    expect_problem(&r, "invalidProfile");
}

#[test]
fn other_accounts_resources_are_refused_without_data() {
    let srv = server();
    let a = Client::registered(&srv, "dev@example.com");
    let (cert_url, order) = issue(&a, "dev@example.com");
    let orders = a
        .post(&format!("{}/orders", a.kid.as_deref().unwrap()), None)
        .json();
    let order_url = orders["orders"][0].as_str().unwrap().to_string();
    let b = Client::registered(&srv, "dev@example.com");
    for url in [
        order_url.clone(),
        order["authorizations"][0].as_str().unwrap().to_string(),
        cert_url.clone(),
        format!("{}/orders", a.kid.as_deref().unwrap()),
        a.kid.clone().unwrap(),
    ] {
        let r = b.post(&url, None);
        expect_problem(&r, "unauthorized");
        assert!(!r.text().contains("BEGIN CERTIFICATE"));
        assert!(!r.text().contains("\"identifiers\""));
    }
    let r = b.post(&format!("{order_url}/finalize"), Some(json!({"csr": "AA"})));
    expect_problem(&r, "unauthorized");
    let der = ::pem::parse_many(a.post(&cert_url, None).body).unwrap()[0]
        .contents()
        .to_vec();
    let r = b.post("/acme/revoke-cert", Some(json!({"certificate": b64(&der)})));
    expect_problem(&r, "unauthorized");
}

#[test]
fn finalize_catalogue() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    let p = order_and_respond(&c, "dev@example.com");
    let fin = format!("{}/finalize", p.order);
    let (pem, _) = csr(None);
    expect_problem(&c.post(&fin, Some(json!({"csr": pem}))), "orderNotReady");
    ingest(&srv, &reply(&p, "dev@example.com", &digest_for(&c, &p)));
    assert_eq!(poll(&c, &p.order, &["pending"])["status"], "ready");
    expect_problem(&c.post(&fin, Some(json!({"csr": "MIIB"}))), "badCSR");
    expect_problem(&c.post(&fin, Some(json!({"csr": "not base64!"}))), "badCSR");
    let (pem, _) = csr(Some("boss@example.com"));
    expect_problem(&c.post(&fin, Some(json!({"csr": pem}))), "badCSR");
    // RSA-2048 is below the code-signing minimum
    let kp = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let der = {
        use aws_lc_rs::encoding::AsDer;
        kp.as_der().unwrap().as_ref().to_vec()
    };
    let key = rcgen::KeyPair::from_pem_and_sign_algo(
        &pem::encode(&pem::Pem::new("PRIVATE KEY", der)),
        &rcgen::PKCS_RSA_SHA256,
    )
    .unwrap();
    let rsa_csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap();
    expect_problem(
        &c.post(&fin, Some(json!({"csr": b64(rsa_csr.der())}))),
        "badPublicKey",
    );
    // The order is still ready and a good CSR (standard base64url DER) works.
    let (pem, _) = csr(None);
    let der = pem::parse(pem).unwrap().into_contents();
    let r = c.post(&fin, Some(json!({"csr": b64(&der)})));
    assert_eq!(r.json()["status"], "valid", "{}", r.text());
    expect_problem(
        &c.post(&fin, Some(json!({"csr": b64(&der)}))),
        "orderNotReady",
    );
}

#[test]
fn attestation_profile_refuses_clearly() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    let r = c.post(
        "/acme/new-order",
        Some(json!({"identifiers": [{"type": "email", "value": "dev@example.com"}], "profile": "cs-hw"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let order = r.header("location").unwrap().to_string();
    let authz = r.json()["authorizations"][0].as_str().unwrap().to_string();
    let ch = c.post(&authz, None).json()["challenges"][0].clone();
    c.post(ch["url"].as_str().unwrap(), Some(json!({})));
    let mail = std::fs::read_to_string(srv.outbox().last().unwrap()).unwrap();
    let p = Pending {
        order: order.clone(),
        authz,
        token: ch["token"].as_str().unwrap().to_string(),
        mail,
    };
    ingest(&srv, &reply(&p, "dev@example.com", &digest_for(&c, &p)));
    poll(&c, &order, &["pending"]);
    let (pem, _) = csr(None);
    let r = c.post(
        &format!("{order}/finalize"),
        Some(json!({"csr": pem, "attestation": null})),
    );
    let v = expect_problem(&r, "badAttestationStatement");
    assert!(v["detail"].as_str().unwrap().contains("attestation"));
}

#[test]
fn forged_and_late_replies_are_rejected_with_a_reason() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    let p = order_and_respond(&c, "dev@example.com");
    let digest = digest_for(&c, &p);
    // forged From
    ingest(&srv, &reply(&p, "mallory@evil.example", &digest));
    let mut a = Value::Null;
    for _ in 0..50 {
        a = c.post(&p.authz, None).json();
        if a["challenges"][0]["refusedReplies"].is_array() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(a["status"], "pending");
    let refused = &a["challenges"][0]["refusedReplies"][0];
    assert!(refused.as_str().unwrap().contains("forged"), "{a}");
    // wrong digest from the right sender makes it invalid
    let p2 = {
        let c2 = Client::registered(&srv, "dev@example.com");
        let p2 = order_and_respond(&c2, "dev@example.com");
        ingest(&srv, &reply(&p2, "dev@example.com", "AAAA"));
        let a = poll(&c2, &p2.authz, &["pending"]);
        assert_eq!(a["status"], "invalid");
        assert_eq!(
            a["challenges"][0]["error"]["type"],
            "urn:ietf:params:acme:error:incorrectResponse"
        );
        assert_eq!(c2.post(&p2.order, None).json()["status"], "invalid");
        p2
    };
    let _ = p2;
    // the genuine reply validates; a late one afterwards is refused and recorded
    ingest(&srv, &reply(&p, "dev@example.com", &digest));
    assert_eq!(poll(&c, &p.authz, &["pending"])["status"], "valid");
    ingest(&srv, &reply(&p, "dev@example.com", &digest));
    let id = p.authz.rsplit('/').next().unwrap();
    let mut late = false;
    for _ in 0..50 {
        c.post(&p.authz, None);
        let stored = srv.app.store.get_acme_authz(id).unwrap().unwrap();
        if stored
            .challenge
            .rejected_replies
            .iter()
            .any(|r| r.contains("late"))
        {
            late = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(late, "the late reply leaves a reason");
}

#[test]
fn revocation_catalogue() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    let (cert_url, _) = issue(&c, "dev@example.com");
    let der = ::pem::parse_many(c.post(&cert_url, None).body).unwrap()[0]
        .contents()
        .to_vec();
    expect_problem(
        &c.post(
            "/acme/revoke-cert",
            Some(json!({"certificate": b64(&der), "reason": 8})),
        ),
        "badRevocationReason",
    );
    let r = c.post(
        "/acme/revoke-cert",
        Some(json!({"certificate": b64(&der), "reason": 1})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    expect_problem(
        &c.post("/acme/revoke-cert", Some(json!({"certificate": b64(&der)}))),
        "alreadyRevoked",
    );
    // revoked on the RA side with the reason
    let serial = cert_url.rsplit('/').next().unwrap();
    assert_eq!(
        srv.app
            .ra
            .certificate(serial)
            .unwrap()
            .revocation
            .unwrap()
            .reason_code,
        1
    );
    // and published: the next CRL lists the serial with reason keyCompromise
    let crl = srv.http_get("/crl/issuing.crl");
    assert_eq!(crl.status, 200);
    let (_, parsed) = x509_parser::parse_x509_crl(&crl.body).expect("CRL parses");
    let entry = parsed
        .iter_revoked_certificates()
        .find(|e| {
            hex::encode(e.raw_serial()).trim_start_matches('0') == serial.trim_start_matches('0')
        })
        .expect("revoked serial is on the CRL");
    let reason = entry.reason_code().expect("reason code present").1;
    assert_eq!(reason.0, 1, "keyCompromise");
}

#[test]
fn account_management() {
    let srv = server();
    let mut c = Client::registered(&srv, "dev@example.com");
    let kid = c.kid.clone().unwrap();
    let r = c.post(&kid, Some(json!({"contact": ["mailto:dev@example.com"]})));
    assert_eq!(r.json()["contact"][0], "mailto:dev@example.com");
    expect_problem(
        &c.post(&kid, Some(json!({"contact": ["https://example.com"]}))),
        "unsupportedContact",
    );
    // key rollover
    let new = Key::es256();
    let url = c.url("/acme/key-change");
    let inner = new.sign(
        &json!({"alg": "ES256", "jwk": new.jwk, "url": url}),
        Some(&json!({"account": kid, "oldKey": c.key.jwk})),
    );
    let r = c.post(&url, Some(inner));
    assert_eq!(r.status, 200, "{}", r.text());
    expect_problem(&c.post(&kid, None), "malformed");
    c.key = new;
    assert_eq!(c.post(&kid, None).status, 200);
    // deactivation
    let r = c.post(&kid, Some(json!({"status": "deactivated"})));
    assert_eq!(r.json()["status"], "deactivated");
    expect_problem(&c.post(&kid, None), "unauthorized");
}

#[test]
fn acme_is_served_over_https_only() {
    let srv = server();
    assert!(srv.base_url.starts_with("https://"));
    assert_eq!(srv.get("/acme/directory").status, 200);
    // The plain-HTTP listener (metrics, CRLs) does not serve ACME.
    assert_eq!(srv.http_get("/acme/directory").status, 404);
    assert_eq!(srv.http_get("/acme/new-nonce").status, 404);
}

#[test]
fn behind_a_tls_proxy_urls_use_the_public_https_url() {
    let srv = TestServer::start_with(|c| {
        c.server.behind_tls_proxy = true;
        c.server.public_url = Some("https://signet.example.com".into());
    });
    let r = common::http_request(srv.https_addr, "GET", "/acme/directory", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["newOrder"],
        "https://signet.example.com/acme/new-order"
    );
}

#[test]
fn renewal_info_over_https() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    let d = srv.get("/acme/directory").json();
    let base = d["renewalInfo"].as_str().unwrap().to_string();
    let (cert_url, _) = issue(&c, "dev@example.com");
    let der = ::pem::parse_many(c.post(&cert_url, None).body).unwrap()[0]
        .contents()
        .to_vec();
    let id = signet::acme::ari::cert_id(&der).unwrap();
    let r = srv.get(&format!("{}/{id}", c.path(&base)));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["suggestedWindow"]["start"].is_string());
    assert!(r.header("retry-after").is_some());
    let r = c.post(
        "/acme/new-order",
        Some(
            json!({"identifiers": [{"type": "email", "value": "dev@example.com"}], "replaces": id}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = c.post(
        "/acme/new-order",
        Some(
            json!({"identifiers": [{"type": "email", "value": "dev@example.com"}], "replaces": id}),
        ),
    );
    expect_problem(&r, "alreadyReplaced");
}

#[test]
fn mail_ingest_exit_codes() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let srv = server();
    let run = |input: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_signet"))
            .args(["mail", "ingest"])
            .env("SIGNET_SERVER__DATA_DIR", &srv.data_dir)
            .env_remove("SIGNET_CONFIG")
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        child.wait_with_output().unwrap().status.code()
    };
    // An empty message is refused (EX_DATAERR: the MTA bounces it).
    assert_eq!(run(b""), Some(65));
    // Anything that looks like mail is accepted and spooled for the server,
    // which ignores what answers no challenge.
    assert_eq!(
        run(b"From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n"),
        Some(0)
    );
    let cur = srv.data_dir.join("mail-inbox/cur");
    for _ in 0..50 {
        if std::fs::read_dir(&cur).map(|d| d.count()).unwrap_or(0) == 1 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("the server did not pick up the spooled message");
}
