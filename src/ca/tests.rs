//! CA core tests. External tools (openssl, osslsigncode, pkilint) are required:
//! a missing tool FAILS the test with a hint to run scripts/install-test-deps.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use rcgen::PublicKeyData as _;
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;
use crate::csr::Csr;

const INSTALL_HINT: &str = "run scripts/install-test-deps";

struct Fixture {
    dir: tempfile::TempDir,
    ca: Ca,
}

fn cfg(alg: &str) -> CaConfig {
    CaConfig {
        algorithm: alg.into(),
        crl_url: "http://ca.signet.test/crl/issuing.crl".into(),
        issuer_url: "http://ca.signet.test/ca/issuing.cer".into(),
        ..CaConfig::default()
    }
}

fn make_fixture(alg: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(&dir.path().join("ca"), &cfg(alg), &crate::clock::system())
        .unwrap_or_else(|e| panic!("dev CA {alg}: {e}"));
    Fixture { dir, ca }
}

/// One development CA per algorithm per test binary (RSA-4096 key generation is slow).
fn fixture(alg: &str) -> &'static Fixture {
    static P256: OnceLock<Fixture> = OnceLock::new();
    static P384: OnceLock<Fixture> = OnceLock::new();
    static RSA: OnceLock<Fixture> = OnceLock::new();
    match alg {
        "p256" => P256.get_or_init(|| make_fixture("p256")),
        "p384" => P384.get_or_init(|| make_fixture("p384")),
        "rsa4096" => RSA.get_or_init(|| make_fixture("rsa4096")),
        other => panic!("no fixture {other}"),
    }
}

/// A tool from /usr/bin or /usr/local/bin, or the binary named by
/// `SIGNET_TEST_TOOL_<NAME>` (scripts/test runs the osslsigncode test again
/// with Debian bookworm's osslsigncode 2.5 that way).
fn tool(name: &str) -> Command {
    let var = format!("SIGNET_TEST_TOOL_{}", name.to_ascii_uppercase());
    if let Some(path) = std::env::var_os(var) {
        return Command::new(path);
    }
    let path = ["/usr/bin", "/usr/local/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from(name));
    Command::new(path)
}

fn run(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e} ({INSTALL_HINT})"))
}

fn run_ok(cmd: &mut Command) -> Output {
    let desc = format!("{cmd:?}");
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{desc} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn openssl(dir: &Path, args: &[&str]) -> Output {
    run_ok(tool("openssl").args(args).current_dir(dir))
}

/// An openssl-generated key (`genpkey` arguments) and CSR, parsed by [`Csr::parse`].
fn openssl_csr(dir: &Path, name: &str, genpkey: &[&str], extra_req: &[&str]) -> Csr {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    let mut args = vec!["genpkey"];
    args.extend_from_slice(genpkey);
    args.extend_from_slice(&["-out", &key]);
    openssl(dir, &args);
    let mut req = vec![
        "req",
        "-new",
        "-key",
        &key,
        "-subj",
        "/CN=requested/O=Requested Org",
        "-out",
        &csr,
    ];
    req.extend_from_slice(extra_req);
    openssl(dir, &req);
    let pem = std::fs::read(dir.join(&csr)).unwrap();
    Csr::parse(&pem).unwrap_or_else(|e| panic!("parse {name}: {e}"))
}

fn subject() -> SubjectInfo {
    SubjectInfo {
        common_name: "Jane Builder".into(),
        organization: "Example Widgets GmbH".into(),
        organizational_unit: Some("Release Engineering".into()),
        locality: Some("München".into()),
        state: Some("Bayern".into()),
        country: "DE".into(),
        ..SubjectInfo::default()
    }
}

/// [`subject`] with the EV Guidelines 9.2 attributes.
fn ev_subject() -> SubjectInfo {
    SubjectInfo {
        business_category: Some("Private Organization".into()),
        jurisdiction_country: Some("DE".into()),
        jurisdiction_state: Some("Bayern".into()),
        jurisdiction_locality: Some("München".into()),
        registration_number: Some("HRB 123456".into()),
        ..subject()
    }
}

/// A request with the subject its template needs ([`ev_subject`] for EV).
/// A request for a term of `days` days: notBefore 5 minutes ago, notAfter
/// `days` days minus 1 s later (both inclusive, CS BR 1.6.1).
fn request(spki_der: Vec<u8>, template: Template, days: i64) -> IssuanceRequest {
    let now = OffsetDateTime::now_utc();
    IssuanceRequest {
        serial: Serial::random(),
        subject: match template {
            Template::Ov => subject(),
            Template::Ev => ev_subject(),
        },
        email: "jane@example.com".into(),
        spki_der,
        template,
        not_before: now - Duration::minutes(5),
        not_after: now - Duration::minutes(5) + Duration::days(days) - Duration::SECOND,
    }
}

fn p256_spki() -> Vec<u8> {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .subject_public_key_info()
}

/// Writes root, issuing and leaf PEMs into `dir` and runs `openssl verify`.
fn openssl_verify(ca: &Ca, dir: &Path, leaf: &[u8]) {
    std::fs::write(dir.join("root.pem"), ca.root_cert_pem()).unwrap();
    std::fs::write(dir.join("issuing.pem"), ca.issuing_cert_pem()).unwrap();
    std::fs::write(dir.join("leaf.pem"), pem_cert(leaf)).unwrap();
    let out = openssl(
        dir,
        &[
            "verify",
            "-x509_strict",
            "-CAfile",
            "root.pem",
            "-untrusted",
            "issuing.pem",
            "leaf.pem",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("leaf.pem: OK"));
}

#[test]
fn issue_for_openssl_rsa3072_and_p256_csrs_verifies_with_openssl() {
    let fx = fixture("p384");
    let dir = tempfile::tempdir().unwrap();
    let rsa = openssl_csr(
        dir.path(),
        "rsa",
        &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"],
        &[],
    );
    assert_eq!(rsa.key, crate::csr::KeyKind::Rsa { bits: 3072 });
    let ec = openssl_csr(
        dir.path(),
        "ec",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &[],
    );
    assert_eq!(ec.key, crate::csr::KeyKind::EcP256);
    for csr in [rsa, ec] {
        let req = request(csr.spki_der.clone(), Template::Ov, 365);
        let der = fx.ca.issue(&req).unwrap();
        openssl_verify(&fx.ca, dir.path(), &der);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        assert_eq!(cert.public_key().raw, csr.spki_der.as_slice());
    }
}

#[test]
fn each_algorithm_issues_verifiable_certificates() {
    for alg in ["p256", "p384", "rsa4096"] {
        let fx = fixture(alg);
        assert_eq!(fx.ca.algorithm(), alg);
        let dir = tempfile::tempdir().unwrap();
        let der = fx
            .ca
            .issue(&request(p256_spki(), Template::Ev, 460))
            .unwrap();
        openssl_verify(&fx.ca, dir.path(), &der);
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let expected_sig = match alg {
            "p256" => "1.2.840.10045.4.3.2",
            "p384" => "1.2.840.10045.4.3.3",
            _ => "1.2.840.113549.1.1.11",
        };
        assert_eq!(
            cert.signature_algorithm.algorithm.to_id_string(),
            expected_sig
        );
        assert!(fx.dir.path().join("ca/issuing.key.pem").exists());
    }
}

/// Every extension, checked independently of the invariant module.
#[test]
fn issued_certificate_has_exactly_the_code_signing_profile() {
    let fx = fixture("p256");
    for (template, policy) in [
        (Template::Ov, "2.23.140.1.4.1"),
        (Template::Ev, "2.23.140.1.3"),
    ] {
        let spki = p256_spki();
        let req = request(spki.clone(), template, 365);
        let der = fx.ca.issue(&req).unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let (_, issuing) = X509Certificate::from_der(fx.ca.issuing_cert_der()).unwrap();

        assert_eq!(cert.version(), x509_parser::x509::X509Version::V3);
        assert_eq!(cert.raw_serial(), req.serial.0.as_slice());
        assert_eq!(cert.issuer().as_raw(), issuing.subject().as_raw());
        let ev_part = match template {
            Template::Ov => "",
            Template::Ev => "businessCategory=Private Organization, msJurisdictionCountry=DE, msJurisdictionStateOrProvince=Bayern, msJurisdictionLocality=München, serialNumber=HRB 123456, ",
        };
        assert_eq!(
            cert.subject().to_string(),
            format!("{ev_part}C=DE, ST=Bayern, L=München, O=Example Widgets GmbH, OU=Release Engineering, CN=Jane Builder")
        );
        assert_eq!(
            cert.validity().not_before.timestamp(),
            req.not_before.unix_timestamp()
        );
        assert_eq!(
            cert.validity().not_after.timestamp(),
            req.not_after.unix_timestamp()
        );
        assert_eq!(cert.public_key().raw, spki.as_slice());

        let mut oids: Vec<String> = Vec::new();
        for ext in cert.extensions() {
            oids.push(ext.oid.to_id_string());
            match ext.parsed_extension() {
                ParsedExtension::KeyUsage(ku) => {
                    assert!(ext.critical, "KU critical");
                    assert_eq!(ku.flags, 1, "digitalSignature only");
                    // BIT STRING with one bit: 03 02 07 80
                    assert_eq!(ext.value, &[0x03, 0x02, 0x07, 0x80]);
                }
                ParsedExtension::ExtendedKeyUsage(eku) => {
                    assert!(!ext.critical);
                    assert!(eku.code_signing && !eku.any && !eku.server_auth && !eku.client_auth);
                    assert!(eku.other.is_empty());
                }
                ParsedExtension::CertificatePolicies(p) => {
                    assert_eq!(p.len(), 1);
                    assert_eq!(p[0].policy_id.to_id_string(), policy);
                    assert!(p[0].policy_qualifiers.is_none());
                }
                ParsedExtension::CRLDistributionPoints(cdp) => {
                    assert_eq!(cdp.points.len(), 1);
                    match &cdp.points[0].distribution_point {
                        Some(DistributionPointName::FullName(names)) => {
                            assert_eq!(names.len(), 1);
                            assert!(
                                matches!(names[0], GeneralName::URI(u) if u == "http://ca.signet.test/crl/issuing.crl")
                            );
                        }
                        other => panic!("CDP {other:?}"),
                    }
                }
                ParsedExtension::AuthorityInfoAccess(aia) => {
                    assert_eq!(aia.accessdescs.len(), 1);
                    assert_eq!(
                        aia.accessdescs[0].access_method.to_id_string(),
                        "1.3.6.1.5.5.7.48.2"
                    );
                    assert!(matches!(
                        aia.accessdescs[0].access_location,
                        GeneralName::URI("http://ca.signet.test/ca/issuing.cer")
                    ));
                }
                ParsedExtension::AuthorityKeyIdentifier(aki) => {
                    let issuing_ski = issuing
                        .extensions()
                        .iter()
                        .find_map(|e| match e.parsed_extension() {
                            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0),
                            _ => None,
                        })
                        .unwrap();
                    assert_eq!(aki.key_identifier.as_ref().unwrap().0, issuing_ski);
                }
                ParsedExtension::SubjectKeyIdentifier(ski) => {
                    let digest = aws_lc_rs::digest::digest(
                        &aws_lc_rs::digest::SHA256,
                        &cert.public_key().subject_public_key.data,
                    );
                    assert_eq!(ski.0, &digest.as_ref()[..20]);
                }
                ParsedExtension::SubjectAlternativeName(san) => {
                    assert_eq!(san.general_names.len(), 1);
                    assert!(matches!(
                        san.general_names[0],
                        GeneralName::RFC822Name("jane@example.com")
                    ));
                }
                other => panic!("unexpected extension {other:?}"),
            }
        }
        oids.sort();
        assert_eq!(
            oids,
            [
                "1.3.6.1.5.5.7.1.1",
                "2.5.29.14",
                "2.5.29.15",
                "2.5.29.17",
                "2.5.29.31",
                "2.5.29.32",
                "2.5.29.35",
                "2.5.29.37"
            ],
            "no basicConstraints, nothing else"
        );
        // The signature verifies with the issuing CA's public key (x509-parser, aws-lc).
        cert.verify_signature(Some(issuing.public_key())).unwrap();
    }
}

#[test]
fn csr_requested_extensions_are_never_copied() {
    let fx = fixture("p256");
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let mut p = rcgen::CertificateParams::new(vec![
        "evil.example.com".to_string(),
        "*.example.org".to_string(),
    ])
    .unwrap();
    p.distinguished_name
        .push(rcgen::DnType::CommonName, "I am a CA");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::Any,
    ];
    p.custom_extensions = vec![rcgen::CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 99999, 1],
        vec![0x04, 0x02, 0xde, 0xad],
    )];
    let csr_der = p.serialize_request(&key).unwrap().der().to_vec();
    let csr = Csr::parse(&csr_der).unwrap();
    assert!(
        csr.requested_extensions.len() >= 5,
        "{:?}",
        csr.requested_extensions
    );

    let der = fx
        .ca
        .issue(&request(csr.spki_der.clone(), Template::Ov, 30))
        .unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert_eq!(cert.public_key().raw, csr.spki_der.as_slice());
    assert_eq!(
        cert.public_key().raw,
        key.subject_public_key_info().as_slice()
    );
    assert!(cert.basic_constraints().unwrap().is_none());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.code_signing && !eku.server_auth && !eku.any);
    let san = cert.subject_alternative_name().unwrap().unwrap().value;
    assert_eq!(san.general_names.len(), 1);
    assert!(!cert.subject().to_string().contains("I am a CA"));
    for ext in cert.extensions() {
        assert_ne!(ext.oid.to_id_string(), "1.3.6.1.4.1.99999.1");
    }
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(!ku.key_cert_sign());
}

