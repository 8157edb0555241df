//! Revocation: one path for ACME revokeCert, the admin CLI/API and EST.

use serde_json::json;

use super::{Ra, RaError};
use crate::storage::model::{CertificateRecord, Revocation};
use crate::storage::StorageError;

/// RFC 5280 CRLReason codes accepted (7 is unused, 8 removeFromCRL is CRL-only).
pub const REASON_CODES: [u8; 9] = [0, 1, 2, 3, 4, 5, 6, 9, 10];

/// The reason code for keyCompromise.
pub const KEY_COMPROMISE: u8 = 1;

/// Maps a reason name (as the CLI takes it) to its code.
pub fn reason_code(name: &str) -> Option<u8> {
    Some(match name {
        "unspecified" => 0,
        "keyCompromise" | "key-compromise" => 1,
        "cACompromise" | "ca-compromise" => 2,
        "affiliationChanged" | "affiliation-changed" => 3,
        "superseded" => 4,
        "cessationOfOperation" | "cessation-of-operation" => 5,
        "certificateHold" | "certificate-hold" => 6,
        "privilegeWithdrawn" | "privilege-withdrawn" => 9,
        "aACompromise" | "aa-compromise" => 10,
        other => return other.parse().ok().filter(|c| REASON_CODES.contains(c)),
    })
}

impl Ra {
    /// Revokes `serial_hex` with an RFC 5280 reason code. Key compromise
    /// blocks the key for future requests.
    pub fn revoke(
        &self,
        serial_hex: &str,
        reason_code: u8,
        actor: &str,
    ) -> Result<CertificateRecord, RaError> {
        if !REASON_CODES.contains(&reason_code) {
            return Err(RaError::invalid(
                "reason",
                format!("{reason_code} is not an accepted RFC 5280 reason code"),
            ));
        }
        let revocation = Revocation {
            reason_code,
            revoked_at: self.clock.now(),
            revoked_by: actor.to_string(),
        };
        let ev = self.event(
            actor,
            "certificate.revoke",
            json!({"serial": serial_hex, "reason": reason_code}),
        );
        match self.store.revoke_certificate(
            serial_hex,
            &revocation,
            reason_code == KEY_COMPROMISE,
            &ev,
        ) {
            Ok(c) => {
                // the revocation is durable; publish it and tell the holder
                if let Err(e) = self.publish_crl(actor) {
                    tracing::error!(error = %e, "CRL could not be published after a revocation");
                }
                self.notify(
                    &c.email,
                    "Your code-signing certificate has been revoked",
                    format!(
                        "Certificate {} ({}) was revoked (reason code {reason_code}).\n",
                        c.serial, c.subject
                    ),
                );
                Ok(c)
            }
            Err(StorageError::Conflict(_)) => Err(RaError::AlreadyRevoked),
            Err(e) => Err(RaError::from_store(e)),
        }
    }

    pub fn certificate(&self, serial_hex: &str) -> Result<CertificateRecord, RaError> {
        self.store
            .get_certificate(&serial_hex.to_ascii_lowercase())?
            .ok_or_else(|| RaError::NotFound(format!("certificate {serial_hex:?}")))
    }
}
