//! The CA core: signs exactly what the RA hands it. It takes only the public key
//! (SubjectPublicKeyInfo) from a request, builds every other field itself per the
//! CA/B Forum Code Signing Baseline Requirements and checks the invariants before
//! returning it.
//!
//! Subscriber certificates come from per-issuer templates (`template.rs`): the
//! DER of everything that never changes is computed once, per certificate only
//! serial, validity, subject, SAN and SKI are encoded. rcgen remains the
//! reference encoder (the start-up self-test and `ca::tests` require
//! byte-identical TBSCertificates) and builds the CA certificates, the TLS
//! identity and the CRLs. The start-up self-test checks each template's
//! certificate in full (re-parse, every invariant, signature verification);
//! per certificate `invariants::check_issued` checks what varies.

use serde::{Deserialize, Serialize};
use std::path::Path;
use time::OffsetDateTime;

use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
use rcgen::{CertificateParams, KeyIdMethod, KeyPair, PublicKeyData as _};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::clock::SharedClock;
use crate::csr::KeyKind;

mod crl;
mod hierarchy;
mod invariants;
mod pkcs11;
pub mod pkcs7;
pub mod pool;
mod profile;
mod pubkey;
mod template;
#[cfg(test)]
mod tests;

use profile::Profiles;
use pubkey::RequestKey;

/// Maximum validity of a code-signing certificate under the CS BRs (days).
pub const MAX_VALIDITY_DAYS: i64 = 460;

/// The certificate template: which reserved CS BR policy OID the certificate carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    /// Organization validated: 2.23.140.1.4.1
    Ov,
    /// Extended validation: 2.23.140.1.3
    Ev,
}

/// A certificate serial number: 16 bytes from the CSPRNG, positive, non-zero.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Serial(pub [u8; 16]);

impl Serial {
    /// The serial of a new end-entity certificate: 16 octets, positive, with
    /// no leading zero octet. The first five octets count up from a random
    /// start (per process, see [`crate::storage::sequence`]); the other
    /// eleven, 88 bits, come from the CSPRNG (CS BR 7.1 asks for at least
    /// 64). Consecutive issuances thus get neighbouring store keys: sled
    /// inserts them into the same few leaves instead of paging a random
    /// leaf of a large tree in for each (docs/performance-log.md, session 4).
    pub fn fresh() -> Serial {
        use rand::RngCore;
        static NEXT: std::sync::OnceLock<crate::storage::sequence::Sequence> =
            std::sync::OnceLock::new();
        // 0x01_0000_0000 ..= 0x7f_ffff_ffff: a non-zero first octet below 0x80
        const SPAN: u64 = 0x7f_0000_0000;
        let n = NEXT
            .get_or_init(|| crate::storage::sequence::Sequence::new(SPAN))
            .next();
        let prefix = 0x01_0000_0000 + n;
        let mut bytes = [0u8; 16];
        bytes[..5].copy_from_slice(&prefix.to_be_bytes()[3..]);
        rand::rngs::OsRng.fill_bytes(&mut bytes[5..]);
        Serial(bytes)
    }

    /// A fresh random serial (127 random bits; top bit cleared so the INTEGER is positive).
    pub fn random() -> Serial {
        use rand::RngCore;
        let mut bytes = [0u8; 16];
        loop {
            rand::rngs::OsRng.fill_bytes(&mut bytes);
            bytes[0] &= 0x7f;
            // keep it 16 bytes long in DER (no leading zero octet trimmed) and non-zero
            if bytes[0] != 0 {
                return Serial(bytes);
            }
        }
    }

    /// Lower-case hex, the form used in the store, the CLI and the API.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(s: &str) -> Option<Serial> {
        let bytes = hex::decode(s.trim().trim_start_matches("0x")).ok()?;
        let arr: [u8; 16] = bytes.try_into().ok()?;
        Some(Serial(arr))
    }
}

impl std::fmt::Display for Serial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_hex())
    }
}

