#![allow(dead_code)]

//! Fuzz harnesses for the attestation parsers, shared by the cargo-fuzz
//! targets (fuzz_targets/*.rs) and by the corpus replay test in
//! protocol-tests/attestation.rs (which runs on stable in CI).
//!
//! Each harness must never panic: every malformed input is an error value.

use std::sync::OnceLock;

use signet::va::attestation::{self, cloud_hsm, Evidence, Format, TrustStore};
use time::macros::datetime;
use time::OffsetDateTime;

const NOW: OffsetDateTime = datetime!(2026-11-21 06:00 UTC);

/// A harness entry point.
pub type Harness = fn(&[u8]);

/// (target name, harness) for the replay test.
pub const TARGETS: &[(&str, Harness)] = &[
    ("attestation_json", attestation_json),
    ("attestation_file", attestation_file),
    ("attestation_certificates", attestation_certificates),
    ("cloud_hsm_blob", cloud_hsm_blob),
    ("csr_attestation", csr_attestation),
];

fn store() -> &'static TrustStore {
    static STORE: OnceLock<TrustStore> = OnceLock::new();
    STORE.get_or_init(|| TrustStore::defaults().expect("shipped roots"))
}

fn check(ev: &Evidence) {
    let _ = attestation::verify(ev, store(), NOW);
}

/// The ACME finalize `attestation` member.
pub fn attestation_json(data: &[u8]) {
    if let Ok(ev) = Evidence::from_json(data) {
        check(&ev);
    }
}

/// The admin CLI `--attestation FILE` (JSON, PEM bundle, PKCS#7).
pub fn attestation_file(data: &[u8]) {
    if let Ok(ev) = Evidence::from_file_bytes(data) {
        check(&ev);
    }
}

/// Raw DER certificates under every format: byte 0 selects the format, then
/// repeated (u16 big-endian length, bytes) records.
pub fn attestation_certificates(data: &[u8]) {
    let Some((&sel, mut rest)) = data.split_first() else {
        return;
    };
    let format = Format::ALL[sel as usize % Format::ALL.len()];
    let mut certificates = Vec::new();
    while rest.len() >= 2 && certificates.len() < 16 {
        let len = u16::from_be_bytes([rest[0], rest[1]]) as usize;
        rest = &rest[2..];
        let take = len.min(rest.len());
        certificates.push(rest[..take].to_vec());
        rest = &rest[take..];
    }
    let blob = (format == Format::GoogleCloudHsm).then(|| rest.to_vec());
    check(&Evidence {
        format,
        certificates,
        blob,
    });
}

/// The Cloud HSM attestation blob parser (gzip or raw).
pub fn cloud_hsm_blob(data: &[u8]) {
    for sig_len in [0, 256, 512] {
        let _ = cloud_hsm::parse_blob(data, sig_len);
    }
}

/// A CSR carrying YubiKey attestation in its extensionRequest.
pub fn csr_attestation(data: &[u8]) {
    if let Ok(csr) = signet::csr::Csr::parse(data) {
        if let Some(ev) = attestation::evidence_from_csr(&csr) {
            check(&ev);
        }
    }
}
