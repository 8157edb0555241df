//! Strict chain building from a format-defined starting certificate up to a
//! pinned anchor.
//!
//! Rules (docs/ATTESTATION.md, "Chain building"):
//! - an issuer is found by name (DER byte equality of issuer and subject) and
//!   must verify the child's signature;
//! - anchors come only from the trust store, never from the evidence;
//!   self-issued certificates in the evidence are ignored;
//! - every intermediate (pinned or from the evidence) must carry
//!   basicConstraints cA=TRUE, keyCertSign when keyUsage is present, a
//!   pathLenConstraint that admits the certificates below it, and be valid at
//!   the validation time; anchors are name + key (RFC 5280 6.1.1(d): their
//!   own constraints are not applied) and must be valid at the validation time
//!   (an expired vendor root is never used: pin its re-issue, which matches by
//!   name and key);
//! - positions below the starting certificate (device certificates, statement
//!   signers) are each format's business.

use time::OffsetDateTime;

use super::cert::{Cert, SigOutcome};
use super::trust::TrustSetRef;
use super::{fmt_time, AttestationError, Format};

const MAX_DEPTH: usize = 6;
/// Upper bound on signature checks per path search: evidence full of
/// mutually signing look-alike CAs must not make path building explode.
const MAX_LINK_CHECKS: u32 = 64;

pub(crate) struct PathParams<'a> {
    pub format: Format,
    pub set: TrustSetRef<'a>,
    /// Evidence certificates usable as intermediates (self-issued ones are
    /// skipped). Empty when the format forbids evidence intermediates.
    pub pool: &'a [Cert],
    /// Validity time for intermediates and anchors.
    pub at: OffsetDateTime,
    /// Additional instants at which the anchor must also be valid.
    pub anchor_also_at: Option<OffsetDateTime>,
}

/// The path above a starting certificate: its issuer first, the anchor last.
pub(crate) struct CaPath<'a> {
    pub certs: Vec<&'a Cert>,
}

impl<'a> CaPath<'a> {
    pub fn anchor(&self) -> &'a Cert {
        self.certs[self.certs.len() - 1]
    }

    pub fn subjects(&self) -> Vec<String> {
        self.certs.iter().map(|c| c.subject.clone()).collect()
    }
}

pub(crate) fn validity_error(c: &Cert, at: OffsetDateTime) -> AttestationError {
    AttestationError::Validity {
        subject: c.subject.clone(),
        at: fmt_time(at),
        not_before: fmt_time(c.not_before),
        not_after: fmt_time(c.not_after),
    }
}

pub(crate) fn check_valid(c: &Cert, at: OffsetDateTime) -> Result<(), AttestationError> {
    if c.valid_at(at) {
        Ok(())
    } else {
        Err(validity_error(c, at))
    }
}

/// Verifies that `child` names `issuer` and carries its signature.
pub(crate) fn check_link(
    child: &Cert,
    issuer: &Cert,
    lenient_ecdsa: bool,
) -> Result<SigOutcome, AttestationError> {
    if !child.issued_by_name(issuer) {
        return Err(AttestationError::Signature {
            subject: child.subject.clone(),
            issuer: issuer.subject.clone(),
            reason: format!("issuer name '{}' does not match", child.issuer),
        });
    }
    child
        .verify_signed_by(issuer, lenient_ecdsa)
        .map_err(|e| AttestationError::Signature {
            subject: child.subject.clone(),
            issuer: issuer.subject.clone(),
            reason: e.to_string(),
        })
}

/// Checks that `c` may act as an intermediate CA with `below` intermediate
/// CA certificates beneath it (the end certificate not counted).
pub(crate) fn check_ca(c: &Cert, below: usize) -> Result<(), AttestationError> {
    match c.basic_constraints {
        None => {
            return Err(AttestationError::NotACa {
                subject: c.subject.clone(),
                reason: if c.version == 0 {
                    "X.509 v1 certificate (no basicConstraints)".into()
                } else {
                    "no basicConstraints extension".into()
                },
            })
        }
        Some((false, _)) => {
            return Err(AttestationError::NotACa {
                subject: c.subject.clone(),
                reason: "basicConstraints cA is FALSE".into(),
            })
        }
        Some((true, Some(pl))) if (pl as usize) < below => {
            return Err(AttestationError::NotACa {
                subject: c.subject.clone(),
                reason: format!(
                    "pathLenConstraint {pl} does not admit {below} CA certificate(s) below it"
                ),
            })
        }
        Some((true, _)) => {}
    }
    if c.key_cert_sign() == Some(false) {
        return Err(AttestationError::NotACa {
            subject: c.subject.clone(),
            reason: "keyUsage lacks keyCertSign".into(),
        });
    }
    Ok(())
}

