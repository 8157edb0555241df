//! CS BR compliance tests of the CA core (issue 18): no signature by the
//! issuing key at start-up that is not a certificate, the audit-shaped
//! development hierarchy and its root CRL, the check of an operator-supplied
//! issuing CA, policy qualifiers, the audit events of loading, and pkilint
//! over every certificate and CRL of the hierarchy.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use rcgen::PublicKeyData as _;
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::revocation_list::CertificateRevocationList;

use super::*;

/// A development CA configured with public URLs, as in production.
fn public_cfg(alg: &str) -> CaConfig {
    CaConfig {
        algorithm: alg.into(),
        crl_url: "http://pki.example.com/crl/issuing.crl".into(),
        issuer_url: "http://pki.example.com/ca/issuing.crt".into(),
        ..CaConfig::default()
    }
}

fn subject(ev: bool) -> SubjectInfo {
    SubjectInfo {
        common_name: "Example Widgets GmbH".into(),
        organization: "Example Widgets GmbH".into(),
        organizational_unit: Some("Release Engineering".into()),
        locality: Some("Berlin".into()),
        state: Some("Berlin".into()),
        country: "DE".into(),
        business_category: ev.then(|| "Private Organization".into()),
        jurisdiction_country: ev.then(|| "DE".into()),
        jurisdiction_state: ev.then(|| "Berlin".into()),
        jurisdiction_locality: ev.then(|| "Berlin".into()),
        registration_number: ev.then(|| "HRB 123456".into()),
    }
}

fn request(spki_der: Vec<u8>, template: Template) -> IssuanceRequest {
    let now = OffsetDateTime::now_utc();
    IssuanceRequest {
        serial: Serial::random(),
        subject: subject(template == Template::Ev),
        email: "jane@example.com".into(),
        spki_der,
        template,
        not_before: now,
        not_after: now + Duration::days(MAX_VALIDITY_DAYS) - Duration::SECOND,
    }
}

fn p256_spki() -> Vec<u8> {
    rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .subject_public_key_info()
}