#[test]
fn issuing_without_per_certificate_verification_still_checks_everything_else() {
    let fx = fixture("p256");
    let mut c = cfg("p256");
    c.verify_signatures = false;
    let ca = Ca::load_or_create(&fx.dir.path().join("ca"), &c, &crate::clock::system()).unwrap();
    assert_eq!(ca.issuing_cert_der(), fx.ca.issuing_cert_der());
    let der = ca.issue(&request(p256_spki(), Template::Ev, 100)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    openssl_verify(&fx.ca, dir.path(), &der);
    let mut long = request(p256_spki(), Template::Ov, 461);
    long.not_after += Duration::seconds(1);
    assert!(matches!(ca.issue(&long), Err(CaError::InvalidRequest(_))));
}

#[test]
fn validity_is_capped_and_must_be_positive() {
    let fx = fixture("p256");
    let ok = request(p256_spki(), Template::Ov, MAX_VALIDITY_DAYS);
    let der = fx.ca.issue(&ok).unwrap();
    // Inclusive validity (CS BR 1.6.1, 6.3.2): a 460-day term ends 1 s before
    // notBefore + 460 days.
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let v = cert.validity();
    assert_eq!(
        v.not_after.to_datetime() - v.not_before.to_datetime(),
        Duration::days(MAX_VALIDITY_DAYS) - Duration::SECOND
    );

    let mut too_long = request(p256_spki(), Template::Ov, MAX_VALIDITY_DAYS);
    too_long.not_after += Duration::seconds(1);
    assert!(matches!(
        fx.ca.issue(&too_long),
        Err(CaError::InvalidRequest(m)) if m.contains("460")
    ));
    // Never beyond the issuing CA's own validity.
    let (_, issuing) = X509Certificate::from_der(fx.ca.issuing_cert_der()).unwrap();
    let mut outlives = request(p256_spki(), Template::Ov, 30);
    outlives.not_before = issuing.validity().not_after.to_datetime() - Duration::days(10);
    outlives.not_after = outlives.not_before + Duration::days(30);
    assert!(matches!(
        fx.ca.issue(&outlives),
        Err(CaError::InvalidRequest(m)) if m.contains("issuing CA")
    ));
    let long = request(p256_spki(), Template::Ov, 825);
    assert!(matches!(
        fx.ca.issue(&long),
        Err(CaError::InvalidRequest(_))
    ));

    let mut empty = request(p256_spki(), Template::Ov, 1);
    empty.not_after = empty.not_before;
    assert!(matches!(
        fx.ca.issue(&empty),
        Err(CaError::InvalidRequest(_))
    ));
    let mut backwards = request(p256_spki(), Template::Ov, 1);
    backwards.not_after = backwards.not_before - Duration::days(1);
    assert!(matches!(
        fx.ca.issue(&backwards),
        Err(CaError::InvalidRequest(_))
    ));
}

#[test]
fn bad_requests_are_refused_precisely() {
    let fx = fixture("p256");
    let mut r = request(p256_spki(), Template::Ov, 10);
    r.spki_der = vec![0x30, 0x03, 0x02, 0x01, 0x00];
    assert!(matches!(fx.ca.issue(&r), Err(CaError::InvalidRequest(_))));

    let weak = rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
        .unwrap();
    let r = request(weak.subject_public_key_info(), Template::Ov, 10);
    assert!(matches!(fx.ca.issue(&r), Err(CaError::InvalidRequest(m)) if m.contains("3072")));

    let ed = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
    let r = request(ed.subject_public_key_info(), Template::Ov, 10);
    assert!(matches!(fx.ca.issue(&r), Err(CaError::InvalidRequest(m)) if m.contains("Ed25519")));

    let mut r = request(p256_spki(), Template::Ov, 10);
    r.subject.country = "Germany".into();
    assert!(matches!(fx.ca.issue(&r), Err(CaError::InvalidRequest(m)) if m.contains("country")));

    let mut r = request(p256_spki(), Template::Ov, 10);
    r.subject.common_name = "x".repeat(65);
    assert!(matches!(fx.ca.issue(&r), Err(CaError::InvalidRequest(m)) if m.contains("commonName")));

    for email in [
        "no-at-sign",
        "two@@example.com",
        "@example.com",
        "x@",
        "a b@example.com",
    ] {
        let mut r = request(p256_spki(), Template::Ov, 10);
        r.email = email.into();
        assert!(
            matches!(fx.ca.issue(&r), Err(CaError::InvalidRequest(m)) if m.contains("email")),
            "{email}"
        );
    }
    let mut r = request(p256_spki(), Template::Ov, 10);
    r.email = "jäne@example.com".into();
    assert!(matches!(fx.ca.issue(&r), Err(CaError::InvalidRequest(m)) if m.contains("email")));
}

/// What the signer would have recorded for `der` (its TBS and signature value).
fn signed_of(der: &[u8]) -> invariants::Signed {
    let (_, cert) = X509Certificate::from_der(der).unwrap();
    invariants::Signed {
        tbs: cert.tbs_certificate.as_ref().to_vec(),
        signature: cert.signature_value.data.to_vec(),
    }
}

fn invariant_error(
    der: &[u8],
    req: &IssuanceRequest,
    exp: &invariants::Expectations<'_>,
) -> String {
    match invariants::check(der, req, exp, &signed_of(der)) {
        Err(CaError::Invariant(m)) => m,
        other => panic!("expected an invariant violation, got {other:?}"),
    }
}

#[test]
fn invariant_check_catches_mismatches() {
    let fx = fixture("p256");
    let other = fixture("p384");
    let req = request(p256_spki(), Template::Ov, 30);
    let der = fx.ca.issue(&req).unwrap();
    let exp = fx.ca.expectations(true);
    invariants::check(&der, &req, &exp, &signed_of(&der)).unwrap();

    let mut r = req.clone();
    r.serial = Serial::random();
    assert!(invariant_error(&der, &r, &exp).contains("serial"));
    let mut r = req.clone();
    r.template = Template::Ev;
    assert!(invariant_error(&der, &r, &exp).contains("certificatePolicies"));
    let mut r = req.clone();
    r.email = "other@example.com".into();
    assert!(invariant_error(&der, &r, &exp).contains("subjectAltName"));
    let mut r = req.clone();
    r.spki_der = p256_spki();
    assert!(invariant_error(&der, &r, &exp).contains("subjectPublicKeyInfo"));
    let mut r = req.clone();
    r.not_after -= Duration::days(1);
    assert!(invariant_error(&der, &r, &exp).contains("validity"));
    let mut r = req.clone();
    r.subject.organization = "Other".into();
    assert!(invariant_error(&der, &r, &exp).contains("subject"));

    // A certificate from another issuer is refused.
    let foreign = other.ca.issue(&req).unwrap();
    assert!(invariant_error(&foreign, &req, &exp).contains("issuer"));

    // A flipped signature bit: refused by the structural check (not the
    // signature the key produced) and by the cryptographic one.
    let mut bad = der.clone();
    let last = bad.len() - 3;
    bad[last] ^= 0x01;
    let structural = invariants::check(&bad, &req, &exp, &signed_of(&der));
    assert!(
        matches!(structural, Err(CaError::Invariant(m)) if m.contains("signature value differs"))
    );
    assert!(invariant_error(&bad, &req, &exp).contains("does not verify"));
    // Without per-certificate verification the structural check still refuses it.
    let structural_only = fx.ca.expectations(false);
    assert!(structural_only.verify_key.is_none());
    let r = invariants::check(&bad, &req, &structural_only, &signed_of(&der));
    assert!(matches!(r, Err(CaError::Invariant(m)) if m.contains("signature value differs")));
    // TBS bytes other than the signed ones are refused.
    let mut other_tbs = signed_of(&der);
    other_tbs.tbs.push(0);
    let r = invariants::check(&der, &req, &exp, &other_tbs);
    assert!(matches!(r, Err(CaError::Invariant(m)) if m.contains("TBSCertificate")));

    // A server certificate (wrong EKU, DNS SAN) from the same issuer is refused.
    let tls = {
        let mut p = rcgen::CertificateParams::new(vec!["x.example".to_string()]).unwrap();
        p.distinguished_name = profile::subject_dn(&req.subject).unwrap();
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&req.serial.0));
        p.not_before = profile::checked_validity(&req).unwrap().0;
        p.not_after = profile::checked_validity(&req).unwrap().1;
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let key = pubkey::RequestKey::from_spki_der(&req.spki_der).unwrap();
        let issuer = rcgen::Issuer::from_params(&fx.ca.issuer_params, &fx.ca.issuing_key);
        p.signed_by(&key, &issuer).unwrap().der().to_vec()
    };
    invariant_error(&tls, &req, &exp);
}

