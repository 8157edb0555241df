//! Google Cloud HSM key attestation (Marvell/Cavium LiquidSecurity,
//! `CAVIUM_V2_COMPRESSED`).
//!
//! Evidence: the attestation blob (gzip, as downloaded from Cloud KMS) and
//! the certificate bundle. The blob is `attestation data || signature`, the
//! signature being RSA PKCS#1 v1.5 SHA-256 by the HSM partition key. Two
//! parallel chains certify that partition key and BOTH are required:
//! - manufacturer: pinned Marvell LiquidSecurity root -> card certificate
//!   (`HSM:<serial>, for FIPS mode`) -> partition certificate
//!   (`HSM:<serial>:PARTN:<n>, ...`);
//! - owner: pinned Google `Hawksbill Root v1 prod` -> card certificate and
//!   partition certificate (same names and keys as the manufacturer's).
//!
//! Attestation data (big-endian): a response header (code u32 = 0, flags
//! u32, total size u32 = blob size, buffer size u32 = data after the header,
//! then one u64 object handle per object), an info header (version u16 = 1,
//! u16, offset u16 of the first object, offset u16 of the second object or
//! 0), then per object: handle u32, attribute count u32, attribute bytes u32,
//! and the attributes (type u32, length u32, value). Key pairs have two
//! objects (public, private); secret keys one.
//!
//! Facts come from the private (or only) object: the public key (0x0120
//! modulus or EC point, 0x0122 exponent), CKA_LOCAL 0x0163 (generated in the
//! HSM), CKA_EXTRACTABLE 0x0162, CKA_NEVER_EXTRACTABLE 0x0164.
//!
//! Quirk decisions (docs/ATTESTATION.md):
//! - Manufacturer card certificates are X.509 v1 (no basicConstraints): the
//!   card position is defined by the format, so v1 (or an absent
//!   basicConstraints) is tolerated there only; cA=FALSE is not
//!   (`marvell-v1-card-certificate`).
//! - The 2015 Cavium root shipped in bundles expired on 2025-11-16; roots in
//!   the evidence are ignored and the pinned 2024 re-issue (same name and
//!   key) anchors the chain.

use std::io::Read;

use time::OffsetDateTime;

use super::cert::{self, Cert, KeyAlg};
use super::chain;
use super::trust::TrustFamily;
use super::{AttestationError, AttestationFacts, Format, KeyOrigin, TrustStore, MAX_BLOB_LEN};

const FORMAT: Format = Format::GoogleCloudHsm;

pub const ATTR_CLASS: u32 = 0x0000;
pub const ATTR_LABEL: u32 = 0x0003;
pub const ATTR_KEY_TYPE: u32 = 0x0100;
pub const ATTR_MODULUS_OR_POINT: u32 = 0x0120;
pub const ATTR_PUBLIC_EXPONENT: u32 = 0x0122;
pub const ATTR_EXTRACTABLE: u32 = 0x0162;
pub const ATTR_LOCAL: u32 = 0x0163;
pub const ATTR_NEVER_EXTRACTABLE: u32 = 0x0164;

const CKO_PUBLIC_KEY: u8 = 2;
const CKO_PRIVATE_KEY: u8 = 3;
const CKK_RSA: u8 = 0;
const CKK_EC: u8 = 3;

/// One object of the attestation data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobObject {
    pub handle: u32,
    pub attributes: Vec<(u32, Vec<u8>)>,
}

impl BlobObject {
    pub fn attr(&self, t: u32) -> Option<&[u8]> {
        self.attributes
            .iter()
            .find(|(k, _)| *k == t)
            .map(|(_, v)| v.as_slice())
    }

    fn flag(&self, t: u32) -> Option<bool> {
        match self.attr(t) {
            Some([b]) => Some(*b != 0),
            _ => None,
        }
    }

    fn byte(&self, t: u32) -> Option<u8> {
        match self.attr(t) {
            Some([b]) => Some(*b),
            _ => None,
        }
    }
}

/// A parsed attestation blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// The signed part.
    pub data: Vec<u8>,
    pub signature: Vec<u8>,
    pub objects: Vec<BlobObject>,
}

