//! Registration-authority settings (`[ra]`).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use super::ConfigError;

/// `[ra]`: policy inputs the RA reads at start-up.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RaConfig {
    /// Keys known to be compromised, refused for every request besides the
    /// ones blocked by keyCompromise revocations: a text file with one
    /// SHA-256 of a DER SubjectPublicKeyInfo per line (64 hex digits; `#`
    /// starts a comment line; text after the hash is ignored).
    pub blocked_keys_file: Option<PathBuf>,
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
        Ok(())
    }
}