/// The subject distinguished name the RA decided on.
///
/// The CS BRs (7.1.4.2.2) require localityName or stateOrProvinceName. The
/// EV fields are required in EV certificates (EV Guidelines 9.2.3-9.2.5) and
/// refused in OV ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectInfo {
    pub common_name: String,
    pub organization: String,
    pub organizational_unit: Option<String>,
    pub locality: Option<String>,
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2
    pub country: String,
    /// EV: businessCategory (2.5.4.15), e.g. "Private Organization".
    #[serde(default)]
    pub business_category: Option<String>,
    /// EV: jurisdictionCountryName (1.3.6.1.4.1.311.60.2.1.3), ISO 3166-1 alpha-2.
    #[serde(default)]
    pub jurisdiction_country: Option<String>,
    /// EV: jurisdictionStateOrProvinceName (1.3.6.1.4.1.311.60.2.1.2).
    #[serde(default)]
    pub jurisdiction_state: Option<String>,
    /// EV: jurisdictionLocalityName (1.3.6.1.4.1.311.60.2.1.1).
    #[serde(default)]
    pub jurisdiction_locality: Option<String>,
    /// EV: serialNumber (2.5.4.5), the registration number.
    #[serde(default)]
    pub registration_number: Option<String>,
}

/// A decided issuance: everything the CA needs, nothing it must decide.
#[derive(Debug, Clone)]
pub struct IssuanceRequest {
    pub serial: Serial,
    pub subject: SubjectInfo,
    /// rfc822Name placed in the subjectAltName.
    pub email: String,
    /// DER SubjectPublicKeyInfo taken from the (verified) CSR.
    pub spki_der: Vec<u8>,
    pub template: Template,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

/// CA settings (the `[ca]` table of the configuration).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CaConfig {
    /// Key algorithm of the development CA generated on first start:
    /// "p384" (default), "p256" or "rsa4096".
    pub algorithm: String,
    /// Organization name in the development CA certificates.
    pub organization: String,
    /// CRL distribution point URL embedded in issued certificates. Empty in the
    /// file means "derived at start-up from the plain-HTTP listener"; the server
    /// fills it in before calling [`Ca::load_or_create`].
    pub crl_url: String,
    /// AIA caIssuers URL embedded in issued certificates (empty: derived likewise).
    pub issuer_url: String,
    /// Optional PEM files of an existing issuing CA (certificate, then key) instead of the dev CA.
    pub issuer_cert_file: Option<String>,
    pub issuer_key_file: Option<String>,
    /// Optional PEM root certificate matching `issuer_cert_file`.
    pub root_cert_file: Option<String>,
    /// PKCS#11 module (shared library) holding the key of `issuer_cert_file`
    /// (instead of `issuer_key_file`); with `pkcs11_token_label`,
    /// `pkcs11_key_label` and `pkcs11_pin`.
    pub pkcs11_module: Option<String>,
    /// Label of the token (CKA_LABEL of the token info) holding the key.
    pub pkcs11_token_label: Option<String>,
    /// Label (CKA_LABEL) of the private key object.
    pub pkcs11_key_label: Option<String>,
    /// User PIN of the token (secret; `SIGNET_CA__PKCS11_PIN` keeps it out of the file).
    pub pkcs11_pin: Option<crate::config::Secret>,
    /// Verify every issued certificate's signature with the issuing CA public
    /// key (default false). Every certificate is still checked to carry exactly
    /// the signature the issuing key returned over exactly its TBSCertificate,
    /// and the start-up self-test always verifies. What the per-certificate
    /// verification would catch is a faulty signature: aws-lc's RSA private
    /// operation already verifies its own result (the CRT fault attack), and its
    /// ECDSA nonces are hedged (random + key/message-derived), so a fault cannot
    /// turn into a nonce reuse; an invalid ECDSA signature only makes that one
    /// certificate unusable. For ECDSA it costs about 3x the signature itself.
    /// (A PKCS#11 key verifies every token signature itself, whatever this says.)
    pub verify_signatures: bool,
    /// Re-parse every issued certificate with x509-parser and re-check the whole
    /// Code Signing profile (default false). The profile is checked in full when
    /// the certificate templates are built at start-up; per certificate, only the
    /// parts that vary are checked. Debug builds always re-parse.
    pub reparse_certificates: bool,
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            algorithm: "p384".into(),
            organization: "Signet Development CA".into(),
            crl_url: String::new(),
            issuer_url: String::new(),
            issuer_cert_file: None,
            issuer_key_file: None,
            root_cert_file: None,
            pkcs11_module: None,
            pkcs11_token_label: None,
            pkcs11_key_label: None,
            pkcs11_pin: None,
            verify_signatures: false,
            reparse_certificates: false,
        }
    }
}

