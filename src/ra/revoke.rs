//! Revocation: one path for ACME revokeCert, the admin CLI/API and EST.
//!
//! Reasons (CS BRs §4.9.13, §7.2.2, RFC 5280 §5.3.1): every certificate
//! Signet revokes is a subscriber (code-signing) certificate, so only the
//! subscriber reasons are accepted: unspecified (0, encoded by omitting the
//! entry extension), keyCompromise (1), affiliationChanged (3), superseded
//! (4), cessationOfOperation (5) and privilegeWithdrawn (9). certificateHold
//! (6) is refused everywhere (the BRs forbid suspension), cACompromise (2)
//! and aACompromise (10) name CA and attribute-authority certificates only.
//!
//! Invalidity (CS BRs §4.9.1, §7.2): for a key compromise or code signed
//! with the certificate that is suspect (recorded as privilegeWithdrawn),
//! the CA may say from when the certificate is to be considered invalid
//! (`invalid_since`): signatures timestamped earlier stay trusted. It is
//! recorded with the revocation, in its audit record, and in the CRL entry
//! both as the revocationDate and as the RFC 5280 invalidityDate extension
//! (see docs/OPERATIONS.md, "Revocation dates").

use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{Ra, RaError};
use crate::storage::model::{CertificateRecord, Revocation};
use crate::storage::{RevocationScope, StorageError};

/// The RFC 5280 CRLReason codes accepted for subscriber certificates (CS BRs §7.2.2).
pub const REASON_CODES: [u8; 6] = [0, 1, 3, 4, 5, 9];

/// The reason code for keyCompromise.
pub const KEY_COMPROMISE: u8 = 1;
/// The reason code for superseded.
pub const SUPERSEDED: u8 = 4;
/// The reason code for privilegeWithdrawn (also used for suspect code).
pub const PRIVILEGE_WITHDRAWN: u8 = 9;

/// Maps a reason name (as the CLI and the admin API take it) or a number to
/// its RFC 5280 code, also for reasons the RA then refuses (so the refusal
/// can say why).
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
        other => return other.parse().ok().filter(|c| *c <= 10 && *c != 7),
    })
}

/// Why `code` may not be used to revoke a subscriber certificate, if it may not.
pub fn subscriber_reason_refusal(code: u8) -> Option<String> {
    match code {
        c if REASON_CODES.contains(&c) => None,
        6 => Some(
            "certificateHold (6) is not accepted: code-signing certificates cannot be \
             suspended (CS BRs §4.9.13); revoke them for good with another reason"
                .into(),
        ),
        2 => Some(
            "cACompromise (2) applies to CA certificates only; this is a subscriber certificate"
                .into(),
        ),
        10 => Some(
            "aACompromise (10) applies to attribute authority certificates only; this is a \
             subscriber certificate"
                .into(),
        ),
        8 => Some("removeFromCRL (8) is used only in delta CRLs, not to revoke".into()),
        other => Some(format!(
            "{other} is not an accepted RFC 5280 reason code for a subscriber certificate \
             (accepted: 0 unspecified, 1 keyCompromise, 3 affiliationChanged, 4 superseded, \
             5 cessationOfOperation, 9 privilegeWithdrawn)"
        )),
    }
}

/// A revocation as asked for.
#[derive(Debug, Clone, Default)]
pub struct RevocationOrder {
    /// RFC 5280 CRLReason code.
    pub reason_code: u8,
    /// keyCompromise or suspect code (privilegeWithdrawn): from when the
    /// certificate is to be considered invalid (not in the future, not
    /// before its notBefore).
    pub invalid_since: Option<OffsetDateTime>,
    /// keyCompromise: also revoke every certificate renewed from this one,
    /// transitively (its lineage, `ra/lineage.rs`), for keyCompromise too.
    pub lineage: bool,
}

/// What a revocation revoked.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub certificate: CertificateRecord,
    /// The certificates renewed from it that were revoked with it (nearest first).
    pub descendants: Vec<CertificateRecord>,
}

