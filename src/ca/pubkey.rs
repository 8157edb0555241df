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
        if let Some((alg, point)) = Self::fast_path(spki_der) {
            return Ok(RequestKey {
                alg,
                key_bits: point.to_vec(),
            });
        }
        Self::from_spki_der_general(spki_der)
    }

    /// The subjectPublicKey bits of an SPKI [`RequestKey::from_spki_der`]
    /// accepts, borrowed from `spki_der` (no allocation for P-256 / P-384).
    pub(crate) fn subject_public_key(spki_der: &[u8]) -> Result<&[u8], CaError> {
        if let Some((_, point)) = Self::fast_path(spki_der) {
            return Ok(point);
        }
        let key = Self::from_spki_der_general(spki_der)?;
        // The BIT STRING is the SPKI's last element and the SPKI is canonical.
        let bits = &spki_der[spki_der.len() - key.key_bits.len()..];
        if bits != key.key_bits.as_slice() {
            return Err(CaError::InvalidRequest(
                "subject public key: unexpected SubjectPublicKeyInfo layout".into(),
            ));
        }
        Ok(bits)
    }

    /// The canonical P-256 / P-384 encodings (fixed headers, an uncompressed
    /// point), recognised without parsing or re-encoding.
    fn fast_path(spki_der: &[u8]) -> Option<(&'static SignatureAlgorithm, &[u8])> {
        const P256_HEADER: [u8; 26] = [
            0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
        ];
        const P384_HEADER: [u8; 23] = [
            0x30, 0x76, 0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06,
            0x05, 0x2b, 0x81, 0x04, 0x00, 0x22, 0x03, 0x62, 0x00,
        ];
        for (header, point_len, alg) in [
            (&P256_HEADER[..], 65, &rcgen::PKCS_ECDSA_P256_SHA256),
            (&P384_HEADER[..], 97, &rcgen::PKCS_ECDSA_P384_SHA384),
        ] {
            if spki_der.len() == header.len() + point_len && spki_der.starts_with(header) {
                let point = &spki_der[header.len()..];
                if point[0] == 0x04 {
                    return Some((alg, point));
                }
            }
        }
        None
    }

    /// Parses any SPKI, classifies the key and insists on the canonical encoding.
    fn from_spki_der_general(spki_der: &[u8]) -> Result<RequestKey, CaError> {
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
            KeyKind::EcP521 => &rcgen::PKCS_ECDSA_P521_SHA512,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path and the general path agree on every supported kind.
    #[test]
    fn fast_path_matches_the_general_path() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
        ] {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let spki = key.subject_public_key_info();
            let fast = RequestKey::from_spki_der(&spki).unwrap();
            let general = RequestKey::from_spki_der_general(&spki).unwrap();
            assert_eq!(fast.algorithm(), alg);
            assert_eq!(general.algorithm(), alg);
            assert_eq!(fast.key_bits(), key.der_bytes());
            assert_eq!(general.key_bits(), key.der_bytes());
            assert_eq!(fast.subject_public_key_info(), spki);
            assert_eq!(
                RequestKey::subject_public_key(&spki).unwrap(),
                key.der_bytes()
            );
            // One byte off in the header: not the fast path, refused or re-checked.
            let mut other = spki.clone();
            other[3] ^= 0x01;
            assert!(RequestKey::from_spki_der(&other).is_err());
            assert!(RequestKey::subject_public_key(&other).is_err());
        }
    }

    /// RSA keys (the general path) are borrowed from the SPKI as well.
    #[test]
    fn rsa_subject_public_key_is_the_bit_string() {
        let key =
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_3072)
                .unwrap();
        let spki = key.subject_public_key_info();
        assert_eq!(
            RequestKey::subject_public_key(&spki).unwrap(),
            key.der_bytes()
        );
        let general = RequestKey::from_spki_der(&spki).unwrap();
        assert_eq!(general.key_bits(), key.der_bytes());
    }
}