#[test]
fn ev_certificates_carry_the_ev_subject_attributes() {
    let fx = fixture("p256");
    let dir = tempfile::tempdir().unwrap();
    let req = request(p256_spki(), Template::Ev, 365);
    let der = fx.ca.issue(&req).unwrap();
    openssl_verify(&fx.ca, dir.path(), &der);
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    let attrs: Vec<(String, u8, String)> = cert
        .subject()
        .iter_attributes()
        .map(|a| {
            (
                a.attr_type().to_id_string(),
                a.attr_value().tag().0 as u8,
                a.as_str().unwrap().to_string(),
            )
        })
        .collect();
    const PRINTABLE: u8 = 19;
    const UTF8: u8 = 12;
    let expected = [
        ("2.5.4.15", UTF8, "Private Organization"),
        ("1.3.6.1.4.1.311.60.2.1.3", PRINTABLE, "DE"),
        ("1.3.6.1.4.1.311.60.2.1.2", UTF8, "Bayern"),
        ("1.3.6.1.4.1.311.60.2.1.1", UTF8, "München"),
        ("2.5.4.5", PRINTABLE, "HRB 123456"),
        ("2.5.4.6", PRINTABLE, "DE"),
        ("2.5.4.8", UTF8, "Bayern"),
        ("2.5.4.7", UTF8, "München"),
        ("2.5.4.10", UTF8, "Example Widgets GmbH"),
        ("2.5.4.11", UTF8, "Release Engineering"),
        ("2.5.4.3", UTF8, "Jane Builder"),
    ];
    let expected: Vec<(String, u8, String)> = expected
        .iter()
        .map(|(o, t, v)| (o.to_string(), *t, v.to_string()))
        .collect();
    assert_eq!(attrs, expected);
    // OpenSSL names them too.
    let out = openssl(
        dir.path(),
        &[
            "x509", "-in", "leaf.pem", "-noout", "-subject", "-nameopt", "RFC2253",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    for part in [
        "businessCategory=Private Organization",
        "jurisdictionC=DE",
        "jurisdictionST=Bayern",
        "serialNumber=HRB 123456",
    ] {
        assert!(text.contains(part), "{text} lacks {part}");
    }
    // Without the optional jurisdiction state/locality.
    let mut r = request(p256_spki(), Template::Ev, 30);
    r.subject.jurisdiction_state = None;
    r.subject.jurisdiction_locality = None;
    let der = fx.ca.issue(&r).unwrap();
    let (_, cert) = X509Certificate::from_der(&der).unwrap();
    assert!(cert.subject().to_string().starts_with(
        "businessCategory=Private Organization, msJurisdictionCountry=DE, serialNumber=HRB 123456, C=DE"
    ));
}

#[test]
fn subject_rules_are_refused_before_signing() {
    let fx = fixture("p256");
    let refused = |r: &IssuanceRequest| match fx.ca.issue(r) {
        Err(CaError::InvalidRequest(m)) => m,
        other => panic!("expected InvalidRequest, got {other:?}"),
    };
    // CS BR 7.1.4.2.2: localityName or stateOrProvinceName.
    for template in [Template::Ov, Template::Ev] {
        let mut r = request(p256_spki(), template, 30);
        r.subject.locality = None;
        r.subject.state = None;
        assert!(refused(&r).contains("7.1.4.2.2"));
    }
    // Either one suffices.
    let mut r = request(p256_spki(), Template::Ov, 30);
    r.subject.locality = None;
    fx.ca.issue(&r).unwrap();
    let mut r = request(p256_spki(), Template::Ov, 30);
    r.subject.state = None;
    fx.ca.issue(&r).unwrap();
    // EV: the three required attributes, each named.
    let mut r = request(p256_spki(), Template::Ev, 30);
    r.subject.business_category = None;
    r.subject.registration_number = None;
    let m = refused(&r);
    assert!(
        m.contains("businessCategory")
            && m.contains("serialNumber")
            && !m.contains("jurisdictionCountryName"),
        "{m}"
    );
    let mut r = request(p256_spki(), Template::Ev, 30);
    r.subject.jurisdiction_country = None;
    assert!(refused(&r).contains("jurisdictionCountryName"));
    // OV: no EV attribute.
    let mut r = request(p256_spki(), Template::Ov, 30);
    r.subject.jurisdiction_locality = Some("Berlin".into());
    assert!(refused(&r).contains("jurisdictionLocalityName"));
    // Encodings.
    let mut r = request(p256_spki(), Template::Ev, 30);
    r.subject.jurisdiction_country = Some("Germany".into());
    assert!(refused(&r).contains("jurisdictionCountryName"));
    let mut r = request(p256_spki(), Template::Ev, 30);
    r.subject.registration_number = Some("HRB_123@456".into());
    assert!(refused(&r).contains("PrintableString"));
    let mut r = request(p256_spki(), Template::Ev, 30);
    r.subject.business_category = Some(" ".into());
    assert!(refused(&r).contains("businessCategory"));
}

/// Signs `req`'s profile with a subject built by hand (bypassing the checks
/// in [`profile::subject_dn`]), as a buggy profile would.
fn sign_with_subject(fx: &Fixture, req: &IssuanceRequest, dn: rcgen::DistinguishedName) -> Vec<u8> {
    let key = pubkey::RequestKey::from_spki_der(&req.spki_der).unwrap();
    let mut valid = req.clone();
    valid.subject = match req.template {
        Template::Ov => subject(),
        Template::Ev => ev_subject(),
    };
    let mut p = fx.ca.profiles.params_for(&valid, key.key_bits()).unwrap();
    p.distinguished_name = dn;
    let issuer = rcgen::Issuer::from_params(&fx.ca.issuer_params, &fx.ca.issuing_key);
    p.signed_by(&key, &issuer).unwrap().der().to_vec()
}

#[test]
fn invariant_check_enforces_the_subject_rules() {
    use rcgen::{DnType, DnValue};
    let fx = fixture("p256");
    let exp = fx.ca.expectations(true);
    let custom = |oid: &[u64]| DnType::CustomDnType(oid.to_vec());

    // A certificate without L and ST, for a request without them.
    let mut req = request(p256_spki(), Template::Ov, 30);
    req.subject.locality = None;
    req.subject.state = None;
    req.subject.organizational_unit = None;
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        DnType::CountryName,
        DnValue::PrintableString("DE".try_into().unwrap()),
    );
    dn.push(
        DnType::OrganizationName,
        DnValue::Utf8String(req.subject.organization.clone()),
    );
    dn.push(
        DnType::CommonName,
        DnValue::Utf8String(req.subject.common_name.clone()),
    );
    let der = sign_with_subject(fx, &req, dn.clone());
    assert!(invariant_error(&der, &req, &exp).contains("7.1.4.2.2"));

    // An EV certificate without the EV attributes, for a request without them.
    let mut req = request(p256_spki(), Template::Ev, 30);
    req.subject = SubjectInfo {
        organizational_unit: None,
        state: None,
        ..subject()
    };
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(
        DnType::CountryName,
        DnValue::PrintableString("DE".try_into().unwrap()),
    );
    dn.push(DnType::LocalityName, DnValue::Utf8String("München".into()));
    dn.push(
        DnType::OrganizationName,
        DnValue::Utf8String(req.subject.organization.clone()),
    );
    dn.push(
        DnType::CommonName,
        DnValue::Utf8String(req.subject.common_name.clone()),
    );
    let der = sign_with_subject(fx, &req, dn.clone());
    let m = invariant_error(&der, &req, &exp);
    assert!(
        m.contains("EV certificate subject lacks businessCategory"),
        "{m}"
    );
    // ... with businessCategory and jurisdictionC but no serialNumber.
    req.subject.business_category = Some("Private Organization".into());
    req.subject.jurisdiction_country = Some("DE".into());
    let mut ev_dn = rcgen::DistinguishedName::new();
    ev_dn.push(
        custom(&[2, 5, 4, 15]),
        DnValue::Utf8String("Private Organization".into()),
    );
    ev_dn.push(
        custom(&[1, 3, 6, 1, 4, 1, 311, 60, 2, 1, 3]),
        DnValue::PrintableString("DE".try_into().unwrap()),
    );
    ev_dn.push(
        DnType::CountryName,
        DnValue::PrintableString("DE".try_into().unwrap()),
    );
    ev_dn.push(DnType::LocalityName, DnValue::Utf8String("München".into()));
    ev_dn.push(
        DnType::OrganizationName,
        DnValue::Utf8String(req.subject.organization.clone()),
    );
    ev_dn.push(
        DnType::CommonName,
        DnValue::Utf8String(req.subject.common_name.clone()),
    );
    let der = sign_with_subject(fx, &req, ev_dn.clone());
    let m = invariant_error(&der, &req, &exp);
    assert!(m.contains("lacks serialNumber"), "{m}");

    // An OV certificate carrying EV attributes.
    let mut ov = req.clone();
    ov.template = Template::Ov;
    let der = sign_with_subject(fx, &ov, ev_dn);
    let m = invariant_error(&der, &ov, &exp);
    assert!(m.contains("EV attribute 2.5.4.15"), "{m}");

    // The EV subject of a properly issued EV certificate differs from an EV
    // request without the jurisdiction state: refused as a subject mismatch.
    let ev = request(p256_spki(), Template::Ev, 30);
    let der = fx.ca.issue(&ev).unwrap();
    invariants::check(&der, &ev, &exp, &signed_of(&der)).unwrap();
    let mut r = ev.clone();
    r.subject.jurisdiction_state = None;
    assert!(invariant_error(&der, &r, &exp).contains("differs from the requested subject"));
}

#[test]
fn restart_reuses_the_same_hierarchy() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let clock = crate::clock::system();
    let first = Ca::load_or_create(&ca_dir, &cfg("p256"), &clock).unwrap();
    let second = Ca::load_or_create(&ca_dir, &cfg("p256"), &clock).unwrap();
    assert_eq!(first.issuing_cert_der(), second.issuing_cert_der());
    assert_eq!(first.root_cert_der(), second.root_cert_der());
    // Certificates from the restarted CA chain to the same root.
    let der = second
        .issue(&request(p256_spki(), Template::Ov, 10))
        .unwrap();
    openssl_verify(&first, dir.path(), &der);

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in [hierarchy::ROOT_KEY, hierarchy::ISSUING_KEY] {
            let mode = std::fs::metadata(ca_dir.join(key))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{key}");
        }
    }

    // Another algorithm over an existing CA is a configuration error.
    let err = Ca::load_or_create(&ca_dir, &cfg("p384"), &clock).unwrap_err();
    assert!(
        matches!(&err, CaError::Config(m) if m.contains("ca.algorithm")),
        "{err}"
    );

    // An incomplete directory is reported, not silently replaced.
    std::fs::remove_file(ca_dir.join(hierarchy::ROOT_KEY)).unwrap();
    let err = Ca::load_or_create(&ca_dir, &cfg("p256"), &clock).unwrap_err();
    assert!(
        matches!(&err, CaError::Io(m) if m.contains("root.key.pem")),
        "{err}"
    );
}