fn malformed(what: impl Into<String>) -> AttestationError {
    AttestationError::Malformed(format!("Cloud HSM attestation blob: {}", what.into()))
}

fn u16_at(d: &[u8], off: usize) -> Result<u16, AttestationError> {
    d.get(off..off + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| malformed(format!("truncated at offset {off}")))
}

fn u32_at(d: &[u8], off: usize) -> Result<u32, AttestationError> {
    d.get(off..off + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| malformed(format!("truncated at offset {off}")))
}

/// Decompresses (when gzip) and parses an attestation blob whose signature is
/// `sig_len` octets.
pub fn parse_blob(raw: &[u8], sig_len: usize) -> Result<Blob, AttestationError> {
    let bytes = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(raw)
            .take(MAX_BLOB_LEN as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| malformed(format!("bad gzip data: {e}")))?;
        if out.len() > MAX_BLOB_LEN {
            return Err(malformed(format!(
                "decompresses to more than {MAX_BLOB_LEN} octets"
            )));
        }
        out
    } else {
        raw.to_vec()
    };
    if bytes.len() < 16 + 8 + 8 + sig_len {
        return Err(malformed(format!("{} octets is too short", bytes.len())));
    }
    let code = u32_at(&bytes, 0)?;
    if code != 0 {
        return Err(malformed(format!("response code {code} is not success")));
    }
    let total = u32_at(&bytes, 8)? as usize;
    let buffer = u32_at(&bytes, 12)? as usize;
    if total != bytes.len() {
        return Err(malformed(format!(
            "declares {total} octets but has {}",
            bytes.len()
        )));
    }
    let header_len = total
        .checked_sub(buffer)
        .and_then(|x| x.checked_sub(sig_len))
        .ok_or_else(|| malformed("sizes are inconsistent"))?;
    if header_len < 24 || (header_len - 16) % 8 != 0 {
        return Err(malformed(format!(
            "response header of {header_len} octets is not 16 + 8n"
        )));
    }
    let handles: Vec<u64> = (0..(header_len - 16) / 8)
        .map(|i| {
            let o = 16 + 8 * i;
            let b = &bytes[o..o + 8];
            u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
        })
        .collect();
    let data_end = total - sig_len;
    let info = header_len;
    let version = u16_at(&bytes, info)?;
    if version != 1 {
        return Err(malformed(format!(
            "info header version {version} is not supported"
        )));
    }
    let offsets = [
        u16_at(&bytes, info + 4)? as usize,
        u16_at(&bytes, info + 6)? as usize,
    ];
    let mut objects = Vec::new();
    let mut end_of_last = info + 8;
    for off in offsets.into_iter().filter(|o| *o != 0) {
        let start = info + off;
        if start != end_of_last {
            return Err(malformed(format!(
                "object at offset {off} does not follow the previous data"
            )));
        }
        let handle = u32_at(&bytes, start)?;
        let count = u32_at(&bytes, start + 4)? as usize;
        let len = u32_at(&bytes, start + 8)? as usize;
        let body_start = start + 12;
        let body_end = body_start
            .checked_add(len)
            .filter(|e| *e <= data_end)
            .ok_or_else(|| malformed(format!("object 0x{handle:x} overruns the data")))?;
        let mut p = body_start;
        let mut attributes = Vec::with_capacity(count.min(256));
        for _ in 0..count {
            let t = u32_at(&bytes, p)?;
            let l = u32_at(&bytes, p + 4)? as usize;
            let v_end = (p + 8)
                .checked_add(l)
                .filter(|e| *e <= body_end)
                .ok_or_else(|| {
                    malformed(format!(
                        "attribute 0x{t:x} of object 0x{handle:x} overruns the object"
                    ))
                })?;
            if attributes.iter().any(|(k, _): &(u32, Vec<u8>)| *k == t) {
                return Err(malformed(format!(
                    "attribute 0x{t:x} repeated in object 0x{handle:x}"
                )));
            }
            attributes.push((t, bytes[p + 8..v_end].to_vec()));
            p = v_end;
        }
        if p != body_end {
            return Err(malformed(format!(
                "object 0x{handle:x} has {} unparsed octets",
                body_end - p
            )));
        }
        objects.push(BlobObject { handle, attributes });
        end_of_last = body_end;
    }
    if end_of_last != data_end {
        return Err(malformed(format!(
            "{} unparsed octets before the signature",
            data_end - end_of_last
        )));
    }
    if objects.is_empty() {
        return Err(malformed("no objects"));
    }
    if handles.len() != objects.len()
        || handles
            .iter()
            .zip(&objects)
            .any(|(h, o)| *h != o.handle as u64)
    {
        return Err(malformed(
            "object handles in the header do not match the objects",
        ));
    }
    Ok(Blob {
        data: bytes[..data_end].to_vec(),
        signature: bytes[data_end..].to_vec(),
        objects,
    })
}

