//! Black-box tests of the admin CLI + API against a running server:
//! directory, invitations, manual enrollment, refusals, download formats.

mod support;

use std::process::Command;

use support::{openssl_csr, run, AdminServer};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::*;

#[test]
fn cli_builds_the_directory_and_mails_invitations() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let orgs = srv.admin_json(&["org", "list"]);
    assert_eq!(orgs[0]["name"], "Acme Corp");
    assert_eq!(orgs[0]["country"], "US");
    let accts = srv.admin_json(&["account", "list"]);
    assert_eq!(accts[0]["name"], "release");
    assert!(accts[0]["department_id"].as_str().is_some());

    let inv = srv.admin_json(&[
        "invite",
        "--email",
        "dev@acme.example",
        "--account",
        "release",
    ]);
    let kid = inv["kid"].as_str().unwrap();
    let key = inv["hmac_key"].as_str().unwrap();
    use base64::Engine;
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(key)
            .unwrap()
            .len(),
        32
    );
    assert_eq!(inv["directory"], format!("{}/acme/directory", srv.url));
    assert_eq!(
        inv["est_url"],
        format!("{}/.well-known/est/builds", srv.url)
    );
    assert!(inv["expires"].as_str().is_some());
    assert_eq!(inv["status"], "sent");

    // the outbox holds one mail to the invitee with kid, key and directory
    let outbox = srv.data_dir().join("outbox");
    let mails: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|m| m.contains("To: dev@acme.example"))
        .collect();
    assert_eq!(mails.len(), 1, "one invitation mail");
    for needle in [
        kid,
        key,
        inv["directory"].as_str().unwrap(),
        inv["est_url"].as_str().unwrap(),
    ] {
        assert!(
            mails[0].contains(needle),
            "mail lacks {needle}:\n{}",
            mails[0]
        );
    }

    // revoke shows in the status
    let revoked = srv.admin_json(&["invitation", "revoke", kid]);
    assert_eq!(revoked["status"], "revoked");
    assert_eq!(
        srv.admin_json(&["invitation", "show", kid])["status"],
        "revoked"
    );
    // the HMAC key is never listed again
    let list = srv.admin_json(&["invitation", "list"]);
    assert!(list[0].get("hmac_key").is_none());

    // expiry shows in the status once the clock passes it
    let short = srv.admin_json(&[
        "invite",
        "--email",
        "agent@acme.example",
        "--account",
        "release",
        "--ttl-days",
        "1",
    ]);
    let kid2 = short["kid"].as_str().unwrap();
    assert_eq!(
        srv.admin_json(&["invitation", "show", kid2])["status"],
        "sent"
    );
    srv.clock.advance(::time::Duration::days(2));
    assert_eq!(
        srv.admin_json(&["invitation", "show", kid2])["status"],
        "expired"
    );
}

