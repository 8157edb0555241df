//! In-process tests of the ACME front end: real store, development CA, outbox
//! mailer and fake clock; requests go through the same `handle` the server
//! calls, so every header and status is checked as a client would see it.

use std::path::PathBuf;
use std::sync::Arc;

use http::{HeaderMap, HeaderValue, Method, StatusCode};
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::jws::testkit::{eab, TestKey};
use super::*;
use crate::ca::{Ca, CaConfig, Template};
use crate::clock::FakeClock;
use crate::ra::attestation::AttestationPolicy;
use crate::ra::{
    NewAccount, NewEndpoint, NewInvitation, NewOrganization, NewProfile, Ra, RaSettings,
};
use crate::storage::acme::ChallengeStatus;
use crate::va::email::{key_authorizations, response_digest};

pub(crate) const BASE: &str = "https://signet.test";

pub(crate) struct Env {
    pub dir: tempfile::TempDir,
    pub fe: AcmeFrontEnd,
    pub ra: Arc<Ra>,
    pub clock: Arc<FakeClock>,
    pub outbox: PathBuf,
}

fn start() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

pub(crate) fn env_with(cfg: AcmeConfig, approval: bool, attestation: bool) -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(start()));
    let shared: SharedClock = clock.clone();
    let ca_cfg = CaConfig {
        algorithm: "p256".into(),
        crl_url: "http://pki.signet.test/crl/issuing.crl".into(),
        issuer_url: "http://pki.signet.test/ca/issuing.cer".into(),
        ..CaConfig::default()
    };
    let ca = Arc::new(Ca::load_or_create(&dir.path().join("ca"), &ca_cfg, &shared).unwrap());
    let outbox = dir.path().join("outbox");
    let mailer = Mailer::outbox(&outbox, "signet@signet.test", shared.clone()).unwrap();
    let settings = RaSettings {
        invitation_ttl_days: 14,
        acme_directory_url: format!("{BASE}/acme/directory"),
        est_url: format!("{BASE}/.well-known/est"),
        admin_emails: vec![],
    };
    let ra = Arc::new(Ra::new(
        Store::temporary().unwrap(),
        ca,
        mailer.clone(),
        shared.clone(),
        settings,
    ));
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
        "t",
    )
    .unwrap();
    for (name, att) in [("cs", attestation), ("cs-hw", true)] {
        ra.create_profile(
            &NewProfile {
                name: name.into(),
                template: Template::Ov,
                terms_days: vec![365],
                key_types: vec!["ecdsa-p256".into(), "rsa-3072".into()],
                requires_approval: approval,
                attestation: Some(AttestationPolicy {
                    required: att,
                    ..AttestationPolicy::default()
                }),
            },
            "t",
        )
        .unwrap();
    }
    ra.create_profile(
        &NewProfile {
            name: "other".into(),
            template: Template::Ov,
            terms_days: vec![365],
            key_types: vec!["ecdsa-p256".into()],
            requires_approval: false,
            attestation: Some(AttestationPolicy {
                required: false,
                ..AttestationPolicy::default()
            }),
        },
        "t",
    )
    .unwrap();
    ra.create_endpoint(
        &NewEndpoint {
            name: "builds".into(),
            label: "builds".into(),
        },
        "t",
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
        "t",
    )
    .unwrap();
    let inbox = dir.path().join("inbox");
    let fe = AcmeFrontEnd::new(ra.clone(), cfg, BASE, mailer, shared, inbox);
    Env {
        dir,
        fe,
        ra,
        clock,
        outbox,
    }
}

pub(crate) fn env() -> Env {
    env_with(AcmeConfig::default(), false, false)
}

pub(crate) struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
    pub fn problem_type(&self) -> String {
        assert_eq!(
            self.headers.get("content-type").unwrap(),
            "application/problem+json",
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        self.json()["type"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches("urn:ietf:params:acme:error:")
            .to_string()
    }
    pub fn location(&self) -> String {
        self.headers
            .get("location")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default()
    }
}

pub(crate) struct Invite {
    pub kid: String,
    pub key: Vec<u8>,
}

impl Env {
    pub fn raw(&self, method: Method, path: &str, body: Vec<u8>, ct: Option<&str>) -> Resp {
        let mut req = HttpRequest::for_test(method, path, body);
        if let Some(ct) = ct {
            req.headers
                .insert("content-type", HeaderValue::from_str(ct).unwrap());
        }
        let resp = self.fe.handle_blocking(&req);
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = {
            use http_body_util::BodyExt;
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(resp.into_body().collect())
                .unwrap()
                .to_bytes()
                .to_vec()
        };
        assert!(
            headers.get("replay-nonce").is_some(),
            "every response has a nonce"
        );
        Resp {
            status,
            headers,
            body,
        }
    }

    pub fn nonce(&self) -> String {
        let r = self.raw(Method::HEAD, "/acme/new-nonce", vec![], None);
        r.headers["replay-nonce"].to_str().unwrap().to_string()
    }

    pub fn post_jws(&self, path: &str, jws: &Value) -> Resp {
        self.raw(
            Method::POST,
            path,
            jws.to_string().into_bytes(),
            Some("application/jose+json"),
        )
    }

    pub fn invite(&self, email: &str) -> Invite {
        let inv = self
            .ra
            .create_invitation(
                &NewInvitation {
                    email: email.into(),
                    account: "release".into(),
                    profile: None,
                    ttl_days: None,
                },
                "admin",
            )
            .unwrap();
        Invite {
            kid: inv.kid,
            key: jws::b64_decode("k", &inv.hmac_key).unwrap(),
        }
    }

    /// A client with a fresh key and a registered account.
    pub fn client(&self, email: &str) -> Client<'_> {
        let inv = self.invite(email);
        let mut c = Client {
            env: self,
            key: TestKey::es256(),
            kid: None,
        };
        let r = c.new_account(&inv, json!({"termsOfServiceAgreed": true}));
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        c.kid = Some(r.location());
        c
    }

    pub fn outbox_mails(&self) -> Vec<String> {
        crate::mail::outbox_messages(&self.outbox)
            .unwrap_or_default()
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect()
    }
}

pub(crate) struct Client<'a> {
    pub env: &'a Env,
    pub key: TestKey,
    pub kid: Option<String>,
}

impl Client<'_> {
    pub fn url(path: &str) -> String {
        format!("{BASE}{path}")
    }

    pub fn new_account(&self, inv: &Invite, mut payload: Value) -> Resp {
        let url = Self::url("/acme/new-account");
        payload["externalAccountBinding"] = eab(&inv.kid, &inv.key, &url, &self.key.jwk, "HS256");
        let jws = self
            .key
            .sign(self.key.header_jwk(&url, &self.env.nonce()), Some(&payload));
        self.env.post_jws("/acme/new-account", &jws)
    }

    /// POST with kid; `payload` None = POST-as-GET. `path` may be a full URL.
    pub fn post(&self, path: &str, payload: Option<Value>) -> Resp {
        let path = path.trim_start_matches(BASE);
        let url = Self::url(path);
        let h = self
            .key
            .header_kid(self.kid.as_deref().unwrap(), &url, &self.env.nonce());
        let jws = self.key.sign(h, payload.as_ref());
        self.env.post_jws(path, &jws)
    }

    pub fn new_order(&self, email: &str) -> Resp {
        self.post(
            "/acme/new-order",
            Some(json!({"identifiers": [{"type": "email", "value": email}]})),
        )
    }

    pub fn thumbprint(&self) -> String {
        jws::thumbprint(&self.key.jwk).unwrap()
    }
}

