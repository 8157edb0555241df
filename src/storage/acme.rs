//! ACME accounts, orders and authorizations.
//!
//! Key layout:
//! - `acme_accounts`: `<account id>` -> [`AcmeAccount`]
//! - `acme_account_keys`: `<JWK thumbprint>` -> account id
//! - `acme_orders`: `o/<order id>` -> [`AcmeOrder`];
//!   `a/<account id>/<created nanos, 20 digits>/<order id>` -> order id (the account's list)
//! - `acme_authorizations`: `z/<authz id>` -> [`AcmeAuthorization`];
//!   `a/<account id>/<email>/<authz id>` -> authz id (reuse lookup);
//!   `m/<message id>` -> authz id (challenge mail replies)

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::invitations::redeem_in;
use super::model::{AuditEvent, EndpointAccount, Invitation};
use super::tx::{abort, reject};
use super::{decode, Result, StorageError, Store, Table};

/// Status of an ACME account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    Valid,
    Deactivated,
    Revoked,
}

/// An ACME account, bound to the invitation it was created with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcmeAccount {
    pub id: String,
    /// The account's public JWK (public members only).
    pub key: serde_json::Value,
    /// RFC 7638 thumbprint of `key`.
    pub thumbprint: String,
    pub status: AccountStatus,
    pub contact: Vec<String>,
    pub terms_agreed: bool,
    /// The invitation (EAB kid) this account redeemed.
    pub invitation_kid: String,
    /// The invited email address: the only identifier this account may order.
    pub email: String,
    pub endpoint_account_id: String,
    pub organization_id: String,
    pub department_id: Option<String>,
    /// Profiles this account may use (ids).
    pub profile_ids: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Status of an order (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrderStatus {
    Pending,
    Ready,
    Processing,
    Valid,
    Invalid,
}

/// An ACME order for one email identifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcmeOrder {
    pub id: String,
    pub account_id: String,
    pub status: OrderStatus,
    pub email: String,
    /// Profile name the client asked for, if any.
    pub profile: Option<String>,
    pub authz_ids: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The RA certificate request once finalized.
    pub request_id: Option<String>,
    /// Serial (hex) of the issued certificate.
    pub certificate: Option<String>,
    /// Problem document when invalid.
    pub error: Option<serde_json::Value>,
    /// RFC 9773 CertID of the certificate this order replaces.
    #[serde(default)]
    pub replaces: Option<String>,
}

/// Status of an authorization (RFC 8555 §7.1.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthzStatus {
    Pending,
    Valid,
    Invalid,
    Deactivated,
    Expired,
    Revoked,
}

/// Status of a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChallengeStatus {
    Pending,
    Processing,
    Valid,
    Invalid,
}

/// The RFC 8823 email-reply-00 challenge of an authorization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailChallenge {
    pub status: ChallengeStatus,
    /// token-part1 (base64url of 24 random bytes): only ever sent by mail.
    pub token_part1: String,
    /// token-part2 (base64url): the challenge object's `token`.
    pub token_part2: String,
    /// The address the challenge mail comes from.
    pub from: String,
    /// Message-ID (without brackets) of the challenge mail once sent.
    pub message_id: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub sent_at: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub validated: Option<OffsetDateTime>,
    /// Problem document explaining the last refusal.
    pub error: Option<serde_json::Value>,
    /// Reasons for replies that were refused (newest last, bounded).
    #[serde(default)]
    pub rejected_replies: Vec<String>,
}

/// An authorization of one account for one email address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcmeAuthorization {
    pub id: String,
    pub account_id: String,
    pub email: String,
    pub status: AuthzStatus,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// How it became valid: "email-reply-00" or "invitation".
    pub validated_by: Option<String>,
    pub challenge: EmailChallenge,
}

fn order_key(id: &str) -> String {
    format!("o/{id}")
}

pub(super) fn authz_key(id: &str) -> String {
    format!("z/{id}")
}

