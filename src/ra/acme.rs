//! RA decisions for ACME: which identifiers an account may order, which
//! profile an order uses, when an earlier authorization may be reused, whether
//! the invitation counts as the email confirmation, and who may revoke a
//! certificate. The ACME front end asks; these answer.

use time::{Duration, OffsetDateTime};

use super::{Ra, RaError};
use crate::csr::{Csr, KeyKind};
use crate::storage::acme::{AcmeAccount, AcmeAuthorization, AuthzStatus};
use crate::storage::model::{CertificateRecord, Profile};

/// The ACME identifier policy, from `[acme]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcmeIdentifierPolicy {
    /// How long a valid authorization is reused for new orders.
    pub authz_reuse: Duration,
    /// Whether the redeemed invitation confirms the invited address.
    pub invitation_confirms_email: bool,
}

/// How an order's authorization for the account's address comes about.
#[derive(Debug, Clone, PartialEq)]
pub enum AuthzDecision {
    /// Reuse this valid authorization.
    Reuse(Box<AcmeAuthorization>),
    /// Create an authorization that is valid at once (the invitation confirms the address).
    ValidByInvitation,
    /// Create a pending authorization with an email-reply-00 challenge.
    Challenge,
}

/// The requester label of an ACME account (`acme:<id>`).
pub fn acme_requester(account_id: &str) -> String {
    format!("acme:{account_id}")
}

impl Ra {
    /// Decides whether `account` may order a certificate for email `value`;
    /// returns the address in normalized form.
    pub fn acme_check_email_identifier(
        &self,
        account: &AcmeAccount,
        value: &str,
    ) -> Result<String, RaError> {
        let email = super::invitations::check_email("identifier", value)
            .map_err(|e| RaError::RejectedIdentifier(e.to_string()))?;
        if !email.eq_ignore_ascii_case(&account.email) {
            return Err(RaError::RejectedIdentifier(format!(
                "this account may only order certificates for {}, the address it was invited with",
                account.email
            )));
        }
        Ok(account.email.clone())
    }

    /// The profile an order of `account` uses: `wanted` (a profile name or id)
    /// if the account may use it, else the account's first profile.
    pub fn acme_profile(
        &self,
        account: &AcmeAccount,
        wanted: Option<&str>,
    ) -> Result<Profile, RaError> {
        self.pick_profile(&account.profile_ids, wanted)
    }

    /// The profiles `account` may use.
    pub fn acme_profiles_of(&self, account: &AcmeAccount) -> Result<Vec<Profile>, RaError> {
        let mut out = Vec::new();
        for id in &account.profile_ids {
            if let Some(p) = self.store.find_profile(id)? {
                out.push(p);
            }
        }
        Ok(out)
    }

