//! revokeCert (RFC 8555 §7.6): by the ordering account (kid) or with the
//! certificate's own key (jwk), RFC 5280 reason codes, through the RA.

use http::StatusCode;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::jws::{self, b64_decode};
use super::problem::{Problem, ProblemType};
use super::types::RevokePayload;
use super::{Inner, Reply, Signed};
use crate::ra::acme::acme_requester;
use crate::ra::revoke::subscriber_reason_refusal;
use crate::ra::RaError;

impl Inner {
    pub(crate) fn revoke(&self, s: &Signed) -> Result<Reply, Problem> {
        let p: RevokePayload = serde_json::from_value(s.payload()?)
            .map_err(|e| Problem::malformed(format!("invalid revokeCert payload: {e}")))?;
        let der = b64_decode("certificate", &p.certificate)?;
        let (rest, x509) = X509Certificate::from_der(&der)
            .map_err(|_| Problem::malformed("certificate is not a DER X.509 certificate"))?;
        if !rest.is_empty() {
            return Err(Problem::malformed("trailing bytes after the certificate"));
        }
        let serial_bytes: Vec<u8> = x509
            .raw_serial()
            .iter()
            .copied()
            .skip_while(|b| *b == 0)
            .collect();
        let serial = hex::encode(serial_bytes);
        // RFC 8555 §7.6: badRevocationReason for a reason the server refuses
        // (certificateHold, the CA-only reasons, unknown codes; ra/revoke.rs)
        let reason = match p.reason {
            None => 0u8,
            Some(r) => {
                let code = u8::try_from(r).unwrap_or(u8::MAX);
                if let Some(why) = subscriber_reason_refusal(code) {
                    return Err(Problem::new(
                        ProblemType::BadRevocationReason,
                        if code == u8::MAX {
                            format!("reason {r} is not an RFC 5280 reason code")
                        } else {
                            why
                        },
                    ));
                }
                code
            }
        };
        let cert = self
            .store
            .get_certificate(&serial)?
            .filter(|c| c.der_bytes() == der)
            .ok_or_else(|| {
                Problem::not_found("a certificate issued by this server with that content")
            })?;
        let (account_id, by_key, actor) = match (&s.account, &s.jwk) {
            (Some(a), _) => (Some(a), false, acme_requester(&a.id)),
            (None, Some(jwk)) => {
                let thumb = jws::thumbprint(jwk)?;
                let cert_thumb = jws::spki_thumbprint(x509.public_key().raw);
                let matches = cert_thumb.as_deref() == Some(thumb.as_str());
                (None, matches, format!("acme-key:{thumb}"))
            }
            (None, None) => return Err(Problem::malformed("no key")),
        };
        self.ra
            .acme_may_revoke(&cert, account_id, by_key)
            .map_err(Problem::from)?;
        match self.ra.revoke(&cert.serial, reason, &actor) {
            Ok(_) => Ok(Reply::empty(StatusCode::OK)),
            Err(RaError::AlreadyRevoked) => Err(Problem::new(
                ProblemType::AlreadyRevoked,
                "the certificate is already revoked",
            )),
            Err(RaError::Invalid { reason, .. }) => {
                Err(Problem::new(ProblemType::BadRevocationReason, reason))
            }
            Err(e) => Err(e.into()),
        }
    }
}
