pub mod attestation;
pub mod email;
