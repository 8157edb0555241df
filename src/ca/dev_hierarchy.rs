//! The development hierarchy, generated on first start: a root and a code
//! signing issuing CA shaped like an audited one (CS BR 7.1.2.1, 7.1.2.2).
//!
//! - Root: basicConstraints cA, keyUsage keyCertSign + cRLSign, no EKU, no
//!   policies. Its key signs the issuing CA certificate and the root CRL
//!   ([`super::root_crl`]), nothing else.
//! - Issuing CA: basicConstraints cA pathLen 0, keyUsage digitalSignature +
//!   keyCertSign + cRLSign, EKU codeSigning only, certificatePolicies with the
//!   reserved OV (2.23.140.1.4.1) and EV (2.23.140.1.3) OIDs (and
//!   `ca.policy_oid` with its CPS), cRLDistributionPoints to the root CRL
//!   (`ca.root_crl_url`), authorityInfoAccess caIssuers to the root
//!   certificate (`ca.root_url`).
//!
//! The HTTPS listener's certificate comes from a third, unrelated CA
//! ([`super::tls_issuer`]): neither the root nor the code-signing CA ever
//! signs a TLS certificate.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CrlDistributionPoint, CustomExtension, DistinguishedName,
    DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SerialNumber,
};
use time::{Duration, OffsetDateTime};

use super::hierarchy::{write_file, ISSUING_CERT, ISSUING_KEY, ROOT_CERT, ROOT_KEY};
use super::profile::{self, oids};
use super::{CaConfig, CaError, Serial, StartupEvent};

/// Validity of the development root (about 20 years) and issuing CA (about 10 years).
const ROOT_DAYS: i64 = 20 * 365 + 5;
const ISSUING_DAYS: i64 = 10 * 365 + 2;

/// The supported issuer key algorithms by configuration name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Algorithm {
    P256,
    P384,
    Rsa4096,
}

impl Algorithm {
    pub(crate) fn from_config(name: &str) -> Result<Algorithm, CaError> {
        match name.trim().to_ascii_lowercase().as_str() {
            "p256" => Ok(Algorithm::P256),
            "p384" => Ok(Algorithm::P384),
            "rsa4096" => Ok(Algorithm::Rsa4096),
            other => Err(CaError::Config(format!(
                "ca.algorithm {other:?} is not supported (use \"p384\", \"p256\" or \"rsa4096\")"
            ))),
        }
    }

    /// The rcgen signature algorithm of keys of this kind.
    pub(crate) fn signature_algorithm(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Algorithm::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Algorithm::P384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            Algorithm::Rsa4096 => &rcgen::PKCS_RSA_SHA256,
        }
    }

    pub(crate) fn generate_key(self) -> Result<KeyPair, CaError> {
        let r = match self {
            Algorithm::P256 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256),
            Algorithm::P384 => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384),
            Algorithm::Rsa4096 => {
                KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_4096)
            }
        };
        r.map_err(|e| CaError::Signing(format!("generating a CA key: {e}")))
    }
}

/// Generates the root and issuing CA in `dir`; returns the audit events
/// (CA key generation, CS BR 5.4.1.1).
pub(crate) fn generate(
    dir: &Path,
    cfg: &CaConfig,
    algorithm: Algorithm,
    now: OffsetDateTime,
) -> Result<Vec<StartupEvent>, CaError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CaError::Io(format!("creating {}: {e}", dir.display())))?;
    let now = now
        .to_offset(time::UtcOffset::UTC)
        .replace_nanosecond(0)
        .map_err(|e| CaError::Signing(e.to_string()))?;
    let not_before = now - Duration::hours(1);
    let org = cfg.organization.trim();
    if org.is_empty() {
        return Err(CaError::Config("ca.organization must not be empty".into()));
    }
    let (root_crl_url, root_url) = (cfg.effective_root_crl_url(), cfg.effective_root_url());
    let (root_crl_url, root_url) = (root_crl_url.as_str(), root_url.as_str());
    if root_crl_url.is_empty() || !root_crl_url.is_ascii() {
        return Err(CaError::Config(
            "ca.root_crl_url must be a non-empty ASCII URL".into(),
        ));
    }
    let aia = profile::aia_value_for("ca.root_url", root_url)?;
    let policies = profile::policies_value(&[oids::POLICY_OV, oids::POLICY_EV], cfg)?;

    let root_key = algorithm.generate_key()?;
    let mut root = CertificateParams::default();
    root.distinguished_name = ca_name(org, &format!("{org} Root CA"));
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    root.serial_number = Some(SerialNumber::from_slice(&Serial::random().0));
    root.not_before = not_before;
    root.not_after = now + Duration::days(ROOT_DAYS);
    let root_cert = root
        .self_signed(&root_key)
        .map_err(|e| CaError::Signing(format!("self-signing the development root: {e}")))?;
    let root_issuer = rcgen::Issuer::new(root, &root_key);

    let issuing_key = algorithm.generate_key()?;
    let mut issuing = CertificateParams::default();
    issuing.distinguished_name = ca_name(org, &format!("{org} Code Signing CA"));
    issuing.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    issuing.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
    ];
    // CS BRs 7.1.2.2: a code signing subordinate CA carries EKU codeSigning.
    issuing.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
    issuing.use_authority_key_identifier_extension = true;
    issuing.crl_distribution_points = vec![CrlDistributionPoint {
        uris: vec![root_crl_url.to_string()],
    }];
    issuing.custom_extensions = vec![
        CustomExtension::from_oid_content(oids::AIA, aia),
        CustomExtension::from_oid_content(oids::CERTIFICATE_POLICIES, policies),
    ];
    issuing.serial_number = Some(SerialNumber::from_slice(&Serial::random().0));
    issuing.not_before = not_before;
    issuing.not_after = now + Duration::days(ISSUING_DAYS);
    let issuing_cert = issuing
        .signed_by(&issuing_key, &root_issuer)
        .map_err(|e| CaError::Signing(format!("signing the development issuing CA: {e}")))?;

    // Keys first (0600), certificates last: a crash leaves an incomplete set,
    // which load_or_create reports instead of silently replacing.
    write_file(
        &dir.join(ROOT_KEY),
        root_key.serialize_pem().as_bytes(),
        true,
    )?;
    write_file(
        &dir.join(ISSUING_KEY),
        issuing_key.serialize_pem().as_bytes(),
        true,
    )?;
    write_file(&dir.join(ROOT_CERT), root_cert.pem().as_bytes(), false)?;
    write_file(
        &dir.join(ISSUING_CERT),
        issuing_cert.pem().as_bytes(),
        false,
    )?;
    tracing::info!(
        dir = %dir.display(),
        algorithm = ?algorithm,
        "generated a development CA hierarchy (root + issuing CA)"
    );
    let generated = |role: &str, key: &KeyPair, file: &str| StartupEvent {
        action: "ca.key.generate",
        details: serde_json::json!({
            "role": role,
            "algorithm": format!("{algorithm:?}"),
            "key_file": dir.join(file).display().to_string(),
            "spki_sha256": hex::encode(aws_lc_rs::digest::digest(
                &aws_lc_rs::digest::SHA256,
                &rcgen::PublicKeyData::subject_public_key_info(key),
            )),
        }),
    };
    Ok(vec![
        generated("development root", &root_key, ROOT_KEY),
        generated("development issuing CA", &issuing_key, ISSUING_KEY),
    ])
}

pub(crate) fn ca_name(org: &str, cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::OrganizationName,
        DnValue::Utf8String(org.to_string()),
    );
    dn.push(DnType::CommonName, DnValue::Utf8String(cn.to_string()));
    dn
}
