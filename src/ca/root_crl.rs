//! The development root's CRL (CS BR 4.9.7, 7.2): no entries (the root has
//! revoked nothing), signed by the root key, `nextUpdate` 365 days after
//! `thisUpdate` (never more than twelve months). Kept in `<ca dir>/root.crl`
//! and re-issued with the next cRLNumber when it is due (30 days before
//! nextUpdate, checked at start-up and whenever it is served) or when the
//! file does not belong to the current root (on change). Served on the
//! plain-HTTP listener at `/crl/root.crl`, the cRLDistributionPoint of the
//! development issuing CA certificate.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rcgen::{CertificateParams, KeyPair};
use time::{Duration, OffsetDateTime};
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::hierarchy::write_file;
use super::CaError;

pub(crate) const ROOT_CRL: &str = "root.crl";

/// Validity of one root CRL, and how long before its nextUpdate it is re-issued.
pub(crate) const ROOT_CRL_DAYS: i64 = 365;
const REISSUE_BEFORE_DAYS: i64 = 30;

/// The current root CRL.
pub(crate) struct RootCrl {
    path: PathBuf,
    current: Mutex<Current>,
}

#[derive(Clone)]
struct Current {
    der: Vec<u8>,
    number: u64,
    next_update: OffsetDateTime,
}

impl RootCrl {
    /// Loads `<dir>/root.crl` when it is the root's and not due, else issues a new one.
    pub(crate) fn load_or_issue(
        dir: &Path,
        root_der: &[u8],
        root_params: &CertificateParams,
        root_key: &KeyPair,
        now: OffsetDateTime,
    ) -> Result<RootCrl, CaError> {
        let path = dir.join(ROOT_CRL);
        let stored = std::fs::read(&path)
            .ok()
            .and_then(|der| parse(&der, root_der).map(|(number, next)| (der, number, next)));
        let current = match stored {
            Some((der, number, next_update)) => Current {
                der,
                number,
                next_update,
            },
            None => Current {
                der: Vec::new(),
                number: 0,
                next_update: now,
            },
        };
        let crl = RootCrl {
            path,
            current: Mutex::new(current),
        };
        crl.current(root_params, root_key, now)?;
        Ok(crl)
    }

    /// The root CRL (DER), re-issued first when it is due.
    pub(crate) fn current(
        &self,
        root_params: &CertificateParams,
        root_key: &KeyPair,
        now: OffsetDateTime,
    ) -> Result<Vec<u8>, CaError> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if cur.der.is_empty() || now >= cur.next_update - Duration::days(REISSUE_BEFORE_DAYS) {
            let number = cur.number + 1;
            let next_update = now + Duration::days(ROOT_CRL_DAYS);
            let der = super::crl::sign(root_params, root_key, &[], number, now, next_update)?;
            write_file(&self.path, &der, false)?;
            tracing::info!(crl_number = number, file = %self.path.display(), "issued the root CRL");
            *cur = Current {
                der,
                number,
                next_update,
            };
        }
        Ok(cur.der.clone())
    }
}

/// (cRLNumber, nextUpdate) of a stored CRL that the root `root_der` signed.
fn parse(der: &[u8], root_der: &[u8]) -> Option<(u64, OffsetDateTime)> {
    let (_, root) = x509_parser::parse_x509_certificate(root_der).ok()?;
    let (_, crl) = CertificateRevocationList::from_der(der).ok()?;
    if crl.issuer().as_raw() != root.subject().as_raw() {
        return None;
    }
    crl.verify_signature(root.public_key()).ok()?;
    let bytes = crl.crl_number()?.to_bytes_be();
    if bytes.len() > 8 {
        return None;
    }
    let number = bytes.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b));
    let next = crl.next_update()?.to_datetime();
    Some((number, next))
}
