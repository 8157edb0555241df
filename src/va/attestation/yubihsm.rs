//! YubiHSM 2 key attestation.
//!
//! Structure: the key attestation certificate (`CN=YubiHSM Attestation
//! id:0x<object id>`, whose key IS the attested key, extensions
//! 1.3.6.1.4.1.41482.4.*) is signed by the device certificate
//! (`CN=YubiHSM Attestation (<serial>)`, a CA whose key is the device's
//! attestation key, opaque object 0) which chains to a pinned `Yubico YubiHSM
//! Root CA` (through a `Yubico YubiHSM <n> Sub-CA`) or, on newer devices, to
//! `Yubico Attestation Root 1` through `YubiHSM Attestation B2 1`.
//!
//! Yubico publishes only one Sub-CA (6742036) as a file, so Sub-CAs may come
//! from the evidence; they must be CAs that chain to a pinned root.
//!
//! A YubiHSM key with the sign-attestation-certificate capability can sign
//! attestation certificates for other keys (a user-chosen attestation key):
//! such certificates are issued by a key attestation certificate, not by a
//! device certificate, and are rejected (the device position requires a
//! device certificate: no key-attestation extensions, `CN=YubiHSM Attestation
//! (<serial>)`, cA=TRUE, same serial as the key certificate).

use time::OffsetDateTime;

use super::cert::{Cert, KeyAlg};
use super::chain::{self, PathParams};
use super::der;
use super::trust::TrustFamily;
use super::{AttestationError, AttestationFacts, Format, KeyOrigin, TrustStore};

const FORMAT: Format = Format::Yubihsm2;

pub const OID_FIRMWARE: &str = "1.3.6.1.4.1.41482.4.1";
pub const OID_SERIAL: &str = "1.3.6.1.4.1.41482.4.2";
pub const OID_ORIGIN: &str = "1.3.6.1.4.1.41482.4.3";
pub const OID_DOMAINS: &str = "1.3.6.1.4.1.41482.4.4";
pub const OID_CAPABILITIES: &str = "1.3.6.1.4.1.41482.4.5";
pub const OID_OBJECT_ID: &str = "1.3.6.1.4.1.41482.4.6";
pub const OID_LABEL: &str = "1.3.6.1.4.1.41482.4.9";
pub const OID_FIPS_CERTIFICATE: &str = "1.3.6.1.4.1.41482.4.10";
pub const OID_FIPS_APPROVED: &str = "1.3.6.1.4.1.41482.4.12";

/// Capability exportable-under-wrap.
pub const CAP_EXPORTABLE_UNDER_WRAP: u64 = 1 << 16;

/// YubiHSM 2 capability names by bit (python-yubihsm CAPABILITY order).
const CAPABILITY_NAMES: [&str; 54] = [
    "get-opaque",
    "put-opaque",
    "put-authentication-key",
    "put-asymmetric-key",
    "generate-asymmetric-key",
    "sign-pkcs",
    "sign-pss",
    "sign-ecdsa",
    "sign-eddsa",
    "decrypt-pkcs",
    "decrypt-oaep",
    "derive-ecdh",
    "export-wrapped",
    "import-wrapped",
    "put-wrap-key",
    "generate-wrap-key",
    "exportable-under-wrap",
    "set-option",
    "get-option",
    "get-pseudo-random",
    "put-mac-key",
    "generate-hmac-key",
    "sign-hmac",
    "verify-hmac",
    "get-log-entries",
    "sign-ssh-certificate",
    "get-template",
    "put-template",
    "reset-device",
    "decrypt-otp",
    "create-otp-aead",
    "randomize-otp-aead",
    "rewrap-from-otp-aead-key",
    "rewrap-to-otp-aead-key",
    "sign-attestation-certificate",
    "put-otp-aead-key",
    "generate-otp-aead-key",
    "wrap-data",
    "unwrap-data",
    "delete-opaque",
    "delete-authentication-key",
    "delete-asymmetric-key",
    "delete-wrap-key",
    "delete-hmac-key",
    "delete-template",
    "delete-otp-aead-key",
    "change-authentication-key",
    "put-symmetric-key",
    "generate-symmetric-key",
    "delete-symmetric-key",
    "decrypt-ecb",
    "encrypt-ecb",
    "decrypt-cbc",
    "encrypt-cbc",
];

