//! What a certificate request was made for, in the protocol that asked: the
//! ACME order it finalizes or the EST credential + CSR key that sent it.
//!
//! A link has two parts, written in the same change set as the request's
//! own records, so a crash never leaves one without the other:
//!
//! - the *intent*: an EST first enrollment redeems its invitation here, so
//!   concurrent enrollments redeem it once and a refused CSR never touches
//!   it; for an ACME order it is the `ready -> processing` step, which fails
//!   unless the order is still `ready`;
//! - the *outcome*: the ACME order becomes valid, the EST binding
//!   (credential + key -> request) is recorded.
//!
//! A request that waits for approval writes both with the request. An
//! issuance checks the intent and claims what it names before signing
//! (`claims.rs`: of two concurrent finalizations one is refused, nothing
//! signed), then writes intent, certificate and outcome in one change set:
//! an EST first enrollment or an ACME finalize costs one change set and one
//! flush.

use time::OffsetDateTime;

use super::acme::{AcmeOrder, OrderStatus};
use super::est::EstBinding;
use super::model::AuditEvent;
use super::tx::TxResult;
use super::{Table, Tx};

/// The protocol record to update together with a request or certificate.
#[derive(Debug, Clone, Default)]
pub enum RequestLink {
    /// None (admin requests, approvals issued later).
    #[default]
    None,
    /// An EST enrollment: `auth` is `inv:<kid>` or `cert:<serial>`, the key
    /// is the CSR's SPKI SHA-256 (hex). See [`super::est`].
    Est {
        auth: String,
        key_sha256: String,
        /// The invitation a first enrollment redeems with its intent.
        redeem: Option<Box<Redemption>>,
    },
    /// The ACME order being finalized: it records the request and, once
    /// issued, becomes `valid` with the certificate's serial.
    AcmeOrder { order_id: String },
}

/// An invitation redeemed by the request that uses it (EST first enrollment).
#[derive(Debug, Clone)]
pub struct Redemption {
    pub kid: String,
    pub at: OffsetDateTime,
    /// `est:<kid>`.
    pub by: String,
    /// The `invitation.redeem` audit event.
    pub audit: AuditEvent,
}

impl RequestLink {
    /// The tables the link writes besides the request's own.
    pub(super) fn tables(&self) -> &'static [Table] {
        match self {
            RequestLink::None => &[],
            RequestLink::Est { .. } => &[Table::Invitations],
            RequestLink::AcmeOrder { .. } => &[Table::AcmeOrders],
        }
    }

    /// The claim key an issuance for this link holds (`claims.rs`): the
    /// invitation it redeems or the order it finalizes.
    pub(super) fn claim_key(&self) -> Option<String> {
        match self {
            RequestLink::Est {
                redeem: Some(r), ..
            } => Some(super::claims::invitation_key(&r.kid)),
            RequestLink::AcmeOrder { order_id } => Some(super::claims::order_key(order_id)),
            _ => None,
        }
    }

    /// Writes the intent part for `request_id` inside `tx` (see the module
    /// documentation): fails (rejected, the transaction rolls back) if the
    /// invitation cannot be redeemed or the order is no longer ready.
    pub(super) fn write_intent(&self, tx: &Tx<'_>, request_id: &str) -> TxResult<()> {
        match self {
            RequestLink::Est {
                redeem: Some(r), ..
            } => {
                super::invitations::redeem_in(tx, &r.kid, r.at, &r.by)?;
                tx.audit(&r.audit)?;
                Ok(())
            }
            RequestLink::AcmeOrder { order_id } => {
                let claimed = tx.claimed_elsewhere(&super::claims::order_key(order_id));
                super::acme::link_order_in(tx, order_id, |o: &mut AcmeOrder| {
                    if o.status != OrderStatus::Ready || claimed {
                        return Err("the order is no longer ready".to_string());
                    }
                    o.status = OrderStatus::Processing;
                    o.request_id = Some(request_id.to_string());
                    Ok(())
                })
            }
            _ => Ok(()),
        }
    }

    /// Writes the outcome part for `request_id` inside `tx`; `serial` is the
    /// issued certificate's (None while the request waits for approval).
    pub(super) fn write_outcome(
        &self,
        tx: &Tx<'_>,
        request_id: &str,
        serial: Option<&str>,
        now: OffsetDateTime,
    ) -> TxResult<()> {
        match self {
            RequestLink::None => Ok(()),
            RequestLink::Est {
                auth, key_sha256, ..
            } => super::est::bind_in(
                tx,
                &EstBinding {
                    auth: auth.clone(),
                    key_sha256: key_sha256.clone(),
                    request_id: request_id.to_string(),
                    created_at: now,
                },
            ),
            RequestLink::AcmeOrder { order_id } => {
                super::acme::link_order_in(tx, order_id, |o: &mut AcmeOrder| {
                    o.request_id = Some(request_id.to_string());
                    if let Some(serial) = serial {
                        o.status = OrderStatus::Valid;
                        o.certificate = Some(serial.to_string());
                    }
                    Ok(())
                })
            }
        }
    }
}

/// `base` plus the link's tables, for [`super::Store::transact_on`].
pub(super) fn with_link_tables(base: &[Table], link: &RequestLink) -> Vec<Table> {
    let mut v = base.to_vec();
    v.extend_from_slice(link.tables());
    v
}