#[test]
fn dev_ca_validity_comes_from_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let start = OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap();
    let clock: crate::clock::SharedClock = std::sync::Arc::new(crate::clock::FakeClock::new(start));
    let ca = Ca::load_or_create(dir.path(), &cfg("p256"), &clock).unwrap();
    for (der, years) in [(ca.root_cert_der(), 20), (ca.issuing_cert_der(), 10)] {
        let (_, cert) = X509Certificate::from_der(der).unwrap();
        let nb = cert.validity().not_before.to_datetime();
        let na = cert.validity().not_after.to_datetime();
        assert!(nb <= start && start - nb <= Duration::hours(1));
        let span_years = (na - start).whole_days() / 365;
        assert_eq!(span_years, years);
    }
}

#[test]
fn unknown_algorithm_is_a_config_error_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let err = Ca::load_or_create(dir.path(), &cfg("ed25519"), &crate::clock::system()).unwrap_err();
    assert!(
        matches!(&err, CaError::Config(m) if m.contains("ca.algorithm")),
        "{err}"
    );
    assert!(!dir.path().join(hierarchy::ROOT_CERT).exists());
}

#[test]
fn external_issuer_files_are_loaded() {
    let fx = fixture("p256");
    let ca_dir = fx.dir.path().join("ca");
    let mut c = cfg("p384"); // ignored for an external issuer
    c.issuer_cert_file = Some(ca_dir.join("issuing.pem").display().to_string());
    c.issuer_key_file = Some(ca_dir.join("issuing.key.pem").display().to_string());
    c.root_cert_file = Some(ca_dir.join("root.pem").display().to_string());
    let dir = tempfile::tempdir().unwrap();
    let ext = Ca::load_or_create(dir.path(), &c, &crate::clock::system()).unwrap();
    assert_eq!(ext.issuing_cert_der(), fx.ca.issuing_cert_der());
    assert_eq!(ext.root_cert_der(), fx.ca.root_cert_der());
    assert_eq!(ext.algorithm(), "p256");
    let der = ext.issue(&request(p256_spki(), Template::Ov, 10)).unwrap();
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "no dev CA generated"
    );
    let verify_dir = tempfile::tempdir().unwrap();
    openssl_verify(&fx.ca, verify_dir.path(), &der);

    // Mismatched key.
    c.issuer_key_file = Some(ca_dir.join("root.key.pem").display().to_string());
    let err = Ca::load_or_create(dir.path(), &c, &crate::clock::system()).unwrap_err();
    assert!(
        matches!(&err, CaError::Config(m) if m.contains("does not hold")),
        "{err}"
    );
    // A certificate that is not a CA cannot be the issuer.
    let mut not_ca = c.clone();
    not_ca.issuer_cert_file = Some(ca_dir.join("root.pem").display().to_string());
    not_ca.issuer_key_file = Some(ca_dir.join("root.key.pem").display().to_string());
    // The root is a CA without EKU, policies, CDP or AIA: refused as an
    // issuer, naming every CS BR 7.1.2.2 finding ...
    let err = Ca::load_or_create(dir.path(), &not_ca, &crate::clock::system()).unwrap_err();
    assert!(
        matches!(&err, CaError::Config(m) if m.contains("7.1.2.2")
            && m.contains("extKeyUsage is missing")
            && m.contains("certificatePolicies")
            && m.contains("cRLDistributionPoints")
            && m.contains("authorityInformationAccess")
            && m.contains("ca.allow_nonconforming_issuer")),
        "{err}"
    );
    // ... unless a test setup allows it explicitly.
    not_ca.allow_nonconforming_issuer = true;
    Ca::load_or_create(dir.path(), &not_ca, &crate::clock::system()).unwrap();
    let tls_dir = tempfile::tempdir().unwrap();
    let (chain, key) = fx.ca.tls_server_identity(&["localhost".into()]).unwrap();
    std::fs::write(tls_dir.path().join("tls.pem"), pem_cert(&chain[0])).unwrap();
    let key_pem = ::pem::encode(&::pem::Pem::new("PRIVATE KEY", key.secret_der().to_vec()));
    std::fs::write(tls_dir.path().join("tls.key.pem"), key_pem).unwrap();
    not_ca.issuer_cert_file = Some(tls_dir.path().join("tls.pem").display().to_string());
    not_ca.issuer_key_file = Some(tls_dir.path().join("tls.key.pem").display().to_string());
    let err = Ca::load_or_create(dir.path(), &not_ca, &crate::clock::system()).unwrap_err();
    assert!(
        matches!(&err, CaError::Config(m) if m.contains("not a CA")),
        "{err}"
    );
    // Half-configured.
    c.issuer_key_file = None;
    let err = Ca::load_or_create(dir.path(), &c, &crate::clock::system()).unwrap_err();
    assert!(
        matches!(&err, CaError::Config(m) if m.contains("ca.issuer_key_file")),
        "{err}"
    );
}

