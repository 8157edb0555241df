//! The CA core: signs exactly what the RA hands it. It takes only the public key
//! (SubjectPublicKeyInfo) from a request, builds every other field itself per the
//! CA/B Forum Code Signing Baseline Requirements, re-parses what it signed and
//! checks the invariants before returning it.

use serde::{Deserialize, Serialize};
use std::path::Path;
use time::OffsetDateTime;

use crate::clock::SharedClock;

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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectInfo {
    pub common_name: String,
    pub organization: String,
    pub organizational_unit: Option<String>,
    pub locality: Option<String>,
    pub state: Option<String>,
    /// ISO 3166-1 alpha-2
    pub country: String,
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

/// The issuing CA with its chain.
pub struct Ca {
    _private: (),
}

impl Ca {
    /// Loads the CA from `dir` (the data directory's `ca/` folder), generating a
    /// development hierarchy (root + issuing CA) there on first start.
    pub fn load_or_create(dir: &Path, cfg: &CaConfig, clock: &SharedClock) -> Result<Ca, CaError> {
        let _ = (dir, cfg, clock);
        Err(CaError::Config("not implemented yet".into()))
    }

    /// Signs a code-signing certificate and returns its DER after checking invariants.
    pub fn issue(&self, req: &IssuanceRequest) -> Result<Vec<u8>, CaError> {
        let _ = req;
        Err(CaError::Signing("not implemented yet".into()))
    }

    /// DER of the issuing CA certificate.
    pub fn issuing_cert_der(&self) -> &[u8] {
        &[]
    }

    /// DER of the root certificate (trust anchor).
    pub fn root_cert_der(&self) -> &[u8] {
        &[]
    }
}
