//! The request's public key as rcgen sees it: only the SubjectPublicKeyInfo,
//! never anything else from a CSR.

use rcgen::{PublicKeyData, SignatureAlgorithm};
use x509_parser::prelude::FromDer;
use x509_parser::x509::SubjectPublicKeyInfo;

use super::CaError;
use crate::csr::KeyKind;

/// A subscriber public key taken from a DER SubjectPublicKeyInfo.
///
/// rcgen re-encodes the SPKI from (algorithm, key bits); [`RequestKey::from_spki_der`]
/// only accepts SPKIs whose re-encoding is byte-identical to the input, and the
/// invariant check compares the issued certificate's SPKI with the request's.
#[derive(Debug, Clone)]
pub(crate) struct RequestKey {
    alg: &'static SignatureAlgorithm,
    key_bits: Vec<u8>,
}

impl RequestKey {
    pub(crate) fn from_spki_der(spki_der: &[u8]) -> Result<RequestKey, CaError> {
        let bad = |m: &str| CaError::InvalidRequest(format!("subject public key: {m}"));
        let (rest, spki) =
            SubjectPublicKeyInfo::from_der(spki_der).map_err(|e| bad(&e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad("trailing bytes after the SubjectPublicKeyInfo"));
        }
        if spki.subject_public_key.unused_bits != 0 {
            return Err(bad("public key BIT STRING has unused bits"));
        }
        let kind = crate::csr::key_kind(&spki);
        let alg: &'static SignatureAlgorithm = match &kind {
            KeyKind::Rsa { bits } if *bits >= 3072 => &rcgen::PKCS_RSA_SHA256,
            KeyKind::Rsa { bits } => {
                return Err(bad(&format!(
                    "RSA-{bits} is below the Code Signing BR minimum of 3072 bits"
                )))
            }
            KeyKind::EcP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyKind::EcP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyKind::Unsupported { description } => {
                return Err(bad(&format!("{description} keys are not allowed")))
            }
        };
        let key = RequestKey {
            alg,
            key_bits: spki.subject_public_key.data.to_vec(),
        };
        if key.subject_public_key_info() != spki_der {
            return Err(bad(
                "SubjectPublicKeyInfo is not in the canonical DER form (e.g. missing NULL parameters)",
            ));
        }
        Ok(key)
    }

    pub(crate) fn key_bits(&self) -> &[u8] {
        &self.key_bits
    }
}

impl PublicKeyData for RequestKey {
    fn der_bytes(&self) -> &[u8] {
        &self.key_bits
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.alg
    }
}
