//! Hardware key attestation: the verifiers (`va::attestation`) and the RA
//! policy (`ra::attestation::decide`) against
//! - the real corpus in ../shared/attestation (skipped, with a message, when
//!   absent),
//! - the permissively licensed vectors copied into
//!   protocol-tests/vectors/attestation (always run),
//! - generated adversarial evidence (always run).

use std::path::{Path, PathBuf};

use signet::va::attestation::{
    self, AttestationError, AttestationFacts, Evidence, Format, KeyOrigin, PinPolicy, TouchPolicy,
    TrustStore,
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
    PivCase {
        dir: "docker-tuf-25515003",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("25515003"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-25515137",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("25515137"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-25515139",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("25515139"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-25515142",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("25515142"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-25515264",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("25515264"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-25515267",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("25515267"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-25515985",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("25515985"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-25515991",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("25515991"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-25599865",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("25599865"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-28751258",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("28751258"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-28751259",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("28751259"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-28751288",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("28751288"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "docker-tuf-testkeys-dir12345678-serial26551025",
        slot_cert: "Slot9CAttestation.pem",
        device_cert: "SlotF9Intermediate.pem",
        slot: "9c",
        serial: Some("26551025"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "go-piv-validchain",
        slot_cert: "slot-9a-attestation.pem",
        device_cert: "device-f9-attestation.pem",
        slot: "9a",
        serial: Some("15732500"),
        firmware: "5.4.3",
        pin: PinPolicy::Once,
        touch: TouchPolicy::Never,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "ipxe-secure-boot-ca",
        slot_cert: "attestation-9a.crt",
        device_cert: "attestation-intermediate.crt",
        slot: "9a",
        serial: Some("28557046"),
        firmware: "5.4.3",
        pin: PinPolicy::Once,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "ipxe-secure-boot-ca",
        slot_cert: "attestation-9c.crt",
        device_cert: "attestation-intermediate.crt",
        slot: "9c",
        serial: Some("28557046"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "ovh-checker-fw435-5970478",
        slot_cert: "slot-9a-attestation-README.pem",
        device_cert: "device-f9-attestation.pem",
        slot: "9a",
        serial: Some("5970478"),
        firmware: "4.3.5",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: false,
        cspn: false,
        quirk: Some("yubikey-device-cert-without-basic-constraints"),
    },
    PivCase {
        dir: "ovh-checker-fw435-5970478",
        slot_cert: "slot-9a-attestation.pem",
        device_cert: "device-f9-attestation.pem",
        slot: "9a",
        serial: Some("5970478"),
        firmware: "4.3.5",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: false,
        cspn: false,
        quirk: Some("yubikey-device-cert-without-basic-constraints"),
    },
    PivCase {
        dir: "ovh-checker-fw574-32718477",
        slot_cert: "slot-9a-attestation.pem",
        device_cert: "device-f9-attestation.pem",
        slot: "9a",
        serial: Some("32718477"),
        firmware: "5.7.4",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Never,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "powershellYK-testdata",
        slot_cert: "piv_attestion_attestioncertificate.cer",
        device_cert: "piv_attestion_intermediatecertificate.cer",
        slot: "9a",
        serial: Some("19661687"),
        firmware: "5.4.3",
        pin: PinPolicy::Once,
        touch: TouchPolicy::Never,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "powershellYK-testdata",
        slot_cert: "piv_attestion_5_4_3_9a_slot_attestation.cer",
        device_cert: "piv_attestion_5_4_3_9a_AttestationIntermediateCertificate.cer",
        slot: "9a",
        serial: Some("19661687"),
        firmware: "5.4.3",
        pin: PinPolicy::Once,
        touch: TouchPolicy::Cached,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "powershellYK-testdata",
        slot_cert: "piv_attestion_cspn_attestioncertificate.cer",
        device_cert: "piv_attestion_cspn_intermediatecertificate.cer",
        slot: "9a",
        serial: Some("22399878"),
        firmware: "5.4.2",
        pin: PinPolicy::Once,
        touch: TouchPolicy::Never,
        fips: false,
        cspn: true,
        quirk: None,
    },
    PivCase {
        dir: "powershellYK-testdata",
        slot_cert: "piv_attestion_fips_attestioncertificate.cer",
        device_cert: "piv_attestion_fips_intermediatecertificate.cer",
        slot: "9a",
        serial: Some("28989702"),
        firmware: "5.4.3",
        pin: PinPolicy::Never,
        touch: TouchPolicy::Always,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-10550341",
        slot_cert: "10550341_key_cert.pem",
        device_cert: "10550341_device_cert.pem",
        slot: "9c",
        serial: Some("10550341"),
        firmware: "4.4.5",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: true,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-13078778",
        slot_cert: "13078778_key_cert.pem",
        device_cert: "13078778_device_cert.pem",
        slot: "9c",
        serial: Some("13078778"),
        firmware: "5.2.6",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-13078782",
        slot_cert: "13078782_key_cert.pem",
        device_cert: "13078782_device_cert.pem",
        slot: "9c",
        serial: Some("13078782"),
        firmware: "5.2.6",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-14454335",
        slot_cert: "14454335_key_cert.pem",
        device_cert: "14454335_device_cert.pem",
        slot: "9c",
        serial: Some("14454335"),
        firmware: "5.2.7",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-14469571",
        slot_cert: "14469571_key_cert.pem",
        device_cert: "14469571_device_cert.pem",
        slot: "9c",
        serial: Some("14469571"),
        firmware: "5.2.7",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-14470876",
        slot_cert: "14470876_key_cert.pem",
        device_cert: "14470876_device_cert.pem",
        slot: "9c",
        serial: Some("14470876"),
        firmware: "5.2.7",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-14470888",
        slot_cert: "14470888_key_cert.pem",
        device_cert: "14470888_device_cert.pem",
        slot: "9c",
        serial: Some("14470888"),
        firmware: "5.2.7",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-14833186",
        slot_cert: "14833186_key_cert.pem",
        device_cert: "14833186_device_cert.pem",
        slot: "9c",
        serial: Some("14833186"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-15026814",
        slot_cert: "15026814_key_cert.pem",
        device_cert: "15026814_device_cert.pem",
        slot: "9c",
        serial: Some("15026814"),
        firmware: "5.2.7",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-15724862",
        slot_cert: "15724862_key_cert.pem",
        device_cert: "15724862_device_cert.pem",
        slot: "9c",
        serial: Some("15724862"),
        firmware: "5.2.7",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-15743677",
        slot_cert: "15743677_key_cert.pem",
        device_cert: "15743677_device_cert.pem",
        slot: "9c",
        serial: Some("15743677"),
        firmware: "5.2.7",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-15935408",
        slot_cert: "15935408_key_cert.pem",
        device_cert: "15935408_device_cert.pem",
        slot: "9c",
        serial: Some("15935408"),
        firmware: "5.2.7",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-15938765",
        slot_cert: "15938765_key_cert.pem",
        device_cert: "15938765_device_cert.pem",
        slot: "9c",
        serial: Some("15938765"),
        firmware: "5.2.7",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-15938791",
        slot_cert: "15938791_key_cert.pem",
        device_cert: "15938791_device_cert.pem",
        slot: "9c",
        serial: Some("15938791"),
        firmware: "5.2.7",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
    PivCase {
        dir: "sigstore-root-signing-18158855",
        slot_cert: "18158855_key_cert.pem",
        device_cert: "18158855_device_cert.pem",
        slot: "9c",
        serial: Some("18158855"),
        firmware: "5.4.3",
        pin: PinPolicy::Always,
        touch: TouchPolicy::Always,
        fips: false,
        cspn: false,
        quirk: None,
    },
];

#[test]
fn corpus_yubikey_piv_genuine_chains_accepted_with_facts() {
    let Some(c) = corpus() else { return };
    let mut seen_serials = std::collections::BTreeSet::new();
    for case in PIV_CASES {
        let dir = c.join("yubikey-piv").join(case.dir);
        let ev = evidence(
            Format::YubikeyPiv,
            &[dir.join(case.slot_cert), dir.join(case.device_cert)],
        );
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
        assert_eq!(
            facts.attested_spki_der,
            spki_of(&dir.join(case.slot_cert)),
            "{what}"
        );
        match case.quirk {
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
        if let Some(s) = case.serial {
            seen_serials.insert(s);
        }
    }
    // 36 distinct devices per INDEX.md minus the ones only present as CSRs.
    assert!(seen_serials.len() >= 30, "{} devices", seen_serials.len());
}

/// Parses a corpus CSR with `Csr::parse` (every CSR here is one OpenSSL
/// accepts, including the Windows requests with Microsoft attributes).
fn load_csr(path: &Path) -> signet::csr::Csr {
    signet::csr::Csr::parse(&read(path))
        .unwrap_or_else(|e| panic!("Csr::parse refused {}: {e}", path.display()))
}

fn decide(
    policy: &AttestationPolicy,
    csr: &signet::csr::Csr,
    ev: Option<&Evidence>,
) -> Result<Option<AttestationFacts>, AttestationRefusal> {
    signet::ra::attestation::decide(policy, &csr.spki_der, ev, &store(), NOW)
}

use signet::ra::attestation::{AttestationPolicy, AttestationRefusal};

/// (directory, CSR file, serial, firmware, FIPS) of the CSRs that carry a
/// genuine YubiKey attestation for their own key.
const PIV_CSRS: &[(&str, &str, &str, &str, bool)] = &[
    (
        "csr-embedded/tamemycerts-cs-5_4_3_Always_Never_UsbAKeychain_9a_ECC384",
        "request.csr.pem",
        "19661687",
        "5.4.3",
        false,
    ),
    (
        "csr-embedded/tamemycerts-cs-5_4_3_Once_Cached_UsbAKeychain_9a_FIPS_RSA2048",
        "request.csr.pem",
        "28989702",
        "5.4.3",
        true,
    ),
    (
        "csr-embedded/tamemycerts-cs-5_4_3_Once_Never_UsbAKeychain_9a_RSA2048",
        "request.csr.pem",
        "19661687",
        "5.4.3",
        false,
    ),
    (
        "csr-embedded/tamemycerts-cs-5_7_1_Always_Always_UsbCKeychain_9c_ECC384",
        "request.csr.pem",
        "30041834",
        "5.7.1",
        false,
    ),
    (
        "csr-embedded/tamemycerts-res-5_2_7",
        "request.csr.pem",
        "15890263",
        "5.2.7",
        false,
    ),
    (
        "csr-embedded/tamemycerts-res-5_7_2",
        "request.csr.pem",
        "30000948",
        "5.7.2",
        false,
    ),
    (
        "csr-embedded/tamemycerts-res-attestation_1",
        "request.csr.pem",
        "19661687",
        "5.4.3",
        false,
    ),
    (
        "csr-embedded/tamemycerts-res-attestation_11",
        "request.csr.pem",
        "19661687",
        "5.4.3",
        false,
    ),
    (
        "csr-embedded/tamemycerts-res-csr_5_7_4_standard",
        "request.csr.pem",
        "33064031",
        "5.7.4",
        false,
    ),
    (
        "powershellYK-testdata",
        "piv_attestion_5_4_3_9a_request_attestation_legacy.req",
        "19661687",
        "5.4.3",
        false,
    ),
    (
        "powershellYK-testdata",
        "piv_attestion_5_4_3_9a_request_attestation_standard.req",
        "19661687",
        "5.4.3",
        false,
    ),
    (
        "powershellYK-testdata",
        "piv_attestion_certificaterequest_with_attestion.req",
        "19661687",
        "5.4.3",
        false,
    ),
];

#[test]
fn corpus_yubikey_csrs_with_embedded_attestation_pass_a_requiring_profile() {
    let Some(c) = corpus() else { return };
    let policy = AttestationPolicy {
        formats: vec!["yubikey-piv".into()],
        ..Default::default()
    };
    for (dir, file, serial, fw, fips) in PIV_CSRS {
        let csr = load_csr(&c.join("yubikey-piv").join(dir).join(file));
        let ev = attestation::evidence_from_csr(&csr)
            .unwrap_or_else(|| panic!("{dir}: no evidence in the CSR"));
        let facts = decide(&policy, &csr, Some(&ev))
            .unwrap_or_else(|e| panic!("{dir}/{file}: {e}"))
            .expect("facts");
        assert_eq!(facts.device_serial.as_deref(), Some(*serial), "{dir}");
        assert_eq!(facts.firmware.as_deref(), Some(*fw), "{dir}");
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
    for case in PIV_CASES
        .iter()
        .filter(|c| c.dir.starts_with("sigstore-root-signing-"))
    {
        let dir = c.join("yubikey-piv").join(case.dir);
        let serial = case.dir.trim_start_matches("sigstore-root-signing-");
        let facts = verify_ok(&evidence(
            Format::YubikeyPiv,
            &[dir.join(case.slot_cert), dir.join(case.device_cert)],
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

// ------------------------------------------------------------------ YubiHSM 2

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

// --------------------------------------------------------------- Thales Luna

#[test]
fn corpus_luna_pkcs() {
    let Some(c) = corpus() else { return };
    let dir = c.join("thales-luna/luna-pkc-validator-tests");
    // RSA PKC as the admin CLI would read it (DER PKCS#7 file).
    let ev = Evidence::from_file_bytes(&read(&dir.join("rsa-pkc.p7b"))).unwrap();
    assert_eq!(ev.format, Format::ThalesLuna);
    let csr = load_csr(&dir.join("rsa-test.csr"));
    let facts = decide(&AttestationPolicy::default(), &csr, Some(&ev))
        .unwrap()
        .unwrap();
    assert_eq!(facts.device_serial.as_deref(), Some("521174"));
    assert_eq!(facts.key_origin, KeyOrigin::Generated);
    assert!(!facts
        .quirks
        .iter()
        .any(|q| q == "luna-non-der-ecdsa-signature"));
    assert_eq!(facts.chain_subjects.len(), 5, "{:?}", facts.chain_subjects);
    // ECC PKC: the leaf's non-DER ECDSA signature is tolerated and recorded.
    let ev = Evidence::from_file_bytes(&read(&dir.join("ecc-pkc.p7b"))).unwrap();
    let csr = load_csr(&dir.join("ecc-test.csr"));
    let facts = decide(&AttestationPolicy::default(), &csr, Some(&ev))
        .unwrap()
        .unwrap();
    assert_eq!(facts.device_serial.as_deref(), Some("521174"));
    assert!(
        facts
            .quirks
            .iter()
            .any(|q| q == "luna-non-der-ecdsa-signature"),
        "{:?}",
        facts.quirks
    );
    // The RSA PKC does not attest the ECC CSR's key.
    let ev = Evidence::from_file_bytes(&read(&dir.join("rsa-pkc.p7b"))).unwrap();
    assert!(matches!(
        decide(&AttestationPolicy::default(), &csr, Some(&ev)),
        Err(AttestationRefusal::KeyMismatch { .. })
    ));
}

// ------------------------------------------------------------ Google Cloud HSM

fn cloud_evidence(dir: &Path, blob: &str, certs: &str) -> Evidence {
    Evidence {
        format: Format::GoogleCloudHsm,
        certificates: pem_certs(&dir.join(certs)),
        blob: Some(read(&dir.join(blob))),
    }
}

#[test]
fn corpus_cloud_hsm_attestations() {
    let Some(c) = corpus() else { return };
    let g = c.join("google-cloud-hsm");
    for (sub, blob, certs, serial, key) in [
        (
            "smallstep-crypto-ec",
            "ec.dat",
            "ec.certs",
            "5.2G1804-ICM000678",
            "ECDSA P-256",
        ),
        (
            "smallstep-crypto-rsa",
            "rsa.dat",
            "rsa.certs",
            "5.3G2041-ICM002696",
            "RSA-2048",
        ),
        (
            "peculiar-attestation-validator-spec",
            "attestation.dat",
            "certs.pem",
            "5.3G1953-ICM001225",
            "ECDSA P-256",
        ),
    ] {
        let dir = g.join(sub);
        let facts = verify_ok(&cloud_evidence(&dir, blob, certs));
        assert_eq!(
            facts.attested_spki_der,
            spki_of(&dir.join("attested-pubkey.DERIVED.pem")),
            "{sub}"
        );
        assert_eq!(facts.device_serial.as_deref(), Some(serial), "{sub}");
        assert_eq!(facts.attested_key, key, "{sub}");
        assert_eq!(facts.key_origin, KeyOrigin::Generated, "{sub}");
        assert_eq!(facts.extractable, Some(false), "{sub}");
        assert_eq!(facts.never_extractable, Some(true), "{sub}");
        assert_eq!(facts.fips, Some(true), "{sub}");
        assert!(
            facts
                .quirks
                .iter()
                .any(|q| q == "marvell-v1-card-certificate"),
            "{sub}"
        );
        assert_eq!(
            facts.trust_anchor_sha256.len(),
            2,
            "manufacturer and owner anchors"
        );
    }
    // A symmetric key has no public key to certify.
    let dir = g.join("smallstep-crypto-aes");
    assert_eq!(
        verify_err(&cloud_evidence(&dir, "aes.dat", "aes.certs")).code(),
        "no-public-key"
    );
    // The blob of one HSM with the certificates of another.
    let ec = g.join("smallstep-crypto-ec");
    let mut ev = cloud_evidence(&ec, "ec.dat", "ec.certs");
    ev.blob = Some(read(&g.join("smallstep-crypto-rsa/rsa.dat")));
    assert_eq!(verify_err(&ev).code(), "signature");
    // The imported-key blob published without certificates: parses, says
    // CKA_LOCAL = 0, and cannot be verified against any chain.
    let raw = read(&g.join("peculiar-attestation-parser-spec/rsa-attestation.dat"));
    let blob = attestation::cloud_hsm::parse_blob(&raw, 256).unwrap();
    let key = blob
        .objects
        .iter()
        .find(|o| o.attr(attestation::cloud_hsm::ATTR_CLASS) == Some(&[3][..]))
        .unwrap();
    assert_eq!(
        key.attr(attestation::cloud_hsm::ATTR_LOCAL),
        Some(&[0u8][..])
    );
    let mut ev = cloud_evidence(&ec, "ec.dat", "ec.certs");
    ev.blob = Some(raw);
    assert_eq!(verify_err(&ev).code(), "signature");
    // Missing owner chain: only the manufacturer certificates.
    let mut ev = cloud_evidence(&ec, "ec.dat", "ec.certs");
    ev.certificates = pem_certs(&ec.join("split/1-mfr-card-cert.pem"))
        .into_iter()
        .chain(pem_certs(&ec.join("split/2-mfr-partition-cert.pem")))
        .collect();
    assert_eq!(verify_err(&ev).code(), "missing");
    // Only the expired 2015 Cavium root pinned: refused (its re-issue is the anchor).
    let mut old = TrustStore::empty();
    old.add_pem(
        signet::va::attestation::TrustFamily::GoogleCloudHsmManufacturer,
        &read(&ec.join("split/0-mfr-root-cavium-2015.pem")),
        "2015",
    )
    .unwrap();
    old.add_pem(
        signet::va::attestation::TrustFamily::GoogleCloudHsmOwner,
        &read(&g.join("roots/google-hawksbill-root-v1-prod.pem")),
        "owner",
    )
    .unwrap();
    match attestation::verify(&cloud_evidence(&ec, "ec.dat", "ec.certs"), &old, NOW) {
        Err(AttestationError::Untrusted { reason, .. }) => {
            assert!(reason.contains("not valid"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

// -------------------------------------------------------------- Fortanix DSM

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
fn corpus_mislabelled_evidence_is_refused() {
    let Some(c) = corpus() else { return };
    let dir = c.join("yubihsm2/niklasgillstrom-hsm-20783176");
    let mut ev = evidence(
        Format::Yubihsm2,
        &[
            dir.join("chain-0.FROM-JSON.pem"),
            dir.join("chain-1.FROM-JSON.pem"),
        ],
    );
    ev.format = Format::YubikeyPiv;
    assert_eq!(
        verify_err(&ev),
        AttestationError::FormatMismatch {
            declared: Format::YubikeyPiv,
            detected: Format::Yubihsm2
        }
    );
}

// ------------------------------------------------------- generated evidence
//
// Always run: adversarial evidence built with rcgen, verified against trust
// stores holding the generated roots (and, where the point is a look-alike of
// a real vendor root, against the shipped store).

mod gen {
    use rcgen::{
        BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, IsCa,
        Issuer, KeyPair, KeyUsagePurpose,
    };
    use time::OffsetDateTime;

    pub struct Node {
        pub params: CertificateParams,
        pub key: KeyPair,
        pub der: Vec<u8>,
    }

    impl Node {
        pub fn pem(&self) -> String {
            pem::encode(&pem::Pem::new("CERTIFICATE", self.der.clone()))
        }

        pub fn spki(&self) -> Vec<u8> {
            let (_, c) = x509_parser::parse_x509_certificate(&self.der).unwrap();
            c.tbs_certificate.subject_pki.raw.to_vec()
        }
    }

    pub struct Spec<'a> {
        pub cn: &'a str,
        pub ca: Option<Option<u8>>,
        pub exts: Vec<CustomExtension>,
        pub validity: Option<(OffsetDateTime, OffsetDateTime)>,
        pub key: Option<KeyPair>,
        pub eku: Vec<Vec<u64>>,
    }

    impl<'a> Spec<'a> {
        pub fn leaf(cn: &'a str) -> Spec<'a> {
            Spec {
                cn,
                ca: None,
                exts: Vec::new(),
                validity: None,
                key: None,
                eku: Vec::new(),
            }
        }

        pub fn ca(cn: &'a str, path_len: Option<u8>) -> Spec<'a> {
            Spec {
                ca: Some(path_len),
                ..Spec::leaf(cn)
            }
        }

        pub fn ext(mut self, oid: &[u64], content: Vec<u8>) -> Self {
            self.exts
                .push(CustomExtension::from_oid_content(oid, content));
            self
        }

        pub fn valid(mut self, from: OffsetDateTime, to: OffsetDateTime) -> Self {
            self.validity = Some((from, to));
            self
        }

        pub fn with_key(mut self, key: KeyPair) -> Self {
            self.key = Some(key);
            self
        }

        pub fn eku(mut self, oid: &[u64]) -> Self {
            self.eku.push(oid.to_vec());
            self
        }
    }

    fn params(spec: &Spec<'_>) -> CertificateParams {
        let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, spec.cn);
        p.distinguished_name = dn;
        if let Some(pl) = spec.ca {
            p.is_ca = IsCa::Ca(match pl {
                Some(n) => BasicConstraints::Constrained(n),
                None => BasicConstraints::Unconstrained,
            });
            p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        }
        if let Some((a, b)) = spec.validity {
            p.not_before = a;
            p.not_after = b;
        }
        p.custom_extensions = spec.exts.clone();
        if !spec.eku.is_empty() {
            p.extended_key_usages = spec
                .eku
                .iter()
                .map(|o| rcgen::ExtendedKeyUsagePurpose::Other(o.clone()))
                .collect();
        }
        p
    }

    pub fn root(spec: Spec<'_>) -> Node {
        let p = params(&spec);
        let key = spec.key.unwrap_or_else(|| KeyPair::generate().unwrap());
        let der = p.self_signed(&key).unwrap().der().to_vec();
        Node {
            params: p,
            key,
            der,
        }
    }

    pub fn issue(issuer: &Node, spec: Spec<'_>) -> Node {
        let p = params(&spec);
        let key = spec.key.unwrap_or_else(|| KeyPair::generate().unwrap());
        let iss = Issuer::from_params(&issuer.params, &issuer.key);
        let der = p.signed_by(&key, &iss).unwrap().der().to_vec();
        Node {
            params: p,
            key,
            der,
        }
    }

    pub const YK: [u64; 9] = [1, 3, 6, 1, 4, 1, 41482, 3, 0];

    pub fn yk(arc: u64) -> Vec<u64> {
        let mut o = YK.to_vec();
        o[8] = arc;
        o
    }

    pub fn hsm(arc: u64) -> Vec<u64> {
        vec![1, 3, 6, 1, 4, 1, 41482, 4, arc]
    }

    /// Minimal DER INTEGER.
    pub fn int(v: u64) -> Vec<u8> {
        let b = v.to_be_bytes();
        let mut digits: Vec<u8> = b.iter().copied().skip_while(|x| *x == 0).collect();
        if matches!(digits.first(), None | Some(0x80..)) {
            digits.insert(0, 0);
        }
        let mut out = vec![0x02, digits.len() as u8];
        out.extend(digits);
        out
    }

    /// A slot attestation certificate spec with realistic YubiKey extensions.
    pub fn slot(cn: &str, serial: u32, pin: u8, touch: u8, form: u8) -> Spec<'_> {
        Spec::leaf(cn)
            .ext(&yk(3), vec![5, 7, 4])
            .ext(&yk(7), int(serial.into()))
            .ext(&yk(8), vec![pin, touch])
            .ext(&yk(9), vec![form])
    }

    /// A YubiHSM key attestation spec.
    pub fn hsm_key(cn: &str, serial: u32, origin: u8, caps: u64, id: u8) -> Spec<'_> {
        let mut capv = vec![0x03, 0x09, 0x00];
        capv.extend(caps.to_be_bytes());
        Spec::leaf(cn)
            .ext(&hsm(1), vec![0x04, 0x03, 2, 4, 0])
            .ext(&hsm(2), int(serial.into()))
            .ext(&hsm(3), vec![0x03, 0x02, 0x00, origin])
            .ext(&hsm(5), capv)
            .ext(&hsm(6), int(id.into()))
    }
}

use gen::Spec;

fn store_with(family: signet::va::attestation::TrustFamily, roots: &[&gen::Node]) -> TrustStore {
    let mut s = TrustStore::empty();
    for r in roots {
        s.add_pem(family, r.pem().as_bytes(), "generated").unwrap();
    }
    s
}

fn ev_of(format: Format, nodes: &[&gen::Node]) -> Evidence {
    Evidence {
        format,
        certificates: nodes.iter().map(|n| n.der.clone()).collect(),
        blob: None,
    }
}

use signet::va::attestation::TrustFamily;

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

#[test]
fn trust_store_directory_layout_is_checked() {
    let root = gen::root(Spec::ca("Operator Root", None));
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("yubikey-pvi")).unwrap();
    std::fs::write(tmp.path().join("yubikey-pvi/root.pem"), root.pem()).unwrap();
    let e = TrustStore::load(Some(tmp.path())).unwrap_err();
    assert!(e.to_string().contains("unknown trust family"), "{e}");
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("root.pem"), root.pem()).unwrap();
    assert!(TrustStore::load(Some(tmp.path())).is_err());
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("thales-luna")).unwrap();
    std::fs::write(tmp.path().join("thales-luna/root.pem"), root.pem()).unwrap();
    let s = TrustStore::load(Some(tmp.path())).unwrap();
    let defaults = TrustStore::defaults().unwrap();
    assert_eq!(s.pinned().len(), defaults.pinned().len() + 1);
    // The shipped defaults: every family has an anchor, no preview CA.
    for family in TrustFamily::ALL {
        assert!(
            defaults
                .pinned()
                .iter()
                .any(|p| p.family == family && p.anchor),
            "no anchor for {family}"
        );
    }
    assert!(!defaults
        .pinned()
        .iter()
        .any(|p| p.subject.to_lowercase().contains("preview")));
}

/// One attestation-data object: handle, attribute count, attribute bytes, attributes.
fn blob_object(handle: u32, attrs: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (t, v) in attrs {
        body.extend(t.to_be_bytes());
        body.extend((v.len() as u32).to_be_bytes());
        body.extend(v);
    }
    let mut out = Vec::new();
    out.extend(handle.to_be_bytes());
    out.extend((attrs.len() as u32).to_be_bytes());
    out.extend((body.len() as u32).to_be_bytes());
    out.extend(body);
    out
}

/// A Cavium-V2-shaped attestation blob for an EC key pair, signed with `sign`.
fn build_blob(point: &[u8], local: bool, sign: impl Fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let common = |class: u8, extractable: u8, never: u8| {
        vec![
            (0x0000, vec![class]),
            (0x0100, vec![3]),
            (0x0003, b"app_key\0\0\0".to_vec()),
            (0x0120, point.to_vec()),
            (0x0162, vec![extractable]),
            (0x0163, vec![local as u8]),
            (0x0164, vec![never]),
        ]
    };
    let public = blob_object(0x0a1c, &common(2, 1, 0));
    let private = blob_object(0x0a1d, &common(3, 0, 1));
    let header_len = 16 + 2 * 8;
    let data_len = header_len + 8 + public.len() + private.len();
    let total = data_len + 256;
    let mut data = Vec::new();
    data.extend(0u32.to_be_bytes());
    data.extend(3u32.to_be_bytes());
    data.extend((total as u32).to_be_bytes());
    data.extend(((total - header_len - 256) as u32).to_be_bytes());
    data.extend(0x0a1cu64.to_be_bytes());
    data.extend(0x0a1du64.to_be_bytes());
    data.extend(1u16.to_be_bytes());
    data.extend(3u16.to_be_bytes());
    data.extend(8u16.to_be_bytes());
    data.extend(((8 + public.len()) as u16).to_be_bytes());
    data.extend(&public);
    data.extend(&private);
    assert_eq!(data.len(), data_len);
    let sig = sign(&data);
    assert_eq!(sig.len(), 256);
    data.extend(sig);
    data
}

struct CloudPki {
    mfr_root: gen::Node,
    owner_root: gen::Node,
    certs: Vec<Vec<u8>>,
    partition_key: aws_lc_rs::rsa::KeyPair,
}

fn cloud_pki() -> CloudPki {
    use aws_lc_rs::encoding::AsDer;
    let partition_key =
        aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = partition_key.as_der().unwrap();
    let rc_key = || rcgen::KeyPair::try_from(pkcs8.as_ref()).unwrap();
    let card_key = rcgen::KeyPair::generate().unwrap();
    let card_pkcs8 = card_key.serialize_der();
    let mfr_root = gen::root(Spec::ca("localca.liquidsecurity.test", None));
    let owner_root = gen::root(Spec::ca("Test Owner Root", None));
    let mfr_card = gen::issue(
        &mfr_root,
        Spec::ca("HSM:TEST-ICM000001, for FIPS mode", None).with_key(card_key),
    );
    let mfr_part = gen::issue(
        &mfr_card,
        Spec::leaf("HSM:TEST-ICM000001:PARTN:1, for FIPS mode").with_key(rc_key()),
    );
    let owner_card = gen::issue(
        &owner_root,
        Spec::leaf("HSM:TEST-ICM000001, for FIPS mode")
            .with_key(rcgen::KeyPair::try_from(card_pkcs8.as_slice()).unwrap()),
    );
    let owner_part = gen::issue(
        &owner_root,
        Spec::leaf("HSM:TEST-ICM000001:PARTN:1, for FIPS mode").with_key(rc_key()),
    );
    CloudPki {
        certs: vec![
            mfr_card.der.clone(),
            mfr_part.der.clone(),
            owner_card.der.clone(),
            owner_part.der.clone(),
        ],
        mfr_root,
        owner_root,
        partition_key,
    }
}

#[test]
fn generated_cloud_hsm_blobs_and_imported_keys() {
    let pki = cloud_pki();
    let mut store = TrustStore::empty();
    store
        .add_pem(
            TrustFamily::GoogleCloudHsmManufacturer,
            pki.mfr_root.pem().as_bytes(),
            "mfr",
        )
        .unwrap();
    store
        .add_pem(
            TrustFamily::GoogleCloudHsmOwner,
            pki.owner_root.pem().as_bytes(),
            "owner",
        )
        .unwrap();
    let sign = |data: &[u8]| {
        let mut sig = vec![0u8; pki.partition_key.public_modulus_len()];
        pki.partition_key
            .sign(
                &aws_lc_rs::signature::RSA_PKCS1_SHA256,
                &aws_lc_rs::rand::SystemRandom::new(),
                data,
                &mut sig,
            )
            .unwrap();
        sig
    };
    let attested = rcgen::KeyPair::generate().unwrap();
    let point = attested.public_key_raw().to_vec();
    let csr_spki = pem::parse(attested.public_key_pem())
        .unwrap()
        .into_contents();
    let ev = |blob: Vec<u8>| Evidence {
        format: Format::GoogleCloudHsm,
        certificates: pki.certs.clone(),
        blob: Some(blob),
    };
    // Generated in the HSM, gzip-compressed like Cloud KMS delivers it.
    let raw = build_blob(&point, true, sign);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, &raw).unwrap();
    let gz = gz.finish().unwrap();
    for blob in [raw.clone(), gz] {
        let e = ev(blob);
        let facts = signet::ra::attestation::decide(
            &AttestationPolicy::default(),
            &csr_spki,
            Some(&e),
            &store,
            NOW,
        )
        .unwrap()
        .unwrap();
        assert_eq!(facts.attested_spki_der, csr_spki);
        assert_eq!(facts.device_serial.as_deref(), Some("TEST-ICM000001"));
        assert_eq!(facts.key_label.as_deref(), Some("app_key"));
        assert_eq!(facts.key_id.as_deref(), Some("0xa1d"));
        assert!(!facts
            .quirks
            .iter()
            .any(|q| q == "marvell-v1-card-certificate"));
    }
    // Imported key: verified, refused by policy (and accepted when allowed).
    let imported = ev(build_blob(&point, false, sign));
    let facts = attestation::verify(&imported, &store, NOW).unwrap();
    assert_eq!(facts.key_origin, KeyOrigin::Imported);
    let r = signet::ra::attestation::decide(
        &AttestationPolicy::default(),
        &csr_spki,
        Some(&imported),
        &store,
        NOW,
    );
    assert!(
        matches!(r, Err(AttestationRefusal::NotGeneratedOnDevice { ref origin }) if origin == "imported"),
        "{r:?}"
    );
    let lax = AttestationPolicy {
        allow_imported_keys: true,
        ..Default::default()
    };
    assert!(signet::ra::attestation::decide(&lax, &csr_spki, Some(&imported), &store, NOW).is_ok());
    // Tampered data.
    let mut tampered = raw.clone();
    let pos = tampered.len() - 300;
    tampered[pos] ^= 1;
    assert_eq!(
        attestation::verify(&ev(tampered), &store, NOW)
            .unwrap_err()
            .code(),
        "signature"
    );
    // Truncated / inconsistent blobs are malformed, never a panic.
    for cut in [0usize, 10, 40, 200, raw.len() - 1] {
        let e = attestation::verify(&ev(raw[..cut].to_vec()), &store, NOW).unwrap_err();
        assert!(
            matches!(e.code(), "malformed" | "signature"),
            "cut {cut}: {e}"
        );
    }
    // Without the owner chain, or with the roots swapped, it is refused.
    let mut no_owner = ev(raw.clone());
    no_owner.certificates.truncate(2);
    assert_eq!(
        attestation::verify(&no_owner, &store, NOW)
            .unwrap_err()
            .code(),
        "missing"
    );
    let mut swapped = TrustStore::empty();
    swapped
        .add_pem(
            TrustFamily::GoogleCloudHsmManufacturer,
            pki.owner_root.pem().as_bytes(),
            "x",
        )
        .unwrap();
    swapped
        .add_pem(
            TrustFamily::GoogleCloudHsmOwner,
            pki.mfr_root.pem().as_bytes(),
            "y",
        )
        .unwrap();
    assert!(attestation::verify(&ev(raw), &swapped, NOW).is_err());
}

// ------------------------------------------- copied (permissive) real vectors

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/vectors/attestation")
}

#[test]
fn vectors_provenance_lists_every_file_with_a_permissive_license() {
    let v = vectors();
    let prov = String::from_utf8(read(&v.join("PROVENANCE.tsv"))).unwrap();
    let mut listed = std::collections::BTreeSet::new();
    for line in prov.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 5, "{line}");
        assert!(
            ["Apache-2.0", "MIT", "BSD-2-Clause", "BSD-3-Clause"].contains(&cols[4]),
            "{line}"
        );
        assert_eq!(cols[2].len(), 40, "commit of {}", cols[0]);
        listed.insert(cols[0].to_string());
    }
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, base, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut files = Vec::new();
    walk(&v, &v, &mut files);
    for f in files.iter().filter(|f| *f != "PROVENANCE.tsv") {
        assert!(listed.contains(f), "{f} has no provenance line");
    }
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

#[test]
fn vectors_hsms() {
    let v = vectors();
    // YubiHSM 2 with its CSR.
    let d = v.join("yubihsm2/niklasgillstrom-hsm-20783176");
    let ev = evidence(
        Format::Yubihsm2,
        &[
            d.join("chain-0.FROM-JSON.pem"),
            d.join("chain-1.FROM-JSON.pem"),
            d.join("chain-2.FROM-JSON.pem"),
        ],
    );
    let csr = load_csr(&d.join("request.csr.FROM-JSON.pem"));
    let facts = decide(&AttestationPolicy::default(), &csr, Some(&ev))
        .unwrap()
        .unwrap();
    assert_eq!(facts.device_serial.as_deref(), Some("20783176"));
    // Luna PKCs with their CSRs.
    let d = v.join("thales-luna/luna-pkc-validator-tests");
    for (p7b, csr) in [
        ("rsa-pkc.p7b", "rsa-test.csr"),
        ("ecc-pkc.p7b", "ecc-test.csr"),
    ] {
        let ev = Evidence::from_file_bytes(&read(&d.join(p7b))).unwrap();
        let csr = load_csr(&d.join(csr));
        let facts = decide(&AttestationPolicy::default(), &csr, Some(&ev))
            .unwrap_or_else(|e| panic!("{p7b}: {e}"))
            .unwrap();
        assert_eq!(facts.device_serial.as_deref(), Some("521174"));
    }
    // Cloud HSM.
    let g = v.join("google-cloud-hsm");
    for (sub, blob, certs) in [
        ("smallstep-crypto-ec", "ec.dat", "ec.certs"),
        ("smallstep-crypto-rsa", "rsa.dat", "rsa.certs"),
        (
            "peculiar-attestation-validator-spec",
            "attestation.dat",
            "certs.pem",
        ),
    ] {
        let dir = g.join(sub);
        let facts = verify_ok(&cloud_evidence(&dir, blob, certs));
        assert_eq!(
            facts.attested_spki_der,
            spki_of(&dir.join("attested-pubkey.DERIVED.pem")),
            "{sub}"
        );
    }
    let e = verify_err(&cloud_evidence(
        &g.join("smallstep-crypto-aes"),
        "aes.dat",
        "aes.certs",
    ));
    assert_eq!(e.code(), "no-public-key");
    let raw = read(&g.join("peculiar-attestation-parser-spec/rsa-attestation.dat"));
    let blob = attestation::cloud_hsm::parse_blob(&raw, 256).unwrap();
    assert_eq!(blob.objects.len(), 1);
    assert_eq!(
        blob.objects[0].attr(attestation::cloud_hsm::ATTR_LOCAL),
        Some(&[0u8][..])
    );
    // Fortanix (production root).
    let ev = Evidence::from_file_bytes(&read(
        &v.join("fortanix-dsm/fortanix-doc-sample-via-niklasgillstrom-hsm/key_attestation.json"),
    ))
    .unwrap();
    let facts = verify_ok(&ev);
    assert_eq!(facts.key_origin, KeyOrigin::Generated);
}

// ------------------------------------------------------------ fuzz corpus

#[path = "fuzz/harness.rs"]
mod fuzz_harness;

/// Replays every seed of protocol-tests/fuzz/corpus through its harness, plus
/// deterministic truncations and bit flips of each seed: no input may panic.
#[test]
fn fuzz_corpus_replays_without_panics() {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/fuzz/corpus");
    for (name, harness) in fuzz_harness::TARGETS {
        let dir = base.join(name);
        let mut seeds: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .collect();
        seeds.sort();
        assert!(!seeds.is_empty(), "no seeds for {name}");
        for seed in seeds {
            let data = read(&seed);
            harness(&data);
            let n = data.len();
            for cut in [0, 1, 2, 7, n / 3, n / 2, n.saturating_sub(1)] {
                harness(&data[..cut.min(n)]);
            }
            let step = (n / 24).max(1);
            for pos in (0..n).step_by(step) {
                let mut m = data.clone();
                m[pos] ^= 0x80;
                harness(&m);
                m[pos] = 0xff;
                harness(&m);
            }
        }
    }
}

#[test]
fn generated_mutually_signing_ca_mesh_is_bounded() {
    // Many CA certificates for two keys that certify each other: every
    // certificate verifies under every other of the opposite name, so naive
    // path building explodes. The search is bounded and fails cleanly.
    let ka = rcgen::KeyPair::generate().unwrap();
    let kb = rcgen::KeyPair::generate().unwrap();
    let ka_der = ka.serialize_der();
    let kb_der = kb.serialize_der();
    let a_issuer = gen::root(
        Spec::ca("Mesh A", None).with_key(rcgen::KeyPair::try_from(ka_der.as_slice()).unwrap()),
    );
    let b_issuer = gen::root(
        Spec::ca("Mesh B", None).with_key(rcgen::KeyPair::try_from(kb_der.as_slice()).unwrap()),
    );
    let mut mesh = Vec::new();
    for _ in 0..7 {
        mesh.push(gen::issue(
            &b_issuer,
            Spec::ca("Mesh A", None).with_key(rcgen::KeyPair::try_from(ka_der.as_slice()).unwrap()),
        ));
        mesh.push(gen::issue(
            &a_issuer,
            Spec::ca("Mesh B", None).with_key(rcgen::KeyPair::try_from(kb_der.as_slice()).unwrap()),
        ));
    }
    let device = gen::issue(
        &a_issuer,
        Spec::ca("YubiHSM Attestation (7000009)", Some(0)).ext(&gen::hsm(2), gen::int(7000009)),
    );
    let key = gen::issue(
        &device,
        gen::hsm_key("YubiHSM Attestation id:0x0001", 7000009, 0x01, 1 << 5, 1),
    );
    let unrelated_root = gen::root(Spec::ca("Unrelated Root", None));
    let store = store_with(TrustFamily::Yubihsm2, &[&unrelated_root]);
    let mut nodes: Vec<&gen::Node> = vec![&key, &device];
    nodes.extend(mesh.iter());
    let started = std::time::Instant::now();
    let e = attestation::verify(&ev_of(Format::Yubihsm2, &nodes), &store, NOW).unwrap_err();
    assert_eq!(e.code(), "untrusted", "{e}");
    assert!(
        started.elapsed() < std::time::Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn corpus_unsupported_formats_and_legacy_root_issuance() {
    let Some(c) = corpus() else { return };
    // TPM (WebAuthn) and Securosys evidence are not supported formats.
    assert!(Evidence::from_json(br#"{"format":"tpm","certificates":["MAMCAQE"]}"#).is_err());
    let tpm = c.join("tpm/yubico-java-webauthn-server-WindowsHelloTpm/split");
    let ev = evidence(
        Format::YubikeyPiv,
        &[tpm.join("x5c-0.pem"), tpm.join("x5c-1.pem")],
    );
    assert_eq!(verify_err(&ev).code(), "structure");
    let sec = c.join("other-vendors/securosys-primus-niklasgillstrom-hsm-18386101");
    assert!(Evidence::from_file_bytes(&read(&sec.join("chain-0.FROM-JSON.pem"))).is_err());
    // The pre-2018 issuance of the PIV root (same name and key) anchors the
    // same chains as the current one.
    let mut legacy = TrustStore::empty();
    legacy
        .add_pem(
            TrustFamily::YubikeyPiv,
            &read(&c.join("yubico-pki/legacy/piv-attestation-ca-old.pem")),
            "legacy",
        )
        .unwrap();
    let dir = c.join("yubikey-piv/go-piv-validchain");
    let ev = evidence(
        Format::YubikeyPiv,
        &[
            dir.join("slot-9a-attestation.pem"),
            dir.join("device-f9-attestation.pem"),
        ],
    );
    let facts = attestation::verify(&ev, &legacy, NOW).unwrap();
    assert_eq!(facts.device_serial.as_deref(), Some("15732500"));
}