#[test]
fn admin_errors_name_the_field() {
    let srv = AdminServer::start();
    let err = srv.admin_fails(&["org", "create", "--name", "X", "--country", "Germany"]);
    assert!(err.contains("field country"), "{err}");
    srv.standard_directory(false);
    let err = srv.admin_fails(&[
        "invite",
        "--email",
        "not-an-address",
        "--account",
        "release",
    ]);
    assert!(err.contains("field email"), "{err}");
    let err = srv.admin_fails(&[
        "profile",
        "create",
        "--name",
        "long",
        "--term",
        "500",
        "--key-type",
        "ecdsa-p256",
    ]);
    assert!(err.contains("field terms_days"), "{err}");
    let out = Command::new(env!("CARGO_BIN_EXE_signet"))
        .args([
            "admin",
            "--url",
            &srv.url,
            "--token",
            "wrong-token-0123456789",
        ])
        .arg("--ca-file")
        .arg(srv.tls_ca_pem())
        .args(["org", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("401"));
}

fn issue(
    srv: &AdminServer,
    dir: &std::path::Path,
    name: &str,
    kind: &str,
    extra: &[&str],
) -> (Vec<u8>, std::path::PathBuf, std::path::PathBuf) {
    let (key, csr) = openssl_csr(dir, name, kind, extra);
    let chain = dir.join(format!("{name}-chain.pem"));
    let out = srv.admin(&[
        "cert",
        "request",
        "--account",
        "release",
        "--profile",
        "cs",
        "--email",
        "dev@acme.example",
        "--csr",
        csr.to_str().unwrap(),
        "--term",
        "365",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    std::fs::write(&chain, v["pem_chain"].as_str().unwrap()).unwrap();
    let pems = ::pem::parse_many(std::fs::read(&chain).unwrap()).unwrap();
    assert_eq!(pems.len(), 2, "leaf + issuing CA");
    (pems[0].contents().to_vec(), key, chain)
}

fn csr_spki(csr_path: &std::path::Path) -> Vec<u8> {
    let pem = ::pem::parse(std::fs::read(csr_path).unwrap()).unwrap();
    let (_, csr) = X509CertificationRequest::from_der(pem.contents()).unwrap();
    csr.certification_request_info.subject_pki.raw.to_vec()
}

#[test]
fn admin_request_issues_cs_br_certificates_from_the_csr_key_only() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let dir = tempfile::tempdir().unwrap();
    let evil = [
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "extendedKeyUsage=serverAuth,clientAuth",
        "-addext",
        "subjectAltName=DNS:evil.example,email:boss@evil.example",
        "-addext",
        "keyUsage=keyCertSign,cRLSign",
        "-addext",
        "nsComment=please copy me",
    ];
    for kind in ["p256", "rsa3072"] {
        let (der, _key, chain) = issue(&srv, dir.path(), kind, kind, &evil);
        let leaf = dir.path().join(format!("{kind}-leaf.pem"));
        std::fs::write(
            &leaf,
            ::pem::encode(&::pem::Pem::new("CERTIFICATE", der.clone())),
        )
        .unwrap();
        let verified = run(Command::new("openssl")
            .arg("verify")
            .arg("-CAfile")
            .arg(srv.root_pem())
            .arg("-untrusted")
            .arg(&chain)
            .arg(&leaf));
        assert!(verified.contains(": OK"), "{verified}");

        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(
            cert.public_key().raw,
            csr_spki(&dir.path().join(format!("{kind}.csr"))).as_slice()
        );
        assert!(
            cert.tbs_certificate.raw_serial().len() >= 9,
            "serial carries at least 64 random bits"
        );
        let subject = cert.subject().to_string();
        for part in [
            "CN=Acme Corp",
            "OU=Release",
            "O=Acme Corp",
            "L=Springfield",
            "ST=Oregon",
            "C=US",
        ] {
            assert!(subject.contains(part), "{subject} lacks {part}");
        }
        assert!(
            !subject.contains("Requested"),
            "CSR subject must be ignored: {subject}"
        );
        let mut seen = Vec::new();
        for ext in cert.extensions() {
            seen.push(ext.oid.to_id_string());
            match ext.parsed_extension() {
                ParsedExtension::KeyUsage(ku) => {
                    assert!(ext.critical);
                    assert!(ku.digital_signature());
                    assert!(!ku.key_cert_sign() && !ku.crl_sign() && !ku.key_encipherment());
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    assert!(eku.code_signing);
                    assert!(!eku.server_auth && !eku.client_auth && eku.other.is_empty());
                }
                ParsedExtension::BasicConstraints(bc) => assert!(!bc.ca),
                ParsedExtension::CertificatePolicies(p) => {
                    let oids: Vec<String> = p.iter().map(|x| x.policy_id.to_id_string()).collect();
                    assert_eq!(oids, vec!["2.23.140.1.4.1".to_string()]);
                }
                ParsedExtension::CRLDistributionPoints(cdp) => {
                    let dbg = format!("{cdp:?}");
                    assert!(
                        dbg.contains(&format!("{}/crl/issuing.crl", srv.http_url)),
                        "{dbg}"
                    );
                }
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    let dbg = format!("{aia:?}");
                    assert!(dbg.contains(&srv.http_url), "{dbg}");
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    assert_eq!(
                        san.general_names,
                        vec![GeneralName::RFC822Name("dev@acme.example")]
                    );
                }
                _ => {}
            }
        }
        for oid in [
            "2.5.29.15",
            "2.5.29.37",
            "2.5.29.32",
            "2.5.29.31",
            "1.3.6.1.5.5.7.1.1",
            "2.5.29.35",
            "2.5.29.14",
            "2.5.29.17",
        ] {
            assert!(
                seen.contains(&oid.to_string()),
                "missing extension {oid}: {seen:?}"
            );
        }
        assert!(
            !seen.contains(&"2.16.840.1.113730.1.13".to_string()),
            "nsComment copied"
        );
    }
    // the certificates are listed with status issued
    let list = srv.admin_json(&["cert", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["status"] == "issued"));
}

#[test]
fn der_csr_and_download_formats() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let dir = tempfile::tempdir().unwrap();
    let (_key, csr) = openssl_csr(dir.path(), "d", "p256", &[]);
    let der_csr = dir.path().join("d.der");
    run(Command::new("openssl")
        .args(["req", "-outform", "DER", "-in"])
        .arg(&csr)
        .arg("-out")
        .arg(&der_csr));
    let v = srv.admin_json(&[
        "cert",
        "request",
        "--account",
        "release",
        "--email",
        "dev@acme.example",
        "--csr",
        der_csr.to_str().unwrap(),
    ]);
    let serial = v["serial"].as_str().unwrap();
    assert_eq!(v["status"], "issued");
    let p7 = dir.path().join("c.p7b");
    let out = srv.admin(&[
        "cert",
        "download",
        serial,
        "--format",
        "pkcs7",
        "--out",
        p7.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = run(Command::new("openssl")
        .args(["pkcs7", "-inform", "DER", "-print_certs", "-in"])
        .arg(&p7));
    assert_eq!(printed.matches("BEGIN CERTIFICATE").count(), 2, "{printed}");
    for format in ["pem", "chain", "pkcs7-pem"] {
        let f = dir.path().join(format!("c.{format}"));
        let out = srv.admin(&[
            "cert",
            "download",
            serial,
            "--format",
            format,
            "--out",
            f.to_str().unwrap(),
        ]);
        assert!(out.status.success());
        assert!(std::fs::read_to_string(&f)
            .unwrap()
            .starts_with("-----BEGIN"));
    }
    let err = srv.admin_fails(&["cert", "download", serial, "--format", "zip"]);
    assert!(err.contains("field format"), "{err}");
}

#[test]
fn weak_broken_and_overlong_requests_are_refused_and_nothing_is_stored() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let dir = tempfile::tempdir().unwrap();
    let request = |csr: &std::path::Path, term: &str| {
        srv.admin_fails(&[
            "cert",
            "request",
            "--account",
            "release",
            "--profile",
            "cs",
            "--email",
            "dev@acme.example",
            "--csr",
            csr.to_str().unwrap(),
            "--term",
            term,
        ])
    };
    let (_, rsa2048) = openssl_csr(dir.path(), "rsa2048", "rsa2048", &[]);
    assert!(request(&rsa2048, "365").contains("2048"));
    let (_, p521) = openssl_csr(dir.path(), "p521", "p521", &[]);
    let err = request(&p521, "365");
    assert!(err.contains("bad_public_key"), "{err}");
    let (_, p384) = openssl_csr(dir.path(), "p384", "p384", &[]);
    let err = request(&p384, "365");
    assert!(err.contains("ecdsa-p384"), "{err}");

    // a CSR whose signature does not verify
    let (_, good) = openssl_csr(dir.path(), "good", "p256", &[]);
    let pem = ::pem::parse(std::fs::read(&good).unwrap()).unwrap();
    let mut der = pem.contents().to_vec();
    let n = der.len();
    der[n - 2] ^= 0x01;
    let bad_sig = dir.path().join("badsig.der");
    std::fs::write(&bad_sig, &der).unwrap();
    let err = request(&bad_sig, "365");
    assert!(err.contains("bad_csr"), "{err}");

    let garbage = dir.path().join("garbage.csr");
    std::fs::write(&garbage, b"this is not a CSR").unwrap();
    assert!(request(&garbage, "365").contains("bad_csr"));

    let err = request(&good, "461");
    assert!(err.contains("460"), "{err}");
    srv.admin_json(&[
        "profile",
        "create",
        "--name",
        "short",
        "--term",
        "90",
        "--key-type",
        "ecdsa-p256",
        "--attestation",
        "optional",
    ]);
    srv.admin_json(&[
        "account",
        "create",
        "--name",
        "short",
        "--endpoint",
        "builds",
        "--org",
        "Acme Corp",
        "--profile",
        "short",
        "--auto-approve",
    ]);
    let err = srv.admin_fails(&[
        "cert",
        "request",
        "--account",
        "short",
        "--email",
        "dev@acme.example",
        "--csr",
        good.to_str().unwrap(),
        "--term",
        "91",
    ]);
    assert!(err.contains("maximum of 90"), "{err}");

    assert_eq!(srv.admin_json(&["cert", "list"]), serde_json::json!([]));
    assert_eq!(srv.admin_json(&["request", "list"]), serde_json::json!([]));
}

/// A real YubiKey CSR with its attestation inside (TameMyCerts test data,
/// Apache-2.0): P-256 key in slot 9a, firmware 5.4.3, PIN always, touch
/// never, USB-A keychain (not FIPS).
fn yubikey_csr() -> Option<std::path::PathBuf> {
    let rel = "yubikey-piv/csr-embedded/tamemycerts-cs-5_4_3_Always_Never_UsbAKeychain_9a_ECC384/request.csr.pem";
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let vendored = root.join("protocol-tests/vectors/attestation").join(rel);
    if vendored.exists() {
        return Some(vendored);
    }
    let shared = root.join("../shared/attestation").join(rel);
    if shared.exists() {
        return Some(shared);
    }
    eprintln!("SKIP: real YubiKey CSR not found (neither vendored nor ../shared/attestation)");
    None
}

#[test]
fn real_yubikey_csr_is_accepted_by_an_attestation_profile_and_refused_when_fips_is_required() {
    let Some(csr) = yubikey_csr() else { return };
    let srv = AdminServer::start();
    srv.standard_directory(false);
    srv.admin_json(&[
        "profile",
        "create",
        "--name",
        "yk",
        "--term",
        "365",
        "--key-type",
        "ecdsa-p256",
        "--attestation",
        "required",
        "--attestation-format",
        "yubikey-piv",
    ]);
    srv.admin_json(&[
        "profile",
        "create",
        "--name",
        "yk-fips",
        "--term",
        "365",
        "--key-type",
        "ecdsa-p256",
        "--attestation",
        "required",
        "--attestation-format",
        "yubikey-piv",
        "--require-fips",
    ]);
    srv.admin_json(&[
        "account",
        "create",
        "--name",
        "hw",
        "--endpoint",
        "builds",
        "--org",
        "Acme Corp",
        "--profile",
        "yk",
        "--profile",
        "yk-fips",
        "--auto-approve",
    ]);
    let request = |profile: &str| {
        srv.admin(&[
            "cert",
            "request",
            "--account",
            "hw",
            "--profile",
            profile,
            "--email",
            "dev@acme.example",
            "--csr",
            csr.to_str().unwrap(),
        ])
    };
    let ok = request("yk");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    let facts = &v["attestation"];
    assert_eq!(facts["format"], "yubikey-piv", "{v}");
    assert_eq!(facts["device_serial"], "19661687", "{v}");
    let shown = srv.admin_json(&["cert", "show", v["serial"].as_str().unwrap()]);
    assert_eq!(shown["attestation"]["format"], "yubikey-piv");

    let refused = request("yk-fips");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("FIPS") && err.contains("field attestation"),
        "{err}"
    );
    // a profile that requires attestation refuses a CSR without any
    let dir = tempfile::tempdir().unwrap();
    let (_, plain) = openssl_csr(dir.path(), "plain", "p256", &[]);
    let err = srv.admin_fails(&[
        "cert",
        "request",
        "--account",
        "hw",
        "--profile",
        "yk",
        "--email",
        "dev@acme.example",
        "--csr",
        plain.to_str().unwrap(),
    ]);
    assert!(err.contains("attestation-missing"), "{err}");
    let audit = srv.admin(&["audit", "export"]);
    assert!(String::from_utf8_lossy(&audit.stdout).contains("attestation.refused"));
}

