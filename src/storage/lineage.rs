//! Renewal lineage: which certificate renewed which (EST `simplereenroll`,
//! ACME `replaces`), kept in the certificate records themselves
//! ([`Lineage`](super::model::Lineage)) and written in the change set that issues the renewal.
//!
//! The invariant this file keeps: a certificate is renewed at most once.
//! A renewal request names the certificate it renews (`CertRequest::renews`);
//! its issuance claims `renewal:<old serial>` before signing (`claims.rs`,
//! so of concurrent renewals one is signed and the others are refused with
//! the serial being issued), and the recording change set checks again
//! under the writer lock that the old certificate has no successor, then
//! writes both directions (`renewed_by` on the old one, `renews` on the new
//! one). A renewal that waits for approval records its request on the old
//! certificate (`renewal_request`): a second renewal is refused while it
//! waits, and is possible again once it was declined.
//!
//! Supersession: a renewed certificate is listed under `supersede/<serial>`
//! (table meta) until it is revoked; the RA's background duty revokes it
//! as `superseded` once the grace period after `renewed_at` has passed
//! (`ra/lineage.rs`). Every revocation removes the entry in its own change
//! set.

use serde::{Deserialize, Serialize};
use serde_json::json;
use time::OffsetDateTime;

use super::claims::renewal_key;
use super::model::{AuditEvent, CertRequest, CertificateRecord, RequestStatus, Revocation};
use super::tx::{abort, TxResult};
use super::{Result, StorageError, Store, Table, Tx};

const SUPERSEDE_PREFIX: &str = "supersede/";

fn supersede_key(serial_hex: &str) -> String {
    format!("{SUPERSEDE_PREFIX}{serial_hex}")
}

/// A renewed certificate not revoked yet: the RA supersedes it after the grace period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSupersession {
    /// The renewed (old) certificate.
    pub serial: String,
    /// Its renewal.
    pub renewed_by: String,
    #[serde(with = "time::serde::rfc3339")]
    pub renewed_at: OffsetDateTime,
}

/// The refusal for a certificate that already has a successor.
pub(super) fn already_renewed(old: &str, by: &str) -> String {
    format!("certificate {old} was already renewed by certificate {by}; a certificate renews once")
}

/// The refusal while another issuance renews it (holds its claim).
pub(super) fn being_renewed(old: &str, by: &str) -> String {
    format!(
        "certificate {old} was already renewed by certificate {by} (being issued now); \
         a certificate renews once"
    )
}

/// Checks inside `tx` that `old_serial` may be renewed by request
/// `request_id`: no successor, no other issuance renewing it, no other
/// renewal request waiting for approval. Returns the old certificate.
pub(super) fn check_renewable_in(
    tx: &Tx<'_>,
    old_serial: &str,
    request_id: &str,
) -> TxResult<CertificateRecord> {
    let old: CertificateRecord = tx.need(Table::Certificates, "certificate", old_serial)?;
    if let Some(by) = &old.lineage.renewed_by {
        return Err(abort(StorageError::Conflict(already_renewed(
            old_serial, by,
        ))));
    }
    if let Some(by) = tx.claim_holder_elsewhere(&renewal_key(old_serial)) {
        return Err(abort(StorageError::Conflict(being_renewed(
            old_serial, &by,
        ))));
    }
    if let Some(other) = old.lineage.renewal_request.as_deref() {
        if other != request_id {
            let waiting = tx
                .get::<CertRequest>(Table::Requests, other)?
                .is_some_and(|r| {
                    matches!(r.status, RequestStatus::Applied | RequestStatus::Approved)
                });
            if waiting {
                return Err(abort(StorageError::Conflict(format!(
                    "certificate {old_serial} already has renewal request {other} waiting for \
                     approval; a certificate renews once"
                ))));
            }
        }
    }
    Ok(old)
}

/// Records inside `tx` that request `request_id` (waiting for approval)
/// renews `old_serial`.
pub(super) fn mark_pending_in(tx: &Tx<'_>, old_serial: &str, request_id: &str) -> TxResult<()> {
    let mut old = check_renewable_in(tx, old_serial, request_id)?;
    old.lineage.renewal_request = Some(request_id.to_string());
    tx.put(Table::Certificates, old_serial, &old)
}

