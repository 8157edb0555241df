//! Attestation policy: what a certificate profile demands of key attestation, and
//! the decision over the facts the verifiers (`va::attestation`) report.

use serde::{Deserialize, Serialize};

/// The attestation requirements of a certificate profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttestationPolicy {
    /// Whether a CSR must come with verified key attestation.
    pub required: bool,
    /// Accepted formats (empty = every supported format).
    pub formats: Vec<String>,
}

impl Default for AttestationPolicy {
    fn default() -> Self {
        AttestationPolicy {
            required: true,
            formats: Vec::new(),
        }
    }
}