fn authz_index(account: &str, email: &str, id: &str) -> String {
    format!("a/{account}/{}/{id}", email.to_lowercase())
}

fn message_key(message_id: &str) -> String {
    format!("m/{}", message_id.trim_matches(|c| c == '<' || c == '>'))
}

impl Store {
    /// Redeems invitation `kid` and creates the ACME account `build` derives
    /// from it, in one transaction: either both happen or neither. Fails with
    /// `Rejected` when the invitation is unknown, used, revoked or expired, and
    /// with `Conflict` when the key already has an account.
    pub fn create_acme_account_with_invitation(
        &self,
        kid: &str,
        now: OffsetDateTime,
        account_id: &str,
        build: impl Fn(&Invitation, &EndpointAccount) -> AcmeAccount,
        audit: impl Fn(&AcmeAccount) -> AuditEvent,
    ) -> Result<AcmeAccount> {
        self.transact_on(
            &[
                Table::Invitations,
                Table::Accounts,
                Table::AcmeAccounts,
                Table::AcmeAccountKeys,
            ],
            |tx| {
                let inv = redeem_in(tx, kid, now, &format!("acme:{account_id}"))?;
                let endpoint_account: EndpointAccount =
                    tx.need(Table::Accounts, "endpoint account", &inv.account_id)?;
                let acct = build(&inv, &endpoint_account);
                if tx
                    .get_raw(Table::AcmeAccountKeys, acct.thumbprint.as_bytes())?
                    .is_some()
                {
                    return Err(abort(StorageError::Conflict(
                        "this key already belongs to an account".into(),
                    )));
                }
                tx.insert_new(Table::AcmeAccounts, &acct.id, &acct)?;
                tx.put_raw(
                    Table::AcmeAccountKeys,
                    acct.thumbprint.as_bytes(),
                    acct.id.as_bytes(),
                )?;
                tx.audit(&audit(&acct))?;
                Ok(acct)
            },
        )
    }

    pub fn get_acme_account(&self, id: &str) -> Result<Option<AcmeAccount>> {
        self.get(Table::AcmeAccounts, id)
    }