#[test]
fn chain_pem_is_leaf_then_issuing() {
    let fx = fixture("p256");
    let der = fx
        .ca
        .issue(&request(p256_spki(), Template::Ov, 10))
        .unwrap();
    let pem = fx.ca.chain_pem(&der);
    let blocks = ::pem::parse_many(&pem).unwrap();
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].contents(), der.as_slice());
    assert_eq!(blocks[1].contents(), fx.ca.issuing_cert_der());
}

#[test]
fn tls_server_identity_verifies_for_server_auth() {
    let fx = fixture("p256");
    let (chain, key) = fx
        .ca
        .tls_server_identity(&["localhost".into(), "127.0.0.1".into()])
        .unwrap();
    assert!(matches!(key, rustls_pki_types::PrivateKeyDer::Pkcs8(_)));
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("root.pem"), fx.ca.root_cert_pem()).unwrap();
    std::fs::write(dir.path().join("issuing.pem"), fx.ca.issuing_cert_pem()).unwrap();
    std::fs::write(
        dir.path().join("tls-ca.pem"),
        fx.ca.tls_ca_cert_pem().unwrap(),
    )
    .unwrap();
    std::fs::write(dir.path().join("server.pem"), pem_cert(&chain[0])).unwrap();
    // CS BR 7.1.2.2: neither the code-signing root nor the issuing CA signed it
    let out = run(tool("openssl").current_dir(dir.path()).args([
        "verify",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "issuing.pem",
        "server.pem",
    ]));
    assert!(
        !out.status.success(),
        "the TLS certificate chains to the code-signing root"
    );
    let out = openssl(
        dir.path(),
        &[
            "verify",
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "localhost",
            "-CAfile",
            "tls-ca.pem",
            "server.pem",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("OK"));
    openssl(
        dir.path(),
        &[
            "verify",
            "-purpose",
            "sslserver",
            "-verify_ip",
            "127.0.0.1",
            "-CAfile",
            "tls-ca.pem",
            "server.pem",
        ],
    );
}

#[test]
fn crl_is_signed_with_number_aki_and_reasons() {
    let fx = fixture("p256");
    let now = OffsetDateTime::now_utc();
    let entries = vec![
        RevokedEntry {
            serial: Serial::random(),
            revoked_at: now - Duration::hours(2),
            reason_code: 1,
            invalidity_date: Some(now - Duration::hours(3)),
        },
        RevokedEntry {
            serial: Serial::random(),
            revoked_at: now - Duration::hours(1),
            reason_code: 0,
            invalidity_date: None,
        },
    ];
    let der = fx
        .ca
        .sign_crl(&entries, 42, now, now + Duration::days(7))
        .unwrap();
    let (_, crl) = x509_parser::revocation_list::CertificateRevocationList::from_der(&der).unwrap();
    let (_, issuing) = X509Certificate::from_der(fx.ca.issuing_cert_der()).unwrap();
    crl.verify_signature(issuing.public_key()).unwrap();
    assert_eq!(crl.issuer().as_raw(), issuing.subject().as_raw());
    assert_eq!(crl.crl_number().unwrap().to_string(), "42");
    let revoked: Vec<_> = crl.iter_revoked_certificates().collect();
    assert_eq!(revoked.len(), 2);
    assert_eq!(revoked[0].raw_serial(), entries[0].serial.0.as_slice());
    assert_eq!(revoked[0].reason_code().map(|r| r.1 .0), Some(1));
    assert!(revoked[1].reason_code().is_none(), "unspecified is omitted");
    let invalid = revoked[0].invalidity_date().expect("invalidityDate").1;
    assert_eq!(
        invalid.timestamp(),
        (now - Duration::hours(3)).unix_timestamp()
    );
    assert!(revoked[1].invalidity_date().is_none());
    let has_aki = crl.extensions().iter().any(|e| {
        matches!(
            e.parsed_extension(),
            ParsedExtension::AuthorityKeyIdentifier(_)
        )
    });
    assert!(has_aki);

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("issuing.pem"), fx.ca.issuing_cert_pem()).unwrap();
    std::fs::write(dir.path().join("crl.der"), &der).unwrap();
    openssl(
        dir.path(),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            "crl.der",
            "-CAfile",
            "issuing.pem",
            "-noout",
        ],
    );

    assert!(matches!(
        fx.ca.sign_crl(
            &[RevokedEntry {
                reason_code: 7,
                ..entries[0].clone()
            }],
            1,
            now,
            now + Duration::days(1)
        ),
        Err(CaError::InvalidRequest(_))
    ));
    assert!(matches!(
        fx.ca.sign_crl(&[], 1, now, now),
        Err(CaError::InvalidRequest(_))
    ));
}

