//! YubiKey PIV: generated look-alikes and attacks, and the copied vectors.

use super::common::*;

/// A generated YubiKey PKI: root -> f9 -> slot 9a.
struct YkPki {
    root: gen::Node,
    f9: gen::Node,
    slot: gen::Node,
}

fn yk_pki(root_cn: &str) -> YkPki {
    let root = gen::root(Spec::ca(root_cn, None));
    let f9 = gen::issue(
        &root,
        Spec::ca("Yubico PIV Attestation", Some(0)).ext(&gen::yk(3), vec![5, 7, 4]),
    );
    let slot = gen::issue(
        &f9,
        gen::slot("YubiKey PIV Attestation 9a", 40000001, 2, 1, 0x83),
    );
    YkPki { root, f9, slot }
}

#[test]
fn generated_yubikey_chain_is_accepted_by_its_own_root() {
    let pki = yk_pki("Test PIV Root");
    let store = store_with(TrustFamily::YubikeyPiv, &[&pki.root]);
    let facts = attestation::verify(
        &ev_of(Format::YubikeyPiv, &[&pki.slot, &pki.f9]),
        &store,
        NOW,
    )
    .unwrap();
    assert_eq!(facts.device_serial.as_deref(), Some("40000001"));
    assert_eq!(facts.firmware.as_deref(), Some("5.7.4"));
    assert_eq!(facts.pin_policy, Some(PinPolicy::Once));
    assert_eq!(facts.touch_policy, Some(TouchPolicy::Never));
    assert_eq!(facts.fips, Some(true));
    assert_eq!(facts.form_factor.as_deref(), Some("USB-C keychain (FIPS)"));
    assert_eq!(facts.attested_spki_der, pki.slot.spki());
    // Order of the non-leaf certificates does not matter; extra roots are ignored.
    let facts2 = attestation::verify(
        &ev_of(Format::YubikeyPiv, &[&pki.slot, &pki.root, &pki.f9]),
        &store,
        NOW,
    )
    .unwrap();
    assert_eq!(facts2.attested_spki_der, facts.attested_spki_der);
    // The RA binds it to the right key only.
    let p = AttestationPolicy::default();
    let ev = ev_of(Format::YubikeyPiv, &[&pki.slot, &pki.f9]);
    assert!(signet::ra::attestation::decide(&p, &pki.slot.spki(), Some(&ev), &store, NOW).is_ok());
    // Facts round-trip through JSON (stored with the certificate).
    let json = serde_json::to_string(&facts).unwrap();
    let back: AttestationFacts = serde_json::from_str(&json).unwrap();
    assert_eq!(back, facts);
    // Evidence JSON round trip.
    let j = serde_json::to_vec(&ev).unwrap();
    assert_eq!(Evidence::from_json(&j).unwrap(), ev);
}

#[test]
fn generated_fake_root_with_yubico_names_is_refused() {
    let pki = yk_pki("Yubico PIV Root CA Serial 263751");
    let ev = ev_of(Format::YubikeyPiv, &[&pki.slot, &pki.f9, &pki.root]);
    match attestation::verify(&ev, &store(), NOW) {
        Err(AttestationError::Signature { issuer, .. }) => {
            assert!(issuer.contains("Yubico PIV Root CA Serial 263751"))
        }
        other => panic!("{other:?}"),
    }
    // Same with a look-alike of the new hierarchy's issuing CA.
    let root = gen::root(Spec::ca("Yubico Attestation Root 1", None));
    let b1 = gen::issue(&root, Spec::ca("Yubico PIV Attestation B 1", Some(1)));
    let f9 = gen::issue(&b1, Spec::ca("YubiKey PIV Attestation", Some(0)));
    let slot = gen::issue(
        &f9,
        gen::slot("YubiKey PIV Attestation 9c", 40000002, 3, 2, 0x03),
    );
    let ev = ev_of(Format::YubikeyPiv, &[&slot, &f9, &b1, &root]);
    assert_eq!(
        attestation::verify(&ev, &store(), NOW).unwrap_err().code(),
        "signature"
    );
}

#[test]
fn generated_swapped_csr_key_is_refused() {
    let pki = yk_pki("Test PIV Root");
    let store = store_with(TrustFamily::YubikeyPiv, &[&pki.root]);
    let ev = ev_of(Format::YubikeyPiv, &[&pki.slot, &pki.f9]);
    let other_key = gen::root(Spec::leaf("software key"));
    let r = signet::ra::attestation::decide(
        &AttestationPolicy::default(),
        &other_key.spki(),
        Some(&ev),
        &store,
        NOW,
    );
    assert!(
        matches!(r, Err(AttestationRefusal::KeyMismatch { .. })),
        "{r:?}"
    );
}

