//! EST (RFC 7030 + RFC 8951) against a real server, driven the way a build
//! agent's shell script would: openssl makes keys and CSRs, curl talks to
//! the server, openssl reads the answers. Every negative case of the issue is
//! its own test.

mod common;
mod est_support;

use std::path::PathBuf;
use std::process::Command;

use common::TestServer;
use est_support::Work;
use signet::ra::attestation::AttestationPolicy;
use signet::ra::{
    NewAccount, NewDepartment, NewEndpoint, NewInvitation, NewOrganization, NewProfile,
};

fn has_openssl_and_curl() -> bool {
    let ok = |p: &str| {
        Command::new(p).arg("--version").output().is_ok()
            || Command::new(p).arg("version").output().is_ok()
    };
    ok("openssl") && ok("curl")
}

/// Organization, department, two endpoints ("builds", "other") with one
/// account each, and profile "cs" (P-256 / RSA-3072, no attestation).
fn directory(server: &TestServer, approval: bool) {
    let ra = &server.app.ra;
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
            key_types: vec!["ecdsa-p256".into(), "rsa-3072".into()],
            requires_approval: false,
            attestation: Some(AttestationPolicy {
                required: false,
                ..AttestationPolicy::default()
            }),
        },
        "test",
    )
    .unwrap();
    for (ep, acct) in [("builds", "agents"), ("other", "other-agents")] {
        ra.create_endpoint(
            &NewEndpoint {
                name: ep.into(),
                label: ep.into(),
            },
            "test",
        )
        .unwrap();
        ra.create_account(
            &NewAccount {
                name: acct.into(),
                endpoint: ep.into(),
                organization: "Acme Corp".into(),
                department: Some("Build".into()),
                profiles: vec!["cs".into()],
                auto_approve: !approval,
            },
            "test",
        )
        .unwrap();
    }
}

/// An invitation for `email` on `account`: (kid, hmac key).
fn invite(server: &TestServer, email: &str, account: &str) -> (String, String) {
    let inv = server
        .app
        .ra
        .create_invitation(
            &NewInvitation {
                email: email.into(),
                account: account.into(),
                profile: None,
                ttl_days: None,
            },
            "test",
        )
        .unwrap();
    (inv.kid, inv.hmac_key)
}

fn est(server: &TestServer, op: &str) -> String {
    format!("{}/.well-known/est/{op}", server.base_url)
}

/// openssl and curl are test dependencies (scripts/install-test-deps): a
/// missing one fails the test instead of skipping it.
macro_rules! need_tools {
    () => {
        assert!(
            has_openssl_and_curl(),
            "openssl and curl are needed: run scripts/install-test-deps"
        );
    };
}

/// First enrollment of `email` on account `agents`: key, CSR, Basic POST.
/// Leaves `<name>.key`, `<name>.pem` (certificate) in the scratch dir.
fn enroll_agent(server: &TestServer, w: &Work, email: &str, name: &str) -> (String, String) {
    let (kid, key) = invite(server, email, "agents");
    w.ec_key(&format!("{name}.key"));
    w.csr(
        &format!("{name}.key"),
        "/CN=build-agent",
        &format!("{name}.csr"),
    );
    let user = format!("{kid}:{key}");
    let (status, headers) = w.post_csr(
        &est(server, "simpleenroll"),
        &format!("{name}.csr"),
        &["-u", &user],
        &format!("{name}.out"),
    );
    assert_eq!(status, 200, "{}", w.text(&format!("{name}.out")));
    assert!(
        headers.contains("content-type: application/pkcs7-mime; smime-type=certs-only"),
        "{headers}"
    );
    assert!(
        headers.contains("content-transfer-encoding: base64"),
        "{headers}"
    );
    assert_eq!(
        w.certs_of(&format!("{name}.out"), &format!("{name}.pem")),
        1
    );
    (kid, key)
}

