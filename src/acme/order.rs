//! Orders and authorizations (RFC 8555 §7.4, §7.5) for email identifiers.

use http::StatusCode;
use serde_json::{json, Value};
use time::{Duration, OffsetDateTime};

use super::problem::{Identifier, Problem, ProblemType, Subproblem};
use super::types::{
    rfc3339, AuthorizationResource, ChallengeResource, NewOrderPayload, OrderResource,
};
use super::{status_name, Inner, Reply, Signed};
use crate::ra::acme::{acme_requester, AuthzDecision};
use crate::ra::RaError;
use crate::storage::acme::{
    AcmeAccount, AcmeAuthorization, AcmeOrder, AuthzStatus, ChallengeStatus, EmailChallenge,
    OrderStatus,
};
use crate::storage::acme_status::end_pending_authz;
use crate::storage::model::{AuditEvent, RequestStatus};
use crate::storage::{new_id, StorageError};
use crate::va::email::{new_token, TOKEN_PART1_BYTES, TOKEN_PART2_BYTES};

/// The challenge type of RFC 8823.
pub const EMAIL_REPLY: &str = "email-reply-00";

impl Inner {
    pub(crate) fn order_url(&self, id: &str) -> String {
        self.url(&format!("/order/{id}"))
    }

    pub(crate) fn authz_url(&self, id: &str) -> String {
        self.url(&format!("/authz/{id}"))
    }

    pub(crate) fn challenge_url(&self, authz_id: &str) -> String {
        self.url(&format!("/chall/{authz_id}"))
    }

    pub(crate) fn cert_url(&self, serial: &str) -> String {
        self.url(&format!("/cert/{serial}"))
    }

    fn authz_lifetime_valid(&self) -> Duration {
        Duration::days(i64::from(
            self.cfg.authz_reuse_days.max(self.cfg.order_ttl_days),
        ))
    }

    pub(crate) fn new_order(&self, s: &Signed) -> Result<Reply, Problem> {
        let acct = s.account()?;
        let p: NewOrderPayload = serde_json::from_value(s.payload()?)
            .map_err(|e| Problem::malformed(format!("invalid newOrder payload: {e}")))?;
        if p.not_before.is_some() || p.not_after.is_some() {
            return Err(Problem::malformed(
                "notBefore/notAfter are not supported: the validity follows the certificate profile",
            ));
        }
        if p.identifiers.is_empty() {
            return Err(Problem::malformed("identifiers must not be empty"));
        }
        let email = self.check_identifiers(acct, &p.identifiers)?;
        let replaces = match p.replaces.as_deref() {
            Some(id) => Some(self.check_replaces(acct, id)?),
            None => None,
        };
        let profile = self
            .ra
            .acme_profile(acct, p.profile.as_deref())
            .map_err(|e| match e {
                RaError::Policy(m) => Problem::new(ProblemType::InvalidProfile, m),
                other => Problem::from(other),
            })?;

        let now = self.clock.now();
        let mut new_authzs = Vec::new();
        let (authz_id, ready) =
            match self
                .ra
                .acme_authz_decision(&self.policy(), acct, &email, now)?
            {
                AuthzDecision::Reuse(a) => (a.id, true),
                AuthzDecision::ValidByInvitation => {
                    let mut a = self.fresh_authz(acct, &email, now);
                    a.status = AuthzStatus::Valid;
                    a.expires = now + self.authz_lifetime_valid();
                    a.validated_by = Some("invitation".into());
                    a.challenge.status = ChallengeStatus::Valid;
                    a.challenge.validated = Some(now);
                    let id = a.id.clone();
                    new_authzs.push(a);
                    (id, true)
                }
                AuthzDecision::Challenge => {
                    let a = self.fresh_authz(acct, &email, now);
                    let id = a.id.clone();
                    new_authzs.push(a);
                    (id, false)
                }
            };
        let order = AcmeOrder {
            id: new_id("ord"),
            account_id: acct.id.clone(),
            status: if ready {
                OrderStatus::Ready
            } else {
                OrderStatus::Pending
            },
            email,
            profile: Some(profile.name.clone()),
            authz_ids: vec![authz_id],
            expires: now + Duration::days(i64::from(self.cfg.order_ttl_days)),
            created_at: now,
            request_id: None,
            certificate: None,
            error: None,
            replaces,
        };
        let audit = crate::storage::model::AuditEvent {
            at: now,
            actor: crate::ra::acme::acme_requester(&acct.id),
            action: "acme.order.create".into(),
            details: serde_json::json!({"order": order.id, "email": order.email,
                "profile": order.profile, "authorization": order.authz_ids,
                "reused_authorization": new_authzs.is_empty(), "replaces": order.replaces}),
        };
        self.store.create_acme_order(&order, &new_authzs, &audit)?;
        let m = self.ra.metrics();
        m.acme_order(&status_name(&order.status));
        for a in &new_authzs {
            m.acme_authorization(&status_name(&a.status));
        }
        Ok(
            Reply::json(StatusCode::CREATED, &self.order_resource(&order))
                .location(self.order_url(&order.id)),
        )
    }