    /// The account whose key has this RFC 7638 thumbprint.
    pub fn find_acme_account_by_key(&self, thumbprint: &str) -> Result<Option<AcmeAccount>> {
        match self
            .tree(Table::AcmeAccountKeys)
            .get(thumbprint.as_bytes())?
        {
            Some(id) => self.get_acme_account(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }

    /// Updates contact or status of an account (not its key), with an audit record.
    pub fn update_acme_account(&self, acct: &AcmeAccount, audit: &AuditEvent) -> Result<()> {
        self.transact(|tx| {
            let old: AcmeAccount = tx.need(Table::AcmeAccounts, "ACME account", &acct.id)?;
            if old.thumbprint != acct.thumbprint {
                return Err(reject("use the key change operation to change the key"));
            }
            tx.put(Table::AcmeAccounts, &acct.id, acct)?;
            tx.audit(audit)?;
            Ok(())
        })
    }

    /// Replaces the key of account `id` (which must still have key
    /// `old_thumbprint`). Fails with `Conflict(<account id>)` if the new key
    /// belongs to an account already.
    pub fn change_acme_account_key(
        &self,
        id: &str,
        old_thumbprint: &str,
        new_key: &serde_json::Value,
        new_thumbprint: &str,
        audit: &AuditEvent,
    ) -> Result<AcmeAccount> {
        self.transact(|tx| {
            let mut acct: AcmeAccount = tx.need(Table::AcmeAccounts, "ACME account", id)?;
            if acct.thumbprint != old_thumbprint {
                return Err(reject("oldKey is not the account's current key"));
            }
            if let Some(owner) = tx.get_raw(Table::AcmeAccountKeys, new_thumbprint.as_bytes())? {
                return Err(abort(StorageError::Conflict(
                    String::from_utf8_lossy(&owner).into_owned(),
                )));
            }
            tx.remove(Table::AcmeAccountKeys, old_thumbprint)?;
            tx.put_raw(
                Table::AcmeAccountKeys,
                new_thumbprint.as_bytes(),
                acct.id.as_bytes(),
            )?;
            acct.key = new_key.clone();
            acct.thumbprint = new_thumbprint.to_string();
            tx.put(Table::AcmeAccounts, id, &acct)?;
            tx.audit(audit)?;
            Ok(acct)
        })
    }

    /// Stores a new order with its new authorizations (reused ones are only referenced).
    pub fn create_acme_order(
        &self,
        order: &AcmeOrder,
        new_authzs: &[AcmeAuthorization],
        audit: &AuditEvent,
    ) -> Result<()> {
        let list_key = format!(
            "a/{}/{:020}/{}",
            order.account_id,
            order.created_at.unix_timestamp_nanos().max(0),
            order.id
        );
        self.transact_on(&[Table::AcmeOrders, Table::AcmeAuthorizations], |tx| {
            tx.insert_new(Table::AcmeOrders, &order_key(&order.id), order)?;
            tx.put_raw(Table::AcmeOrders, list_key.as_bytes(), order.id.as_bytes())?;
            for a in new_authzs {
                tx.insert_new(Table::AcmeAuthorizations, &authz_key(&a.id), a)?;
                tx.put_raw(
                    Table::AcmeAuthorizations,
                    authz_index(&a.account_id, &a.email, &a.id).as_bytes(),
                    a.id.as_bytes(),
                )?;
            }
            tx.audit(audit)?;
            Ok(())
        })
    }

    pub fn get_acme_order(&self, id: &str) -> Result<Option<AcmeOrder>> {
        self.get(Table::AcmeOrders, &order_key(id))
    }

    /// Order ids of an account, oldest first: `limit` of them from position `start`,
    /// and whether more follow.
    pub fn list_acme_order_ids(
        &self,
        account_id: &str,
        start: usize,
        limit: usize,
    ) -> Result<(Vec<String>, bool)> {
        let prefix = format!("a/{account_id}/");
        let mut out = Vec::new();
        let mut more = false;
        for (i, item) in self
            .tree(Table::AcmeOrders)
            .scan_prefix(prefix.as_bytes())
            .enumerate()
        {
            let (_, v) = item?;
            if i < start {
                continue;
            }
            if out.len() == limit {
                more = true;
                break;
            }
            out.push(String::from_utf8_lossy(&v).into_owned());
        }
        Ok((out, more))
    }

    /// Atomically applies `change` to order `id`; `change` returns `Err(reason)`
    /// to refuse (e.g. the order is not in the expected state).
    pub fn update_acme_order(
        &self,
        id: &str,
        change: impl Fn(&mut AcmeOrder) -> std::result::Result<(), String>,
    ) -> Result<AcmeOrder> {
        self.transact_on(&[Table::AcmeOrders], |tx| {
            let mut order: AcmeOrder = tx.need(Table::AcmeOrders, "ACME order", &order_key(id))?;
            change(&mut order).map_err(reject)?;
            tx.put(Table::AcmeOrders, &order_key(id), &order)?;
            Ok(order)
        })
    }

    pub fn get_acme_authz(&self, id: &str) -> Result<Option<AcmeAuthorization>> {
        self.get(Table::AcmeAuthorizations, &authz_key(id))
    }

    /// Atomically applies `change` to authorization `id` (see [`Store::update_acme_order`]);
    /// `audit` (if it returns an event for the changed record) is appended in the same transaction.
    pub fn update_acme_authz(
        &self,
        id: &str,
        change: impl Fn(&mut AcmeAuthorization) -> std::result::Result<(), String>,
        audit: impl Fn(&AcmeAuthorization) -> Option<AuditEvent>,
    ) -> Result<AcmeAuthorization> {
        self.transact_on(&[Table::AcmeAuthorizations], |tx| {
            let mut a: AcmeAuthorization = tx.need(
                Table::AcmeAuthorizations,
                "ACME authorization",
                &authz_key(id),
            )?;
            change(&mut a).map_err(reject)?;
            tx.put(Table::AcmeAuthorizations, &authz_key(id), &a)?;
            if let Some(m) = &a.challenge.message_id {
                tx.put_raw(
                    Table::AcmeAuthorizations,
                    message_key(m).as_bytes(),
                    a.id.as_bytes(),
                )?;
            }
            if let Some(ev) = audit(&a) {
                tx.audit(&ev)?;
            }
            Ok(a)
        })
    }

    /// The authorizations of `account_id` for `email`, newest last.
    pub fn acme_authzs_for(&self, account_id: &str, email: &str) -> Result<Vec<AcmeAuthorization>> {
        let prefix = format!("a/{account_id}/{}/", email.to_lowercase());
        let mut out = Vec::new();
        for item in self
            .tree(Table::AcmeAuthorizations)
            .scan_prefix(prefix.as_bytes())
        {
            let (_, v) = item?;
            let id = String::from_utf8_lossy(&v).into_owned();
            if let Some(bytes) =
                self.read_raw(Table::AcmeAuthorizations, authz_key(&id).as_bytes())?
            {
                out.push(decode(Table::AcmeAuthorizations, &id, &bytes)?);
            }
        }
        out.sort_by_key(|a: &AcmeAuthorization| a.created_at);
        Ok(out)
    }

    /// The authorization whose challenge mail had this Message-ID.
    pub fn find_acme_authz_by_message_id(
        &self,
        message_id: &str,
    ) -> Result<Option<AcmeAuthorization>> {
        match self.read_raw(
            Table::AcmeAuthorizations,
            message_key(message_id).as_bytes(),
        )? {
            Some(id) => self.get_acme_authz(&String::from_utf8_lossy(&id)),
            None => Ok(None),
        }
    }
}

/// Applies `change` to ACME order `id` inside a larger transaction (see
/// [`super::RequestLink`]).
pub(super) fn link_order_in(
    tx: &super::Tx<'_>,
    id: &str,
    change: impl FnOnce(&mut AcmeOrder) -> std::result::Result<(), String>,
) -> super::tx::TxResult<()> {
    let mut order: AcmeOrder = tx.need(Table::AcmeOrders, "ACME order", &order_key(id))?;
    change(&mut order).map_err(reject)?;
    tx.put(Table::AcmeOrders, &order_key(id), &order)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::model::InvitationState;
    use time::Duration;

    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
    }

    fn seed(store: &Store) {
        let ep = EndpointAccount {
            id: "acc_1".into(),
            name: "ci".into(),
            endpoint_id: "ep_1".into(),
            organization_id: "org_1".into(),
            department_id: Some("dep_1".into()),
            profile_ids: vec!["prof_1".into()],
            auto_approve: true,
            created_at: now(),
        };
        store
            .transact(|tx| tx.put(Table::Accounts, "acc_1", &ep))
            .unwrap();
        let inv = Invitation {
            kid: "inv_1".into(),
            hmac_key: "k".into(),
            email: "dev@example.com".into(),
            account_id: "acc_1".into(),
            profile_id: None,
            state: InvitationState::Sent,
            created_at: now(),
            expires_at: now() + Duration::days(1),
            redeemed_at: None,
            redeemed_by: None,
            revoked_at: None,
        };
        store
            .transact(|tx| tx.put(Table::Invitations, "inv_1", &inv))
            .unwrap();
    }

    fn build(
        id: &'static str,
        thumb: &'static str,
    ) -> impl Fn(&Invitation, &EndpointAccount) -> AcmeAccount {
        move |inv, ep| AcmeAccount {
            id: id.into(),
            key: serde_json::json!({"kty": "EC"}),
            thumbprint: thumb.into(),
            status: AccountStatus::Valid,
            contact: vec![],
            terms_agreed: true,
            invitation_kid: inv.kid.clone(),
            email: inv.email.clone(),
            endpoint_account_id: ep.id.clone(),
            organization_id: ep.organization_id.clone(),
            department_id: ep.department_id.clone(),
            profile_ids: ep.profile_ids.clone(),
            created_at: now(),
        }
    }

    fn ev(_: &AcmeAccount) -> AuditEvent {
        AuditEvent {
            at: now(),
            actor: "acme".into(),
            action: "acme.account.create".into(),
            details: serde_json::Value::Null,
        }
    }

    #[test]
    fn account_creation_redeems_the_invitation_once() {
        let store = Store::temporary().unwrap();
        seed(&store);
        let a = store
            .create_acme_account_with_invitation(
                "inv_1",
                now(),
                "acct_a",
                build("acct_a", "t1"),
                ev,
            )
            .unwrap();
        assert_eq!(a.email, "dev@example.com");
        assert_eq!(a.department_id.as_deref(), Some("dep_1"));
        let inv = store.get_invitation("inv_1").unwrap().unwrap();
        assert_eq!(inv.state, InvitationState::Redeemed);
        assert_eq!(inv.redeemed_by.as_deref(), Some("acme:acct_a"));
        assert_eq!(
            store.find_acme_account_by_key("t1").unwrap().unwrap().id,
            "acct_a"
        );
        // Second use fails and creates nothing.
        let err = store
            .create_acme_account_with_invitation(
                "inv_1",
                now(),
                "acct_b",
                build("acct_b", "t2"),
                ev,
            )
            .unwrap_err();
        assert!(matches!(err, StorageError::Rejected(_)), "{err}");
        assert!(store.get_acme_account("acct_b").unwrap().is_none());
        assert!(store.find_acme_account_by_key("t2").unwrap().is_none());
    }

    #[test]
    fn duplicate_key_rolls_back_the_redemption() {
        let store = Store::temporary().unwrap();
        seed(&store);
        store
            .transact(|tx| tx.put_raw(Table::AcmeAccountKeys, b"t1", b"someone"))
            .unwrap();
        let err = store
            .create_acme_account_with_invitation(
                "inv_1",
                now(),
                "acct_a",
                build("acct_a", "t1"),
                ev,
            )
            .unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)));
        let inv = store.get_invitation("inv_1").unwrap().unwrap();
        assert_eq!(
            inv.state,
            InvitationState::Sent,
            "redemption must roll back"
        );
    }

    #[test]
    fn orders_list_in_creation_order_with_paging() {
        let store = Store::temporary().unwrap();
        for i in 0..5 {
            let o = AcmeOrder {
                id: format!("ord_{i}"),
                account_id: "acct_a".into(),
                status: OrderStatus::Pending,
                email: "dev@example.com".into(),
                profile: None,
                authz_ids: vec![],
                expires: now(),
                created_at: now() + Duration::seconds(i),
                request_id: None,
                certificate: None,
                error: None,
                replaces: None,
            };
            let ev = AuditEvent {
                at: now(),
                actor: "test".into(),
                action: "acme.order.create".into(),
                details: serde_json::json!({}),
            };
            store.create_acme_order(&o, &[], &ev).unwrap();
        }
        let (ids, more) = store.list_acme_order_ids("acct_a", 0, 2).unwrap();
        assert_eq!(ids, vec!["ord_0", "ord_1"]);
        assert!(more);
        let (ids, more) = store.list_acme_order_ids("acct_a", 4, 2).unwrap();
        assert_eq!(ids, vec!["ord_4"]);
        assert!(!more);
        assert!(store
            .list_acme_order_ids("other", 0, 2)
            .unwrap()
            .0
            .is_empty());
    }
}
