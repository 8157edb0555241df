//! Attestation policy: what a certificate profile demands of key attestation, and
//! the decision over the facts the verifiers (`va::attestation`) report.
//!
//! The verifiers say what the evidence proves; [`decide`] says whether that is
//! enough for the profile, with a precise [`AttestationRefusal`] otherwise.
//! Front ends pass the finalize payload's evidence, or, when there is none,
//! `va::attestation::evidence_from_csr(&csr)`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::csr::Csr;
use crate::va::attestation::{
    self, AttestationError, AttestationFacts, Evidence, Format, KeyOrigin, PinPolicy, TouchPolicy,
    TrustStore,
};

/// The attestation requirements of a certificate profile. Every knob has a
/// serde default, so stored profiles from older versions keep loading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttestationPolicy {
    /// Whether a CSR must come with verified key attestation.
    pub required: bool,
    /// Accepted formats (empty = every supported format): yubikey-piv,
    /// yubihsm2, thales-luna, google-cloud-hsm (alias marvell), fortanix-dsm.
    pub formats: Vec<String>,
    /// Minimum firmware per format, e.g. `{"yubikey-piv": "5.7.4"}`.
    pub min_firmware: BTreeMap<String, String>,
    /// Accept YubiKey slots whose PIN policy is "never" (or the unverifiable
    /// "default"). Off by default: a code-signing key must need its PIN.
    pub allow_pin_policy_never: bool,
    /// Require a touch policy of "always" or "cached" (only YubiKeys state
    /// one, so this limits the profile to YubiKeys).
    pub require_touch: bool,
    /// Require a FIPS device (YubiKey FIPS, YubiHSM in FIPS mode, Cloud HSM
    /// in FIPS mode).
    pub require_fips: bool,
    /// Accept YubiHSM keys with the exportable-under-wrap capability.
    pub allow_exportable_under_wrap: bool,
    /// Accept keys not generated on the device (imported Cloud HSM / YubiHSM
    /// keys, statements without the generated-in-DSM claim).
    pub allow_imported_keys: bool,
    /// Accept keys the device reports as extractable (or does not claim to be
    /// never-extractable).
    pub allow_extractable: bool,
    /// Refuse point-in-time statements (Fortanix) older than this.
    pub max_statement_age_days: Option<u32>,
}

impl Default for AttestationPolicy {
    fn default() -> Self {
        AttestationPolicy {
            required: true,
            formats: Vec::new(),
            min_firmware: BTreeMap::new(),
            allow_pin_policy_never: false,
            require_touch: false,
            require_fips: false,
            allow_exportable_under_wrap: false,
            allow_imported_keys: false,
            allow_extractable: false,
            max_statement_age_days: None,
        }
    }
}

/// Why the RA refuses a CSR's attestation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AttestationRefusal {
    #[error("the profile requires key attestation but none was provided")]
    Missing,
    #[error("attestation format {format} is not accepted by the profile (accepted: {accepted})")]
    FormatNotAccepted { format: Format, accepted: String },
    #[error("attestation evidence rejected: {0}")]
    Invalid(#[from] AttestationError),
    #[error(
        "the attested key (SPKI SHA-256 {attested}) is not the CSR's key (SPKI SHA-256 {csr})"
    )]
    KeyMismatch { attested: String, csr: String },
    #[error(
        "{format} firmware {found} is older than the minimum {minimum} required by the profile"
    )]
    FirmwareTooOld {
        format: Format,
        found: String,
        minimum: String,
    },
    #[error("the profile requires {format} firmware {minimum} or later but the evidence does not state the firmware")]
    FirmwareUnknown { format: Format, minimum: String },
    #[error("PIN policy '{found}' is not accepted: the key must require its PIN")]
    PinPolicy { found: String },
    #[error(
        "touch policy '{found}' is not accepted: the profile requires touch (always or cached)"
    )]
    TouchPolicy { found: String },
    #[error("the profile requires a FIPS device; the evidence {found}")]
    NotFips { found: String },
    #[error("the key is exportable under wrap (YubiHSM capability exportable-under-wrap)")]
    ExportableUnderWrap,
    #[error("the key was not generated on the device (origin: {origin})")]
    NotGeneratedOnDevice { origin: String },
    #[error("the key is not protected against extraction: {reason}")]
    Extractable { reason: String },
    #[error(
        "the attestation statement is {age_days} days old; the profile accepts at most {max_days}"
    )]
    TooOld { age_days: i64, max_days: u32 },
    #[error("invalid attestation policy: {0}")]
    BadPolicy(String),
}