fn ext_uris(cert: &X509Certificate<'_>) -> (Vec<String>, Vec<String>, Vec<String>) {
    let (mut policies, mut cdp, mut aia) = (Vec::new(), Vec::new(), Vec::new());
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CertificatePolicies(p) => {
                policies.extend(p.iter().map(|p| p.policy_id.to_id_string()))
            }
            ParsedExtension::CRLDistributionPoints(points) => {
                for dp in &points.points {
                    if let Some(DistributionPointName::FullName(names)) = &dp.distribution_point {
                        for n in names {
                            if let GeneralName::URI(u) = n {
                                cdp.push(u.to_string());
                            }
                        }
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(a) => {
                for d in &a.accessdescs {
                    if let GeneralName::URI(u) = &d.access_location {
                        aia.push(u.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    (policies, cdp, aia)
}

/// CS BR 3.2, 5.4.1.1, 7.1.4.2: the start-up self-test signs no certificate
/// with the issuing key, only one fixed message, and the TLS listener's
/// certificate comes from the separate TLS CA. Before issue 18 the self-test
/// signed four times (an OV and an EV certificate, each also through the
/// reference encoder), and an external issuing CA signed the listener's.
#[test]
fn start_up_signs_no_certificate_with_the_issuing_key() {
    let dir = tempfile::tempdir().unwrap();
    let ca_dir = dir.path().join("ca");
    let ca = Ca::load_or_create(&ca_dir, &public_cfg("p256"), &crate::clock::system()).unwrap();
    assert_eq!(ca.issuing_key_signatures(), 1, "only the key-check message");
    ca.tls_server_identity(&["localhost".into()]).unwrap();
    assert_eq!(
        ca.issuing_key_signatures(),
        1,
        "the TLS CA signs the listener's"
    );
    ca.root_crl().unwrap().unwrap();
    assert_eq!(
        ca.issuing_key_signatures(),
        1,
        "the root signs the root CRL"
    );
    ca.issue(&request(p256_spki(), Template::Ov)).unwrap();
    assert_eq!(ca.issuing_key_signatures(), 2, "one per issued certificate");

    // An operator-supplied issuing CA (here: the conforming dev one) neither
    // signs at start-up beyond the check nor signs a TLS certificate.
    let mut ext = public_cfg("p256");
    ext.issuer_cert_file = Some(ca_dir.join("issuing.pem").display().to_string());
    ext.issuer_key_file = Some(ca_dir.join("issuing.key.pem").display().to_string());
    ext.root_cert_file = Some(ca_dir.join("root.pem").display().to_string());
    let other = tempfile::tempdir().unwrap();
    let external = Ca::load_or_create(other.path(), &ext, &crate::clock::system()).unwrap();
    assert_eq!(external.issuing_key_signatures(), 1);
    let err = external
        .tls_server_identity(&["localhost".into()])
        .unwrap_err();
    assert!(err.to_string().contains("server.tls_cert_file"), "{err}");
    assert_eq!(external.issuing_key_signatures(), 1);
    assert!(external.tls_ca_cert_pem().is_none());
    assert!(external.sign_raw(b"anything").is_err());
    assert!(external.root_crl().unwrap().is_none());
}

/// CS BR 7.1.2.2: the development issuing CA carries the reserved policies,
/// a CDP to the root CRL and an AIA to the root certificate, and passes the
/// same check an operator-supplied issuing CA must pass.
#[test]
fn development_issuing_ca_is_audit_shaped() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path(), &public_cfg("p384"), &crate::clock::system()).unwrap();
    let (_, issuing) = X509Certificate::from_der(ca.issuing_cert_der()).unwrap();
    let (policies, cdp, aia) = ext_uris(&issuing);
    assert_eq!(policies, ["2.23.140.1.4.1", "2.23.140.1.3"]);
    assert_eq!(cdp, ["http://pki.example.com/crl/root.crl"]);
    assert_eq!(aia, ["http://pki.example.com/ca/root.crt"]);
    assert!(issuer_profile::profile_findings(&issuing).is_empty());
    let eku = issuing.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.code_signing && !eku.server_auth && !eku.time_stamping && !eku.any);
    // the root: a CA certificate without EKU or policies
    let (_, root) = X509Certificate::from_der(ca.root_cert_der()).unwrap();
    assert!(root.extended_key_usage().unwrap().is_none());
    assert!(ext_uris(&root).0.is_empty());
}

/// CS BR 4.9.7: the root publishes a CRL, nextUpdate at most twelve months
/// ahead, re-issued with the next number when due and kept across restarts.
#[test]
fn root_crl_is_published_yearly() {
    let dir = tempfile::tempdir().unwrap();
    let start = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let fake = Arc::new(crate::clock::FakeClock::new(start));
    let clock: crate::clock::SharedClock = fake.clone();
    let ca = Ca::load_or_create(dir.path(), &public_cfg("p256"), &clock).unwrap();
    let root_der = ca.root_cert_der().to_vec();
    let (_, root) = X509Certificate::from_der(&root_der).unwrap();
    let check = |der: &[u8], number: u64| {
        let (_, crl) = CertificateRevocationList::from_der(der).unwrap();
        crl.verify_signature(root.public_key()).unwrap();
        assert_eq!(crl.issuer().as_raw(), root.subject().as_raw());
        assert_eq!(crl.iter_revoked_certificates().count(), 0);
        let (this, next) = (
            crl.last_update().to_datetime(),
            crl.next_update().unwrap().to_datetime(),
        );
        assert!(next - this <= Duration::days(365), "{this} .. {next}");
        assert_eq!(
            crl.crl_number().unwrap().to_bytes_be(),
            number.to_be_bytes()[7..].to_vec()
        );
        this
    };
    let first = ca.root_crl().unwrap().unwrap();
    assert_eq!(check(&first, 1), start);
    assert_eq!(std::fs::read(dir.path().join("root.crl")).unwrap(), first);
    // a restart keeps the CRL
    drop(ca);
    let ca = Ca::load_or_create(dir.path(), &public_cfg("p256"), &clock).unwrap();
    assert_eq!(ca.root_crl().unwrap().unwrap(), first);
    // 30 days before nextUpdate it is re-issued
    fake.advance(Duration::days(336));
    let second = ca.root_crl().unwrap().unwrap();
    assert_eq!(check(&second, 2), start + Duration::days(336));
}

/// A CA certificate signed by the fixture's root with `eku` and, unless
/// `bare`, the CS BR 7.1.2.2 extensions; written as PEM with its key.
fn external_issuer(
    dir: &Path,
    ca: &Ca,
    eku: Vec<rcgen::ExtendedKeyUsagePurpose>,
    bare: bool,
) -> CaConfig {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = rcgen::CertificateParams::default();
    p.distinguished_name = dev_hierarchy::ca_name("Operator", "Operator Code Signing CA");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    p.extended_key_usages = eku;
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&Serial::random().0));
    p.not_before = OffsetDateTime::now_utc() - Duration::hours(1);
    p.not_after = OffsetDateTime::now_utc() + Duration::days(1000);
    if !bare {
        p.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
            uris: vec!["http://pki.example.com/crl/root.crl".into()],
        }];
        p.custom_extensions = vec![
            rcgen::CustomExtension::from_oid_content(
                profile::oids::AIA,
                profile::aia_value("http://pki.example.com/ca/root.crt").unwrap(),
            ),
            rcgen::CustomExtension::from_oid_content(
                profile::oids::CERTIFICATE_POLICIES,
                profile::policies_value(&[profile::oids::POLICY_OV], &CaConfig::default()).unwrap(),
            ),
        ];
    }
    let root_key = ca.root_key.as_ref().unwrap();
    let issuer = rcgen::Issuer::from_params(ca.root_issuer_params.as_ref().unwrap(), root_key);
    let cert = p.signed_by(&key, &issuer).unwrap();
    std::fs::write(dir.join("op.pem"), cert.pem()).unwrap();
    std::fs::write(dir.join("op.key.pem"), key.serialize_pem()).unwrap();
    CaConfig {
        issuer_cert_file: Some(dir.join("op.pem").display().to_string()),
        issuer_key_file: Some(dir.join("op.key.pem").display().to_string()),
        ..public_cfg("p256")
    }
}

