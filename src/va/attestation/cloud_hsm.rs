//! (in progress)
use time::OffsetDateTime;

use super::cert::Cert;
use super::{AttestationError, AttestationFacts, TrustStore};

pub(crate) fn verify(_certs: &[Cert], _blob: Option<&[u8]>, _store: &TrustStore, _now: OffsetDateTime) -> Result<AttestationFacts, AttestationError> {
    Err(AttestationError::Malformed("not implemented".into()))
}