impl AttestationRefusal {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            AttestationRefusal::Missing => "attestation-missing",
            AttestationRefusal::FormatNotAccepted { .. } => "attestation-format-not-accepted",
            AttestationRefusal::Invalid(_) => "attestation-invalid",
            AttestationRefusal::KeyMismatch { .. } => "attestation-key-mismatch",
            AttestationRefusal::FirmwareTooOld { .. } => "attestation-firmware-too-old",
            AttestationRefusal::FirmwareUnknown { .. } => "attestation-firmware-unknown",
            AttestationRefusal::PinPolicy { .. } => "attestation-pin-policy",
            AttestationRefusal::TouchPolicy { .. } => "attestation-touch-policy",
            AttestationRefusal::NotFips { .. } => "attestation-not-fips",
            AttestationRefusal::ExportableUnderWrap => "attestation-exportable-under-wrap",
            AttestationRefusal::NotGeneratedOnDevice { .. } => "attestation-key-not-generated",
            AttestationRefusal::Extractable { .. } => "attestation-key-extractable",
            AttestationRefusal::TooOld { .. } => "attestation-too-old",
            AttestationRefusal::BadPolicy(_) => "attestation-bad-policy",
        }
    }
}

/// Parses "5.7.4" into comparable parts.
fn parse_version(v: &str) -> Option<Vec<u32>> {
    let parts: Option<Vec<u32>> = v.trim().split('.').map(|p| p.parse().ok()).collect();
    parts.filter(|p| !p.is_empty())
}

impl AttestationPolicy {
    /// Checks format names and firmware versions (call when a profile is
    /// created; [`decide`] checks again).
    pub fn validate(&self) -> Result<(), String> {
        for f in &self.formats {
            if Format::from_name(f).is_none() {
                return Err(format!("unknown attestation format '{f}'"));
            }
        }
        for (f, v) in &self.min_firmware {
            if Format::from_name(f).is_none() {
                return Err(format!("min_firmware: unknown attestation format '{f}'"));
            }
            if parse_version(v).is_none() {
                return Err(format!(
                    "min_firmware.{f}: '{v}' is not a version like 5.7.4"
                ));
            }
        }
        Ok(())
    }

    fn accepts(&self, format: Format) -> bool {
        self.formats.is_empty()
            || self
                .formats
                .iter()
                .any(|f| Format::from_name(f) == Some(format))
    }

    fn min_firmware_for(&self, format: Format) -> Option<&str> {
        self.min_firmware
            .iter()
            .find(|(f, _)| Format::from_name(f) == Some(format))
            .map(|(_, v)| v.as_str())
    }
}

fn origin_name(o: KeyOrigin) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{o:?}"))
}

/// Decides whether `evidence` satisfies `policy` for a CSR whose DER
/// SubjectPublicKeyInfo is `csr_spki`. Returns the verified facts (to store
/// with the certificate), `None` when attestation is optional and absent.
///
/// Evidence that is supplied is always verified, bound to the CSR key and
/// held to the profile's knobs, even when attestation is optional.
pub fn decide(
    policy: &AttestationPolicy,
    csr_spki: &[u8],
    evidence: Option<&Evidence>,
    store: &TrustStore,
    now: OffsetDateTime,
) -> Result<Option<AttestationFacts>, AttestationRefusal> {
    policy.validate().map_err(AttestationRefusal::BadPolicy)?;
    let Some(evidence) = evidence else {
        return if policy.required {
            Err(AttestationRefusal::Missing)
        } else {
            Ok(None)
        };
    };
    if !policy.accepts(evidence.format) {
        return Err(AttestationRefusal::FormatNotAccepted {
            format: evidence.format,
            accepted: policy.formats.join(", "),
        });
    }
    let facts = attestation::verify(evidence, store, now)?;
    check_facts(policy, csr_spki, &facts, now)?;
    Ok(Some(facts))
}

