//! RA policy tests on a temporary store, a fake clock, a real development CA
//! and an outbox mailer.

use std::sync::{Arc, OnceLock};

use rcgen::{CertificateParams, KeyPair};
use time::{Duration, OffsetDateTime};

use super::*;
use crate::ca::{CaConfig, Template};
use crate::clock::{Clock, FakeClock};
use crate::ra::attestation::AttestationPolicy;
use crate::storage::model::RequestStatus;

struct Env {
    _dir: tempfile::TempDir,
    ra: Ra,
    clock: Arc<FakeClock>,
    outbox: std::path::PathBuf,
}

fn start() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap()
}

fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(FakeClock::new(start()));
    let shared: SharedClock = clock.clone();
    let cfg = CaConfig {
        algorithm: "p256".into(),
        crl_url: "http://pki.example.test/crl/issuing.crl".into(),
        issuer_url: "http://pki.example.test/ca/issuing.cer".into(),
        ..CaConfig::default()
    };
    let ca = Arc::new(Ca::load_or_create(&dir.path().join("ca"), &cfg, &shared).unwrap());
    let outbox = dir.path().join("outbox");
    let mailer = Mailer::outbox(&outbox, "signet@example.test", shared.clone()).unwrap();
    let settings = RaSettings {
        invitation_ttl_days: 14,
        acme_directory_url: "https://signet.example.test/acme/directory".into(),
        est_url: "https://signet.example.test/.well-known/est".into(),
        admin_emails: vec!["pki-admin@example.test".into()],
    };
    let ra = Ra::new(Store::temporary().unwrap(), ca, mailer, shared, settings);
    Env {
        _dir: dir,
        ra,
        clock,
        outbox,
    }
}

/// Organization "Acme Corp" (Berlin, DE), department "Release", profile "cs"
/// (OV, 365/460 days, RSA-3072 + P-256, no attestation), endpoint, account.
fn directory(ra: &Ra, approval: bool, attestation_required: bool) {
    ra.create_organization(
        &NewOrganization {
            name: "Acme Corp".into(),
            street: Some("Hauptstr. 1".into()),
            city: Some("Berlin".into()),
            state: Some("Berlin".into()),
            postal_code: Some("10115".into()),
            country: "de".into(),
            validation: None,
            ..Default::default()
        },
        "t",
    )
    .unwrap();
    ra.create_department(
        &NewDepartment {
            organization: "Acme Corp".into(),
            name: "Release".into(),
        },
        "t",
    )
    .unwrap();
    ra.create_profile(
        &NewProfile {
            name: "cs".into(),
            template: Template::Ov,
            terms_days: vec![365, 460],
            key_types: vec!["rsa-3072".into(), "ecdsa-p256".into()],
            requires_approval: approval,
            attestation: Some(AttestationPolicy {
                required: attestation_required,
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
            department: Some("Release".into()),
            profiles: vec!["cs".into()],
            auto_approve: true,
        },
        "t",
    )
    .unwrap();
}

fn p256_csr_pem() -> String {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    CertificateParams::new(vec!["ignored.example".into()])
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap()
}

fn rsa_key(bits: u32) -> KeyPair {
    static K2048: OnceLock<String> = OnceLock::new();
    static K3072: OnceLock<String> = OnceLock::new();
    let cell = if bits == 2048 { &K2048 } else { &K3072 };
    let pem = cell.get_or_init(|| {
        let size = if bits == 2048 {
            aws_lc_rs::rsa::KeySize::Rsa2048
        } else {
            aws_lc_rs::rsa::KeySize::Rsa3072
        };
        let kp = aws_lc_rs::rsa::KeyPair::generate(size).unwrap();
        use aws_lc_rs::encoding::AsDer;
        let der = kp.as_der().unwrap();
        pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()))
    });
    KeyPair::from_pem_and_sign_algo(pem, &rcgen::PKCS_RSA_SHA256).unwrap()
}

fn rsa_csr_pem(bits: u32) -> String {
    let key = rsa_key(bits);
    CertificateParams::new(vec![])
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap()
}

fn request(csr: String, term: Option<u32>) -> EnrollmentRequest {
    EnrollmentRequest {
        account: "release".into(),
        profile: None,
        email: "dev@acme.example".into(),
        csr: csr.into_bytes(),
        term_days: term,
        attestation: None,
        requester: "admin".into(),
        link: Default::default(),
        request_id: None,
        renews: None,
    }
}