#[test]
fn cacerts_is_a_certs_only_pkcs7_with_the_issuing_ca_and_root() {
    need_tools!();
    let server = TestServer::start();
    directory(&server, false);
    let w = Work::new(&server);
    let (status, headers) = w.curl(&[&est(&server, "cacerts")], "cacerts.b64");
    assert_eq!(status, 200, "{}", w.text("cacerts.b64"));
    assert!(
        headers.contains("content-type: application/pkcs7-mime"),
        "{headers}"
    );
    assert!(
        headers.contains("content-transfer-encoding: base64"),
        "{headers}"
    );
    // RFC 8951: base64 with line breaks, no PEM armor.
    let body = w.text("cacerts.b64");
    assert!(!body.contains("-----BEGIN"));
    assert!(body.lines().count() > 1 && body.lines().all(|l| l.len() <= 64));
    assert_eq!(w.certs_of("cacerts.b64", "cacerts.pem"), 2);
    let printed = w.text("cacerts.pem");
    let ca = server.app.ca.clone();
    let root_b64: String = server
        .root_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert!(
        printed.replace('\n', "").contains(&root_b64),
        "root missing:\n{printed}"
    );
    assert!(printed.replace('\n', "").contains(
        &ca.issuing_cert_pem()
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect::<String>()
    ));

    // Byte for byte what `openssl crl2pkcs7 -nocrl` makes of the same certificates.
    let p7 = w.read("cacerts.b64.p7b");
    let mut certs = [ca.issuing_cert_der().to_vec(), ca.root_cert_der().to_vec()];
    certs.sort(); // DER SET OF order, as the server writes it
    let chain: String = certs
        .iter()
        .map(|c| pem::encode(&pem::Pem::new("CERTIFICATE", c.clone())))
        .collect();
    std::fs::write(w.path("sorted.pem"), chain).unwrap();
    w.run(
        "openssl",
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            "sorted.pem",
            "-outform",
            "DER",
            "-out",
            "golden.p7b",
        ],
    );
    assert_eq!(hex::encode(&p7), hex::encode(w.read("golden.p7b")));

    // The same under a label; an unknown label is 404.
    let (status, _) = w.curl(&[&est(&server, "builds/cacerts")], "labelled.b64");
    assert_eq!(status, 200);
    assert_eq!(w.read("labelled.b64"), w.read("cacerts.b64"));
    let (status, _) = w.curl(&[&est(&server, "no-such-label/cacerts")], "nolabel.txt");
    assert_eq!(status, 404);
    assert!(w.text("nolabel.txt").contains("no-such-label"));
    let (status, _) = w.curl(&[&est(&server, "no-such-op")], "noop.txt");
    assert_eq!(status, 404);
}

#[test]
fn simpleenroll_with_basic_then_simplereenroll_with_the_client_certificate() {
    need_tools!();
    let server = TestServer::start();
    directory(&server, false);
    let w = Work::new(&server);
    let (kid, key) = enroll_agent(&server, &w, "agent-1@example.com", "a1");

    // A code-signing certificate for the invited address, chaining to the root.
    let text = w.run("openssl", &["x509", "-in", "a1.pem", "-noout", "-text"]);
    assert!(text.contains("Code Signing"), "{text}");
    assert!(text.contains("email:agent-1@example.com"), "{text}");
    assert!(!text.contains("TLS Web Client Authentication"));
    std::fs::write(w.path("issuing.pem"), server.app.ca.issuing_cert_pem()).unwrap();
    w.run(
        "openssl",
        &[
            "verify",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "-purpose",
            "any",
            "a1.pem",
        ],
    );

    // The invitation is redeemed by EST.
    let inv = server.app.ra.invitation(&kid).unwrap();
    assert_eq!(
        inv.redeemed_by.as_deref(),
        Some(format!("est:{kid}").as_str())
    );

    // An identical resend returns the same certificate; another CSR is refused.
    let user = format!("{kid}:{key}");
    let (status, _) = w.post_csr(
        &est(&server, "simpleenroll"),
        "a1.csr",
        &["-u", &user],
        "again.out",
    );
    assert_eq!(status, 200);
    w.certs_of("again.out", "again.pem");
    assert_eq!(w.read("again.pem"), w.read("a1.pem"));
    w.ec_key("other.key");
    w.csr("other.key", "/CN=build-agent", "other.csr");
    let (status, headers) = w.post_csr(
        &est(&server, "simpleenroll"),
        "other.csr",
        &["-u", &user],
        "reuse.txt",
    );
    assert_eq!(status, 401, "{}", w.text("reuse.txt"));
    assert!(headers.contains("www-authenticate: basic"), "{headers}");
    assert!(w.text("reuse.txt").contains("already been used"));

    // Renewal: new key, subject and SAN of the old certificate, TLS client cert.
    w.ec_key("a1-new.key");
    w.renewal_csr("a1.pem", "a1-new.key", "renew.csr");
    let (status, headers) = w.post_csr(
        &est(&server, "simplereenroll"),
        "renew.csr",
        &["--cert", "a1.pem", "--key", "a1.key"],
        "renew.out",
    );
    assert_eq!(status, 200, "{}", w.text("renew.out"));
    assert!(headers.contains("smime-type=certs-only"));
    assert_eq!(w.certs_of("renew.out", "renewed.pem"), 1);
    let old = w.run(
        "openssl",
        &[
            "x509",
            "-in",
            "a1.pem",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
        ],
    );
    let new = w.run(
        "openssl",
        &[
            "x509",
            "-in",
            "renewed.pem",
            "-noout",
            "-subject",
            "-ext",
            "subjectAltName",
        ],
    );
    assert_eq!(old, new);
    let serial = |f: &str| w.run("openssl", &["x509", "-in", f, "-noout", "-serial"]);
    assert_ne!(serial("a1.pem"), serial("renewed.pem"));
    let pubkey = |args: &[&str]| w.run("openssl", args);
    assert_eq!(
        pubkey(&["x509", "-in", "renewed.pem", "-noout", "-pubkey"]),
        pubkey(&["pkey", "-in", "a1-new.key", "-pubout"])
    );

    // The renewed certificate renews too, under the endpoint's label.
    w.ec_key("a1-third.key");
    w.renewal_csr("renewed.pem", "a1-third.key", "third.csr");
    let (status, _) = w.post_csr(
        &est(&server, "builds/simplereenroll"),
        "third.csr",
        &["--cert", "renewed.pem", "--key", "a1-new.key"],
        "third.out",
    );
    assert_eq!(status, 200, "{}", w.text("third.out"));
}