/// Names of the capability bits set in `mask`.
pub fn capability_names(mask: u64) -> Vec<String> {
    (0..64)
        .filter(|bit| mask & (1u64 << bit) != 0)
        .map(|bit| match CAPABILITY_NAMES.get(bit) {
            Some(n) => (*n).to_string(),
            None => format!("bit-{bit}"),
        })
        .collect()
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

fn is_key_attestation(c: &Cert) -> bool {
    c.subject_cn
        .as_deref()
        .is_some_and(|cn| cn.starts_with("YubiHSM Attestation id:"))
        || c.ext(OID_ORIGIN).is_some()
        || c.ext(OID_OBJECT_ID).is_some()
}

fn is_device_cn(cn: &str) -> bool {
    cn.strip_prefix("YubiHSM Attestation (")
        .and_then(|r| r.strip_suffix(')'))
        .is_some_and(|s| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
}

fn serial(c: &Cert) -> Result<Option<u64>, AttestationError> {
    match c.ext(OID_SERIAL) {
        None => Ok(None),
        Some(e) => der::parse_integer_u64(&e.value)
            .map(Some)
            .map_err(|m| bad_ext(OID_SERIAL, "serial number", m.0)),
    }
}

fn firmware(c: &Cert) -> Result<Option<String>, AttestationError> {
    let Some(e) = c.ext(OID_FIRMWARE) else {
        return Ok(None);
    };
    let os = der::read_single(&e.value, der::TAG_OCTET_STRING)
        .map_err(|m| bad_ext(OID_FIRMWARE, "firmware", m.0))?;
    if os.value.len() < 3 {
        return Err(bad_ext(OID_FIRMWARE, "firmware", "fewer than 3 octets"));
    }
    let v = &os.value[os.value.len() - 3..];
    Ok(Some(format!("{}.{}.{}", v[0], v[1], v[2])))
}

fn bit_string_ext(c: &Cert, oid: &str, what: &str) -> Result<Option<u64>, AttestationError> {
    let Some(e) = c.ext(oid) else {
        return Ok(None);
    };
    let bs =
        der::read_single(&e.value, der::TAG_BIT_STRING).map_err(|m| bad_ext(oid, what, m.0))?;
    der::bit_string_u64(bs.value)
        .map(Some)
        .map_err(|m| bad_ext(oid, what, m.0))
}

pub(crate) fn verify(
    certs: &[Cert],
    store: &TrustStore,
    now: OffsetDateTime,
) -> Result<AttestationFacts, AttestationError> {
    let leaf = certs.first().ok_or_else(|| AttestationError::Missing {
        format: FORMAT,
        what: "key attestation certificate".into(),
    })?;
    let leaf_cn = leaf.subject_cn.clone().unwrap_or_default();
    if !leaf_cn.starts_with("YubiHSM Attestation id:") {
        if is_device_cn(&leaf_cn) {
            return Err(AttestationError::Missing {
                format: FORMAT,
                what: format!(
                    "key attestation certificate: the first certificate is the device certificate '{}'",
                    leaf.subject
                ),
            });
        }
        return Err(structure(format!(
            "the first certificate '{}' is not a key attestation certificate (CN=YubiHSM Attestation id:0x....)",
            leaf.subject
        )));
    }
    if let Some(other) = certs[1..].iter().find(|c| is_key_attestation(c)) {
        return Err(structure(format!(
            "more than one key attestation certificate ('{}' and '{}'); a key attestation certificate cannot act as the device certificate",
            leaf.subject, other.subject
        )));
    }
    if leaf.is_ca() {
        return Err(structure(format!(
            "key attestation certificate '{}' claims to be a CA",
            leaf.subject
        )));
    }
    chain::check_valid(leaf, now)?;

    let device = chain::device_issuer(leaf, &certs[1..], FORMAT, "device certificate")?;
    if !device.subject_cn.as_deref().is_some_and(is_device_cn) {
        return Err(structure(format!(
            "the certificate that signed the key attestation certificate, '{}', is not a YubiHSM device certificate (CN=YubiHSM Attestation (<serial>))",
            device.subject
        )));
    }
    // The device certificate is an intermediate CA with nothing but the leaf below.
    chain::check_ca(device, 0)?;
    chain::check_valid(device, now)?;

    let leaf_serial = serial(leaf)?.ok_or_else(|| AttestationError::Missing {
        format: FORMAT,
        what: format!("serial number extension {OID_SERIAL} in the key attestation certificate"),
    })?;
    let device_serial = serial(device)?;
    if let Some(ds) = device_serial {
        if ds != leaf_serial {
            return Err(structure(format!(
                "key certificate serial {leaf_serial} differs from device certificate serial {ds}"
            )));
        }
    }
    let cn_serial = device
        .subject_cn
        .as_deref()
        .and_then(|cn| cn.strip_prefix("YubiHSM Attestation ("))
        .and_then(|r| r.strip_suffix(')'))
        .and_then(|s| s.parse::<u64>().ok());
    if cn_serial.is_some_and(|s| s != leaf_serial) {
        return Err(structure(format!(
            "device certificate '{}' names a different serial than the key certificate ({leaf_serial})",
            device.subject
        )));
    }

    let params = PathParams {
        format: FORMAT,
        set: store.set(TrustFamily::Yubihsm2),
        pool: certs,
        at: now,
        anchor_also_at: None,
    };
    let path = chain::path_to_anchor(device, 1, &params)?;

    let key_desc = match &leaf.key_alg {
        KeyAlg::Other(s) => s.clone(),
        k => k.describe(),
    };
    let mut facts = AttestationFacts::new(FORMAT, leaf.spki_der.clone(), key_desc);
    facts.device_serial = Some(leaf_serial.to_string());
    facts.firmware = match firmware(leaf)? {
        Some(f) => Some(f),
        None => firmware(device)?,
    };
    let origin = bit_string_ext(leaf, OID_ORIGIN, "key origin")?.ok_or_else(|| {
        AttestationError::Missing {
            format: FORMAT,
            what: format!("key origin extension {OID_ORIGIN}"),
        }
    })?;
    facts.key_origin = match origin {
        0x01 => KeyOrigin::Generated,
        0x02 => KeyOrigin::Imported,
        0x10 => KeyOrigin::ImportedWrapped,
        0x11 => KeyOrigin::GeneratedThenImportedWrapped,
        other => {
            return Err(bad_ext(
                OID_ORIGIN,
                "key origin",
                format!("unknown origin value 0x{other:x}"),
            ));
        }
    };
    let caps = bit_string_ext(leaf, OID_CAPABILITIES, "capabilities")?.ok_or_else(|| {
        AttestationError::Missing {
            format: FORMAT,
            what: format!("capabilities extension {OID_CAPABILITIES}"),
        }
    })?;
    facts.capabilities = capability_names(caps);
    let exportable = caps & CAP_EXPORTABLE_UNDER_WRAP != 0;
    facts.exportable_under_wrap = Some(exportable);
    facts.never_extractable = Some(!exportable && facts.key_origin == KeyOrigin::Generated);
    facts.extractable = Some(false);
    if let Some(e) = leaf.ext(OID_OBJECT_ID) {
        let id = der::parse_integer_u64(&e.value)
            .map_err(|m| bad_ext(OID_OBJECT_ID, "object id", m.0))?;
        facts.key_id = Some(format!("0x{id:04x}"));
    }
    if let Some(e) = leaf.ext(OID_LABEL) {
        let s = der::read_single(&e.value, der::TAG_UTF8_STRING)
            .map_err(|m| bad_ext(OID_LABEL, "label", m.0))?;
        facts.key_label = Some(String::from_utf8_lossy(s.value).into_owned());
    }
    bit_string_ext(leaf, OID_DOMAINS, "domains")?;
    // FIPS: the device certificate names a FIPS certificate (.4.10) on FIPS
    // models; .4.12 says whether FIPS-approved mode is on.
    let mut fips_cert = None;
    for c in [leaf, device] {
        if let Some(e) = c.ext(OID_FIPS_CERTIFICATE) {
            fips_cert = Some(
                der::parse_integer_u64(&e.value)
                    .map_err(|m| bad_ext(OID_FIPS_CERTIFICATE, "FIPS certificate", m.0))?,
            );
        }
    }
    let mut fips_mode = None;
    for c in [leaf, device] {
        if let Some(e) = c.ext(OID_FIPS_APPROVED) {
            let t = der::read_tlv(&e.value)
                .map_err(|m| bad_ext(OID_FIPS_APPROVED, "FIPS approved mode", m.0))?
                .0;
            fips_mode = Some(match (t.tag, t.value) {
                (der::TAG_BOOLEAN, [b]) => *b != 0,
                (der::TAG_INTEGER, v) => {
                    der::integer_u64(v)
                        .map_err(|m| bad_ext(OID_FIPS_APPROVED, "FIPS approved mode", m.0))?
                        != 0
                }
                _ => {
                    return Err(bad_ext(
                        OID_FIPS_APPROVED,
                        "FIPS approved mode",
                        "neither BOOLEAN nor INTEGER",
                    ))
                }
            });
        }
    }
    facts.fips = Some(match fips_mode {
        Some(mode) => mode,
        None => fips_cert.is_some(),
    });
    facts.chain_subjects = vec![leaf.subject.clone(), device.subject.clone()];
    facts.chain_subjects.extend(path.subjects());
    facts.trust_anchor_sha256 = vec![path.anchor().sha256()];
    for q in leaf.parse_quirks.iter().chain(device.parse_quirks.iter()) {
        facts.quirk(q);
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities() {
        assert_eq!(
            capability_names(0x10020),
            vec!["sign-pkcs", "exportable-under-wrap"]
        );
        assert_eq!(
            capability_names(0x400000660),
            vec![
                "sign-pkcs",
                "sign-pss",
                "decrypt-pkcs",
                "decrypt-oaep",
                "sign-attestation-certificate"
            ]
        );
        assert_eq!(capability_names(1 << 63), vec!["bit-63"]);
        assert!(capability_names(0).is_empty());
    }

    #[test]
    fn device_names() {
        assert!(is_device_cn("YubiHSM Attestation (31650558)"));
        assert!(!is_device_cn("YubiHSM Attestation ()"));
        assert!(!is_device_cn("YubiHSM Attestation id:0x0001"));
        assert!(!is_device_cn("YubiHSM Attestation (12a)"));
    }
}
