//! The audit record of a refused certificate request (CS BR 5.4.1.1: the
//! CA records rejected certificate requests with the reason). A refused
//! request changes nothing else: no request, order or invitation state is
//! stored for it, only this record.

use serde_json::json;

use super::enroll::EnrollmentRequest;
use super::{Ra, RaError};

/// A short, stable name of the refusal reason for the audit record.
fn reason_kind(e: &RaError) -> &'static str {
    match e {
        RaError::Invalid { .. } => "invalid",
        RaError::NotFound(_) => "not_found",
        RaError::Conflict(_) | RaError::AlreadyRevoked => "conflict",
        RaError::BadCsr(_) => "bad_csr",
        RaError::BadPublicKey(_) => "bad_public_key",
        RaError::RejectedIdentifier(_) => "rejected_identifier",
        RaError::Unauthorized(_) => "unauthorized",
        RaError::Policy(_) => "policy",
        RaError::BadAttestation(_) => "bad_attestation",
        RaError::Storage(_) | RaError::Ca(_) | RaError::Mail(_) => "failed",
    }
}

impl Ra {
    /// Appends `request.refused` for `req`, refused with `e`, naming the
    /// requester (the actor: "acme:<account>", "est:<kid>", "admin:...")
    /// and the reason. Attestation refusals also keep their own
    /// `attestation.refused` record with the evidence's facts.
    pub(crate) fn audit_refusal(&self, req: &EnrollmentRequest, profile: &str, e: &RaError) {
        let ev = self.event(
            &req.requester,
            "request.refused",
            json!({
                "profile": profile,
                "account": req.account,
                "email": req.email,
                "reason": reason_kind(e),
                "detail": e.to_string(),
            }),
        );
        // Appended on its own (nothing else is stored for a refusal).
        if let Err(err) = self.store.append_audit(&ev) {
            tracing::error!(error = %err, "audit record for a refused request failed");
        }
    }
}