    /// Every identifier must be `{"type":"email"}` with the account's address.
    fn check_identifiers(&self, acct: &AcmeAccount, ids: &[Value]) -> Result<String, Problem> {
        let mut subs = Vec::new();
        let mut email = None;
        for v in ids {
            let id: Identifier = serde_json::from_value(v.clone())
                .map_err(|_| Problem::malformed("each identifier needs a string type and value"))?;
            if id.kind != "email" {
                subs.push(Subproblem::new(
                    ProblemType::UnsupportedIdentifier,
                    format!(
                        "identifier type {:?} is not supported; Signet issues for {{\"type\":\"email\"}} only",
                        id.kind
                    ),
                    Some(id),
                ));
                continue;
            }
            match self.ra.acme_check_email_identifier(acct, &id.value) {
                Ok(e) => email = Some(e),
                Err(RaError::RejectedIdentifier(m)) => subs.push(Subproblem::new(
                    ProblemType::RejectedIdentifier,
                    m,
                    Some(id),
                )),
                Err(e) => return Err(e.into()),
            }
        }
        if subs.is_empty() {
            return email.ok_or_else(|| Problem::malformed("no identifier"));
        }
        let first = subs[0].kind.clone();
        let top = if subs.iter().all(|s| s.kind == first) {
            if first == ProblemType::UnsupportedIdentifier.uri() {
                ProblemType::UnsupportedIdentifier
            } else {
                ProblemType::RejectedIdentifier
            }
        } else {
            ProblemType::Compound
        };
        let detail = if subs.len() == 1 {
            subs[0].detail.clone()
        } else {
            format!("{} identifiers were refused; see subproblems", subs.len())
        };
        Err(Problem::new(top, detail).with_subproblems(subs))
    }

    fn fresh_authz(
        &self,
        acct: &AcmeAccount,
        email: &str,
        now: OffsetDateTime,
    ) -> AcmeAuthorization {
        AcmeAuthorization {
            id: new_id("authz"),
            account_id: acct.id.clone(),
            email: email.to_string(),
            status: AuthzStatus::Pending,
            expires: now + Duration::hours(i64::from(self.cfg.authz_pending_hours)),
            created_at: now,
            validated_by: None,
            challenge: EmailChallenge {
                status: ChallengeStatus::Pending,
                token_part1: new_token(TOKEN_PART1_BYTES),
                token_part2: new_token(TOKEN_PART2_BYTES),
                from: self.mailer.from_address(),
                message_id: None,
                sent_at: None,
                validated: None,
                error: None,
                rejected_replies: Vec::new(),
            },
        }
    }

    /// The authorization's status as of now (pending/valid ones expire).
    pub(crate) fn effective_authz_status(&self, a: &AcmeAuthorization) -> AuthzStatus {
        match a.status {
            AuthzStatus::Pending | AuthzStatus::Valid if self.clock.now() >= a.expires => {
                AuthzStatus::Expired
            }
            s => s,
        }
    }

