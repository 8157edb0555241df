//! YubiHSM 2: key attestations of the corpus and generated attacks.

use super::common::*;

#[test]
fn corpus_yubihsm_key_attestations() {
    let Some(c) = corpus() else { return };
    let dir = c.join("yubihsm2/dark-bio-transparency-31650558");
    let device = dir.join("yubihsm-31650558-auth.cert.pem");
    let keys = [
        ("31650558-conn.cert.pem", "0x0000", false),
        ("secureboot-ark1-alpha.rsa.cert.pem", "0x0100", true),
        ("firmwareupdate-ark1-alpha.eddsa.cert.pem", "0x0101", true),
        ("secureboot-ark1-friend.rsa.cert.pem", "0x0102", true),
        ("firmwareupdate-ark1-friend.eddsa.cert.pem", "0x0103", true),
        ("secureboot-ark1-founder.rsa.cert.pem", "0x0104", true),
        ("firmwareupdate-ark1-founder.eddsa.cert.pem", "0x0105", true),
    ];
    for (file, id, exportable) in keys {
        // The sub-CA comes from the trust store (pinned), the device cert from the evidence.
        let ev = evidence(Format::Yubihsm2, &[dir.join(file), device.clone()]);
        let facts = verify_ok(&ev);
        assert_eq!(facts.device_serial.as_deref(), Some("31650558"), "{file}");
        assert_eq!(facts.firmware.as_deref(), Some("2.4.0"), "{file}");
        assert_eq!(facts.key_id.as_deref(), Some(id), "{file}");
        assert_eq!(facts.key_origin, KeyOrigin::Generated, "{file}");
        assert_eq!(facts.exportable_under_wrap, Some(exportable), "{file}");
        assert_eq!(facts.attested_spki_der, spki_of(&dir.join(file)), "{file}");
        // Policy: exportable-under-wrap keys are refused unless allowed.
        let r = signet::ra::attestation::decide(
            &AttestationPolicy::default(),
            &facts.attested_spki_der,
            Some(&ev),
            &store(),
            NOW,
        );
        if exportable {
            assert_eq!(r, Err(AttestationRefusal::ExportableUnderWrap), "{file}");
            let lax = AttestationPolicy {
                allow_exportable_under_wrap: true,
                ..Default::default()
            };
            assert!(signet::ra::attestation::decide(
                &lax,
                &facts.attested_spki_der,
                Some(&ev),
                &store(),
                NOW
            )
            .is_ok());
        } else {
            assert!(r.is_ok(), "{file}: {r:?}");
        }
    }
    // The secure-boot signing keys are RSA sign-pkcs keys.
    let facts = verify_ok(&evidence(
        Format::Yubihsm2,
        &[
            dir.join("secureboot-ark1-alpha.rsa.cert.pem"),
            device.clone(),
        ],
    ));
    assert_eq!(
        facts.capabilities,
        vec!["sign-pkcs".to_string(), "exportable-under-wrap".to_string()]
    );
    assert_eq!(
        facts.key_label.as_deref(),
        Some("Dark Bio Secure-Boot (Ark I: Alpha)")
    );

    // Serial 20783176: real CSR + chain from the niklasgillstrom/hsm example.
    let dir = c.join("yubihsm2/niklasgillstrom-hsm-20783176");
    let ev = evidence(
        Format::Yubihsm2,
        &[
            dir.join("chain-0.FROM-JSON.pem"),
            dir.join("chain-1.FROM-JSON.pem"),
            dir.join("chain-2.FROM-JSON.pem"),
        ],
    );
    let csr = load_csr(&dir.join("request.csr.FROM-JSON.pem"));
    let facts = decide(&AttestationPolicy::default(), &csr, Some(&ev))
        .unwrap()
        .unwrap();
    assert_eq!(facts.device_serial.as_deref(), Some("20783176"));
    assert_eq!(facts.firmware.as_deref(), Some("2.2.0"));
    assert_eq!(facts.key_id.as_deref(), Some("0x0024"));
    assert_eq!(facts.exportable_under_wrap, Some(false));
    assert!(facts
        .capabilities
        .iter()
        .any(|c| c == "sign-attestation-certificate"));
    // The same chain against the CSR of another key is refused.
    let other = load_csr(&c.join("yubikey-piv/csr-embedded/tamemycerts-res-5_2_7/request.csr.pem"));
    assert!(matches!(
        decide(&AttestationPolicy::default(), &other, Some(&ev)),
        Err(AttestationRefusal::KeyMismatch { .. })
    ));
}