/// Builds the RFC 8823 reply to a challenge mail.
pub(crate) fn reply_to(mail: &str, from: &str, digest: &str, extra_headers: &str) -> Vec<u8> {
    let header = |name: &str| -> String {
        mail.lines()
            .find(|l| {
                l.to_ascii_lowercase()
                    .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            })
            .map(|l| l[name.len() + 1..].trim().to_string())
            .unwrap_or_default()
    };
    format!(
        "From: {from}\r\nTo: {to}\r\nSubject: Re: {subject}\r\nMessage-ID: <reply-{n}@example.com>\r\n\
         In-Reply-To: {mid}\r\nReferences: {mid}\r\n{extra_headers}Content-Type: text/plain\r\n\r\n\
         -----BEGIN ACME RESPONSE-----\r\n{digest}\r\n-----END ACME RESPONSE-----\r\n",
        to = header("From"),
        subject = header("Subject"),
        mid = header("Message-ID"),
        n = rand::random::<u32>(),
    )
    .into_bytes()
}

pub(crate) fn token_part1(mail: &str) -> String {
    mail.lines()
        .find_map(|l| l.strip_prefix("Subject: ACME: "))
        .unwrap()
        .trim()
        .to_string()
}

/// Orders for `email`, responds to the challenge and returns (order url, authz url, mail).
pub(crate) fn order_and_respond(c: &Client<'_>, email: &str) -> (String, String, String) {
    // only challenge mails count: a notification of an earlier issuance may
    // land in the outbox at any moment (the notifier thread sends it)
    let challenge_mails = || -> Vec<String> {
        c.env
            .outbox_mails()
            .into_iter()
            .filter(|m| m.contains("\nSubject: ACME: "))
            .collect()
    };
    let before = challenge_mails().len();
    let r = c.new_order(email);
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let order_url = r.location();
    let authz_url = r.json()["authorizations"][0].as_str().unwrap().to_string();
    let authz = c.post(&authz_url, None).json();
    let chall = &authz["challenges"][0];
    let r = c.post(chall["url"].as_str().unwrap(), Some(json!({})));
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "processing");
    let mails = challenge_mails();
    assert_eq!(mails.len(), before + 1, "one challenge mail");
    (order_url, authz_url, mails.last().unwrap().clone())
}

pub(crate) fn correct_digest(c: &Client<'_>, mail: &str, token: &str) -> String {
    let ka = &key_authorizations(&token_part1(mail), token, &c.thumbprint())[0];
    response_digest(ka)
}

pub(crate) fn p256_csr(email: Option<&str>) -> (String, rcgen::KeyPair) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    if let Some(e) = email {
        params.subject_alt_names = vec![rcgen::SanType::Rfc822Name(e.try_into().unwrap())];
    }
    let pem = params.serialize_request(&key).unwrap().pem().unwrap();
    (pem, key)
}

/// The full flow up to a valid order; returns (order JSON, certificate URL).
pub(crate) fn issue(c: &Client<'_>, email: &str) -> (Value, String) {
    let (order_url, authz_url, mail) = order_and_respond(c, email);
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let digest = correct_digest(c, &mail, &token);
    let outcome = c.env.fe.ingest_mail(&reply_to(&mail, email, &digest, ""));
    assert!(
        matches!(outcome, IngestOutcome::Validated { .. }),
        "{outcome}"
    );
    let order = c.post(&order_url, None).json();
    assert_eq!(order["status"], "ready");
    let (csr, _) = p256_csr(Some(email));
    let r = c.post(
        order["finalize"].as_str().unwrap(),
        Some(json!({"csr": csr})),
    );
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let order = r.json();
    assert_eq!(order["status"], "valid");
    let cert = order["certificate"].as_str().unwrap().to_string();
    (order, cert)
}

// ---------------------------------------------------------------- directory

#[test]
fn directory_lists_resources_meta_and_profiles() {
    let e = env();
    let r = e.raw(Method::GET, "/acme/directory", vec![], None);
    assert_eq!(r.status, StatusCode::OK);
    let d = r.json();
    for (k, p) in [
        ("newNonce", "new-nonce"),
        ("newAccount", "new-account"),
        ("newOrder", "new-order"),
        ("revokeCert", "revoke-cert"),
        ("keyChange", "key-change"),
    ] {
        assert_eq!(d[k], format!("{BASE}/acme/{p}"));
    }
    assert_eq!(d["meta"]["externalAccountRequired"], true);
    assert_eq!(d["meta"]["termsOfService"], format!("{BASE}/acme/terms"));
    assert!(d["meta"]["profiles"]["cs"].is_string());
    assert!(d["meta"]["profiles"]["cs-hw"]
        .as_str()
        .unwrap()
        .contains("attestation"));
    assert!(r.headers["link"]
        .to_str()
        .unwrap()
        .contains("rel=\"index\""));
    let t = e.raw(Method::GET, "/acme/terms", vec![], None);
    assert_eq!(t.status, StatusCode::OK);
}

#[test]
fn new_nonce_head_and_get() {
    let e = env();
    let h = e.raw(Method::HEAD, "/acme/new-nonce", vec![], None);
    assert_eq!(h.status, StatusCode::OK);
    assert_eq!(h.headers["cache-control"], "no-store");
    let g = e.raw(Method::GET, "/acme/new-nonce", vec![], None);
    assert_eq!(g.status, StatusCode::NO_CONTENT);
    assert_ne!(h.headers["replay-nonce"], g.headers["replay-nonce"]);
}

#[test]
fn errors_carry_a_fresh_nonce_and_problem_document() {
    let e = env();
    let r = e.raw(
        Method::POST,
        "/acme/new-order",
        b"{}".to_vec(),
        Some("application/json"),
    );
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.problem_type(), "malformed");
    let r = e.raw(Method::GET, "/acme/order/x", vec![], None);
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    let r = e.raw(
        Method::POST,
        "/acme/nope",
        b"{}".to_vec(),
        Some("application/jose+json"),
    );
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

// ---------------------------------------------------------------- full flow

#[test]
fn full_flow_issues_a_code_signing_certificate() {
    let e = env();
    let c = e.client("dev@example.com");
    let (order, cert_url) = issue(&c, "dev@example.com");
    assert_eq!(order["identifiers"][0]["type"], "email");
    assert_eq!(order["profile"], "cs");
    let r = c.post(&cert_url, None);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        r.headers["content-type"],
        "application/pem-certificate-chain"
    );
    let chain = ::pem::parse_many(&r.body).unwrap();
    assert_eq!(chain.len(), 2, "leaf + issuing CA");
    use x509_parser::prelude::*;
    let (_, leaf) = X509Certificate::from_der(chain[0].contents()).unwrap();
    let eku = leaf.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.code_signing);
    let san = leaf.subject_alternative_name().unwrap().unwrap().value;
    assert!(san
        .general_names
        .iter()
        .any(|n| matches!(n, GeneralName::RFC822Name("dev@example.com"))));
    // Issuing CA signed it.
    let (_, issuer) = X509Certificate::from_der(chain[1].contents()).unwrap();
    leaf.verify_signature(Some(issuer.public_key())).unwrap();
}