#[test]
fn simpleenroll_refusals_401_400_415_405_and_label_403() {
    need_tools!();
    let server = TestServer::start();
    directory(&server, false);
    let w = Work::new(&server);
    let (kid, key) = invite(&server, "agent-2@example.com", "agents");
    w.ec_key("k.key");
    w.csr("k.key", "/CN=agent", "k.csr");
    let url = est(&server, "simpleenroll");

    // No credentials, wrong password, unknown kid: 401 with a Basic challenge.
    for (extra, what) in [
        (vec![], "no credentials"),
        (
            vec!["-u".to_string(), format!("{kid}:wrong")],
            "wrong password",
        ),
        (
            vec!["-u".to_string(), format!("inv_nope:{key}")],
            "unknown kid",
        ),
    ] {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let (status, headers) = w.post_csr(&url, "k.csr", &extra, "e.txt");
        assert_eq!(status, 401, "{what}: {}", w.text("e.txt"));
        assert!(
            headers.contains("www-authenticate: basic realm=\"signet-est\""),
            "{what}: {headers}"
        );
        assert!(
            !w.text("e.txt").is_empty(),
            "{what}: the reason is in the body"
        );
    }
    let user = format!("{kid}:{key}");

    // Wrong content type: 415.
    let (status, _) = w.curl(
        &[
            "-u",
            &user,
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            "@k.csr",
            &url,
        ],
        "ct.txt",
    );
    assert_eq!(status, 415, "{}", w.text("ct.txt"));
    assert!(w.text("ct.txt").contains("application/pkcs10"));

    // Not base64, and base64 of something that is not a CSR: 400 with the reason.
    std::fs::write(w.path("junk.b64"), "this is not base64!!").unwrap();
    let (status, _) = w.post_csr(&url, "junk.b64", &["-u", &user], "junk.txt");
    assert_eq!(status, 400);
    assert!(
        w.text("junk.txt").contains("base64"),
        "{}",
        w.text("junk.txt")
    );
    std::fs::write(w.path("notcsr.b64"), "MAMCAQU=\n").unwrap();
    let (status, _) = w.post_csr(&url, "notcsr.b64", &["-u", &user], "notcsr.txt");
    assert_eq!(status, 400);
    assert!(
        w.text("notcsr.txt").contains("CSR"),
        "{}",
        w.text("notcsr.txt")
    );
    // A CSR whose signature does not verify: 400.
    let mut der = w.read("k.csr.der");
    let last = der.len() - 1;
    der[last] ^= 0x01;
    std::fs::write(w.path("bad.der"), &der).unwrap();
    w.run("openssl", &["base64", "-in", "bad.der", "-out", "bad.b64"]);
    let (status, _) = w.post_csr(&url, "bad.b64", &["-u", &user], "bad.txt");
    assert_eq!(status, 400, "{}", w.text("bad.txt"));

    // GET on simpleenroll: 405.
    let (status, headers) = w.curl(&["-u", &user, &url], "get.txt");
    assert_eq!(status, 405);
    assert!(headers.contains("allow: post"));

    // The invitation belongs to endpoint "builds": 403 under "other", 404 under an unknown label.
    let (status, _) = w.post_csr(
        &est(&server, "other/simpleenroll"),
        "k.csr",
        &["-u", &user],
        "lbl.txt",
    );
    assert_eq!(status, 403, "{}", w.text("lbl.txt"));
    let (status, _) = w.post_csr(
        &est(&server, "nope/simpleenroll"),
        "k.csr",
        &["-u", &user],
        "nf.txt",
    );
    assert_eq!(status, 404);

    // None of that consumed the invitation: it works now, under its label,
    // with a single-line body and Content-Transfer-Encoding: base64.
    let one_line: String = w.text("k.csr").split_whitespace().collect();
    std::fs::write(w.path("one.b64"), one_line).unwrap();
    let (status, _) = w.post_csr(
        &est(&server, "builds/simpleenroll"),
        "one.b64",
        &["-u", &user, "-H", "Content-Transfer-Encoding: base64"],
        "ok.out",
    );
    assert_eq!(status, 200, "{}", w.text("ok.out"));
}

