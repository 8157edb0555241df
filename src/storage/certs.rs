//! Certificate requests (issuance intent), serial reservations, certificates,
//! revocations and blocked keys.

use super::links::with_link_tables;
use super::model::{AuditEvent, CertRequest, CertificateRecord, RequestStatus, Revocation};
use super::tx::reject;
use super::{FlushIntent, RequestLink};
use super::{Result, StorageError, Store, Table};

impl Store {
    /// Stores a request that waits for an administrator (status applied),
    /// with its protocol `link` in the same transaction.
    pub fn create_request(
        &self,
        req: &CertRequest,
        link: &RequestLink,
        audit: &AuditEvent,
    ) -> Result<()> {
        let tables = with_link_tables(&[Table::Requests], link);
        self.transact_on(&tables, |tx| {
            tx.insert_new(Table::Requests, &req.id, req)?;
            link.write_intent(tx, &req.id)?;
            link.write_outcome(tx, &req.id, None, req.created_at)?;
            tx.audit(audit)?;
            Ok(())
        })
    }

    pub fn get_request(&self, id: &str) -> Result<Option<CertRequest>> {
        self.get(Table::Requests, id)
    }

    pub fn list_requests(&self) -> Result<Vec<CertRequest>> {
        self.scan(Table::Requests)
    }

    /// Records the intent to issue: stores (or updates) the request as approved
    /// with its serial, reserves the serial, and writes the `link`'s intent
    /// (e.g. redeems the EST invitation). Fails with `Conflict` if the serial
    /// was ever reserved before, `Rejected` if the link's intent cannot be
    /// written; nothing is stored then. The returned intent announces the
    /// flush of [`Store::record_issuance`] (group commit, `storage/flush.rs`).
    pub fn begin_issuance(
        &self,
        req: &CertRequest,
        serial_hex: &str,
        link: &RequestLink,
    ) -> Result<FlushIntent> {
        let tables = with_link_tables(&[Table::Serials, Table::Requests], link);
        self.transact_on(&tables, |tx| {
            if tx.get_raw(Table::Serials, serial_hex.as_bytes())?.is_some() {
                return Err(super::tx::abort(StorageError::Conflict(format!(
                    "serial {serial_hex} is already reserved"
                ))));
            }
            tx.put_raw(Table::Serials, serial_hex.as_bytes(), req.id.as_bytes())?;
            let mut r = req.clone();
            r.status = RequestStatus::Approved;
            r.serial = Some(serial_hex.to_string());
            tx.put(Table::Requests, &req.id, &r)?;
            link.write_intent(tx, &req.id)?;
            Ok(())
        })?;
        Ok(self.announce_flush())
    }

    /// Stores the issued certificate, marks its request issued, writes its
    /// protocol `link`, audits (one transaction), and flushes to disk before
    /// returning: only then may it be handed out.
    pub fn record_issuance(
        &self,
        intent: FlushIntent,
        cert: &CertificateRecord,
        link: &RequestLink,
        audit: &AuditEvent,
    ) -> Result<()> {
        let tables = with_link_tables(&[Table::Requests, Table::Certificates], link);
        self.transact_on(&tables, |tx| {
            let mut req: CertRequest = tx.need(Table::Requests, "request", &cert.request_id)?;
            req.status = RequestStatus::Issued;
            req.serial = Some(cert.serial.clone());
            tx.put(Table::Requests, &req.id, &req)?;
            tx.insert_new(Table::Certificates, &cert.serial, cert)?;
            link.write_outcome(tx, &req.id, Some(&cert.serial), cert.issued_at)?;
            tx.audit(audit)?;
            Ok(())
        })?;
        self.flush_with(Some(intent))
    }

    /// Marks a request declined (or approved) by an administrator.
    pub fn decide_request(
        &self,
        id: &str,
        status: RequestStatus,
        decided_by: &str,
        message: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<CertRequest> {
        self.transact_on(&[Table::Requests], |tx| {
            let mut req: CertRequest = tx.need(Table::Requests, "request", id)?;
            if req.status != RequestStatus::Applied {
                return Err(reject(format!(
                    "request {id} is not waiting for a decision (status {:?})",
                    req.status
                )));
            }
            req.status = status;
            req.decided_by = Some(decided_by.to_string());
            req.message = message.map(str::to_string);
            tx.put(Table::Requests, id, &req)?;
            tx.audit(audit)?;
            Ok(req)
        })
    }

    /// Whether a serial has ever been reserved.
    pub fn serial_reserved(&self, serial_hex: &str) -> Result<bool> {
        Ok(self
            .read_raw(Table::Serials, serial_hex.as_bytes())?
            .is_some())
    }

    pub fn get_certificate(&self, serial_hex: &str) -> Result<Option<CertificateRecord>> {
        self.get(Table::Certificates, serial_hex)
    }

    pub fn list_certificates(&self) -> Result<Vec<CertificateRecord>> {
        self.scan(Table::Certificates)
    }

    /// Revokes a certificate; `block_key` also blocks its key for future CSRs.
    pub fn revoke_certificate(
        &self,
        serial_hex: &str,
        revocation: &Revocation,
        block_key: bool,
        audit: &AuditEvent,
    ) -> Result<CertificateRecord> {
        self.transact_on(&[Table::Certificates, Table::BlockedKeys], |tx| {
            let mut cert: CertificateRecord =
                tx.need(Table::Certificates, "certificate", serial_hex)?;
            if cert.revocation.is_some() {
                return Err(super::tx::abort(StorageError::Conflict(
                    "certificate is already revoked".into(),
                )));
            }
            cert.revocation = Some(revocation.clone());
            tx.put(Table::Certificates, serial_hex, &cert)?;
            if block_key {
                tx.put_raw(
                    Table::BlockedKeys,
                    cert.spki_sha256.as_bytes(),
                    serial_hex.as_bytes(),
                )?;
            }
            tx.audit(audit)?;
            Ok(cert)
        })
        .and_then(|c| self.flush().map(|_| c))
    }

    /// Whether a key (SHA-256 of its SPKI, hex) is blocked after a key compromise.
    pub fn is_key_blocked(&self, spki_sha256: &str) -> Result<bool> {
        // blocked keys are written only in transactions: cacheable
        Ok(self
            .get_cached(Table::BlockedKeys, spki_sha256.as_bytes())?
            .is_some())
    }
}
