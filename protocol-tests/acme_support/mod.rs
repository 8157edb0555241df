//! A minimal ACME client for the black-box protocol tests: signs flattened
//! JWS with josekit, talks HTTPS to a [`TestServer`], seeds the directory
//! in-process and pipes challenge replies through the real `signet mail ingest`.
#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use aws_lc_rs::{digest, hmac};
use base64::Engine;
use josekit::jws::alg::ecdsa::EcdsaJwsAlgorithm;
use josekit::jws::JwsSigner;
use serde_json::{json, Value};

use crate::common::{Response, TestServer};

pub const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn b64(b: &[u8]) -> String {
    B64.encode(b)
}

/// An account key.
pub struct Key {
    pub signer: Box<dyn JwsSigner>,
    pub jwk: Value,
    pub alg: &'static str,
}

impl Key {
    pub fn es256() -> Key {
        let kp = EcdsaJwsAlgorithm::Es256.generate_key_pair().unwrap();
        let jwk: Value = serde_json::from_str(&kp.to_jwk_public_key().to_string()).unwrap();
        let signer = EcdsaJwsAlgorithm::Es256
            .signer_from_jwk(&kp.to_jwk_private_key())
            .unwrap();
        Key {
            signer: Box::new(signer),
            jwk,
            alg: "ES256",
        }
    }

    /// From an EC P-256 PKCS#8 DER private key (e.g. a certificate's key).
    pub fn es256_from_pkcs8(der: &[u8], x: &[u8], y: &[u8]) -> Key {
        let signer = EcdsaJwsAlgorithm::Es256.signer_from_der(der).unwrap();
        Key {
            signer: Box::new(signer),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y)}),
            alg: "ES256",
        }
    }

    pub fn sign(&self, header: &Value, payload: Option<&Value>) -> Value {
        let protected = b64(header.to_string().as_bytes());
        let payload = payload
            .map(|p| b64(p.to_string().as_bytes()))
            .unwrap_or_default();
        let sig = self
            .signer
            .sign(format!("{protected}.{payload}").as_bytes())
            .unwrap();
        json!({"protected": protected, "payload": payload, "signature": b64(&sig)})
    }

    /// RFC 7638 thumbprint (EC).
    pub fn thumbprint(&self) -> String {
        let j = &self.jwk;
        let canon = format!(
            r#"{{"crv":"{}","kty":"EC","x":"{}","y":"{}"}}"#,
            j["crv"].as_str().unwrap(),
            j["x"].as_str().unwrap(),
            j["y"].as_str().unwrap()
        );
        b64(digest::digest(&digest::SHA256, canon.as_bytes()).as_ref())
    }
}

/// An external account binding JWS over `jwk`.
pub fn eab(kid: &str, key: &[u8], url: &str, jwk: &Value, alg: &str) -> Value {
    let protected = b64(json!({"alg": alg, "kid": kid, "url": url})
        .to_string()
        .as_bytes());
    let payload = b64(jwk.to_string().as_bytes());
    let a = match alg {
        "HS384" => hmac::HMAC_SHA384,
        "HS512" => hmac::HMAC_SHA512,
        _ => hmac::HMAC_SHA256,
    };
    let tag = hmac::sign(
        &hmac::Key::new(a, key),
        format!("{protected}.{payload}").as_bytes(),
    );
    json!({"protected": protected, "payload": payload, "signature": b64(tag.as_ref())})
}

/// EAB credentials of an invitation.
#[derive(Clone)]
pub struct Invite {
    pub kid: String,
    pub key: Vec<u8>,
    pub hmac_b64: String,
}

/// Organization, profile `cs` (P-256/RSA-3072, no attestation), profile
/// `cs-hw` (attestation required), endpoint and account `release`.
pub fn seed(srv: &TestServer) {
    use signet::ra::attestation::AttestationPolicy;
    use signet::ra::{NewAccount, NewEndpoint, NewOrganization, NewProfile};
    let ra = &srv.app.ra;
    ra.create_organization(
        &NewOrganization {
            name: "Acme Corp".into(),
            street: None,
            city: Some("Berlin".into()),
            state: None,
            postal_code: None,
            country: "DE".into(),
            validation: None,
            ..Default::default()
        },
        "test",
    )
    .unwrap();
    for (name, att) in [("cs", false), ("cs-hw", true)] {
        ra.create_profile(
            &NewProfile {
                name: name.into(),
                template: signet::ca::Template::Ov,
                terms_days: vec![365],
                key_types: vec!["ecdsa-p256".into(), "rsa-3072".into()],
                requires_approval: false,
                attestation: Some(AttestationPolicy {
                    required: att,
                    ..AttestationPolicy::default()
                }),
            },
            "test",
        )
        .unwrap();
    }
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
            name: "release".into(),
            endpoint: "builds".into(),
            organization: "Acme Corp".into(),
            department: None,
            profiles: vec!["cs".into(), "cs-hw".into()],
            auto_approve: true,
        },
        "test",
    )
    .unwrap();
}