#[test]
fn key_and_policy_refusals_do_not_consume_the_invitation() {
    need_tools!();
    let server = TestServer::start();
    directory(&server, false);
    let w = Work::new(&server);
    let (kid, key) = invite(&server, "agent-3@example.com", "agents");
    let user = format!("{kid}:{key}");
    // RSA-2048 is below the code-signing minimum.
    w.run(
        "openssl",
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.key",
        ],
    );
    w.csr("rsa.key", "/CN=agent", "rsa.csr");
    let (status, _) = w.post_csr(
        &est(&server, "simpleenroll"),
        "rsa.csr",
        &["-u", &user],
        "rsa.txt",
    );
    // a refused key is a bad request (400), like ACME's badPublicKey
    assert_eq!(status, 400, "{}", w.text("rsa.txt"));
    assert!(w.text("rsa.txt").contains("RSA"), "{}", w.text("rsa.txt"));
    assert_eq!(server.app.ra.invitation(&kid).unwrap().redeemed_by, None);
    w.ec_key("ec.key");
    w.csr("ec.key", "/CN=agent", "ec.csr");
    let (status, _) = w.post_csr(
        &est(&server, "simpleenroll"),
        "ec.csr",
        &["-u", &user],
        "ec.out",
    );
    assert_eq!(status, 200, "{}", w.text("ec.out"));

    // An invitation an ACME account already redeemed: 401.
    let (kid3, key3) = invite(&server, "agent-5@example.com", "agents");
    server
        .app
        .store
        .redeem_invitation(
            &kid3,
            time::OffsetDateTime::now_utc(),
            "acme:acct_test",
            &signet::storage::model::AuditEvent {
                at: time::OffsetDateTime::now_utc(),
                actor: "test".into(),
                action: "invitation.redeem".into(),
                details: serde_json::json!({}),
            },
        )
        .unwrap();
    let user3 = format!("{kid3}:{key3}");
    let (status, _) = w.post_csr(
        &est(&server, "simpleenroll"),
        "ec.csr",
        &["-u", &user3],
        "acme.txt",
    );
    assert_eq!(status, 401, "{}", w.text("acme.txt"));
    assert!(w.text("acme.txt").contains("already been used"));

    // A revoked invitation: 401.
    let (kid2, key2) = invite(&server, "agent-4@example.com", "agents");
    server.app.ra.revoke_invitation(&kid2, "test").unwrap();
    let user2 = format!("{kid2}:{key2}");
    let (status, _) = w.post_csr(
        &est(&server, "simpleenroll"),
        "ec.csr",
        &["-u", &user2],
        "rev.txt",
    );
    assert_eq!(status, 401);
    assert!(w.text("rev.txt").contains("revoked"));
}

#[test]
fn simplereenroll_refuses_other_subjects_revoked_and_foreign_certificates() {
    need_tools!();
    let server = TestServer::start();
    directory(&server, false);
    let w = Work::new(&server);
    let (kid_a, key_a) = enroll_agent(&server, &w, "agent-a@example.com", "a");
    enroll_agent(&server, &w, "agent-b@example.com", "b");
    let url = est(&server, "simplereenroll");
    let a_cert = ["--cert", "a.pem", "--key", "a.key"];

    // No client certificate: 401.
    w.ec_key("n.key");
    w.renewal_csr("a.pem", "n.key", "a-renew.csr");
    let (status, headers) = w.post_csr(&url, "a-renew.csr", &[], "nocert.txt");
    assert_eq!(status, 401, "{}", w.text("nocert.txt"));
    assert!(headers.contains("www-authenticate"));

    // Basic credentials are not a renewal credential either.
    let (status, _) = w.post_csr(&url, "a-renew.csr", &["-u", "inv_x:y"], "basic.txt");
    assert_eq!(status, 401);

    // A different subject: 403.
    w.csr("n.key", "/CN=someone-else", "subj.csr");
    let (status, _) = w.post_csr(&url, "subj.csr", &a_cert, "subj.txt");
    assert_eq!(status, 403, "{}", w.text("subj.txt"));
    assert!(w.text("subj.txt").contains("subject"));

    // Another agent's identity (B's subject and SAN) with A's certificate: 403.
    w.renewal_csr("b.pem", "n.key", "b-renew.csr");
    let (status, _) = w.post_csr(&url, "b-renew.csr", &a_cert, "foreign.txt");
    assert_eq!(status, 403, "{}", w.text("foreign.txt"));
    assert!(w.text("foreign.txt").contains("subject alternative name"));

    // A certificate Signet did not issue (self-signed, same subject): 401.
    w.run(
        "openssl",
        &[
            "req",
            "-x509",
            "-key",
            "a.key",
            "-subj",
            "/CN=impostor",
            "-days",
            "1",
            "-out",
            "self.pem",
        ],
    );
    let (status, _) = w.post_csr(
        &url,
        "a-renew.csr",
        &["--cert", "self.pem", "--key", "a.key"],
        "self.txt",
    );
    assert_eq!(status, 401, "{}", w.text("self.txt"));
    assert!(w.text("self.txt").contains("not issued by Signet"));

    // Issued through endpoint "builds": 403 under label "other".
    let (status, _) = w.post_csr(
        &est(&server, "other/simplereenroll"),
        "a-renew.csr",
        &a_cert,
        "lbl.txt",
    );
    assert_eq!(status, 403, "{}", w.text("lbl.txt"));

    // The same subject attributes in another RDN order, with the SAN: accepted
    // (then revoked below).
    w.run(
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            "n.key",
            "-subj",
            "/CN=Acme Corp/OU=Build/O=Acme Corp/L=Berlin/C=DE",
            "-addext",
            "subjectAltName=email:agent-a@example.com",
            "-outform",
            "DER",
            "-out",
            "reorder.der",
        ],
    );
    w.run(
        "openssl",
        &["base64", "-in", "reorder.der", "-out", "reorder.csr"],
    );
    let (status, _) = w.post_csr(&url, "reorder.csr", &a_cert, "reorder.out");
    assert_eq!(status, 200, "{}", w.text("reorder.out"));
    // The right subject without the SAN: 403.
    w.run(
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            "n.key",
            "-subj",
            "/C=DE/L=Berlin/O=Acme Corp/OU=Build/CN=Acme Corp",
            "-outform",
            "DER",
            "-out",
            "nosan.der",
        ],
    );
    w.run(
        "openssl",
        &["base64", "-in", "nosan.der", "-out", "nosan.csr"],
    );
    let (status, _) = w.post_csr(&url, "nosan.csr", &a_cert, "nosan.txt");
    assert_eq!(status, 403, "{}", w.text("nosan.txt"));

    // Revoked: 401.
    let serial = w.run("openssl", &["x509", "-in", "a.pem", "-noout", "-serial"]);
    let serial = serial
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase();
    server.app.ra.revoke(&serial, 4, "test").unwrap();
    let (status, _) = w.post_csr(&url, "a-renew.csr", &a_cert, "revoked.txt");
    assert_eq!(status, 401, "{}", w.text("revoked.txt"));
    assert!(w.text("revoked.txt").contains("revoked"));

    // The first enrollment's resend does not hand out the revoked certificate.
    let user_a = format!("{kid_a}:{key_a}");
    let (status, _) = w.post_csr(
        &est(&server, "simpleenroll"),
        "a.csr",
        &["-u", &user_a],
        "resend.txt",
    );
    assert_eq!(status, 403, "{}", w.text("resend.txt"));
    assert!(w.text("resend.txt").contains("revoked"));

    // B's own renewal still works.
    let (status, _) = w.post_csr(
        &url,
        "b-renew.csr",
        &["--cert", "b.pem", "--key", "b.key"],
        "b.out",
    );
    assert_eq!(status, 200, "{}", w.text("b.out"));
}

