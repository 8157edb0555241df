//! RFC 8555 objects as serde types: what clients send (payloads) and what the
//! server answers (resources).

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use super::problem::Identifier;

/// The directory (RFC 8555 §7.1.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Directory {
    pub new_nonce: String,
    pub new_account: String,
    pub new_order: String,
    pub revoke_cert: String,
    pub key_change: String,
    /// RFC 9773
    pub renewal_info: String,
    pub meta: DirectoryMeta,
}

/// The directory's `meta` object.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryMeta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub terms_of_service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    pub external_account_required: bool,
    /// draft-aaron-acme-profiles: profile name -> description.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub profiles: serde_json::Map<String, Value>,
}

/// newAccount payload (§7.3).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAccountPayload {
    #[serde(default)]
    pub contact: Option<Vec<String>>,
    #[serde(default)]
    pub terms_of_service_agreed: Option<bool>,
    #[serde(default)]
    pub only_return_existing: Option<bool>,
    #[serde(default)]
    pub external_account_binding: Option<Value>,
}

/// Account update payload (§7.3.2, §7.3.6).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountUpdatePayload {
    #[serde(default)]
    pub contact: Option<Vec<String>>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub terms_of_service_agreed: Option<bool>,
}

/// The account resource (§7.1.2).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountResource {
    pub status: String,
    pub contact: Vec<String>,
    pub terms_of_service_agreed: bool,
    pub orders: String,
    /// The account key (informational, as Boulder and Pebble show it).
    pub key: Value,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
}

/// keyChange inner payload (§7.3.5).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyChangePayload {
    pub account: String,
    pub old_key: Value,
}

/// newOrder payload (§7.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderPayload {
    pub identifiers: Vec<Value>,
    #[serde(default)]
    pub not_before: Option<String>,
    #[serde(default)]
    pub not_after: Option<String>,
    /// draft-aaron-acme-profiles
    #[serde(default)]
    pub profile: Option<String>,
    #[serde(default)]
    pub replaces: Option<String>,
}

/// The order resource (§7.1.3).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderResource {
    pub status: String,
    pub expires: String,
    pub identifiers: Vec<Identifier>,
    pub authorizations: Vec<String>,
    pub finalize: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// RFC 9773: the CertID of the certificate this order replaces.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaces: Option<String>,
}

/// The orders list (§7.1.2.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrdersList {
    pub orders: Vec<String>,
}

/// The authorization resource (§7.1.4).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizationResource {
    pub identifier: Identifier,
    pub status: String,
    pub expires: String,
    pub challenges: Vec<ChallengeResource>,
}

/// An email-reply-00 challenge (RFC 8823 §3).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChallengeResource {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
    pub status: String,
    /// token-part2
    pub token: String,
    /// The address the challenge mail comes from.
    pub from: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validated: Option<String>,
    /// Only on an `invalid` challenge (RFC 8555 §8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Signet extension: why replies were refused (newest last, at most
    /// 20), also on a challenge still waiting for the genuine reply.
    #[serde(
        rename = "refusedReplies",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub refused_replies: Vec<String>,
}

/// finalize payload (§7.4): the CSR as base64url DER or, as a Signet
/// extension, a PEM string; plus an optional key attestation.
#[derive(Debug, Clone, Deserialize)]
pub struct FinalizePayload {
    pub csr: String,
    #[serde(default)]
    pub attestation: Option<Value>,
}

/// revokeCert payload (§7.6).
#[derive(Debug, Clone, Deserialize)]
pub struct RevokePayload {
    pub certificate: String,
    #[serde(default)]
    pub reason: Option<i64>,
}

/// Formats a time as RFC 3339.
pub fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
