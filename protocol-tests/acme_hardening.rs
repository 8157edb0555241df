//! ACME hardening (black box, over HTTPS against a real server, replies piped
//! through `signet mail ingest`): each test replays an attack or a client
//! that the server used to get wrong.

mod acme_support;
mod common;

use acme_support::*;
use common::TestServer;
use serde_json::{json, Value};

fn server() -> TestServer {
    let srv = TestServer::start();
    seed(&srv);
    srv
}

/// An account key made with rcgen, so the test can also put it into a CSR.
fn rcgen_key() -> (Key, rcgen::KeyPair) {
    let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let raw = kp.public_key_raw();
    let key = Key::es256_from_pkcs8(&kp.serialize_der(), &raw[1..33], &raw[33..]);
    (key, kp)
}

/// A client registered for `email` whose account key is `key`.
fn registered_with<'a>(srv: &'a TestServer, email: &str, key: Key) -> Client<'a> {
    let mut c = Client {
        srv,
        key,
        kid: None,
    };
    let r = c.new_account(&invite(srv, email), json!({"termsOfServiceAgreed": true}));
    assert_eq!(r.status, 201, "{}", r.text());
    c.kid = Some(r.header("location").unwrap().to_string());
    c
}

fn csr_pem_of(kp: &rcgen::KeyPair) -> String {
    rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(kp)
        .unwrap()
        .pem()
        .unwrap()
}

/// Rolls `c` over to `new` (RFC 8555 §7.3.5).
fn roll_over(c: &mut Client<'_>, new: Key) {
    let kid = c.kid.clone().unwrap();
    let url = c.url("/acme/key-change");
    let inner = new.sign(
        &json!({"alg": "ES256", "jwk": new.jwk, "url": url}),
        Some(&json!({"account": kid, "oldKey": c.key.jwk})),
    );
    let r = c.post(&url, Some(inner));
    assert_eq!(r.status, 200, "{}", r.text());
    c.key = new;
}

/// A ready order of `c` for `email`: its finalize URL.
fn ready_order(c: &Client<'_>, email: &str) -> (String, String) {
    let p = order_and_respond(c, email);
    ingest(c.srv, &reply(&p, email, &digest_for(c, &p)));
    let order = poll(c, &p.order, &["pending"]);
    assert_eq!(order["status"], "ready", "{order}");
    (p.order, order["finalize"].as_str().unwrap().to_string())
}

#[test]
fn account_update_posting_the_whole_object_with_its_current_status() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    let kid = c.kid.clone().unwrap();
    // What acmez (Caddy) posts to change the contact: the account object
    // with its current status.
    let acmez = json!({
        "status": "valid",
        "contact": ["mailto:ops@example.com"],
        "termsOfServiceAgreed": true,
        "orders": format!("{kid}/orders"),
    });
    let r = c.post(&kid, Some(acmez));
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["status"], "valid");
    assert_eq!(v["contact"], json!(["mailto:ops@example.com"]));
    assert_eq!(
        c.post(&kid, None).json()["contact"],
        json!(["mailto:ops@example.com"])
    );
    // Any other change of status is still refused.
    for status in ["revoked", "pending"] {
        let v = expect_problem(&c.post(&kid, Some(json!({"status": status}))), "malformed");
        assert!(v["detail"].as_str().unwrap().contains("deactivated"), "{v}");
    }
    assert_eq!(c.post(&kid, None).json()["status"], "valid");
}