#[test]
fn corpus_yubihsm_key_certificate_cannot_act_as_device_certificate() {
    let Some(c) = corpus() else { return };
    let dir = c.join("yubihsm2/dark-bio-transparency-31650558");
    let ev = evidence(
        Format::Yubihsm2,
        &[
            dir.join("secureboot-ark1-alpha.rsa.cert.pem"),
            dir.join("31650558-conn.cert.pem"),
        ],
    );
    assert_eq!(verify_err(&ev).code(), "structure");
    // Without the device certificate.
    let ev = evidence(
        Format::Yubihsm2,
        &[dir.join("secureboot-ark1-alpha.rsa.cert.pem")],
    );
    assert_eq!(verify_err(&ev).code(), "missing");
}

#[test]
fn generated_yubihsm_attacks_and_origins() {
    let root = gen::root(Spec::ca("Test YubiHSM Root CA", None));
    let sub = gen::issue(&root, Spec::ca("Test YubiHSM Sub-CA", Some(1)));
    let device = gen::issue(
        &sub,
        Spec::ca("YubiHSM Attestation (7000001)", Some(0))
            .ext(&gen::hsm(1), vec![0x04, 0x03, 2, 4, 0])
            .ext(&gen::hsm(2), gen::int(7000001)),
    );
    let store = store_with(TrustFamily::Yubihsm2, &[&root]);
    // Generated key, sub-CA from the evidence: accepted.
    let key = gen::issue(
        &device,
        gen::hsm_key("YubiHSM Attestation id:0x0010", 7000001, 0x01, 1 << 5, 0x10),
    );
    let facts = attestation::verify(
        &ev_of(Format::Yubihsm2, &[&key, &device, &sub]),
        &store,
        NOW,
    )
    .unwrap();
    assert_eq!(facts.key_origin, KeyOrigin::Generated);
    assert_eq!(facts.capabilities, vec!["sign-pkcs".to_string()]);
    // Without the sub-CA: untrusted.
    assert_eq!(
        attestation::verify(&ev_of(Format::Yubihsm2, &[&key, &device]), &store, NOW)
            .unwrap_err()
            .code(),
        "untrusted"
    );
    // An imported key verifies but the RA refuses it.
    let imported = gen::issue(
        &device,
        gen::hsm_key("YubiHSM Attestation id:0x0011", 7000001, 0x02, 1 << 5, 0x11),
    );
    let ev = ev_of(Format::Yubihsm2, &[&imported, &device, &sub]);
    let facts = attestation::verify(&ev, &store, NOW).unwrap();
    assert_eq!(facts.key_origin, KeyOrigin::Imported);
    let r = signet::ra::attestation::decide(
        &AttestationPolicy::default(),
        &imported.spki(),
        Some(&ev),
        &store,
        NOW,
    );
    assert!(
        matches!(r, Err(AttestationRefusal::NotGeneratedOnDevice { .. })),
        "{r:?}"
    );
    // A user attestation key (sign-attestation-certificate) signing for a software key.
    let att_key = gen::issue(
        &device,
        gen::hsm_key(
            "YubiHSM Attestation id:0x0020",
            7000001,
            0x01,
            1 << 34,
            0x20,
        ),
    );
    let forged = gen::issue(
        &att_key,
        gen::hsm_key("YubiHSM Attestation id:0x0030", 7000001, 0x01, 1 << 5, 0x30),
    );
    for ev in [
        ev_of(Format::Yubihsm2, &[&forged, &att_key, &device, &sub]),
        ev_of(Format::Yubihsm2, &[&forged, &att_key]),
    ] {
        assert_eq!(
            attestation::verify(&ev, &store, NOW).unwrap_err().code(),
            "structure"
        );
    }
    // Serial of the key certificate differs from the device's.
    let other = gen::issue(
        &device,
        gen::hsm_key("YubiHSM Attestation id:0x0040", 7000002, 0x01, 1 << 5, 0x40),
    );
    let e = attestation::verify(
        &ev_of(Format::Yubihsm2, &[&other, &device, &sub]),
        &store,
        NOW,
    )
    .unwrap_err();
    assert!(
        matches!(e, AttestationError::Structure { ref what, .. } if what.contains("serial")),
        "{e}"
    );
}
