//! Hardware key attestation: the verifiers (`va::attestation`) and the RA
//! policy (`ra::attestation::decide`) against
//! - the real corpus in ../shared/attestation (skipped, with a message, when
//!   absent),
//! - the permissively licensed vectors copied into
//!   protocol-tests/vectors/attestation (always run),
//! - generated adversarial evidence (always run).
//!
//! One test binary; a module per vendor, their shared helpers in `common`.

mod cloud_hsm;
mod common;
mod cross_vendor;
mod fortanix;
mod luna;
mod yubihsm;
mod yubikey;
mod yubikey_generated;

#[path = "../fuzz/harness.rs"]
mod fuzz_harness;
