//! Audit records of failed authentication (CS BRs §5.4.1.1): who tried from
//! where, never the secret or the email.

use super::model::AuditEvent;
use super::{Result, Store};

/// One failed authentication as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAuthentication<'a> {
    /// "est", "admin" or "acme_eab".
    pub front_end: &'a str,
    /// Why it failed (a fixed word, e.g. "bad_credentials").
    pub reason: &'a str,
    /// The client address (IP only).
    pub source: std::net::IpAddr,
    /// The key id the client named (an invitation kid), if any; never a secret.
    pub credential: Option<&'a str>,
    /// Failures not recorded one by one since the previous record (the
    /// caller's budget keeps an attacker from filling the disk).
    pub suppressed_before: u64,
}

impl Store {
    /// Appends the audit record `auth.failure` for one failed authentication.
    pub fn record_failed_authentication(
        &self,
        at: time::OffsetDateTime,
        failure: &FailedAuthentication<'_>,
    ) -> Result<()> {
        let mut details = serde_json::json!({
            "front_end": failure.front_end,
            "reason": failure.reason,
            "source": failure.source.to_string(),
        });
        if let Some(kid) = failure.credential {
            details["credential"] = serde_json::json!(kid);
        }
        if failure.suppressed_before > 0 {
            details["suppressed_before"] = serde_json::json!(failure.suppressed_before);
        }
        self.append_audit(&AuditEvent {
            at,
            actor: format!("client:{}", failure.source),
            action: "auth.failure".into(),
            details,
        })
    }
}
