//! EST (RFC 7030) decisions: who may enroll with which credentials, and what
//! a renewal may ask for. The EST front end only translates HTTP; everything
//! here is policy.
//!
//! - **First enrollment** (`simpleenroll`): HTTP Basic with an invitation's
//!   credentials (user name = kid, password = HMAC key, compared in constant
//!   time). The invitation is redeemed (`redeemed_by = "est:<kid>"`) in the
//!   change set that records the certificate (or the request waiting for
//!   approval), and claimed before signing, so it is single use across
//!   every protocol; a refused enrollment leaves it unredeemed (the first
//!   *successful* enrollment is what consumes it). The
//!   resulting request is bound to (kid, CSR key): a resend for the same key
//!   (the identical CSR, or the same request re-signed) while the request
//!   waits for approval answers "pending" again, and once approved it
//!   returns the certificate. Any other use of a redeemed invitation fails.
//! - **Renewal** (`simplereenroll`): the TLS client certificate must be one
//!   Signet issued (found by serial, byte-identical DER, signed by the issuing
//!   CA), not revoked and within its validity. The CSR's subject and subject
//!   alternative names must equal the certificate's (RFC 7030 section 4.2.2):
//!   the same attributes with the same values (in any RDN order), and the same
//!   set of alternative names.
//!   The new certificate is for the same endpoint account, profile and email.
//!   A certificate renews once (`storage/lineage.rs`): a second renewal with
//!   another key is refused (409, naming the certificate that renewed it),
//!   an identical resend returns the same answer; the renewed certificate is
//!   superseded after `ra.renewal_grace_hours` (`ra/lineage.rs`).
//! - **Labels**: `/.well-known/est/<label>/...` names an enrollment endpoint;
//!   a credential that belongs to another endpoint is refused.

use aws_lc_rs::digest;
use serde_json::json;
use subtle::ConstantTimeEq;
use x509_parser::certificate::X509Certificate;
use x509_parser::certification_request::X509CertificationRequest;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::FromDer;
use x509_parser::x509::X509Name;

use super::lifecycle::RequestState;
use super::{EnrollmentOutcome, EnrollmentRequest, Ra, RaError};
use crate::csr::Csr;
use crate::storage::est::EstBinding;
use crate::storage::model::{CertificateRecord, Endpoint, Invitation, Profile};
use crate::storage::{Redemption, RequestLink, StorageError};

/// Why an EST request was refused (the front end maps each to a status code).
#[derive(Debug, thiserror::Error)]
pub enum EstError {
    /// Missing or unacceptable credentials (401 with WWW-Authenticate).
    #[error("{0}")]
    Unauthenticated(String),
    /// Authenticated, but not allowed (403).
    #[error("{0}")]
    Forbidden(String),
    /// The CSR cannot be used at all (400).
    #[error("{0}")]
    BadRequest(String),
    /// Unknown label or resource (404).
    #[error("{0}")]
    NotFound(String),
    /// Anything the RA decided or failed on (policy, CSR, storage, CA).
    #[error(transparent)]
    Ra(#[from] RaError),
}

impl From<StorageError> for EstError {
    fn from(e: StorageError) -> Self {
        EstError::Ra(RaError::Storage(e))
    }
}

/// The result of an EST enrollment.
#[derive(Debug, Clone)]
pub enum EstOutcome {
    /// Issued (durable in the store).
    Issued(Box<CertificateRecord>),
    /// Waiting for an administrator: answer 202 + Retry-After.
    Pending { request_id: String },
}

/// What the CSR attributes of an endpoint (or of the whole server) require.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EstCsrPolicy {
    /// Allowed key types (profile names: "rsa-3072", "ecdsa-p256", ...), sorted, unique.
    pub key_types: Vec<String>,
    /// Whether any of the profiles requires hardware key attestation.
    pub attestation_required: bool,
}

/// The requester name of an EST first enrollment.
pub fn est_requester(kid: &str) -> String {
    format!("est:{kid}")
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, bytes).as_ref())
}