/// Why the CA refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("CA configuration: {0}")]
    Config(String),
    #[error("CA key or certificate files: {0}")]
    Io(String),
    #[error("the request cannot be signed: {0}")]
    InvalidRequest(String),
    #[error("signing failed: {0}")]
    Signing(String),
    #[error("issued certificate violates invariant: {0}")]
    Invariant(String),
}

/// One revoked certificate in a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedEntry {
    pub serial: Serial,
    pub revoked_at: OffsetDateTime,
    /// RFC 5280 CRLReason code (0 unspecified, 1 keyCompromise, ... 10 aACompromise; 7 unused).
    /// Unspecified (0) is encoded by omitting the reasonCode entry extension.
    pub reason_code: u8,
    /// The RFC 5280 invalidityDate entry extension, if known.
    pub invalidity_date: Option<OffsetDateTime>,
}

/// The issuing CA with its chain.
///
/// Everything that is the same for every certificate (issuer name, key
/// identifier, the verification key, the static extensions of each template)
/// is computed once in [`Ca::load_or_create`]; [`Ca::issue`] only builds, signs,
/// encodes and re-checks.
pub struct Ca {
    algorithm: String,
    root_der: Vec<u8>,
    root_key: Option<KeyPair>,
    root_issuer_params: Option<CertificateParams>,
    issuing_der: Vec<u8>,
    issuing_pem: String,
    issuing_key: hierarchy::IssuingKey,
    /// Issuer name + key identifier of the issuing CA, as rcgen needs them.
    issuer_params: CertificateParams,
    issuer_subject_raw: Vec<u8>,
    issuer_key_id: Vec<u8>,
    issuer_not_after: OffsetDateTime,
    signature_alg: der::asn1::ObjectIdentifier,
    /// The OV and EV certificate templates, built and checked once.
    templates: [template::CertTemplate; 2],
    verify_key: ParsedPublicKey,
    profiles: Profiles,
    cfg: CaConfig,
    clock: SharedClock,
}

impl std::fmt::Debug for Ca {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ca")
            .field("algorithm", &self.algorithm)
            .field("crl_url", &self.cfg.crl_url)
            .field("issuer_url", &self.cfg.issuer_url)
            .finish_non_exhaustive()
    }
}

/// Issuer parameters (name and key identifier) for signing with the CA certificate `der`.
fn issuer_params_for(facts: &hierarchy::CaCertFacts) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = facts.subject_dn.clone();
    p.key_identifier_method = KeyIdMethod::PreSpecified(facts.key_id.clone());
    p
}

/// The signature AlgorithmIdentifier (DER) for an issuer key, as rcgen writes it.
fn signature_alg_der(kind: &KeyKind) -> Result<&'static [u8], CaError> {
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
        KeyKind::Unsupported { description } => Err(CaError::Config(format!(
            "issuing CA key type {description} is not supported"
        ))),
    }
}