fn issued(o: EnrollmentOutcome) -> crate::storage::model::CertificateRecord {
    match o {
        EnrollmentOutcome::Issued(c) => c,
        EnrollmentOutcome::Pending(r) => panic!("expected issuance, got pending {r:?}"),
    }
}

#[test]
fn invitation_is_stored_and_mailed_with_credentials() {
    let e = env();
    directory(&e.ra, false, false);
    let inv =
        e.ra.create_invitation(
            &NewInvitation {
                email: "Dev@Acme.Example".into(),
                account: "release".into(),
                profile: Some("cs".into()),
                ttl_days: None,
            },
            "admin",
        )
        .unwrap();
    assert_eq!(inv.email, "Dev@acme.example");
    assert_eq!(inv.expires, start() + Duration::days(14));
    use base64::Engine;
    let key = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&inv.hmac_key)
        .unwrap();
    assert_eq!(key.len(), 32, "HMAC key is 256 bits");
    let mails = crate::mail::outbox_messages(&e.outbox).unwrap();
    assert_eq!(mails.len(), 1);
    let text = std::fs::read_to_string(&mails[0]).unwrap();
    assert!(text.contains("To: Dev@acme.example"), "{text}");
    for needle in [&inv.kid, &inv.hmac_key, &inv.directory] {
        assert!(text.contains(needle.as_str()), "mail lacks {needle}");
    }
    e.clock.advance(Duration::days(15));
    assert_eq!(
        e.ra.invitation(&inv.kid).unwrap().status(e.clock.now()),
        "expired"
    );
}

#[test]
fn bad_invitation_inputs_name_the_field() {
    let e = env();
    directory(&e.ra, false, false);
    let err =
        e.ra.create_invitation(
            &NewInvitation {
                email: "not an address".into(),
                account: "release".into(),
                profile: None,
                ttl_days: None,
            },
            "admin",
        )
        .unwrap_err();
    assert!(
        matches!(err, RaError::Invalid { ref field, .. } if field == "email"),
        "{err}"
    );
    let err =
        e.ra.create_invitation(
            &NewInvitation {
                email: "a@b.example".into(),
                account: "nope".into(),
                profile: None,
                ttl_days: None,
            },
            "admin",
        )
        .unwrap_err();
    assert!(
        matches!(err, RaError::Invalid { ref field, .. } if field == "account"),
        "{err}"
    );
}

#[test]
fn profile_terms_above_the_br_maximum_are_refused() {
    let e = env();
    let err =
        e.ra.create_profile(
            &NewProfile {
                name: "long".into(),
                template: Template::Ov,
                terms_days: vec![461],
                key_types: vec!["ecdsa-p256".into()],
                requires_approval: false,
                attestation: None,
            },
            "t",
        )
        .unwrap_err();
    assert!(matches!(err, RaError::Invalid { ref field, .. } if field == "terms_days"));
}

#[test]
fn p256_and_rsa3072_csrs_are_issued_and_durable() {
    let e = env();
    directory(&e.ra, false, false);
    for csr in [p256_csr_pem(), rsa_csr_pem(3072)] {
        let c = issued(e.ra.enroll(&request(csr.clone(), Some(365))).unwrap());
        assert_eq!(
            c.subject,
            "CN=Acme Corp, OU=Release, O=Acme Corp, L=Berlin, ST=Berlin, C=DE"
        );
        // inclusive validity (CS BR 1.6.1): the 365-day term ends 1 s early
        assert_eq!(
            c.not_after - c.not_before,
            Duration::days(365) - Duration::SECOND
        );
        let stored = e.ra.certificate(&c.serial).unwrap();
        assert_eq!(stored, c);
        assert!(e.ra.store().serial_reserved(&c.serial).unwrap());
        let parsed = crate::csr::Csr::parse(csr.as_bytes()).unwrap();
        let der = c.der_bytes();
        let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
        assert_eq!(x509.public_key().raw, parsed.spki_der.as_slice());
    }
    let actions: Vec<String> =
        e.ra.store()
            .audit_records()
            .unwrap()
            .into_iter()
            .map(|r| r.action)
            .collect();
    assert_eq!(
        actions.iter().filter(|a| *a == "certificate.issue").count(),
        2
    );
}

fn assert_nothing_stored(ra: &Ra) {
    assert!(ra.store().list_certificates().unwrap().is_empty());
    assert!(ra.store().list_requests().unwrap().is_empty());
}