    /// Brings an order's status up to date (authorizations, expiry, approval).
    pub(crate) fn refresh_order(&self, order: AcmeOrder) -> Result<AcmeOrder, Problem> {
        let now = self.clock.now();
        let mut next = order.clone();
        match order.status {
            OrderStatus::Pending | OrderStatus::Ready => {
                if now >= order.expires {
                    next.status = OrderStatus::Invalid;
                    next.error = Some(Problem::malformed("the order has expired").to_value());
                } else {
                    let mut all_valid = true;
                    for id in &order.authz_ids {
                        let a = self.store.get_acme_authz(id)?.ok_or_else(|| {
                            Problem::internal("an order's authorization is missing")
                        })?;
                        match self.effective_authz_status(&a) {
                            AuthzStatus::Valid => {}
                            AuthzStatus::Pending => all_valid = false,
                            other => {
                                next.status = OrderStatus::Invalid;
                                let mut p = Problem::unauthorized(format!(
                                    "the authorization for {} is {}",
                                    a.email,
                                    status_name(&other)
                                ));
                                if let Some(e) = &a.challenge.error {
                                    if let Ok(sub) = serde_json::from_value::<Subproblem>(e.clone())
                                    {
                                        p = p.with_subproblems(vec![sub]);
                                    }
                                }
                                next.error = Some(p.to_value());
                                all_valid = false;
                                break;
                            }
                        }
                    }
                    if all_valid {
                        next.status = OrderStatus::Ready;
                    }
                }
            }
            OrderStatus::Processing => {
                if let (Some(req_id), None) = (&order.request_id, &order.certificate) {
                    if let Some(req) = self.store.get_request(req_id)? {
                        match req.status {
                            RequestStatus::Issued => {
                                if let Some(serial) = req.serial {
                                    next.status = OrderStatus::Valid;
                                    next.certificate = Some(serial);
                                }
                            }
                            RequestStatus::Declined => {
                                next.status = OrderStatus::Invalid;
                                next.error = Some(
                                    Problem::unauthorized(format!(
                                        "an administrator declined the request{}",
                                        req.message
                                            .as_deref()
                                            .map(|m| format!(": {m}"))
                                            .unwrap_or_default()
                                    ))
                                    .to_value(),
                                );
                            }
                            RequestStatus::Applied | RequestStatus::Approved => {}
                        }
                    }
                }
            }
            OrderStatus::Valid | OrderStatus::Invalid => {}
        }
        if next == order {
            return Ok(order);
        }
        let expected = order.status;
        let wanted = next.clone();
        match self.store.update_acme_order(&order.id, move |o| {
            if o.status != expected {
                return Err("order changed concurrently".into());
            }
            *o = wanted.clone();
            Ok(())
        }) {
            Ok(o) => {
                self.ra.metrics().acme_order(&status_name(&o.status));
                Ok(o)
            }
            Err(StorageError::Rejected(_)) => self
                .store
                .get_acme_order(&order.id)?
                .ok_or_else(|| Problem::internal("order vanished")),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn order_resource(&self, o: &AcmeOrder) -> OrderResource {
        OrderResource {
            status: status_name(&o.status),
            expires: rfc3339(o.expires),
            identifiers: vec![Identifier {
                kind: "email".into(),
                value: o.email.clone(),
            }],
            authorizations: o.authz_ids.iter().map(|a| self.authz_url(a)).collect(),
            finalize: format!("{}/finalize", self.order_url(&o.id)),
            certificate: o.certificate.as_ref().map(|s| self.cert_url(s)),
            error: o.error.clone(),
            profile: o.profile.clone(),
            replaces: o.replaces.clone(),
        }
    }

    /// The order `id` if it belongs to the signing account.
    pub(crate) fn owned_order(&self, s: &Signed, id: &str) -> Result<AcmeOrder, Problem> {
        let acct = s.account()?;
        let order = self
            .store
            .get_acme_order(id)?
            .ok_or_else(|| Problem::not_found(format!("order {id:?}")))?;
        if order.account_id != acct.id {
            return Err(Problem::unauthorized(
                "this order belongs to another account",
            ));
        }
        Ok(order)
    }

    pub(crate) fn order_reply(&self, order: &AcmeOrder, status: StatusCode) -> Reply {
        let mut r =
            Reply::json(status, &self.order_resource(order)).location(self.order_url(&order.id));
        if order.status == OrderStatus::Processing {
            r.retry_after = Some(self.cfg.retry_after_secs);
        }
        r
    }

    pub(crate) fn order_get(&self, s: &Signed, id: &str) -> Result<Reply, Problem> {
        let order = self.owned_order(s, id)?;
        s.require_post_as_get()?;
        self.maybe_scan_inbox();
        let order = self.refresh_order(order)?;
        Ok(self.order_reply(&order, StatusCode::OK))
    }

    /// The authorization `id` if it belongs to the signing account.
    pub(crate) fn owned_authz(&self, s: &Signed, id: &str) -> Result<AcmeAuthorization, Problem> {
        let acct = s.account()?;
        let a = self
            .store
            .get_acme_authz(id)?
            .ok_or_else(|| Problem::not_found(format!("authorization {id:?}")))?;
        if a.account_id != acct.id {
            return Err(Problem::unauthorized(
                "this authorization belongs to another account",
            ));
        }
        Ok(a)
    }

    pub(crate) fn challenge_resource(&self, a: &AcmeAuthorization) -> ChallengeResource {
        let c = &a.challenge;
        ChallengeResource {
            kind: EMAIL_REPLY.into(),
            url: self.challenge_url(&a.id),
            status: status_name(&c.status),
            token: c.token_part2.clone(),
            from: c.from.clone(),
            validated: c.validated.map(rfc3339),
            // records older than the refusedReplies field kept refusals here
            error: c
                .error
                .clone()
                .filter(|_| c.status == ChallengeStatus::Invalid),
            refused_replies: c.rejected_replies.clone(),
        }
    }

    pub(crate) fn authz_resource(&self, a: &AcmeAuthorization) -> AuthorizationResource {
        AuthorizationResource {
            identifier: Identifier {
                kind: "email".into(),
                value: a.email.clone(),
            },
            status: status_name(&self.effective_authz_status(a)),
            expires: rfc3339(a.expires),
            challenges: vec![self.challenge_resource(a)],
        }
    }

    pub(crate) fn authz_post(&self, s: &Signed, id: &str) -> Result<Reply, Problem> {
        let a = self.owned_authz(s, id)?;
        if s.jws.is_post_as_get() {
            self.maybe_scan_inbox();
            let a = self.store.get_acme_authz(id)?.unwrap_or(a);
            let mut r = Reply::json(StatusCode::OK, &self.authz_resource(&a));
            if a.challenge.status == ChallengeStatus::Processing {
                r.retry_after = Some(self.cfg.retry_after_secs);
            }
            return Ok(r);
        }
        let p = s.payload()?;
        if p.get("status").and_then(Value::as_str) != Some("deactivated")
            || p.as_object().is_some_and(|o| o.len() != 1)
        {
            return Err(Problem::malformed(
                "an authorization can only be updated with {\"status\": \"deactivated\"}",
            ));
        }
        // A challenge still waiting becomes invalid with it: a reply that
        // arrives later validates nothing.
        let error = Problem::unauthorized(
            "the authorization was deactivated before the challenge was validated",
        )
        .to_value();
        let now = self.clock.now();
        let updated = self
            .store
            .update_acme_authz(
                id,
                |a| match a.status {
                    AuthzStatus::Pending => {
                        end_pending_authz(a, &error);
                        Ok(())
                    }
                    AuthzStatus::Valid => {
                        a.status = AuthzStatus::Deactivated;
                        Ok(())
                    }
                    other => Err(format!(
                        "an authorization in status {} cannot be deactivated",
                        status_name(&other)
                    )),
                },
                |a| {
                    Some(AuditEvent {
                        at: now,
                        actor: acme_requester(&a.account_id),
                        action: "acme.authorization.deactivate".into(),
                        details: json!({"authorization": a.id, "email": a.email}),
                    })
                },
            )
            .map_err(|e| match e {
                StorageError::Rejected(m) => Problem::malformed(m),
                other => other.into(),
            })?;
        Ok(Reply::json(StatusCode::OK, &self.authz_resource(&updated)))
    }
}
