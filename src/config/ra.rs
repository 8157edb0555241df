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
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(path) = &self.blocked_keys_file {
            crate::ra::blocklist::BlockedKeys::load(path)
                .map_err(|e| ConfigError::invalid("ra.blocked_keys_file", e))?;
        }
        Ok(())
    }

    /// The operator's blocklist (empty without `ra.blocked_keys_file`).
    pub fn blocked_keys(&self) -> Result<crate::ra::blocklist::BlockedKeys, ConfigError> {
        match &self.blocked_keys_file {
            Some(path) => crate::ra::blocklist::BlockedKeys::load(path)
                .map_err(|e| ConfigError::invalid("ra.blocked_keys_file", e)),
            None => Ok(Default::default()),
        }
    }
}
