//! The records Signet keeps. Plain serde types; storage encodes them as JSON.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ca::Template;
use crate::ra::attestation::AttestationPolicy;

/// An organization: the certificate subject's O (and L, ST, C from its address).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub street: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    /// ISO 3166-1 alpha-2
    pub country: String,
    /// Highest validation level reached: "ov" or "ev".
    pub validation: Template,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// EV subject: businessCategory ("Private Organization", "Government
    /// Entity", "Business Entity" or "Non-Commercial Entity").
    #[serde(default)]
    pub business_category: Option<String>,
    /// EV subject: jurisdictionCountryName (ISO 3166-1 alpha-2).
    #[serde(default)]
    pub jurisdiction_country: Option<String>,
    /// EV subject: jurisdictionStateOrProvinceName.
    #[serde(default)]
    pub jurisdiction_state: Option<String>,
    /// EV subject: jurisdictionLocalityName.
    #[serde(default)]
    pub jurisdiction_locality: Option<String>,
    /// EV subject: serialNumber, the registration (incorporation) number.
    #[serde(default)]
    pub registration_number: Option<String>,
}

/// A department of an organization: the subject's OU.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A person (or build agent) known by email address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Person {
    pub id: String,
    pub email: String,
    pub organization_id: String,
    pub department_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// A certificate profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub id: String,
    pub name: String,
    pub template: Template,
    /// Allowed terms in days (each at most the BR maximum).
    pub terms_days: Vec<u32>,
    /// Allowed key types, each exact: "rsa-3072", "rsa-4096", "ecdsa-p256", "ecdsa-p384", "ecdsa-p521".
    pub key_types: Vec<String>,
    pub requires_approval: bool,
    #[serde(default)]
    pub attestation: AttestationPolicy,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An enrollment endpoint: a URI label accounts hang off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub name: String,
    pub label: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// An account of an enrollment endpoint: binds organization, department,
/// allowed profiles and the approval mode.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointAccount {
    pub id: String,
    pub name: String,
    pub endpoint_id: String,
    pub organization_id: String,
    pub department_id: Option<String>,
    pub profile_ids: Vec<String>,
    pub auto_approve: bool,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Stored state of an invitation ("expired" is derived from the clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationState {
    Sent,
    Redeemed,
    Revoked,
}

/// An invitation: EAB credentials for one email address and endpoint account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// EAB key identifier (also the EST Basic user name).
    pub kid: String,
    /// The 256-bit HMAC key, base64url without padding. Secret: never log.
    pub hmac_key: String,
    pub email: String,
    pub account_id: String,
    pub profile_id: Option<String>,
    pub state: InvitationState,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub redeemed_at: Option<OffsetDateTime>,
    /// Who redeemed it: `acme:<account id>` or `est:<kid>`.
    pub redeemed_by: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl Invitation {
    /// The status an administrator sees: sent, redeemed, expired or revoked.
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        match self.state {
            InvitationState::Redeemed => "redeemed",
            InvitationState::Revoked => "revoked",
            InvitationState::Sent if now >= self.expires_at => "expired",
            InvitationState::Sent => "sent",
        }
    }
}

/// Status of a certificate request / certificate as the enterprise portals show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestStatus {
    Applied,
    Approved,
    Issued,
    Declined,
}

/// A certificate request (the issuance intent), stored before anything is signed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertRequest {
    pub id: String,
    pub status: RequestStatus,
    pub account_id: String,
    pub profile_id: String,
    pub email: String,
    /// The CSR, DER, base64url.
    pub csr: String,
    pub term_days: u32,
    /// Who asked: `admin`, `acme:<account>`, `est:<kid>`.
    pub requester: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub decided_by: Option<String>,
    pub message: Option<String>,
    /// Serial of the certificate once issued (hex).
    pub serial: Option<String>,
    /// Verified attestation facts (JSON), if any.
    pub attestation: Option<serde_json::Value>,
    /// The certificate (serial) this request renews (EST simplereenroll,
    /// ACME `replaces`); see `storage/lineage.rs`.
    #[serde(default)]
    pub renews: Option<String>,
}

/// Where a certificate stands in its renewal lineage (`storage/lineage.rs`):
/// each certificate renews at most one and is renewed at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// The certificate (serial) this one renewed.
    #[serde(default)]
    pub renews: Option<String>,
    /// The certificate (serial) that renewed this one.
    #[serde(default)]
    pub renewed_by: Option<String>,
    /// When it was renewed (the renewal's issuance).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub renewed_at: Option<OffsetDateTime>,
    /// The request that renews (or waits for approval to renew) this one.
    #[serde(default)]
    pub renewal_request: Option<String>,
}

/// A revocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// RFC 5280 CRLReason code.
    pub reason_code: u8,
    #[serde(with = "time::serde::rfc3339")]
    pub revoked_at: OffsetDateTime,
    pub revoked_by: String,
    /// From when the certificate is to be considered invalid (key
    /// compromise, suspect code): the CRL entry's revocationDate and
    /// invalidityDate (see `ra/revoke.rs`).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub invalid_since: Option<OffsetDateTime>,
}

/// An issued certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateRecord {
    /// Serial, lower-case hex.
    pub serial: String,
    /// The certificate, DER, base64url.
    pub der: String,
    pub request_id: String,
    pub account_id: String,
    pub profile_id: String,
    pub email: String,
    pub subject: String,
    /// SHA-256 of the SubjectPublicKeyInfo, hex.
    pub spki_sha256: String,
    #[serde(with = "time::serde::rfc3339")]
    pub not_before: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub not_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    pub requester: String,
    pub revocation: Option<Revocation>,
    pub attestation: Option<serde_json::Value>,
    /// Renewal lineage (what it renewed, what renewed it).
    #[serde(default)]
    pub lineage: Lineage,
}

impl CertificateRecord {
    /// issued, revoked or expired.
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.revocation.is_some() {
            "revoked"
        } else if now >= self.not_after {
            "expired"
        } else {
            "issued"
        }
    }

    /// The DER bytes.
    pub fn der_bytes(&self) -> Vec<u8> {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&self.der)
            .unwrap_or_default()
    }
}

/// One audit log entry; each carries the hash of the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub seq: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
    /// Hex SHA-256 of the previous record ("" for the first).
    pub prev_hash: String,
    /// Hex SHA-256 over prev_hash and this record's other fields.
    pub hash: String,
}

/// An audit entry to append (seq and hashes are assigned by storage).
#[derive(Debug, Clone)]
pub struct AuditEvent {
    pub at: OffsetDateTime,
    pub actor: String,
    pub action: String,
    pub details: serde_json::Value,
}