pub fn invite(srv: &TestServer, email: &str) -> Invite {
    let inv = srv
        .app
        .ra
        .create_invitation(
            &signet::ra::NewInvitation {
                email: email.into(),
                account: "release".into(),
                profile: None,
                ttl_days: None,
            },
            "test",
        )
        .unwrap();
    Invite {
        kid: inv.kid,
        key: B64.decode(&inv.hmac_key).unwrap(),
        hmac_b64: inv.hmac_key,
    }
}

/// Asserts the response is a problem document of `kind` (short name) and returns it.
#[track_caller]
pub fn expect_problem(r: &Response, kind: &str) -> Value {
    assert_eq!(
        r.header("content-type"),
        Some("application/problem+json"),
        "status {}: {}",
        r.status,
        r.text()
    );
    assert!(
        r.header("replay-nonce").is_some(),
        "errors carry a nonce too"
    );
    let v = r.json();
    assert_eq!(
        v["type"],
        format!("urn:ietf:params:acme:error:{kind}"),
        "{}",
        r.text()
    );
    v
}

/// An ACME client bound to one server and key.
pub struct Client<'a> {
    pub srv: &'a TestServer,
    pub key: Key,
    pub kid: Option<String>,
}

impl<'a> Client<'a> {
    pub fn new(srv: &'a TestServer) -> Client<'a> {
        Client {
            srv,
            key: Key::es256(),
            kid: None,
        }
    }

    /// Registered with a fresh invitation for `email`.
    pub fn registered(srv: &'a TestServer, email: &str) -> Client<'a> {
        let mut c = Client::new(srv);
        let inv = invite(srv, email);
        let r = c.new_account(&inv, json!({"termsOfServiceAgreed": true}));
        assert_eq!(r.status, 201, "{}", r.text());
        c.kid = Some(r.header("location").unwrap().to_string());
        c
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("https://") {
            path.to_string()
        } else {
            format!("{}{path}", self.srv.base_url)
        }
    }

    pub fn path(&self, url: &str) -> String {
        url.strip_prefix(&self.srv.base_url)
            .unwrap_or(url)
            .to_string()
    }

    pub fn nonce(&self) -> String {
        let r = self.srv.request("HEAD", "/acme/new-nonce", &[], b"");
        assert_eq!(r.status, 200);
        r.header("replay-nonce").unwrap().to_string()
    }

    pub fn send(&self, path_or_url: &str, jws: &Value) -> Response {
        self.srv.post(
            &self.path(path_or_url),
            &[("Content-Type", "application/jose+json")],
            jws.to_string().as_bytes(),
        )
    }

    pub fn jwk_header(&self, url: &str) -> Value {
        json!({"alg": self.key.alg, "jwk": self.key.jwk, "url": self.url(url), "nonce": self.nonce()})
    }

    pub fn kid_header(&self, url: &str) -> Value {
        json!({"alg": self.key.alg, "kid": self.kid.as_deref().unwrap(), "url": self.url(url), "nonce": self.nonce()})
    }

    pub fn new_account(&self, inv: &Invite, mut payload: Value) -> Response {
        let url = self.url("/acme/new-account");
        payload["externalAccountBinding"] = eab(&inv.kid, &inv.key, &url, &self.key.jwk, "HS256");
        let jws = self.key.sign(&self.jwk_header(&url), Some(&payload));
        self.send(&url, &jws)
    }

    /// A kid-signed POST (`None`: POST-as-GET).
    pub fn post(&self, url: &str, payload: Option<Value>) -> Response {
        let jws = self.key.sign(&self.kid_header(url), payload.as_ref());
        self.send(url, &jws)
    }

    pub fn new_order(&self, email: &str) -> Response {
        self.post(
            "/acme/new-order",
            Some(json!({"identifiers": [{"type": "email", "value": email}]})),
        )
    }
}

/// An order with its challenge responded to: (order URL, authz URL, token-part2, mail text).
pub struct Pending {
    pub order: String,
    pub authz: String,
    pub token: String,
    pub mail: String,
}

pub fn order_and_respond(c: &Client<'_>, email: &str) -> Pending {
    // only challenge mails count: a notification of an earlier issuance may
    // land in the outbox at any moment (the notifier thread sends it)
    let challenge_mails = || -> Vec<PathBuf> {
        c.srv
            .outbox()
            .into_iter()
            .filter(|m| {
                std::fs::read_to_string(m)
                    .map(|t| t.contains("\nSubject: ACME: ") || t.starts_with("Subject: ACME: "))
                    .unwrap_or(false)
            })
            .collect()
    };
    let before = challenge_mails();
    let r = c.new_order(email);
    assert_eq!(r.status, 201, "{}", r.text());
    let order = r.header("location").unwrap().to_string();
    let authz = r.json()["authorizations"][0].as_str().unwrap().to_string();
    let a = c.post(&authz, None).json();
    let ch = a["challenges"][0].clone();
    assert_eq!(ch["type"], "email-reply-00");
    let r = c.post(ch["url"].as_str().unwrap(), Some(json!({})));
    assert_eq!(r.status, 200, "{}", r.text());
    let new: Vec<PathBuf> = challenge_mails()
        .into_iter()
        .filter(|m| !before.contains(m))
        .collect();
    assert_eq!(new.len(), 1, "one challenge mail");
    let mails = new;
    Pending {
        order,
        authz,
        token: ch["token"].as_str().unwrap().to_string(),
        mail: std::fs::read_to_string(mails.last().unwrap()).unwrap(),
    }
}

pub fn mail_header(mail: &str, name: &str) -> String {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    mail.lines()
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_string())
        .unwrap_or_default()
}

/// base64url(SHA-256(token-part1 || token-part2 "." thumbprint)).
pub fn digest_for(c: &Client<'_>, p: &Pending) -> String {
    let subject = mail_header(&p.mail, "Subject");
    let part1 = subject.strip_prefix("ACME: ").unwrap();
    let ka = format!("{part1}{}.{}", p.token, c.key.thumbprint());
    b64(digest::digest(&digest::SHA256, ka.as_bytes()).as_ref())
}

pub fn reply(p: &Pending, from: &str, digest: &str) -> Vec<u8> {
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: {subject}\r\nMessage-ID: <r{n}@example.com>\r\n\
         In-Reply-To: {mid}\r\nContent-Type: text/plain\r\n\r\n\
         -----BEGIN ACME RESPONSE-----\r\n{digest}\r\n-----END ACME RESPONSE-----\r\n",
        to = mail_header(&p.mail, "From"),
        subject = mail_header(&p.mail, "Subject"),
        mid = mail_header(&p.mail, "Message-ID"),
        n = rand::random::<u64>(),
    )
    .into_bytes()
}

