//! The issuing CA's private key: a PEM file (or the development CA) or a
//! PKCS#11 token. Signs like any rcgen key (certificates, CRLs) and may be
//! used from many threads at once. Every signature is counted, so a test can
//! show that the key signs nothing at start-up that is not a stored
//! certificate or CRL (CS BR 3.2, 5.4.1.1: the start-up self-test signs one
//! fixed message, no certificate).

use std::sync::atomic::{AtomicU64, Ordering};

use rcgen::{KeyPair, PublicKeyData};

/// Where the issuing key lives.
pub(crate) enum KeySource {
    File(KeyPair),
    Pkcs11(super::pkcs11::Pkcs11Key),
}

/// The issuing key with its signature counter.
pub(crate) struct IssuingKey {
    source: KeySource,
    signatures: AtomicU64,
}

impl IssuingKey {
    pub(crate) fn new(source: KeySource) -> IssuingKey {
        IssuingKey {
            source,
            signatures: AtomicU64::new(0),
        }
    }

    /// How many signatures the key has made since it was loaded.
    pub(crate) fn signatures(&self) -> u64 {
        self.signatures.load(Ordering::Relaxed)
    }
}

impl PublicKeyData for IssuingKey {
    fn der_bytes(&self) -> &[u8] {
        match &self.source {
            KeySource::File(k) => k.der_bytes(),
            KeySource::Pkcs11(k) => k.der_bytes(),
        }
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match &self.source {
            KeySource::File(k) => PublicKeyData::algorithm(k),
            KeySource::Pkcs11(k) => k.algorithm(),
        }
    }
}

impl rcgen::SigningKey for IssuingKey {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        self.signatures.fetch_add(1, Ordering::Relaxed);
        match &self.source {
            KeySource::File(k) => rcgen::SigningKey::sign(k, msg),
            KeySource::Pkcs11(k) => rcgen::SigningKey::sign(k, msg),
        }
    }
}
