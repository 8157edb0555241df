//! Fortanix DSM key attestation statements.

use super::common::*;

#[test]
fn corpus_fortanix_statements() {
    let Some(c) = corpus() else { return };
    let f = c.join("fortanix-dsm");
    let ev = Evidence::from_file_bytes(&read(
        &f.join("fortanix-doc-sample-via-niklasgillstrom-hsm/key_attestation.json"),
    ))
    .unwrap();
    assert_eq!(ev.format, Format::FortanixDsm);
    let facts = verify_ok(&ev);
    assert_eq!(
        facts.key_id.as_deref(),
        Some("18ec8b96-8845-4ce3-9fd1-50407b4b1fc0")
    );
    assert_eq!(facts.key_origin, KeyOrigin::Generated);
    assert_eq!(facts.never_extractable, Some(true));
    assert_eq!(facts.attested_at, Some(datetime!(2023-09-05 18:11:51 UTC)));
    assert!(
        facts
            .quirks
            .iter()
            .any(|q| q == "explicit-default-basic-constraints"),
        "{:?}",
        facts.quirks
    );
    let p = AttestationPolicy::default();
    assert!(
        signet::ra::attestation::check_facts(&p, &facts.attested_spki_der, &facts, NOW).is_ok()
    );
    let fresh_only = AttestationPolicy {
        max_statement_age_days: Some(365),
        ..Default::default()
    };
    assert!(matches!(
        signet::ra::attestation::check_facts(&fresh_only, &facts.attested_spki_der, &facts, NOW),
        Err(AttestationRefusal::TooOld { .. })
    ));
    // Same structure under Fortanix's test root: refused.
    let ev = Evidence::from_file_bytes(&read(
        &f.join("user-assurance-java-example/key-attestation-response.json"),
    ))
    .unwrap();
    let e = verify_err(&ev);
    assert_eq!(e.code(), "signature", "{e}");
    let ev = Evidence::from_file_bytes(&read(
        &f.join("user-assurance-java-example/key-attestation-statement.pem"),
    ))
    .unwrap();
    assert_eq!(verify_err(&ev).code(), "signature");
}

#[test]
fn generated_fortanix_statements() {
    let root = gen::root(Spec::ca("Test Fortanix Root", None));
    let ca = gen::issue(&root, Spec::ca("Test Key Attestation CA", Some(0)));
    let authority = gen::issue(
        &ca,
        Spec::leaf("Fortanix DSM SaaS Key Attestation Authority")
            .eku(&[1, 3, 6, 1, 4, 1, 49690, 8, 1])
            .valid(
                datetime!(2026-11-01 00:00 UTC),
                datetime!(2026-12-01 00:00 UTC),
            ),
    );
    let claims = |s: Spec<'static>| {
        s.ext(&[1, 3, 6, 1, 4, 1, 49690, 2, 4, 1, 1], vec![0x30, 0x00])
            .ext(&[1, 3, 6, 1, 4, 1, 49690, 2, 4, 1, 2], vec![0x30, 0x00])
    };
    let stmt_validity = (
        datetime!(2026-11-10 00:00 UTC),
        datetime!(9999-12-31 23:59:59 UTC),
    );
    let statement = gen::issue(
        &authority,
        claims(Spec::leaf("Fortanix DSM Key Attestation")).valid(stmt_validity.0, stmt_validity.1),
    );
    let store = store_with(TrustFamily::FortanixDsm, &[&root]);
    let ev = ev_of(Format::FortanixDsm, &[&statement, &authority, &ca]);
    let facts = attestation::verify(&ev, &store, NOW).unwrap();
    assert_eq!(facts.key_origin, KeyOrigin::Generated);
    assert_eq!(facts.attested_at, Some(stmt_validity.0));
    // Checked at the statement's time: still valid after the authority expires.
    let later = datetime!(2027-06-01 00:00 UTC);
    assert!(attestation::verify(&ev, &store, later).is_ok());
    // Without the claims: verified, but the RA refuses.
    let bare = gen::issue(
        &authority,
        Spec::leaf("Fortanix DSM Key Attestation").valid(stmt_validity.0, stmt_validity.1),
    );
    let ev = ev_of(Format::FortanixDsm, &[&bare, &authority, &ca]);
    let facts = attestation::verify(&ev, &store, NOW).unwrap();
    assert_eq!(facts.key_origin, KeyOrigin::Unknown);
    let r = signet::ra::attestation::decide(
        &AttestationPolicy::default(),
        &bare.spki(),
        Some(&ev),
        &store,
        NOW,
    );
    assert!(
        matches!(r, Err(AttestationRefusal::NotGeneratedOnDevice { .. })),
        "{r:?}"
    );
    // A signer without the authority EKU is refused.
    let plain = gen::issue(
        &ca,
        Spec::leaf("Fortanix DSM SaaS Key Attestation Authority"),
    );
    let st = gen::issue(
        &plain,
        claims(Spec::leaf("Fortanix DSM Key Attestation")).valid(stmt_validity.0, stmt_validity.1),
    );
    let e = attestation::verify(
        &ev_of(Format::FortanixDsm, &[&st, &plain, &ca]),
        &store,
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.code(), "structure", "{e}");
    // A statement dated outside the authority's validity is refused.
    let early = gen::issue(
        &authority,
        claims(Spec::leaf("Fortanix DSM Key Attestation"))
            .valid(datetime!(2026-10-01 00:00 UTC), stmt_validity.1),
    );
    let e = attestation::verify(
        &ev_of(Format::FortanixDsm, &[&early, &authority, &ca]),
        &store,
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.code(), "validity", "{e}");
}
