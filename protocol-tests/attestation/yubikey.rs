//! YubiKey PIV: the corpus chains and CSRs, generated look-alikes, the
//! copied vectors. The corpus chains are a data file (cases/yubikey-piv.json).

use super::common::*;

/// One complete YubiKey PIV chain of the corpus, with the values INDEX.md
/// decoded for it (cases/yubikey-piv.json).
#[derive(serde::Deserialize)]
struct PivCase {
    dir: String,
    slot_cert: String,
    device_cert: String,
    slot: String,
    serial: Option<String>,
    firmware: String,
    pin: PinPolicy,
    touch: TouchPolicy,
    fips: bool,
    cspn: bool,
    quirk: Option<String>,
}

fn piv_cases() -> Vec<PivCase> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("protocol-tests/attestation/cases/yubikey-piv.json");
    serde_json::from_slice(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn corpus_yubikey_piv_genuine_chains_accepted_with_facts() {
    let Some(c) = corpus() else { return };
    let mut seen_serials = std::collections::BTreeSet::new();
    for case in &piv_cases() {
        let dir = c.join("yubikey-piv").join(&case.dir);
        let ev = evidence(
            Format::YubikeyPiv,
            &[dir.join(&case.slot_cert), dir.join(&case.device_cert)],
        );
        let facts = match attestation::verify(&ev, &store(), NOW) {
            Ok(f) => f,
            Err(e) => panic!("{}/{}: {e}", case.dir, case.slot_cert),
        };
        let what = format!("{}/{}", case.dir, case.slot_cert);
        assert_eq!(facts.format, Format::YubikeyPiv, "{what}");
        assert_eq!(
            facts.device_serial.as_deref(),
            case.serial.as_deref(),
            "{what}"
        );
        assert_eq!(
            facts.firmware.as_deref(),
            Some(case.firmware.as_str()),
            "{what}"
        );
        assert_eq!(facts.key_id.as_deref(), Some(case.slot.as_str()), "{what}");
        assert_eq!(facts.pin_policy, Some(case.pin), "{what}");
        assert_eq!(facts.touch_policy, Some(case.touch), "{what}");
        assert_eq!(facts.fips, Some(case.fips), "{what}");
        assert_eq!(facts.cspn, Some(case.cspn), "{what}");
        assert_eq!(facts.key_origin, KeyOrigin::Generated, "{what}");
        assert_eq!(facts.never_extractable, Some(true), "{what}");
        assert_eq!(
            facts.attested_spki_der,
            spki_of(&dir.join(&case.slot_cert)),
            "{what}"
        );
        match &case.quirk {
            Some(q) => assert!(
                facts.quirks.iter().any(|x| x == q),
                "{what}: quirks {:?}",
                facts.quirks
            ),
            None => assert!(
                facts.quirks.is_empty(),
                "{what}: unexpected quirks {:?}",
                facts.quirks
            ),
        }
        assert!(facts.chain_subjects.len() >= 3, "{what}");
        if let Some(s) = &case.serial {
            seen_serials.insert(s.clone());
        }
    }
    // 36 distinct devices per INDEX.md minus the ones only present as CSRs.
    assert!(seen_serials.len() >= 30, "{} devices", seen_serials.len());
}

/// A corpus CSR that carries a genuine YubiKey attestation for its own key
/// (cases/yubikey-piv-csrs.json).
#[derive(serde::Deserialize)]
struct PivCsr {
    dir: String,
    file: String,
    serial: String,
    firmware: String,
    fips: bool,
}

fn piv_csrs() -> Vec<PivCsr> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("protocol-tests/attestation/cases/yubikey-piv-csrs.json");
    serde_json::from_slice(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn corpus_yubikey_csrs_with_embedded_attestation_pass_a_requiring_profile() {
    let Some(c) = corpus() else { return };
    let policy = AttestationPolicy {
        formats: vec!["yubikey-piv".into()],
        ..Default::default()
    };
    for PivCsr {
        dir,
        file,
        serial,
        firmware: fw,
        fips,
    } in &piv_csrs()
    {
        let csr = load_csr(&c.join("yubikey-piv").join(dir).join(file));
        let ev = attestation::evidence_from_csr(&csr)
            .unwrap_or_else(|| panic!("{dir}: no evidence in the CSR"));
        let facts = decide(&policy, &csr, Some(&ev))
            .unwrap_or_else(|e| panic!("{dir}/{file}: {e}"))
            .expect("facts");
        assert_eq!(
            facts.device_serial.as_deref(),
            Some(serial.as_str()),
            "{dir}"
        );
        assert_eq!(facts.firmware.as_deref(), Some(fw.as_str()), "{dir}");
        assert_eq!(facts.fips, Some(*fips), "{dir}");
        assert_eq!(facts.attested_spki_der, csr.spki_der, "{dir}");
        // The same CSR under a FIPS-only profile.
        let fips_only = AttestationPolicy {
            require_fips: true,
            ..policy.clone()
        };
        let r = decide(&fips_only, &csr, Some(&ev));
        if *fips {
            assert!(r.is_ok(), "{dir}: {r:?}");
        } else {
            assert!(
                matches!(r, Err(AttestationRefusal::NotFips { .. })),
                "{dir}: {r:?}"
            );
        }
    }
}

#[test]
fn corpus_yubikey_negative_csrs_refused_with_reasons() {
    let Some(c) = corpus() else { return };
    let p = AttestationPolicy::default();
    let piv = c.join("yubikey-piv");
    // Attestation for a different key than the CSR's.
    let csr =
        load_csr(&piv.join("csr-embedded/tamemycerts-cs-wrong-public-key-10015/request.csr.pem"));
    let ev = attestation::evidence_from_csr(&csr).unwrap();
    assert!(
        attestation::verify(&ev, &store(), NOW).is_ok(),
        "the chain itself is genuine"
    );
    assert!(matches!(
        decide(&p, &csr, Some(&ev)),
        Err(AttestationRefusal::KeyMismatch { .. })
    ));
    // Extensions that are not certificates.
    let csr =
        load_csr(&piv.join("csr-embedded/tamemycerts-cs-invalid-attestation/request.csr.pem"));
    let ev = attestation::evidence_from_csr(&csr).unwrap();
    match decide(&p, &csr, Some(&ev)) {
        Err(AttestationRefusal::Invalid(AttestationError::BadCertificate { index: 0, .. })) => {}
        other => panic!("{other:?}"),
    }
    // No attestation at all.
    for f in [
        "csr-embedded/tamemycerts-cs-no-attestation/request.csr.pem",
        "powershellYK-testdata/piv_attestion_5_4_3_9a_request.req",
    ] {
        let csr = load_csr(&piv.join(f));
        assert!(attestation::evidence_from_csr(&csr).is_none(), "{f}");
        assert_eq!(
            decide(&p, &csr, None),
            Err(AttestationRefusal::Missing),
            "{f}"
        );
        let optional = AttestationPolicy {
            required: false,
            ..Default::default()
        };
        assert_eq!(decide(&optional, &csr, None), Ok(None));
    }
    // Only the f9 device certificate, no slot certificate.
    let csr = load_csr(
        &piv.join("powershellYK-testdata/piv_attestion_5_4_3_9a_request_attestation_both.req"),
    );
    let ev = attestation::evidence_from_csr(&csr).unwrap();
    match decide(&p, &csr, Some(&ev)) {
        Err(AttestationRefusal::Invalid(AttestationError::Missing { what, .. })) => {
            assert!(what.contains("slot attestation certificate"), "{what}")
        }
        other => panic!("{other:?}"),
    }
    // A profile accepting only HSM formats refuses a YubiKey.
    let csr = load_csr(&piv.join("csr-embedded/tamemycerts-res-5_2_7/request.csr.pem"));
    let ev = attestation::evidence_from_csr(&csr).unwrap();
    let hsm_only = AttestationPolicy {
        formats: vec!["yubihsm2".into(), "thales-luna".into()],
        ..Default::default()
    };
    assert!(matches!(
        decide(&hsm_only, &csr, Some(&ev)),
        Err(AttestationRefusal::FormatNotAccepted { .. })
    ));
    // A profile demanding firmware 5.7.4 refuses 5.2.7.
    let mut new_fw = AttestationPolicy::default();
    new_fw
        .min_firmware
        .insert("yubikey-piv".into(), "5.7.4".into());
    assert!(matches!(
        decide(&new_fw, &csr, Some(&ev)),
        Err(AttestationRefusal::FirmwareTooOld { .. })
    ));
}

#[test]
fn corpus_yubikey_pin_and_touch_policies() {
    let Some(c) = corpus() else { return };
    let dir = c.join("yubikey-piv/powershellYK-testdata");
    // PIN never / touch always (FIPS device).
    let ev = evidence(
        Format::YubikeyPiv,
        &[
            dir.join("piv_attestion_fips_attestioncertificate.cer"),
            dir.join("piv_attestion_fips_intermediatecertificate.cer"),
        ],
    );
    let facts = verify_ok(&ev);
    let spki = facts.attested_spki_der.clone();
    let p = AttestationPolicy::default();
    let r = signet::ra::attestation::decide(&p, &spki, Some(&ev), &store(), NOW);
    assert!(
        matches!(r, Err(AttestationRefusal::PinPolicy { ref found }) if found == "never"),
        "{r:?}"
    );
    let lax = AttestationPolicy {
        allow_pin_policy_never: true,
        require_touch: true,
        require_fips: true,
        ..Default::default()
    };
    assert!(signet::ra::attestation::decide(&lax, &spki, Some(&ev), &store(), NOW).is_ok());
    // Touch never refused by a touch-requiring profile.
    let ev = evidence(
        Format::YubikeyPiv,
        &[
            dir.join("piv_attestion_attestioncertificate.cer"),
            dir.join("piv_attestion_intermediatecertificate.cer"),
        ],
    );
    let spki = verify_ok(&ev).attested_spki_der;
    let touch = AttestationPolicy {
        require_touch: true,
        ..Default::default()
    };
    let r = signet::ra::attestation::decide(&touch, &spki, Some(&ev), &store(), NOW);
    assert!(
        matches!(r, Err(AttestationRefusal::TouchPolicy { ref found }) if found == "never"),
        "{r:?}"
    );
}

#[test]
fn corpus_yubikey_published_keys_match_attested_keys() {
    let Some(c) = corpus() else { return };
    for case in piv_cases()
        .iter()
        .filter(|c| c.dir.starts_with("sigstore-root-signing-"))
    {
        let dir = c.join("yubikey-piv").join(&case.dir);
        let serial = case.dir.trim_start_matches("sigstore-root-signing-");
        let facts = verify_ok(&evidence(
            Format::YubikeyPiv,
            &[dir.join(&case.slot_cert), dir.join(&case.device_cert)],
        ));
        assert_eq!(
            facts.attested_spki_der,
            spki_of(&dir.join(format!("{serial}_pubkey.pem"))),
            "{}",
            case.dir
        );
    }
    // iPXE: slot 9a attests the key of a real SSL.com EV code-signing certificate.
    let dir = c.join("yubikey-piv/ipxe-secure-boot-ca");
    let facts = verify_ok(&evidence(
        Format::YubikeyPiv,
        &[
            dir.join("attestation-9a.crt"),
            dir.join("attestation-intermediate.crt"),
        ],
    ));
    assert_eq!(facts.attested_spki_der, spki_of(&dir.join("evcs.crt")));
    assert_eq!(facts.device_serial.as_deref(), Some("28557046"));
}

#[test]
fn corpus_yubikey_legacy_and_incomplete_chains() {
    let Some(c) = corpus() else { return };
    let piv = c.join("yubikey-piv");
    // 2018 YubiKey 4: f9 signed by the U2F root. Refused by default ...
    let dir = piv.join("go-piv-validchain2018");
    let ev = evidence(
        Format::YubikeyPiv,
        &[
            dir.join("slot-9a-attestation.pem"),
            dir.join("device-f9-attestation.pem"),
        ],
    );
    match verify_err(&ev) {
        AttestationError::Untrusted { reason, .. } => assert!(reason.contains("U2F"), "{reason}"),
        other => panic!("{other:?}"),
    }
    // ... accepted when the operator pins the U2F root for PIV.
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("yubikey-piv")).unwrap();
    std::fs::copy(
        c.join("yubico-pki/split/Yubico-U2F-Root-CA-Serial-457200631.SPLIT-FROM-yubico-ca-certs_txt.pem"),
        tmp.path().join("yubikey-piv/u2f-root.pem"),
    )
    .unwrap();
    let with_u2f = TrustStore::load(Some(tmp.path())).unwrap();
    let facts = attestation::verify(&ev, &with_u2f, NOW).unwrap();
    assert_eq!(facts.firmware.as_deref(), Some("4.3.7"));
    assert_eq!(
        facts.device_serial, None,
        "fw 4.3 slot certificates carry no serial"
    );
    assert!(
        facts
            .quirks
            .iter()
            .any(|q| q == "yubikey-device-cert-issued-by-u2f-root"),
        "{:?}",
        facts.quirks
    );
    assert!(facts
        .quirks
        .iter()
        .any(|q| q == "yubikey-device-cert-without-basic-constraints"));

    // Slot certificates whose f9 certificate is missing.
    let dir = piv.join("partial-dark-bio-transparency-33265034");
    for f in [
        "deviceattest-ark1-alpha.eddsa.attest.cert.pem",
        "deviceattest-ark1-founder.eddsa.attest.cert.pem",
        "deviceattest-ark1-friend.eddsa.attest.cert.pem",
    ] {
        match verify_err(&evidence(Format::YubikeyPiv, &[dir.join(f)])) {
            AttestationError::Missing { what, .. } => {
                assert!(what.contains("f9 device certificate"), "{what}")
            }
            other => panic!("{f}: {other:?}"),
        }
    }
    // A "device certificate" from a test root.
    let dir = piv.join("negative/sigstore-staging-testroot-76651934");
    let ev = evidence(
        Format::YubikeyPiv,
        &[
            dir.join("76651934_key_cert.pem"),
            dir.join("76651934_device_cert.pem"),
        ],
    );
    assert_eq!(verify_err(&ev).code(), "structure");
}

#[test]
fn corpus_preview_cas_are_never_loaded() {
    let Some(c) = corpus() else { return };
    for f in [
        "yubico-piv-preview-ca-certs.pem",
        "yubico-preview-ca-certs.txt",
        "yubico-sd-preview-ca-certs.pem",
    ] {
        let mut s = TrustStore::empty();
        let err = s
            .add_pem(
                signet::va::attestation::TrustFamily::YubikeyPiv,
                &read(&c.join("yubico-pki/preview").join(f)),
                f,
            )
            .unwrap_err();
        assert!(
            matches!(err, signet::va::attestation::TrustError::PreviewCa { .. }),
            "{f}: {err}"
        );
    }
}