/// CS BR 7.1.2.2 g: an operator-supplied issuing CA whose EKU also allows
/// serverAuth (or timeStamping, anyEKU), or that lacks the policies, CDP and
/// AIA, is refused at start with a message naming what is wrong; the
/// documented override starts it anyway.
#[test]
fn nonconforming_operator_issuing_ca_is_refused_at_start() {
    use rcgen::ExtendedKeyUsagePurpose as Eku;
    let dir = tempfile::tempdir().unwrap();
    let dev = Ca::load_or_create(
        &dir.path().join("ca"),
        &public_cfg("p256"),
        &crate::clock::system(),
    )
    .unwrap();
    let empty = tempfile::tempdir().unwrap();
    let load = |c: &CaConfig| Ca::load_or_create(empty.path(), c, &crate::clock::system());
    // conforming: starts
    load(&external_issuer(
        dir.path(),
        &dev,
        vec![Eku::CodeSigning],
        false,
    ))
    .unwrap();
    for (eku, name) in [
        (vec![Eku::CodeSigning, Eku::ServerAuth], "serverAuth"),
        (vec![Eku::CodeSigning, Eku::TimeStamping], "timeStamping"),
        (vec![Eku::CodeSigning, Eku::Any], "anyExtendedKeyUsage"),
    ] {
        let mut c = external_issuer(dir.path(), &dev, eku, false);
        let err = load(&c).unwrap_err().to_string();
        assert!(
            err.contains(&format!("extKeyUsage includes {name}")) && err.contains("7.1.2.2"),
            "{err}"
        );
        c.allow_nonconforming_issuer = true;
        load(&c).unwrap();
    }
    let bare = external_issuer(dir.path(), &dev, vec![Eku::CodeSigning], true);
    let err = load(&bare).unwrap_err().to_string();
    for finding in [
        "certificatePolicies",
        "cRLDistributionPoints",
        "authorityInformationAccess",
    ] {
        assert!(err.contains(finding), "{err}");
    }
}

