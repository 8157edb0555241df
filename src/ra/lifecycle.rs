//! After the first issuance: approval decisions, CRL publication, expiry
//! notifications and the state front ends poll while a request waits.

use base64::Engine;
use serde_json::json;
use time::Duration;

use super::{Ra, RaError};
use crate::ca::{RevokedEntry, Serial};
use crate::csr::Csr;
use crate::mail::OutgoingMail;
use crate::storage::crls::StoredCrl;
use crate::storage::model::{CertRequest, CertificateRecord, RequestStatus};
use crate::storage::RequestLink;

/// How long a CRL is valid (nextUpdate - thisUpdate); at most 10 days per the BRs.
pub const CRL_VALIDITY: Duration = Duration::days(7);
/// A CRL is re-signed when less than this remains before its nextUpdate.
pub const CRL_REFRESH_MARGIN: Duration = Duration::days(3);
/// Days before expiry at which the holder is reminded.
pub const EXPIRY_WARNINGS: [i64; 3] = [30, 7, 1];

/// Where a request stands, for front ends that poll (ACME processing, EST 202).
#[derive(Debug, Clone)]
pub enum RequestState {
    /// Waiting for an administrator.
    Pending(CertRequest),
    Issued(CertificateRecord),
    Declined {
        reason: String,
    },
}