fn structure(what: impl Into<String>) -> AttestationError {
    AttestationError::Structure {
        format: FORMAT,
        what: what.into(),
    }
}

/// Checks `child` is signed by the pinned anchor of `family` named as its
/// issuer (valid at `now`). Returns the anchor.
fn signed_by_anchor<'a>(
    child: &Cert,
    anchors: &'a [Cert],
    now: OffsetDateTime,
    family: TrustFamily,
) -> Result<&'a Cert, AttestationError> {
    let mut err = None;
    for a in anchors.iter().filter(|a| child.issued_by_name(a)) {
        if let Err(e) = chain::check_link(child, a, false) {
            err = Some(e);
            continue;
        }
        if !a.valid_at(now) {
            err = Some(AttestationError::Untrusted {
                format: FORMAT,
                subject: child.subject.clone(),
                reason: format!(
                    "pinned {family} anchor '{}' is not valid at {}",
                    a.subject,
                    super::fmt_time(now)
                ),
            });
            continue;
        }
        return Ok(a);
    }
    Err(err.unwrap_or_else(|| AttestationError::Untrusted {
        format: FORMAT,
        subject: child.subject.clone(),
        reason: format!("no pinned {family} anchor is named '{}'", child.issuer),
    }))
}

struct Chains<'a> {
    mfr_card: &'a Cert,
    mfr_partition: &'a Cert,
    mfr_anchor: &'a Cert,
    owner_card: &'a Cert,
    owner_partition: &'a Cert,
    owner_anchor: &'a Cert,
}

