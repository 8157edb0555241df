//! Fortanix DSM key attestation statements.
//!
//! Evidence: the statement certificate (`CN=Fortanix DSM Key Attestation`,
//! the key id in subject attribute 1.3.6.1.4.1.49690.1.2.2, whose key IS the
//! attested key) and the authority chain: `Fortanix DSM SaaS Key Attestation
//! Authority` (the statement signer: EKU 1.3.6.1.4.1.49690.8.1, cA=FALSE by
//! design) <- `Fortanix Key Attestation CA` <- pinned `Fortanix Attestation
//! and Provisioning Root CA`.
//!
//! Claims: extension 1.3.6.1.4.1.49690.2.4.1.1 (key generated in DSM) and
//! .2.4.1.2 (key never exportable); their absence is reported as facts
//! (origin unknown / exportability unknown), which the RA refuses by default.
//!
//! Quirk decisions (docs/ATTESTATION.md):
//! - The statement signer is not a CA: the format defines that position, so
//!   the signer is accepted there only when it carries the statement-signing
//!   EKU (and no cA=TRUE, and digitalSignature when keyUsage is present).
//! - A statement is a point-in-time signature: authorities are issued for one
//!   month while statements are valid to 9999. The authority and the CA above
//!   it are validated at the statement's notBefore (the attestation time,
//!   which must not be in the future); the pinned root must be valid both then
//!   and now, and the statement itself now. The attestation time is reported
//!   (`attested_at`) so policy can bound its age.
//! - The authority certificate DER-encodes cA=FALSE explicitly (a DEFAULT);
//!   accepted (`explicit-default-basic-constraints`).

use time::OffsetDateTime;

use super::cert::{Cert, KeyAlg};
use super::chain::{self, PathParams};
use super::trust::TrustFamily;
use super::{AttestationError, AttestationFacts, Format, KeyOrigin, TrustStore};

const FORMAT: Format = Format::FortanixDsm;

pub const OID_KEY_ID: &str = "1.3.6.1.4.1.49690.1.2.2";
pub const OID_GENERATED_IN_DSM: &str = "1.3.6.1.4.1.49690.2.4.1.1";
pub const OID_NEVER_EXPORTABLE: &str = "1.3.6.1.4.1.49690.2.4.1.2";
pub const EKU_STATEMENT_SIGNER: &str = "1.3.6.1.4.1.49690.8.1";

fn structure(what: impl Into<String>) -> AttestationError {
    AttestationError::Structure {
        format: FORMAT,
        what: what.into(),
    }
}

pub(crate) fn verify(
    certs: &[Cert],
    store: &TrustStore,
    now: OffsetDateTime,
) -> Result<AttestationFacts, AttestationError> {
    let statement = certs.first().ok_or_else(|| AttestationError::Missing {
        format: FORMAT,
        what: "key attestation statement".into(),
    })?;
    if statement.subject_cn.as_deref() != Some("Fortanix DSM Key Attestation") {
        return Err(structure(format!(
            "the first certificate '{}' is not a key attestation statement (CN=Fortanix DSM Key Attestation)",
            statement.subject
        )));
    }
    if statement.is_ca() {
        return Err(structure("the statement certificate claims to be a CA"));
    }
    let attested_at = statement.not_before;
    if attested_at > now {
        return Err(chain::validity_error(statement, now));
    }
    chain::check_valid(statement, now)?;

    // The statement signer (authority), from the evidence.
    let candidates: Vec<&Cert> = certs[1..]
        .iter()
        .filter(|c| statement.issued_by_name(c) && !c.self_issued())
        .collect();
    if candidates.is_empty() {
        return Err(AttestationError::Missing {
            format: FORMAT,
            what: format!("statement signer certificate '{}'", statement.issuer),
        });
    }
    let mut authority = None;
    let mut last_err = None;
    for c in candidates {
        match chain::check_link(statement, c, false) {
            Ok(_) => {
                authority = Some(c);
                break;
            }
            Err(e) => last_err = Some(e),
        }
    }
    let Some(authority) = authority else {
        return Err(last_err.unwrap_or_else(|| AttestationError::Missing {
            format: FORMAT,
            what: "statement signer".into(),
        }));
    };
    if !authority
        .ext_key_usage
        .iter()
        .any(|o| o == EKU_STATEMENT_SIGNER)
    {
        return Err(structure(format!(
            "statement signer '{}' lacks the key-attestation-authority EKU {EKU_STATEMENT_SIGNER}",
            authority.subject
        )));
    }
    if authority.is_ca() {
        return Err(structure(format!(
            "statement signer '{}' is a CA; the format requires a dedicated (non-CA) authority",
            authority.subject
        )));
    }
    if authority.digital_signature() == Some(false) {
        return Err(structure(format!(
            "statement signer '{}' lacks keyUsage digitalSignature",
            authority.subject
        )));
    }
    let params = PathParams {
        format: FORMAT,
        set: store.set(TrustFamily::FortanixDsm),
        pool: certs,
        at: attested_at,
        anchor_also_at: Some(now),
    };
    // The authority is an end entity: the CA above it has 0 CAs below.
    let path = chain::path_to_anchor(authority, 0, &params)?;
    chain::check_valid(authority, attested_at)?;

    let key_desc = match &statement.key_alg {
        KeyAlg::Other(s) => s.clone(),
        k => k.describe(),
    };
    let mut facts = AttestationFacts::new(FORMAT, statement.spki_der.clone(), key_desc);
    facts.key_id = statement
        .subject_attrs
        .iter()
        .find(|(oid, _)| oid == OID_KEY_ID)
        .map(|(_, v)| v.clone());
    facts.key_origin = if statement.ext(OID_GENERATED_IN_DSM).is_some() {
        KeyOrigin::Generated
    } else {
        KeyOrigin::Unknown
    };
    let never_exportable = statement.ext(OID_NEVER_EXPORTABLE).is_some();
    facts.never_extractable = Some(never_exportable);
    facts.extractable = never_exportable.then_some(false);
    facts.attested_at = Some(attested_at);
    facts.chain_subjects = vec![statement.subject.clone(), authority.subject.clone()];
    facts.chain_subjects.extend(path.subjects());
    facts.trust_anchor_sha256 = vec![path.anchor().sha256()];
    facts.quirk("fortanix-chain-validated-at-statement-time");
    for q in statement
        .parse_quirks
        .iter()
        .chain(authority.parse_quirks.iter())
    {
        facts.quirk(q);
    }
    Ok(facts)
}
