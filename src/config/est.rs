//! The `[est]` table. Owned by the EST front end: add its settings here (each
//! with a default, a doc comment, an entry in `config/default.toml` and in
//! `docs/CONFIGURATION.md`).

use serde::{Deserialize, Serialize};

/// EST front-end settings (`[est]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EstConfig {}

impl EstConfig {
    pub(super) fn validate(&self) -> Result<(), super::ConfigError> {
        Ok(())
    }
}