#[test]
fn a_csr_carrying_an_acme_account_key_is_refused_on_every_path() {
    let srv = server();
    let (key_a, kp_a) = rcgen_key();
    let (key_b, kp_b) = rcgen_key();
    let a = registered_with(&srv, "dev@example.com", key_a);
    let mut b = registered_with(&srv, "dev@example.com", key_b);
    let (order, fin) = ready_order(&a, "dev@example.com");

    // The ordering account's own key.
    let v = expect_problem(
        &a.post(&fin, Some(json!({"csr": csr_pem_of(&kp_a)}))),
        "badCSR",
    );
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("this ACME account's key"),
        "{v}"
    );
    // Another account's key.
    let v = expect_problem(
        &a.post(&fin, Some(json!({"csr": csr_pem_of(&kp_b)}))),
        "badCSR",
    );
    assert!(
        v["detail"]
            .as_str()
            .unwrap()
            .contains("the key of an ACME account"),
        "{v}"
    );
    assert_eq!(a.post(&order, None).json()["status"], "ready");

    // EST first enrollment with an account key: 400, the invitation unused.
    let inv = invite(&srv, "agent@example.com");
    let basic = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("{}:{}", inv.kid, inv.hmac_b64)
        )
    );
    let der = ::pem::parse(csr_pem_of(&kp_b)).unwrap().into_contents();
    let body = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &der);
    let r = srv.post(
        "/.well-known/est/simpleenroll",
        &[
            ("Authorization", basic.as_str()),
            ("Content-Type", "application/pkcs10"),
        ],
        body.as_bytes(),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("ACME account"), "{}", r.text());
    assert_eq!(srv.app.ra.invitation(&inv.kid).unwrap().redeemed_by, None);

    // The admin API with an account key: 400.
    let r = srv.admin(
        "POST",
        "/admin/v1/certificates",
        Some(&json!({"account": "release", "email": "dev@example.com", "csr": csr_pem_of(&kp_a)})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("ACME account"), "{}", r.text());

    // Key rollover moves the index: b's new key is refused, its old one is
    // no account's key any more.
    let (key_c, kp_c) = rcgen_key();
    roll_over(&mut b, key_c);
    expect_problem(
        &a.post(&fin, Some(json!({"csr": csr_pem_of(&kp_c)}))),
        "badCSR",
    );
    let r = a.post(&fin, Some(json!({"csr": csr_pem_of(&kp_b)})));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(poll(&a, &order, &["processing"])["status"], "valid");
}

/// A reply to the challenge mail of `p` with exactly these header lines
/// before the body (To, Subject, Message-ID, In-Reply-To are added unless
/// `headers` names them).
fn reply_with(p: &Pending, headers: &[String], digest: &str) -> Vec<u8> {
    let mut all: Vec<String> = headers.to_vec();
    let has = |name: &str| {
        headers.iter().any(|h| {
            h.to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
        })
    };
    let n = rand::random::<u64>();
    for (name, value) in [
        ("To", mail_header(&p.mail, "From")),
        (
            "Subject",
            format!("Re: {}", mail_header(&p.mail, "Subject")),
        ),
        ("Message-ID", format!("<r{n}@example.com>")),
        ("In-Reply-To", mail_header(&p.mail, "Message-ID")),
    ] {
        if !has(name) {
            all.push(format!("{name}: {value}"));
        }
    }
    format!(
        "{}\r\nContent-Type: text/plain\r\n\r\n\
         -----BEGIN ACME RESPONSE-----\r\n{digest}\r\n-----END ACME RESPONSE-----\r\n",
        all.join("\r\n")
    )
    .into_bytes()
}