impl RevocationOrder {
    pub fn reason(reason_code: u8) -> RevocationOrder {
        RevocationOrder {
            reason_code,
            ..RevocationOrder::default()
        }
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
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
        self.revoke_as(serial_hex, &RevocationOrder::reason(reason_code), actor)
            .map(|r| r.certificate)
    }

    /// Revokes `serial_hex` as `order` says (reason, invalidity date,
    /// lineage), in one change set with its audit record. A keyCompromise
    /// revocation may follow an earlier one for another reason (a superseded
    /// certificate whose key turns out compromised); any other second
    /// revocation is refused.
    pub fn revoke_as(
        &self,
        serial_hex: &str,
        order: &RevocationOrder,
        actor: &str,
    ) -> Result<Revoked, RaError> {
        let reason_code = order.reason_code;
        if let Some(why) = subscriber_reason_refusal(reason_code) {
            return Err(RaError::invalid("reason", why));
        }
        if order.lineage && reason_code != KEY_COMPROMISE {
            return Err(RaError::invalid(
                "lineage",
                "revoking the certificates renewed from this one goes with keyCompromise (1) only",
            ));
        }
        let serial_hex = super::lookup::serial_ref("serial", serial_hex)?;
        let now = self.clock.now();
        if let Some(since) = order.invalid_since {
            let cert = self.certificate(&serial_hex)?;
            check_invalid_since(since, reason_code, &cert, now)?;
        }
        let revocation = Revocation {
            reason_code,
            revoked_at: now,
            revoked_by: actor.to_string(),
            invalid_since: order.invalid_since,
        };
        let ev = self.event(
            actor,
            "certificate.revoke",
            json!({"serial": serial_hex, "reason": reason_code,
                   "invalid_since": order.invalid_since.map(rfc3339),
                   "lineage": order.lineage}),
        );
        let scope = if order.lineage {
            RevocationScope::WithDescendants
        } else {
            RevocationScope::Certificate
        };
        match self
            .store
            .revoke_certificates(&serial_hex, &revocation, scope, &ev)
        {
            Ok(mut revoked) if !revoked.is_empty() => {
                // the revocation is durable; publish it and tell the holders
                if let Err(e) = self.publish_crl(actor) {
                    tracing::error!(error = %e, "CRL could not be published after a revocation");
                }
                for c in &revoked {
                    self.notify(
                        &c.email,
                        "Your code-signing certificate has been revoked",
                        format!(
                            "Certificate {} ({}) was revoked (reason code {reason_code}).\n",
                            c.serial, c.subject
                        ),
                    );
                }
                let certificate = revoked.remove(0);
                Ok(Revoked {
                    certificate,
                    descendants: revoked,
                })
            }
            Ok(_) | Err(StorageError::Conflict(_)) => Err(RaError::AlreadyRevoked),
            Err(e) => Err(RaError::from_store(e)),
        }
    }

    pub fn certificate(&self, serial_hex: &str) -> Result<CertificateRecord, RaError> {
        self.store
            .get_certificate(&super::lookup::serial_ref("serial", serial_hex)?)?
            .ok_or_else(|| RaError::NotFound(format!("certificate {serial_hex:?}")))
    }
}

/// An invalidity date must name a key compromise or suspect code, lie in
/// the past (or now) and within the certificate's life.
fn check_invalid_since(
    since: OffsetDateTime,
    reason_code: u8,
    cert: &CertificateRecord,
    now: OffsetDateTime,
) -> Result<(), RaError> {
    if reason_code != KEY_COMPROMISE && reason_code != PRIVILEGE_WITHDRAWN {
        return Err(RaError::invalid(
            "invalid_since",
            "an invalidity date is accepted with keyCompromise (1) or, for suspect code, \
             privilegeWithdrawn (9) only",
        ));
    }
    if since > now {
        return Err(RaError::invalid(
            "invalid_since",
            format!(
                "{} is in the future (now is {})",
                rfc3339(since),
                rfc3339(now)
            ),
        ));
    }
    if since < cert.not_before {
        return Err(RaError::invalid(
            "invalid_since",
            format!(
                "{} is before the certificate's notBefore {}",
                rfc3339(since),
                rfc3339(cert.not_before)
            ),
        ));
    }
    Ok(())
}