    /// Decides how the authorization for `email` is obtained for a new order.
    pub fn acme_authz_decision(
        &self,
        policy: &AcmeIdentifierPolicy,
        account: &AcmeAccount,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<AuthzDecision, RaError> {
        if policy.authz_reuse > Duration::ZERO {
            let existing = self.store.acme_authzs_for(&account.id, email)?;
            let reusable = existing.into_iter().rev().find(|a| {
                a.status == AuthzStatus::Valid
                    && a.expires > now
                    && a.challenge
                        .validated
                        .or(Some(a.created_at))
                        .is_some_and(|v| v + policy.authz_reuse > now)
            });
            if let Some(a) = reusable {
                return Ok(AuthzDecision::Reuse(Box::new(a)));
            }
        }
        if policy.invitation_confirms_email && email.eq_ignore_ascii_case(&account.email) {
            return Ok(AuthzDecision::ValidByInvitation);
        }
        Ok(AuthzDecision::Challenge)
    }

    /// Refuses a CSR whose public key is the key of an ACME account, the
    /// requesting one (`requester` "acme:<id>") or any other (RFC 8555
    /// §11.1): one read of the account-key index. Every enrollment path
    /// (ACME, EST, admin) asks.
    pub(crate) fn refuse_acme_account_key(
        &self,
        csr: &Csr,
        requester: &str,
    ) -> Result<(), RaError> {
        let Some(thumbprint) = crate::keyid::spki_thumbprint(&csr.spki_der) else {
            // RSA and uncompressed P-256/P-384 keys always have one; a
            // compressed point could hide an account key.
            return match csr.key {
                KeyKind::EcP256 | KeyKind::EcP384 | KeyKind::EcP521 => Err(RaError::BadCsr(
                    "the CSR's EC public key must be an uncompressed point".into(),
                )),
                _ => Ok(()),
            };
        };
        match self.store.acme_account_id_for_key(&thumbprint)? {
            None => Ok(()),
            Some(id) if requester == acme_requester(&id) => Err(RaError::BadCsr(
                "the CSR's public key is this ACME account's key; the certificate needs a key of its own (RFC 8555 §11.1)".into(),
            )),
            Some(_) => Err(RaError::BadCsr(
                "the CSR's public key is the key of an ACME account; the certificate needs a key of its own (RFC 8555 §11.1)".into(),
            )),
        }
    }

    /// Decides whether a revocation request may revoke `cert`: by the ACME
    /// account that ordered it, or by a request signed with the certificate's
    /// own key. Anyone else is refused, also an account holding a valid
    /// authorization for the certificate's address (RFC 8555 §7.6 would
    /// accept it): several accounts, of different endpoint accounts and
    /// organizations, can be invited for one address, and with
    /// `acme.invitation_confirms_email` their authorizations need no mail at
    /// all, so such an authorization says nothing about the organization
    /// whose code-signing certificate (and every signature made with it) a
    /// revocation would end (docs/ACME.md, Revocation).
    pub fn acme_may_revoke(
        &self,
        cert: &CertificateRecord,
        account: Option<&AcmeAccount>,
        signed_by_certificate_key: bool,
    ) -> Result<(), RaError> {
        if signed_by_certificate_key {
            return Ok(());
        }
        let Some(account) = account else {
            return Err(RaError::Unauthorized(
                "the request is signed neither by the account that ordered this certificate nor by its key".into(),
            ));
        };
        if cert.requester == acme_requester(&account.id) {
            return Ok(());
        }
        let now = self.clock.now();
        let holds_authz = self
            .store
            .acme_authzs_for(&account.id, &cert.email)?
            .iter()
            .any(|a| a.status == AuthzStatus::Valid && a.expires > now);
        let base = "only the account that ordered this certificate, or the certificate's own key, may revoke it";
        Err(RaError::Unauthorized(if holds_authz {
            format!(
                "{base}: this account's valid authorization for {} does not suffice, by Signet policy \
                 (RFC 8555 §7.6 would accept it; several accounts and organizations can hold one \
                 for an address, see docs/ACME.md). Sign with the certificate's key or ask a \
                 Signet administrator",
                cert.email
            )
        } else {
            format!("{base}; an administrator can revoke any certificate")
        }))
    }
}

/// How the sender of a challenge reply must be authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SenderAuth {
    /// Accept the From header as it is (local outbox / trusted pipe).
    None,
    /// Require `dkim=pass` for the From domain from one of these authserv-ids.
    Dkim { trusted: Vec<String> },
}

/// The verdict on one challenge reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyVerdict {
    /// The reply proves control of the address: the challenge becomes valid.
    Accept,
    /// The reply is refused. `terminal`: the challenge becomes invalid (the
    /// genuine, authenticated sender answered wrongly); otherwise the challenge
    /// stays open for the genuine reply (forged, late or unreadable replies).
    Reject {
        reason: String,
        incorrect_response: bool,
        terminal: bool,
    },
}

fn reject(reason: impl Into<String>, incorrect_response: bool, terminal: bool) -> ReplyVerdict {
    ReplyVerdict::Reject {
        reason: reason.into(),
        incorrect_response,
        terminal,
    }
}

