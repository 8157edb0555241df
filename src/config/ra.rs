//! Registration-authority settings (`[ra]`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::ConfigError;

/// The longest renewal grace period accepted (a year): the renewed
/// certificate stays valid next to its renewal that long.
pub const MAX_RENEWAL_GRACE_HOURS: u32 = 8760;

/// `[ra]`: policy inputs the RA reads at start-up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaConfig {
    /// Keys known to be compromised, refused for every request besides the
    /// ones blocked by keyCompromise revocations: a text file with one
    /// SHA-256 of a DER SubjectPublicKeyInfo per line (64 hex digits; `#`
    /// starts a comment line; text after the hash is ignored).
    pub blocked_keys_file: Option<PathBuf>,
    /// Hours a renewed certificate stays valid after its renewal (EST
    /// simplereenroll, ACME `replaces`) so the holder can switch; then it is
    /// revoked with reason `superseded`. 0 supersedes at once (0 to 8760).
    pub renewal_grace_hours: u32,
}

impl Default for RaConfig {
    fn default() -> Self {
        RaConfig {
            blocked_keys_file: None,
            renewal_grace_hours: 24,
        }
    }
}

impl RaConfig {
    /// The file must be readable; its lines are the RA's to judge (the
    /// server's start loads it with `ra::blocklist` and names this key and
    /// the line of an error).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(path) = &self.blocked_keys_file {
            std::fs::File::open(path).map_err(|e| {
                ConfigError::invalid("ra.blocked_keys_file", format!("{}: {e}", path.display()))
            })?;
        }
        if self.renewal_grace_hours > MAX_RENEWAL_GRACE_HOURS {
            return Err(ConfigError::invalid(
                "ra.renewal_grace_hours",
                format!(
                    "must be between 0 and {MAX_RENEWAL_GRACE_HOURS}, not {}",
                    self.renewal_grace_hours
                ),
            ));
        }
        Ok(())
    }
}
