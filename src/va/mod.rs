pub mod attestation;