fn find_chains<'a>(
    certs: &'a [Cert],
    store: &'a TrustStore,
    now: OffsetDateTime,
) -> Result<Chains<'a>, AttestationError> {
    let mfr = store.set(TrustFamily::GoogleCloudHsmManufacturer);
    let owner = store.set(TrustFamily::GoogleCloudHsmOwner);
    let usable: Vec<&Cert> = certs.iter().filter(|c| !c.self_issued()).collect();

    // Manufacturer: anchor -> card -> partition.
    let mut mfr_found: Vec<(&Cert, &Cert, &Cert)> = Vec::new();
    let mut mfr_err = None;
    for card in &usable {
        let anchor = match signed_by_anchor(
            card,
            mfr.anchors,
            now,
            TrustFamily::GoogleCloudHsmManufacturer,
        ) {
            Ok(a) => a,
            Err(e) => {
                if card
                    .subject_cn
                    .as_deref()
                    .is_some_and(|cn| !cn.contains(":PARTN:"))
                {
                    mfr_err.get_or_insert(e);
                }
                continue;
            }
        };
        for part in usable
            .iter()
            .filter(|p| p.issued_by_name(card) && p.der != card.der)
        {
            match chain::check_link(part, card, false) {
                Ok(_) => mfr_found.push((card, part, anchor)),
                Err(e) => mfr_err = Some(e),
            }
        }
    }
    let (mfr_card, mfr_partition, mfr_anchor) = match mfr_found.as_slice() {
        [one] => *one,
        [] => {
            return Err(mfr_err.unwrap_or_else(|| AttestationError::Missing {
                format: FORMAT,
                what: "manufacturer chain (partition certificate <- card certificate <- pinned Marvell root)".into(),
            }))
        }
        _ => return Err(structure("more than one manufacturer partition chain")),
    };
    // The card position: v1 / no basicConstraints tolerated, cA=FALSE not.
    if let Some((false, _)) = mfr_card.basic_constraints {
        return Err(AttestationError::NotACa {
            subject: mfr_card.subject.clone(),
            reason: "basicConstraints cA is FALSE".into(),
        });
    }
    if mfr_card.key_cert_sign() == Some(false) {
        return Err(AttestationError::NotACa {
            subject: mfr_card.subject.clone(),
            reason: "keyUsage lacks keyCertSign".into(),
        });
    }
    if mfr_partition.is_ca() {
        return Err(structure(format!(
            "partition certificate '{}' claims to be a CA",
            mfr_partition.subject
        )));
    }

    // Owner: anchor -> card, anchor -> partition, with the same keys.
    let owner_partition = usable
        .iter()
        .find(|c| c.spki_der == mfr_partition.spki_der && c.der != mfr_partition.der)
        .ok_or_else(|| AttestationError::Missing {
            format: FORMAT,
            what: format!(
                "owner (Google) partition certificate for '{}'",
                mfr_partition.subject
            ),
        })?;
    let owner_anchor = signed_by_anchor(
        owner_partition,
        owner.anchors,
        now,
        TrustFamily::GoogleCloudHsmOwner,
    )?;
    let owner_card = usable
        .iter()
        .find(|c| c.spki_der == mfr_card.spki_der && c.der != mfr_card.der)
        .ok_or_else(|| AttestationError::Missing {
            format: FORMAT,
            what: format!("owner (Google) card certificate for '{}'", mfr_card.subject),
        })?;
    signed_by_anchor(
        owner_card,
        owner.anchors,
        now,
        TrustFamily::GoogleCloudHsmOwner,
    )?;
    for c in [mfr_card, mfr_partition, *owner_card, *owner_partition] {
        chain::check_valid(c, now)?;
    }
    Ok(Chains {
        mfr_card,
        mfr_partition,
        mfr_anchor,
        owner_card,
        owner_partition,
        owner_anchor,
    })
}

fn serial_from_cn(cn: &str) -> Option<String> {
    let rest = cn.strip_prefix("HSM:")?;
    let serial = rest.split([':', ',']).next()?.trim();
    (!serial.is_empty()).then(|| serial.to_string())
}

