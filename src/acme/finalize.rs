//! Finalize (RFC 8555 §7.4): the CSR (standard base64url DER, or as a
//! documented Signet extension a PEM string) plus an optional `attestation`
//! member goes through the same RA policy and CA core as every other path.
//! The order moves ready -> processing -> valid (or stays processing, with
//! Retry-After, while an administrator decides).

use http::StatusCode;
use x509_parser::prelude::FromDer;

use super::jws::b64_decode;
use super::problem::{Problem, ProblemType};
use super::types::FinalizePayload;
use super::{Inner, Reply, Signed};
use crate::csr::Csr;
use crate::ra::acme::acme_requester;
use crate::ra::{EnrollmentOutcome, EnrollmentRequest, RaError};
use crate::storage::acme::OrderStatus;
use crate::storage::{new_id, RequestLink};

const SAN_OID: &str = "2.5.29.17";

/// Decodes the `csr` member: base64url DER, or PEM text.
pub fn decode_csr(csr: &str) -> Result<Vec<u8>, Problem> {
    let t = csr.trim_start();
    if t.starts_with("-----BEGIN") {
        return Ok(csr.as_bytes().to_vec());
    }
    b64_decode("csr", csr.trim())
        .map_err(|_| Problem::new(ProblemType::BadCsr, "csr is neither base64url DER nor PEM"))
}

/// The CSR may name identifiers; if it does they must be exactly the order's
/// email address (RFC 8555 §7.4). Signet takes only the key from the CSR.
fn check_csr_identifiers(csr: &Csr, email: &str) -> Result<(), Problem> {
    use x509_parser::extensions::{GeneralName, SubjectAlternativeName};
    let Some(ext) = csr.requested_extension(SAN_OID) else {
        return Ok(());
    };
    if ext.value == [0x30, 0x00] {
        return Ok(()); // an empty GeneralNames, as some clients (acme-client) send
    }
    let (_, san) = SubjectAlternativeName::from_der(&ext.value)
        .map_err(|_| Problem::new(ProblemType::BadCsr, "the CSR's subjectAltName is malformed"))?;
    for name in &san.general_names {
        match name {
            GeneralName::RFC822Name(e) if e.eq_ignore_ascii_case(email) => {}
            other => {
                return Err(Problem::new(
                    ProblemType::BadCsr,
                    format!("the CSR requests {other}, but the order is for email {email} only"),
                ))
            }
        }
    }
    Ok(())
}

impl Inner {
    pub(crate) fn finalize(&self, s: &Signed, id: &str) -> Result<Reply, Problem> {
        let acct = s.account()?.clone();
        let order = self.owned_order(s, id)?;
        let order = self.refresh_order(order)?;
        if order.status != OrderStatus::Ready {
            let mut p = Problem::new(
                ProblemType::OrderNotReady,
                format!(
                    "the order is {}, not ready; {}",
                    super::status_name(&order.status),
                    match order.status {
                        OrderStatus::Pending => "validate its authorization first",
                        OrderStatus::Processing | OrderStatus::Valid => "it was already finalized",
                        _ => "create a new order",
                    }
                ),
            );
            p.status = StatusCode::FORBIDDEN.as_u16();
            return Err(p);
        }
        let p: FinalizePayload = serde_json::from_value(s.payload()?)
            .map_err(|e| Problem::malformed(format!("invalid finalize payload: {e}")))?;
        let csr_bytes = decode_csr(&p.csr)?;
        let csr =
            Csr::parse(&csr_bytes).map_err(|e| Problem::new(ProblemType::BadCsr, e.to_string()))?;
        check_csr_identifiers(&csr, &order.email)?;

        // The order's intent (ready -> processing) is checked and claimed
        // before signing and written with the certificate
        // (storage::RequestLink, storage/claims.rs): of two concurrent
        // finalizations one wins, and a refused CSR leaves the order ready.
        let request_id = new_id("req");
        let req = EnrollmentRequest {
            account: acct.endpoint_account_id.clone(),
            profile: order.profile.clone(),
            email: order.email.clone(),
            csr: csr.der.clone(),
            term_days: None,
            attestation: p.attestation.clone(),
            requester: acme_requester(&acct.id),
            // the order becomes valid (or records its pending request) in
            // the same transaction as the certificate (or request)
            link: RequestLink::AcmeOrder {
                order_id: order.id.clone(),
            },
            request_id: Some(request_id.clone()),
            // RFC 9773 `replaces`: a certificate is replaced once (acme/ari.rs)
            renews: self.replaced_serial(order.replaces.as_deref())?,
        };
        match self.ra.enroll_parsed(&req, &csr) {
            Ok(outcome) => {
                self.ra.metrics().acme_order("processing");
                if matches!(outcome, EnrollmentOutcome::Issued(_)) {
                    self.ra.metrics().acme_order("valid");
                }
                let o = self
                    .store
                    .get_acme_order(&order.id)?
                    .ok_or_else(|| Problem::internal("the finalized order disappeared"))?;
                Ok(self.order_reply(&o, StatusCode::OK))
            }
            Err(RaError::Conflict(m)) if m.contains("a certificate renews once") => {
                Err(Problem::new(ProblemType::AlreadyReplaced, m))
            }
            Err(RaError::Conflict(m)) if m.contains("order is no longer ready") => {
                let mut p = Problem::new(ProblemType::OrderNotReady, m);
                p.status = StatusCode::FORBIDDEN.as_u16();
                Err(p)
            }
            Err(e) => {
                // A failed issuance wrote nothing: the order is still ready,
                // and the client can finalize again.
                Err(match e {
                    RaError::Policy(m) => Problem::new(ProblemType::Unauthorized, m),
                    other => Problem::from(other),
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csr_accepts_pem_and_base64url() {
        assert!(decode_csr(
            "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"
        )
        .unwrap()
        .starts_with(b"-----BEGIN"));
        assert_eq!(decode_csr("AAEC").unwrap(), vec![0, 1, 2]);
        assert!(decode_csr("AA==").unwrap_err().is(ProblemType::BadCsr));
        assert!(decode_csr("!!").unwrap_err().is(ProblemType::BadCsr));
    }
}
