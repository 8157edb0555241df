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
}

impl Default for EstConfig {
    fn default() -> Self {
        EstConfig {
            retry_after_secs: 60,
            send_transfer_encoding: true,
            base64_line_length: 64,
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
    }
}
