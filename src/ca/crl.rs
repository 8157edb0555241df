//! RFC 5280 v2 CRLs signed by the issuing CA.

use rcgen::{
    CertificateParams, CertificateRevocationListParams, KeyIdMethod, RevocationReason,
    RevokedCertParams, SerialNumber,
};
use time::OffsetDateTime;

use super::{CaError, RevokedEntry};

fn reason(code: u8) -> Result<RevocationReason, CaError> {
    Ok(match code {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        8 => RevocationReason::RemoveFromCrl,
        9 => RevocationReason::PrivilegeWithdrawn,
        10 => RevocationReason::AaCompromise,
        other => {
            return Err(CaError::InvalidRequest(format!(
                "{other} is not an RFC 5280 CRLReason code"
            )))
        }
    })
}

/// Minimal big-endian bytes of a non-negative integer (at least one byte).
fn minimal_be(n: u64) -> Vec<u8> {
    let bytes = n.to_be_bytes();
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    bytes[first..].to_vec()
}

pub(crate) fn sign(
    issuer_params: &CertificateParams,
    issuer_key: &impl rcgen::SigningKey,
    entries: &[RevokedEntry],
    crl_number: u64,
    this_update: OffsetDateTime,
    next_update: OffsetDateTime,
) -> Result<Vec<u8>, CaError> {
    let trunc = |t: OffsetDateTime| {
        t.to_offset(time::UtcOffset::UTC)
            .replace_nanosecond(0)
            .map_err(|e| CaError::InvalidRequest(e.to_string()))
    };
    let (this_update, next_update) = (trunc(this_update)?, trunc(next_update)?);
    if next_update <= this_update {
        return Err(CaError::InvalidRequest(
            "CRL nextUpdate must be later than thisUpdate".into(),
        ));
    }
    let revoked_certs = entries
        .iter()
        .map(|e| {
            Ok(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&e.serial.0),
                revocation_time: trunc(e.revoked_at)?,
                reason_code: Some(reason(e.reason_code)?),
                invalidity_date: e.invalidity_date.map(trunc).transpose()?,
            })
        })
        .collect::<Result<Vec<_>, CaError>>()?;
    let key_id = match &issuer_params.key_identifier_method {
        KeyIdMethod::PreSpecified(id) => id.clone(),
        _ => return Err(CaError::Signing("issuer key identifier unknown".into())),
    };
    let params = CertificateRevocationListParams {
        this_update,
        next_update,
        crl_number: SerialNumber::from_slice(&minimal_be(crl_number)),
        issuing_distribution_point: None,
        revoked_certs,
        key_identifier_method: KeyIdMethod::PreSpecified(key_id),
    };
    let issuer = rcgen::Issuer::from_params(issuer_params, issuer_key);
    let crl = params
        .signed_by(&issuer)
        .map_err(|e| CaError::Signing(format!("CRL: {e}")))?;
    Ok(crl.der().to_vec())
}
