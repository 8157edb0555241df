//! Hardware key attestation: one verifier per vendor format.
//!
//! Verifiers REPORT FACTS and decide nothing: [`verify`] checks the evidence's
//! signatures and chain against the pinned roots of a [`TrustStore`] and
//! returns [`AttestationFacts`] (the attested public key, device serial,
//! firmware, PIN/touch policy, origin of the key ...). Whether those facts are
//! good enough for a profile is decided by `ra::attestation::decide`.
//!
//! Formats (one module each): [`yubikey_piv`], [`yubihsm`], [`luna`],
//! [`cloud_hsm`] (Google Cloud HSM / Marvell LiquidSecurity) and [`fortanix`].
//! Shared pieces: [`evidence`] (the JSON/PEM container), [`trust`] (pinned
//! roots), `chain` (path building), `cert` (certificate fields and signature
//! checks), `der` (a small strict DER reader). docs/ATTESTATION.md documents
//! the formats, the trust roots and every quirk decision.

pub mod cloud_hsm;
pub mod evidence;
pub mod fortanix;
pub mod luna;
pub mod trust;
pub mod yubihsm;
pub mod yubikey_piv;

mod cert;
mod chain;
mod der;

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use evidence::{evidence_from_csr, Evidence};
pub use trust::{TrustError, TrustFamily, TrustStore};

/// An attestation format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// YubiKey PIV slot attestation (slot certificate + f9 device certificate).
    YubikeyPiv,
    /// YubiHSM 2 key attestation certificate + device certificate.
    Yubihsm2,
    /// Thales Luna Public Key Confirmation (PKC) chain.
    ThalesLuna,
    /// Google Cloud HSM (Marvell/Cavium LiquidSecurity) attestation blob +
    /// manufacturer and owner certificate chains.
    #[serde(alias = "marvell")]
    GoogleCloudHsm,
    /// Fortanix DSM key attestation statement + authority chain.
    FortanixDsm,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::YubikeyPiv,
        Format::Yubihsm2,
        Format::ThalesLuna,
        Format::GoogleCloudHsm,
        Format::FortanixDsm,
    ];

    /// The JSON / configuration name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::YubikeyPiv => "yubikey-piv",
            Format::Yubihsm2 => "yubihsm2",
            Format::ThalesLuna => "thales-luna",
            Format::GoogleCloudHsm => "google-cloud-hsm",
            Format::FortanixDsm => "fortanix-dsm",
        }
    }

    /// Parses a configuration name (accepts the alias `marvell`).
    pub fn from_name(name: &str) -> Option<Format> {
        let n = name.trim().to_ascii_lowercase();
        if n == "marvell" {
            return Some(Format::GoogleCloudHsm);
        }
        Format::ALL.into_iter().find(|f| f.as_str() == n)
    }

    pub fn vendor(self) -> &'static str {
        match self {
            Format::YubikeyPiv | Format::Yubihsm2 => "Yubico",
            Format::ThalesLuna => "Thales",
            Format::GoogleCloudHsm => "Google Cloud HSM (Marvell LiquidSecurity)",
            Format::FortanixDsm => "Fortanix",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the attested key came from, as the device reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyOrigin {
    /// Generated inside the device/HSM.
    Generated,
    /// Imported in plaintext.
    Imported,
    /// Imported wrapped under a wrap key (YubiHSM origin 0x10).
    ImportedWrapped,
    /// Generated on some YubiHSM, exported under wrap and re-imported here
    /// (YubiHSM origin 0x11).
    GeneratedThenImportedWrapped,
    /// The evidence does not say.
    Unknown,
}

/// YubiKey PIV PIN policy of the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PinPolicy {
    Default,
    Never,
    Once,
    Always,
    MatchOnce,
    MatchAlways,
    Unknown,
}

/// YubiKey PIV touch policy of the slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TouchPolicy {
    Default,
    Never,
    Always,
    Cached,
    Unknown,
}

/// What a verified attestation says. Stored with the issued certificate and
/// shown by `signet admin cert show`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationFacts {
    pub format: Format,
    pub vendor: String,
    /// DER SubjectPublicKeyInfo of the attested key (base64 in JSON). The RA
    /// compares it byte for byte with the CSR's.
    #[serde(with = "b64")]
    pub attested_spki_der: Vec<u8>,
    /// Lowercase hex SHA-256 of `attested_spki_der`.
    pub attested_spki_sha256: String,
    /// Human description of the key ("ECDSA P-384", "RSA-2048").
    pub attested_key: String,
    pub device_serial: Option<String>,
    pub firmware: Option<String>,
    /// PIV slot ("9a"), YubiHSM object id ("0x0024"), Cloud HSM object
    /// handle, Fortanix key id, Luna object id.
    pub key_id: Option<String>,
    pub key_label: Option<String>,
    pub pin_policy: Option<PinPolicy>,
    pub touch_policy: Option<TouchPolicy>,
    pub form_factor: Option<String>,
    /// Device is a FIPS model / in FIPS mode, when the evidence says (None =
    /// the evidence does not tell).
    pub fips: Option<bool>,
    /// YubiKey CSPN model.
    pub cspn: Option<bool>,
    pub key_origin: KeyOrigin,
    /// YubiHSM capability exportable-under-wrap.
    pub exportable_under_wrap: Option<bool>,
    /// PKCS#11 CKA_EXTRACTABLE (Cloud HSM).
    pub extractable: Option<bool>,
    /// The key never left (and cannot leave) the device in plaintext.
    pub never_extractable: Option<bool>,
    /// YubiHSM capability names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// When the statement was produced, for point-in-time statements
    /// (Fortanix: the statement's notBefore).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub attested_at: Option<OffsetDateTime>,
    /// Subjects from the attested-key certificate (or blob signer) up to the
    /// pinned anchor.
    pub chain_subjects: Vec<String>,
    /// SHA-256 of the pinned anchor certificate(s) the evidence chains to.
    pub trust_anchor_sha256: Vec<String>,
    /// Documented quirks that were tolerated (see docs/ATTESTATION.md).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub quirks: Vec<String>,
}