#[test]
fn approval_answers_202_with_retry_after_until_approved() {
    need_tools!();
    let server = TestServer::start();
    directory(&server, true);
    let w = Work::new(&server);
    let (kid, key) = invite(&server, "agent-5@example.com", "agents");
    let user = format!("{kid}:{key}");
    w.ec_key("k.key");
    w.csr("k.key", "/CN=agent", "k.csr");
    let url = est(&server, "simpleenroll");
    let (status, headers) = w.post_csr(&url, "k.csr", &["-u", &user], "p1.txt");
    assert_eq!(status, 202, "{}", w.text("p1.txt"));
    assert!(headers.contains("retry-after: 60"), "{headers}");
    // The identical resend is still pending (not "invitation used").
    let (status, headers) = w.post_csr(&url, "k.csr", &["-u", &user], "p2.txt");
    assert_eq!(status, 202, "{}", w.text("p2.txt"));
    assert!(headers.contains("retry-after"));
    // The same key's CSR signed again (other bytes) is the same request.
    w.csr("k.key", "/CN=agent", "k-resigned.csr");
    assert_ne!(w.read("k-resigned.csr"), w.read("k.csr"));
    let (status, _) = w.post_csr(&url, "k-resigned.csr", &["-u", &user], "p3.txt");
    assert_eq!(status, 202, "{}", w.text("p3.txt"));
    // Another key with the same credentials is refused.
    w.ec_key("x.key");
    w.csr("x.key", "/CN=agent", "x.csr");
    let (status, _) = w.post_csr(&url, "x.csr", &["-u", &user], "x.txt");
    assert_eq!(status, 401);

    let pending: Vec<_> = server
        .app
        .store
        .list_requests()
        .unwrap()
        .into_iter()
        .filter(|r| r.requester == format!("est:{kid}"))
        .collect();
    assert_eq!(pending.len(), 1);
    server
        .app
        .ra
        .approve(&pending[0].id, "admin:test", None)
        .unwrap();
    let (status, _) = w.post_csr(&url, "k.csr", &["-u", &user], "done.out");
    assert_eq!(status, 200, "{}", w.text("done.out"));
    assert_eq!(w.certs_of("done.out", "done.pem"), 1);

    // A renewal waits for approval the same way; its identical resend gets the certificate.
    w.ec_key("k2.key");
    w.renewal_csr("done.pem", "k2.key", "renew.csr");
    let renew_url = est(&server, "simplereenroll");
    let client_cert = ["--cert", "done.pem", "--key", "k.key"];
    let (status, headers) = w.post_csr(&renew_url, "renew.csr", &client_cert, "r1.txt");
    assert_eq!(status, 202, "{}", w.text("r1.txt"));
    assert!(headers.contains("retry-after"));
    let (status, _) = w.post_csr(&renew_url, "renew.csr", &client_cert, "r2.txt");
    assert_eq!(status, 202, "{}", w.text("r2.txt"));
    let waiting: Vec<_> = server
        .app
        .store
        .list_requests()
        .unwrap()
        .into_iter()
        .filter(|r| r.status == signet::storage::model::RequestStatus::Applied)
        .collect();
    assert_eq!(waiting.len(), 1, "one renewal request waits");
    server
        .app
        .ra
        .approve(&waiting[0].id, "admin:test", None)
        .unwrap();
    let (status, _) = w.post_csr(&renew_url, "renew.csr", &client_cert, "r3.out");
    assert_eq!(status, 200, "{}", w.text("r3.out"));
    w.certs_of("r3.out", "renewed.pem");
    assert_eq!(
        w.run(
            "openssl",
            &["x509", "-in", "renewed.pem", "-noout", "-pubkey"]
        ),
        w.run("openssl", &["pkey", "-in", "k2.key", "-pubout"])
    );

    // A declined request: the resend is 403 with the reason.
    let (kid2, key2) = invite(&server, "agent-6@example.com", "agents");
    let user2 = format!("{kid2}:{key2}");
    let (status, _) = w.post_csr(&url, "x.csr", &["-u", &user2], "q.txt");
    assert_eq!(status, 202);
    let req = server
        .app
        .store
        .list_requests()
        .unwrap()
        .into_iter()
        .find(|r| r.requester == format!("est:{kid2}"))
        .unwrap();
    server
        .app
        .ra
        .decline(&req.id, "admin:test", "not a build agent")
        .unwrap();
    let (status, _) = w.post_csr(&url, "x.csr", &["-u", &user2], "declined.txt");
    assert_eq!(status, 403);
    assert!(w.text("declined.txt").contains("not a build agent"));
}

