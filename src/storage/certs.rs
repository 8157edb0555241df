//! Certificate requests (issuance intent), serial reservations, certificates,
//! revocations and blocked keys.

use super::claims::{self, IssuanceClaim};
use super::lineage;
use super::links::with_link_tables;
use super::model::{AuditEvent, CertRequest, CertificateRecord, RequestStatus};
use super::tx::reject;
use super::RequestLink;
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
        let tables = with_link_tables(&[Table::Requests, Table::Certificates], link);
        self.transact_on(&tables, |tx| {
            tx.insert_new(Table::Requests, &req.id, req)?;
            if let Some(old) = &req.renews {
                lineage::mark_pending_in(tx, old, &req.id)?;
            }
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

    /// Checks that `req` may be issued under `serial_hex` for `link` (the
    /// serial is unused; the invitation can be redeemed or the order is
    /// ready) and claims all of them until the returned claim is recorded
    /// or dropped (`claims.rs`). Writes nothing: sign, then
    /// [`Store::record_issuance`].
    pub fn claim_issuance(
        &self,
        req: &CertRequest,
        serial_hex: &str,
        link: &RequestLink,
    ) -> Result<IssuanceClaim> {
        let tables = with_link_tables(
            &[Table::Serials, Table::Requests, Table::Certificates],
            link,
        );
        let mut keys = vec![claims::serial_key(serial_hex)];
        keys.extend(link.claim_key());
        keys.extend(req.renews.as_deref().map(claims::renewal_key));
        self.dry_run_on(&tables, |tx| {
            if serial_used(tx, serial_hex)? || tx.claimed_elsewhere(&keys[0]) {
                return Err(super::tx::abort(StorageError::Conflict(format!(
                    "serial {serial_hex} is already reserved"
                ))));
            }
            // the same checks the recording change set repeats
            if let Some(old) = &req.renews {
                lineage::check_renewable_in(tx, old, &req.id)?;
            }
            link.write_intent(tx, &req.id)?;
            // all or none; two claims of one key never both succeed
            self.claims
                .claim_all(&keys, serial_hex)
                .map_err(|(k, by)| StorageError::Conflict(claims::conflict_message(&k, &by)))
        })?;
        Ok(IssuanceClaim {
            request: req.clone(),
            serial: serial_hex.to_string(),
            link: link.clone(),
            keys,
            claims: self.claims.clone(),
            flush: Some(self.announce_flush()),
        })
    }

    /// Records a claimed issuance in one change set: the serial, the request
    /// (issued), the link's intent and outcome (invitation redeemed, EST
    /// binding, ACME order valid), the certificate and `audit`; then flushes
    /// to disk before returning: only then may the certificate be handed out.
    /// Fails, writing nothing, if the link's intent no longer holds.
    pub fn record_issuance(
        &self,
        mut claim: IssuanceClaim,
        cert: &CertificateRecord,
        audit: &AuditEvent,
    ) -> Result<()> {
        let link = &claim.link;
        let tables = with_link_tables(
            &[Table::Serials, Table::Requests, Table::Certificates],
            link,
        );
        self.transact_claimed(&tables, &claim.keys, |tx| {
            let serial = claim.serial.as_str();
            if serial_used(tx, serial)? {
                return Err(super::tx::abort(StorageError::Conflict(format!(
                    "serial {serial} is already reserved"
                ))));
            }
            // the certificate record is the serial's reservation
            let mut req = claim.request.clone();
            req.status = RequestStatus::Issued;
            req.serial = Some(cert.serial.clone());
            tx.put(Table::Requests, &req.id, &req)?;
            link.write_intent(tx, &req.id)?;
            if let Some(old) = &req.renews {
                lineage::record_renewal_in(tx, old, &req.id, cert)?;
            }
            tx.insert_new(Table::Certificates, &cert.serial, cert)?;
            link.write_outcome(tx, &req.id, Some(&cert.serial), cert.issued_at)?;
            tx.audit(audit)?;
            Ok(())
        })?;
        let flush = claim.flush.take();
        drop(claim);
        self.flush_with(flush)
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

    /// Whether a serial has ever been reserved: a certificate has it, or a
    /// store written before certificates reserved their own serials kept
    /// it in the serials table (an intent whose certificate never came).
    pub fn serial_reserved(&self, serial_hex: &str) -> Result<bool> {
        Ok(self
            .read_raw(Table::Certificates, serial_hex.as_bytes())?
            .is_some()
            || self
                .read_raw(Table::Serials, serial_hex.as_bytes())?
                .is_some())
    }

    pub fn get_certificate(&self, serial_hex: &str) -> Result<Option<CertificateRecord>> {
        self.get(Table::Certificates, serial_hex)
    }

    pub fn list_certificates(&self) -> Result<Vec<CertificateRecord>> {
        self.scan(Table::Certificates)
    }

    /// Whether a key (SHA-256 of its SPKI, hex) is blocked after a key compromise.
    pub fn is_key_blocked(&self, spki_sha256: &str) -> Result<bool> {
        // blocked keys are written only in transactions: cacheable
        Ok(self
            .get_cached(Table::BlockedKeys, spki_sha256.as_bytes())?
            .is_some())
    }
}

/// Whether `serial_hex` is taken inside a change set (see
/// [`Store::serial_reserved`]).
fn serial_used(tx: &super::Tx<'_>, serial_hex: &str) -> super::tx::TxResult<bool> {
    Ok(tx
        .get_raw(Table::Certificates, serial_hex.as_bytes())?
        .is_some()
        || tx.get_raw(Table::Serials, serial_hex.as_bytes())?.is_some())
}