/// Pipes `raw` into `signet mail ingest` for this server's data directory.
pub fn ingest(srv: &TestServer, raw: &[u8]) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args(["mail", "ingest"])
        .env("SIGNET_SERVER__DATA_DIR", &srv.data_dir)
        .env_remove("SIGNET_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run signet mail ingest");
    child.stdin.take().unwrap().write_all(raw).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "signet mail ingest failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Polls `url` (POST-as-GET) until `field` is not one of `waiting` (max ~10 s).
pub fn poll(c: &Client<'_>, url: &str, waiting: &[&str]) -> Value {
    for _ in 0..50 {
        let v = c.post(url, None).json();
        if !waiting.iter().any(|w| v["status"] == *w) {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    panic!("{url} stayed in {waiting:?}");
}

/// A P-256 CSR (PEM) and its key.
pub fn csr(email: Option<&str>) -> (String, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    if let Some(e) = email {
        params.subject_alt_names = vec![rcgen::SanType::Rfc822Name(e.try_into().unwrap())];
    }
    (params.serialize_request(&key).unwrap().pem().unwrap(), key)
}

/// Runs the whole flow; returns the certificate URL and the order.
pub fn issue(c: &Client<'_>, email: &str) -> (String, Value) {
    let p = order_and_respond(c, email);
    ingest(c.srv, &reply(&p, email, &digest_for(c, &p)));
    let order = poll(c, &p.order, &["pending"]);
    assert_eq!(order["status"], "ready", "{order}");
    let (pem, _) = csr(Some(email));
    let r = c.post(
        order["finalize"].as_str().unwrap(),
        Some(json!({"csr": pem})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let order = poll(c, &p.order, &["processing"]);
    assert_eq!(order["status"], "valid");
    (order["certificate"].as_str().unwrap().to_string(), order)
}