/// A minimal valid PE32 executable (one .text section returning 0).
fn tiny_pe32() -> Vec<u8> {
    const FILE_ALIGN: u32 = 0x200;
    const SECT_ALIGN: u32 = 0x1000;
    let mut f = vec![0u8; 0x80];
    f[0..2].copy_from_slice(b"MZ");
    f[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
    f.extend_from_slice(b"PE\0\0");
    let le16 = |v: &mut Vec<u8>, x: u16| v.extend_from_slice(&x.to_le_bytes());
    let le32 = |v: &mut Vec<u8>, x: u32| v.extend_from_slice(&x.to_le_bytes());
    // COFF header
    le16(&mut f, 0x014c); // i386
    le16(&mut f, 1); // sections
    le32(&mut f, 0); // timestamp
    le32(&mut f, 0);
    le32(&mut f, 0);
    le16(&mut f, 0xe0); // optional header size
    le16(&mut f, 0x0102); // executable, 32-bit
                          // Optional header (PE32)
    let opt_start = f.len();
    le16(&mut f, 0x010b);
    f.extend_from_slice(&[14, 0]); // linker version
    le32(&mut f, FILE_ALIGN); // size of code
    le32(&mut f, 0);
    le32(&mut f, 0);
    le32(&mut f, SECT_ALIGN); // entry point
    le32(&mut f, SECT_ALIGN); // base of code
    le32(&mut f, SECT_ALIGN); // base of data
    le32(&mut f, 0x0040_0000); // image base
    le32(&mut f, SECT_ALIGN);
    le32(&mut f, FILE_ALIGN);
    for v in [6u16, 0, 0, 0, 6, 0] {
        le16(&mut f, v);
    }
    le32(&mut f, 0); // win32 version
    le32(&mut f, 2 * SECT_ALIGN); // size of image
    le32(&mut f, FILE_ALIGN); // size of headers
    le32(&mut f, 0); // checksum
    le16(&mut f, 3); // console subsystem
    le16(&mut f, 0x8540); // dll characteristics
    for v in [0x0010_0000u32, 0x1000, 0x0010_0000, 0x1000, 0, 16] {
        le32(&mut f, v);
    }
    f.extend_from_slice(&[0u8; 16 * 8]); // data directories
    assert_eq!(f.len() - opt_start, 0xe0);
    // Section table
    let code = [0x31u8, 0xc0, 0xc3]; // xor eax,eax; ret
    f.extend_from_slice(b".text\0\0\0");
    for v in [code.len() as u32, SECT_ALIGN, FILE_ALIGN, FILE_ALIGN, 0, 0] {
        le32(&mut f, v);
    }
    le16(&mut f, 0);
    le16(&mut f, 0);
    le32(&mut f, 0x6000_0020);
    f.resize(FILE_ALIGN as usize, 0);
    f.extend_from_slice(&code);
    f.resize(2 * FILE_ALIGN as usize, 0);
    f
}

#[test]
fn osslsigncode_accepts_a_pe_signed_with_an_issued_certificate() {
    let fx = fixture("p384");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let csr = openssl_csr(
        d,
        "signer",
        &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        &[],
    );
    let der = fx
        .ca
        .issue(&request(csr.spki_der, Template::Ev, 365))
        .unwrap();
    std::fs::write(d.join("chain.pem"), fx.ca.chain_pem(&der)).unwrap();
    std::fs::write(d.join("root.pem"), fx.ca.root_cert_pem()).unwrap();
    std::fs::write(d.join("app.exe"), tiny_pe32()).unwrap();
    let sign = |certs: &str, out: &str| {
        run_ok(tool("osslsigncode").current_dir(d).args([
            "sign",
            "-certs",
            certs,
            "-key",
            "signer.key",
            "-n",
            "Signet test",
            "-in",
            "app.exe",
            "-out",
            out,
        ]))
    };
    sign("chain.pem", "signed.exe");
    // The certificate's CRL distribution point is not reachable here: hand
    // osslsigncode the CRL the CA signs instead.
    let now = OffsetDateTime::now_utc();
    let write_crl = |entries: &[RevokedEntry], name: &str| {
        let crl = fx
            .ca
            .sign_crl(entries, 1, now, now + Duration::days(1))
            .unwrap();
        let pem = ::pem::encode(&::pem::Pem::new("X509 CRL", crl));
        std::fs::write(d.join(name), pem).unwrap();
    };
    write_crl(&[], "empty.crl");
    let verify = |file: &str, crl: &str| {
        let out = run(tool("osslsigncode").current_dir(d).args([
            "verify", "-CAfile", "root.pem", "-CRLfile", crl, "-in", file,
        ]));
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.success(), text)
    };
    let (ok, text) = verify("signed.exe", "empty.crl");
    assert!(ok, "osslsigncode verify failed:\n{text}");
    assert!(text.contains("Signature verification: ok"), "{text}");

    // Negative: once the certificate is on the CRL, verification fails.
    let (_, leaf) = X509Certificate::from_der(&der).unwrap();
    let serial = Serial(leaf.raw_serial().try_into().unwrap());
    write_crl(
        &[RevokedEntry {
            serial,
            revoked_at: now - Duration::minutes(1),
            reason_code: 1,
            invalidity_date: None,
        }],
        "revoked.crl",
    );
    let (ok, text) = verify("signed.exe", "revoked.crl");
    assert!(!ok, "a revoked certificate must not verify:\n{text}");

    // Negative: the same key in a serverAuth certificate (no codeSigning EKU) fails.
    let tls = {
        let mut p = rcgen::CertificateParams::new(vec!["signer.example".to_string()]).unwrap();
        p.distinguished_name
            .push(rcgen::DnType::CommonName, "not a code signer");
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        p.not_before = now - Duration::hours(1);
        p.not_after = now + Duration::days(10);
        let spki = std::fs::read(d.join("signer.csr")).unwrap();
        let key = pubkey::RequestKey::from_spki_der(&Csr::parse(&spki).unwrap().spki_der).unwrap();
        let issuer = rcgen::Issuer::from_params(&fx.ca.issuer_params, &fx.ca.issuing_key);
        p.signed_by(&key, &issuer).unwrap().der().to_vec()
    };
    std::fs::write(d.join("tls-chain.pem"), fx.ca.chain_pem(&tls)).unwrap();
    sign("tls-chain.pem", "bad.exe");
    let (ok, text) = verify("bad.exe", "empty.crl");
    assert!(
        !ok,
        "a serverAuth certificate must not verify for code signing:\n{text}"
    );
}

fn venv_tool(name: &str) -> PathBuf {
    let venv = std::env::var("SIGNET_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    let venv = if venv.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(venv)
    } else {
        venv
    };
    let p = venv.join("bin").join(name);
    assert!(
        p.exists(),
        "{} not found: {INSTALL_HINT} (or set SIGNET_TEST_VENV)",
        p.display()
    );
    p
}

#[test]
fn pkilint_reports_no_errors_on_issued_certificates() {
    let lint = venv_tool("lint_pkix_cert");
    let dir = tempfile::tempdir().unwrap();
    for alg in ["p256", "rsa4096"] {
        let fx = fixture(alg);
        let rsa =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
                .unwrap();
        for (name, der) in [
            (
                "leaf-ec.pem",
                fx.ca
                    .issue(&request(p256_spki(), Template::Ov, 365))
                    .unwrap(),
            ),
            (
                "leaf-rsa.pem",
                fx.ca
                    .issue(&request(rsa.subject_public_key_info(), Template::Ev, 460))
                    .unwrap(),
            ),
            ("issuing.pem", fx.ca.issuing_cert_der().to_vec()),
            ("root.pem", fx.ca.root_cert_der().to_vec()),
        ] {
            let path = dir.path().join(format!("{alg}-{name}"));
            std::fs::write(&path, pem_cert(&der)).unwrap();
            let out = run(Command::new(&lint)
                .args([
                    "lint",
                    "-s",
                    "WARNING",
                    "-f",
                    "JSON",
                    "--document-format",
                    "PEM",
                ])
                .arg(&path));
            let text = String::from_utf8_lossy(&out.stdout).to_string();
            let report: serde_json::Value = serde_json::from_str(&text).unwrap_or_else(|e| {
                panic!(
                    "pkilint output for {alg} {name} is not JSON ({e}):\n{text}{}",
                    String::from_utf8_lossy(&out.stderr)
                )
            });
            let results = report["results"].as_array().expect("results array");
            let severe: Vec<&serde_json::Value> = results
                .iter()
                .filter(|r| {
                    r["finding_descriptions"].as_array().is_some_and(|f| {
                        f.iter()
                            .any(|d| d["severity"] == "ERROR" || d["severity"] == "FATAL")
                    })
                })
                .collect();
            assert!(severe.is_empty(), "pkilint on {alg} {name}:\n{text}");
            if !results.is_empty() {
                eprintln!("pkilint warnings on {alg} {name}: {text}");
            }
        }
    }
}

// ---------------------------------------------------------------- template