#[test]
fn weak_and_broken_csrs_are_refused_and_nothing_is_stored() {
    let e = env();
    directory(&e.ra, false, false);
    let err = e.ra.enroll(&request(rsa_csr_pem(2048), None)).unwrap_err();
    assert!(
        matches!(err, RaError::BadPublicKey(ref m) if m.contains("2048")),
        "{err}"
    );

    let p384 = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
    let csr = CertificateParams::new(vec![])
        .unwrap()
        .serialize_request(&p384)
        .unwrap();
    let err = e.ra.enroll(&request(csr.pem().unwrap(), None)).unwrap_err();
    assert!(
        matches!(err, RaError::BadPublicKey(ref m) if m.contains("ecdsa-p384")),
        "{err}"
    );

    let mut der = CertificateParams::new(vec![])
        .unwrap()
        .serialize_request(&KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap())
        .unwrap()
        .der()
        .to_vec();
    let n = der.len();
    der[n - 3] ^= 0x55;
    let mut r = request(String::new(), None);
    r.csr = der;
    let err = e.ra.enroll(&r).unwrap_err();
    assert!(matches!(err, RaError::BadCsr(_)), "{err}");

    r.csr = b"garbage".to_vec();
    assert!(matches!(e.ra.enroll(&r).unwrap_err(), RaError::BadCsr(_)));

    let err =
        e.ra.enroll(&request(p256_csr_pem(), Some(461)))
            .unwrap_err();
    assert!(
        matches!(err, RaError::Policy(ref m) if m.contains("460")),
        "{err}"
    );
    let _ = e.ra.enroll(&request(p256_csr_pem(), Some(460)));
    // 460 is within the profile (365, 460): that one is issued; nothing else was
    assert_eq!(e.ra.store().list_certificates().unwrap().len(), 1);
}

#[test]
fn refusals_store_nothing() {
    let e = env();
    directory(&e.ra, false, false);
    let _ = e.ra.enroll(&request(rsa_csr_pem(2048), None)).unwrap_err();
    let _ =
        e.ra.enroll(&request(p256_csr_pem(), Some(461)))
            .unwrap_err();
    assert_nothing_stored(&e.ra);
}