#[test]
fn challenge_mail_follows_rfc8823() {
    let e = env();
    let c = e.client("dev@example.com");
    let (_, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    assert!(mail.contains("To: dev@example.com"));
    let part1 = token_part1(&mail);
    assert_eq!(part1.len(), 32, "24 random bytes, base64url");
    assert!(mail.contains("Auto-Submitted: auto-generated; type=acme"));
    assert!(mail.to_ascii_lowercase().contains("message-id: <"));
    let a = c.post(&authz_url, None).json();
    let ch = &a["challenges"][0];
    assert_eq!(ch["type"], "email-reply-00");
    assert_eq!(ch["from"], "signet@signet.test");
    assert_ne!(ch["token"], part1, "the challenge carries token-part2 only");
    // Responding again sends no second mail.
    c.post(ch["url"].as_str().unwrap(), Some(json!({})));
    assert_eq!(e.outbox_mails().len(), 2, "invitation + one challenge mail");
}

#[test]
fn download_as_pkcs7_and_alternate_chain() {
    let e = env_with(
        AcmeConfig {
            alternate_chain_with_root: true,
            ..AcmeConfig::default()
        },
        false,
        false,
    );
    let c = e.client("dev@example.com");
    let (_, cert_url) = issue(&c, "dev@example.com");
    let r = c.post(&cert_url, None);
    let links: Vec<_> = r
        .headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    let alt = links
        .iter()
        .find(|l| l.contains("rel=\"alternate\""))
        .expect("alternate link");
    let alt_url = alt.trim_start_matches('<').split('>').next().unwrap();
    let r = c.post(alt_url, None);
    assert_eq!(
        ::pem::parse_many(&r.body).unwrap().len(),
        3,
        "leaf + issuing + root"
    );
    // PKCS#7
    let path = cert_url.trim_start_matches(BASE).to_string();
    let url = Client::url(&path);
    let h = c
        .key
        .header_kid(c.kid.as_deref().unwrap(), &url, &e.nonce());
    let jws = c.key.sign(h, None);
    let mut req = HttpRequest::for_test(Method::POST, &path, jws.to_string());
    req.headers.insert(
        "content-type",
        HeaderValue::from_static("application/jose+json"),
    );
    req.headers
        .insert("accept", HeaderValue::from_static("application/pkcs7-mime"));
    let resp = e.fe.handle_blocking(&req);
    assert_eq!(resp.headers()["content-type"], "application/pkcs7-mime");
}

// ---------------------------------------------------------------- JWS

#[test]
fn jws_catalogue() {
    let e = env();
    let c = e.client("dev@example.com");
    let url = Client::url("/acme/new-order");
    let payload = json!({"identifiers": [{"type": "email", "value": "dev@example.com"}]});
    let kid = c.kid.clone().unwrap();
    let check = |header: Value, expect: &str| {
        let jws = c.key.sign(header, Some(&payload));
        let r = e.post_jws("/acme/new-order", &jws);
        assert_eq!(
            r.problem_type(),
            expect,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
        r
    };
    // alg none / HS256
    for alg in ["none", "HS256", "RS512"] {
        let mut h = c.key.header_kid(&kid, &url, &e.nonce());
        h["alg"] = json!(alg);
        let r = check(h, "badSignatureAlgorithm");
        assert!(r.json()["algorithms"]
            .as_array()
            .unwrap()
            .contains(&json!("ES256")));
    }
    // url mismatch
    check(
        c.key
            .header_kid(&kid, &Client::url("/acme/new-account"), &e.nonce()),
        "unauthorized",
    );
    // bad and replayed nonce
    check(c.key.header_kid(&kid, &url, "bm9wZQ"), "badNonce");
    let n = e.nonce();
    let ok = e.post_jws(
        "/acme/new-order",
        &c.key.sign(c.key.header_kid(&kid, &url, &n), Some(&payload)),
    );
    assert_eq!(ok.status, StatusCode::CREATED);
    check(c.key.header_kid(&kid, &url, &n), "badNonce");
    // missing nonce
    let mut h = c.key.header_kid(&kid, &url, "x");
    h.as_object_mut().unwrap().remove("nonce");
    check(h, "badNonce");
    // jwk and kid together
    let mut h = c.key.header_kid(&kid, &url, &e.nonce());
    h["jwk"] = c.key.jwk.clone();
    check(h, "malformed");
    // jwk on a kid resource
    check(c.key.header_jwk(&url, &e.nonce()), "malformed");
    // wrong key for kid
    let other = TestKey::es256();
    let jws = other.sign(other.header_kid(&kid, &url, &e.nonce()), Some(&payload));
    assert_eq!(
        e.post_jws("/acme/new-order", &jws).problem_type(),
        "malformed"
    );
    // unknown account
    let jws = c.key.sign(
        c.key
            .header_kid(&format!("{BASE}/acme/acct/acct_nope"), &url, &e.nonce()),
        Some(&payload),
    );
    assert_eq!(
        e.post_jws("/acme/new-order", &jws).problem_type(),
        "accountDoesNotExist"
    );
    // tampered payload
    let mut jws = c
        .key
        .sign(c.key.header_kid(&kid, &url, &e.nonce()), Some(&payload));
    jws["payload"] = json!(jws::b64(b"{\"identifiers\":[]}"));
    assert_eq!(
        e.post_jws("/acme/new-order", &jws).problem_type(),
        "malformed"
    );
    // an HS256 account request (MAC as signature) is refused
    let inv = e.invite("dev2@example.com");
    let mut h = json!({"alg": "HS256", "jwk": {"kty": "oct", "k": "AAAA"}, "nonce": e.nonce(), "url": Client::url("/acme/new-account")});
    h["kid"] = Value::Null;
    h.as_object_mut().unwrap().remove("kid");
    let jws = eab(&inv.kid, &inv.key, "x", &json!({}), "HS256");
    let mut forged = jws.clone();
    forged["protected"] = json!(jws::b64(h.to_string().as_bytes()));
    assert_eq!(
        e.post_jws("/acme/new-account", &forged).problem_type(),
        "badSignatureAlgorithm"
    );
}

// ---------------------------------------------------------------- accounts / EAB

#[test]
fn eab_catalogue() {
    let e = env();
    let key = TestKey::es256();
    let c = Client {
        env: &e,
        key,
        kid: None,
    };
    let tos = json!({"termsOfServiceAgreed": true});
    // no EAB
    let url = Client::url("/acme/new-account");
    let jws = c.key.sign(c.key.header_jwk(&url, &e.nonce()), Some(&tos));
    assert_eq!(
        e.post_jws("/acme/new-account", &jws).problem_type(),
        "externalAccountRequired"
    );
    // unknown kid
    let fake = Invite {
        kid: "inv_nope".into(),
        key: vec![1; 32],
    };
    assert_eq!(
        c.new_account(&fake, tos.clone()).problem_type(),
        "unauthorized"
    );
    // wrong MAC
    let inv = e.invite("dev@example.com");
    let wrong = Invite {
        kid: inv.kid.clone(),
        key: vec![9; 32],
    };
    assert_eq!(
        c.new_account(&wrong, tos.clone()).problem_type(),
        "unauthorized"
    );
    // EAB signed over a different key
    let other = TestKey::es256();
    let mut p = tos.clone();
    p["externalAccountBinding"] = eab(&inv.kid, &inv.key, &url, &other.jwk, "HS256");
    let jws = c.key.sign(c.key.header_jwk(&url, &e.nonce()), Some(&p));
    let r = e.post_jws("/acme/new-account", &jws);
    assert_eq!(r.problem_type(), "unauthorized");
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("different account key"));
    // EAB url not newAccount
    let mut p = tos.clone();
    p["externalAccountBinding"] = eab(
        &inv.kid,
        &inv.key,
        "https://elsewhere/",
        &c.key.jwk,
        "HS256",
    );
    let jws = c.key.sign(c.key.header_jwk(&url, &e.nonce()), Some(&p));
    assert_eq!(
        e.post_jws("/acme/new-account", &jws).problem_type(),
        "malformed"
    );
    // EAB with a non-MAC alg
    let mut p = tos.clone();
    p["externalAccountBinding"] = eab(&inv.kid, &inv.key, &url, &c.key.jwk, "RS256");
    let jws = c.key.sign(c.key.header_jwk(&url, &e.nonce()), Some(&p));
    assert_eq!(
        e.post_jws("/acme/new-account", &jws).problem_type(),
        "malformed"
    );
    // terms not agreed
    assert_eq!(c.new_account(&inv, json!({})).problem_type(), "malformed");
    // the invitation is still unused after all those failures
    assert_eq!(
        e.ra.invitation(&inv.kid)
            .unwrap()
            .status(crate::clock::Clock::now(&*e.clock)),
        "sent"
    );
    // HS384 and HS512 work; second use fails
    let r = c.new_account(&inv, tos.clone());
    assert_eq!(r.status, StatusCode::CREATED);
    let acct = r.json();
    assert_eq!(acct["status"], "valid");
    assert!(acct["orders"].as_str().unwrap().ends_with("/orders"));
    let c2 = Client {
        env: &e,
        key: TestKey::es256(),
        kid: None,
    };
    let r = c2.new_account(&inv, tos.clone());
    assert_eq!(r.problem_type(), "unauthorized");
    assert!(r.json()["detail"]
        .as_str()
        .unwrap()
        .contains("already been used"));
    // expired invitation
    let inv2 = e.invite("dev@example.com");
    e.clock.advance(Duration::days(15));
    assert!(c2.new_account(&inv2, tos.clone()).json()["detail"]
        .as_str()
        .unwrap()
        .contains("expired"));
    // revoked invitation
    let inv3 = e.invite("dev@example.com");
    e.ra.revoke_invitation(&inv3.kid, "admin").unwrap();
    assert!(c2.new_account(&inv3, tos.clone()).json()["detail"]
        .as_str()
        .unwrap()
        .contains("revoked"));
    // HS512 binding works
    let inv4 = e.invite("dev@example.com");
    let mut p = tos.clone();
    p["externalAccountBinding"] = eab(&inv4.kid, &inv4.key, &url, &c2.key.jwk, "HS512");
    let jws = c2.key.sign(c2.key.header_jwk(&url, &e.nonce()), Some(&p));
    assert_eq!(
        e.post_jws("/acme/new-account", &jws).status,
        StatusCode::CREATED
    );
}

#[test]
fn account_inherits_the_invitation_and_existing_key_returns_it() {
    let e = env();
    let c = e.client("dev@example.com");
    let id = c
        .kid
        .as_ref()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    let acct = e.ra.store().get_acme_account(&id).unwrap().unwrap();
    assert_eq!(acct.email, "dev@example.com");
    let ep = e.ra.store().find_account("release").unwrap().unwrap();
    assert_eq!(acct.endpoint_account_id, ep.id);
    assert_eq!(acct.organization_id, ep.organization_id);
    assert_eq!(acct.profile_ids, ep.profile_ids);
    // Same key again (no EAB needed): 200 with the same Location.
    let url = Client::url("/acme/new-account");
    let jws = c.key.sign(
        c.key.header_jwk(&url, &e.nonce()),
        Some(&json!({"onlyReturnExisting": true})),
    );
    let r = e.post_jws("/acme/new-account", &jws);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.location(), *c.kid.as_ref().unwrap());
    // onlyReturnExisting for an unknown key
    let k = TestKey::es256();
    let jws = k.sign(
        k.header_jwk(&url, &e.nonce()),
        Some(&json!({"onlyReturnExisting": true})),
    );
    assert_eq!(
        e.post_jws("/acme/new-account", &jws).problem_type(),
        "accountDoesNotExist"
    );
}

