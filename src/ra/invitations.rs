//! Invitations: EAB credentials for one email address and endpoint account,
//! mailed to the invitee.

use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::Duration;

use super::{Ra, RaError};
use crate::mail::OutgoingMail;
use crate::storage::model::{Invitation, InvitationState};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewInvitation {
    pub email: String,
    /// Endpoint account (id or name).
    pub account: String,
    /// Optional profile (id or name) the invitee is limited to.
    #[serde(default)]
    pub profile: Option<String>,
    /// Lifetime in days (default from configuration).
    #[serde(default)]
    pub ttl_days: Option<u32>,
}

/// A created invitation with everything the invitee needs.
#[derive(Debug, Clone, Serialize)]
pub struct IssuedInvitation {
    pub kid: String,
    /// base64url HMAC key (secret).
    pub hmac_key: String,
    pub email: String,
    pub account_id: String,
    pub profile_id: Option<String>,
    pub directory: String,
    pub est_url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: time::OffsetDateTime,
    pub status: String,
}

/// Checks an email address (addr-spec) and returns it normalized (domain lower-cased).
pub fn check_email(field: &str, email: &str) -> Result<String, RaError> {
    let e = email.trim();
    let addr: lettre::Address = e
        .parse()
        .map_err(|_| RaError::invalid(field, format!("{e:?} is not a valid email address")))?;
    Ok(format!(
        "{}@{}",
        addr.user(),
        addr.domain().to_ascii_lowercase()
    ))
}

impl Ra {
    /// Creates an invitation, stores it and mails the credentials to the invitee.
    pub fn create_invitation(
        &self,
        n: &NewInvitation,
        actor: &str,
    ) -> Result<IssuedInvitation, RaError> {
        let email = check_email("email", &n.email)?;
        let account = self.account_ref("account", &n.account)?;
        let profile_id = match &n.profile {
            Some(p) => {
                let prof = self.profile_ref("profile", p)?;
                if !account.profile_ids.contains(&prof.id) {
                    return Err(RaError::invalid(
                        "profile",
                        format!(
                            "profile {:?} is not allowed for account {:?}",
                            prof.name, account.name
                        ),
                    ));
                }
                Some(prof.id)
            }
            None => None,
        };
        let ttl = n.ttl_days.unwrap_or(self.settings.invitation_ttl_days);
        if ttl == 0 || ttl > 365 {
            return Err(RaError::invalid("ttl_days", "must be between 1 and 365"));
        }
        let mut kid_bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut kid_bytes);
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        let now = self.clock.now();
        let inv = Invitation {
            kid: format!("inv_{}", hex::encode(kid_bytes)),
            hmac_key: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key),
            email,
            account_id: account.id.clone(),
            profile_id,
            state: InvitationState::Sent,
            created_at: now,
            expires_at: now + Duration::days(i64::from(ttl)),
            redeemed_at: None,
            redeemed_by: None,
            revoked_at: None,
        };
        let ev = self.event(
            actor,
            "invitation.create",
            json!({"kid": inv.kid, "email": inv.email, "account": inv.account_id, "profile": inv.profile_id}),
        );
        self.store
            .create_invitation(&inv, &ev)
            .map_err(RaError::from_store)?;
        let issued = self.issued(&inv);
        self.mailer.send(&invitation_mail(&issued))?;
        Ok(issued)
    }

    fn issued(&self, inv: &Invitation) -> IssuedInvitation {
        // EST URL with the endpoint's label, so build agents land on their endpoint
        let label = self
            .store
            .find_account(&inv.account_id)
            .ok()
            .flatten()
            .and_then(|a| self.store.find_endpoint(&a.endpoint_id).ok().flatten())
            .map(|e| e.label);
        let est_url = match label {
            Some(l) => format!("{}/{l}", self.settings.est_url),
            None => self.settings.est_url.clone(),
        };
        IssuedInvitation {
            kid: inv.kid.clone(),
            hmac_key: inv.hmac_key.clone(),
            email: inv.email.clone(),
            account_id: inv.account_id.clone(),
            profile_id: inv.profile_id.clone(),
            directory: self.settings.acme_directory_url.clone(),
            est_url,
            expires: inv.expires_at,
            status: inv.status(self.clock.now()).to_string(),
        }
    }

    pub fn revoke_invitation(&self, kid: &str, actor: &str) -> Result<Invitation, RaError> {
        let ev = self.event(actor, "invitation.revoke", json!({"kid": kid}));
        self.store
            .revoke_invitation(kid, self.clock.now(), &ev)
            .map_err(RaError::from_store)
    }

    pub fn invitation(&self, kid: &str) -> Result<Invitation, RaError> {
        self.store
            .get_invitation(kid)?
            .ok_or_else(|| RaError::NotFound(format!("invitation {kid:?}")))
    }
}

fn invitation_mail(inv: &IssuedInvitation) -> OutgoingMail {
    let expires = inv.expires.format(&Rfc3339).unwrap_or_default();
    // Every line stays within 76 characters where the values allow it, so the
    // mail goes out 7bit rather than quoted-printable and the commands can be
    // copied from the raw message; long commands are split with `\`.
    let body = format!(
        "You have been invited to request a code-signing certificate for\n\
         {email}.\n\
         \n\
         ACME directory: {dir}\n\
         EAB key identifier (kid): {kid}\n\
         EAB HMAC key: {key}\n\
         Expires: {expires}\n\
         \n\
         These credentials work once. Keep the HMAC key secret.\n\
         \n\
         certbot (trust the TLS CA: REQUESTS_CA_BUNDLE=tls-ca.pem):\n\
         \x20 certbot register --agree-tos --no-eff-email \\\n\
         \x20   --server {dir} \\\n\
         \x20   --eab-kid={kid} \\\n\
         \x20   --eab-hmac-key={key} \\\n\
         \x20   -m {email}\n\
         \n\
         lego:\n\
         \x20 lego --server {dir} \\\n\
         \x20   --eab --kid={kid} \\\n\
         \x20   --hmac={key} \\\n\
         \x20   --email {email} ...\n\
         \n\
         EST (build agents): HTTP Basic with user name = kid and\n\
         password = HMAC key at\n\
         \x20 {est}\n",
        email = inv.email,
        dir = inv.directory,
        kid = inv.kid,
        key = inv.hmac_key,
        est = inv.est_url,
    );
    OutgoingMail {
        to: inv.email.clone(),
        subject: "Your Signet code-signing enrollment credentials".into(),
        body,
        headers: vec![("Auto-Submitted".into(), "auto-generated".into())],
    }
}
