//! ACME Renewal Information (RFC 9773): `renewalInfo` in the directory, the
//! suggested renewal window per certificate, and `replaces` in newOrder.
//!
//! `replaces` is renewal lineage (`storage/lineage.rs`), as EST
//! simplereenroll is: a certificate is replaced once. RFC 9773 §5 has the
//! server check that the certificate "has not already been marked as
//! replaced by a different Order that is not invalid" and answer 409
//! `alreadyReplaced` if it has; Signet refuses at newOrder when another
//! live order replaces it or a certificate already did, and again at
//! finalize (the issuance claims the renewal, so of concurrent orders one
//! is issued). An order that became invalid never replaced anything, so the
//! certificate can be named again. The replaced certificate is superseded
//! (revoked as `superseded`) once `ra.renewal_grace_hours` have passed.

use http::StatusCode;
use serde_json::json;
use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::jws::{b64, b64_decode};
use super::problem::{Problem, ProblemType};
use super::types::rfc3339;
use super::{Inner, Reply};
use crate::ra::acme::acme_requester;
use crate::storage::acme::{AcmeAccount, OrderStatus};
use crate::storage::model::CertificateRecord;

/// Seconds clients should wait before asking for renewal information again.
pub const RETRY_AFTER_SECS: u64 = 6 * 3600;

/// The RFC 9773 CertID of a DER certificate:
/// `base64url(AKI keyIdentifier) "." base64url(serial INTEGER contents)`.
pub fn cert_id(der: &[u8]) -> Option<String> {
    let (_, cert) = X509Certificate::from_der(der).ok()?;
    let aki = cert
        .extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })?;
    Some(format!("{}.{}", b64(&aki), b64(cert.raw_serial())))
}

impl Inner {
    /// The certificate a CertID names (404/400 problems otherwise).
    pub(crate) fn cert_by_id(&self, id: &str) -> Result<CertificateRecord, Problem> {
        let (aki, serial) = id.split_once('.').ok_or_else(|| {
            Problem::malformed("a CertID is base64url(AKI) \".\" base64url(serial)")
        })?;
        b64_decode("CertID keyIdentifier", aki)?;
        let serial = b64_decode("CertID serial", serial)?;
        let hex_serial = hex::encode(
            serial
                .iter()
                .copied()
                .skip_while(|b| *b == 0)
                .collect::<Vec<_>>(),
        );
        let cert = self
            .store
            .get_certificate(&hex_serial)?
            .filter(|c| cert_id(&c.der_bytes()).as_deref() == Some(id))
            .ok_or_else(|| Problem::not_found("a certificate with that CertID"))?;
        Ok(cert)
    }

    pub(crate) fn renewal_info(&self, id: &str) -> Result<Reply, Problem> {
        let cert = self.cert_by_id(id)?;
        // The RA decides the window (revoked: already past, renew at once).
        let w = self.ra.renewal_window(&cert);
        let (start, end) = (w.start, w.end);
        let mut r = Reply::json(
            StatusCode::OK,
            &json!({"suggestedWindow": {"start": rfc3339(start), "end": rfc3339(end)}}),
        );
        r.retry_after = Some(RETRY_AFTER_SECS);
        Ok(r)
    }

    /// Checks a newOrder `replaces` CertID: a certificate of this account that
    /// no other live order replaces yet. Returns the (canonical) CertID.
    pub(crate) fn check_replaces(&self, acct: &AcmeAccount, id: &str) -> Result<String, Problem> {
        let cert = self
            .cert_by_id(id)
            .map_err(|p| Problem::malformed(format!("replaces: {}", p.detail)))?;
        if cert.requester != acme_requester(&acct.id) {
            return Err(Problem::unauthorized(
                "replaces names a certificate of another account",
            ));
        }
        if let Some(by) = &cert.lineage.renewed_by {
            return Err(Problem::new(
                ProblemType::AlreadyReplaced,
                format!(
                    "the certificate {} was already replaced by certificate {by}",
                    cert.serial
                ),
            ));
        }
        let mut start = 0;
        loop {
            let (ids, more) = self.store.list_acme_order_ids(&acct.id, start, 100)?;
            for oid in &ids {
                if let Some(o) = self.store.get_acme_order(oid)? {
                    if o.replaces.as_deref() == Some(id) && o.status != OrderStatus::Invalid {
                        return Err(Problem::new(
                            ProblemType::AlreadyReplaced,
                            format!("the certificate is already replaced by order {oid}"),
                        ));
                    }
                }
            }
            if !more {
                break;
            }
            start += ids.len();
        }
        Ok(id.to_string())
    }

    /// The serial of the certificate an order's `replaces` names (finalize).
    pub(crate) fn replaced_serial(
        &self,
        replaces: Option<&str>,
    ) -> Result<Option<String>, Problem> {
        match replaces {
            None => Ok(None),
            Some(id) => Ok(Some(self.cert_by_id(id)?.serial)),
        }
    }
}
