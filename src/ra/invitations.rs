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

/// The characters RFC 5322 allows in an unquoted local part (atext) besides
/// letters and digits.
const ATEXT_SPECIALS: &str = "!#$%&'*+-/=?^_`{|}~";

/// Checks an email address for what a certificate and the email challenge
/// need, and returns it normalized (domain lower-cased). The address goes
/// into the certificate's subjectAltName as an rfc822Name, an IA5String
/// (RFC 5280 4.2.1.6): ASCII only, so internationalised addresses (RFC 6531
/// SMTPUTF8) cannot be certified and are refused (a domain may be given in
/// its ASCII `xn--` form). RFC 8823 mails the challenge to it and matches the
/// reply's From: an RFC 5321 mailbox with an unquoted (dot-atom) local part
/// of at most 64 octets and a host-name domain; quoted local parts and
/// address literals are refused, not guessed at.
pub fn check_email(field: &str, email: &str) -> Result<String, RaError> {
    let e = email.trim();
    let shown: String = e.chars().take(80).collect();
    let bad = |why: &str| RaError::invalid(field, format!("{shown:?} {why}"));
    if e.is_empty() {
        return Err(RaError::invalid(field, "an email address is required"));
    }
    if !e.is_ascii() {
        return Err(bad(
            "is not an ASCII address: internationalised addresses are not supported (the certificate's rfc822Name is an IA5String, RFC 5280 4.2.1.6); give the domain in its xn-- form",
        ));
    }
    if e.bytes().any(|b| b.is_ascii_control() || b == b' ') {
        return Err(bad("contains spaces or control characters"));
    }
    let Some((local, domain)) = e.rsplit_once('@') else {
        return Err(bad("is not an email address (no @)"));
    };
    if local.starts_with('"') || local.contains('@') {
        return Err(bad(
            "has a quoted local part or more than one @; only plain addresses (letters, digits, . and !#$%&'*+-/=?^_`{|}~ before the @) are supported",
        ));
    }
    if local.is_empty() || local.len() > 64 {
        return Err(bad(
            "must have 1 to 64 characters before the @ (RFC 5321 4.5.3.1.1)",
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(bad(
            "must not start or end with a dot or have two dots in a row before the @",
        ));
    }
    if let Some(c) = local
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '.' || ATEXT_SPECIALS.contains(*c)))
    {
        return Err(bad(&format!(
            "contains {c:?} before the @; only letters, digits, . and !#$%&'*+-/=?^_`{{|}}~ are allowed there"
        )));
    }
    check_mail_domain(domain).map_err(|why| bad(&why))?;
    if e.len() > 254 {
        return Err(bad("is longer than 254 characters (RFC 5321 4.5.3.1.3)"));
    }
    Ok(format!("{local}@{}", domain.to_ascii_lowercase()))
}

/// A mail domain: a host name of LDH labels (RFC 5321 4.1.2 Domain), at
/// least two of them, each 1 to 63 characters, no leading or trailing hyphen.
fn check_mail_domain(domain: &str) -> Result<(), String> {
    if domain.starts_with('[') {
        return Err("has an address literal as its domain; a host name is required".into());
    }
    if domain.is_empty() || domain.len() > 253 {
        return Err("must have a domain of 1 to 253 characters after the @".into());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    if labels.len() < 2 {
        return Err(format!(
            "has the domain {domain:?}, which is not a fully qualified host name"
        ));
    }
    for label in labels {
        let ldh = label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if label.is_empty()
            || label.len() > 63
            || !ldh
            || label.starts_with('-')
            || label.ends_with('-')
        {
            return Err(format!(
                "has the domain {domain:?}, which is not a host name (labels of letters, digits and inner hyphens, 1 to 63 characters, separated by single dots)"
            ));
        }
    }
    Ok(())
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
        let issued = self.issued(&inv);
        let mail = invitation_mail(&issued);
        self.store
            .create_invitation(&inv, &ev)
            .map_err(RaError::from_store)?;
        if let Err(e) = self.mailer.send(&mail) {
            // An invitation whose mail did not go out is never left as sent.
            self.withdraw_unsent(&inv, actor, &e);
            return Err(RaError::Mail(e));
        }
        Ok(issued)
    }

    /// Revokes an invitation whose mail could not be sent, with its own
    /// audit record (`invitation.withdraw`), so its credentials never work.
    fn withdraw_unsent(&self, inv: &Invitation, actor: &str, e: &crate::mail::MailError) {
        let ev = self.event(
            actor,
            "invitation.withdraw",
            json!({"kid": inv.kid, "email": inv.email,
                   "reason": format!("the invitation mail could not be sent: {e}")}),
        );
        if let Err(store) = self
            .store
            .revoke_invitation(&inv.kid, self.clock.now(), &ev)
        {
            tracing::error!(kid = %inv.kid, error = %store,
                "an invitation whose mail failed could not be withdrawn");
        }
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

#[cfg(test)]
mod tests {
    use super::check_email;
    use crate::ra::RaError;

    fn refused(addr: &str) -> String {
        match check_email("email", addr) {
            Err(RaError::Invalid { field, reason }) => {
                assert_eq!(field, "email");
                reason
            }
            other => panic!("{addr:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn plain_addresses_are_accepted_and_the_domain_lower_cased() {
        for (addr, want) in [
            ("dev@example.com", "dev@example.com"),
            ("Dev.Ops+ci@Example.COM", "Dev.Ops+ci@example.com"),
            (
                "o'neil!x#y@sub-1.xn--exmple-cua.de",
                "o'neil!x#y@sub-1.xn--exmple-cua.de",
            ),
            ("  a@b.io  ", "a@b.io"),
        ] {
            assert_eq!(check_email("email", addr).unwrap(), want);
        }
    }

    #[test]
    fn internationalised_addresses_are_refused_saying_why() {
        let why = refused("ü@exämple.com");
        assert!(
            why.contains("internationalised addresses are not supported"),
            "{why}"
        );
        assert!(refused("dev@exämple.com").contains("xn--"));
    }

    #[test]
    fn quoted_and_malformed_addresses_are_refused() {
        assert!(refused("\"a b\"@example.com").contains("spaces"));
        assert!(refused("\"ab\"@example.com").contains("quoted"));
        assert!(refused("a@b@example.com").contains("more than one @"));
        assert!(refused("no-at-sign").contains("no @"));
        assert!(refused(".a@example.com").contains("dot"));
        assert!(refused("a..b@example.com").contains("dot"));
        assert!(refused("a(b)@example.com").contains("'('"));
        assert!(refused(&format!("{}@example.com", "a".repeat(65))).contains("64"));
        assert!(refused("a@localhost").contains("fully qualified"));
        assert!(refused("a@[127.0.0.1]").contains("address literal"));
        assert!(refused("a@-x.example.com").contains("host name"));
        assert!(refused("a@x..example.com").contains("host name"));
        assert!(refused("a@exa_mple.com").contains("host name"));
        assert!(refused("a\r\nBcc: x@example.com").contains("control"));
        assert!(refused("").contains("required"));
    }
}
