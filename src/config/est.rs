//! The `[est]` table. Owned by the EST front end: add its settings here (each
//! with a default, a doc comment, an entry in `config/default.toml` and in
//! `docs/CONFIGURATION.md`).

use serde::{Deserialize, Serialize};

/// EST front-end settings (`[est]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EstConfig {
    /// Retry-After (seconds) sent with `202 Accepted` while a request waits
    /// for an administrator's approval (1 to 86400).
    pub retry_after_secs: u32,
    /// Send `Content-Transfer-Encoding: base64` on PKCS#7 and CSR-attribute
    /// responses (RFC 8951 leaves it optional; older clients expect it).
    pub send_transfer_encoding: bool,
    /// Line length of base64 response bodies (0: a single line; otherwise a
    /// multiple of 4 between 4 and 76).
    pub base64_line_length: usize,
    /// RFC 7030 section 3.5 channel binding with the RFC 9266 `tls-exporter`
    /// value (base64) in the CSR's challengePassword: "if-present" (verify a
    /// challengePassword when the CSR has one), "required" (every CSR must
    /// carry it), or "off" (ignore challengePassword).
    pub channel_binding: String,
}

/// Accepted values of `est.channel_binding`.
pub const CHANNEL_BINDING_MODES: &[&str] = &["if-present", "required", "off"];

impl Default for EstConfig {
    fn default() -> Self {
        EstConfig {
            retry_after_secs: 60,
            send_transfer_encoding: true,
            base64_line_length: 64,
            channel_binding: "if-present".into(),
        }
    }
}

impl EstConfig {
    pub(super) fn validate(&self) -> Result<(), super::ConfigError> {
        if self.retry_after_secs == 0 || self.retry_after_secs > 86_400 {
            return Err(super::ConfigError::invalid(
                "est.retry_after_secs",
                format!("must be between 1 and 86400, not {}", self.retry_after_secs),
            ));
        }
        let n = self.base64_line_length;
        if n != 0 && (n % 4 != 0 || n > 76) {
            return Err(super::ConfigError::invalid(
                "est.base64_line_length",
                format!("must be 0 or a multiple of 4 up to 76, not {n}"),
            ));
        }
        if !CHANNEL_BINDING_MODES.contains(&self.channel_binding.as_str()) {
            return Err(super::ConfigError::invalid(
                "est.channel_binding",
                format!(
                    "{:?} is not one of {}",
                    self.channel_binding,
                    CHANNEL_BINDING_MODES.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_bad_values_name_the_key() {
        assert!(EstConfig::default().validate().is_ok());
        let bad = EstConfig {
            retry_after_secs: 0,
            ..EstConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("est.retry_after_secs"));
        let bad = EstConfig {
            base64_line_length: 70,
            ..EstConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("est.base64_line_length"));
        let bad = EstConfig {
            channel_binding: "sometimes".into(),
            ..EstConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("est.channel_binding"));
    }
}
