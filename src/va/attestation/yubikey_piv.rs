//! YubiKey PIV attestation.
//!
//! Structure (fixed by the format): the slot attestation certificate
//! (`CN=YubiKey PIV Attestation <slot>`, whose key IS the attested key) is
//! signed by the device's f9 certificate (`CN=Yubico PIV Attestation`, or
//! `CN=YubiKey PIV Attestation` on firmware >= 5.7.4), which is signed
//! DIRECTLY by a pinned Yubico PIV CA: `Yubico PIV Root CA Serial 263751`
//! (old hierarchy) or `Yubico PIV Attestation A 1 / B 1 / B2 1` (new
//! hierarchy, chaining through `Yubico Attestation Intermediate A/B 1` to
//! `Yubico Attestation Root 1`). Intermediates are never taken from the
//! evidence for this format: all Yubico PIV CAs are pinned, and a Yubico key
//! that can sign arbitrary data (another slot key, an OpenPGP or YubiHSM key
//! with a genuine Yubico certificate) must never be usable as an issuer.
//!
//! Quirk decisions (docs/ATTESTATION.md):
//! - f9 certificates of old YubiKey 4 devices carry no basicConstraints: the
//!   device position is defined by the format, so this is tolerated there
//!   only, and only when the f9 certificate is issued directly by a pinned
//!   anchor (`yubikey-device-cert-without-basic-constraints`).
//! - 2018 YubiKey 4 f9 certificates signed by the Yubico U2F root: rejected by
//!   default (the U2F root is not a PIV root); an operator who pins the U2F
//!   root under `yubikey-piv/` accepts them (`yubikey-device-cert-issued-by-u2f-root`).
//! - Preview (engineering sample) CAs are never trusted.

use time::OffsetDateTime;

use super::cert::{Cert, KeyAlg};
use super::chain::{self, PathParams};
use super::der;
use super::trust::TrustFamily;
use super::{
    AttestationError, AttestationFacts, Format, KeyOrigin, PinPolicy, TouchPolicy, TrustStore,
};

const FORMAT: Format = Format::YubikeyPiv;

pub const OID_FIRMWARE: &str = "1.3.6.1.4.1.41482.3.3";
pub const OID_SERIAL: &str = "1.3.6.1.4.1.41482.3.7";
pub const OID_POLICY: &str = "1.3.6.1.4.1.41482.3.8";
pub const OID_FORM_FACTOR: &str = "1.3.6.1.4.1.41482.3.9";
pub const OID_FIPS: &str = "1.3.6.1.4.1.41482.3.10";
pub const OID_CSPN: &str = "1.3.6.1.4.1.41482.3.11";

const DEVICE_CNS: [&str; 2] = ["Yubico PIV Attestation", "YubiKey PIV Attestation"];

/// The PIV slot named by a slot attestation certificate's CN
/// (`YubiKey PIV Attestation 9a` -> `9a`).
pub fn slot_from_cn(cn: &str) -> Option<String> {
    let slot = cn.strip_prefix("YubiKey PIV Attestation ")?;
    if slot.len() == 2 && slot.chars().all(|c| c.is_ascii_hexdigit()) {
        Some(slot.to_ascii_lowercase())
    } else {
        None
    }
}

fn structure(what: impl Into<String>) -> AttestationError {
    AttestationError::Structure {
        format: FORMAT,
        what: what.into(),
    }
}

fn bad_ext(oid: &str, what: &str, reason: impl Into<String>) -> AttestationError {
    AttestationError::BadExtension {
        format: FORMAT,
        oid: oid.into(),
        what: what.into(),
        reason: reason.into(),
    }
}

/// Firmware version from the 3 raw bytes of 1.3.6.1.4.1.41482.3.3.
fn firmware(c: &Cert) -> Result<Option<String>, AttestationError> {
    match c.ext(OID_FIRMWARE) {
        None => Ok(None),
        Some(e) => match e.value.as_slice() {
            [a, b, c] => Ok(Some(format!("{a}.{b}.{c}"))),
            v => Err(bad_ext(
                OID_FIRMWARE,
                "firmware version",
                format!("expected 3 octets, found {}", v.len()),
            )),
        },
    }
}

pub(crate) fn form_factor_name(b: u8) -> String {
    let base = match b & 0x0f {
        0x00 => "unspecified",
        0x01 => "USB-A keychain",
        0x02 => "USB-A nano",
        0x03 => "USB-C keychain",
        0x04 => "USB-C nano",
        0x05 => "USB-C Lightning",
        0x06 => "USB-A Bio",
        0x07 => "USB-C Bio",
        _ => "unknown",
    };
    let mut s = base.to_string();
    if b & 0x80 != 0 {
        s.push_str(" (FIPS)");
    }
    if b & 0x40 != 0 {
        s.push_str(" (CSPN)");
    }
    s
}