/// [`decide`] for a parsed CSR: the evidence from the request payload when
/// there is one, otherwise the YubiKey attestation carried in the CSR.
pub fn decide_for_csr(
    policy: &AttestationPolicy,
    csr: &Csr,
    payload_evidence: Option<&Evidence>,
    store: &TrustStore,
    now: OffsetDateTime,
) -> Result<Option<AttestationFacts>, AttestationRefusal> {
    let from_csr;
    let evidence = match payload_evidence {
        Some(e) => Some(e),
        None => {
            from_csr = attestation::evidence_from_csr(csr);
            from_csr.as_ref()
        }
    };
    decide(policy, &csr.spki_der, evidence, store, now)
}

/// The policy checks over verified facts (binding first).
pub fn check_facts(
    policy: &AttestationPolicy,
    csr_spki: &[u8],
    facts: &AttestationFacts,
    now: OffsetDateTime,
) -> Result<(), AttestationRefusal> {
    policy.validate().map_err(AttestationRefusal::BadPolicy)?;
    if !policy.accepts(facts.format) {
        return Err(AttestationRefusal::FormatNotAccepted {
            format: facts.format,
            accepted: policy.formats.join(", "),
        });
    }
    // Binding: the attested key must be the CSR key, byte for byte.
    if facts.attested_spki_der != csr_spki {
        return Err(AttestationRefusal::KeyMismatch {
            attested: facts.attested_spki_sha256.clone(),
            csr: hex::encode(
                aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, csr_spki).as_ref(),
            ),
        });
    }
    if !policy.allow_imported_keys && facts.key_origin != KeyOrigin::Generated {
        return Err(AttestationRefusal::NotGeneratedOnDevice {
            origin: origin_name(facts.key_origin),
        });
    }
    if !policy.allow_exportable_under_wrap && facts.exportable_under_wrap == Some(true) {
        return Err(AttestationRefusal::ExportableUnderWrap);
    }
    if !policy.allow_extractable {
        if facts.extractable == Some(true) {
            return Err(AttestationRefusal::Extractable {
                reason: "the device reports the key as extractable".into(),
            });
        }
        if facts.never_extractable == Some(false) && facts.exportable_under_wrap != Some(true) {
            return Err(AttestationRefusal::Extractable {
                reason: "the evidence does not claim the key is never extractable".into(),
            });
        }
    }
    if policy.require_fips && facts.fips != Some(true) {
        return Err(AttestationRefusal::NotFips {
            found: match facts.fips {
                Some(false) => "says the device is not a FIPS device".into(),
                _ => "does not state FIPS status".into(),
            },
        });
    }
    if let Some(pin) = facts.pin_policy {
        let ok = match pin {
            PinPolicy::Once | PinPolicy::Always | PinPolicy::MatchOnce | PinPolicy::MatchAlways => {
                true
            }
            PinPolicy::Never | PinPolicy::Default | PinPolicy::Unknown => {
                policy.allow_pin_policy_never
            }
        };
        if !ok {
            return Err(AttestationRefusal::PinPolicy {
                found: serde_json::to_value(pin)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
            });
        }
    }
    if policy.require_touch
        && !matches!(
            facts.touch_policy,
            Some(TouchPolicy::Always | TouchPolicy::Cached)
        )
    {
        return Err(AttestationRefusal::TouchPolicy {
            found: match facts.touch_policy {
                Some(t) => serde_json::to_value(t)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default(),
                None => "not stated".into(),
            },
        });
    }
    if let Some(min) = policy.min_firmware_for(facts.format) {
        let minimum = parse_version(min)
            .ok_or_else(|| AttestationRefusal::BadPolicy(format!("bad version {min}")))?;
        let Some(found) = facts.firmware.as_deref() else {
            return Err(AttestationRefusal::FirmwareUnknown {
                format: facts.format,
                minimum: min.to_string(),
            });
        };
        let ok = parse_version(found).is_some_and(|v| v >= minimum);
        if !ok {
            return Err(AttestationRefusal::FirmwareTooOld {
                format: facts.format,
                found: found.to_string(),
                minimum: min.to_string(),
            });
        }
    }
    if let (Some(max_days), Some(at)) = (policy.max_statement_age_days, facts.attested_at) {
        let age_days = (now - at).whole_days();
        if age_days > i64::from(max_days) {
            return Err(AttestationRefusal::TooOld { age_days, max_days });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> AttestationFacts {
        let spki = vec![0x30, 0x03, 0x01, 0x02, 0x03];
        let mut f: AttestationFacts = serde_json::from_value(serde_json::json!({
            "format": "yubikey-piv",
            "vendor": "Yubico",
            "attested_spki_der": "MAMBAgM=",
            "attested_spki_sha256": "x",
            "attested_key": "ECDSA P-256",
            "device_serial": "1", "firmware": "5.4.3", "key_id": "9a", "key_label": null,
            "pin_policy": "once", "touch_policy": "never", "form_factor": null,
            "fips": false, "cspn": false, "key_origin": "generated",
            "exportable_under_wrap": null, "extractable": false, "never_extractable": true,
            "chain_subjects": [], "trust_anchor_sha256": []
        }))
        .unwrap();
        assert_eq!(f.attested_spki_der, spki);
        f.attested_spki_der = spki;
        f
    }

    const NOW: OffsetDateTime = time::macros::datetime!(2026-11-21 00:00 UTC);
    const SPKI: &[u8] = &[0x30, 0x03, 0x01, 0x02, 0x03];

    #[test]
    fn defaults_and_old_json_load() {
        let p: AttestationPolicy =
            serde_json::from_str(r#"{"required":false,"formats":["yubikey-piv"]}"#).unwrap();
        assert!(!p.required);
        assert!(!p.require_fips && !p.allow_pin_policy_never && !p.allow_imported_keys);
        let p: AttestationPolicy = serde_json::from_str("{}").unwrap();
        assert!(p.required);
    }

    #[test]
    fn validate_rejects_unknown_names_and_versions() {
        let mut p = AttestationPolicy {
            formats: vec!["tpm".into()],
            ..Default::default()
        };
        assert!(p.validate().is_err());
        p.formats = vec!["marvell".into()];
        assert!(p.validate().is_ok());
        p.min_firmware.insert("yubikey-piv".into(), "five".into());
        assert!(p.validate().is_err());
    }

    #[test]
    fn missing_and_optional() {
        let store = TrustStore::empty();
        let p = AttestationPolicy::default();
        assert_eq!(
            decide(&p, SPKI, None, &store, NOW).unwrap_err(),
            AttestationRefusal::Missing
        );
        let p = AttestationPolicy {
            required: false,
            ..Default::default()
        };
        assert_eq!(decide(&p, SPKI, None, &store, NOW).unwrap(), None);
    }

    #[test]
    fn binding_is_byte_for_byte() {
        let p = AttestationPolicy::default();
        assert!(check_facts(&p, SPKI, &facts(), NOW).is_ok());
        let e = check_facts(&p, &[0x30, 0x03, 0x01, 0x02, 0x04], &facts(), NOW).unwrap_err();
        assert_eq!(e.code(), "attestation-key-mismatch");
    }

    #[test]
    fn knobs() {
        let p = AttestationPolicy::default();
        let mut f = facts();
        f.pin_policy = Some(PinPolicy::Never);
        assert_eq!(
            check_facts(&p, SPKI, &f, NOW).unwrap_err().code(),
            "attestation-pin-policy"
        );
        f.pin_policy = Some(PinPolicy::Default);
        assert_eq!(
            check_facts(&p, SPKI, &f, NOW).unwrap_err().code(),
            "attestation-pin-policy"
        );
        let lax = AttestationPolicy {
            allow_pin_policy_never: true,
            ..Default::default()
        };
        assert!(check_facts(&lax, SPKI, &f, NOW).is_ok());

        let touch = AttestationPolicy {
            require_touch: true,
            ..Default::default()
        };
        assert_eq!(
            check_facts(&touch, SPKI, &facts(), NOW).unwrap_err().code(),
            "attestation-touch-policy"
        );
        let mut f = facts();
        f.touch_policy = Some(TouchPolicy::Cached);
        assert!(check_facts(&touch, SPKI, &f, NOW).is_ok());

        let fips = AttestationPolicy {
            require_fips: true,
            ..Default::default()
        };
        assert_eq!(
            check_facts(&fips, SPKI, &facts(), NOW).unwrap_err().code(),
            "attestation-not-fips"
        );

        let mut fw = AttestationPolicy::default();
        fw.min_firmware.insert("yubikey-piv".into(), "5.7.4".into());
        let e = check_facts(&fw, SPKI, &facts(), NOW).unwrap_err();
        assert_eq!(e.code(), "attestation-firmware-too-old");
        fw.min_firmware.insert("yubikey-piv".into(), "5.4.3".into());
        assert!(check_facts(&fw, SPKI, &facts(), NOW).is_ok());
        let mut f = facts();
        f.firmware = None;
        assert_eq!(
            check_facts(&fw, SPKI, &f, NOW).unwrap_err().code(),
            "attestation-firmware-unknown"
        );
        // 5.10.0 > 5.7.4 (numeric, not lexical).
        fw.min_firmware.insert("yubikey-piv".into(), "5.7.4".into());
        let mut f = facts();
        f.firmware = Some("5.10.0".into());
        assert!(check_facts(&fw, SPKI, &f, NOW).is_ok());

        let mut f = facts();
        f.key_origin = KeyOrigin::Imported;
        assert_eq!(
            check_facts(&p, SPKI, &f, NOW).unwrap_err().code(),
            "attestation-key-not-generated"
        );
        let mut f = facts();
        f.exportable_under_wrap = Some(true);
        f.never_extractable = Some(false);
        assert_eq!(
            check_facts(&p, SPKI, &f, NOW).unwrap_err().code(),
            "attestation-exportable-under-wrap"
        );
        let wrap_ok = AttestationPolicy {
            allow_exportable_under_wrap: true,
            ..Default::default()
        };
        assert!(check_facts(&wrap_ok, SPKI, &f, NOW).is_ok());
        let mut f = facts();
        f.extractable = Some(true);
        assert_eq!(
            check_facts(&p, SPKI, &f, NOW).unwrap_err().code(),
            "attestation-key-extractable"
        );
        let mut f = facts();
        f.extractable = None;
        f.never_extractable = Some(false);
        assert_eq!(
            check_facts(&p, SPKI, &f, NOW).unwrap_err().code(),
            "attestation-key-extractable"
        );

        let only_hsm = AttestationPolicy {
            formats: vec!["yubihsm2".into()],
            ..Default::default()
        };
        assert_eq!(
            check_facts(&only_hsm, SPKI, &facts(), NOW)
                .unwrap_err()
                .code(),
            "attestation-format-not-accepted"
        );

        let age = AttestationPolicy {
            max_statement_age_days: Some(30),
            ..Default::default()
        };
        let mut f = facts();
        f.attested_at = Some(time::macros::datetime!(2026-01-01 00:00 UTC));
        assert_eq!(
            check_facts(&age, SPKI, &f, NOW).unwrap_err().code(),
            "attestation-too-old"
        );
        f.attested_at = Some(time::macros::datetime!(2026-11-01 00:00 UTC));
        assert!(check_facts(&age, SPKI, &f, NOW).is_ok());
    }
}