/// Constant-time equality of two secrets (false on different lengths).
fn secret_eq(a: &str, b: &str) -> bool {
    bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

impl Ra {
    /// The enrollment endpoint a label names (`None` without a label).
    pub fn est_endpoint(&self, label: Option<&str>) -> Result<Option<Endpoint>, EstError> {
        match label {
            None => Ok(None),
            Some(l) => match self.store.find_endpoint_by_label(l)? {
                Some(ep) => Ok(Some(ep)),
                None => Err(EstError::NotFound(format!(
                    "no EST enrollment endpoint with label {l:?}"
                ))),
            },
        }
    }

    /// Key types and attestation the profiles reachable at `endpoint` require
    /// (every profile without an endpoint).
    pub fn est_csr_policy(&self, endpoint: Option<&Endpoint>) -> Result<EstCsrPolicy, EstError> {
        let profiles: Vec<Profile> = match endpoint {
            None => self.store.list_profiles()?,
            Some(ep) => {
                let mut ids: Vec<String> = self
                    .store
                    .list_accounts()?
                    .into_iter()
                    .filter(|a| a.endpoint_id == ep.id)
                    .flat_map(|a| a.profile_ids)
                    .collect();
                ids.sort();
                ids.dedup();
                let mut out = Vec::new();
                for id in ids {
                    if let Some(p) = self.store.find_profile(&id)? {
                        out.push(p);
                    }
                }
                out
            }
        };
        let mut key_types: Vec<String> = profiles
            .iter()
            .flat_map(|p| p.key_types.iter().cloned())
            .collect();
        key_types.sort();
        key_types.dedup();
        Ok(EstCsrPolicy {
            key_types,
            attestation_required: profiles.iter().any(|p| p.attestation.required),
        })
    }

    /// Checks Basic credentials against an invitation and the label's endpoint.
    fn est_invitation(
        &self,
        endpoint: Option<&Endpoint>,
        kid: &str,
        password: &str,
    ) -> Result<Invitation, EstError> {
        let refused = || {
            EstError::Unauthenticated("unknown invitation key identifier or wrong password".into())
        };
        let inv = match self.store.get_invitation(kid)? {
            Some(inv) => inv,
            None => {
                // Same work as a real comparison, so timing does not tell kids apart.
                let _ = secret_eq(password, "________________________________________");
                return Err(refused());
            }
        };
        if !secret_eq(password, &inv.hmac_key) {
            return Err(refused());
        }
        if let Some(ep) = endpoint {
            let account = self.account(&inv.account_id)?;
            if account.endpoint_id != ep.id {
                return Err(EstError::Forbidden(format!(
                    "this invitation belongs to another enrollment endpoint than {:?}",
                    ep.label
                )));
            }
        }
        Ok(inv)
    }

    /// `simpleenroll` with an invitation's Basic credentials.
    pub fn est_enroll(
        &self,
        endpoint: Option<&Endpoint>,
        kid: &str,
        password: &str,
        csr_der: &[u8],
    ) -> Result<EstOutcome, EstError> {
        let inv = self.est_invitation(endpoint, kid, password)?;
        // A CSR that cannot be parsed or verified is refused before the
        // invitation is touched.
        let csr = Csr::parse(csr_der).map_err(|e| EstError::BadRequest(format!("bad CSR: {e}")))?;
        // A resend is recognized by its key: a client may re-sign the CSR.
        let key_hash = sha256_hex(&csr.spki_der);
        let auth = format!("inv:{kid}");
        let requester = est_requester(kid);
        let now = self.clock.now();

        match inv.status(now) {
            "sent" => {}
            "redeemed" if inv.redeemed_by.as_deref() == Some(requester.as_str()) => {
                return match self.store.est_binding(&auth, &key_hash)? {
                    Some(b) => self.est_resend(&b),
                    None => Err(EstError::Unauthenticated(
                        "this invitation has already been used for another key; \
                         renew with simplereenroll and the issued certificate"
                            .into(),
                    )),
                };
            }
            "redeemed" => {
                return Err(EstError::Unauthenticated(
                    "this invitation has already been used".into(),
                ))
            }
            "revoked" => {
                return Err(EstError::Unauthenticated(
                    "this invitation has been revoked".into(),
                ))
            }
            _ => {
                return Err(EstError::Unauthenticated(
                    "this invitation has expired".into(),
                ))
            }
        }

        // The invitation is redeemed in the same change set as the
        // certificate (or the request waiting for approval), and claimed
        // before signing: a CSR the RA refuses never touches it, and
        // concurrent enrollments redeem it once.
        let redeem = Redemption {
            kid: kid.to_string(),
            at: now,
            by: requester.clone(),
            audit: self.event(
                &requester,
                "invitation.redeem",
                json!({"kid": kid, "protocol": "est"}),
            ),
        };
        let req = EnrollmentRequest {
            account: inv.account_id.clone(),
            profile: inv.profile_id.clone(),
            email: inv.email.clone(),
            csr: csr_der.to_vec(),
            term_days: None,
            attestation: None,
            requester: requester.clone(),
            link: RequestLink::Est {
                auth,
                key_sha256: key_hash,
                redeem: Some(Box::new(redeem)),
            },
            request_id: None,
            renews: None,
        };
        let outcome = match self.enroll_parsed(&req, &csr) {
            Ok(o) => o,
            // another enrollment redeemed it first (or it expired meanwhile)
            Err(RaError::Conflict(m)) if m.contains("invitation") => {
                return Err(EstError::Unauthenticated(m))
            }
            // nothing was written: the invitation is still unredeemed
            Err(e) => return Err(e.into()),
        };
        self.metrics.invitation_redeemed("est");
        Ok(est_outcome(outcome))
    }

    /// `simplereenroll` with a TLS client certificate chain (leaf first).
    pub fn est_reenroll(
        &self,
        endpoint: Option<&Endpoint>,
        client_chain: &[Vec<u8>],
        csr_der: &[u8],
    ) -> Result<EstOutcome, EstError> {
        let record = self.est_client_certificate(client_chain)?;
        if let Some(ep) = endpoint {
            let account = self.account(&record.account_id)?;
            if account.endpoint_id != ep.id {
                return Err(EstError::Forbidden(format!(
                    "the client certificate was issued through another enrollment endpoint than {:?}",
                    ep.label
                )));
            }
        }
        let csr = Csr::parse(csr_der).map_err(|e| EstError::BadRequest(format!("bad CSR: {e}")))?;
        let cert_der = record.der_bytes();
        check_same_identity(&cert_der, csr_der)?;

        let key_hash = sha256_hex(&csr.spki_der);
        let auth = format!("cert:{}", record.serial);
        if let Some(b) = self.store.est_binding(&auth, &key_hash)? {
            return self.est_resend(&b);
        }
        let requester = if record.requester.starts_with("est:") {
            record.requester.clone()
        } else {
            format!("est:renewal:{}", record.serial)
        };
        let req = EnrollmentRequest {
            account: record.account_id.clone(),
            profile: Some(record.profile_id.clone()),
            email: record.email.clone(),
            csr: csr_der.to_vec(),
            term_days: None,
            attestation: None,
            requester,
            link: RequestLink::Est {
                auth,
                key_sha256: key_hash,
                redeem: None,
            },
            request_id: None,
            // a certificate renews once (storage/lineage.rs)
            renews: Some(record.serial.clone()),
        };
        let outcome = self.enroll_parsed(&req, &csr)?;
        Ok(est_outcome(outcome))
    }

    /// The Signet certificate a TLS client presented, if it may authenticate:
    /// issued by Signet (same DER as stored, signed by the issuing CA), not
    /// revoked, within its validity.
    pub fn est_client_certificate(
        &self,
        client_chain: &[Vec<u8>],
    ) -> Result<CertificateRecord, EstError> {
        let leaf = client_chain.first().ok_or_else(|| {
            EstError::Unauthenticated(
                "simplereenroll requires a TLS client certificate issued by Signet".into(),
            )
        })?;
        let not_ours =
            || EstError::Unauthenticated("the client certificate was not issued by Signet".into());
        let (_, cert) = X509Certificate::from_der(leaf).map_err(|_| not_ours())?;
        let serial = hex::encode(cert.tbs_certificate.raw_serial());
        let record = match self.store.get_certificate(&serial)? {
            Some(r) => r,
            None => return Err(not_ours()),
        };
        if record.der_bytes() != *leaf {
            return Err(not_ours());
        }
        let (_, issuer) = X509Certificate::from_der(self.ca.issuing_cert_der()).map_err(|e| {
            RaError::Ca(crate::ca::CaError::Config(format!(
                "issuing CA certificate: {e}"
            )))
        })?;
        cert.verify_signature(Some(issuer.public_key()))
            .map_err(|_| not_ours())?;
        let now = self.clock.now();
        match record.status(now) {
            "revoked" => Err(EstError::Unauthenticated(format!(
                "the client certificate {} has been revoked",
                record.serial
            ))),
            "expired" => Err(EstError::Unauthenticated(format!(
                "the client certificate {} has expired",
                record.serial
            ))),
            _ if now < record.not_before => Err(EstError::Unauthenticated(format!(
                "the client certificate {} is not valid yet",
                record.serial
            ))),
            _ => Ok(record),
        }
    }

    /// An identical resend: where its request stands now.
    fn est_resend(&self, binding: &EstBinding) -> Result<EstOutcome, EstError> {
        match self.request_state(&binding.request_id)? {
            RequestState::Pending(r) => Ok(EstOutcome::Pending { request_id: r.id }),
            RequestState::Issued(c) if c.revocation.is_some() => Err(EstError::Forbidden(format!(
                "the certificate {} issued for this request has been revoked",
                c.serial
            ))),
            RequestState::Issued(c) => Ok(EstOutcome::Issued(Box::new(c))),
            RequestState::Declined { reason } => Err(EstError::Forbidden(format!(
                "the request was declined by an administrator: {reason}"
            ))),
        }
    }
}

/// The EST view of an enrollment outcome (its binding was stored with it,
/// see [`RequestLink::Est`]).
fn est_outcome(outcome: EnrollmentOutcome) -> EstOutcome {
    match outcome {
        EnrollmentOutcome::Issued(c) => EstOutcome::Issued(Box::new(c)),
        EnrollmentOutcome::Pending(r) => EstOutcome::Pending { request_id: r.id },
    }
}

/// The subject's attributes, normalized for comparison: sorted (OID, value
/// text or hex DER) pairs. RDN order is not compared: common CSR builders
/// (rcgen, used by usg-est-client) put CN first whatever order they are given.
fn name_parts(name: &X509Name<'_>) -> Vec<(String, String)> {
    let mut attrs: Vec<(String, String)> = name
        .iter_attributes()
        .map(|a| {
            let value = match a.as_str() {
                Ok(s) => s.to_string(),
                Err(_) => hex::encode(a.attr_value().data),
            };
            (a.attr_type().to_id_string(), value)
        })
        .collect();
    attrs.sort();
    attrs
}

fn general_name(g: &GeneralName<'_>) -> String {
    match g {
        GeneralName::RFC822Name(s) => match s.rsplit_once('@') {
            Some((local, domain)) => format!("email:{local}@{}", domain.to_ascii_lowercase()),
            None => format!("email:{s}"),
        },
        GeneralName::DNSName(s) => format!("dns:{}", s.to_ascii_lowercase()),
        GeneralName::URI(s) => format!("uri:{s}"),
        other => format!("{other:?}"),
    }
}

/// RFC 7030 section 4.2.2: the renewal CSR's subject and subjectAltName must
/// equal those of the certificate being renewed.
fn check_same_identity(cert_der: &[u8], csr_der: &[u8]) -> Result<(), EstError> {
    let (_, cert) = X509Certificate::from_der(cert_der)
        .map_err(|e| EstError::Ra(RaError::Conflict(format!("stored certificate: {e}"))))?;
    let (_, csr) = X509CertificationRequest::from_der(csr_der)
        .map_err(|e| EstError::BadRequest(format!("bad CSR: {e}")))?;
    let csr_subject = &csr.certification_request_info.subject;
    if name_parts(cert.subject()) != name_parts(csr_subject) {
        return Err(EstError::Forbidden(format!(
            "the CSR's subject ({csr_subject}) must equal the subject of the certificate being renewed ({})",
            cert.subject()
        )));
    }
    let mut cert_san: Vec<String> = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|e| e.value.general_names.iter().map(general_name).collect())
        .unwrap_or_default();
    let mut csr_san: Vec<String> = Vec::new();
    if let Some(exts) = csr.requested_extensions() {
        for ext in exts {
            if let ParsedExtension::SubjectAlternativeName(san) = ext {
                csr_san.extend(san.general_names.iter().map(general_name));
            }
        }
    }
    cert_san.sort();
    csr_san.sort();
    if cert_san != csr_san {
        return Err(EstError::Forbidden(format!(
            "the CSR's subject alternative names [{}] must equal those of the certificate being renewed [{}]",
            csr_san.join(", "),
            cert_san.join(", ")
        )));
    }
    Ok(())
}
