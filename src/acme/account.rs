//! Accounts: newAccount with external account binding (RFC 8555 §7.3,
//! §7.3.4), onlyReturnExisting, contact update, deactivation (§7.3.6), key
//! rollover (§7.3.5) and the orders list (§7.1.2.1).

use http::StatusCode;
use serde_json::{json, Value};

use super::jws::{self, Flattened, EAB_ALGORITHMS};
use super::problem::{Problem, ProblemType};
use super::types::{
    AccountResource, AccountUpdatePayload, KeyChangePayload, NewAccountPayload, OrdersList,
};
use super::{status_name, Inner, Reply, Signed};
use crate::ra::acme::acme_requester;
use crate::ra::RaError;
use crate::storage::acme::{AccountStatus, AcmeAccount};
use crate::storage::model::{AuditEvent, InvitationState};
use crate::storage::{new_id, StorageError};

const MAX_CONTACTS: usize = 5;

impl Inner {
    pub(crate) fn account_resource(&self, a: &AcmeAccount) -> AccountResource {
        AccountResource {
            status: status_name(&a.status),
            contact: a.contact.clone(),
            terms_of_service_agreed: a.terms_agreed,
            orders: format!("{}/orders", self.account_url(&a.id)),
            key: a.key.clone(),
            created_at: a.created_at,
        }
    }

    fn event(&self, actor: &str, action: &str, details: Value) -> AuditEvent {
        AuditEvent {
            at: self.clock.now(),
            actor: actor.to_string(),
            action: action.to_string(),
            details,
        }
    }

    pub(crate) fn new_account(&self, s: &Signed) -> Result<Reply, Problem> {
        let jwk = s
            .jwk
            .clone()
            .ok_or_else(|| Problem::malformed("newAccount must carry jwk"))?;
        let thumb = jws::thumbprint(&jwk)?;
        let payload: NewAccountPayload = serde_json::from_value(s.payload()?)
            .map_err(|e| Problem::malformed(format!("invalid newAccount payload: {e}")))?;

        if let Some(existing) = self.store.find_acme_account_by_key(&thumb)? {
            if existing.status != AccountStatus::Valid {
                return Err(Problem::unauthorized(format!(
                    "the account for this key is {}",
                    status_name(&existing.status)
                )));
            }
            return Ok(
                Reply::json(StatusCode::OK, &self.account_resource(&existing))
                    .location(self.account_url(&existing.id)),
            );
        }
        if payload.only_return_existing == Some(true) {
            return Err(Problem::new(
                ProblemType::AccountDoesNotExist,
                "no account exists for this key",
            ));
        }
        if payload.terms_of_service_agreed != Some(true) {
            return Err(Problem::malformed(format!(
                "you must agree to the terms of service ({}) with termsOfServiceAgreed: true",
                self.terms_url()
            )));
        }
        let contact = check_contacts(payload.contact.as_deref().unwrap_or(&[]))?;
        let Some(eab) = &payload.external_account_binding else {
            return Err(Problem::new(
                ProblemType::ExternalAccountRequired,
                "this server requires externalAccountBinding: use the key id and HMAC key of your Signet invitation",
            ));
        };
        let kid = self.check_eab(eab, &jwk, &thumb)?;
        jws::require_canonical_jwk(&jwk)?;

        let account_id = new_id("acct");
        let now = self.clock.now();
        let public = jwk.clone();
        let created = self.store.create_acme_account_with_invitation(
            &kid,
            now,
            &account_id,
            |inv, ep| AcmeAccount {
                id: account_id.clone(),
                key: public.clone(),
                thumbprint: thumb.clone(),
                status: AccountStatus::Valid,
                contact: contact.clone(),
                terms_agreed: true,
                invitation_kid: inv.kid.clone(),
                email: inv.email.clone(),
                endpoint_account_id: ep.id.clone(),
                organization_id: ep.organization_id.clone(),
                department_id: ep.department_id.clone(),
                profile_ids: match &inv.profile_id {
                    Some(p) => vec![p.clone()],
                    None => ep.profile_ids.clone(),
                },
                created_at: now,
            },
            |a| {
                self.event(
                    &acme_requester(&a.id),
                    "acme.account.create",
                    json!({"account": a.id, "invitation": a.invitation_kid, "email": a.email,
                           "endpoint_account": a.endpoint_account_id, "key_thumbprint": a.thumbprint}),
                )
            },
        );
        let acct = match created {
            Ok(a) => a,
            Err(StorageError::Rejected(m)) => {
                return Err(Problem::unauthorized(format!(
                    "external account binding refused: {m}"
                )))
            }
            Err(StorageError::Conflict(_)) => {
                // Raced with another newAccount for the same key.
                let existing = self
                    .store
                    .find_acme_account_by_key(&thumb)?
                    .ok_or_else(|| Problem::internal("account creation conflicted"))?;
                return Ok(
                    Reply::json(StatusCode::OK, &self.account_resource(&existing))
                        .location(self.account_url(&existing.id)),
                );
            }
            Err(e) => return Err(e.into()),
        };
        self.ra.metrics().invitation_redeemed("acme");
        tracing::info!(account = %acct.id, invitation = %acct.invitation_kid, "ACME account created");
        Ok(
            Reply::json(StatusCode::CREATED, &self.account_resource(&acct))
                .location(self.account_url(&acct.id)),
        )
    }

