//! Admin API errors: JSON bodies that name the field and a fitting status.

use http::StatusCode;
use serde_json::json;

use crate::ra::RaError;

/// An admin API error response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub field: Option<String>,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            field: None,
            message: message.into(),
        }
    }

    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            kind: "invalid",
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", what)
    }

    pub fn body(&self) -> serde_json::Value {
        let mut e = json!({"type": self.kind, "message": self.message});
        if let Some(f) = &self.field {
            e["field"] = json!(f);
        }
        json!({ "error": e })
    }
}

impl From<RaError> for ApiError {
    fn from(e: RaError) -> ApiError {
        let msg = e.to_string();
        match e {
            RaError::Invalid { field, reason } => ApiError::field(&field, reason),
            RaError::NotFound(_) => ApiError::not_found(msg),
            RaError::Conflict(_) | RaError::AlreadyRevoked => {
                ApiError::new(StatusCode::CONFLICT, "conflict", msg)
            }
            RaError::BadCsr(_) => ApiError {
                field: Some("csr".into()),
                ..ApiError::new(StatusCode::BAD_REQUEST, "bad_csr", msg)
            },
            RaError::BadPublicKey(_) => ApiError {
                field: Some("csr".into()),
                ..ApiError::new(StatusCode::BAD_REQUEST, "bad_public_key", msg)
            },
            RaError::BadAttestation(_) => ApiError {
                field: Some("attestation".into()),
                ..ApiError::new(StatusCode::BAD_REQUEST, "bad_attestation", msg)
            },
            RaError::Policy(_) | RaError::RejectedIdentifier(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "policy", msg)
            }
            RaError::Unauthorized(_) => ApiError::new(StatusCode::FORBIDDEN, "unauthorized", msg),
            RaError::Storage(_) | RaError::Ca(_) | RaError::Mail(_) => {
                tracing::error!(error = %msg, "admin request failed");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", msg)
            }
        }
    }
}