#[test]
fn csrattrs_serverkeygen_and_fullcmc() {
    need_tools!();
    let server = TestServer::start();
    directory(&server, false);
    let w = Work::new(&server);
    for path in ["csrattrs", "builds/csrattrs"] {
        let (status, headers) = w.curl(&[&est(&server, path)], "attrs.b64");
        assert_eq!(status, 200, "{path}: {}", w.text("attrs.b64"));
        assert!(
            headers.contains("content-type: application/csrattrs"),
            "{headers}"
        );
        w.run(
            "openssl",
            &["base64", "-d", "-in", "attrs.b64", "-out", "attrs.der"],
        );
        let parsed = w.run(
            "openssl",
            &["asn1parse", "-inform", "DER", "-in", "attrs.der"],
        );
        for name in [
            "id-ecPublicKey",
            "prime256v1",
            "rsaEncryption",
            "ecdsa-with-SHA256",
        ] {
            assert!(parsed.contains(name), "{path}: {name} missing in\n{parsed}");
        }
        assert!(
            !parsed.contains("secp384r1"),
            "P-384 is not allowed by profile cs"
        );
    }
    let (status, _) = w.curl(&[&est(&server, "nope/csrattrs")], "nf.txt");
    assert_eq!(status, 404);

    w.ec_key("k.key");
    w.csr("k.key", "/CN=agent", "k.csr");
    let (status, _) = w.post_csr(&est(&server, "serverkeygen"), "k.csr", &[], "skg.txt");
    assert_eq!(status, 403);
    assert!(
        w.text("skg.txt").contains("hardware"),
        "{}",
        w.text("skg.txt")
    );
    let (status, _) = w.curl(
        &[
            "-H",
            "Content-Type: application/pkcs7-mime",
            "--data-binary",
            "@k.csr",
            &est(&server, "fullcmc"),
        ],
        "cmc.txt",
    );
    assert_eq!(status, 501);
}

#[test]
fn expired_invitation_and_expired_client_certificate_are_401() {
    need_tools!();
    let clock = std::sync::Arc::new(signet::clock::FakeClock::new(
        time::OffsetDateTime::now_utc(),
    ));
    let server = TestServer::start_with_clock(clock.clone(), |_| {});
    directory(&server, false);
    let w = Work::new(&server);
    enroll_agent(&server, &w, "agent-x@example.com", "x");
    let (kid, key) = invite(&server, "agent-y@example.com", "agents");
    w.ec_key("y.key");
    w.csr("y.key", "/CN=agent", "y.csr");

    clock.advance(time::Duration::days(400));
    let user = format!("{kid}:{key}");
    let (status, _) = w.post_csr(
        &est(&server, "simpleenroll"),
        "y.csr",
        &["-u", &user],
        "inv.txt",
    );
    assert_eq!(status, 401, "{}", w.text("inv.txt"));
    assert!(w.text("inv.txt").contains("expired"));

    w.ec_key("x2.key");
    w.renewal_csr("x.pem", "x2.key", "x-renew.csr");
    let (status, _) = w.post_csr(
        &est(&server, "simplereenroll"),
        "x-renew.csr",
        &["--cert", "x.pem", "--key", "x.key"],
        "cert.txt",
    );
    assert_eq!(status, 401, "{}", w.text("cert.txt"));
    assert!(w.text("cert.txt").contains("expired"));
}

/// One TLS connection to the server on which the test can read the RFC 9266
/// `tls-exporter` value before it sends its request.
struct BoundConnection {
    tls: rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
}

impl BoundConnection {
    fn open(server: &TestServer) -> BoundConnection {
        use rustls_pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls_pki_types::CertificateDer::pem_slice_iter(server.tls_ca_pem.as_bytes()) {
            roots.add(cert.unwrap()).unwrap();
        }
        let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
        let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
        let tcp = std::net::TcpStream::connect(server.https_addr).unwrap();
        tcp.set_read_timeout(Some(std::time::Duration::from_secs(60)))
            .unwrap();
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        while tls.conn.is_handshaking() {
            tls.conn.complete_io(&mut tls.sock).unwrap();
        }
        BoundConnection { tls }
    }

