//! JSON views and download formats for admin responses.

use http::StatusCode;
use serde_json::{json, Value};
use time::OffsetDateTime;

use super::{ApiError, Reply};
use crate::ra::Ra;
use crate::storage::model::{CertificateRecord, Invitation};

/// An invitation without its secret HMAC key.
pub fn invitation(i: &Invitation, now: OffsetDateTime) -> Value {
    json!({
        "kid": i.kid,
        "email": i.email,
        "account_id": i.account_id,
        "profile_id": i.profile_id,
        "status": i.status(now),
        "created_at": i.created_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "expires": i.expires_at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "redeemed_by": i.redeemed_by,
    })
}

/// The term a certificate was issued for, in whole days (its validity is
/// inclusive: notAfter is one second short of notBefore + term).
fn term_days(c: &CertificateRecord) -> i64 {
    ((c.not_after - c.not_before).whole_seconds() + 43_200) / 86_400
}

/// A certificate record with its computed status and term (and PEM chain when given).
pub fn certificate(c: &CertificateRecord, now: OffsetDateTime, pem_chain: Option<&str>) -> Value {
    let mut v = serde_json::to_value(c).unwrap_or_default();
    if let Some(obj) = v.as_object_mut() {
        obj.remove("der");
        obj.insert("status".into(), json!(c.status(now)));
        obj.insert("term_days".into(), json!(term_days(c)));
        // RFC 4514, escaped, from the certificate itself
        let subject = super::subject::rfc4514(&c.der_bytes())
            .unwrap_or_else(|| crate::text::escape(&c.subject).into_owned());
        obj.insert("subject".into(), json!(subject));
        if let Some(p) = pem_chain {
            obj.insert("pem_chain".into(), json!(p));
        }
    }
    v
}

/// Adds the renewal lineage (`ancestors`, `descendants`: serials, nearest
/// first) to a certificate view.
pub fn add_lineage(v: &mut Value, lineage: &crate::ra::lineage::LineageView) {
    if let Some(obj) = v.as_object_mut() {
        obj.insert("ancestors".into(), json!(lineage.ancestors));
        obj.insert("descendants".into(), json!(lineage.descendants));
    }
}

fn pem_block(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

/// Leaf + issuing CA, PEM.
pub fn chain_pem(ra: &Ra, c: &CertificateRecord) -> String {
    ra.ca().chain_pem(&c.der_bytes())
}

/// A certificate in one of the download formats.
pub fn download(ra: &Ra, c: &CertificateRecord, format: &str) -> Result<Reply, ApiError> {
    let leaf = c.der_bytes();
    let issuing = ra.ca().issuing_cert_der();
    let (content_type, body) = match format {
        "pem" => (
            "application/pem-certificate-chain",
            pem_block(&leaf).into_bytes(),
        ),
        "chain" => (
            "application/pem-certificate-chain",
            chain_pem(ra, c).into_bytes(),
        ),
        "der" => ("application/pkix-cert", leaf),
        "pkcs7" => (
            "application/pkcs7-mime",
            crate::ca::pkcs7::certs_only_der(&[&leaf, issuing]),
        ),
        "pkcs7-pem" => (
            "application/x-pem-file",
            crate::ca::pkcs7::certs_only_pem(&[&leaf, issuing]).into_bytes(),
        ),
        other => {
            return Err(ApiError::field(
                "format",
                format!("{other:?} is not one of pem, chain, der, pkcs7, pkcs7-pem"),
            ))
        }
    };
    Ok(Reply {
        status: StatusCode::OK,
        content_type,
        body,
    })
}
