//! The `[ca]` table of the configuration.

use serde::{Deserialize, Serialize};

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
    /// fills it in before calling [`crate::ca::Ca::load_or_create`].
    pub crl_url: String,
    /// AIA caIssuers URL embedded in issued certificates (empty: derived likewise).
    pub issuer_url: String,
    /// CRL distribution point of the development issuing CA certificate: the
    /// root's CRL (empty: `root.crl` next to `crl_url`, which with a derived
    /// `crl_url` is `<http>/crl/root.crl`). Written
    /// into the issuing CA certificate when the development hierarchy is created.
    pub root_crl_url: String,
    /// AIA caIssuers URL of the development issuing CA certificate: the root
    /// certificate (empty: `root.crt` next to `issuer_url`, `<http>/ca/root.crt`).
    pub root_url: String,
    /// Optional CA-defined certificate policy OID (dotted), placed in every
    /// certificate's certificatePolicies after the reserved CA/B Forum OID
    /// (CS BR 7.1.2.3 a, 7.1.6.4).
    pub policy_oid: Option<String>,
    /// Optional URI of the CPS (http or https), a CPS qualifier of
    /// `policy_oid` (which it requires).
    pub cps_uri: Option<String>,
    /// Start with an operator-supplied issuing CA certificate that does not
    /// meet the CS BR 7.1.2.2 subordinate CA profile (test setups only: the
    /// server warns loudly at every start).
    pub allow_nonconforming_issuer: bool,
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
    pub pkcs11_pin: Option<super::Secret>,
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
            root_crl_url: String::new(),
            root_url: String::new(),
            policy_oid: None,
            cps_uri: None,
            allow_nonconforming_issuer: false,
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

impl CaConfig {
    /// `root_crl_url`, or `root.crl` next to `crl_url`.
    pub fn effective_root_crl_url(&self) -> String {
        sibling(&self.root_crl_url, &self.crl_url, "root.crl")
    }

    /// `root_url`, or `root.crt` next to `issuer_url`.
    pub fn effective_root_url(&self) -> String {
        sibling(&self.root_url, &self.issuer_url, "root.crt")
    }
}

fn sibling(configured: &str, next_to: &str, file: &str) -> String {
    if !configured.trim().is_empty() {
        return configured.trim().to_string();
    }
    match next_to.rsplit_once('/') {
        Some((dir, _)) if dir.contains("://") && !dir.ends_with('/') => format!("{dir}/{file}"),
        _ => String::new(),
    }
}