impl AttestationFacts {
    pub(crate) fn new(format: Format, spki_der: Vec<u8>, key: String) -> AttestationFacts {
        AttestationFacts {
            format,
            vendor: format.vendor().to_string(),
            attested_spki_sha256: cert::sha256_hex(&spki_der),
            attested_spki_der: spki_der,
            attested_key: key,
            device_serial: None,
            firmware: None,
            key_id: None,
            key_label: None,
            pin_policy: None,
            touch_policy: None,
            form_factor: None,
            fips: None,
            cspn: None,
            key_origin: KeyOrigin::Unknown,
            exportable_under_wrap: None,
            extractable: None,
            never_extractable: None,
            capabilities: Vec::new(),
            attested_at: None,
            chain_subjects: Vec::new(),
            trust_anchor_sha256: Vec::new(),
            quirks: Vec::new(),
        }
    }

    pub(crate) fn quirk(&mut self, q: &str) {
        if !self.quirks.iter().any(|x| x == q) {
            self.quirks.push(q.to_string());
        }
    }
}

/// Why evidence was not accepted. Every variant names what failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationError {
    #[error("attestation evidence is malformed: {0}")]
    Malformed(String),
    #[error("certificate #{index} of the attestation evidence cannot be read: {reason}")]
    BadCertificate { index: usize, reason: String },
    #[error(
        "attestation evidence is labelled {declared} but its certificates are {detected} evidence"
    )]
    FormatMismatch { declared: Format, detected: Format },
    #[error("{format} evidence lacks the {what}")]
    Missing { format: Format, what: String },
    #[error("{format} evidence is not structured as the format requires: {what}")]
    Structure { format: Format, what: String },
    #[error("certificate '{subject}' is not valid at {at} (valid {not_before} .. {not_after})")]
    Validity {
        subject: String,
        at: String,
        not_before: String,
        not_after: String,
    },
    #[error("signature of '{subject}' does not verify with the key of '{issuer}': {reason}")]
    Signature {
        subject: String,
        issuer: String,
        reason: String,
    },
    #[error("certificate '{subject}' may not issue certificates: {reason}")]
    NotACa { subject: String, reason: String },
    #[error("'{subject}' does not chain to a pinned {format} trust anchor: {reason}")]
    Untrusted {
        format: Format,
        subject: String,
        reason: String,
    },
    #[error("'{subject}' chains to the Yubico preview (engineering sample) CA '{ca}', which is never trusted")]
    PreviewCa { subject: String, ca: String },
    #[error("{format}: extension {oid} ({what}) is malformed: {reason}")]
    BadExtension {
        format: Format,
        oid: String,
        what: String,
        reason: String,
    },
    #[error("{format}: the attested object has no public key: {what}")]
    NoPublicKey { format: Format, what: String },
}

impl AttestationError {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AttestationError::Malformed(_) => "malformed",
            AttestationError::BadCertificate { .. } => "bad-certificate",
            AttestationError::FormatMismatch { .. } => "format-mismatch",
            AttestationError::Missing { .. } => "missing",
            AttestationError::Structure { .. } => "structure",
            AttestationError::Validity { .. } => "validity",
            AttestationError::Signature { .. } => "signature",
            AttestationError::NotACa { .. } => "not-a-ca",
            AttestationError::Untrusted { .. } => "untrusted",
            AttestationError::PreviewCa { .. } => "preview-ca",
            AttestationError::BadExtension { .. } => "bad-extension",
            AttestationError::NoPublicKey { .. } => "no-public-key",
        }
    }
}

/// Upper bounds on evidence size (denial-of-service guards).
pub(crate) const MAX_CERTIFICATES: usize = 16;
pub(crate) const MAX_CERTIFICATE_LEN: usize = 16 * 1024;
pub(crate) const MAX_BLOB_LEN: usize = 256 * 1024;

/// Verifies evidence against the pinned roots at time `now` and reports what
/// it attests. No policy is applied here (see `ra::attestation::decide`).
pub fn verify(
    evidence: &Evidence,
    store: &TrustStore,
    now: OffsetDateTime,
) -> Result<AttestationFacts, AttestationError> {
    let certs = evidence.parse_certificates()?;
    if let Some(detected) = evidence::detect_format(&certs, evidence.blob.is_some()) {
        if detected != evidence.format {
            return Err(AttestationError::FormatMismatch {
                declared: evidence.format,
                detected,
            });
        }
    }
    match evidence.format {
        Format::YubikeyPiv => yubikey_piv::verify(&certs, store, now),
        Format::Yubihsm2 => yubihsm::verify(&certs, store, now),
        Format::ThalesLuna => luna::verify(&certs, store, now),
        Format::GoogleCloudHsm => cloud_hsm::verify(&certs, evidence.blob.as_deref(), store, now),
        Format::FortanixDsm => fortanix::verify(&certs, store, now),
    }
}

pub(crate) fn fmt_time(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

mod b64 {
    use base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map_err(serde::de::Error::custom)
    }
}