    /// Checks the external account binding (RFC 8555 §7.3.4) and returns the
    /// invitation kid it names. Redemption happens with the account creation.
    fn check_eab(&self, eab: &Value, jwk: &Value, thumb: &str) -> Result<String, Problem> {
        let inner = Flattened::from_value(eab)
            .map_err(|p| Problem::malformed(format!("externalAccountBinding: {}", p.detail)))?;
        let h = &inner.header;
        if !EAB_ALGORITHMS.contains(&h.alg.as_str()) {
            return Err(Problem::malformed(format!(
                "externalAccountBinding must be MACed with one of {} (got {:?})",
                EAB_ALGORITHMS.join(", "),
                h.alg
            )));
        }
        if h.nonce.is_some() {
            return Err(Problem::malformed(
                "externalAccountBinding must not carry a nonce",
            ));
        }
        if h.jwk.is_some() {
            return Err(Problem::malformed(
                "externalAccountBinding must not carry a jwk header",
            ));
        }
        if h.url.as_deref() != Some(self.url("/new-account").as_str()) {
            return Err(Problem::malformed(
                "externalAccountBinding url must be the newAccount URL",
            ));
        }
        let kid = h
            .kid
            .clone()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| Problem::malformed("externalAccountBinding has no kid"))?;
        let bound: Value = serde_json::from_slice(&inner.payload)
            .map_err(|_| Problem::malformed("externalAccountBinding payload is not a JWK"))?;
        let inv = match self.ra.invitation(&kid) {
            Ok(i) => i,
            Err(RaError::NotFound(_)) => {
                return Err(Problem::unauthorized(
                    "externalAccountBinding kid is not a Signet invitation",
                ))
            }
            Err(e) => return Err(e.into()),
        };
        let key = jws::b64_decode("invitation HMAC key", &inv.hmac_key)
            .map_err(|_| Problem::internal("the invitation's HMAC key is unreadable"))?;
        inner.verify_mac(&key)?;
        let bound_thumb = jws::thumbprint(&bound).map_err(|_| {
            Problem::malformed("externalAccountBinding payload is not a usable JWK")
        })?;
        if bound_thumb != thumb {
            return Err(Problem::unauthorized(
                "externalAccountBinding was made for a different account key",
            ));
        }
        let _ = jwk;
        let now = self.clock.now();
        match inv.state {
            InvitationState::Redeemed => {
                return Err(Problem::unauthorized(
                    "external account binding refused: invitation has already been used",
                ))
            }
            InvitationState::Revoked => {
                return Err(Problem::unauthorized(
                    "external account binding refused: invitation has been revoked",
                ))
            }
            InvitationState::Sent if now >= inv.expires_at => {
                return Err(Problem::unauthorized(
                    "external account binding refused: invitation has expired",
                ))
            }
            InvitationState::Sent => {}
        }
        Ok(kid)
    }

    fn own_account<'a>(&self, s: &'a Signed, id: &str) -> Result<&'a AcmeAccount, Problem> {
        let acct = s.account()?;
        if acct.id != id {
            return Err(Problem::unauthorized(
                "the request is signed by a different account than the one addressed",
            ));
        }
        Ok(acct)
    }

    pub(crate) fn account_post(&self, s: &Signed, id: &str) -> Result<Reply, Problem> {
        let acct = self.own_account(s, id)?;
        if s.jws.is_post_as_get() {
            return Ok(Reply::json(StatusCode::OK, &self.account_resource(acct))
                .location(self.account_url(&acct.id)));
        }
        let upd: AccountUpdatePayload = serde_json::from_value(s.payload()?)
            .map_err(|e| Problem::malformed(format!("invalid account update: {e}")))?;
        let mut next = acct.clone();
        let mut deactivate = false;
        match upd.status.as_deref() {
            // The status the account already has: clients that post the whole
            // account object back (acmez) send it with a contact change (§7.3.2).
            Some(status) if status == status_name(&acct.status) => {}
            Some("deactivated") => deactivate = true,
            Some(status) => {
                return Err(Problem::malformed(format!(
                    "an account's status can only be set to \"deactivated\" (got {status:?})"
                )))
            }
            None => {}
        }
        if let Some(c) = &upd.contact {
            next.contact = check_contacts(c)?;
        }
        if deactivate {
            next.status = AccountStatus::Deactivated;
            // Its pending authorizations end with it (§7.3.6): a reply that
            // arrives later validates nothing.
            let error = Problem::unauthorized(
                "the account was deactivated before the challenge was validated",
            )
            .to_value();
            let requester = acme_requester(&acct.id);
            let ended = self
                .store
                .deactivate_acme_account(&next, &error, |ended| {
                    self.event(
                        &requester,
                        "acme.account.deactivate",
                        json!({"account": acct.id, "contact": next.contact,
                               "authorizations_deactivated": ended}),
                    )
                })
                .map_err(|e| match e {
                    StorageError::Rejected(m) => Problem::unauthorized(m),
                    other => other.into(),
                })?;
            for _ in &ended {
                self.ra.metrics().acme_authorization("deactivated");
            }
        } else if next != *acct {
            let ev = self.event(
                &acme_requester(&acct.id),
                "acme.account.update",
                json!({"account": acct.id, "status": status_name(&next.status), "contact": next.contact}),
            );
            self.store.update_acme_account(&next, &ev)?;
        }
        Ok(Reply::json(StatusCode::OK, &self.account_resource(&next))
            .location(self.account_url(&next.id)))
    }

    pub(crate) fn orders_list(
        &self,
        s: &Signed,
        id: &str,
        query: Option<&str>,
    ) -> Result<Reply, Problem> {
        let acct = self.own_account(s, id)?;
        s.require_post_as_get()?;
        let mut cursor = 0usize;
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            match pair.split_once('=') {
                Some(("cursor", v)) => {
                    cursor = v
                        .parse()
                        .map_err(|_| Problem::malformed("cursor must be a non-negative integer"))?
                }
                _ => {
                    return Err(Problem::malformed(format!(
                        "unknown query parameter {pair:?}"
                    )))
                }
            }
        }
        let page = self.cfg.orders_page_size;
        let (ids, more) = self.store.list_acme_order_ids(&acct.id, cursor, page)?;
        let list = OrdersList {
            orders: ids
                .iter()
                .map(|o| self.url(&format!("/order/{o}")))
                .collect(),
        };
        let mut r = Reply::json(StatusCode::OK, &list);
        if more {
            let next = format!(
                "{}/orders?cursor={}",
                self.account_url(&acct.id),
                cursor + page
            );
            r = r.link(&next, "next");
        }
        Ok(r)
    }

    pub(crate) fn key_change(&self, s: &Signed) -> Result<Reply, Problem> {
        let acct = s.account()?;
        let inner = Flattened::from_value(&s.payload()?)
            .map_err(|p| Problem::malformed(format!("keyChange inner JWS: {}", p.detail)))?;
        inner.check_account_alg()?;
        let h = &inner.header;
        let new_jwk = match (&h.jwk, &h.kid) {
            (Some(j), None) => j.clone(),
            _ => {
                return Err(Problem::malformed(
                    "the keyChange inner JWS must carry the new key as jwk (and no kid)",
                ))
            }
        };
        if h.nonce.is_some() {
            return Err(Problem::malformed(
                "the keyChange inner JWS must not carry a nonce",
            ));
        }
        if h.url.as_deref() != s.jws.header.url.as_deref() {
            return Err(Problem::malformed(
                "the keyChange inner JWS url must equal the outer url",
            ));
        }
        inner.verify(&new_jwk)?;
        let p: KeyChangePayload = serde_json::from_slice(&inner.payload)
            .map_err(|e| Problem::malformed(format!("invalid keyChange payload: {e}")))?;
        if p.account != self.account_url(&acct.id) {
            return Err(Problem::unauthorized(
                "keyChange payload account is not the account signing the request",
            ));
        }
        let old_thumb = jws::thumbprint(&p.old_key)?;
        if old_thumb != acct.thumbprint {
            return Err(Problem::unauthorized(
                "oldKey is not the account's current key",
            ));
        }
        let new_public = jws::public_jwk(&new_jwk)?;
        jws::require_canonical_jwk(&new_public)?;
        let new_thumb = jws::thumbprint(&new_public)?;
        if new_thumb == old_thumb {
            return Err(Problem::malformed("the new key equals the old key"));
        }
        let ev = self.event(
            &acme_requester(&acct.id),
            "acme.account.key_change",
            json!({"account": acct.id, "old_thumbprint": old_thumb, "new_thumbprint": new_thumb}),
        );
        match self
            .store
            .change_acme_account_key(&acct.id, &old_thumb, &new_public, &new_thumb, &ev)
        {
            Ok(updated) => Ok(
                Reply::json(StatusCode::OK, &self.account_resource(&updated))
                    .location(self.account_url(&updated.id)),
            ),
            Err(StorageError::Conflict(owner)) => {
                let mut prob = Problem::new(
                    ProblemType::Conflict,
                    "the new key already belongs to an account",
                );
                prob.location = Some(Box::new(self.account_url(&owner)));
                Err(prob)
            }
            Err(StorageError::Rejected(m)) => Err(Problem::unauthorized(m)),
            Err(e) => Err(e.into()),
        }
    }
}