/// The OV and EV templates of one issuer.
fn templates_for(
    facts: &hierarchy::CaCertFacts,
    cfg: &CaConfig,
) -> Result<[template::CertTemplate; 2], CaError> {
    let aia_value = profile::aia_value(&cfg.issuer_url)?;
    let build = |t: Template| -> Result<template::CertTemplate, CaError> {
        let policies_value = profile::policy_value(t.policy_oid())?;
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
fn verification_for(
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
        KeyKind::Unsupported { description } => Err(CaError::Config(format!(
            "issuing CA key type {description} is not supported"
        ))),
    }
}

impl Ca {
    /// Loads the CA from `dir` (the data directory's `ca/` folder), generating a
    /// development hierarchy (root + issuing CA) there on first start.
    pub fn load_or_create(dir: &Path, cfg: &CaConfig, clock: &SharedClock) -> Result<Ca, CaError> {
        let loaded = hierarchy::load_or_create(dir, cfg, clock.now())?;
        let facts = hierarchy::cert_facts(&loaded.issuing_der)?;
        let (verify_alg, signature_alg) = verification_for(&facts.key_kind)?;
        let spki_bits = {
            use x509_parser::prelude::FromDer;
            let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&facts.spki_der)
                .map_err(|e| CaError::Config(format!("issuing CA public key: {e}")))?;
            spki.subject_public_key.data.to_vec()
        };
        let verify_key = ParsedPublicKey::new(verify_alg, &spki_bits)
            .map_err(|e| CaError::Config(format!("issuing CA public key: {e}")))?;
        let algorithm = match &facts.key_kind {
            KeyKind::EcP256 => "p256".to_string(),
            KeyKind::EcP384 => "p384".to_string(),
            KeyKind::Rsa { bits } => format!("rsa{bits}"),
            KeyKind::Unsupported { description } => description.clone(),
        };
        let root_issuer_params = match &loaded.root_key {
            Some(_) => Some(issuer_params_for(&hierarchy::cert_facts(&loaded.root_der)?)),
            None => None,
        };
        let ca = Ca {
            algorithm,
            issuing_pem: pem_cert(&loaded.issuing_der),
            root_der: loaded.root_der,
            root_key: loaded.root_key,
            root_issuer_params,
            issuing_der: loaded.issuing_der,
            issuing_key: loaded.issuing_key,
            issuer_params: issuer_params_for(&facts),
            templates: templates_for(&facts, cfg)?,
            issuer_subject_raw: facts.subject_raw,
            issuer_key_id: facts.key_id,
            issuer_not_after: facts.not_after,
            signature_alg,
            verify_key,
            profiles: Profiles::new(cfg)?,
            cfg: cfg.clone(),
            clock: clock.clone(),
        };
        ca.self_test()?;
        Ok(ca)
    }

    /// Checks the certificate templates and the issuing key before the first
    /// order: for an OV and an EV request, the template's TBSCertificate must be
    /// byte-identical to the reference encoder's (rcgen), and the certificate
    /// issued from it must pass the full re-parse, every profile invariant and
    /// the signature verification. A key/certificate mismatch, an unusable
    /// issuer name or a bad URL shows here, not at the first order.
    fn self_test(&self) -> Result<(), CaError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CaError::Signing(format!("self-test key: {e}")))?;
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
            self.issue_with(&req, true, true).map_err(fail)?;
        }
        Ok(())
    }

    /// Signs a code-signing certificate and returns its DER after checking invariants.
    pub fn issue(&self, req: &IssuanceRequest) -> Result<Vec<u8>, CaError> {
        self.issue_with(
            req,
            self.cfg.reparse_certificates || cfg!(debug_assertions),
            self.cfg.verify_signatures,
        )
    }

    /// Issues from the template: validate, encode, sign once, assemble, then
    /// check what varies ([`invariants::check_issued`]); with `reparse` also the
    /// full re-parse and profile check ([`invariants::check`]); with `verify`
    /// the signature against the issuing CA public key.
    fn issue_with(
        &self,
        req: &IssuanceRequest,
        reparse: bool,
        verify: bool,
    ) -> Result<Vec<u8>, CaError> {
        if req.not_after > self.issuer_not_after {
            return Err(CaError::InvalidRequest(format!(
                "not_after ({}) is later than the issuing CA's not_after ({})",
                req.not_after, self.issuer_not_after
            )));
        }
        let (tbs, ski) = self.prepare(req)?;
        let signature = rcgen::SigningKey::sign(&self.issuing_key, &tbs)
            .map_err(|e| CaError::Signing(e.to_string()))?;
        let template = self.template(req.template);
        let der = template.certificate(&tbs, &signature);
        let signed = invariants::Signed { tbs, signature };
        let issued = invariants::Issued {
            template,
            ski: &ski,
            issuer_not_after: self.issuer_not_after,
        };
        invariants::check_issued(&der, req, &issued, &signed)?;
        if reparse {
            invariants::check(&der, req, &self.expectations(verify), &signed)?;
        } else if verify {
            self.verify_key
                .verify_sig(&signed.tbs, &signed.signature)
                .map_err(|_| {
                    CaError::Invariant("signature does not verify with the issuing CA key".into())
                })?;
        }
        Ok(der)
    }

    fn template(&self, t: Template) -> &template::CertTemplate {
        match t {
            Template::Ov => &self.templates[0],
            Template::Ev => &self.templates[1],
        }
    }

    /// Validates `req` and encodes its TBSCertificate from the template;
    /// returns it with the subjectKeyIdentifier.
    fn prepare(&self, req: &IssuanceRequest) -> Result<(Vec<u8>, [u8; 20]), CaError> {
        let key_bits = RequestKey::subject_public_key(&req.spki_der)?;
        let (not_before, not_after) = profile::checked_validity(req)?;
        profile::check_template_subject(req)?;
        let subject = profile::subject_attributes(&req.subject)?;
        profile::check_email(&req.email)?;
        // 16 random octets, positive and without a leading zero octet (Serial::random).
        if !(1..0x80).contains(&req.serial.0[0]) {
            return Err(CaError::InvalidRequest(format!(
                "serial {} is not a positive 16-octet INTEGER without a leading zero octet",
                req.serial
            )));
        }
        let ski = profile::key_identifier(key_bits);
        let tbs = self.template(req.template).tbs(&template::Variable {
            serial: &req.serial.0,
            not_before,
            not_after,
            subject: &subject,
            spki_der: &req.spki_der,
            email: &req.email,
            ski: &ski,
        });
        Ok((tbs, ski))
    }

    /// The TBSCertificate the reference encoder (rcgen, from the profile's
    /// [`CertificateParams`]) produces for `req`. Signs once with the issuing key.
    fn reference_tbs(&self, req: &IssuanceRequest) -> Result<Vec<u8>, CaError> {
        let key = RequestKey::from_spki_der(&req.spki_der)?;
        let params = self.profiles.params_for(req, key.key_bits())?;
        let signer = RecordingSigner::new(&self.issuing_key);
        let issuer = rcgen::Issuer::from_params(&self.issuer_params, &signer);
        params
            .signed_by(&key, &issuer)
            .map_err(|e| CaError::Signing(e.to_string()))?;
        signer
            .take()
            .map(|s| s.tbs)
            .ok_or_else(|| CaError::Invariant("the issuing key was not asked to sign".into()))
    }

    fn expectations(&self, verify: bool) -> invariants::Expectations<'_> {
        invariants::Expectations {
            issuer_subject_raw: &self.issuer_subject_raw,
            issuer_key_id: &self.issuer_key_id,
            signature_alg: self.signature_alg,
            crl_url: &self.cfg.crl_url,
            issuer_url: &self.cfg.issuer_url,
            verify_key: verify.then_some(&self.verify_key),
        }
    }

    /// DER of the issuing CA certificate.
    pub fn issuing_cert_der(&self) -> &[u8] {
        &self.issuing_der
    }

    /// PEM of the issuing CA certificate.
    pub fn issuing_cert_pem(&self) -> &str {
        &self.issuing_pem
    }

    /// DER of the root certificate (trust anchor). Without a configured
    /// `ca.root_cert_file`, an external issuing CA is its own trust anchor.
    pub fn root_cert_der(&self) -> &[u8] {
        &self.root_der
    }

    /// PEM of the root certificate.
    pub fn root_cert_pem(&self) -> String {
        pem_cert(&self.root_der)
    }

    /// The issuing key's algorithm: "p256", "p384" or "rsa<bits>".
    pub fn algorithm(&self) -> &str {
        &self.algorithm
    }

    /// The CRL distribution point URL placed in issued certificates.
    pub fn crl_url(&self) -> &str {
        &self.cfg.crl_url
    }

    /// The leaf followed by the issuing CA certificate, both PEM (the ACME default download).
    pub fn chain_pem(&self, leaf_der: &[u8]) -> String {
        let mut s = pem_cert(leaf_der);
        s.push_str(&self.issuing_pem);
        s
    }

    /// Signs `msg` with the issuing CA key exactly as certificate signing does
    /// (the benchmark's raw-signature baseline).
    pub fn sign_raw(&self, msg: &[u8]) -> Result<Vec<u8>, CaError> {
        use rcgen::SigningKey as _;
        self.issuing_key
            .sign(msg)
            .map_err(|e| CaError::Signing(e.to_string()))
    }

    /// A TLS server certificate (fresh P-256 key, serverAuth) for the HTTPS listener.
    ///
    /// Signed by the development root when its key is available (the issuing CA
    /// is restricted to codeSigning by its EKU, which TLS clients enforce on the
    /// chain), otherwise by the issuing CA. The returned chain is what the
    /// server presents; clients trust [`Ca::root_cert_der`].
    pub fn tls_server_identity(
        &self,
        dns_names: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CaError> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
            .map_err(|e| CaError::Signing(format!("TLS key: {e}")))?;
        let names: Vec<String> = if dns_names.is_empty() {
            vec!["localhost".to_string()]
        } else {
            dns_names.to_vec()
        };
        let mut p = CertificateParams::new(names.clone())
            .map_err(|e| CaError::InvalidRequest(format!("TLS server names: {e}")))?;
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(
            rcgen::DnType::OrganizationName,
            self.cfg.organization.clone(),
        );
        dn.push(rcgen::DnType::CommonName, names[0].clone());
        p.distinguished_name = dn;
        p.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        p.use_authority_key_identifier_extension = true;
        p.serial_number = Some(rcgen::SerialNumber::from_slice(&Serial::random().0));
        let now = self.clock.now();
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now + time::Duration::days(365);
        let (cert, chain_tail) = match (&self.root_key, &self.root_issuer_params) {
            (Some(root_key), Some(root_params)) => {
                let issuer = rcgen::Issuer::from_params(root_params, root_key);
                (p.signed_by(&key, &issuer), None)
            }
            _ => {
                let issuer = rcgen::Issuer::from_params(&self.issuer_params, &self.issuing_key);
                (p.signed_by(&key, &issuer), Some(self.issuing_der.clone()))
            }
        };
        let cert = cert.map_err(|e| CaError::Signing(format!("TLS certificate: {e}")))?;
        let mut chain = vec![cert.der().clone()];
        if let Some(tail) = chain_tail {
            chain.push(CertificateDer::from(tail));
        }
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((chain, key_der))
    }

    /// Signs an RFC 5280 v2 CRL over `entries` with the issuing CA key
    /// (authorityKeyIdentifier, cRLNumber, reasonCode entry extensions).
    pub fn sign_crl(
        &self,
        entries: &[RevokedEntry],
        crl_number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<Vec<u8>, CaError> {
        crl::sign(
            &self.issuer_params,
            &self.issuing_key,
            entries,
            crl_number,
            this_update,
            next_update,
        )
    }
}

/// Wraps the issuing key and records the one message it signs and the
/// signature it returned, so the invariant check can assert that the
/// certificate carries exactly that signature over exactly those TBS bytes.
struct RecordingSigner<'a> {
    key: &'a hierarchy::IssuingKey,
    signed: std::cell::RefCell<Option<invariants::Signed>>,
}

impl<'a> RecordingSigner<'a> {
    fn new(key: &'a hierarchy::IssuingKey) -> Self {
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
        self.key.algorithm()
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

pub(crate) fn pem_cert(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