#[test]
fn generated_slot_certificate_cannot_act_as_device_certificate() {
    let pki = yk_pki("Test PIV Root");
    let store = store_with(TrustFamily::YubikeyPiv, &[&pki.root]);
    // The holder of a genuine slot key signs a "slot certificate" for a software key.
    let forged = gen::issue(
        &pki.slot,
        gen::slot("YubiKey PIV Attestation 9c", 40000001, 3, 2, 0x83),
    );
    for ev in [
        ev_of(Format::YubikeyPiv, &[&forged, &pki.slot, &pki.f9]),
        ev_of(Format::YubikeyPiv, &[&forged, &pki.slot]),
    ] {
        match attestation::verify(&ev, &store, NOW) {
            Err(AttestationError::Structure { what, .. }) => {
                assert!(what.contains("slot"), "{what}")
            }
            other => panic!("{other:?}"),
        }
    }
    // ... or a fake device certificate named like an f9 certificate.
    let fake_f9 = gen::issue(&pki.slot, Spec::ca("Yubico PIV Attestation", Some(0)));
    let forged = gen::issue(
        &fake_f9,
        gen::slot("YubiKey PIV Attestation 9c", 40000001, 3, 2, 0x83),
    );
    let e = attestation::verify(
        &ev_of(Format::YubikeyPiv, &[&forged, &fake_f9]),
        &store,
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.code(), "untrusted", "{e}");
    let e = attestation::verify(
        &ev_of(Format::YubikeyPiv, &[&forged, &fake_f9, &pki.slot, &pki.f9]),
        &store,
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.code(), "structure", "{e}");
    // A slot certificate presented as the device certificate of a real chain.
    let e = attestation::verify(
        &ev_of(Format::YubikeyPiv, &[&pki.f9, &pki.slot]),
        &store,
        NOW,
    )
    .unwrap_err();
    assert_eq!(e.code(), "missing", "{e}");
}

#[test]
fn generated_truncated_chains_are_refused() {
    let pki = yk_pki("Test PIV Root");
    let store = store_with(TrustFamily::YubikeyPiv, &[&pki.root]);
    let e = attestation::verify(&ev_of(Format::YubikeyPiv, &[&pki.slot]), &store, NOW).unwrap_err();
    assert!(
        matches!(e, AttestationError::Missing { ref what, .. } if what.contains("f9")),
        "{e}"
    );
    // New-hierarchy shape: root -> issuing CA -> f9 -> slot, issuing CA not pinned.
    let root = gen::root(Spec::ca("Test Attestation Root", None));
    let issuing = gen::issue(&root, Spec::ca("Test PIV Attestation B 1", Some(1)));
    let f9 = gen::issue(&issuing, Spec::ca("YubiKey PIV Attestation", Some(0)));
    let slot = gen::issue(
        &f9,
        gen::slot("YubiKey PIV Attestation 9a", 40000003, 2, 3, 0x04),
    );
    let only_root = store_with(TrustFamily::YubikeyPiv, &[&root]);
    // YubiKey intermediates are never taken from the evidence.
    for ev in [
        ev_of(Format::YubikeyPiv, &[&slot, &f9]),
        ev_of(Format::YubikeyPiv, &[&slot, &f9, &issuing]),
    ] {
        assert_eq!(
            attestation::verify(&ev, &only_root, NOW)
                .unwrap_err()
                .code(),
            "untrusted"
        );
    }
    let pinned = store_with(TrustFamily::YubikeyPiv, &[&root, &issuing]);
    let facts =
        attestation::verify(&ev_of(Format::YubikeyPiv, &[&slot, &f9]), &pinned, NOW).unwrap();
    assert_eq!(facts.chain_subjects.len(), 4);
    // A pinned issuing CA whose pathLenConstraint forbids the f9 CA.
    let tight = gen::issue(&root, Spec::ca("Tight PIV CA", Some(0)));
    let f9t = gen::issue(&tight, Spec::ca("YubiKey PIV Attestation", Some(0)));
    let slott = gen::issue(
        &f9t,
        gen::slot("YubiKey PIV Attestation 9a", 40000004, 2, 3, 0x04),
    );
    let s = store_with(TrustFamily::YubikeyPiv, &[&root, &tight]);
    let e = attestation::verify(&ev_of(Format::YubikeyPiv, &[&slott, &f9t]), &s, NOW).unwrap_err();
    assert_eq!(e.code(), "not-a-ca", "{e}");
}