impl Ra {
    /// Approves a waiting request and issues its certificate.
    pub fn approve(
        &self,
        id: &str,
        actor: &str,
        message: Option<&str>,
    ) -> Result<CertificateRecord, RaError> {
        self.check_renewal_approvable(id)?;
        let ev = self.event(
            actor,
            "request.approve",
            json!({"request": id, "message": message}),
        );
        let req = self
            .store
            .decide_request(id, RequestStatus::Approved, actor, message, &ev)
            .map_err(RaError::from_store)?;
        let der = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&req.csr)
            .map_err(|_| RaError::BadCsr("stored CSR is not base64url".into()))?;
        let csr = Csr::parse(&der).map_err(|e| RaError::BadCsr(e.to_string()))?;
        let account = self.account(&req.account_id)?;
        let profile = self.profile(&req.profile_id)?;
        let cert = self.issue_request(&req, &csr, &account, &profile, &RequestLink::None)?;
        Ok(cert)
    }

    /// Declines a waiting request with a reason the requester will see.
    pub fn decline(&self, id: &str, actor: &str, reason: &str) -> Result<CertRequest, RaError> {
        if reason.trim().is_empty() {
            return Err(RaError::invalid(
                "reason",
                "a reason is required to decline",
            ));
        }
        let ev = self.event(
            actor,
            "request.decline",
            json!({"request": id, "reason": reason}),
        );
        let req = self
            .store
            .decide_request(id, RequestStatus::Declined, actor, Some(reason), &ev)
            .map_err(RaError::from_store)?;
        self.notify(
            &req.email,
            "Your code-signing certificate request was declined",
            format!(
                "Request {} was declined by an administrator.\n\nReason: {reason}\n",
                req.id
            ),
        );
        Ok(req)
    }

    /// The state of a request (front ends poll this while it waits).
    pub fn request_state(&self, id: &str) -> Result<RequestState, RaError> {
        let req = self
            .store
            .get_request(id)?
            .ok_or_else(|| RaError::NotFound(format!("request {id:?}")))?;
        Ok(match req.status {
            RequestStatus::Issued => {
                let serial = req.serial.clone().unwrap_or_default();
                RequestState::Issued(self.certificate(&serial)?)
            }
            RequestStatus::Declined => RequestState::Declined {
                reason: req.message.clone().unwrap_or_else(|| "declined".into()),
            },
            RequestStatus::Applied | RequestStatus::Approved => RequestState::Pending(req),
        })
    }

    /// Signs and publishes a fresh CRL over every revoked certificate
    /// (entries stay after the certificates expire).
    pub fn publish_crl(&self, actor: &str) -> Result<StoredCrl, RaError> {
        // One publisher at a time: entries, number and times are read and
        // written together, so a slow publisher never hides a revocation.
        let _guard = self.crl_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut entries = Vec::new();
        for c in self.store.list_certificates()? {
            if let Some(r) = &c.revocation {
                let Some(serial) = Serial::from_hex(&c.serial) else {
                    continue;
                };
                // an invalidity date is also the revocationDate (CS BRs
                // §4.9.1, §7.2; docs/OPERATIONS.md "Revocation dates")
                entries.push(RevokedEntry {
                    serial,
                    revoked_at: r.invalid_since.unwrap_or(r.revoked_at),
                    reason_code: r.reason_code,
                    invalidity_date: r.invalid_since,
                });
            }
        }
        for _ in 0..4 {
            let now = self.clock.now();
            let number = self.store.next_crl_number()?;
            let next_update = now + CRL_VALIDITY;
            let der = self.ca.sign_crl(&entries, number, now, next_update)?;
            let crl = StoredCrl {
                number,
                this_update: now,
                next_update,
                der: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der),
                entries: entries.len(),
            };
            let ev = self.event(
                actor,
                "crl.publish",
                json!({"number": number, "entries": entries.len(), "next_update": next_update.unix_timestamp()}),
            );
            if self.store.publish_crl(&crl, &ev)? {
                return Ok(crl);
            }
        }
        Err(RaError::Conflict(
            "could not publish a CRL: concurrent publishers".into(),
        ))
    }

    /// The current CRL, publishing one first if none exists or it is due.
    pub fn current_crl(&self) -> Result<StoredCrl, RaError> {
        match self.store.current_crl()? {
            Some(c) if !self.crl_due(&c) => Ok(c),
            _ => self.publish_crl("system"),
        }
    }

    fn crl_due(&self, c: &StoredCrl) -> bool {
        self.clock.now() >= c.next_update - CRL_REFRESH_MARGIN
    }

    /// Background duty: supersede renewed certificates after their grace
    /// period (`lineage.rs`), re-sign the CRL when due and send expiry reminders.
    /// Returns whether a CRL was published.
    pub fn periodic(&self) -> Result<bool, RaError> {
        // superseding publishes its own CRL
        if let Err(e) = self.supersede_due() {
            tracing::error!(error = %e, "superseding renewed certificates failed");
        }
        let published = match self.store.current_crl()? {
            Some(c) if !self.crl_due(&c) => false,
            _ => {
                self.publish_crl("system")?;
                true
            }
        };
        self.notify_expiring()?;
        Ok(published)
    }

    /// Mails holders whose certificates expire within 30, 7 and 1 days (once each).
    pub fn notify_expiring(&self) -> Result<usize, RaError> {
        let now = self.clock.now();
        let mut sent = 0;
        for c in self.store.list_certificates()? {
            if c.revocation.is_some() || now >= c.not_after {
                continue;
            }
            // the smallest threshold reached is the one to send
            let due = EXPIRY_WARNINGS
                .iter()
                .rev()
                .find(|d| now >= c.not_after - Duration::days(**d));
            if let Some(d) = due {
                if self
                    .store
                    .mark_notified(&format!("{}/expiring/{d}", c.serial))?
                {
                    self.notify(
                        &c.email,
                        &format!("Your code-signing certificate expires in {d} day(s)"),
                        format!(
                            "Certificate {} ({}) expires at {}.\nRenew it with the same ACME account or EST credentials.\n",
                            c.serial, c.subject, c.not_after
                        ),
                    );
                    sent += 1;
                }
            }
        }
        Ok(sent)
    }

    /// Queues a notification (sent by a background thread); a mail failure is
    /// logged, never fails the action that caused it (already durable and audited).
    pub(crate) fn notify(&self, to: &str, subject: &str, body: String) {
        let mail = OutgoingMail {
            to: to.to_string(),
            subject: subject.to_string(),
            body,
            headers: vec![("Auto-Submitted".into(), "auto-generated".into())],
        };
        self.notifier.send(mail);
    }

    /// Waits (at most `timeout`) until queued notifications are written or
    /// handed to the relay; true when none is left (shutdown, tests).
    pub fn flush_notifications(&self, timeout: std::time::Duration) -> bool {
        self.notifier.flush(timeout)
    }

    /// Mails every configured administrator.
    pub(crate) fn notify_admins(&self, subject: &str, body: String) {
        for admin in &self.settings.admin_emails {
            self.notify(admin, subject, body.clone());
        }
    }
}

/// The ARI (RFC 9773) suggested renewal window of a certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenewalWindow {
    pub start: time::OffsetDateTime,
    pub end: time::OffsetDateTime,
}

impl Ra {
    /// When the holder should renew: the start of the last third of the
    /// validity period up to five sixths of it; for a revoked certificate a
    /// window that has already begun and ends now (renew immediately).
    pub fn renewal_window(&self, cert: &CertificateRecord) -> RenewalWindow {
        let now = self.clock.now();
        if cert.revocation.is_some() {
            // the whole window lies in the past: renew at once
            return RenewalWindow {
                start: now - Duration::hours(2),
                end: now - Duration::hours(1),
            };
        }
        // both ends inclusive (CS BR 1.6.1): the term is one second longer
        let validity = cert.not_after - cert.not_before + Duration::SECOND;
        RenewalWindow {
            start: cert.not_before + validity * 2 / 3,
            end: cert.not_before + validity * 5 / 6,
        }
    }
}