/// Polls authorization `url` until its challenge lists `n` refused replies
/// (or its status leaves `processing`); returns the authorization.
fn wait_refusals(c: &Client<'_>, url: &str, n: usize) -> Value {
    for _ in 0..50 {
        let a = c.post(url, None).json();
        let ch = &a["challenges"][0];
        let count = ch["refusedReplies"].as_array().map_or(0, Vec::len);
        if count >= n || ch["status"] != "processing" {
            return a;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("{url} never listed {n} refused replies");
}

#[test]
fn replies_with_ambiguous_senders_or_repeated_headers_are_refused() {
    let srv = TestServer::start_with(|c| {
        c.acme.sender_auth = "dkim".into();
        c.acme.trusted_authserv_ids = vec!["mx.signet.test".into()];
    });
    seed(&srv);
    let c = Client::registered(&srv, "dev@example.com");
    let p = order_and_respond(&c, "dev@example.com");
    let digest = digest_for(&c, &p);
    // colleague@example.com's own mail passes DKIM for example.com.
    let dkim = "Authentication-Results: mx.signet.test; dkim=pass header.d=example.com header.s=s1"
        .to_string();
    let h = |s: &str| s.to_string();
    let mid = mail_header(&p.mail, "Message-ID");
    let subject = format!("Subject: Re: {}", mail_header(&p.mail, "Subject"));
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                dkim.clone(),
                h("From: colleague@example.com"),
                h("From: dev@example.com"),
            ],
            "2 From header fields",
        ),
        (
            vec![
                dkim.clone(),
                h("From: colleague@example.com, dev@example.com"),
            ],
            "From names 2 mailboxes",
        ),
        (
            vec![
                dkim.clone(),
                h("From: dev@example.com"),
                h("Sender: colleague@example.com"),
            ],
            "Sender \"colleague@example.com\" is not the From address",
        ),
        (
            vec![
                dkim.clone(),
                h("From: dev@example.com"),
                h("Message-ID: <a@example.com>"),
                h("Message-ID: <b@example.com>"),
            ],
            "2 Message-ID header fields",
        ),
        (
            vec![
                dkim.clone(),
                h("From: dev@example.com"),
                h("In-Reply-To: <other@example.com>"),
                format!("In-Reply-To: {mid}"),
            ],
            "2 In-Reply-To header fields",
        ),
        (
            vec![
                dkim.clone(),
                h("From: dev@example.com"),
                h("Subject: hello"),
                subject.clone(),
            ],
            "2 Subject header fields",
        ),
    ];
    for (i, (headers, reason)) in cases.iter().enumerate() {
        ingest(&srv, &reply_with(&p, headers, &digest));
        let a = wait_refusals(&c, &p.authz, i + 1);
        let ch = &a["challenges"][0];
        assert_eq!(a["status"], "pending", "{reason}: {a}");
        assert_eq!(ch["status"], "processing", "{reason}: {a}");
        let last = ch["refusedReplies"][i].as_str().unwrap_or_default();
        assert!(last.contains("ambiguous reply"), "{reason}: {a}");
        assert!(last.contains(reason), "{reason}: {a}");
    }
    // The genuine reply (one of each header, DKIM-authenticated) validates.
    ingest(
        &srv,
        &reply_with(&p, &[dkim, h("From: Dev <dev@example.com>")], &digest),
    );
    assert_eq!(poll(&c, &p.authz, &["pending"])["status"], "valid");
}