/// CS BR 7.1.2.3 a, 7.1.6.4: `ca.policy_oid` follows the reserved OID, with
/// `ca.cps_uri` as its CPS qualifier, in leaves and the dev issuing CA.
#[test]
fn configured_policy_and_cps_follow_the_reserved_oid() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = CaConfig {
        policy_oid: Some("1.3.6.1.4.1.55555.1.1".into()),
        cps_uri: Some("https://pki.example.com/cps".into()),
        ..public_cfg("p256")
    };
    let ca = Ca::load_or_create(dir.path(), &cfg, &crate::clock::system()).unwrap();
    for template in [Template::Ov, Template::Ev] {
        // debug builds re-parse and check every invariant, the policies included
        let der = ca.issue(&request(p256_spki(), template)).unwrap();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let policies = cert
            .extensions()
            .iter()
            .find_map(|e| match e.parsed_extension() {
                ParsedExtension::CertificatePolicies(p) => Some(p.clone()),
                _ => None,
            })
            .unwrap();
        let ids: Vec<String> = policies
            .iter()
            .map(|p| p.policy_id.to_id_string())
            .collect();
        assert_eq!(ids, [template.policy_oid(), "1.3.6.1.4.1.55555.1.1"]);
        assert!(policies[0].policy_qualifiers.is_none());
        let q = policies[1].policy_qualifiers.as_ref().unwrap();
        assert_eq!(q.len(), 1);
        assert_eq!(q[0].policy_qualifier_id.to_id_string(), "1.3.6.1.5.5.7.2.1");
        assert!(String::from_utf8_lossy(q[0].qualifier).contains("https://pki.example.com/cps"));
    }
    let (_, issuing) = X509Certificate::from_der(ca.issuing_cert_der()).unwrap();
    assert_eq!(
        ext_uris(&issuing).0,
        ["2.23.140.1.4.1", "2.23.140.1.3", "1.3.6.1.4.1.55555.1.1"]
    );
    // a CPS without the CA's own policy OID, and a reserved OID, are refused
    let other = tempfile::tempdir().unwrap();
    for bad in [
        CaConfig {
            cps_uri: Some("https://pki.example.com/cps".into()),
            ..public_cfg("p256")
        },
        CaConfig {
            policy_oid: Some("2.23.140.1.3".into()),
            ..public_cfg("p256")
        },
    ] {
        let err = Ca::load_or_create(other.path(), &bad, &crate::clock::system()).unwrap_err();
        assert!(err.to_string().contains("ca.policy_oid"), "{err}");
    }
}

/// CS BR 5.4.1.1: CA key generation and CA certificate loading are audit
/// events the server records at start-up.
#[test]
fn key_generation_and_certificate_loading_are_reported_for_the_audit_log() {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::load_or_create(dir.path(), &public_cfg("p256"), &crate::clock::system()).unwrap();
    let summary = |ca: &Ca| -> Vec<(String, String)> {
        ca.startup_events()
            .iter()
            .map(|e| {
                (
                    e.action.to_string(),
                    e.details["role"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    let generated: Vec<_> = summary(&ca)
        .into_iter()
        .filter(|(a, _)| a == "ca.key.generate")
        .map(|(_, r)| r)
        .collect();
    assert_eq!(
        generated,
        [
            "development root",
            "development issuing CA",
            "development TLS CA"
        ]
    );
    let loaded: Vec<_> = summary(&ca)
        .into_iter()
        .filter(|(a, _)| a == "ca.certificate.load")
        .map(|(_, r)| r)
        .collect();
    assert_eq!(
        loaded,
        [
            "development root",
            "development issuing CA",
            "development TLS CA"
        ]
    );
    let issuing = ca
        .startup_events()
        .iter()
        .find(|e| {
            e.action == "ca.certificate.load" && e.details["role"] == "development issuing CA"
        })
        .unwrap();
    assert_eq!(
        issuing.details["sha256"],
        hex::encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            ca.issuing_cert_der()
        ))
    );
    drop(ca);
    let again =
        Ca::load_or_create(dir.path(), &public_cfg("p256"), &crate::clock::system()).unwrap();
    assert!(summary(&again)
        .iter()
        .all(|(a, _)| a == "ca.certificate.load"));
    assert_eq!(summary(&again).len(), 3);
}

fn venv_tool(name: &str) -> std::path::PathBuf {
    let venv = std::env::var("SIGNET_TEST_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv"));
    let venv = if venv.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(venv)
    } else {
        venv
    };
    let p = venv.join("bin").join(name);
    assert!(
        p.exists(),
        "{} not found: run scripts/install-test-deps (or set SIGNET_TEST_VENV)",
        p.display()
    );
    p
}

/// Runs a pkilint linter on `files` and fails on any ERROR or FATAL finding.
fn pkilint_files(tool: &str, args: &[&str], files: &[&Path]) {
    let out = Command::new(venv_tool(tool))
        .args(args)
        .args(["-s", "ERROR", "--document-format", "DER"])
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let report =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !report.contains("ERROR") && !report.contains("FATAL"),
        "{tool} {args:?} on {files:?}:\n{report}"
    );
}