#[test]
fn contact_update_deactivation_and_orders_list() {
    let e = env_with(
        AcmeConfig {
            orders_page_size: 2,
            ..AcmeConfig::default()
        },
        false,
        false,
    );
    let c = e.client("dev@example.com");
    let kid = c.kid.clone().unwrap();
    let r = c.post(&kid, Some(json!({"contact": ["mailto:dev@example.com"]})));
    assert_eq!(r.json()["contact"][0], "mailto:dev@example.com");
    assert_eq!(
        c.post(&kid, Some(json!({"contact": ["tel:+49"]})))
            .problem_type(),
        "unsupportedContact"
    );
    for _ in 0..3 {
        c.new_order("dev@example.com");
    }
    let list = c.post(&format!("{kid}/orders"), None);
    assert_eq!(list.json()["orders"].as_array().unwrap().len(), 2);
    let next = list
        .headers
        .get_all("link")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|l| l.contains("rel=\"next\""))
        .unwrap();
    let next_url = next
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap()
        .to_string();
    let page2 = c.post(&next_url, None);
    assert_eq!(page2.json()["orders"].as_array().unwrap().len(), 1);
    // Another account cannot read this list.
    let other = e.client("dev@example.com");
    assert_eq!(
        other.post(&format!("{kid}/orders"), None).problem_type(),
        "unauthorized"
    );
    // Deactivate; afterwards the key is refused.
    let r = c.post(&kid, Some(json!({"status": "deactivated"})));
    assert_eq!(r.json()["status"], "deactivated");
    assert_eq!(c.post(&kid, None).problem_type(), "unauthorized");
    let actions: Vec<_> =
        e.ra.store()
            .audit_records()
            .unwrap()
            .into_iter()
            .map(|a| a.action)
            .collect();
    assert!(actions.contains(&"acme.account.create".to_string()));
    assert!(actions.contains(&"acme.account.deactivate".to_string()));
}

#[test]
fn key_change_rolls_the_account_key() {
    let e = env();
    let mut c = e.client("dev@example.com");
    let kid = c.kid.clone().unwrap();
    let new = TestKey::es256();
    let url = Client::url("/acme/key-change");
    let inner = new.sign(
        json!({"alg": "ES256", "jwk": new.jwk, "url": url}),
        Some(&json!({"account": kid, "oldKey": c.key.jwk})),
    );
    let r = c.post("/acme/key-change", Some(inner.clone()));
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // old key no longer works, new one does
    assert_eq!(c.post(&kid, None).problem_type(), "malformed");
    c.key = new;
    assert_eq!(c.post(&kid, None).status, StatusCode::OK);
    // A key that belongs to another account: conflict with its Location.
    let other = e.client("dev@example.com");
    let inner = other.key.sign(
        json!({"alg": "ES256", "jwk": other.key.jwk, "url": url}),
        Some(&json!({"account": kid, "oldKey": c.key.jwk})),
    );
    let r = c.post("/acme/key-change", Some(inner));
    assert_eq!(r.problem_type(), "conflict");
    assert_eq!(r.location(), *other.kid.as_ref().unwrap());
    // Inner JWS with a nonce is refused.
    let k = TestKey::es256();
    let inner = k.sign(
        json!({"alg": "ES256", "jwk": k.jwk, "url": url, "nonce": "x"}),
        Some(&json!({"account": kid, "oldKey": c.key.jwk})),
    );
    assert_eq!(
        c.post("/acme/key-change", Some(inner)).problem_type(),
        "malformed"
    );
}

// ---------------------------------------------------------------- orders