#[test]
fn deactivation_ends_pending_challenges_and_later_replies_are_refused() {
    let srv = server();
    // Account deactivation.
    let c = Client::registered(&srv, "dev@example.com");
    let p = order_and_respond(&c, "dev@example.com");
    let kid = c.kid.clone().unwrap();
    let r = c.post(&kid, Some(json!({"status": "deactivated"})));
    assert_eq!(r.json()["status"], "deactivated", "{}", r.text());
    ingest(&srv, &reply(&p, "dev@example.com", &digest_for(&c, &p)));
    let id = p.authz.rsplit('/').next().unwrap().to_string();
    let mut stored = None;
    for _ in 0..50 {
        let a = srv.app.store.get_acme_authz(&id).unwrap().unwrap();
        if !a.challenge.rejected_replies.is_empty() {
            stored = Some(a);
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let a = stored.expect("the reply was judged");
    assert_eq!(
        a.status,
        signet::storage::acme::AuthzStatus::Deactivated,
        "{a:?}"
    );
    assert_eq!(
        a.challenge.status,
        signet::storage::acme::ChallengeStatus::Invalid
    );
    assert!(a.challenge.error.unwrap()["detail"]
        .as_str()
        .unwrap()
        .contains("account was deactivated"));
    assert!(
        a.challenge.rejected_replies[0].contains("account was deactivated"),
        "{:?}",
        a.challenge.rejected_replies
    );
    let actions = srv.audit_actions();
    assert!(actions.iter().any(|x| x == "acme.account.deactivate"));
    assert!(actions.iter().any(|x| x == "acme.challenge.reply_refused"));

    // Authorization deactivation.
    let c = Client::registered(&srv, "dev@example.com");
    let p = order_and_respond(&c, "dev@example.com");
    let r = c.post(&p.authz, Some(json!({"status": "deactivated"})));
    let v = r.json();
    assert_eq!(v["status"], "deactivated", "{v}");
    assert_eq!(v["challenges"][0]["status"], "invalid", "{v}");
    assert!(v["challenges"][0]["error"]["detail"]
        .as_str()
        .unwrap()
        .contains("authorization was deactivated"));
    ingest(&srv, &reply(&p, "dev@example.com", &digest_for(&c, &p)));
    let mut refused = Value::Null;
    for _ in 0..50 {
        let a = c.post(&p.authz, None).json();
        if a["challenges"][0]["refusedReplies"].is_array() {
            refused = a;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert_eq!(refused["status"], "deactivated", "{refused}");
    assert!(refused["challenges"][0]["refusedReplies"][0]
        .as_str()
        .unwrap()
        .contains("authorization was deactivated"));
    assert_eq!(c.post(&p.order, None).json()["status"], "invalid");
    assert!(srv
        .audit_actions()
        .iter()
        .any(|x| x == "acme.authorization.deactivate"));
}

#[test]
fn a_refused_forgery_leaves_no_error_on_a_challenge_still_waiting() {
    let srv = server();
    let c = Client::registered(&srv, "dev@example.com");
    let p = order_and_respond(&c, "dev@example.com");
    let digest = digest_for(&c, &p);
    ingest(&srv, &reply(&p, "mallory@evil.example", &digest));
    let a = wait_refusals(&c, &p.authz, 1);
    let ch = &a["challenges"][0];
    assert_eq!(ch["status"], "processing", "{a}");
    assert!(
        ch.get("error").is_none(),
        "RFC 8555 §8: no error on a live challenge: {a}"
    );
    assert!(ch["refusedReplies"][0]
        .as_str()
        .unwrap()
        .contains("mallory@evil.example"));
    let c_json = c.post(ch["url"].as_str().unwrap(), None).json();
    assert!(c_json.get("error").is_none(), "{c_json}");
    assert!(srv
        .audit_actions()
        .iter()
        .any(|x| x == "acme.challenge.reply_refused"));
    // A wrong digest from the genuine sender fails it: then `error` is set.
    ingest(&srv, &reply(&p, "dev@example.com", "AAAA"));
    let a = poll(&c, &p.authz, &["pending"]);
    assert_eq!(a["status"], "invalid");
    assert_eq!(
        a["challenges"][0]["error"]["type"],
        "urn:ietf:params:acme:error:incorrectResponse"
    );
}

#[test]
fn revocation_by_another_account_with_a_valid_authorization_is_refused_and_says_why() {
    let srv = server();
    let a = Client::registered(&srv, "dev@example.com");
    let (cert_url, _) = issue(&a, "dev@example.com");
    let der = ::pem::parse_many(a.post(&cert_url, None).body).unwrap()[0]
        .contents()
        .to_vec();
    // b proves control of the same address: a valid authorization.
    let b = Client::registered(&srv, "dev@example.com");
    let p = order_and_respond(&b, "dev@example.com");
    ingest(&srv, &reply(&p, "dev@example.com", &digest_for(&b, &p)));
    assert_eq!(poll(&b, &p.authz, &["pending"])["status"], "valid");
    let v = expect_problem(
        &b.post("/acme/revoke-cert", Some(json!({"certificate": b64(&der)}))),
        "unauthorized",
    );
    let detail = v["detail"].as_str().unwrap();
    assert!(
        detail.contains("valid authorization for dev@example.com does not suffice"),
        "{detail}"
    );
    assert!(detail.contains("Signet policy"), "{detail}");
    assert!(detail.contains("RFC 8555 §7.6"), "{detail}");
    // Without an authorization the detail names the ways that work.
    let c = Client::registered(&srv, "dev@example.com");
    let v = expect_problem(
        &c.post("/acme/revoke-cert", Some(json!({"certificate": b64(&der)}))),
        "unauthorized",
    );
    assert!(
        v["detail"].as_str().unwrap().contains("administrator"),
        "{v}"
    );
    // The certificate is not revoked.
    let serial = cert_url.rsplit('/').next().unwrap();
    assert!(srv.app.ra.certificate(serial).unwrap().revocation.is_none());
}
