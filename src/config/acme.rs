//! The `[acme]` table. Owned by the ACME front end: add its settings here
//! (each with a default, a doc comment, an entry in `config/default.toml` and
//! in `docs/CONFIGURATION.md`).

use serde::{Deserialize, Serialize};

/// ACME front-end settings (`[acme]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AcmeConfig {}

impl AcmeConfig {
    pub(super) fn validate(&self) -> Result<(), super::ConfigError> {
        Ok(())
    }
}