/// Finds a path from `start` (whose own position the caller has checked) to a
/// pinned anchor. `below` is the number of intermediate CA certificates at or
/// below `start` (not counting the end certificate) for pathLenConstraint.
pub(crate) fn path_to_anchor<'a>(
    start: &Cert,
    below: usize,
    p: &PathParams<'a>,
) -> Result<CaPath<'a>, AttestationError> {
    let mut best: Option<AttestationError> = None;
    let mut path = Vec::new();
    let budget = std::cell::Cell::new(MAX_LINK_CHECKS);
    if search(start, below, p, &mut path, &mut best, &budget) {
        return Ok(CaPath { certs: path });
    }
    Err(best.unwrap_or_else(|| AttestationError::Untrusted {
        format: p.format,
        subject: start.subject.clone(),
        reason: format!(
            "no pinned anchor or usable intermediate is named '{}'",
            start.issuer
        ),
    }))
}

fn rank(e: &AttestationError) -> u8 {
    match e {
        AttestationError::Untrusted { .. } => 1,
        _ => 2,
    }
}

fn keep(best: &mut Option<AttestationError>, e: AttestationError) {
    let replace = match best.as_ref() {
        None => true,
        Some(b) => rank(&e) >= rank(b),
    };
    if replace {
        *best = Some(e);
    }
}

/// Spends one signature check from the budget; false when exhausted.
fn spend(
    budget: &std::cell::Cell<u32>,
    current: &Cert,
    p: &PathParams<'_>,
    best: &mut Option<AttestationError>,
) -> bool {
    match budget.get() {
        0 => {
            keep(
                best,
                AttestationError::Untrusted {
                    format: p.format,
                    subject: current.subject.clone(),
                    reason: format!("gave up after {MAX_LINK_CHECKS} candidate issuer checks"),
                },
            );
            false
        }
        n => {
            budget.set(n - 1);
            true
        }
    }
}

fn search<'a>(
    current: &Cert,
    below: usize,
    p: &PathParams<'a>,
    path: &mut Vec<&'a Cert>,
    best: &mut Option<AttestationError>,
    budget: &std::cell::Cell<u32>,
) -> bool {
    // 1. A pinned anchor.
    for anchor in p.set.anchors.iter().filter(|a| current.issued_by_name(a)) {
        // Signature first: a look-alike root fails here whatever its dates.
        if !spend(budget, current, p, best) {
            return false;
        }
        if let Err(e) = check_link(current, anchor, false) {
            keep(best, e);
            continue;
        }
        if !anchor.valid_at(p.at) {
            keep(
                best,
                AttestationError::Untrusted {
                    format: p.format,
                    subject: current.subject.clone(),
                    reason: format!(
                        "pinned anchor '{}' is not valid at {} (pin its re-issue)",
                        anchor.subject,
                        fmt_time(p.at)
                    ),
                },
            );
            continue;
        }
        if let Some(t) = p.anchor_also_at {
            if !anchor.valid_at(t) {
                keep(best, validity_error(anchor, t));
                continue;
            }
        }
        path.push(anchor);
        return true;
    }
    if path.len() >= MAX_DEPTH {
        keep(
            best,
            AttestationError::Untrusted {
                format: p.format,
                subject: current.subject.clone(),
                reason: format!("no anchor within {MAX_DEPTH} certificates"),
            },
        );
        return false;
    }
    // 2. Pinned intermediates, then evidence intermediates.
    let candidates = p
        .set
        .intermediates
        .iter()
        .chain(p.pool.iter().filter(|c| !c.self_issued()));
    for cand in candidates {
        if !current.issued_by_name(cand)
            || cand.der == current.der
            || path.iter().any(|c| c.der == cand.der)
        {
            continue;
        }
        if !spend(budget, current, p, best) {
            return false;
        }
        if let Err(e) = check_link(current, cand, false) {
            keep(best, e);
            continue;
        }
        if let Err(e) = check_ca(cand, below) {
            keep(best, e);
            continue;
        }
        if let Err(e) = check_valid(cand, p.at) {
            keep(best, e);
            continue;
        }
        path.push(cand);
        if search(cand, below + 1, p, path, best, budget) {
            return true;
        }
        path.pop();
    }
    false
}

/// The device certificate of a two-level vendor attestation: the one among
/// `others` (the evidence after the leaf) that `leaf` names as issuer and
/// whose key verifies the leaf's signature. `what` names it in errors.
pub(crate) fn device_issuer<'a>(
    leaf: &Cert,
    others: &'a [Cert],
    format: Format,
    what: &str,
) -> Result<&'a Cert, AttestationError> {
    let mut last_err = None;
    let mut named = false;
    for c in others
        .iter()
        .filter(|c| leaf.issued_by_name(c) && !c.self_issued())
    {
        named = true;
        match check_link(leaf, c, false) {
            Ok(_) => return Ok(c),
            Err(e) => last_err = Some(e),
        }
    }
    if !named {
        return Err(AttestationError::Missing {
            format,
            what: format!(
                "{what} (the attested key's certificate names issuer '{}')",
                leaf.issuer
            ),
        });
    }
    Err(last_err.unwrap_or_else(|| AttestationError::Missing {
        format,
        what: what.to_string(),
    }))
}