    fn exporter(&self) -> Vec<u8> {
        self.tls
            .conn
            .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None)
            .unwrap()
            .to_vec()
    }

    /// POSTs a base64 CSR with Basic credentials; returns (status, body).
    fn post(mut self, path: &str, user: &str, csr_b64: &[u8]) -> (u16, String) {
        use base64::Engine;
        use std::io::{Read, Write};
        let auth = base64::engine::general_purpose::STANDARD.encode(user);
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Authorization: Basic {auth}\r\nContent-Type: application/pkcs10\r\n\
             Content-Length: {}\r\n\r\n",
            csr_b64.len()
        );
        self.tls.write_all(head.as_bytes()).unwrap();
        self.tls.write_all(csr_b64).unwrap();
        self.tls.flush().unwrap();
        let mut raw = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match self.tls.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(_) if !raw.is_empty() => break,
                Err(e) => panic!("read: {e}"),
            }
        }
        let text = String::from_utf8_lossy(&raw).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
        (status, body)
    }
}

impl Work {
    /// A base64 CSR for a fresh P-256 key with `challengePassword` (if any).
    fn csr_with_challenge(&self, name: &str, password: Option<&str>) -> Vec<u8> {
        let mut cfg = String::from(
            "[req]\nprompt = no\ndistinguished_name = dn\nattributes = attrs\n[dn]\nCN = agent\n[attrs]\n",
        );
        if let Some(p) = password {
            cfg.push_str(&format!("challengePassword = {p}\n"));
        }
        std::fs::write(self.path(&format!("{name}.cnf")), cfg).unwrap();
        let (cnf, key, der, b64) = (
            format!("{name}.cnf"),
            format!("{name}.key"),
            format!("{name}.der"),
            format!("{name}.b64"),
        );
        self.ec_key(&key);
        self.run(
            "openssl",
            &[
                "req", "-new", "-key", &key, "-config", &cnf, "-outform", "DER", "-out", &der,
            ],
        );
        self.run("openssl", &["base64", "-in", &der, "-out", &b64]);
        self.read(&b64)
    }
}

#[test]
fn channel_binding_tls_exporter_in_challenge_password() {
    use base64::Engine;
    need_tools!();
    let b64 = |v: &[u8]| base64::engine::general_purpose::STANDARD.encode(v);
    let path = "/.well-known/est/simpleenroll";

    // Default "if-present": a matching value is accepted, another connection's is refused.
    let server = TestServer::start();
    directory(&server, false);
    let w = Work::new(&server);
    let (kid, key) = invite(&server, "bound@example.com", "agents");
    let user = format!("{kid}:{key}");
    let other = BoundConnection::open(&server);
    let conn = BoundConnection::open(&server);
    assert_ne!(other.exporter(), conn.exporter());
    let csr = w.csr_with_challenge("stolen", Some(&b64(&other.exporter())));
    let (status, body) = conn.post(path, &user, &csr);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("channel binding"), "{body}");
    let conn = BoundConnection::open(&server);
    let csr = w.csr_with_challenge("bound", Some(&b64(&conn.exporter())));
    let (status, body) = conn.post(path, &user, &csr);
    assert_eq!(status, 200, "{body}");
    drop(server);

    // "required": a CSR without the binding is refused.
    let server = TestServer::start_with(|c| c.est.channel_binding = "required".into());
    directory(&server, false);
    let w = Work::new(&server);
    let (kid, key) = invite(&server, "bound2@example.com", "agents");
    let user = format!("{kid}:{key}");
    let csr = w.csr_with_challenge("plain", None);
    let (status, body) = BoundConnection::open(&server).post(path, &user, &csr);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("required"), "{body}");
    let conn = BoundConnection::open(&server);
    let csr = w.csr_with_challenge("bound", Some(&b64(&conn.exporter())));
    let (status, body) = conn.post(path, &user, &csr);
    assert_eq!(status, 200, "{body}");
}

/// The YubiKey attestation corpus in ../shared (None, with a message, when absent).
fn piv_corpus() -> Option<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/attestation/yubikey-piv/csr-embedded");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!("SKIPPED: attestation corpus {} is absent", dir.display());
        None
    }
}

