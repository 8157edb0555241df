//! Thales Luna Public Key Confirmation (PKC).
//!
//! A PKC is a certificate bag (usually a DER PKCS#7 `.p7b`) produced by the
//! HSM for a key pair it generated. The leaf carries EKU
//! 1.3.6.1.4.1.12383.1.13 and the attested public key; it is signed by the
//! device's certificate (RSA PKC: the Device Authentication Certificate
//! `Luna K7-<serial>` <- `Hardware Origin Certificate` <- `Thales Luna Mfg
//! Integrity Certifcate x1` <- `Chrysalis-ITS Root`; ECC PKC: the Hardware
//! Origin Certificate `<serial>` <- `SafeNet ECC Manufacturer Integrity
//! Module`). Every issuer must be a CA (all real Luna CAs are); anchors are
//! pinned.
//!
//! Quirk decisions (docs/ATTESTATION.md):
//! - The `Chrysalis-ITS Root` in Thales' own repository is a v3 certificate
//!   without basicConstraints and with a SHA-1 self-signature; the pinned
//!   anchor is its re-issue (same name and key, SHA-384, cA=TRUE) published by
//!   the PKI Consortium. Roots inside the PKC are ignored.
//! - The ECC leaf's ECDSA signature encodes `s` as a negative INTEGER (missing
//!   0x00 pad). For this format, and only for the link HOC -> PKC leaf, the
//!   (r, s) magnitudes are re-encoded as DER and the signature verified again;
//!   the facts then carry the quirk `luna-non-der-ecdsa-signature`.
//! - Explicitly encoded DEFAULT values (critical=FALSE) are accepted.

use time::OffsetDateTime;

use super::cert::{Cert, KeyAlg, SigOutcome};
use super::chain::{self, PathParams};
use super::evidence::PKC_LEAF_EKU;
use super::trust::TrustFamily;
use super::{AttestationError, AttestationFacts, Format, KeyOrigin, TrustStore};

const FORMAT: Format = Format::ThalesLuna;

fn structure(what: impl Into<String>) -> AttestationError {
    AttestationError::Structure {
        format: FORMAT,
        what: what.into(),
    }
}

pub(crate) fn is_pkc_leaf(c: &Cert) -> bool {
    c.ext_key_usage.iter().any(|o| o == PKC_LEAF_EKU) && !c.is_ca()
}

/// The HSM serial from the device certificates' names.
fn device_serial(chain: &[&Cert]) -> Option<String> {
    for c in chain {
        let cn = c.subject_cn.as_deref().unwrap_or("");
        if let Some(rest) = cn.rsplit_once('-').map(|(_, s)| s) {
            if cn.starts_with("Luna ")
                && !rest.is_empty()
                && rest.chars().all(|c| c.is_ascii_digit())
            {
                return Some(rest.to_string());
            }
        }
        if !cn.is_empty() && cn.chars().all(|c| c.is_ascii_digit()) {
            return Some(cn.to_string());
        }
    }
    None
}

pub(crate) fn verify(
    certs: &[Cert],
    store: &TrustStore,
    now: OffsetDateTime,
) -> Result<AttestationFacts, AttestationError> {
    let leaf = certs.first().ok_or_else(|| AttestationError::Missing {
        format: FORMAT,
        what: "PKC leaf certificate".into(),
    })?;
    if !is_pkc_leaf(leaf) {
        return Err(structure(format!(
            "the first certificate '{}' is not a PKC leaf (EKU {PKC_LEAF_EKU}, not a CA)",
            leaf.subject
        )));
    }
    if let Some(other) = certs[1..].iter().find(|c| is_pkc_leaf(c)) {
        return Err(structure(format!(
            "more than one PKC leaf ('{}' and '{}')",
            leaf.subject, other.subject
        )));
    }
    if leaf.digital_signature() == Some(false) {
        return Err(structure(format!(
            "PKC leaf '{}' lacks keyUsage digitalSignature",
            leaf.subject
        )));
    }
    chain::check_valid(leaf, now)?;

    // The leaf's issuer: the device certificate, from the evidence or pinned.
    let set = store.set(TrustFamily::ThalesLuna);
    let candidates: Vec<&Cert> = certs[1..]
        .iter()
        .chain(set.intermediates.iter())
        .filter(|c| leaf.issued_by_name(c) && !c.self_issued())
        .collect();
    if candidates.is_empty() {
        return Err(AttestationError::Missing {
            format: FORMAT,
            what: format!("certificate of the PKC leaf's issuer '{}'", leaf.issuer),
        });
    }
    let mut found = None;
    let mut last_err = None;
    for c in candidates {
        match chain::check_link(leaf, c, true) {
            Ok(outcome) => {
                found = Some((c, outcome));
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some((device, outcome)) = found else {
        return Err(last_err.unwrap_or_else(|| AttestationError::Missing {
            format: FORMAT,
            what: "device certificate".into(),
        }));
    };
    chain::check_ca(device, 0)?;
    chain::check_valid(device, now)?;
    let params = PathParams {
        format: FORMAT,
        set,
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
    let mut upper: Vec<&Cert> = vec![device];
    upper.extend(path.certs.iter().copied());
    facts.device_serial = device_serial(&upper);
    facts.key_id = leaf.subject_cn.clone();
    // A PKC is issued only for a key pair generated inside the HSM; whether
    // the partition allows cloning is not stated.
    facts.key_origin = KeyOrigin::Generated;
    facts.chain_subjects = vec![leaf.subject.clone(), device.subject.clone()];
    facts.chain_subjects.extend(path.subjects());
    facts.trust_anchor_sha256 = vec![path.anchor().sha256()];
    if outcome == SigOutcome::ReencodedEcdsa {
        facts.quirk("luna-non-der-ecdsa-signature");
    }
    for q in leaf.parse_quirks.iter().chain(device.parse_quirks.iter()) {
        facts.quirk(q);
    }
    for c in &path.certs {
        for q in &c.parse_quirks {
            facts.quirk(q);
        }
    }
    Ok(facts)
}
