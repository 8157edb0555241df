//! The start-up self-test, without a signature by the issuing key that is not
//! a recorded certificate (CS BR 3.2, 5.4.1.1, 7.1.4.2).
//!
//! The certificate templates are checked with a throw-away key of the
//! issuing key's type (the probe key, generated in memory at every start and
//! never stored): for an OV and an EV request, the template's
//! TBSCertificate must be byte-identical to the reference encoder's (rcgen),
//! and the certificate signed with the probe key must pass the full re-parse,
//! every profile invariant and the signature verification. The real issuing
//! key (file or HSM) then signs one fixed message, which cannot be taken for
//! a TBSCertificate or TBSCertList (it is not DER), and the signature is
//! verified with the issuing CA certificate's public key: a key/certificate
//! mismatch or a broken token shows here, not at the first order.

use aws_lc_rs::signature::ParsedPublicKey;
use rcgen::{KeyPair, PublicKeyData as _};

use super::{invariants, Ca, CaError, IssuanceRequest, Serial, SubjectInfo, Template};
use crate::csr::KeyKind;

/// The message the issuing key signs at start-up: text, so no parser can
/// read it as a certificate or a CRL.
pub(crate) const KEY_CHECK_MESSAGE: &[u8] =
    b"Signet issuing CA key check: this is not a certificate";

/// A throw-away key of the issuing key's type, and its verification key.
pub(crate) fn probe_key(kind: &KeyKind) -> Result<(KeyPair, ParsedPublicKey), CaError> {
    let fail = |e: rcgen::Error| CaError::Signing(format!("self-test key: {e}"));
    let key = match kind {
        KeyKind::EcP256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?,
        KeyKind::EcP384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).map_err(fail)?,
        KeyKind::Rsa { bits } => {
            let size = match bits {
                ..=2048 => rcgen::RsaKeySize::_2048,
                2049..=3072 => rcgen::RsaKeySize::_3072,
                _ => rcgen::RsaKeySize::_4096,
            };
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, size).map_err(fail)?
        }
        other => {
            return Err(CaError::Config(format!(
                "issuing CA key type {other} is not supported"
            )))
        }
    };
    let (alg, _) = super::issuer_setup::verification_for(kind)?;
    let spki = key.subject_public_key_info();
    let bits = super::pubkey::RequestKey::subject_public_key(&spki)?.to_vec();
    let verify = ParsedPublicKey::new(alg, &bits)
        .map_err(|e| CaError::Signing(format!("self-test key: {e}")))?;
    Ok((key, verify))
}

impl Ca {
    /// Runs the self-test (see the module documentation).
    pub(super) fn self_test(&self) -> Result<(), CaError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CaError::Signing(format!("self-test subscriber key: {e}")))?;
        let now = self.clock.now();
        let not_after = (now + time::Duration::days(1)).min(self.issuer_not_after);
        for template in [Template::Ov, Template::Ev] {
            let ev = template == Template::Ev;
            let req = IssuanceRequest {
                serial: Serial::random(),
                subject: SubjectInfo {
                    common_name: "Signet CA self-test".into(),
                    organization: "Signet".into(),
                    organizational_unit: Some("Self-Test".into()),
                    locality: Some("Self-Test".into()),
                    state: Some("Self-Test".into()),
                    country: "US".into(),
                    business_category: ev.then(|| "Private Organization".into()),
                    jurisdiction_country: ev.then(|| "US".into()),
                    jurisdiction_state: ev.then(|| "Self-Test".into()),
                    jurisdiction_locality: ev.then(|| "Self-Test".into()),
                    registration_number: ev.then(|| "0".into()),
                },
                email: "self-test@signet.invalid".into(),
                spki_der: key.subject_public_key_info(),
                template,
                not_before: now - time::Duration::hours(1),
                not_after,
            };
            let fail = |e: CaError| CaError::Config(format!("CA self-test issuance failed: {e}"));
            let (tbs, _) = self.prepare(&req).map_err(fail)?;
            if tbs != self.reference_tbs(&req).map_err(fail)? {
                return Err(CaError::Config(format!(
                    "CA self-test: the {template:?} certificate template differs from the reference encoder"
                )));
            }
            self.issue_signed(&req, &self.probe.0, true, Some(&self.probe.1))
                .map_err(fail)?;
        }
        let signature =
            rcgen::SigningKey::sign(&self.issuing_key, KEY_CHECK_MESSAGE).map_err(|e| {
                CaError::Config(format!("CA self-test: the issuing key cannot sign: {e}"))
            })?;
        self.verify_key
            .verify_sig(KEY_CHECK_MESSAGE, &signature)
            .map_err(|_| {
                CaError::Config(
                    "CA self-test: the issuing key's signature does not verify with the issuing CA certificate's public key"
                        .into(),
                )
            })?;
        Ok(())
    }

    /// The TBSCertificate the reference encoder (rcgen, from the profile's
    /// [`rcgen::CertificateParams`]) produces for `req`, signed with the
    /// probe key (the signature is discarded; the issuing key is not used).
    pub(super) fn reference_tbs(&self, req: &IssuanceRequest) -> Result<Vec<u8>, CaError> {
        let key = super::pubkey::RequestKey::from_spki_der(&req.spki_der)?;
        let params = self.profiles.params_for(req, key.key_bits())?;
        let signer = RecordingSigner::new(&self.probe.0);
        let issuer = rcgen::Issuer::from_params(&self.issuer_params, &signer);
        params
            .signed_by(&key, &issuer)
            .map_err(|e| CaError::Signing(e.to_string()))?;
        signer
            .take()
            .map(|s| s.tbs)
            .ok_or_else(|| CaError::Invariant("the probe key was not asked to sign".into()))
    }
}

/// Wraps a key and records the one message it signs and the signature it
/// returned.
struct RecordingSigner<'a> {
    key: &'a KeyPair,
    signed: std::cell::RefCell<Option<invariants::Signed>>,
}

impl<'a> RecordingSigner<'a> {
    fn new(key: &'a KeyPair) -> Self {
        RecordingSigner {
            key,
            signed: std::cell::RefCell::new(None),
        }
    }

    fn take(&self) -> Option<invariants::Signed> {
        self.signed.borrow_mut().take()
    }
}

impl rcgen::PublicKeyData for RecordingSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        self.key.der_bytes()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        rcgen::PublicKeyData::algorithm(self.key)
    }
}

impl rcgen::SigningKey for RecordingSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let signature = rcgen::SigningKey::sign(self.key, msg)?;
        let mut slot = self.signed.borrow_mut();
        if slot.is_some() {
            // rcgen signs a certificate exactly once; a second call is a bug.
            return Err(rcgen::Error::RingUnspecified);
        }
        *slot = Some(invariants::Signed {
            tbs: msg.to_vec(),
            signature: signature.clone(),
        });
        Ok(signature)
    }
}