#[test]
fn attestation_inside_the_csr_goes_through_the_ra() {
    need_tools!();
    let Some(corpus) = piv_corpus() else { return };
    let server = TestServer::start();
    directory(&server, false);
    let ra = &server.app.ra;
    ra.create_profile(
        &NewProfile {
            name: "cs-attested".into(),
            template: signet::ca::Template::Ov,
            terms_days: vec![365],
            key_types: vec!["ecdsa-p256".into(), "ecdsa-p384".into(), "rsa-3072".into()],
            requires_approval: false,
            attestation: Some(AttestationPolicy {
                required: true,
                formats: vec!["yubikey-piv".into()],
                ..AttestationPolicy::default()
            }),
        },
        "test",
    )
    .unwrap();
    ra.create_account(
        &NewAccount {
            name: "hardware-agents".into(),
            endpoint: "builds".into(),
            organization: "Acme Corp".into(),
            department: Some("Build".into()),
            profiles: vec!["cs-attested".into()],
            auto_approve: true,
        },
        "test",
    )
    .unwrap();
    let w = Work::new(&server);
    let (kid, key) = invite(&server, "hsm-agent@example.com", "hardware-agents");
    let user = format!("{kid}:{key}");
    let csr_b64 = |dir: &str, name: &str| {
        let pem = corpus.join(dir).join("request.csr.pem");
        let der = format!("{name}.der");
        let pem_s = pem.to_string_lossy().into_owned();
        w.run(
            "openssl",
            &["req", "-in", &pem_s, "-outform", "DER", "-out", &der],
        );
        w.run("openssl", &["base64", "-in", &der, "-out", name]);
    };
    let url = est(&server, "builds/csrattrs");
    let (status, _) = w.curl(&[&url], "attrs.b64");
    assert_eq!(status, 200);
    w.run(
        "openssl",
        &["base64", "-d", "-in", "attrs.b64", "-out", "attrs.der"],
    );
    let parsed = w.run(
        "openssl",
        &["asn1parse", "-inform", "DER", "-in", "attrs.der"],
    );
    assert!(
        parsed.contains("Extension Request") && parsed.contains("1.3.6.1.4.1.41482.3.1"),
        "{parsed}"
    );

    // A software key (no attestation): 403, and the invitation is not spent.
    w.ec_key("soft.key");
    w.csr("soft.key", "/CN=agent", "soft.csr");
    let (status, _) = w.post_csr(
        &est(&server, "simpleenroll"),
        "soft.csr",
        &["-u", &user],
        "soft.txt",
    );
    assert_eq!(status, 403, "{}", w.text("soft.txt"));
    assert!(
        w.text("soft.txt").contains("attestation"),
        "{}",
        w.text("soft.txt")
    );
    assert_eq!(ra.invitation(&kid).unwrap().redeemed_by, None);

    // A YubiKey CSR carrying its slot and device attestation: issued, facts recorded.
    csr_b64(
        "tamemycerts-cs-5_7_1_Always_Always_UsbCKeychain_9c_ECC384",
        "yk.csr",
    );
    let (status, _) = w.post_csr(
        &est(&server, "simpleenroll"),
        "yk.csr",
        &["-u", &user],
        "yk.out",
    );
    assert_eq!(status, 200, "{}", w.text("yk.out"));
    w.certs_of("yk.out", "yk.pem");
    let pem = corpus
        .join("tamemycerts-cs-5_7_1_Always_Always_UsbCKeychain_9c_ECC384/request.csr.pem")
        .to_string_lossy()
        .into_owned();
    assert_eq!(
        w.run("openssl", &["x509", "-in", "yk.pem", "-noout", "-pubkey"]),
        w.run("openssl", &["req", "-in", &pem, "-noout", "-pubkey"])
    );
    let serial = w.run("openssl", &["x509", "-in", "yk.pem", "-noout", "-serial"]);
    let serial = serial
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_lowercase();
    let record = ra.certificate(&serial).unwrap();
    let facts = record
        .attestation
        .expect("attestation facts are recorded")
        .to_string();
    assert!(facts.contains("30041834"), "{facts}");
}

#[test]
fn concurrent_first_enrollments_redeem_the_invitation_once() {
    use signet::ra::est::{EstError, EstOutcome};
    let server = TestServer::start();
    directory(&server, false);
    let (kid, key) = invite(&server, "race@example.com", "agents");
    let csrs: Vec<Vec<u8>> = (0..8)
        .map(|_| {
            let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
            rcgen::CertificateParams::new(Vec::<String>::new())
                .unwrap()
                .serialize_request(&kp)
                .unwrap()
                .der()
                .to_vec()
        })
        .collect();
    let results: Vec<Result<EstOutcome, EstError>> = std::thread::scope(|s| {
        let handles: Vec<_> = csrs
            .iter()
            .map(|csr| {
                let ra = server.app.ra.clone();
                let (kid, key) = (kid.clone(), key.clone());
                s.spawn(move || ra.est_enroll(None, &kid, &key, csr))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let issued = results
        .iter()
        .filter(|r| matches!(r, Ok(EstOutcome::Issued(_))))
        .count();
    assert_eq!(issued, 1, "{results:?}");
    for r in &results {
        if let Err(e) = r {
            assert!(matches!(e, EstError::Unauthenticated(_)), "{e}");
        }
    }
    let certs = server
        .app
        .store
        .list_certificates()
        .unwrap()
        .into_iter()
        .filter(|c| c.requester == format!("est:{kid}"))
        .count();
    assert_eq!(certs, 1);
    // the losers were refused before anything was signed (storage/claims.rs):
    // no certificate was signed and then discarded
    let actions = server.audit_actions();
    assert_eq!(
        actions.iter().filter(|a| *a == "certificate.issue").count(),
        1
    );
    assert!(
        !actions.iter().any(|a| a == "certificate.discard"),
        "{actions:?}"
    );
}
