//! Renewal lineage policy (issue 19 point 1): a certificate renews once
//! (EST `simplereenroll` and ACME `replaces`; storage keeps the invariant,
//! `storage/lineage.rs`), the renewed certificate is superseded (revoked
//! with reason `superseded`) once the grace period after its renewal has
//! passed, and a keyCompromise revocation can take every certificate
//! renewed from the compromised one with it (`ra/revoke.rs`).
//!
//! Supersession runs in the background duty ([`Ra::periodic`], hourly, and
//! woken at once after every renewal, so a grace period of 0 supersedes
//! right away), on the SharedClock.

use serde_json::json;
use time::Duration;

use super::revoke::SUPERSEDED;
use super::{Ra, RaError};
use crate::storage::model::{CertificateRecord, Revocation};
use crate::storage::{RevocationScope, StorageError};

/// How long a renewed certificate stays valid next to its renewal by default.
pub const DEFAULT_RENEWAL_GRACE: Duration = Duration::hours(24);

/// The actor of the background duties.
const SYSTEM: &str = "system";

/// Where a certificate stands in its lineage, as administrators see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineageView {
    /// What it renewed, transitively: nearest first.
    pub ancestors: Vec<String>,
    /// What renewed it, transitively: nearest first.
    pub descendants: Vec<String>,
}

impl Ra {
    /// Sets the grace period after a renewal before the renewed
    /// certificate is superseded (`ra.renewal_grace_hours`).
    pub fn with_renewal_grace(mut self, grace: Duration) -> Ra {
        self.renewal_grace = grace;
        self
    }

    pub fn renewal_grace(&self) -> Duration {
        self.renewal_grace
    }

    /// Wakes the background duties now (a renewal was recorded).
    pub(crate) fn wake_duties(&self) {
        self.duties_wakeup.notify_one();
    }

    /// What the background duty loop waits on besides its interval.
    pub fn duties_wakeup(&self) -> &tokio::sync::Notify {
        &self.duties_wakeup
    }

    /// Revokes, as superseded, every renewed certificate whose grace period
    /// has passed; publishes a CRL if any was. Returns how many.
    pub fn supersede_due(&self) -> Result<usize, RaError> {
        let now = self.clock.now();
        let mut superseded = 0;
        for due in self.store.pending_supersessions()? {
            if due.renewed_at + self.renewal_grace > now {
                continue;
            }
            let revocation = Revocation {
                reason_code: SUPERSEDED,
                revoked_at: now,
                revoked_by: SYSTEM.into(),
                invalid_since: None,
            };
            let ev = self.event(
                SYSTEM,
                "certificate.revoke",
                json!({"serial": due.serial, "reason": SUPERSEDED,
                       "superseded_by": due.renewed_by}),
            );
            match self.store.revoke_certificates(
                &due.serial,
                &revocation,
                RevocationScope::Certificate,
                &ev,
            ) {
                Ok(revoked) => {
                    superseded += 1;
                    for c in &revoked {
                        self.notify(
                            &c.email,
                            "Your code-signing certificate has been superseded",
                            format!(
                                "Certificate {} ({}) was renewed by certificate {} and is now \
                                 revoked (reason superseded).\n",
                                c.serial, c.subject, due.renewed_by
                            ),
                        );
                    }
                }
                // revoked meanwhile (that removes the entry too)
                Err(StorageError::Conflict(_)) => {}
                Err(e) => return Err(RaError::from_store(e)),
            }
        }
        if superseded > 0 {
            self.publish_crl(SYSTEM)?;
        }
        Ok(superseded)
    }

    /// The certificates `cert` renewed and that renewed it, transitively.
    pub fn lineage_of(&self, cert: &CertificateRecord) -> Result<LineageView, RaError> {
        let mut view = LineageView::default();
        let mut seen = vec![cert.serial.clone()];
        let mut walk = |start: Option<&String>,
                        step: fn(&CertificateRecord) -> Option<&String>,
                        out: &mut Vec<String>|
         -> Result<(), RaError> {
            let mut next = start.cloned();
            while let Some(serial) = next.take() {
                if seen.contains(&serial) {
                    break;
                }
                seen.push(serial.clone());
                out.push(serial.clone());
                next = self
                    .store
                    .get_certificate(&serial)?
                    .and_then(|c| step(&c).cloned());
            }
            Ok(())
        };
        walk(
            cert.lineage.renews.as_ref(),
            |c| c.lineage.renews.as_ref(),
            &mut view.ancestors,
        )?;
        walk(
            cert.lineage.renewed_by.as_ref(),
            |c| c.lineage.renewed_by.as_ref(),
            &mut view.descendants,
        )?;
        Ok(view)
    }

    /// Before a waiting renewal request is approved: an EST renewal was
    /// authenticated by the certificate it renews, so it is not issued once
    /// that certificate has been revoked. (An ACME `replaces` is not an
    /// authentication: an account may replace a revoked certificate.)
    pub(crate) fn check_renewal_approvable(&self, request_id: &str) -> Result<(), RaError> {
        let Some(req) = self.store.get_request(request_id)? else {
            return Ok(());
        };
        let Some(old) = req.renews.as_deref() else {
            return Ok(());
        };
        if !req.requester.starts_with("est:") {
            return Ok(());
        }
        match self.store.get_certificate(old)? {
            Some(c) if c.revocation.is_some() => Err(RaError::Conflict(format!(
                "request {request_id} renews certificate {old}, which has been revoked since: \
                 decline it"
            ))),
            _ => Ok(()),
        }
    }
}