/// (dotted OID, string value) of each subject attribute, in order.
fn subject_attributes(cert: &X509Certificate<'_>) -> Vec<(String, String)> {
    cert.subject()
        .iter_attributes()
        .map(|a| {
            (
                a.attr_type().to_id_string(),
                a.as_str().expect("string attribute").to_string(),
            )
        })
        .collect()
}

#[test]
fn ev_certificate_via_the_cli_carries_the_ev_subject_attributes() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    // CS BR 7.1.4.2.2 and the EV Guidelines details are checked at creation.
    let err = srv.admin_fails(&["org", "create", "--name", "Nowhere", "--country", "DE"]);
    assert!(err.contains("field city"), "{err}");
    let ev_org = |name: &str, extra: &[&str]| {
        let mut args = vec![
            "org",
            "create",
            "--name",
            name,
            "--street",
            "1 Main St",
            "--city",
            "Springfield",
            "--state",
            "Oregon",
            "--country",
            "US",
            "--validation",
            "ev",
            "--business-category",
            "Private Organization",
            "--jurisdiction-country",
            "US",
        ];
        args.extend_from_slice(extra);
        srv.admin(&args)
    };
    let half = ev_org("Half EV", &[]);
    assert!(!half.status.success());
    let err = String::from_utf8_lossy(&half.stderr);
    assert!(err.contains("field registration_number"), "{err}");
    let out = ev_org(
        "Acme EV Inc",
        &[
            "--jurisdiction-state",
            "Delaware",
            "--registration-number",
            "5551234",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let org: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(org["validation"], "ev");
    let shown = srv.admin_json(&["org", "show", org["id"].as_str().unwrap()]);
    assert_eq!(shown["registration_number"], "5551234");
    assert_eq!(shown["jurisdiction_state"], "Delaware");
    assert_eq!(shown["business_category"], "Private Organization");

    srv.admin_json(&[
        "profile",
        "create",
        "--name",
        "ev",
        "--template",
        "ev",
        "--term",
        "365",
        "--key-type",
        "ecdsa-p256",
        "--attestation",
        "optional",
    ]);
    for (account, org) in [("ev", "Acme EV Inc"), ("ov-ev", "Acme Corp")] {
        srv.admin_json(&[
            "account",
            "create",
            "--name",
            account,
            "--endpoint",
            "builds",
            "--org",
            org,
            "--profile",
            "ev",
            "--auto-approve",
        ]);
    }
    let dir = tempfile::tempdir().unwrap();
    let (_key, csr) = openssl_csr(dir.path(), "ev", "p256", &[]);
    let request = |account: &str| {
        srv.admin(&[
            "cert",
            "request",
            "--account",
            account,
            "--profile",
            "ev",
            "--email",
            "dev@acme.example",
            "--csr",
            csr.to_str().unwrap(),
        ])
    };
    // An OV-validated organization gets no EV certificate.
    let refused = request("ov-ev");
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("not EV-validated"), "{err}");

    let out = request("ev");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let chain = dir.path().join("ev-chain.pem");
    std::fs::write(&chain, v["pem_chain"].as_str().unwrap()).unwrap();
    let pems = ::pem::parse_many(std::fs::read(&chain).unwrap()).unwrap();
    let leaf = dir.path().join("ev-leaf.pem");
    std::fs::write(&leaf, ::pem::encode(&pems[0])).unwrap();
    let verified = run(Command::new("openssl")
        .args(["verify", "-x509_strict", "-CAfile"])
        .arg(srv.root_pem())
        .arg("-untrusted")
        .arg(&chain)
        .arg(&leaf));
    assert!(verified.contains(": OK"), "{verified}");

    let (_, cert) = X509Certificate::from_der(pems[0].contents()).unwrap();
    let expected = [
        ("2.5.4.15", "Private Organization"),
        ("1.3.6.1.4.1.311.60.2.1.3", "US"),
        ("1.3.6.1.4.1.311.60.2.1.2", "Delaware"),
        ("2.5.4.5", "5551234"),
        ("2.5.4.6", "US"),
        ("2.5.4.8", "Oregon"),
        ("2.5.4.7", "Springfield"),
        ("2.5.4.10", "Acme EV Inc"),
        ("2.5.4.3", "Acme EV Inc"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(o, v)| (o.to_string(), v.to_string()))
        .collect();
    assert_eq!(subject_attributes(&cert), expected);
    let policies: Vec<String> = cert
        .extensions()
        .iter()
        .filter_map(|e| match e.parsed_extension() {
            ParsedExtension::CertificatePolicies(p) => Some(
                p.iter()
                    .map(|x| x.policy_id.to_id_string())
                    .collect::<Vec<_>>(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(policies, ["2.23.140.1.3"]);
    let text = run(Command::new("openssl")
        .args(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in"])
        .arg(&leaf));
    for part in [
        "businessCategory=Private Organization",
        "jurisdictionC=US",
        "jurisdictionST=Delaware",
        "serialNumber=5551234",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
}
