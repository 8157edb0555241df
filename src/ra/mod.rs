//! The registration authority: the only code that decides. It owns the
//! directory (organizations, profiles, endpoints, accounts), invitations, the
//! enrollment policy (key types, terms, profiles, attestation, approval) and
//! revocation. Front ends translate its [`RaError`]s into their protocol's errors.

pub mod acme;
pub mod attestation;
pub mod blocklist;
mod directory;
mod enroll;
pub mod est;
pub mod invitations;
pub mod keycheck;
pub mod lifecycle;
pub mod lineage;
pub mod lookup;
mod notifier;
mod refusals;
pub mod revoke;
mod subject_rules;

use std::sync::Arc;

use crate::ca::{Ca, CaError};
use crate::clock::SharedClock;
use crate::mail::{MailError, Mailer};
use crate::storage::model::AuditEvent;
use crate::storage::{StorageError, Store};

pub use directory::{NewAccount, NewDepartment, NewEndpoint, NewOrganization, NewProfile};
pub use enroll::{EnrollmentOutcome, EnrollmentRequest};
pub use invitations::{IssuedInvitation, NewInvitation};
pub use lifecycle::{RenewalWindow, RequestState};

/// Why the RA refused or failed. Each variant is a decision a front end maps
/// to its own error (ACME problem type, EST status code, admin JSON error).
#[derive(Debug, thiserror::Error)]
pub enum RaError {
    /// An administrative input is invalid; names the field.
    #[error("{field}: {reason}")]
    Invalid { field: String, reason: String },
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// The CSR cannot be parsed or its signature does not verify.
    #[error("bad CSR: {0}")]
    BadCsr(String),
    /// The CSR's key is of a type or size the policy refuses.
    #[error("public key refused: {0}")]
    BadPublicKey(String),
    /// The identifier (email) is not one this requester may have.
    #[error("identifier refused: {0}")]
    RejectedIdentifier(String),
    /// The requester may not do this.
    #[error("not permitted: {0}")]
    Unauthorized(String),
    /// A policy refusal (profile, term, approval).
    #[error("policy: {0}")]
    Policy(String),
    /// Key attestation is missing, invalid or does not satisfy the profile.
    #[error("key attestation: {0}")]
    BadAttestation(String),
    #[error("certificate is already revoked")]
    AlreadyRevoked,
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    #[error("CA: {0}")]
    Ca(#[from] CaError),
    #[error("mail: {0}")]
    Mail(#[from] MailError),
}

impl RaError {
    pub(crate) fn invalid(field: &str, reason: impl Into<String>) -> RaError {
        RaError::Invalid {
            field: field.to_string(),
            reason: reason.into(),
        }
    }

    /// Storage refusals inside transactions become RA conflicts/not-found.
    pub(crate) fn from_store(e: StorageError) -> RaError {
        match e {
            StorageError::NotFound { kind, key } => RaError::NotFound(format!("{kind} {key:?}")),
            StorageError::Rejected(m) | StorageError::Conflict(m) => RaError::Conflict(m),
            other => RaError::Storage(other),
        }
    }
}

/// RA settings derived from the configuration at start-up.
#[derive(Debug, Clone)]
pub struct RaSettings {
    /// Invitation lifetime.
    pub invitation_ttl_days: u32,
    /// The ACME directory URL put in invitations.
    pub acme_directory_url: String,
    /// The EST base URL put in invitations.
    pub est_url: String,
    /// Administrators notified when a request needs approval.
    pub admin_emails: Vec<String>,
}

/// The registration authority.
pub struct Ra {
    pub(crate) store: Store,
    pub(crate) ca: Arc<Ca>,
    pub(crate) mailer: Mailer,
    pub(crate) clock: SharedClock,
    pub(crate) settings: RaSettings,
    /// Pinned attestation roots; the shipped defaults unless set.
    attestation_trust: std::sync::OnceLock<crate::va::attestation::TrustStore>,
    /// The operator's blocklist of compromised keys (`ra.blocked_keys_file`).
    blocked_keys: std::sync::OnceLock<blocklist::BlockedKeys>,
    /// Serializes CRL publication.
    crl_lock: std::sync::Mutex<()>,
    /// Sends notification mail off the request path.
    notifier: notifier::Notifier,
    /// Where the RA and the front ends record (a private registry unless
    /// [`Ra::with_metrics`] sets the server's).
    pub(crate) metrics: crate::metrics::Metrics,
    /// The bounded signing pool every issuance goes through.
    pub(crate) signer: crate::ca::pool::SigningPool,
    /// How long a renewed certificate stays valid beside its renewal (`lineage.rs`).
    renewal_grace: time::Duration,
    /// Wakes the background duties (a renewal to supersede).
    duties_wakeup: tokio::sync::Notify,
}

impl Ra {
    pub fn new(
        store: Store,
        ca: Arc<Ca>,
        mailer: Mailer,
        clock: SharedClock,
        settings: RaSettings,
    ) -> Ra {
        let ca_for_pool = ca.clone();
        let notifier = notifier::Notifier::new(mailer.clone());
        Ra {
            store,
            ca,
            mailer,
            clock,
            settings,
            attestation_trust: std::sync::OnceLock::new(),
            blocked_keys: std::sync::OnceLock::new(),
            crl_lock: std::sync::Mutex::new(()),
            notifier,
            metrics: crate::metrics::Metrics::new(),
            signer: crate::ca::pool::SigningPool::new(ca_for_pool, 0),
            renewal_grace: lineage::DEFAULT_RENEWAL_GRACE,
            duties_wakeup: tokio::sync::Notify::new(),
        }
    }

    /// Records into `metrics` (the server's registry): issuances, signing,
    /// storage flushes, and everything the front ends record through [`Ra::metrics`].
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Ra {
        self.signer.set_metrics(&metrics);
        self.store.set_metrics(&metrics);
        self.metrics = metrics;
        self
    }

    /// The metrics registry the RA records into.
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Uses `trust` (e.g. loaded from a configured directory) for attestation.
    pub fn with_attestation_trust(self, trust: crate::va::attestation::TrustStore) -> Ra {
        let _ = self.attestation_trust.set(trust);
        self
    }

    /// The attestation trust store (the shipped vendor roots by default).
    pub fn attestation_trust(&self) -> &crate::va::attestation::TrustStore {
        self.attestation_trust.get_or_init(|| {
            crate::va::attestation::TrustStore::load(None).unwrap_or_else(|e| {
                tracing::error!(error = %e, "shipped attestation roots failed to load");
                crate::va::attestation::TrustStore::default()
            })
        })
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs an issuing request (`job`: a front end's synchronous handler)
    /// on the bounded issuance pool, with every store flush it asks for
    /// deferred (`storage/deferred.rs`), and resolves to its result once
    /// everything it wrote is durable: the caller may answer with it. An
    /// error means the job did not run to the end or its writes could not
    /// be made durable.
    pub async fn run_issuing<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, RaError> {
        // The result travels with the flush that makes it durable: the
        // pool thread registers the flush as the job ends, and the thread
        // that completes the flush hands the result on (one wake-up).
        let (tx, durable) = tokio::sync::oneshot::channel();
        // Announced before the job is queued, withdrawn once it has
        // registered its flush: a flush about to start lingers (at most
        // storage's MAX_LINGER) for the jobs already submitted, so under
        // load one flush serves several of them (docs/performance-log.md,
        // session 6).
        let submitted = self.store.announce_flush();
        self.signer
            .spawn_async(move || {
                let (result, flush) = crate::storage::defer_flushes(job);
                flush.then(move |flushed| {
                    let _ = tx.send(flushed.map(|()| result));
                });
                drop(submitted);
            })
            .await
            .map_err(RaError::Ca)?;
        durable
            .await
            .map_err(|_| RaError::Ca(CaError::Signing("the issuance job did not complete".into())))?
            .map_err(RaError::Storage)
    }

    pub fn ca(&self) -> &Ca {
        &self.ca
    }

    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn settings(&self) -> &RaSettings {
        &self.settings
    }

    pub(crate) fn event(
        &self,
        actor: &str,
        action: &str,
        details: serde_json::Value,
    ) -> AuditEvent {
        AuditEvent {
            at: self.clock.now(),
            actor: actor.to_string(),
            action: action.to_string(),
            details,
        }
    }
}

#[cfg(test)]
mod tests;
