//! What is computed once per issuing CA certificate: rcgen's issuer
//! parameters, the signature algorithm, the verification key and the OV and
//! EV certificate templates.

use aws_lc_rs::signature::{self, VerificationAlgorithm};
use rcgen::{CertificateParams, KeyIdMethod};

use super::{hierarchy, profile, template, CaConfig, CaError, Template};
use crate::csr::KeyKind;

/// Issuer parameters (name and key identifier) for signing with the CA certificate `der`.
pub(super) fn issuer_params_for(facts: &hierarchy::CaCertFacts) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = facts.subject_dn.clone();
    p.key_identifier_method = KeyIdMethod::PreSpecified(facts.key_id.clone());
    p
}

/// The signature AlgorithmIdentifier (DER) for an issuer key, as rcgen writes it.
pub(super) fn signature_alg_der(kind: &KeyKind) -> Result<&'static [u8], CaError> {
    const ECDSA_SHA256: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
    ];
    const ECDSA_SHA384: &[u8] = &[
        0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03,
    ];
    const SHA256_RSA: &[u8] = &[
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05, 0x00,
    ];
    match kind {
        KeyKind::EcP256 => Ok(ECDSA_SHA256),
        KeyKind::EcP384 => Ok(ECDSA_SHA384),
        KeyKind::Rsa { .. } => Ok(SHA256_RSA),
        other => Err(CaError::Config(format!(
            "issuing CA key type {other} is not supported (P-256, P-384 or RSA)"
        ))),
    }
}

/// The OV and EV templates of one issuer.
pub(super) fn templates_for(
    facts: &hierarchy::CaCertFacts,
    cfg: &CaConfig,
) -> Result<[template::CertTemplate; 2], CaError> {
    let aia_value = profile::aia_value(&cfg.issuer_url)?;
    let build = |t: Template| -> Result<template::CertTemplate, CaError> {
        let policies_value = profile::policies_value(&[t.policy_oid()], cfg)?;
        let pieces = template::IssuerPieces {
            sig_alg: signature_alg_der(&facts.key_kind)?,
            issuer_subject_raw: &facts.subject_raw,
            issuer_key_id: &facts.key_id,
            crl_url: &cfg.crl_url,
            aia_value: &aia_value,
            policies_value: &policies_value,
        };
        template::CertTemplate::new(&pieces, t)
    };
    Ok([build(Template::Ov)?, build(Template::Ev)?])
}

/// aws-lc-rs verification algorithm and signature OID for an issuer key.
pub(super) fn verification_for(
    kind: &KeyKind,
) -> Result<
    (
        &'static dyn VerificationAlgorithm,
        der::asn1::ObjectIdentifier,
    ),
    CaError,
> {
    use der::asn1::ObjectIdentifier as O;
    const ECDSA_SHA256: O = O::new_unwrap("1.2.840.10045.4.3.2");
    const ECDSA_SHA384: O = O::new_unwrap("1.2.840.10045.4.3.3");
    const SHA256_RSA: O = O::new_unwrap("1.2.840.113549.1.1.11");
    match kind {
        KeyKind::EcP256 => Ok((&signature::ECDSA_P256_SHA256_ASN1, ECDSA_SHA256)),
        KeyKind::EcP384 => Ok((&signature::ECDSA_P384_SHA384_ASN1, ECDSA_SHA384)),
        KeyKind::Rsa { .. } => Ok((&signature::RSA_PKCS1_2048_8192_SHA256, SHA256_RSA)),
        other => Err(CaError::Config(format!(
            "issuing CA key type {other} is not supported (P-256, P-384 or RSA)"
        ))),
    }
}
