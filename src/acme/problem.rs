//! RFC 7807 problem documents with the RFC 8555 error types (§6.7), plus
//! `invalidProfile` from the ACME profiles draft and `badAttestationStatement`
//! from the device-attestation draft. Only the ACME front end builds these.

use hyper::StatusCode;
use serde::{Deserialize, Serialize};

use crate::ra::RaError;

/// The ACME error types Signet uses (the part after `urn:ietf:params:acme:error:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemType {
    AccountDoesNotExist,
    AlreadyReplaced,
    AlreadyRevoked,
    BadAttestationStatement,
    BadCsr,
    BadNonce,
    BadPublicKey,
    BadRevocationReason,
    BadSignatureAlgorithm,
    Compound,
    Conflict,
    ExternalAccountRequired,
    IncorrectResponse,
    InvalidContact,
    InvalidProfile,
    Malformed,
    OrderNotReady,
    /// Too many failed attempts (failed-authentication backoff): 429.
    RateLimited,
    RejectedIdentifier,
    ServerInternal,
    Unauthorized,
    UnsupportedContact,
    UnsupportedIdentifier,
    UserActionRequired,
    /// `malformed` with status 404 (unknown resource).
    NotFound,
    /// `malformed` with status 405.
    MethodNotAllowed,
}

impl ProblemType {
    /// The short name, e.g. `badNonce`.
    pub fn name(self) -> &'static str {
        match self {
            ProblemType::AccountDoesNotExist => "accountDoesNotExist",
            ProblemType::AlreadyReplaced => "alreadyReplaced",
            ProblemType::AlreadyRevoked => "alreadyRevoked",
            ProblemType::BadAttestationStatement => "badAttestationStatement",
            ProblemType::BadCsr => "badCSR",
            ProblemType::BadNonce => "badNonce",
            ProblemType::BadPublicKey => "badPublicKey",
            ProblemType::BadRevocationReason => "badRevocationReason",
            ProblemType::BadSignatureAlgorithm => "badSignatureAlgorithm",
            ProblemType::Compound => "compound",
            ProblemType::Conflict => "conflict",
            ProblemType::ExternalAccountRequired => "externalAccountRequired",
            ProblemType::IncorrectResponse => "incorrectResponse",
            ProblemType::InvalidContact => "invalidContact",
            ProblemType::InvalidProfile => "invalidProfile",
            ProblemType::Malformed => "malformed",
            ProblemType::OrderNotReady => "orderNotReady",
            ProblemType::RateLimited => "rateLimited",
            ProblemType::RejectedIdentifier => "rejectedIdentifier",
            ProblemType::ServerInternal => "serverInternal",
            ProblemType::Unauthorized => "unauthorized",
            ProblemType::UnsupportedContact => "unsupportedContact",
            ProblemType::UnsupportedIdentifier => "unsupportedIdentifier",
            ProblemType::UserActionRequired => "userActionRequired",
            ProblemType::NotFound => "notFound",
            ProblemType::MethodNotAllowed => "methodNotAllowed",
        }
    }

    /// The full type URI.
    pub fn uri(self) -> String {
        match self {
            // Boulder's convention: unknown resources are `malformed` with 404/405.
            ProblemType::NotFound | ProblemType::MethodNotAllowed => {
                "urn:ietf:params:acme:error:malformed".to_string()
            }
            other => format!("urn:ietf:params:acme:error:{}", other.name()),
        }
    }

    /// The HTTP status for this type.
    pub fn status(self) -> StatusCode {
        match self {
            ProblemType::Unauthorized => StatusCode::FORBIDDEN,
            ProblemType::AccountDoesNotExist => StatusCode::BAD_REQUEST,
            ProblemType::Conflict | ProblemType::AlreadyReplaced => StatusCode::CONFLICT,
            ProblemType::OrderNotReady => StatusCode::FORBIDDEN,
            ProblemType::ServerInternal => StatusCode::INTERNAL_SERVER_ERROR,
            ProblemType::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ProblemType::NotFound => StatusCode::NOT_FOUND,
            ProblemType::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ProblemType::UserActionRequired => StatusCode::FORBIDDEN,
            _ => StatusCode::BAD_REQUEST,
        }
    }
}

/// An identifier as it appears in problem documents and orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// A subproblem (RFC 8555 §6.7.1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subproblem {
    #[serde(rename = "type")]
    pub kind: String,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier: Option<Identifier>,
}

/// A problem document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub detail: String,
    pub status: u16,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subproblems: Vec<Subproblem>,
    /// For badSignatureAlgorithm: the accepted algorithms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub algorithms: Option<Vec<String>>,
    /// The instance this problem is about (e.g. the conflicting account URL);
    /// not serialized, the front end puts it in a Location header.
    #[serde(skip)]
    pub location: Option<Box<String>>,
}

