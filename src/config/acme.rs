//! The `[acme]` table. Owned by the ACME front end: add its settings here
//! (each with a default, a doc comment, an entry in `config/default.toml` and
//! in `docs/CONFIGURATION.md`).

use serde::{Deserialize, Serialize};

/// Accepted values of `acme.sender_auth`.
pub const SENDER_AUTH_MODES: &[&str] = &["auto", "none", "dkim"];

/// ACME front-end settings (`[acme]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {
    /// URL of the terms of service shown in the directory's `meta`. Empty: the
    /// built-in page at `<public_url>/acme/terms`. Accounts must agree to them.
    pub terms_of_service: String,
    /// Website URL shown in the directory's `meta` (empty: omitted).
    pub website: String,
    /// Seconds a nonce stays usable.
    pub nonce_ttl_secs: u64,
    /// Most used nonces remembered; past it the oldest are forgotten and every
    /// nonce issued before them is refused as expired (bounded memory).
    pub nonce_max_used: usize,
    /// Days a valid email authorization is reused for new orders of the same
    /// account and address (0: never reused).
    pub authz_reuse_days: u32,
    /// Hours a pending authorization (and its challenge mail) stays answerable.
    pub authz_pending_hours: u32,
    /// Days an order stays usable before it expires.
    pub order_ttl_days: u32,
    /// Let a redeemed invitation count as the confirmation of the invited
    /// address (no challenge mail). Off by default.
    pub invitation_confirms_email: bool,
    /// How a challenge reply's sender is authenticated: "none" (accept the From
    /// header as is), "dkim" (require `dkim=pass` for the From domain in an
    /// Authentication-Results header added by one of `trusted_authserv_ids`), or
    /// "auto": "none" with the local outbox transport, "dkim" with SMTP.
    pub sender_auth: String,
    /// authserv-ids (RFC 8601) whose Authentication-Results headers are trusted.
    pub trusted_authserv_ids: Vec<String>,
    /// Spool directory (a maildir) where `signet mail ingest` drops replies for
    /// the server. Empty: `<data_dir>/mail-inbox`.
    pub inbox_dir: String,
    /// An additional maildir to poll for challenge replies (empty: none).
    pub maildir: String,
    /// Seconds between polls of the inbox and `maildir`.
    pub poll_interval_secs: u64,
    /// Orders per page of an account's orders list.
    pub orders_page_size: usize,
    /// Retry-After (seconds) sent while an order or challenge is processing.
    pub retry_after_secs: u64,
    /// Offer an alternate chain (leaf, issuing CA and root) via Link rel="alternate".
    pub alternate_chain_with_root: bool,
}

impl Default for AcmeConfig {
    fn default() -> Self {
        AcmeConfig {
            terms_of_service: String::new(),
            website: String::new(),
            nonce_ttl_secs: 3600,
            nonce_max_used: 100_000,
            authz_reuse_days: 30,
            authz_pending_hours: 24,
            order_ttl_days: 7,
            invitation_confirms_email: false,
            sender_auth: "auto".into(),
            trusted_authserv_ids: Vec::new(),
            inbox_dir: String::new(),
            maildir: String::new(),
            poll_interval_secs: 2,
            orders_page_size: 50,
            retry_after_secs: 3,
            alternate_chain_with_root: false,
        }
    }
}

impl AcmeConfig {
    pub(super) fn validate(&self) -> Result<(), super::ConfigError> {
        use super::ConfigError;
        for (key, value) in [
            ("acme.terms_of_service", &self.terms_of_service),
            ("acme.website", &self.website),
        ] {
            if !(value.is_empty() || value.starts_with("https://") || value.starts_with("http://"))
            {
                return Err(ConfigError::invalid(
                    key,
                    format!("{value:?} is not an http(s) URL"),
                ));
            }
        }
        if !(1..=86_400).contains(&self.nonce_ttl_secs) {
            return Err(ConfigError::invalid(
                "acme.nonce_ttl_secs",
                format!("{} is out of range 1..=86400", self.nonce_ttl_secs),
            ));
        }
        if self.nonce_max_used < 100 {
            return Err(ConfigError::invalid(
                "acme.nonce_max_used",
                "must be at least 100",
            ));
        }
        if self.authz_reuse_days > 398 {
            return Err(ConfigError::invalid(
                "acme.authz_reuse_days",
                "must be at most 398",
            ));
        }
        if !(1..=720).contains(&self.authz_pending_hours) {
            return Err(ConfigError::invalid(
                "acme.authz_pending_hours",
                "must be between 1 and 720",
            ));
        }
        if !(1..=90).contains(&self.order_ttl_days) {
            return Err(ConfigError::invalid(
                "acme.order_ttl_days",
                "must be between 1 and 90",
            ));
        }
        if !SENDER_AUTH_MODES.contains(&self.sender_auth.as_str()) {
            return Err(ConfigError::invalid(
                "acme.sender_auth",
                format!(
                    "invalid mode {:?} (expected one of: {})",
                    self.sender_auth,
                    SENDER_AUTH_MODES.join(", ")
                ),
            ));
        }
        if self.sender_auth == "dkim" && self.trusted_authserv_ids.is_empty() {
            return Err(ConfigError::invalid(
                "acme.trusted_authserv_ids",
                "must name at least one authserv-id when acme.sender_auth = \"dkim\"",
            ));
        }
        if !(1..=3600).contains(&self.poll_interval_secs) {
            return Err(ConfigError::invalid(
                "acme.poll_interval_secs",
                "must be between 1 and 3600",
            ));
        }
        if !(1..=1000).contains(&self.orders_page_size) {
            return Err(ConfigError::invalid(
                "acme.orders_page_size",
                "must be between 1 and 1000",
            ));
        }
        if !(1..=3600).contains(&self.retry_after_secs) {
            return Err(ConfigError::invalid(
                "acme.retry_after_secs",
                "must be between 1 and 3600",
            ));
        }
        Ok(())
    }
}