fn pkilint(tool: &str, args: &[&str], file: &Path) {
    pkilint_files(tool, args, &[file]);
}

/// pkilint on everything of the development hierarchy configured with public
/// URLs: the root, the issuing CA, leaves of every key type under both
/// templates (lint_pkix_cert, and lint_pkix_signer_signee_cert_chain for
/// root -> issuing CA -> leaf; pkilint has no code-signing linter, the CS BR
/// profile itself is checked by `invariants`), the issuing CA's CRL and the
/// root CRL (lint_crl with the PKIX and the BR profile).
#[test]
fn pkilint_finds_no_error_in_the_development_hierarchy() {
    // every key type the profile allows, generated once for the test binary
    let keys = super::tests::subscriber_spkis();
    let out = tempfile::tempdir().unwrap();
    for alg in ["p256", "p384", "rsa4096"] {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::load_or_create(dir.path(), &public_cfg(alg), &crate::clock::system()).unwrap();
        let write = |name: &str, der: &[u8]| {
            let path = out.path().join(format!("{alg}-{name}.der"));
            std::fs::write(&path, der).unwrap();
            path
        };
        let cert_args = ["lint"];
        let root = write("root", ca.root_cert_der());
        let issuing = write("issuing", ca.issuing_cert_der());
        pkilint("lint_pkix_cert", &cert_args, &root);
        pkilint("lint_pkix_cert", &cert_args, &issuing);
        let chain = "lint_pkix_signer_signee_cert_chain";
        pkilint_files(chain, &cert_args, &[&root, &issuing]);
        for (kind, spki) in keys {
            for template in [Template::Ov, Template::Ev] {
                let der = ca.issue(&request(spki.clone(), template)).unwrap();
                let leaf = write(&format!("leaf-{kind}-{template:?}"), &der);
                pkilint("lint_pkix_cert", &cert_args, &leaf);
                pkilint_files(chain, &cert_args, &[&issuing, &leaf]);
            }
        }
        let now = OffsetDateTime::now_utc();
        let crl = ca
            .sign_crl(
                &[RevokedEntry {
                    serial: Serial::random(),
                    revoked_at: now - Duration::hours(1),
                    reason_code: 1,
                    invalidity_date: Some(now - Duration::days(1)),
                }],
                7,
                now,
                now + Duration::days(7),
            )
            .unwrap();
        let crl_path = write("issuing-crl", &crl);
        let root_crl_path = write("root-crl", &ca.root_crl().unwrap().unwrap());
        for profile in ["PKIX", "BR"] {
            pkilint("lint_crl", &["lint", "-t", "CRL", "-p", profile], &crl_path);
            pkilint(
                "lint_crl",
                &["lint", "-t", "ARL", "-p", profile],
                &root_crl_path,
            );
        }
    }
}