impl Problem {
    pub fn new(kind: ProblemType, detail: impl Into<String>) -> Problem {
        Problem {
            kind: kind.uri(),
            detail: crate::text::escape(&detail.into()).into_owned(),
            status: kind.status().as_u16(),
            subproblems: Vec::new(),
            algorithms: None,
            location: None,
        }
    }

    pub fn malformed(detail: impl Into<String>) -> Problem {
        Problem::new(ProblemType::Malformed, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Problem {
        Problem::new(ProblemType::Unauthorized, detail)
    }

    pub fn internal(detail: impl Into<String>) -> Problem {
        Problem::new(ProblemType::ServerInternal, detail)
    }

    pub fn not_found(what: impl Into<String>) -> Problem {
        Problem::new(ProblemType::NotFound, format!("{} not found", what.into()))
    }

    /// Whether this problem has type `kind`.
    pub fn is(&self, kind: ProblemType) -> bool {
        self.kind == kind.uri()
    }

    pub fn with_subproblems(mut self, subs: Vec<Subproblem>) -> Problem {
        self.subproblems = subs;
        self
    }

    pub fn http_status(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The problem as a JSON value (stored on orders and challenges).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl Subproblem {
    pub fn new(
        kind: ProblemType,
        detail: impl Into<String>,
        identifier: Option<Identifier>,
    ) -> Self {
        Subproblem {
            kind: kind.uri(),
            detail: crate::text::escape(&detail.into()).into_owned(),
            identifier,
        }
    }
}

/// Translates an RA decision into the ACME problem a client sees.
impl From<RaError> for Problem {
    fn from(e: RaError) -> Problem {
        let detail = e.to_string();
        match e {
            RaError::BadCsr(_) => Problem::new(ProblemType::BadCsr, detail),
            RaError::BadPublicKey(_) => Problem::new(ProblemType::BadPublicKey, detail),
            RaError::RejectedIdentifier(_) => Problem::new(ProblemType::RejectedIdentifier, detail),
            RaError::Unauthorized(_) => Problem::unauthorized(detail),
            RaError::Policy(_) => Problem::new(ProblemType::Unauthorized, detail),
            RaError::BadAttestation(_) => {
                Problem::new(ProblemType::BadAttestationStatement, detail)
            }
            RaError::AlreadyRevoked => Problem::new(ProblemType::AlreadyRevoked, detail),
            RaError::Invalid { .. } => Problem::malformed(detail),
            RaError::NotFound(_) => Problem::not_found(detail),
            RaError::Conflict(_) => Problem::new(ProblemType::Conflict, detail),
            RaError::Storage(_) | RaError::Ca(_) | RaError::Mail(_) => {
                tracing::error!(error = %detail, "ACME request failed inside the server");
                Problem::internal("the server could not complete the request; try again later")
            }
        }
    }
}

impl From<crate::storage::StorageError> for Problem {
    fn from(e: crate::storage::StorageError) -> Problem {
        tracing::error!(error = %e, "ACME storage failure");
        Problem::internal("the server could not complete the request; try again later")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_document_has_rfc8555_type_and_status() {
        let p = Problem::new(ProblemType::BadNonce, "stale");
        let v: serde_json::Value = serde_json::from_slice(&p.to_json()).unwrap();
        assert_eq!(v["type"], "urn:ietf:params:acme:error:badNonce");
        assert_eq!(v["status"], 400);
        assert_eq!(v["detail"], "stale");
        assert!(v.get("subproblems").is_none());
        assert_eq!(Problem::unauthorized("x").status, 403);
        assert_eq!(Problem::new(ProblemType::Conflict, "x").status, 409);
    }

    #[test]
    fn subproblems_carry_identifiers() {
        let p = Problem::new(ProblemType::Compound, "two problems").with_subproblems(vec![
            Subproblem::new(
                ProblemType::UnsupportedIdentifier,
                "dns identifiers are not supported",
                Some(Identifier {
                    kind: "dns".into(),
                    value: "example.com".into(),
                }),
            ),
        ]);
        let v = p.to_value();
        assert_eq!(
            v["subproblems"][0]["type"],
            "urn:ietf:params:acme:error:unsupportedIdentifier"
        );
        assert_eq!(v["subproblems"][0]["identifier"]["value"], "example.com");
    }

    #[test]
    fn ra_errors_map_to_acme_types() {
        assert!(Problem::from(RaError::BadCsr("x".into())).is(ProblemType::BadCsr));
        assert!(Problem::from(RaError::BadPublicKey("x".into())).is(ProblemType::BadPublicKey));
        assert!(Problem::from(RaError::AlreadyRevoked).is(ProblemType::AlreadyRevoked));
        assert!(Problem::from(RaError::BadAttestation("x".into()))
            .is(ProblemType::BadAttestationStatement));
        let internal = Problem::from(RaError::Conflict("c".into()));
        assert_eq!(internal.status, 409);
    }
}
