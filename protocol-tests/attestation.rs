//! Hardware key attestation: the verifiers (`va::attestation`) and the RA
//! policy (`ra::attestation::decide`) against
//! - the real corpus in ../shared/attestation (skipped, with a message, when
//!   absent),
//! - the permissively licensed vectors copied into
//!   protocol-tests/vectors/attestation (always run),
//! - generated adversarial evidence (always run).

use std::path::{Path, PathBuf};

use signet::va::attestation::{
    self, AttestationError, AttestationFacts, Evidence, Format, KeyOrigin, PinPolicy, TouchPolicy, TrustStore,
};
use time::macros::datetime;
use time::OffsetDateTime;

/// All tests run at a fixed instant (the corpus was checked on this day).
const NOW: OffsetDateTime = datetime!(2026-11-21 06:00 UTC);

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/attestation");
    if dir.join("INDEX.md").is_file() {
        Some(dir)
    } else {
        println!("SKIPPED: attestation corpus {} is absent", dir.display());
        None
    }
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// DER certificates of a PEM file.
fn pem_certs(path: &Path) -> Vec<Vec<u8>> {
    let text = read(path);
    let blocks = pem::parse_many(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let out: Vec<Vec<u8>> = blocks
        .into_iter()
        .filter(|b| b.tag() == "CERTIFICATE")
        .map(|b| b.into_contents())
        .collect();
    assert!(!out.is_empty(), "{}: no certificates", path.display());
    out
}

fn evidence(format: Format, files: &[PathBuf]) -> Evidence {
    Evidence {
        format,
        certificates: files.iter().flat_map(|f| pem_certs(f)).collect(),
        blob: None,
    }
}

fn store() -> TrustStore {
    TrustStore::load(None).expect("shipped roots load")
}

fn verify_ok(ev: &Evidence) -> AttestationFacts {
    match attestation::verify(ev, &store(), NOW) {
        Ok(f) => f,
        Err(e) => panic!("expected acceptance, got: {e}"),
    }
}

fn verify_err(ev: &Evidence) -> AttestationError {
    match attestation::verify(ev, &store(), NOW) {
        Ok(f) => panic!("expected rejection, got facts: {f:?}"),
        Err(e) => e,
    }
}

/// DER SPKI of a PEM public key or certificate file.
fn spki_of(path: &Path) -> Vec<u8> {
    let text = read(path);
    let block = pem::parse(&text).unwrap();
    match block.tag() {
        "PUBLIC KEY" => block.into_contents(),
        "CERTIFICATE" => {
            let (_, c) = x509_parser::parse_x509_certificate(block.contents()).unwrap();
            c.tbs_certificate.subject_pki.raw.to_vec()
        }
        other => panic!("unexpected PEM block {other}"),
    }
}

// ---------------------------------------------------------------- YubiKey PIV

struct PivCase {
    dir: &'static str,
    slot_cert: &'static str,
    device_cert: &'static str,
    slot: &'static str,
    serial: Option<&'static str>,
    firmware: &'static str,
    pin: PinPolicy,
    touch: TouchPolicy,
    fips: bool,
    cspn: bool,
    quirk: Option<&'static str>,
}

/// Every complete YubiKey PIV chain of the corpus, with the values INDEX.md
/// decoded for it.
const PIV_CASES: &[PivCase] = &[
    PivCase { dir: "docker-tuf-25515003", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("25515003"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-25515137", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("25515137"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-25515139", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("25515139"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-25515142", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("25515142"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-25515264", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("25515264"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-25515267", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("25515267"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-25515985", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("25515985"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-25515991", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("25515991"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-25599865", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("25599865"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-28751258", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("28751258"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-28751259", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("28751259"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-28751288", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("28751288"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "docker-tuf-testkeys-dir12345678-serial26551025", slot_cert: "Slot9CAttestation.pem", device_cert: "SlotF9Intermediate.pem", slot: "9c", serial: Some("26551025"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: false, cspn: false, quirk: None },
    PivCase { dir: "go-piv-validchain", slot_cert: "slot-9a-attestation.pem", device_cert: "device-f9-attestation.pem", slot: "9a", serial: Some("15732500"), firmware: "5.4.3", pin: PinPolicy::Once, touch: TouchPolicy::Never, fips: false, cspn: false, quirk: None },
    PivCase { dir: "ipxe-secure-boot-ca", slot_cert: "attestation-9a.crt", device_cert: "attestation-intermediate.crt", slot: "9a", serial: Some("28557046"), firmware: "5.4.3", pin: PinPolicy::Once, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "ipxe-secure-boot-ca", slot_cert: "attestation-9c.crt", device_cert: "attestation-intermediate.crt", slot: "9c", serial: Some("28557046"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: true, cspn: false, quirk: None },
    PivCase { dir: "ovh-checker-fw435-5970478", slot_cert: "slot-9a-attestation-README.pem", device_cert: "device-f9-attestation.pem", slot: "9a", serial: Some("5970478"), firmware: "4.3.5", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: false, cspn: false, quirk: Some("yubikey-device-cert-without-basic-constraints") },
    PivCase { dir: "ovh-checker-fw435-5970478", slot_cert: "slot-9a-attestation.pem", device_cert: "device-f9-attestation.pem", slot: "9a", serial: Some("5970478"), firmware: "4.3.5", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: false, cspn: false, quirk: Some("yubikey-device-cert-without-basic-constraints") },
    PivCase { dir: "ovh-checker-fw574-32718477", slot_cert: "slot-9a-attestation.pem", device_cert: "device-f9-attestation.pem", slot: "9a", serial: Some("32718477"), firmware: "5.7.4", pin: PinPolicy::Always, touch: TouchPolicy::Never, fips: false, cspn: false, quirk: None },
    PivCase { dir: "powershellYK-testdata", slot_cert: "piv_attestion_attestioncertificate.cer", device_cert: "piv_attestion_intermediatecertificate.cer", slot: "9a", serial: Some("19661687"), firmware: "5.4.3", pin: PinPolicy::Once, touch: TouchPolicy::Never, fips: false, cspn: false, quirk: None },
    PivCase { dir: "powershellYK-testdata", slot_cert: "piv_attestion_5_4_3_9a_slot_attestation.cer", device_cert: "piv_attestion_5_4_3_9a_AttestationIntermediateCertificate.cer", slot: "9a", serial: Some("19661687"), firmware: "5.4.3", pin: PinPolicy::Once, touch: TouchPolicy::Cached, fips: false, cspn: false, quirk: None },
    PivCase { dir: "powershellYK-testdata", slot_cert: "piv_attestion_cspn_attestioncertificate.cer", device_cert: "piv_attestion_cspn_intermediatecertificate.cer", slot: "9a", serial: Some("22399878"), firmware: "5.4.2", pin: PinPolicy::Once, touch: TouchPolicy::Never, fips: false, cspn: true, quirk: None },
    PivCase { dir: "powershellYK-testdata", slot_cert: "piv_attestion_fips_attestioncertificate.cer", device_cert: "piv_attestion_fips_intermediatecertificate.cer", slot: "9a", serial: Some("28989702"), firmware: "5.4.3", pin: PinPolicy::Never, touch: TouchPolicy::Always, fips: true, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-10550341", slot_cert: "10550341_key_cert.pem", device_cert: "10550341_device_cert.pem", slot: "9c", serial: Some("10550341"), firmware: "4.4.5", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: true, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-13078778", slot_cert: "13078778_key_cert.pem", device_cert: "13078778_device_cert.pem", slot: "9c", serial: Some("13078778"), firmware: "5.2.6", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-13078782", slot_cert: "13078782_key_cert.pem", device_cert: "13078782_device_cert.pem", slot: "9c", serial: Some("13078782"), firmware: "5.2.6", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-14454335", slot_cert: "14454335_key_cert.pem", device_cert: "14454335_device_cert.pem", slot: "9c", serial: Some("14454335"), firmware: "5.2.7", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-14469571", slot_cert: "14469571_key_cert.pem", device_cert: "14469571_device_cert.pem", slot: "9c", serial: Some("14469571"), firmware: "5.2.7", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-14470876", slot_cert: "14470876_key_cert.pem", device_cert: "14470876_device_cert.pem", slot: "9c", serial: Some("14470876"), firmware: "5.2.7", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-14470888", slot_cert: "14470888_key_cert.pem", device_cert: "14470888_device_cert.pem", slot: "9c", serial: Some("14470888"), firmware: "5.2.7", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-14833186", slot_cert: "14833186_key_cert.pem", device_cert: "14833186_device_cert.pem", slot: "9c", serial: Some("14833186"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-15026814", slot_cert: "15026814_key_cert.pem", device_cert: "15026814_device_cert.pem", slot: "9c", serial: Some("15026814"), firmware: "5.2.7", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-15724862", slot_cert: "15724862_key_cert.pem", device_cert: "15724862_device_cert.pem", slot: "9c", serial: Some("15724862"), firmware: "5.2.7", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-15743677", slot_cert: "15743677_key_cert.pem", device_cert: "15743677_device_cert.pem", slot: "9c", serial: Some("15743677"), firmware: "5.2.7", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-15935408", slot_cert: "15935408_key_cert.pem", device_cert: "15935408_device_cert.pem", slot: "9c", serial: Some("15935408"), firmware: "5.2.7", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-15938765", slot_cert: "15938765_key_cert.pem", device_cert: "15938765_device_cert.pem", slot: "9c", serial: Some("15938765"), firmware: "5.2.7", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-15938791", slot_cert: "15938791_key_cert.pem", device_cert: "15938791_device_cert.pem", slot: "9c", serial: Some("15938791"), firmware: "5.2.7", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
    PivCase { dir: "sigstore-root-signing-18158855", slot_cert: "18158855_key_cert.pem", device_cert: "18158855_device_cert.pem", slot: "9c", serial: Some("18158855"), firmware: "5.4.3", pin: PinPolicy::Always, touch: TouchPolicy::Always, fips: false, cspn: false, quirk: None },
];

#[test]
fn corpus_yubikey_piv_genuine_chains_accepted_with_facts() {
    let Some(c) = corpus() else { return };
    let mut seen_serials = std::collections::BTreeSet::new();
    for case in PIV_CASES {
        let dir = c.join("yubikey-piv").join(case.dir);
        let ev = evidence(Format::YubikeyPiv, &[dir.join(case.slot_cert), dir.join(case.device_cert)]);
        let facts = match attestation::verify(&ev, &store(), NOW) {
            Ok(f) => f,
            Err(e) => panic!("{}/{}: {e}", case.dir, case.slot_cert),
        };
        let what = format!("{}/{}", case.dir, case.slot_cert);
        assert_eq!(facts.format, Format::YubikeyPiv, "{what}");
        assert_eq!(facts.device_serial.as_deref(), case.serial, "{what}");
        assert_eq!(facts.firmware.as_deref(), Some(case.firmware), "{what}");
        assert_eq!(facts.key_id.as_deref(), Some(case.slot), "{what}");
        assert_eq!(facts.pin_policy, Some(case.pin), "{what}");
        assert_eq!(facts.touch_policy, Some(case.touch), "{what}");
        assert_eq!(facts.fips, Some(case.fips), "{what}");
        assert_eq!(facts.cspn, Some(case.cspn), "{what}");
        assert_eq!(facts.key_origin, KeyOrigin::Generated, "{what}");
        assert_eq!(facts.never_extractable, Some(true), "{what}");
        assert_eq!(facts.attested_spki_der, spki_of(&dir.join(case.slot_cert)), "{what}");
        match case.quirk {
            Some(q) => assert!(facts.quirks.iter().any(|x| x == q), "{what}: quirks {:?}", facts.quirks),
            None => assert!(facts.quirks.is_empty(), "{what}: unexpected quirks {:?}", facts.quirks),
        }
        assert!(facts.chain_subjects.len() >= 3, "{what}");
        if let Some(s) = case.serial {
            seen_serials.insert(s);
        }
    }
    // 36 distinct devices per INDEX.md minus the ones only present as CSRs.
    assert!(seen_serials.len() >= 30, "{} devices", seen_serials.len());
}
