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
//! identity and the CRLs. The start-up self-test (`self_test.rs`) checks each
//! template's certificate in full with a throw-away key of the issuing key's
//! type, and the issuing key by one fixed message: the issuing key signs no
//! certificate that is not issued through [`Ca::issue`].
//! Per certificate `invariants::check_issued` checks what varies.

use std::path::Path;
use time::OffsetDateTime;

use aws_lc_rs::signature::ParsedPublicKey;
use rcgen::{CertificateParams, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::clock::SharedClock;
use crate::csr::KeyKind;

#[cfg(test)]
mod compliance_tests;
mod crl;
mod dev_hierarchy;
mod hierarchy;
mod invariants;
mod issuer_profile;
mod issuer_setup;
mod issuing_key;
mod pkcs11;
pub mod pkcs7;
pub mod pool;
mod profile;
mod pubkey;
mod root_crl;
mod self_test;
pub(crate) mod subject_rules;
mod template;
#[cfg(test)]
mod tests;
mod tls_issuer;
mod types;

/// The `[ca]` table lives with the rest of the configuration.
pub use crate::config::CaConfig;
use issuer_setup::{issuer_params_for, templates_for, verification_for};
use profile::Profiles;
pub use types::{IssuanceRequest, Serial, SubjectInfo, Template};

/// Maximum validity of a code-signing certificate under the CS BRs (days).
pub const MAX_VALIDITY_DAYS: i64 = 460;

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

/// Something loading the CA did that the audit log records (CS BR 5.4.1.1):
/// `ca.key.generate` (a development CA key) or `ca.certificate.load`.
#[derive(Debug, Clone, PartialEq)]
pub struct StartupEvent {
    pub action: &'static str,
    pub details: serde_json::Value,
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
    /// The development root's key: signs the root CRL, nothing else here.
    root_key: Option<KeyPair>,
    root_issuer_params: Option<CertificateParams>,
    root_crl: Option<root_crl::RootCrl>,
    tls_issuer: Option<tls_issuer::TlsIssuer>,
    issuing_der: Vec<u8>,
    issuing_pem: String,
    issuing_key: issuing_key::IssuingKey,
    /// Issuer name + key identifier of the issuing CA, as rcgen needs them.
    issuer_params: CertificateParams,
    issuer_subject_raw: Vec<u8>,
    issuer_key_id: Vec<u8>,
    issuer_not_after: OffsetDateTime,
    signature_alg: der::asn1::ObjectIdentifier,
    /// The OV and EV certificate templates, built and checked once.
    templates: [template::CertTemplate; 2],
    /// The certificatePolicies extnValue of the OV and EV template.
    policies: [Vec<u8>; 2],
    verify_key: ParsedPublicKey,
    /// A throw-away key of the issuing key's type (memory only) for the
    /// self-test and the reference encoder.
    probe: (KeyPair, ParsedPublicKey),
    profiles: Profiles,
    startup_events: Vec<StartupEvent>,
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

impl Ca {
    /// Loads the CA from `dir` (the data directory's `ca/` folder), generating a
    /// development hierarchy (root + issuing CA + TLS CA) there on first start.
    pub fn load_or_create(dir: &Path, cfg: &CaConfig, clock: &SharedClock) -> Result<Ca, CaError> {
        let mut loaded = hierarchy::load_or_create(dir, cfg, clock.now())?;
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
            other => other.to_string(),
        };
        let (root_issuer_params, root_crl, tls_issuer) = match &loaded.root_key {
            Some(root_key) => {
                let params = issuer_params_for(&hierarchy::cert_facts(&loaded.root_der)?);
                let crl = root_crl::RootCrl::load_or_issue(
                    dir,
                    &loaded.root_der,
                    &params,
                    root_key,
                    clock.now(),
                )?;
                let tls = tls_issuer::TlsIssuer::load_or_create(
                    dir,
                    cfg.organization.trim(),
                    clock.now(),
                    &mut loaded.events,
                )?;
                (Some(params), Some(crl), Some(tls))
            }
            None => (None, None, None),
        };
        let policies =
            [Template::Ov, Template::Ev].map(|t| profile::policies_value(&[t.policy_oid()], cfg));
        let [ov, ev] = policies;
        let ca = Ca {
            algorithm,
            issuing_pem: pem_cert(&loaded.issuing_der),
            root_der: loaded.root_der,
            root_key: loaded.root_key,
            root_issuer_params,
            root_crl,
            tls_issuer,
            issuing_der: loaded.issuing_der,
            issuing_key: loaded.issuing_key,
            issuer_params: issuer_params_for(&facts),
            templates: templates_for(&facts, cfg)?,
            policies: [ov?, ev?],
            probe: self_test::probe_key(&facts.key_kind)?,
            issuer_subject_raw: facts.subject_raw,
            issuer_key_id: facts.key_id,
            issuer_not_after: facts.not_after,
            signature_alg,
            verify_key,
            profiles: Profiles::new(cfg)?,
            startup_events: loaded.events,
            cfg: cfg.clone(),
            clock: clock.clone(),
        };
        ca.self_test()?;
        Ok(ca)
    }

    /// Signs a code-signing certificate and returns its DER after checking invariants.
    pub fn issue(&self, req: &IssuanceRequest) -> Result<Vec<u8>, CaError> {
        self.issue_with(
            req,
            self.cfg.reparse_certificates || cfg!(debug_assertions),
            self.cfg.verify_signatures,
        )
    }

    /// [`Ca::issue_signed`] with the issuing key; `verify` checks the
    /// signature against the issuing CA public key.
    fn issue_with(
        &self,
        req: &IssuanceRequest,
        reparse: bool,
        verify: bool,
    ) -> Result<Vec<u8>, CaError> {
        self.issue_signed(
            req,
            &self.issuing_key,
            reparse,
            verify.then_some(&self.verify_key),
        )
    }

    /// Issues from the template: validate, encode, sign once with `key`,
    /// assemble, then check what varies ([`invariants::check_issued`]); with
    /// `reparse` also the full re-parse and profile check
    /// ([`invariants::check`]); with `verify_key` the signature.
    fn issue_signed(
        &self,
        req: &IssuanceRequest,
        key: &impl rcgen::SigningKey,
        reparse: bool,
        verify_key: Option<&ParsedPublicKey>,
    ) -> Result<Vec<u8>, CaError> {
        if req.not_after > self.issuer_not_after {
            return Err(CaError::InvalidRequest(format!(
                "not_after ({}) is later than the issuing CA's not_after ({})",
                req.not_after, self.issuer_not_after
            )));
        }
        let (tbs, ski) = self.prepare(req)?;
        let signature = key
            .sign(&tbs)
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
            invariants::check(&der, req, &self.expectations_with(verify_key), &signed)?;
        } else if let Some(verify_key) = verify_key {
            verify_key
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
        let key_bits = pubkey::RequestKey::subject_public_key(&req.spki_der)?;
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

    #[cfg(test)]
    fn expectations(&self, verify: bool) -> invariants::Expectations<'_> {
        self.expectations_with(verify.then_some(&self.verify_key))
    }

    fn expectations_with<'a>(
        &'a self,
        verify_key: Option<&'a ParsedPublicKey>,
    ) -> invariants::Expectations<'a> {
        invariants::Expectations {
            issuer_subject_raw: &self.issuer_subject_raw,
            issuer_key_id: &self.issuer_key_id,
            signature_alg: self.signature_alg,
            crl_url: &self.cfg.crl_url,
            issuer_url: &self.cfg.issuer_url,
            policies: [&self.policies[0], &self.policies[1]],
            verify_key,
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

    /// The issuing key's algorithm: `p256`, `p384` or `rsa<bits>`.
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
    /// (the benchmark's raw-signature baseline). Development CA only: an
    /// operator's issuing key signs nothing but certificates and CRLs (CS BR
    /// 3.2, 5.4.1.1), so this refuses with an operator-supplied issuing CA.
    pub fn sign_raw(&self, msg: &[u8]) -> Result<Vec<u8>, CaError> {
        use rcgen::SigningKey as _;
        if self.root_key.is_none() {
            return Err(CaError::InvalidRequest(
                "raw signatures are for benchmarks on the development CA only".into(),
            ));
        }
        self.issuing_key
            .sign(msg)
            .map_err(|e| CaError::Signing(e.to_string()))
    }

    /// A TLS server certificate (fresh P-256 key, serverAuth) for the HTTPS
    /// listener, from the development TLS CA ([`Ca::tls_ca_cert_pem`]):
    /// neither the code-signing CA nor its root signs TLS certificates. With
    /// an operator-supplied issuing CA there is none: configure
    /// `server.tls_cert_file`.
    pub fn tls_server_identity(
        &self,
        dns_names: &[String],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CaError> {
        match &self.tls_issuer {
            Some(tls) => tls.server_identity(dns_names, self.clock.now()),
            None => Err(CaError::Config(
                "an operator-supplied issuing CA is configured: set server.tls_cert_file and \
                 server.tls_key_file (the code-signing CA never signs TLS certificates)"
                    .into(),
            )),
        }
    }

    /// PEM of the development TLS CA that signs the HTTPS listener's
    /// certificate (None with an operator-supplied issuing CA).
    pub fn tls_ca_cert_pem(&self) -> Option<String> {
        self.tls_issuer.as_ref().map(|t| pem_cert(t.cert_der()))
    }

    /// The development root's CRL (DER), re-issued when due; None with an
    /// operator-supplied issuing CA (its root's CRL is the operator's).
    pub fn root_crl(&self) -> Result<Option<Vec<u8>>, CaError> {
        match (&self.root_crl, &self.root_key, &self.root_issuer_params) {
            (Some(crl), Some(key), Some(params)) => {
                crl.current(params, key, self.clock.now()).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// How many signatures the issuing key has made since start-up (the
    /// self-test's one fixed message, then certificates and CRLs).
    pub fn issuing_key_signatures(&self) -> u64 {
        self.issuing_key.signatures()
    }

    /// What loading the CA did (keys generated, certificates loaded), for
    /// the audit log; the server records them at start-up.
    pub fn startup_events(&self) -> &[StartupEvent] {
        &self.startup_events
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

pub(crate) fn pem_cert(der: &[u8]) -> String {
    pem::encode_config(
        &pem::Pem::new("CERTIFICATE", der.to_vec()),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}