#[test]
fn identifiers_must_be_the_invited_email() {
    let e = env();
    let c = e.client("dev@example.com");
    let r = c.post(
        "/acme/new-order",
        Some(json!({"identifiers": [{"type": "dns", "value": "example.com"}]})),
    );
    assert_eq!(r.problem_type(), "unsupportedIdentifier");
    assert_eq!(
        r.json()["subproblems"][0]["identifier"]["value"],
        "example.com"
    );
    let r = c.new_order("boss@example.com");
    assert_eq!(r.problem_type(), "rejectedIdentifier");
    let r = c.post(
        "/acme/new-order",
        Some(json!({"identifiers": [{"type": "dns", "value": "a.example"}, {"type": "email", "value": "x@example.com"}]})),
    );
    assert_eq!(r.problem_type(), "compound");
    assert_eq!(r.json()["subproblems"].as_array().unwrap().len(), 2);
    // Domain case does not matter.
    assert_eq!(c.new_order("dev@EXAMPLE.com").status, StatusCode::CREATED);
}

#[test]
fn order_profile_must_be_allowed() {
    let e = env();
    let c = e.client("dev@example.com");
    let ok = c.post(
        "/acme/new-order",
        Some(json!({"identifiers": [{"type": "email", "value": "dev@example.com"}], "profile": "cs-hw"})),
    );
    assert_eq!(ok.json()["profile"], "cs-hw");
    for p in ["other", "nonexistent"] {
        let r = c.post(
            "/acme/new-order",
            Some(json!({"identifiers": [{"type": "email", "value": "dev@example.com"}], "profile": p})),
        );
        assert_eq!(r.problem_type(), "invalidProfile");
    }
}