/// Subscriber public keys of every kind the profile allows (generated once).
pub(super) fn subscriber_spkis() -> &'static [(&'static str, Vec<u8>)] {
    static KEYS: OnceLock<Vec<(&'static str, Vec<u8>)>> = OnceLock::new();
    KEYS.get_or_init(|| {
        let rsa = |size| {
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size)
                .unwrap()
                .subject_public_key_info()
        };
        vec![
            ("P-256", p256_spki()),
            (
                "P-384",
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
                    .unwrap()
                    .subject_public_key_info(),
            ),
            ("RSA-3072", rsa(rcgen::RsaKeySize::_3072)),
            ("RSA-4096", rsa(rcgen::RsaKeySize::_4096)),
        ]
    })
}

/// An email of exactly `len` octets (`len` >= 3).
fn email_of_len(len: usize) -> String {
    let domain = "@example.com";
    if len > domain.len() {
        format!("{}{domain}", "j".repeat(len - domain.len()))
    } else {
        format!("{}@x", "j".repeat(len - 2))
    }
}

/// Subjects that differ in which attributes are present and in how long the
/// values are (UTF8String lengths crossing 127/128, Name lengths crossing 255).
fn subject_spread(template: Template) -> Vec<SubjectInfo> {
    let base = match template {
        Template::Ov => subject(),
        Template::Ev => ev_subject(),
    };
    vec![
        base.clone(),
        SubjectInfo {
            organizational_unit: None,
            locality: None,
            state: Some("Bayern".into()),
            jurisdiction_state: None,
            jurisdiction_locality: None,
            ..base.clone()
        },
        SubjectInfo {
            common_name: "ä".repeat(64),
            organization: "O".repeat(64),
            organizational_unit: Some("u".repeat(64)),
            locality: Some("l".repeat(127)),
            state: Some("s".repeat(128)),
            ..base.clone()
        },
        SubjectInfo {
            locality: Some("ü".repeat(128)),
            state: None,
            jurisdiction_state: base.jurisdiction_state.as_ref().map(|_| "j".repeat(126)),
            ..base
        },
    ]
}

/// (not_before, not_after) pairs: today, whole and fractional seconds, the
/// UTCTime/GeneralizedTime switch at 2050, far future, the 1950 lower bound.
fn validity_spread() -> Vec<(OffsetDateTime, OffsetDateTime)> {
    use time::macros::datetime;
    let now = OffsetDateTime::now_utc();
    vec![
        (
            now,
            now + Duration::days(MAX_VALIDITY_DAYS) - Duration::SECOND,
        ),
        (now - Duration::minutes(5), now + Duration::seconds(1)),
        (
            datetime!(2049-06-30 12:00:00.999 UTC),
            datetime!(2049-12-31 23:59:59 UTC),
        ),
        (
            datetime!(2049-12-31 23:59:59 UTC),
            datetime!(2050-01-01 00:00:00 UTC),
        ),
        (
            datetime!(2050-01-01 00:00:00 UTC),
            datetime!(2051-03-01 07:08:09 UTC),
        ),
        (
            datetime!(9998-12-31 00:00:00 UTC),
            datetime!(9999-12-31 23:59:59 UTC),
        ),
        (
            datetime!(1950-01-01 00:00:00 UTC),
            datetime!(1950-02-01 00:00:00 +02:00),
        ),
    ]
}

fn spread_request(
    spki: &[u8],
    template: Template,
    subject: SubjectInfo,
    email: String,
    (not_before, not_after): (OffsetDateTime, OffsetDateTime),
) -> IssuanceRequest {
    IssuanceRequest {
        serial: Serial::random(),
        subject,
        email,
        spki_der: spki.to_vec(),
        template,
        not_before,
        not_after,
    }
}

/// Asserts the template's TBSCertificate equals rcgen's for `req` and that
/// the certificate assembled from it passes both checks.
fn assert_template_matches_rcgen(ca: &Ca, req: &IssuanceRequest, what: &str) -> usize {
    let (tbs, _) = ca.prepare(req).unwrap_or_else(|e| panic!("{what}: {e}"));
    let reference = ca
        .reference_tbs(req)
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        tbs == reference,
        "{what}: template TBS differs from rcgen\n template {}\n rcgen    {}",
        hex::encode(&tbs),
        hex::encode(&reference)
    );
    tbs.len()
}

/// The template path produces byte-identical TBSCertificates to rcgen (the
/// reference encoder) for each issuer algorithm, each subscriber key type,
/// OV and EV, subjects of several shapes and lengths, every email length
/// from 3 to 255 octets (all DER length boundaries of the SAN), and
/// validities on both sides of the UTCTime/GeneralizedTime switch.
#[test]
fn template_tbs_is_byte_identical_to_rcgen() {
    let mut compared = 0;
    let mut tbs_lengths = std::collections::BTreeSet::new();
    for alg in ["p256", "p384", "rsa4096"] {
        let ca = &fixture(alg).ca;
        for (kind, spki) in subscriber_spkis() {
            for template in [Template::Ov, Template::Ev] {
                let subjects = subject_spread(template);
                let validities = validity_spread();
                // Every email length with the first subject and validity (the
                // cheap issuer and key), a sample otherwise.
                let full = alg == "p256" && *kind == "P-256";
                let lengths: Vec<usize> = if full {
                    (3..=255).collect()
                } else {
                    vec![
                        3, 16, 120, 121, 122, 123, 124, 125, 126, 127, 128, 129, 250, 253, 255,
                    ]
                };
                for len in lengths {
                    let req = spread_request(
                        spki,
                        template,
                        subjects[0].clone(),
                        email_of_len(len),
                        validities[0],
                    );
                    assert_eq!(req.email.len(), len);
                    let what = format!("{alg} issuer, {kind} key, {template:?}, email {len}");
                    tbs_lengths.insert(assert_template_matches_rcgen(ca, &req, &what));
                    compared += 1;
                }
                for (i, subject) in subjects.iter().enumerate() {
                    for (j, validity) in validities.iter().enumerate() {
                        let req = spread_request(
                            spki,
                            template,
                            subject.clone(),
                            email_of_len(20 + 7 * i + j),
                            *validity,
                        );
                        let what = format!(
                            "{alg} issuer, {kind} key, {template:?}, subject {i}, validity {j}"
                        );
                        tbs_lengths.insert(assert_template_matches_rcgen(ca, &req, &what));
                        compared += 1;
                    }
                }
            }
        }
    }
    assert!(compared > 1000, "{compared}");
    // The spread covers TBS lengths from well under to well over 1000 octets.
    assert!(tbs_lengths.first().unwrap() < &800 && tbs_lengths.last().unwrap() > &1200);
}