impl Ra {
    /// Judges a reply to the challenge mail of `authz` (RFC 8823 §3) from the
    /// facts the VA read out of it.
    pub fn acme_judge_reply(
        &self,
        authz: &AcmeAuthorization,
        account: &AcmeAccount,
        facts: &crate::va::email::ReplyFacts,
        sender_auth: &SenderAuth,
        now: OffsetDateTime,
    ) -> ReplyVerdict {
        use crate::storage::acme::{AccountStatus, ChallengeStatus};
        let ch = &authz.challenge;
        if account.status != AccountStatus::Valid {
            let status = match account.status {
                AccountStatus::Revoked => "revoked",
                _ => "deactivated",
            };
            return reject(
                format!("late reply: the account was {status}; its challenges can no longer be validated"),
                false,
                false,
            );
        }
        if authz.status == AuthzStatus::Deactivated {
            return reject(
                "late reply: the authorization was deactivated",
                false,
                false,
            );
        }
        if ch.status != ChallengeStatus::Processing || authz.status != AuthzStatus::Pending {
            return reject(
                format!(
                    "late reply: the challenge is no longer waiting for a reply (status {:?})",
                    ch.status
                )
                .to_lowercase(),
                false,
                false,
            );
        }
        if now >= authz.expires {
            return reject("late reply: the authorization has expired", false, false);
        }
        let Some(message_id) = ch.message_id.as_deref() else {
            return reject(
                "no challenge mail was sent for this challenge",
                false,
                false,
            );
        };
        if let Some(reason) = ambiguous_reply(facts) {
            return reject(reason, false, false);
        }
        if !facts.answers(message_id) {
            return reject(
                "the reply does not answer the challenge mail (In-Reply-To/References)",
                false,
                false,
            );
        }
        if !facts.from_is(&authz.email) {
            return reject(
                format!(
                    "forged or misdirected reply: From is {:?}, expected {}",
                    facts.from.join(", "),
                    authz.email
                ),
                false,
                false,
            );
        }
        if let SenderAuth::Dkim { trusted } = sender_auth {
            let domain = authz.email.rsplit('@').next().unwrap_or("");
            if trusted.is_empty() || !facts.dkim_pass_for(trusted, domain) {
                return reject(
                    format!(
                        "sender not authenticated: no dkim=pass for {domain} from a trusted \
                         authserv-id ({})",
                        if trusted.is_empty() {
                            "none configured".to_string()
                        } else {
                            trusted.join(", ")
                        }
                    ),
                    false,
                    false,
                );
            }
        }
        let Some(response) = facts.response.as_deref() else {
            return reject(
                "the reply carries no -----BEGIN ACME RESPONSE----- block",
                false,
                false,
            );
        };
        if crate::va::email::digest_matches(
            response,
            &ch.token_part1,
            &ch.token_part2,
            &account.thumbprint,
        ) {
            ReplyVerdict::Accept
        } else {
            reject(
                "the response is not base64url(SHA-256(key authorization)) for this challenge",
                true,
                true,
            )
        }
    }
}

/// Why a reply does not name one sender unambiguously (RFC 5322 §3.6: one
/// From, one Sender, one of each header the validation reads; a Sender other
/// than the From address means someone else sent it), if it does not.
fn ambiguous_reply(facts: &crate::va::email::ReplyFacts) -> Option<String> {
    if let Some((name, count)) = facts.repeated_headers.first() {
        return Some(format!(
            "ambiguous reply: {count} {name} header fields (RFC 5322 allows one)"
        ));
    }
    if facts.from.len() > 1 {
        return Some(format!(
            "ambiguous reply: From names {} mailboxes ({}); it must name exactly one",
            facts.from.len(),
            facts.from.join(", ")
        ));
    }
    match (facts.sender.as_slice(), facts.from.first()) {
        ([], _) => None,
        ([sender], Some(from)) if sender.eq_ignore_ascii_case(from) => None,
        ([sender], _) => Some(format!(
            "ambiguous reply: Sender {sender:?} is not the From address; the reply must be sent by the address itself"
        )),
        (senders, _) => Some(format!(
            "ambiguous reply: Sender names {} mailboxes ({}); it must name at most one",
            senders.len(),
            senders.join(", ")
        )),
    }
}