fn pin_policy(b: u8) -> PinPolicy {
    match b {
        0 => PinPolicy::Default,
        1 => PinPolicy::Never,
        2 => PinPolicy::Once,
        3 => PinPolicy::Always,
        4 => PinPolicy::MatchOnce,
        5 => PinPolicy::MatchAlways,
        _ => PinPolicy::Unknown,
    }
}

fn touch_policy(b: u8) -> TouchPolicy {
    match b {
        0 => TouchPolicy::Default,
        1 => TouchPolicy::Never,
        2 => TouchPolicy::Always,
        3 => TouchPolicy::Cached,
        _ => TouchPolicy::Unknown,
    }
}

pub(crate) fn verify(
    certs: &[Cert],
    store: &TrustStore,
    now: OffsetDateTime,
) -> Result<AttestationFacts, AttestationError> {
    let leaf = certs.first().ok_or_else(|| AttestationError::Missing {
        format: FORMAT,
        what: "slot attestation certificate".into(),
    })?;
    let leaf_cn = leaf.subject_cn.clone().unwrap_or_default();
    let slot = match slot_from_cn(&leaf_cn) {
        Some(s) => s,
        None if DEVICE_CNS.contains(&leaf_cn.as_str()) => {
            return Err(AttestationError::Missing {
                format: FORMAT,
                what: format!(
                    "slot attestation certificate: the first certificate is the f9 device certificate '{}'",
                    leaf.subject
                ),
            })
        }
        None => {
            return Err(structure(format!(
                "the first certificate '{}' is not a slot attestation certificate (CN=YubiKey PIV Attestation <slot>)",
                leaf.subject
            )))
        }
    };
    if let Some(other) = certs[1..]
        .iter()
        .find(|c| c.subject_cn.as_deref().and_then(slot_from_cn).is_some())
    {
        return Err(structure(format!(
            "more than one slot attestation certificate ('{}' and '{}'); a slot certificate cannot act as the device certificate",
            leaf.subject, other.subject
        )));
    }
    if leaf.is_ca() {
        return Err(structure(format!(
            "slot attestation certificate '{}' claims to be a CA",
            leaf.subject
        )));
    }
    chain::check_valid(leaf, now)?;

    // The device (f9) certificate: from the evidence, named by the leaf.
    let device = chain::device_issuer(leaf, &certs[1..], FORMAT, "f9 device certificate")?;
    let device_cn = device.subject_cn.clone().unwrap_or_default();
    if !DEVICE_CNS.contains(&device_cn.as_str()) {
        return Err(structure(format!(
            "the certificate that signed the slot certificate, '{}', is not a YubiKey f9 device certificate",
            device.subject
        )));
    }
    if device.ext(OID_POLICY).is_some() || device.ext(OID_SERIAL).is_some() {
        return Err(structure(format!(
            "'{}' carries slot-certificate extensions: a slot attestation certificate was presented as the device certificate",
            device.subject
        )));
    }
    let mut quirks: Vec<&'static str> = Vec::new();
    let device_without_bc = match device.basic_constraints {
        None => true,
        Some((true, _)) => false,
        Some((false, _)) => {
            return Err(AttestationError::NotACa {
                subject: device.subject.clone(),
                reason: "basicConstraints cA is FALSE".into(),
            })
        }
    };
    if device.key_cert_sign() == Some(false) {
        return Err(AttestationError::NotACa {
            subject: device.subject.clone(),
            reason: "keyUsage lacks keyCertSign".into(),
        });
    }
    chain::check_valid(device, now)?;

    let set = store.set(TrustFamily::YubikeyPiv);
    let params = PathParams {
        format: FORMAT,
        set,
        pool: &[],
        at: now,
        anchor_also_at: None,
    };
    let path = chain::path_to_anchor(device, 1, &params).map_err(|e| match e {
        AttestationError::Untrusted { .. }
            if device.issuer.to_ascii_lowercase().contains("preview") =>
        {
            AttestationError::PreviewCa {
                subject: device.subject.clone(),
                ca: device.issuer.clone(),
            }
        }
        other => other,
    })?;
    if device_without_bc {
        if path.certs.len() != 1 {
            return Err(AttestationError::NotACa {
                subject: device.subject.clone(),
                reason: "device certificate without basicConstraints is only tolerated when issued directly by a pinned root".into(),
            });
        }
        quirks.push("yubikey-device-cert-without-basic-constraints");
    }
    let anchor = path.anchor();
    if anchor
        .subject_cn
        .as_deref()
        .is_some_and(|cn| cn.contains("U2F"))
    {
        quirks.push("yubikey-device-cert-issued-by-u2f-root");
    }

    // Facts.
    let key_desc = match &leaf.key_alg {
        KeyAlg::Other(s) => s.clone(),
        k => k.describe(),
    };
    let mut facts = AttestationFacts::new(FORMAT, leaf.spki_der.clone(), key_desc);
    facts.key_id = Some(slot);
    facts.firmware = match firmware(leaf)? {
        Some(f) => Some(f),
        None => firmware(device)?,
    };
    if let Some(e) = leaf.ext(OID_SERIAL) {
        let serial = der::parse_integer_u64(&e.value)
            .map_err(|m| bad_ext(OID_SERIAL, "serial number", m.0))?;
        facts.device_serial = Some(serial.to_string());
    }
    if let Some(e) = leaf.ext(OID_POLICY) {
        match e.value.as_slice() {
            [pin, touch] => {
                facts.pin_policy = Some(pin_policy(*pin));
                facts.touch_policy = Some(touch_policy(*touch));
            }
            v => {
                return Err(bad_ext(
                    OID_POLICY,
                    "PIN and touch policy",
                    format!("expected 2 octets, found {}", v.len()),
                ))
            }
        }
    }
    let mut fips = device.ext(OID_FIPS).is_some();
    let mut cspn = device.ext(OID_CSPN).is_some();
    if let Some(e) = leaf.ext(OID_FORM_FACTOR) {
        match e.value.as_slice() {
            [b] => {
                facts.form_factor = Some(form_factor_name(*b));
                fips |= b & 0x80 != 0;
                cspn |= b & 0x40 != 0;
            }
            v => {
                return Err(bad_ext(
                    OID_FORM_FACTOR,
                    "form factor",
                    format!("expected 1 octet, found {}", v.len()),
                ))
            }
        }
    }
    for (oid, what) in [
        (OID_FIPS, "FIPS certification"),
        (OID_CSPN, "CSPN certification"),
    ] {
        if let Some(e) = device.ext(oid) {
            der::parse_integer_u64(&e.value).map_err(|m| bad_ext(oid, what, m.0))?;
        }
    }
    facts.fips = Some(fips);
    facts.cspn = Some(cspn);
    // The YubiKey attests only keys generated on the device, and PIV private
    // keys cannot be exported.
    facts.key_origin = KeyOrigin::Generated;
    facts.extractable = Some(false);
    facts.never_extractable = Some(true);
    facts.chain_subjects = vec![leaf.subject.clone(), device.subject.clone()];
    facts.chain_subjects.extend(path.subjects());
    facts.trust_anchor_sha256 = vec![anchor.sha256()];
    for q in quirks
        .into_iter()
        .chain(leaf.parse_quirks.iter().copied())
        .chain(device.parse_quirks.iter().copied())
    {
        facts.quirk(q);
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slot_names() {
        assert_eq!(
            slot_from_cn("YubiKey PIV Attestation 9a").as_deref(),
            Some("9a")
        );
        assert_eq!(
            slot_from_cn("YubiKey PIV Attestation 9C").as_deref(),
            Some("9c")
        );
        assert_eq!(
            slot_from_cn("YubiKey PIV Attestation 82").as_deref(),
            Some("82")
        );
        assert_eq!(slot_from_cn("YubiKey PIV Attestation"), None);
        assert_eq!(slot_from_cn("YubiKey PIV Attestation 9az"), None);
        assert_eq!(slot_from_cn("YubiKey PIV Attestation zz"), None);
        assert_eq!(slot_from_cn("Yubico PIV Attestation"), None);
    }

    #[test]
    fn form_factors_and_policies() {
        assert_eq!(form_factor_name(0x83), "USB-C keychain (FIPS)");
        assert_eq!(form_factor_name(0x07), "USB-C Bio");
        assert_eq!(form_factor_name(0x41), "USB-A keychain (CSPN)");
        assert_eq!(pin_policy(1), PinPolicy::Never);
        assert_eq!(pin_policy(3), PinPolicy::Always);
        assert_eq!(pin_policy(9), PinPolicy::Unknown);
        assert_eq!(touch_policy(3), TouchPolicy::Cached);
        assert_eq!(touch_policy(0), TouchPolicy::Default);
    }
}