#[test]
fn another_accounts_resources_are_not_disclosed() {
    let e = env();
    let a = e.client("dev@example.com");
    let (order, cert_url) = issue(&a, "dev@example.com");
    let b = e.client("dev@example.com");
    let order_url = format!("{BASE}/acme/order/{}", {
        let id =
            e.ra.store()
                .list_acme_order_ids(a.kid.as_ref().unwrap().rsplit('/').next().unwrap(), 0, 10)
                .unwrap()
                .0[0]
                .clone();
        id
    });
    for url in [
        order_url.clone(),
        order["authorizations"][0].as_str().unwrap().to_string(),
        cert_url.clone(),
    ] {
        let r = b.post(&url, None);
        assert_eq!(r.problem_type(), "unauthorized", "{url}");
        assert!(!String::from_utf8_lossy(&r.body).contains("dev@example.com"));
        assert!(!String::from_utf8_lossy(&r.body).contains("BEGIN CERTIFICATE"));
    }
    let r = b.post(&format!("{order_url}/finalize"), Some(json!({"csr": "AA"})));
    assert_eq!(r.problem_type(), "unauthorized");
    let r = b.post(&format!("{BASE}/acme/order/ord_unknown"), None);
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[test]
fn finalize_before_ready_and_bad_csrs() {
    let e = env();
    let c = e.client("dev@example.com");
    let r = c.new_order("dev@example.com");
    let fin = r.json()["finalize"].as_str().unwrap().to_string();
    let (csr, _) = p256_csr(None);
    let r = c.post(&fin, Some(json!({"csr": csr})));
    assert_eq!(r.problem_type(), "orderNotReady");
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    let (order_url, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let digest = correct_digest(&c, &mail, &token);
    e.fe.ingest_mail(&reply_to(&mail, "dev@example.com", &digest, ""));
    let fin = c.post(&order_url, None).json()["finalize"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        c.post(&fin, Some(json!({"csr": "bm90IGEgY3Ny"})))
            .problem_type(),
        "badCSR"
    );
    assert_eq!(c.post(&fin, Some(json!({"csr": "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"}))).problem_type(), "badCSR");
    // CSR for another address
    let (csr, _) = p256_csr(Some("boss@example.com"));
    assert_eq!(
        c.post(&fin, Some(json!({"csr": csr}))).problem_type(),
        "badCSR"
    );
    // Key type refused by the profile (P-384)
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let csr = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .serialize_request(&key)
        .unwrap();
    let der = jws::b64(csr.der());
    assert_eq!(
        c.post(&fin, Some(json!({"csr": der}))).problem_type(),
        "badPublicKey"
    );
    // Still ready: a good DER CSR (standard encoding) works.
    let (pem_csr, _) = p256_csr(None);
    let der = pem::parse(pem_csr).unwrap().into_contents();
    let r = c.post(&fin, Some(json!({"csr": jws::b64(&der)})));
    assert_eq!(
        r.json()["status"],
        "valid",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    // Finalizing again: orderNotReady.
    let (csr, _) = p256_csr(None);
    assert_eq!(
        c.post(&fin, Some(json!({"csr": csr}))).problem_type(),
        "orderNotReady"
    );
}

#[test]
fn attestation_profile_refuses_with_a_clear_problem() {
    let e = env();
    let c = e.client("dev@example.com");
    let r = c.post(
        "/acme/new-order",
        Some(json!({"identifiers": [{"type": "email", "value": "dev@example.com"}], "profile": "cs-hw"})),
    );
    let order_url = r.location();
    let authz_url = r.json()["authorizations"][0].as_str().unwrap().to_string();
    let ch = c.post(&authz_url, None).json()["challenges"][0].clone();
    c.post(ch["url"].as_str().unwrap(), Some(json!({})));
    let mail = e.outbox_mails().last().unwrap().clone();
    let digest = correct_digest(&c, &mail, ch["token"].as_str().unwrap());
    e.fe.ingest_mail(&reply_to(&mail, "dev@example.com", &digest, ""));
    let fin = c.post(&order_url, None).json()["finalize"]
        .as_str()
        .unwrap()
        .to_string();
    let (csr, _) = p256_csr(None);
    let r = c.post(&fin, Some(json!({"csr": csr})));
    assert_eq!(r.problem_type(), "badAttestationStatement");
    assert!(r.json()["detail"].as_str().unwrap().contains("attestation"));
    assert_eq!(c.post(&order_url, None).json()["status"], "ready");
}

#[test]
fn approval_keeps_the_order_processing_with_retry_after() {
    let e = env_with(AcmeConfig::default(), true, false);
    let c = e.client("dev@example.com");
    let (order_url, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    e.fe.ingest_mail(&reply_to(
        &mail,
        "dev@example.com",
        &correct_digest(&c, &mail, &token),
        "",
    ));
    let fin = c.post(&order_url, None).json()["finalize"]
        .as_str()
        .unwrap()
        .to_string();
    let (csr, _) = p256_csr(None);
    let r = c.post(&fin, Some(json!({"csr": csr})));
    assert_eq!(r.json()["status"], "processing");
    assert!(r.headers.get("retry-after").is_some());
    let r = c.post(&order_url, None);
    assert_eq!(r.json()["status"], "processing");
    // An administrator approves: the order becomes valid.
    let req = e.ra.store().list_requests().unwrap().pop().unwrap();
    e.ra.approve(&req.id, "admin", None).unwrap();
    let r = c.post(&order_url, None);
    assert_eq!(
        r.json()["status"],
        "valid",
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(r.json()["certificate"].is_string());
}

// ---------------------------------------------------------------- challenge replies

#[test]
fn forged_late_and_wrong_replies_are_refused_with_reasons() {
    let e = env();
    let c = e.client("dev@example.com");
    let (order_url, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let digest = correct_digest(&c, &mail, &token);
    // Forged: From another address.
    let out =
        e.fe.ingest_mail(&reply_to(&mail, "mallory@evil.example", &digest, ""));
    assert!(matches!(out, IngestOutcome::Rejected { .. }), "{out}");
    let a = c.post(&authz_url, None).json();
    assert_eq!(a["status"], "pending");
    assert_eq!(a["challenges"][0]["status"], "processing");
    // RFC 8555 §8: no error on a challenge that has not failed; the reason
    // is in the refusedReplies extension.
    assert!(a["challenges"][0].get("error").is_none(), "{a}");
    assert!(a["challenges"][0]["refusedReplies"][0]
        .as_str()
        .unwrap()
        .contains("forged"));
    // Not answering the challenge mail at all.
    let unrelated = String::from_utf8(reply_to(&mail, "dev@example.com", &digest, ""))
        .unwrap()
        .replace("In-Reply-To: <", "In-Reply-To: <x")
        .replace("References: <", "References: <x");
    assert!(matches!(
        e.fe.ingest_mail(unrelated.as_bytes()),
        IngestOutcome::Unmatched { .. }
    ));
    // The genuine reply still validates.
    let out =
        e.fe.ingest_mail(&reply_to(&mail, "dev@example.com", &digest, ""));
    assert!(matches!(out, IngestOutcome::Validated { .. }), "{out}");
    // Late: a second reply after validation is refused and recorded.
    let out =
        e.fe.ingest_mail(&reply_to(&mail, "dev@example.com", &digest, ""));
    match out {
        IngestOutcome::Rejected { reason, .. } => assert!(reason.contains("late"), "{reason}"),
        other => panic!("{other}"),
    }
    let id = authz_url.rsplit('/').next().unwrap();
    let stored = e.ra.store().get_acme_authz(id).unwrap().unwrap();
    assert_eq!(stored.challenge.status, ChallengeStatus::Valid);
    assert_eq!(stored.challenge.rejected_replies.len(), 2);
    assert_eq!(c.post(&order_url, None).json()["status"], "ready");

    // Wrong digest from the genuine sender: the challenge becomes invalid.
    e.clock.advance(Duration::days(31)); // no reuse
    let (order_url, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let out = e.fe.ingest_mail(&reply_to(
        &mail,
        "dev@example.com",
        &response_digest("wrong"),
        "",
    ));
    assert!(matches!(out, IngestOutcome::Rejected { .. }));
    let a = c.post(&authz_url, None).json();
    assert_eq!(a["status"], "invalid");
    assert_eq!(
        a["challenges"][0]["error"]["type"],
        "urn:ietf:params:acme:error:incorrectResponse"
    );
    let o = c.post(&order_url, None).json();
    assert_eq!(o["status"], "invalid");

    // Late: the authorization expired before the reply came.
    let (_, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    e.clock.advance(Duration::hours(25));
    let out = e.fe.ingest_mail(&reply_to(
        &mail,
        "dev@example.com",
        &correct_digest(&c, &mail, &token),
        "",
    ));
    match out {
        IngestOutcome::Rejected { reason, .. } => assert!(reason.contains("late"), "{reason}"),
        other => panic!("{other}"),
    }
    assert_eq!(c.post(&authz_url, None).json()["status"], "expired");
}

#[test]
fn dkim_policy_requires_trusted_authentication_results() {
    let e = env_with(
        AcmeConfig {
            sender_auth: "dkim".into(),
            trusted_authserv_ids: vec!["mx.signet.test".into()],
            ..AcmeConfig::default()
        },
        false,
        false,
    );
    let c = e.client("dev@example.com");
    let (_, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let digest = correct_digest(&c, &mail, &token);
    // No Authentication-Results at all.
    assert!(matches!(
        e.fe.ingest_mail(&reply_to(&mail, "dev@example.com", &digest, "")),
        IngestOutcome::Rejected { .. }
    ));
    // From an untrusted authserv-id.
    assert!(matches!(
        e.fe.ingest_mail(&reply_to(
            &mail,
            "dev@example.com",
            &digest,
            "Authentication-Results: evil.example; dkim=pass header.d=example.com\r\n"
        )),
        IngestOutcome::Rejected { .. }
    ));
    // dkim=fail from the trusted one.
    assert!(matches!(
        e.fe.ingest_mail(&reply_to(
            &mail,
            "dev@example.com",
            &digest,
            "Authentication-Results: mx.signet.test; dkim=fail header.d=example.com\r\n"
        )),
        IngestOutcome::Rejected { .. }
    ));
    assert_eq!(c.post(&authz_url, None).json()["status"], "pending");
    let out = e.fe.ingest_mail(&reply_to(
        &mail,
        "dev@example.com",
        &digest,
        "Authentication-Results: mx.signet.test; dkim=pass header.d=example.com header.s=s1\r\n",
    ));
    assert!(matches!(out, IngestOutcome::Validated { .. }), "{out}");
}

#[test]
fn replies_spooled_into_the_inbox_are_picked_up_on_poll() {
    let e = env();
    let c = e.client("dev@example.com");
    let (order_url, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = reply_to(
        &mail,
        "dev@example.com",
        &correct_digest(&c, &mail, &token),
        "",
    );
    let inbox = e.dir.path().join("inbox");
    let spooled = spool_reply(&inbox, &raw).unwrap();
    assert!(spooled.starts_with(inbox.join("new")));
    // The client's next poll of the authorization picks it up.
    *e.fe.inner.last_scan.lock().unwrap() = None;
    let a = c.post(&authz_url, None).json();
    assert_eq!(a["status"], "valid");
    assert_eq!(c.post(&order_url, None).json()["status"], "ready");
    assert!(std::fs::read_dir(inbox.join("new"))
        .unwrap()
        .next()
        .is_none());
    assert_eq!(std::fs::read_dir(inbox.join("cur")).unwrap().count(), 1);
}

#[test]
fn authorizations_are_reused_for_the_configured_period() {
    let e = env();
    let c = e.client("dev@example.com");
    issue(&c, "dev@example.com");
    e.clock.advance(Duration::days(29));
    let r = c.new_order("dev@example.com");
    assert_eq!(r.json()["status"], "ready", "reused within 30 days");
    e.clock.advance(Duration::days(2));
    let r = c.new_order("dev@example.com");
    assert_eq!(
        r.json()["status"],
        "pending",
        "a new challenge after 30 days"
    );
    // Another account with the same address does not reuse it.
    let other = e.client("dev@example.com");
    assert_eq!(
        other.new_order("dev@example.com").json()["status"],
        "pending"
    );
}

#[test]
fn invitation_counts_as_confirmation_when_configured() {
    let e = env_with(
        AcmeConfig {
            invitation_confirms_email: true,
            ..AcmeConfig::default()
        },
        false,
        false,
    );
    let c = e.client("dev@example.com");
    let mails = e.outbox_mails().len();
    let r = c.new_order("dev@example.com");
    assert_eq!(r.json()["status"], "ready");
    assert_eq!(e.outbox_mails().len(), mails, "no challenge mail");
    // Off by default.
    let e = env();
    let c = e.client("dev@example.com");
    assert_eq!(c.new_order("dev@example.com").json()["status"], "pending");
}

#[test]
fn authorization_deactivation() {
    let e = env();
    let c = e.client("dev@example.com");
    let r = c.new_order("dev@example.com");
    let authz_url = r.json()["authorizations"][0].as_str().unwrap().to_string();
    let order_url = r.location();
    let r = c.post(&authz_url, Some(json!({"status": "deactivated"})));
    assert_eq!(r.json()["status"], "deactivated");
    assert_eq!(c.post(&order_url, None).json()["status"], "invalid");
}

// ---------------------------------------------------------------- revocation

#[test]
fn revocation_by_account_by_key_and_refusals() {
    let e = env();
    let c = e.client("dev@example.com");
    let (_, cert_url) = issue(&c, "dev@example.com");
    let chain = c.post(&cert_url, None).body;
    let der = ::pem::parse_many(&chain).unwrap()[0].contents().to_vec();
    let b64 = jws::b64(&der);
    // Another account: unauthorized.
    let other = e.client("dev@example.com");
    let r = other.post("/acme/revoke-cert", Some(json!({"certificate": b64})));
    assert_eq!(r.problem_type(), "unauthorized");
    // Bad reason code.
    let r = c.post(
        "/acme/revoke-cert",
        Some(json!({"certificate": b64, "reason": 7})),
    );
    assert_eq!(r.problem_type(), "badRevocationReason");
    // Owner revokes.
    let r = c.post(
        "/acme/revoke-cert",
        Some(json!({"certificate": b64, "reason": 4})),
    );
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let serial = cert_url.rsplit('/').next().unwrap();
    let rec = e.ra.certificate(serial).unwrap();
    assert_eq!(rec.revocation.unwrap().reason_code, 4);
    let r = c.post("/acme/revoke-cert", Some(json!({"certificate": b64})));
    assert_eq!(r.problem_type(), "alreadyRevoked");

    // Revocation signed with the certificate's own key (jwk).
    let c2 = e.client("dev@example.com");
    let (pem_csr, cert_key) = {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let pem = rcgen::CertificateParams::new(Vec::<String>::new())
            .unwrap()
            .serialize_request(&key)
            .unwrap()
            .pem()
            .unwrap();
        (pem, key)
    };
    let (ou, au, m) = order_and_respond(&c2, "dev@example.com");
    let token = c2.post(&au, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    e.fe.ingest_mail(&reply_to(
        &m,
        "dev@example.com",
        &correct_digest(&c2, &m, &token),
        "",
    ));
    let fin = c2.post(&ou, None).json()["finalize"]
        .as_str()
        .unwrap()
        .to_string();
    let cert_url = c2.post(&fin, Some(json!({"csr": pem_csr}))).json()["certificate"]
        .as_str()
        .unwrap()
        .to_string();
    let der = ::pem::parse_many(c2.post(&cert_url, None).body).unwrap()[0]
        .contents()
        .to_vec();
    // jwk of the certificate key
    let raw = cert_key.public_key_raw();
    let jwk =
        json!({"kty": "EC", "crv": "P-256", "x": jws::b64(&raw[1..33]), "y": jws::b64(&raw[33..])});
    use josekit::jws::alg::ecdsa::EcdsaJwsAlgorithm;
    let signer = EcdsaJwsAlgorithm::Es256
        .signer_from_der(cert_key.serialize_der())
        .unwrap();
    let cert_tk = TestKey {
        signer: Box::new(signer),
        jwk,
        alg: "ES256",
    };
    let url = Client::url("/acme/revoke-cert");
    // A different key via jwk is refused.
    let stranger = TestKey::es256();
    let jws = stranger.sign(
        stranger.header_jwk(&url, &e.nonce()),
        Some(&json!({"certificate": jws::b64(&der)})),
    );
    assert_eq!(
        e.post_jws("/acme/revoke-cert", &jws).problem_type(),
        "unauthorized"
    );
    let jws = cert_tk.sign(
        cert_tk.header_jwk(&url, &e.nonce()),
        Some(&json!({"certificate": jws::b64(&der), "reason": 1})),
    );
    let r = e.post_jws("/acme/revoke-cert", &jws);
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
}

#[test]
fn configured_maildir_is_polled() {
    let maildir = tempfile::tempdir().unwrap();
    let e = env_with(
        AcmeConfig {
            maildir: maildir.path().display().to_string(),
            ..AcmeConfig::default()
        },
        false,
        false,
    );
    let c = e.client("dev@example.com");
    let (_, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    // An MTA delivering into the maildir (plus a non-reply that is skipped).
    spool_reply(
        maildir.path(),
        b"From: x@example.com\r\nSubject: hello\r\n\r\nhi\r\n",
    )
    .unwrap();
    spool_reply(
        maildir.path(),
        &reply_to(
            &mail,
            "dev@example.com",
            &correct_digest(&c, &mail, &token),
            "",
        ),
    )
    .unwrap();
    let outcomes = e.fe.poll_mail();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes
        .iter()
        .any(|o| matches!(o, IngestOutcome::Validated { .. })));
    assert!(outcomes
        .iter()
        .any(|o| matches!(o, IngestOutcome::Unmatched { .. })));
    assert_eq!(c.post(&authz_url, None).json()["status"], "valid");
    assert_eq!(
        std::fs::read_dir(maildir.path().join("cur"))
            .unwrap()
            .count(),
        2
    );
    assert!(
        e.fe.poll_mail().is_empty(),
        "processed messages are not read again"
    );
}

#[test]
fn resources_are_read_with_post_as_get_only() {
    let e = env();
    let c = e.client("dev@example.com");
    let r = c.new_order("dev@example.com");
    let order_url = r.location();
    assert_eq!(
        c.post(&order_url, Some(json!({}))).problem_type(),
        "malformed"
    );
    let r = c.post(&order_url, None);
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.location(), order_url);
    // A payload is needed where the RFC asks for one.
    assert_eq!(c.post("/acme/new-order", None).problem_type(), "malformed");
}

#[test]
fn digest_joined_from_decoded_bytes_is_accepted_end_to_end() {
    use base64::Engine;
    let e = env();
    let c = e.client("dev@example.com");
    let (_, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut bytes = b64.decode(token_part1(&mail)).unwrap();
    bytes.extend(b64.decode(&token).unwrap());
    let ka = format!("{}.{}", b64.encode(bytes), c.thumbprint());
    let out = e.fe.ingest_mail(&reply_to(
        &mail,
        "dev@example.com",
        &response_digest(&ka),
        "",
    ));
    assert!(matches!(out, IngestOutcome::Validated { .. }), "{out}");
}

#[test]
fn renewal_info_and_replaces() {
    let e = env();
    let c = e.client("dev@example.com");
    let d = e.raw(Method::GET, "/acme/directory", vec![], None).json();
    assert_eq!(d["renewalInfo"], format!("{BASE}/acme/renewal-info"));
    let (_, cert_url) = issue(&c, "dev@example.com");
    let chain = c.post(&cert_url, None).body;
    let der = ::pem::parse_many(&chain).unwrap()[0].contents().to_vec();
    let id = super::ari::cert_id(&der).unwrap();
    let r = e.raw(
        Method::GET,
        &format!("/acme/renewal-info/{id}"),
        vec![],
        None,
    );
    assert_eq!(
        r.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert!(r.headers.get("retry-after").is_some());
    let w = &r.json()["suggestedWindow"];
    let parse = |v: &Value| {
        OffsetDateTime::parse(
            v.as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    let (start, end) = (parse(&w["start"]), parse(&w["end"]));
    let now = crate::clock::Clock::now(&*e.clock);
    assert!(now < start && start < end && end < now + Duration::days(366));
    // Unknown and malformed CertIDs.
    let (aki, _) = id.split_once('.').unwrap();
    let r = e.raw(
        Method::GET,
        &format!("/acme/renewal-info/{aki}.AQID"),
        vec![],
        None,
    );
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = e.raw(Method::GET, "/acme/renewal-info/nodot", vec![], None);
    assert_eq!(r.problem_type(), "malformed");
    // replaces: accepted once, then alreadyReplaced; another account may not.
    let order = |c: &Client<'_>| {
        c.post(
            "/acme/new-order",
            Some(json!({"identifiers": [{"type": "email", "value": "dev@example.com"}], "replaces": id})),
        )
    };
    let r = order(&c);
    assert_eq!(
        r.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    assert_eq!(r.json()["replaces"], id.as_str());
    let r = order(&c);
    assert_eq!(r.problem_type(), "alreadyReplaced");
    assert_eq!(r.status, StatusCode::CONFLICT);
    let other = e.client("dev@example.com");
    assert_eq!(order(&other).problem_type(), "unauthorized");
    // Revoked: the window lies in the past (renew now).
    let b64 = jws::b64(&der);
    c.post(
        "/acme/revoke-cert",
        Some(json!({"certificate": b64, "reason": 1})),
    );
    let r = e.raw(
        Method::GET,
        &format!("/acme/renewal-info/{id}"),
        vec![],
        None,
    );
    let end = parse(&r.json()["suggestedWindow"]["end"]);
    assert!(end < crate::clock::Clock::now(&*e.clock));
}

#[test]
fn concurrent_polls_judge_each_reply_once() {
    let e = env();
    let c = e.client("dev@example.com");
    let (_, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let raw = reply_to(
        &mail,
        "dev@example.com",
        &correct_digest(&c, &mail, &token),
        "",
    );
    spool_reply(&e.dir.path().join("inbox"), &raw).unwrap();
    let outcomes: Vec<IngestOutcome> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..4).map(|_| s.spawn(|| e.fe.poll_mail())).collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    let id = authz_url.rsplit('/').next().unwrap();
    let a = e.ra.store().get_acme_authz(id).unwrap().unwrap();
    assert!(
        a.challenge.rejected_replies.is_empty(),
        "{:?}",
        a.challenge.rejected_replies
    );
}

#[test]
fn declined_request_makes_the_order_invalid_with_the_reason() {
    let e = env_with(AcmeConfig::default(), true, false);
    let c = e.client("dev@example.com");
    let (order_url, authz_url, mail) = order_and_respond(&c, "dev@example.com");
    let token = c.post(&authz_url, None).json()["challenges"][0]["token"]
        .as_str()
        .unwrap()
        .to_string();
    e.fe.ingest_mail(&reply_to(
        &mail,
        "dev@example.com",
        &correct_digest(&c, &mail, &token),
        "",
    ));
    let fin = c.post(&order_url, None).json()["finalize"]
        .as_str()
        .unwrap()
        .to_string();
    let (csr, _) = p256_csr(None);
    assert_eq!(
        c.post(&fin, Some(json!({"csr": csr}))).json()["status"],
        "processing"
    );
    let req = e.ra.store().list_requests().unwrap().pop().unwrap();
    e.ra.decline(&req.id, "admin", "not for release builds")
        .unwrap();
    let o = c.post(&order_url, None).json();
    assert_eq!(o["status"], "invalid");
    assert!(o["error"]["detail"]
        .as_str()
        .unwrap()
        .contains("not for release builds"));
    assert!(o.get("certificate").is_none());
}

#[test]
fn every_allowed_account_key_algorithm_works() {
    use josekit::jwk::alg::ed::EdCurve;
    use josekit::jws::alg::ecdsa::EcdsaJwsAlgorithm;
    use josekit::jws::alg::eddsa::EddsaJwsAlgorithm;
    use josekit::jws::alg::rsassa::RsassaJwsAlgorithm;
    use josekit::jws::alg::rsassa_pss::RsassaPssJwsAlgorithm;
    fn jwk_of(j: &josekit::jwk::Jwk) -> Value {
        serde_json::from_str(&j.to_string()).unwrap()
    }
    let e = env();
    let rsa = RsassaJwsAlgorithm::Rs256.generate_key_pair(2048).unwrap();
    let pss = RsassaPssJwsAlgorithm::Ps256
        .generate_key_pair(2048)
        .unwrap();
    let ec384 = EcdsaJwsAlgorithm::Es384.generate_key_pair().unwrap();
    let ed = EddsaJwsAlgorithm::Eddsa
        .generate_key_pair(EdCurve::Ed25519)
        .unwrap();
    let keys: Vec<TestKey> = vec![
        TestKey {
            signer: Box::new(
                RsassaJwsAlgorithm::Rs256
                    .signer_from_jwk(&rsa.to_jwk_private_key())
                    .unwrap(),
            ),
            jwk: jwk_of(&rsa.to_jwk_public_key()),
            alg: "RS256",
        },
        TestKey {
            signer: Box::new(
                RsassaPssJwsAlgorithm::Ps256
                    .signer_from_jwk(&pss.to_jwk_private_key())
                    .unwrap(),
            ),
            jwk: jwk_of(&pss.to_jwk_public_key()),
            alg: "PS256",
        },
        TestKey {
            signer: Box::new(
                EcdsaJwsAlgorithm::Es384
                    .signer_from_jwk(&ec384.to_jwk_private_key())
                    .unwrap(),
            ),
            jwk: jwk_of(&ec384.to_jwk_public_key()),
            alg: "ES384",
        },
        TestKey {
            signer: Box::new(
                EddsaJwsAlgorithm::Eddsa
                    .signer_from_jwk(&ed.to_jwk_private_key())
                    .unwrap(),
            ),
            jwk: jwk_of(&ed.to_jwk_public_key()),
            alg: "EdDSA",
        },
    ];
    for key in keys {
        let alg = key.alg;
        let mut c = Client {
            env: &e,
            key,
            kid: None,
        };
        let inv = e.invite("dev@example.com");
        let r = c.new_account(&inv, json!({"termsOfServiceAgreed": true}));
        assert_eq!(
            r.status,
            StatusCode::CREATED,
            "{alg}: {}",
            String::from_utf8_lossy(&r.body)
        );
        c.kid = Some(r.location());
        let r = c.post(c.kid.clone().unwrap().as_str(), None);
        assert_eq!(
            r.status,
            StatusCode::OK,
            "{alg}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(
            c.new_order("dev@example.com").status,
            StatusCode::CREATED,
            "{alg}"
        );
    }
}

#[test]
fn website_and_external_terms_are_shown_when_configured() {
    let e = env_with(
        AcmeConfig {
            website: "https://pki.example.com".into(),
            terms_of_service: "https://pki.example.com/tos".into(),
            ..AcmeConfig::default()
        },
        false,
        false,
    );
    let d = e.raw(Method::GET, "/acme/directory", vec![], None).json();
    assert_eq!(d["meta"]["website"], "https://pki.example.com");
    assert_eq!(d["meta"]["termsOfService"], "https://pki.example.com/tos");
    assert!(env()
        .raw(Method::GET, "/acme/directory", vec![], None)
        .json()["meta"]
        .get("website")
        .is_none());
}

#[test]
fn an_invitation_limited_to_a_profile_limits_the_account() {
    let e = env();
    let inv =
        e.ra.create_invitation(
            &NewInvitation {
                email: "dev@example.com".into(),
                account: "release".into(),
                profile: Some("cs".into()),
                ttl_days: None,
            },
            "admin",
        )
        .unwrap();
    let mut c = Client {
        env: &e,
        key: TestKey::es256(),
        kid: None,
    };
    let invite = Invite {
        kid: inv.kid,
        key: jws::b64_decode("k", &inv.hmac_key).unwrap(),
    };
    let r = c.new_account(&invite, json!({"termsOfServiceAgreed": true}));
    c.kid = Some(r.location());
    let order = |p: &str| {
        c.post(
            "/acme/new-order",
            Some(json!({"identifiers": [{"type": "email", "value": "dev@example.com"}], "profile": p})),
        )
    };
    assert_eq!(order("cs").status, StatusCode::CREATED);
    assert_eq!(order("cs-hw").problem_type(), "invalidProfile");
}