/// Certificates from the template pass the full re-parse and invariant check
/// and openssl's strict verification, with and without per-certificate
/// re-parse (the release default) for every issuer algorithm.
#[test]
fn template_certificates_pass_the_full_invariant_check() {
    for alg in ["p256", "p384", "rsa4096"] {
        let fx = fixture(alg);
        let exp = fx.ca.expectations(true);
        for (kind, spki) in subscriber_spkis() {
            for template in [Template::Ov, Template::Ev] {
                for (i, validity) in validity_spread().into_iter().take(2).enumerate() {
                    let subject = subject_spread(template)[i].clone();
                    let req = spread_request(spki, template, subject, email_of_len(128), validity);
                    let der = fx
                        .ca
                        .issue_with(&req, false, false)
                        .unwrap_or_else(|e| panic!("{alg} {kind} {template:?}: {e}"));
                    invariants::check(&der, &req, &exp, &signed_of(&der))
                        .unwrap_or_else(|e| panic!("{alg} {kind} {template:?}: {e}"));
                    fx.ca
                        .issue_with(&req, true, true)
                        .unwrap_or_else(|e| panic!("{alg} {kind} {template:?}: {e}"));
                }
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let der = fx
            .ca
            .issue_with(&request(p256_spki(), Template::Ev, 460), false, false)
            .unwrap();
        openssl_verify(&fx.ca, dir.path(), &der);
    }
}

fn fast_check_error(
    ca: &Ca,
    der: &[u8],
    req: &IssuanceRequest,
    signed: &invariants::Signed,
) -> String {
    let (_, ski) = ca.prepare(req).unwrap();
    let issued = invariants::Issued {
        template: ca.template(req.template),
        ski: &ski,
        issuer_not_after: ca.issuer_not_after,
    };
    match invariants::check_issued(der, req, &issued, signed) {
        Err(CaError::Invariant(m)) => m,
        other => panic!("expected an invariant violation, got {other:?}"),
    }
}

/// The per-certificate check refuses certificates whose variable parts are
/// not the request's, whose static parts are not the template's, or whose
/// signature or TBS are not what the key signed.
#[test]
fn per_certificate_check_catches_what_varies() {
    let fx = fixture("p256");
    let ca = &fx.ca;
    let req = request(p256_spki(), Template::Ov, 30);
    let der = ca.issue_with(&req, false, false).unwrap();
    let signed = signed_of(&der);
    {
        let (_, ski) = ca.prepare(&req).unwrap();
        let issued = invariants::Issued {
            template: ca.template(req.template),
            ski: &ski,
            issuer_not_after: ca.issuer_not_after,
        };
        invariants::check_issued(&der, &req, &issued, &signed).unwrap();
    }
    let check = |r: &IssuanceRequest| fast_check_error(ca, &der, r, &signed);

    let mut r = req.clone();
    r.serial = Serial::random();
    assert!(check(&r).contains("serial"));
    let mut r = req.clone();
    r.not_after -= Duration::days(1);
    assert!(check(&r).contains("validity"));
    let mut r = req.clone();
    r.not_before += Duration::seconds(1);
    assert!(check(&r).contains("validity"));
    let mut r = req.clone();
    r.email = "other@example.com".into();
    assert!(check(&r).contains("subjectAltName"));
    let mut r = req.clone();
    r.spki_der = p256_spki();
    let m = check(&r);
    assert!(m.contains("subjectPublicKeyInfo"), "{m}");
    let mut r = req.clone();
    r.subject.organization = "Other".into();
    assert!(check(&r).contains("subject"));
    let mut r = req.clone();
    r.template = Template::Ev;
    r.subject = ev_subject();
    let m = check(&r);
    assert!(
        m.contains("subject") || m.contains("certificatePolicies"),
        "{m}"
    );

    // Not the bytes that were signed, not the signature the key returned.
    let mut other = signed_of(&der);
    other.tbs[40] ^= 1;
    assert!(fast_check_error(ca, &der, &req, &other).contains("TBSCertificate"));
    let mut other = signed_of(&der);
    other.signature[10] ^= 1;
    assert!(fast_check_error(ca, &der, &req, &other).contains("signature value differs"));

    // A certificate from another issuer (same request) is refused.
    let foreign = fixture("p384").ca.issue_with(&req, false, false).unwrap();
    let m = fast_check_error(ca, &foreign, &req, &signed_of(&foreign));
    assert!(m.contains("signature"), "{m}");

    // A template whose static pieces differ (a serverAuth EKU) is refused,
    // and so is a TBS with a broken length.
    let mut bad_template = ca.template(Template::Ov).clone();
    let eku = bad_template
        .middle
        .windows(template::ext_oid::KP_CODE_SIGNING.len())
        .position(|w| w == template::ext_oid::KP_CODE_SIGNING)
        .unwrap();
    bad_template.middle[eku + 7] = 0x01; // id-kp-serverAuth
    let (_, ski) = ca.prepare(&req).unwrap();
    let (nb, na) = profile::checked_validity(&req).unwrap();
    let attrs = profile::subject_attributes(&req.subject).unwrap();
    let variable = template::Variable {
        serial: &req.serial.0,
        not_before: nb,
        not_after: na,
        subject: &attrs,
        spki_der: &req.spki_der,
        email: &req.email,
        ski: &ski,
    };
    let tbs = bad_template.tbs(&variable);
    let signature = ca.sign_raw(&tbs).unwrap();
    let bad = bad_template.certificate(&tbs, &signature);
    let signed_bad = invariants::Signed { tbs, signature };
    let m = fast_check_error(ca, &bad, &req, &signed_bad);
    assert!(m.contains("extKeyUsage"), "{m}");

    let mut tbs = ca.template(Template::Ov).tbs(&variable);
    let spki_at = tbs
        .windows(req.spki_der.len())
        .position(|w| w == req.spki_der.as_slice())
        .unwrap();
    tbs[spki_at + 1] += 1; // the SPKI claims one more octet
    let signature = ca.sign_raw(&tbs).unwrap();
    let bad = ca.template(Template::Ov).certificate(&tbs, &signature);
    let m = fast_check_error(ca, &bad, &req, &invariants::Signed { tbs, signature });
    assert!(
        m.contains("subjectPublicKeyInfo") || m.contains("DER"),
        "{m}"
    );
}

/// Requests the template cannot encode as rcgen would are refused before
/// signing: a serial that is not 16 positive octets without a leading zero.
#[test]
fn serials_that_are_not_16_positive_octets_are_refused() {
    let fx = fixture("p256");
    for first in [0x00u8, 0x80, 0xff] {
        let mut r = request(p256_spki(), Template::Ov, 10);
        r.serial.0[0] = first;
        assert!(
            matches!(fx.ca.issue(&r), Err(CaError::InvalidRequest(m)) if m.contains("serial")),
            "{first:#x}"
        );
    }
}

/// The subject attribute constants (arcs for rcgen, DER octets for the
/// template and the checks) name the attribute types of the profile.
#[test]
fn subject_attribute_oids_are_the_standard_ones() {
    use profile::attr;
    for ((arcs, der), dotted) in [
        (attr::CN, "2.5.4.3"),
        (attr::C, "2.5.4.6"),
        (attr::L, "2.5.4.7"),
        (attr::ST, "2.5.4.8"),
        (attr::O, "2.5.4.10"),
        (attr::OU, "2.5.4.11"),
        (attr::SERIAL_NUMBER, "2.5.4.5"),
        (attr::BUSINESS_CATEGORY, "2.5.4.15"),
        (attr::JURISDICTION_L, "1.3.6.1.4.1.311.60.2.1.1"),
        (attr::JURISDICTION_ST, "1.3.6.1.4.1.311.60.2.1.2"),
        (attr::JURISDICTION_C, "1.3.6.1.4.1.311.60.2.1.3"),
    ] {
        let oid = der::asn1::ObjectIdentifier::new(dotted).unwrap();
        assert_eq!(der, oid.as_bytes(), "{dotted}");
        let arcs: Vec<String> = arcs.iter().map(u64::to_string).collect();
        assert_eq!(arcs.join("."), dotted);
    }
}

/// `ca.verify_signatures` on the fast path: a signature that does not verify
/// with the issuing CA key is refused; without the option it is not looked at
/// (the certificate still carries exactly what the key returned).
#[test]
fn per_certificate_verification_refuses_a_signature_from_another_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut ca = Ca::load_or_create(
        &dir.path().join("ca"),
        &cfg("p256"),
        &crate::clock::system(),
    )
    .unwrap();
    let req = request(p256_spki(), Template::Ov, 30);
    ca.issue_with(&req, false, true).unwrap();
    // Verify with another CA's public key, as if the key had signed wrongly.
    let other = fixture("p256");
    let (_, other_cert) = X509Certificate::from_der(other.ca.issuing_cert_der()).unwrap();
    ca.verify_key = ParsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1,
        &other_cert.public_key().subject_public_key.data,
    )
    .unwrap();
    assert!(matches!(
        ca.issue_with(&req, false, true),
        Err(CaError::Invariant(m)) if m.contains("does not verify")
    ));
    assert!(matches!(
        ca.issue_with(&req, true, true),
        Err(CaError::Invariant(m)) if m.contains("does not verify")
    ));
    ca.issue_with(&req, false, false).unwrap();
}

/// Issue 18.4/19.5: the CA core refuses, before signing, a subject with a
/// metadata-only value, a country that is not ISO 3166-1, a
/// jurisdictionLocalityName without the state, or a spoofing character,
/// whatever the RA handed it (`ca/subject_rules.rs`).
#[test]
fn metadata_countries_jurisdiction_and_spoofing_are_refused_before_signing() {
    let fx = fixture("p256");
    let refused = |r: &IssuanceRequest| match fx.ca.issue(r) {
        Err(CaError::InvalidRequest(m)) => m,
        other => panic!("expected InvalidRequest, got {other:?}"),
    };
    type Edit = fn(&mut IssuanceRequest);
    let cases: [(&str, Edit); 6] = [
        ("localityName", |r| r.subject.locality = Some("-".into())),
        ("organizationalUnitName", |r| {
            r.subject.organizational_unit = Some("N/A".into())
        }),
        ("countryName", |r| r.subject.country = "UK".into()),
        ("organizationName", |r| {
            r.subject.organization = "Acme\u{202E}exe.".into()
        }),
        ("commonName", |r| {
            r.subject.common_name = "\u{0410}cme".into()
        }),
        ("jurisdictionLocalityName", |r| {
            r.subject.jurisdiction_state = None;
            r.subject.jurisdiction_locality = Some("Berlin".into());
        }),
    ];
    for (attr, edit) in cases {
        let template = if attr == "jurisdictionLocalityName" {
            Template::Ev
        } else {
            Template::Ov
        };
        let mut r = request(p256_spki(), template, 30);
        edit(&mut r);
        let m = refused(&r);
        assert!(m.contains(attr), "{attr}: {m}");
    }
    let mut r = request(p256_spki(), Template::Ov, 30);
    r.subject.organization = "Müller GmbH".into();
    r.subject.common_name = "株式会社".into();
    r.subject.country = "XX".into();
    fx.ca.issue(&r).unwrap();
}