pub(crate) fn verify(
    certs: &[Cert],
    blob: Option<&[u8]>,
    store: &TrustStore,
    now: OffsetDateTime,
) -> Result<AttestationFacts, AttestationError> {
    let blob = blob.ok_or_else(|| AttestationError::Missing {
        format: FORMAT,
        what: "attestation blob".into(),
    })?;
    let chains = find_chains(certs, store, now)?;
    let partition = chains.mfr_partition;
    let sig_len = match partition.key_alg {
        KeyAlg::Rsa { bits } if bits >= 2048 => bits.div_ceil(8),
        ref other => {
            return Err(structure(format!(
                "partition key of '{}' is {}, expected RSA of at least 2048 bits",
                partition.subject,
                other.describe()
            )))
        }
    };
    let parsed = parse_blob(blob, sig_len)?;
    cert::verify_signature(
        &partition.key_alg,
        &partition.key_bytes,
        "1.2.840.113549.1.1.11",
        &parsed.data,
        &parsed.signature,
        false,
    )
    .map_err(|e| AttestationError::Signature {
        subject: "attestation blob".into(),
        issuer: partition.subject.clone(),
        reason: e.to_string(),
    })?;

    // The attested object: the private key of a pair, or the only object.
    let primary = parsed
        .objects
        .iter()
        .find(|o| o.byte(ATTR_CLASS) == Some(CKO_PRIVATE_KEY))
        .or_else(|| parsed.objects.first())
        .ok_or_else(|| malformed("no objects"))?;
    let class = primary.byte(ATTR_CLASS);
    if class != Some(CKO_PRIVATE_KEY) && class != Some(CKO_PUBLIC_KEY) {
        return Err(AttestationError::NoPublicKey {
            format: FORMAT,
            what: format!(
                "object 0x{:x} is of class {} (a secret key), not an asymmetric key",
                primary.handle,
                class.map(|c| c.to_string()).unwrap_or_else(|| "?".into())
            ),
        });
    }
    let key_material =
        primary
            .attr(ATTR_MODULUS_OR_POINT)
            .ok_or_else(|| AttestationError::NoPublicKey {
                format: FORMAT,
                what: format!("object 0x{:x} has no attribute 0x0120", primary.handle),
            })?;
    for other in parsed.objects.iter().filter(|o| o.handle != primary.handle) {
        if other.attr(ATTR_MODULUS_OR_POINT) != Some(key_material)
            || other.attr(ATTR_PUBLIC_EXPONENT) != primary.attr(ATTR_PUBLIC_EXPONENT)
        {
            return Err(structure(
                "the public and private key objects carry different public keys",
            ));
        }
    }
    let (spki, key_desc) = match primary.byte(ATTR_KEY_TYPE) {
        Some(CKK_RSA) => {
            let e = primary.attr(ATTR_PUBLIC_EXPONENT).ok_or_else(|| {
                AttestationError::NoPublicKey {
                    format: FORMAT,
                    what: "RSA key without public exponent (0x0122)".into(),
                }
            })?;
            let spki = cert::rsa_spki(key_material, e);
            let bits = key_material.iter().skip_while(|b| **b == 0).count() * 8;
            (spki, format!("RSA-{bits}"))
        }
        Some(CKK_EC) => {
            let curve = match key_material.len() {
                65 => KeyAlg::EcP256,
                97 => KeyAlg::EcP384,
                133 => KeyAlg::EcP521,
                n => {
                    return Err(structure(format!(
                        "EC point of {n} octets is not an uncompressed P-256/P-384/P-521 point"
                    )))
                }
            };
            if !cert::ec_point_on_curve(key_material, &curve) {
                return Err(structure(format!(
                    "EC point is not on {} (another curve, e.g. secp256k1, is not supported)",
                    curve.describe()
                )));
            }
            let spki = cert::ec_spki(key_material, &curve)
                .ok_or_else(|| structure("unsupported curve"))?;
            (spki, curve.describe())
        }
        other => {
            return Err(AttestationError::NoPublicKey {
                format: FORMAT,
                what: format!("key type {other:?} is not RSA or EC"),
            })
        }
    };

    let mut facts = AttestationFacts::new(FORMAT, spki, key_desc);
    facts.device_serial = chains
        .mfr_card
        .subject_cn
        .as_deref()
        .and_then(serial_from_cn);
    facts.key_id = Some(format!("0x{:x}", primary.handle));
    facts.key_label = primary.attr(ATTR_LABEL).map(|l| {
        let end = l.iter().position(|b| *b == 0).unwrap_or(l.len());
        String::from_utf8_lossy(&l[..end]).into_owned()
    });
    facts.key_origin = match primary.flag(ATTR_LOCAL) {
        Some(true) => KeyOrigin::Generated,
        Some(false) => KeyOrigin::Imported,
        None => KeyOrigin::Unknown,
    };
    facts.extractable = primary.flag(ATTR_EXTRACTABLE);
    facts.never_extractable = primary.flag(ATTR_NEVER_EXTRACTABLE);
    facts.fips = chains
        .mfr_partition
        .subject_cn
        .as_deref()
        .map(|cn| cn.contains("for FIPS mode"));
    facts.chain_subjects = vec![
        "attestation blob".to_string(),
        chains.mfr_partition.subject.clone(),
        chains.mfr_card.subject.clone(),
        chains.mfr_anchor.subject.clone(),
        chains.owner_partition.subject.clone(),
        chains.owner_card.subject.clone(),
        chains.owner_anchor.subject.clone(),
    ];
    facts.trust_anchor_sha256 = vec![chains.mfr_anchor.sha256(), chains.owner_anchor.sha256()];
    if chains.mfr_card.basic_constraints.is_none() {
        facts.quirk("marvell-v1-card-certificate");
    }
    Ok(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(handle: u32, attrs: &[(u32, &[u8])]) -> Vec<u8> {
        let mut body = Vec::new();
        for (t, v) in attrs {
            body.extend(t.to_be_bytes());
            body.extend((v.len() as u32).to_be_bytes());
            body.extend_from_slice(v);
        }
        let mut out = handle.to_be_bytes().to_vec();
        out.extend((attrs.len() as u32).to_be_bytes());
        out.extend((body.len() as u32).to_be_bytes());
        out.extend(body);
        out
    }

    fn blob(objects: &[Vec<u8>], handles: &[u64], sig_len: usize) -> Vec<u8> {
        let header_len = 16 + 8 * handles.len();
        let body: usize = 8 + objects.iter().map(Vec::len).sum::<usize>();
        let total = header_len + body + sig_len;
        let mut d = Vec::new();
        d.extend(0u32.to_be_bytes());
        d.extend(3u32.to_be_bytes());
        d.extend((total as u32).to_be_bytes());
        d.extend(((total - header_len - sig_len) as u32).to_be_bytes());
        for h in handles {
            d.extend(h.to_be_bytes());
        }
        d.extend(1u16.to_be_bytes());
        d.extend(3u16.to_be_bytes());
        d.extend(8u16.to_be_bytes());
        let second = if objects.len() > 1 {
            8 + objects[0].len()
        } else {
            0
        };
        d.extend((second as u16).to_be_bytes());
        for o in objects {
            d.extend(o);
        }
        d.extend(std::iter::repeat_n(0xaa, sig_len));
        d
    }

    #[test]
    fn parses_one_and_two_objects() {
        let o = obj(7, &[(ATTR_CLASS, &[4]), (ATTR_LOCAL, &[1])]);
        let b = parse_blob(&blob(std::slice::from_ref(&o), &[7], 16), 16).unwrap();
        assert_eq!(b.objects.len(), 1);
        assert_eq!(b.objects[0].attr(ATTR_LOCAL), Some(&[1u8][..]));
        assert_eq!(b.signature, vec![0xaa; 16]);
        let p = obj(8, &[(ATTR_CLASS, &[2])]);
        let b = parse_blob(&blob(&[p, o], &[8, 7], 16), 16).unwrap();
        assert_eq!(b.objects[1].handle, 7);
    }

    #[test]
    fn rejects_inconsistencies() {
        let o = obj(7, &[(ATTR_CLASS, &[4])]);
        // Handle in the header differs from the object's.
        assert!(parse_blob(&blob(std::slice::from_ref(&o), &[9], 16), 16).is_err());
        // Wrong signature length assumption.
        assert!(parse_blob(&blob(std::slice::from_ref(&o), &[7], 16), 32).is_err());
        // Repeated attribute.
        let dup = obj(7, &[(ATTR_CLASS, &[4]), (ATTR_CLASS, &[3])]);
        assert!(parse_blob(&blob(&[dup], &[7], 16), 16).is_err());
        // Non-zero response code.
        let mut b = blob(std::slice::from_ref(&o), &[7], 16);
        b[3] = 1;
        assert!(parse_blob(&b, 16).is_err());
        // Trailing garbage is counted by the total size.
        let mut b = blob(&[o], &[7], 16);
        b.push(0);
        assert!(parse_blob(&b, 16).is_err());
        // Not gzip, too short.
        assert!(parse_blob(&[0x1f, 0x8b, 0, 0], 16).is_err());
        assert!(parse_blob(&[], 0).is_err());
    }

    #[test]
    fn serials_from_card_names() {
        assert_eq!(
            serial_from_cn("HSM:5.2G1804-ICM000678, for FIPS mode").as_deref(),
            Some("5.2G1804-ICM000678")
        );
        assert_eq!(
            serial_from_cn("HSM:5.2G1804-ICM000678:PARTN:1, for FIPS mode").as_deref(),
            Some("5.2G1804-ICM000678")
        );
        assert_eq!(serial_from_cn("localca"), None);
    }
}