#[test]
fn generated_expired_device_certificate_is_refused() {
    let root = gen::root(Spec::ca("Test PIV Root", None));
    let f9 = gen::issue(
        &root,
        Spec::ca("Yubico PIV Attestation", Some(0)).valid(
            datetime!(2016-01-01 00:00 UTC),
            datetime!(2020-01-01 00:00 UTC),
        ),
    );
    let slot = gen::issue(
        &f9,
        gen::slot("YubiKey PIV Attestation 9a", 40000005, 2, 1, 0x01),
    );
    let store = store_with(TrustFamily::YubikeyPiv, &[&root]);
    match attestation::verify(&ev_of(Format::YubikeyPiv, &[&slot, &f9]), &store, NOW) {
        Err(AttestationError::Validity { subject, .. }) => {
            assert!(subject.contains("Yubico PIV Attestation"))
        }
        other => panic!("{other:?}"),
    }
    // An expired pinned root is not used either.
    let old_root = gen::root(Spec::ca("Old Root", None).valid(
        datetime!(2010-01-01 00:00 UTC),
        datetime!(2020-01-01 00:00 UTC),
    ));
    let f9 = gen::issue(&old_root, Spec::ca("Yubico PIV Attestation", Some(0)));
    let slot = gen::issue(
        &f9,
        gen::slot("YubiKey PIV Attestation 9a", 40000006, 2, 1, 0x01),
    );
    let store = store_with(TrustFamily::YubikeyPiv, &[&old_root]);
    match attestation::verify(&ev_of(Format::YubikeyPiv, &[&slot, &f9]), &store, NOW) {
        Err(AttestationError::Untrusted { reason, .. }) => {
            assert!(reason.contains("not valid"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn generated_preview_ca_chain_is_refused() {
    let pki = yk_pki("Yubico 2025 PIV Attestation Preview CA");
    let ev = ev_of(Format::YubikeyPiv, &[&pki.slot, &pki.f9, &pki.root]);
    match attestation::verify(&ev, &store(), NOW) {
        Err(AttestationError::PreviewCa { ca, .. }) => assert!(ca.contains("Preview")),
        other => panic!("{other:?}"),
    }
    // And a preview CA cannot be pinned, not even on purpose.
    let mut s = TrustStore::empty();
    let e = s
        .add_pem(
            TrustFamily::YubikeyPiv,
            pki.root.pem().as_bytes(),
            "preview.pem",
        )
        .unwrap_err();
    assert!(
        matches!(e, signet::va::attestation::TrustError::PreviewCa { .. }),
        "{e}"
    );
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("yubikey-piv")).unwrap();
    std::fs::write(tmp.path().join("yubikey-piv/preview.pem"), pki.root.pem()).unwrap();
    assert!(TrustStore::load(Some(tmp.path())).is_err());
}

#[test]
fn generated_evidence_labelled_as_another_format_is_refused() {
    let pki = yk_pki("Test PIV Root");
    let store = store_with(TrustFamily::YubikeyPiv, &[&pki.root]);
    for wrong in [Format::Yubihsm2, Format::ThalesLuna, Format::FortanixDsm] {
        let ev = ev_of(wrong, &[&pki.slot, &pki.f9]);
        assert_eq!(
            attestation::verify(&ev, &store, NOW).unwrap_err(),
            AttestationError::FormatMismatch {
                declared: wrong,
                detected: Format::YubikeyPiv
            }
        );
    }
    // A bare PEM bundle is classified, leaf first.
    let bundle = format!("{}{}", pki.f9.pem(), pki.slot.pem());
    let ev = Evidence::from_file_bytes(bundle.as_bytes()).unwrap();
    assert_eq!(ev.format, Format::YubikeyPiv);
    assert_eq!(ev.certificates[0], pki.slot.der);
}

#[test]
fn vectors_yubikey_piv() {
    let v = vectors().join("yubikey-piv");
    for (dir, slot, dev, serial, fw) in [
        (
            "go-piv-validchain",
            "slot-9a-attestation.pem",
            "device-f9-attestation.pem",
            Some("15732500"),
            "5.4.3",
        ),
        (
            "ovh-checker-fw574-32718477",
            "slot-9a-attestation.pem",
            "device-f9-attestation.pem",
            Some("32718477"),
            "5.7.4",
        ),
        (
            "ovh-checker-fw435-5970478",
            "slot-9a-attestation.pem",
            "device-f9-attestation.pem",
            Some("5970478"),
            "4.3.5",
        ),
        (
            "sigstore-root-signing-10550341",
            "10550341_key_cert.pem",
            "10550341_device_cert.pem",
            Some("10550341"),
            "4.4.5",
        ),
        (
            "sigstore-root-signing-18158855",
            "18158855_key_cert.pem",
            "18158855_device_cert.pem",
            Some("18158855"),
            "5.4.3",
        ),
    ] {
        let d = v.join(dir);
        let facts = verify_ok(&evidence(Format::YubikeyPiv, &[d.join(slot), d.join(dev)]));
        assert_eq!(facts.device_serial.as_deref(), serial, "{dir}");
        assert_eq!(facts.firmware.as_deref(), Some(fw), "{dir}");
    }
    for n in ["10550341", "18158855"] {
        let d = v.join(format!("sigstore-root-signing-{n}"));
        let facts = verify_ok(&evidence(
            Format::YubikeyPiv,
            &[
                d.join(format!("{n}_key_cert.pem")),
                d.join(format!("{n}_device_cert.pem")),
            ],
        ));
        assert_eq!(
            facts.attested_spki_der,
            spki_of(&d.join(format!("{n}_pubkey.pem")))
        );
    }
    // YubiKey 4 (2018) with a U2F-root-signed f9: refused by default.
    let d = v.join("go-piv-validchain2018");
    let e = verify_err(&evidence(
        Format::YubikeyPiv,
        &[
            d.join("slot-9a-attestation.pem"),
            d.join("device-f9-attestation.pem"),
        ],
    ));
    assert_eq!(e.code(), "untrusted", "{e}");
    let d = v.join("negative/sigstore-staging-testroot-76651934");
    let e = verify_err(&evidence(
        Format::YubikeyPiv,
        &[
            d.join("76651934_key_cert.pem"),
            d.join("76651934_device_cert.pem"),
        ],
    ));
    assert_eq!(e.code(), "structure", "{e}");
}

#[test]
fn vectors_yubikey_csrs_and_policy() {
    let v = vectors().join("yubikey-piv/csr-embedded");
    let p = AttestationPolicy {
        formats: vec!["yubikey-piv".into()],
        ..Default::default()
    };
    let fips = AttestationPolicy {
        require_fips: true,
        ..p.clone()
    };
    for (dir, serial, is_fips) in [
        ("tamemycerts-res-csr_5_7_4_standard", "33064031", false),
        (
            "tamemycerts-cs-5_4_3_Once_Cached_UsbAKeychain_9a_FIPS_RSA2048",
            "28989702",
            true,
        ),
        (
            "tamemycerts-cs-5_4_3_Always_Never_UsbAKeychain_9a_ECC384",
            "19661687",
            false,
        ),
        ("tamemycerts-res-5_2_7", "15890263", false),
    ] {
        let csr = load_csr(&v.join(dir).join("request.csr.pem"));
        let ev = attestation::evidence_from_csr(&csr).expect("evidence in CSR");
        let facts = signet::ra::attestation::decide_for_csr(&p, &csr, None, &store(), NOW)
            .unwrap_or_else(|e| panic!("{dir}: {e}"))
            .unwrap();
        // The ACME finalize member form of the same evidence.
        let json = serde_json::to_value(&ev).unwrap();
        let from_payload = Evidence::from_json_value(json).unwrap();
        assert_eq!(
            signet::ra::attestation::decide_for_csr(&p, &csr, Some(&from_payload), &store(), NOW)
                .unwrap(),
            Some(facts.clone())
        );
        assert_eq!(facts.device_serial.as_deref(), Some(serial), "{dir}");
        let r = decide(&fips, &csr, Some(&ev));
        if is_fips {
            assert!(r.is_ok(), "{dir}: {r:?}");
        } else {
            assert!(
                matches!(r, Err(AttestationRefusal::NotFips { .. })),
                "{dir}: {r:?}"
            );
        }
    }
    let csr = load_csr(&v.join("tamemycerts-cs-wrong-public-key-10015/request.csr.pem"));
    let ev = attestation::evidence_from_csr(&csr).unwrap();
    assert!(matches!(
        decide(&p, &csr, Some(&ev)),
        Err(AttestationRefusal::KeyMismatch { .. })
    ));
    let csr = load_csr(&v.join("tamemycerts-cs-invalid-attestation/request.csr.pem"));
    let ev = attestation::evidence_from_csr(&csr).unwrap();
    assert_eq!(
        attestation::verify(&ev, &store(), NOW).unwrap_err().code(),
        "bad-certificate"
    );
    let csr = load_csr(&v.join("tamemycerts-cs-no-attestation/request.csr.pem"));
    assert!(attestation::evidence_from_csr(&csr).is_none());
    assert_eq!(decide(&p, &csr, None), Err(AttestationRefusal::Missing));
}
