//! EST bookkeeping: which certificate request an EST credential (an
//! invitation's Basic credentials, or a client certificate being renewed)
//! produced for which CSR key, so a resend of the request while it waits for
//! approval (or after it was answered) finds it again; and the release of an
//! invitation whose first enrollment failed.
//!
//! Bindings live in the `meta` table under `est/binding/<auth>/<key sha-256>`
//! (`<auth>` is `inv:<kid>` or `cert:<serial>`); the invitation's own binding
//! marker is `est/first/<kid>`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::model::{AuditEvent, Invitation, InvitationState};
use super::tx::{reject, TxResult};
use super::Tx;
use super::{Result, Store, Table};

/// One EST enrollment: the request a credential + CSR produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EstBinding {
    /// `inv:<kid>` (first enrollment) or `cert:<serial>` (renewal).
    pub auth: String,
    /// SHA-256 of the CSR's SubjectPublicKeyInfo, hex.
    pub key_sha256: String,
    /// The certificate request it produced.
    pub request_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

fn binding_key(auth: &str, key_sha256: &str) -> String {
    format!("est/binding/{auth}/{key_sha256}")
}

fn first_key(kid: &str) -> String {
    format!("est/first/{kid}")
}

impl Store {
    /// Records a binding on its own (tests; the server writes bindings
    /// with the request or certificate, see [`super::RequestLink`]).
    #[cfg(test)]
    pub fn est_bind(&self, binding: &EstBinding) -> Result<()> {
        self.transact_on(&[Table::Meta], |tx| bind_in(tx, binding))?;
        self.flush()
    }

    /// The binding for this credential and CSR, if any.
    pub fn est_binding(&self, auth: &str, key_sha256: &str) -> Result<Option<EstBinding>> {
        let key = binding_key(auth, key_sha256);
        match self.read_raw(Table::Meta, key.as_bytes())? {
            Some(bytes) => super::decode(Table::Meta, &key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// Undoes an EST redemption whose enrollment failed: the invitation goes
    /// back to `sent` if (and only if) EST redeemed it and no enrollment is
    /// bound to it yet.
    pub fn est_release_invitation(&self, kid: &str, audit: &AuditEvent) -> Result<Invitation> {
        let first = first_key(kid);
        let by = format!("est:{kid}");
        self.transact_on(&[Table::Invitations], |tx| {
            let mut inv: Invitation = tx.need(Table::Invitations, "invitation", kid)?;
            if inv.state != InvitationState::Redeemed || inv.redeemed_by.as_deref() != Some(&by) {
                return Err(reject("invitation was not redeemed by this EST enrollment"));
            }
            if tx.get_raw(Table::Meta, first.as_bytes())?.is_some() {
                return Err(reject("invitation is already bound to an enrollment"));
            }
            inv.state = InvitationState::Sent;
            inv.redeemed_at = None;
            inv.redeemed_by = None;
            tx.put(Table::Invitations, kid, &inv)?;
            tx.audit(audit)?;
            Ok(inv)
        })
    }
}

/// Writes `binding` (and, for a first enrollment, the invitation's marker)
/// inside a larger transaction (see [`super::RequestLink`]).
pub(super) fn bind_in(tx: &Tx<'_>, binding: &EstBinding) -> TxResult<()> {
    let key = binding_key(&binding.auth, &binding.key_sha256);
    tx.put_raw(Table::Meta, key.as_bytes(), &super::encode(binding))?;
    if let Some(kid) = binding.auth.strip_prefix("inv:") {
        tx.put_raw(
            Table::Meta,
            first_key(kid).as_bytes(),
            binding.key_sha256.as_bytes(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn ev(action: &str) -> AuditEvent {
        AuditEvent {
            at: OffsetDateTime::UNIX_EPOCH,
            actor: "test".into(),
            action: action.into(),
            details: serde_json::json!({}),
        }
    }

    fn invitation(kid: &str) -> Invitation {
        let now = OffsetDateTime::UNIX_EPOCH;
        Invitation {
            kid: kid.into(),
            hmac_key: "k".into(),
            email: "a@example.com".into(),
            account_id: "acct".into(),
            profile_id: None,
            state: InvitationState::Sent,
            created_at: now,
            expires_at: now + Duration::days(1),
            redeemed_at: None,
            redeemed_by: None,
            revoked_at: None,
        }
    }

    #[test]
    fn bindings_round_trip_per_auth_and_csr() {
        let store = Store::temporary().unwrap();
        let b = EstBinding {
            auth: "cert:01".into(),
            key_sha256: "aa".into(),
            request_id: "req_1".into(),
            created_at: OffsetDateTime::UNIX_EPOCH,
        };
        store.est_bind(&b).unwrap();
        assert_eq!(store.est_binding("cert:01", "aa").unwrap(), Some(b));
        assert_eq!(store.est_binding("cert:01", "bb").unwrap(), None);
        assert_eq!(store.est_binding("cert:02", "aa").unwrap(), None);
    }

    #[test]
    fn release_only_an_unbound_est_redemption() {
        let store = Store::temporary().unwrap();
        let now = OffsetDateTime::UNIX_EPOCH;
        store
            .create_invitation(&invitation("k1"), &ev("c"))
            .unwrap();
        // Not redeemed: nothing to release.
        assert!(store.est_release_invitation("k1", &ev("r")).is_err());
        store
            .redeem_invitation("k1", now, "est:k1", &ev("x"))
            .unwrap();
        let inv = store.est_release_invitation("k1", &ev("r")).unwrap();
        assert_eq!(inv.state, InvitationState::Sent);
        assert_eq!(inv.redeemed_by, None);

        // Redeemed by ACME: never released by EST.
        store
            .create_invitation(&invitation("k2"), &ev("c"))
            .unwrap();
        store
            .redeem_invitation("k2", now, "acme:acct_1", &ev("x"))
            .unwrap();
        assert!(store.est_release_invitation("k2", &ev("r")).is_err());

        // Bound to an enrollment: stays redeemed.
        store
            .redeem_invitation("k1", now, "est:k1", &ev("x"))
            .unwrap();
        store
            .est_bind(&EstBinding {
                auth: "inv:k1".into(),
                key_sha256: "cc".into(),
                request_id: "req_2".into(),
                created_at: now,
            })
            .unwrap();
        assert!(store.est_release_invitation("k1", &ev("r")).is_err());
        assert_eq!(
            store.get_invitation("k1").unwrap().unwrap().state,
            InvitationState::Redeemed
        );
    }
}