/// Validates contact URLs: mailto only, one valid address each, no hfields.
fn check_contacts(contacts: &[String]) -> Result<Vec<String>, Problem> {
    if contacts.len() > MAX_CONTACTS {
        return Err(Problem::new(
            ProblemType::InvalidContact,
            format!("at most {MAX_CONTACTS} contacts are accepted"),
        ));
    }
    let mut out = Vec::new();
    for c in contacts {
        let Some(addr) = c.strip_prefix("mailto:") else {
            return Err(Problem::new(
                ProblemType::UnsupportedContact,
                format!("contact {c:?} is not a mailto: URL (only mailto: is supported)"),
            ));
        };
        if addr.contains(['?', ',', '%']) {
            return Err(Problem::new(
                ProblemType::InvalidContact,
                format!("contact {c:?} must be a single address without hfields"),
            ));
        }
        let norm = crate::ra::invitations::check_email("contact", addr)
            .map_err(|e| Problem::new(ProblemType::InvalidContact, e.to_string()))?;
        out.push(format!("mailto:{norm}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contacts_are_mailto_only() {
        assert_eq!(
            check_contacts(&["mailto:a@Example.COM".into()]).unwrap(),
            vec!["mailto:a@example.com".to_string()]
        );
        assert!(check_contacts(&["tel:+1".into()])
            .unwrap_err()
            .is(ProblemType::UnsupportedContact));
        assert!(check_contacts(&["mailto:not-an-address".into()])
            .unwrap_err()
            .is(ProblemType::InvalidContact));
        assert!(check_contacts(&["mailto:a@b.c?subject=x".into()])
            .unwrap_err()
            .is(ProblemType::InvalidContact));
    }
}
