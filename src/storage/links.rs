//! What a certificate request was made for, in the protocol that asked: the
//! ACME order it finalizes or the EST credential + CSR key that sent it.
//!
//! The link is written in the same transaction as the request (when it waits
//! for approval) or its certificate (when issued), so a crash never leaves a
//! certificate without its order or binding, and an issuance costs one
//! transaction and one flush instead of two.

use time::OffsetDateTime;

use super::acme::{AcmeOrder, OrderStatus};
use super::est::EstBinding;
use super::tx::TxResult;
use super::{Table, Tx};

/// The protocol record to update together with a request or certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RequestLink {
    /// None (admin requests, approvals issued later).
    #[default]
    None,
    /// An EST enrollment: `auth` is `inv:<kid>` or `cert:<serial>`, the key
    /// is the CSR's SPKI SHA-256 (hex). See [`super::est`].
    Est { auth: String, key_sha256: String },
    /// The ACME order being finalized: it records the request and, once
    /// issued, becomes `valid` with the certificate's serial.
    AcmeOrder { order_id: String },
}

impl RequestLink {
    /// The tables the link writes besides the request's own.
    pub(super) fn tables(&self) -> &'static [Table] {
        match self {
            RequestLink::None | RequestLink::Est { .. } => &[],
            RequestLink::AcmeOrder { .. } => &[Table::AcmeOrders],
        }
    }

    /// Writes the link for `request_id` inside `tx`; `serial` is the issued
    /// certificate's (None while the request waits for approval).
    pub(super) fn write(
        &self,
        tx: &Tx<'_>,
        request_id: &str,
        serial: Option<&str>,
        now: OffsetDateTime,
    ) -> TxResult<()> {
        match self {
            RequestLink::None => Ok(()),
            RequestLink::Est { auth, key_sha256 } => super::est::bind_in(
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