/// Records inside `tx` that `new` (issued for `request_id`) renews
/// `old_serial`, and lists the old one for supersession.
pub(super) fn record_renewal_in(
    tx: &Tx<'_>,
    old_serial: &str,
    request_id: &str,
    new: &CertificateRecord,
) -> TxResult<()> {
    let mut old = check_renewable_in(tx, old_serial, request_id)?;
    old.lineage.renewed_by = Some(new.serial.clone());
    old.lineage.renewed_at = Some(new.issued_at);
    old.lineage.renewal_request = Some(request_id.to_string());
    tx.put(Table::Certificates, old_serial, &old)?;
    if old.revocation.is_none() {
        tx.put(
            Table::Meta,
            &supersede_key(old_serial),
            &PendingSupersession {
                serial: old_serial.to_string(),
                renewed_by: new.serial.clone(),
                renewed_at: new.issued_at,
            },
        )?;
    }
    Ok(())
}

/// How a revocation spreads along the lineage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevocationScope {
    /// The certificate only.
    Certificate,
    /// The certificate and every certificate renewed from it, transitively.
    WithDescendants,
}

impl Store {
    /// The renewed certificates still waiting to be superseded.
    pub fn pending_supersessions(&self) -> Result<Vec<PendingSupersession>> {
        self.scan_prefix(Table::Meta, SUPERSEDE_PREFIX)
    }

    /// Revokes a certificate (and, with [`RevocationScope::WithDescendants`],
    /// every certificate renewed from it) in one change set with `audit`
    /// (its details gain `descendants`: the serials revoked after the first).
    /// A keyCompromise revocation blocks the keys, and may replace an
    /// earlier revocation for another reason (the reason only ever becomes
    /// keyCompromise); otherwise an already revoked certificate is a conflict
    /// (descendants already revoked for keyCompromise are left as they are).
    /// A descendant's invalidity date is never before its own notBefore.
    /// Returns the records revoked, the named certificate first.
    pub fn revoke_certificates(
        &self,
        serial_hex: &str,
        revocation: &Revocation,
        scope: RevocationScope,
        audit: &AuditEvent,
    ) -> Result<Vec<CertificateRecord>> {
        let key_compromise = revocation.reason_code == 1;
        self.transact_on(&[Table::Certificates, Table::BlockedKeys], |tx| {
            let mut cert: CertificateRecord =
                tx.need(Table::Certificates, "certificate", serial_hex)?;
            if !revocable(&cert, key_compromise) {
                return Err(abort(StorageError::Conflict(
                    "certificate is already revoked".into(),
                )));
            }
            let mut revoked = Vec::new();
            let mut seen = vec![cert.serial.clone()];
            loop {
                if revocable(&cert, key_compromise) {
                    let mut r = revocation.clone();
                    r.invalid_since = r.invalid_since.map(|t| t.max(cert.not_before));
                    cert.revocation = Some(r);
                    tx.put(Table::Certificates, &cert.serial, &cert)?;
                    tx.remove(Table::Meta, &supersede_key(&cert.serial))?;
                    if key_compromise {
                        tx.put_raw(
                            Table::BlockedKeys,
                            cert.spki_sha256.as_bytes(),
                            cert.serial.as_bytes(),
                        )?;
                    }
                    revoked.push(cert.clone());
                }
                let next = match (&cert.lineage.renewed_by, scope) {
                    (Some(next), RevocationScope::WithDescendants) => next.clone(),
                    _ => break,
                };
                if seen.contains(&next) {
                    break;
                }
                seen.push(next.clone());
                match tx.get::<CertificateRecord>(Table::Certificates, &next)? {
                    Some(c) => cert = c,
                    None => break,
                }
            }
            let mut ev = audit.clone();
            if scope == RevocationScope::WithDescendants {
                let descendants: Vec<&str> =
                    revoked.iter().skip(1).map(|c| c.serial.as_str()).collect();
                ev.details["descendants"] = json!(descendants);
            }
            tx.audit(&ev)?;
            Ok(revoked)
        })
        .and_then(|c| self.flush().map(|_| c))
    }
}

/// Whether `cert` may (still) be revoked: not revoked yet, or revoked for
/// another reason than keyCompromise when this revocation is one.
fn revocable(cert: &CertificateRecord, key_compromise: bool) -> bool {
    match &cert.revocation {
        None => true,
        Some(r) => key_compromise && r.reason_code != 1,
    }
}