#[test]
fn term_above_profile_is_refused() {
    let e = env();
    directory(&e.ra, false, false);
    e.ra.create_profile(
        &NewProfile {
            name: "short".into(),
            template: Template::Ov,
            terms_days: vec![90],
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
    e.ra.create_account(
        &NewAccount {
            name: "short".into(),
            endpoint: "builds".into(),
            organization: "Acme Corp".into(),
            department: None,
            profiles: vec!["short".into()],
            auto_approve: true,
        },
        "t",
    )
    .unwrap();
    let mut r = request(p256_csr_pem(), Some(91));
    r.account = "short".into();
    let err = e.ra.enroll(&r).unwrap_err();
    assert!(
        matches!(err, RaError::Policy(ref m) if m.contains("maximum of 90")),
        "{err}"
    );
    assert_nothing_stored(&e.ra);
}

#[test]
fn approval_parks_the_request() {
    let e = env();
    directory(&e.ra, true, false);
    match e.ra.enroll(&request(p256_csr_pem(), None)).unwrap() {
        EnrollmentOutcome::Pending(r) => assert_eq!(r.status, RequestStatus::Applied),
        other => panic!("expected pending, got {other:?}"),
    }
    assert!(e.ra.store().list_certificates().unwrap().is_empty());
}

#[test]
fn required_attestation_without_evidence_is_refused() {
    let e = env();
    directory(&e.ra, false, true);
    let err = e.ra.enroll(&request(p256_csr_pem(), None)).unwrap_err();
    assert!(matches!(err, RaError::BadAttestation(_)), "{err}");
    assert_nothing_stored(&e.ra);
}

#[test]
fn key_compromise_blocks_the_key_and_revocation_is_single() {
    let e = env();
    directory(&e.ra, false, false);
    let csr = p256_csr_pem();
    let c = issued(e.ra.enroll(&request(csr.clone(), None)).unwrap());
    let r =
        e.ra.revoke(&c.serial, revoke::KEY_COMPROMISE, "admin")
            .unwrap();
    assert_eq!(r.revocation.unwrap().reason_code, 1);
    assert!(matches!(
        e.ra.revoke(&c.serial, 0, "admin").unwrap_err(),
        RaError::AlreadyRevoked
    ));
    let err = e.ra.enroll(&request(csr, None)).unwrap_err();
    assert!(
        matches!(err, RaError::BadPublicKey(ref m) if m.contains("compromised")),
        "{err}"
    );
}

/// CS BR 6.3.2 with 1.6.1: the validity period counts notBefore and notAfter
/// inclusively, so the maximum term of 460 days is notAfter - notBefore =
/// 460 days - 1 s in the certificate itself; 461 days are refused.
#[test]
fn maximum_term_is_exactly_460_days_inclusive() {
    let e = env();
    directory(&e.ra, false, false);
    let c = issued(e.ra.enroll(&request(p256_csr_pem(), Some(460))).unwrap());
    let der = c.der_bytes();
    let (_, x509) = x509_parser::parse_x509_certificate(&der).unwrap();
    let v = x509.validity();
    assert_eq!(
        v.not_after.to_datetime() - v.not_before.to_datetime(),
        Duration::days(460) - Duration::SECOND
    );
    let err =
        e.ra.enroll(&request(p256_csr_pem(), Some(461)))
            .unwrap_err();
    assert!(
        matches!(err, RaError::Policy(ref m) if m.contains("461") && m.contains("460")),
        "{err}"
    );
}

#[test]
fn renewal_window_for_fresh_old_and_revoked_certificates() {
    let e = env();
    directory(&e.ra, false, false);
    let c = issued(e.ra.enroll(&request(p256_csr_pem(), Some(360))).unwrap());
    let w = e.ra.renewal_window(&c);
    assert_eq!(w.start, c.not_before + Duration::days(240));
    assert_eq!(w.end, c.not_before + Duration::days(300));
    // fresh: the window is in the future
    assert!(w.start > e.clock.now());
    // old: once the clock is inside the window, renewal is due now
    e.clock.advance(Duration::days(250));
    let w = e.ra.renewal_window(&c);
    assert!(w.start <= e.clock.now() && e.clock.now() < w.end);
    // revoked: the window ends now (renew immediately)
    let r = e.ra.revoke(&c.serial, 4, "admin").unwrap();
    let w = e.ra.renewal_window(&r);
    assert!(w.end <= e.clock.now() && w.start < w.end);
}

fn field_of(err: RaError) -> String {
    match err {
        RaError::Invalid { field, .. } => field,
        other => panic!("expected an invalid field, got {other}"),
    }
}

fn org(name: &str) -> NewOrganization {
    NewOrganization {
        name: name.into(),
        city: Some("Berlin".into()),
        country: "DE".into(),
        ..NewOrganization::default()
    }
}

fn ev_org(name: &str) -> NewOrganization {
    NewOrganization {
        state: Some("Berlin".into()),
        validation: Some(Template::Ev),
        business_category: Some("private organization".into()),
        jurisdiction_country: Some("de".into()),
        jurisdiction_state: Some("Berlin".into()),
        registration_number: Some("HRB 12345 B".into()),
        ..org(name)
    }
}

#[test]
fn organizations_need_a_city_or_a_state() {
    let e = env();
    let ra = &e.ra;
    for (city, state) in [(None, None), (Some("  "), None), (None, Some(""))] {
        let n = NewOrganization {
            city: city.map(Into::into),
            state: state.map(Into::into),
            ..org("Nowhere Ltd")
        };
        let err = ra.create_organization(&n, "t").unwrap_err();
        assert!(format!("{err}").contains("7.1.4.2.2"), "{err}");
        assert_eq!(field_of(err), "city");
    }
    assert!(ra
        .store()
        .find_organization("Nowhere Ltd")
        .unwrap()
        .is_none());
    let only_state = NewOrganization {
        city: None,
        state: Some("Bayern".into()),
        ..org("State Only GmbH")
    };
    let o = ra.create_organization(&only_state, "t").unwrap();
    assert_eq!((o.city, o.state.as_deref()), (None, Some("Bayern")));
    let o = ra.create_organization(&org("City Only GmbH"), "t").unwrap();
    assert_eq!(o.city.as_deref(), Some("Berlin"));
    // The country is still checked first.
    let n = NewOrganization {
        country: "Germany".into(),
        city: None,
        ..org("X")
    };
    assert_eq!(
        field_of(ra.create_organization(&n, "t").unwrap_err()),
        "country"
    );
}

#[test]
fn ev_organization_details_are_checked_and_stored() {
    let e = env();
    let ra = &e.ra;
    let o = ra
        .create_organization(&ev_org("Acme EV GmbH"), "t")
        .unwrap();
    assert_eq!(o.validation, Template::Ev);
    assert_eq!(o.business_category.as_deref(), Some("Private Organization"));
    assert_eq!(o.jurisdiction_country.as_deref(), Some("DE"));
    assert_eq!(o.jurisdiction_state.as_deref(), Some("Berlin"));
    assert_eq!(o.jurisdiction_locality, None);
    assert_eq!(o.registration_number.as_deref(), Some("HRB 12345 B"));
    assert_eq!(ra.organization("Acme EV GmbH").unwrap(), o);

    // An EV-validated organization needs the three EV Guidelines details.
    for (field, edit) in [
        (
            "business_category",
            (|n: &mut NewOrganization| n.business_category = None) as fn(&mut NewOrganization),
        ),
        ("jurisdiction_country", |n| {
            n.jurisdiction_country = Some(" ".into())
        }),
        ("registration_number", |n| n.registration_number = None),
    ] {
        let mut n = ev_org("Missing EV");
        edit(&mut n);
        let err = ra.create_organization(&n, "t").unwrap_err();
        assert!(format!("{err}").contains("EV"), "{err}");
        assert_eq!(field_of(err), field);
    }
    // Malformed values, whatever the validation level.
    for (field, edit) in [
        (
            "business_category",
            (|n: &mut NewOrganization| n.business_category = Some("Startup".into()))
                as fn(&mut NewOrganization),
        ),
        ("jurisdiction_country", |n| {
            n.jurisdiction_country = Some("Deutschland".into())
        }),
        ("registration_number", |n| {
            n.registration_number = Some("HRB_1@2".into())
        }),
        ("registration_number", |n| {
            n.registration_number = Some("1".repeat(65))
        }),
        ("jurisdiction_locality", |n| {
            n.jurisdiction_locality = Some("a\u{7}b".into())
        }),
    ] {
        for validation in [Some(Template::Ev), None] {
            let mut n = ev_org("Malformed EV");
            n.validation = validation;
            edit(&mut n);
            assert_eq!(
                field_of(ra.create_organization(&n, "t").unwrap_err()),
                field
            );
        }
    }
    assert!(ra
        .store()
        .find_organization("Missing EV")
        .unwrap()
        .is_none());
    assert!(ra
        .store()
        .find_organization("Malformed EV")
        .unwrap()
        .is_none());
}

/// The standard directory plus an EV-validated organization, an EV profile
/// and accounts: `ov-org` (Acme Corp, profiles ev + cs) and `ev-org`
/// (Acme EV GmbH, profiles ev + cs).
fn ev_directory(ra: &Ra) {
    directory(ra, false, false);
    ra.create_organization(&ev_org("Acme EV GmbH"), "t")
        .unwrap();
    ra.create_profile(
        &NewProfile {
            name: "ev".into(),
            template: Template::Ev,
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
    for (name, org) in [("ov-org", "Acme Corp"), ("ev-org", "Acme EV GmbH")] {
        ra.create_account(
            &NewAccount {
                name: name.into(),
                endpoint: "builds".into(),
                organization: org.into(),
                department: None,
                profiles: vec!["ev".into(), "cs".into()],
                auto_approve: true,
            },
            "t",
        )
        .unwrap();
    }
}

fn enroll_with(ra: &Ra, account: &str, profile: &str) -> Result<EnrollmentOutcome, RaError> {
    ra.enroll(&EnrollmentRequest {
        account: account.into(),
        profile: Some(profile.into()),
        ..request(p256_csr_pem(), None)
    })
}

/// (dotted OID, string value) of each subject attribute of a stored certificate.
fn subject_attributes(c: &crate::storage::model::CertificateRecord) -> Vec<(String, String)> {
    use base64::Engine;
    use x509_parser::prelude::FromDer;
    let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&c.der)
        .unwrap();
    let (_, cert) = x509_parser::certificate::X509Certificate::from_der(&der).unwrap();
    cert.subject()
        .iter_attributes()
        .map(|a| {
            (
                a.attr_type().to_id_string(),
                a.as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn ev_profiles_issue_ev_subjects_for_ev_validated_organizations_only() {
    let e = env();
    let ra = &e.ra;
    ev_directory(ra);

    let err = enroll_with(ra, "ov-org", "ev").unwrap_err();
    assert!(
        matches!(&err, RaError::Policy(m) if m.contains("not EV-validated") && m.contains("Acme Corp")),
        "{err}"
    );
    assert_nothing_stored(ra);

    let ev = issued(enroll_with(ra, "ev-org", "ev").unwrap());
    let attrs = subject_attributes(&ev);
    let expected = [
        ("2.5.4.15", "Private Organization"),
        ("1.3.6.1.4.1.311.60.2.1.3", "DE"),
        ("1.3.6.1.4.1.311.60.2.1.2", "Berlin"),
        ("2.5.4.5", "HRB 12345 B"),
        ("2.5.4.6", "DE"),
        ("2.5.4.8", "Berlin"),
        ("2.5.4.7", "Berlin"),
        ("2.5.4.10", "Acme EV GmbH"),
        ("2.5.4.3", "Acme EV GmbH"),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(o, v)| (o.to_string(), v.to_string()))
        .collect();
    assert_eq!(attrs, expected);
    assert!(
        ev.subject.contains("serialNumber=HRB 12345 B"),
        "{}",
        ev.subject
    );
    assert!(ev.subject.contains("businessCategory=Private Organization"));

    // The same EV organization under an OV profile: no EV attribute.
    let ov = issued(enroll_with(ra, "ev-org", "cs").unwrap());
    let attrs = subject_attributes(&ov);
    assert!(
        attrs
            .iter()
            .all(|(oid, _)| oid.starts_with("2.5.4.") && oid != "2.5.4.5" && oid != "2.5.4.15"),
        "{attrs:?}"
    );
    assert!(!ov.subject.contains("serialNumber"), "{}", ov.subject);
}

#[test]
fn stored_organizations_lacking_subject_details_are_refused_by_policy() {
    let e = env();
    let ra = &e.ra;
    ev_directory(ra);
    // Records written before these rules existed (or by another tool).
    let legacy = |name: &str, validation: Template, city: Option<&str>| {
        let o = crate::storage::model::Organization {
            id: crate::storage::new_id("org"),
            name: name.into(),
            street: None,
            city: city.map(Into::into),
            state: None,
            postal_code: None,
            country: "DE".into(),
            validation,
            created_at: e.clock.now(),
            business_category: None,
            jurisdiction_country: Some("DE".into()),
            jurisdiction_state: None,
            jurisdiction_locality: None,
            registration_number: None,
        };
        ra.store()
            .create_organization(
                &o,
                &ra.event("t", "organization.create", serde_json::json!({})),
            )
            .unwrap();
        ra.create_account(
            &NewAccount {
                name: format!("acct-{}", o.id),
                endpoint: "builds".into(),
                organization: name.into(),
                department: None,
                profiles: vec!["ev".into(), "cs".into()],
                auto_approve: true,
            },
            "t",
        )
        .unwrap()
        .name
    };
    let ev_without_details = legacy("Legacy EV", Template::Ev, Some("Köln"));
    let err = enroll_with(ra, &ev_without_details, "ev").unwrap_err();
    assert!(
        matches!(&err, RaError::Policy(m) if m.contains("lacks business_category, registration_number")),
        "{err}"
    );
    // ... its OV certificates are fine.
    issued(enroll_with(ra, &ev_without_details, "cs").unwrap());

    let no_place = legacy("Legacy Nowhere", Template::Ov, None);
    let err = enroll_with(ra, &no_place, "cs").unwrap_err();
    assert!(
        matches!(&err, RaError::Policy(m) if m.contains("7.1.4.2.2")),
        "{err}"
    );
    assert_eq!(ra.store().list_certificates().unwrap().len(), 1);
}

#[test]
fn a_certificate_signed_but_not_recorded_is_discarded_and_audited() {
    use crate::storage::acme::{AcmeOrder, OrderStatus};
    use crate::storage::model::{AuditEvent, CertRequest};
    use crate::storage::RequestLink;
    let e = env();
    let store = e.ra.store();
    let ev = |action: &str| AuditEvent {
        at: start(),
        actor: "t".into(),
        action: action.into(),
        details: serde_json::json!({}),
    };
    let order = AcmeOrder {
        id: "ord_x".into(),
        account_id: "acct_x".into(),
        status: OrderStatus::Ready,
        email: "dev@acme.example".into(),
        profile: None,
        authz_ids: vec![],
        expires: start() + Duration::days(7),
        created_at: start(),
        request_id: None,
        certificate: None,
        error: None,
        replaces: None,
    };
    store.create_acme_order(&order, &[], &ev("order")).unwrap();
    let request = CertRequest {
        id: "req_x".into(),
        status: RequestStatus::Applied,
        account_id: "a".into(),
        profile_id: "p".into(),
        email: "dev@acme.example".into(),
        csr: String::new(),
        term_days: 1,
        requester: "acme:acct_x".into(),
        created_at: start(),
        decided_by: None,
        message: None,
        serial: None,
        attestation: None,
        renews: None,
    };
    let link = RequestLink::AcmeOrder {
        order_id: "ord_x".into(),
    };
    let serial = crate::ca::Serial::fresh().to_hex();
    let claim = store.claim_issuance(&request, &serial, &link).unwrap();
    // meanwhile the order stops being ready (it expired, say)
    store
        .update_acme_order("ord_x", |o| {
            o.status = OrderStatus::Invalid;
            Ok(())
        })
        .unwrap();
    let record = crate::storage::model::CertificateRecord {
        serial: serial.clone(),
        der: String::new(),
        request_id: "req_x".into(),
        account_id: "a".into(),
        profile_id: "p".into(),
        email: "dev@acme.example".into(),
        subject: "CN=x".into(),
        spki_sha256: "00".into(),
        not_before: start(),
        not_after: start() + Duration::days(1),
        issued_at: start(),
        requester: "acme:acct_x".into(),
        revocation: None,
        attestation: None,
        lineage: Default::default(),
    };
    let err =
        e.ra.record_signed(claim, &record, &ev("certificate.issue"))
            .unwrap_err();
    assert!(
        matches!(err, RaError::Conflict(ref m) if m.contains("no longer ready")),
        "{err}"
    );
    assert!(store.get_certificate(&serial).unwrap().is_none());
    assert!(!store.serial_reserved(&serial).unwrap());
    let discards: Vec<_> = store
        .audit_records()
        .unwrap()
        .into_iter()
        .filter(|r| r.action == "certificate.discard")
        .collect();
    assert_eq!(discards.len(), 1);
    assert_eq!(discards[0].details["serial"], serial.as_str());
    assert_eq!(discards[0].details["request"], "req_x");
    assert!(store
        .audit_records()
        .unwrap()
        .iter()
        .all(|r| r.action != "certificate.issue"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_issuing_job_announces_its_flush_while_it_waits_for_a_pool_thread() {
    // The announcement lets a flush about to start linger for the job, so
    // jobs queued behind each other share flushes (storage/flush.rs).
    let e = env();
    let ra = Arc::new(e.ra);
    // every pool thread busy until released
    let workers = crate::ca::pool::worker_count(0);
    let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
    let release = Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
    for _ in 0..workers {
        let (started_tx, release) = (started_tx.clone(), release.clone());
        ra.signer
            .spawn_async(move || {
                let _ = started_tx.send(());
                let (lock, cv) = &*release;
                let mut go = lock.lock().unwrap();
                while !*go {
                    go = cv.wait(go).unwrap();
                }
            })
            .await
            .unwrap();
    }
    for _ in 0..workers {
        started_rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .unwrap();
    }
    assert_eq!(ra.store.announced_flushes(), 0);

    let ran = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let job = {
        let (ra, ran) = (ra.clone(), ran.clone());
        tokio::spawn(async move {
            ra.run_issuing(move || ran.store(true, std::sync::atomic::Ordering::SeqCst))
                .await
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while ra.store.announced_flushes() == 0 {
        assert!(std::time::Instant::now() < deadline, "no announcement");
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert!(
        !ran.load(std::sync::atomic::Ordering::SeqCst),
        "announced only once it ran"
    );
    assert_eq!(ra.store.announced_flushes(), 1);

    {
        let (lock, cv) = &*release;
        *lock.lock().unwrap() = true;
        cv.notify_all();
    }
    job.await.unwrap().unwrap();
    assert!(ran.load(std::sync::atomic::Ordering::SeqCst));
    // The pool thread withdraws the announcement right after registering
    // the job's flush, and the result may reach us first: wait for it,
    // but a leaked announcement fails.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while ra.store.announced_flushes() != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the announcement outlived the job"
        );
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}
