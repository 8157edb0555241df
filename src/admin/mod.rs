//! The admin API: JSON over HTTPS under `/admin/v1`, bearer token.
//!
//! | method | path | does |
//! |---|---|---|
//! | GET/POST | `/organizations` | list / create |
//! | GET | `/organizations/{id or name}` | show |
//! | GET/POST | `/departments`, `/profiles`, `/endpoints`, `/accounts` | list / create |
//! | GET | `/profiles/{id}`, `/endpoints/{id}`, `/accounts/{id}` | show |
//! | GET/POST | `/invitations` | list / create (the response carries the EAB key once) |
//! | GET | `/invitations/{kid}` | show |
//! | POST | `/invitations/{kid}/revoke` | revoke |
//! | GET/POST | `/certificates` | list / request with a CSR (manual enrollment) |
//! | GET | `/certificates/{serial}` | show |
//! | GET | `/certificates/{serial}/download?format=pem\|chain\|pkcs7\|pkcs7-pem` | download |
//! | POST | `/certificates/{serial}/revoke` | revoke `{"reason": "keyCompromise", "invalid_since"?: RFC 3339, "lineage"?: bool}` |
//! | GET | `/requests` | certificate requests (applied, approved, issued, declined) |
//! | POST | `/requests/{id}/approve` | approve `{"message"?}` and issue |
//! | POST | `/requests/{id}/decline` | decline `{"reason"}` |
//! | GET | `/audit/verify` | check the audit hash chain |
//! | GET | `/audit/export` | the audit log as JSON lines |
//! | POST | `/crl/publish` | sign and publish a fresh CRL now |
//!
//! Errors are `{"error": {"type", "message", "field"?}}` with 400/401/403/404/409/500.

mod body;
mod error;
mod subject;
mod views;

use std::sync::Arc;

use base64::Engine;
use http::{Method, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use body::parse;
pub use error::ApiError;

use crate::ra::{
    EnrollmentOutcome, EnrollmentRequest, NewAccount, NewDepartment, NewEndpoint, NewInvitation,
    NewOrganization, NewProfile, Ra,
};

/// The path prefix the admin API is served under.
pub const PREFIX: &str = "/admin/v1";

/// What the admin API answers: status, content type and body.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Reply {
    fn json(status: StatusCode, v: &Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec_pretty(v).unwrap_or_default(),
        }
    }
}

/// The admin API front end.
pub struct AdminApi {
    ra: Arc<Ra>,
    token: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertRequestBody {
    account: String,
    #[serde(default)]
    profile: Option<String>,
    email: String,
    /// PEM text, or base64/base64url DER.
    csr: String,
    #[serde(default)]
    term_days: Option<u32>,
    #[serde(default)]
    attestation: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeBody {
    #[serde(default)]
    reason: Option<String>,
    /// RFC 3339: from when the certificate is invalid (keyCompromise, suspect code).
    #[serde(default)]
    invalid_since: Option<String>,
    /// keyCompromise: also revoke every certificate renewed from this one.
    #[serde(default)]
    lineage: bool,
}

/// Decodes a CSR given as PEM text or base64(url) DER.
pub fn csr_bytes(text: &str) -> Result<Vec<u8>, ApiError> {
    let t = text.trim();
    if t.starts_with("-----BEGIN") {
        return Ok(t.as_bytes().to_vec());
    }
    let compact: String = t.chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(compact.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(&compact))
        .map_err(|_| ApiError::field("csr", "must be PEM text or base64 DER"))
}

impl AdminApi {
    pub fn new(ra: Arc<Ra>, token: String) -> AdminApi {
        AdminApi { ra, token }
    }

    /// Whether `authorization` carries the admin bearer token (constant time).
    fn authorized(&self, authorization: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        let Some(given) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
            return false;
        };
        let given = given.trim().as_bytes();
        let want = self.token.as_bytes();
        given.len() == want.len() && bool::from(given.ct_eq(want))
    }

    /// Handles one request. `path` is the full request path.
    pub fn handle(
        &self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Reply {
        if !self.authorized(authorization) {
            let e = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong bearer token",
            );
            return Reply::json(e.status, &e.body());
        }
        let rest = path.strip_prefix(PREFIX).unwrap_or(path);
        let decoded = match decode_segments(rest) {
            Ok(d) => d,
            Err(e) => return Reply::json(e.status, &e.body()),
        };
        let parts: Vec<&str> = decoded.iter().map(String::as_str).collect();
        match self.route(method, &parts, query, body) {
            Ok(r) => r,
            Err(e) => Reply::json(e.status, &e.body()),
        }
    }

    fn route(
        &self,
        method: &Method,
        parts: &[&str],
        query: Option<&str>,
        body: &[u8],
    ) -> Result<Reply, ApiError> {
        let ra = &self.ra;
        let actor = "admin";
        let ok = |v: Value| Ok(Reply::json(StatusCode::OK, &v));
        let created = |v: Value| Ok(Reply::json(StatusCode::CREATED, &v));
        let now = ra.clock().now();
        match (method, parts) {
            (&Method::GET, ["organizations"]) => {
                ok(json!(ra.store().list_organizations().map_err(ra_err)?))
            }
            (&Method::POST, ["organizations"]) => created(json!(
                ra.create_organization(&parse::<NewOrganization>(body)?, actor)?
            )),
            (&Method::GET, ["organizations", id]) => ok(json!(ra.organization(id)?)),
            (&Method::GET, ["departments"]) => {
                ok(json!(ra.store().list_departments().map_err(ra_err)?))
            }
            (&Method::POST, ["departments"]) => created(json!(
                ra.create_department(&parse::<NewDepartment>(body)?, actor)?
            )),
            (&Method::GET, ["profiles"]) => {
                ok(json!(ra.store().list_profiles().map_err(ra_err)?))
            }
            (&Method::POST, ["profiles"]) => {
                created(json!(ra.create_profile(&parse::<NewProfile>(body)?, actor)?))
            }
            (&Method::GET, ["profiles", id]) => ok(json!(ra.profile(id)?)),
            (&Method::GET, ["endpoints"]) => {
                ok(json!(ra.store().list_endpoints().map_err(ra_err)?))
            }
            (&Method::POST, ["endpoints"]) => created(json!(
                ra.create_endpoint(&parse::<NewEndpoint>(body)?, actor)?
            )),
            (&Method::GET, ["endpoints", id]) => ok(json!(ra.endpoint(id)?)),
            (&Method::GET, ["accounts"]) => {
                ok(json!(ra.store().list_accounts().map_err(ra_err)?))
            }
            (&Method::POST, ["accounts"]) => {
                created(json!(ra.create_account(&parse::<NewAccount>(body)?, actor)?))
            }
            (&Method::GET, ["accounts", id]) => ok(json!(ra.account(id)?)),
            (&Method::GET, ["invitations"]) => {
                let list = ra.store().list_invitations().map_err(ra_err)?;
                ok(Value::Array(
                    list.iter().map(|i| views::invitation(i, now)).collect(),
                ))
            }
            (&Method::POST, ["invitations"]) => created(json!(
                ra.create_invitation(&parse::<NewInvitation>(body)?, actor)?
            )),
            (&Method::GET, ["invitations", kid]) => {
                ok(views::invitation(&ra.invitation(kid)?, now))
            }
            (&Method::POST, ["invitations", kid, "revoke"]) => {
                ok(views::invitation(&ra.revoke_invitation(kid, actor)?, now))
            }
            (&Method::GET, ["certificates"]) => {
                let list = ra.store().list_certificates().map_err(ra_err)?;
                ok(Value::Array(
                    list.iter()
                        .map(|c| views::certificate(c, now, None))
                        .collect(),
                ))
            }
            (&Method::POST, ["certificates"]) => self.request_certificate(parse(body)?),
            (&Method::GET, ["certificates", serial]) => {
                let c = ra.certificate(serial)?;
                let pem = views::chain_pem(ra, &c);
                let mut v = views::certificate(&c, now, Some(&pem));
                views::add_lineage(&mut v, &ra.lineage_of(&c)?);
                ok(v)
            }
            (&Method::GET, ["certificates", serial, "download"]) => {
                let c = ra.certificate(serial)?;
                let format = query_param(query, "format").unwrap_or_else(|| "chain".into());
                views::download(ra, &c, &format)
            }
            (&Method::POST, ["certificates", serial, "revoke"]) => {
                let b: RevokeBody = if body.is_empty() {
                    RevokeBody::default()
                } else {
                    parse(body)?
                };
                let reason = b.reason.as_deref().unwrap_or("unspecified");
                let code = crate::ra::revoke::reason_code(reason).ok_or_else(|| {
                    ApiError::field("reason", format!("{reason:?} is not an RFC 5280 reason"))
                })?;
                let invalid_since = match b.invalid_since.as_deref() {
                    None => None,
                    Some(t) => Some(
                        time::OffsetDateTime::parse(
                            t,
                            &time::format_description::well_known::Rfc3339,
                        )
                        .map_err(|e| {
                            ApiError::field(
                                "invalid_since",
                                format!("{t:?} is not an RFC 3339 time: {e}"),
                            )
                        })?,
                    ),
                };
                let order = crate::ra::revoke::RevocationOrder {
                    reason_code: code,
                    invalid_since,
                    lineage: b.lineage,
                };
                let r = ra.revoke_as(serial, &order, actor)?;
                let mut v = views::certificate(&r.certificate, now, None);
                v["descendants_revoked"] = json!(r
                    .descendants
                    .iter()
                    .map(|c| c.serial.as_str())
                    .collect::<Vec<_>>());
                views::add_lineage(&mut v, &ra.lineage_of(&r.certificate)?);
                ok(v)
            }
            (&Method::GET, ["requests"]) => {
                ok(json!(ra.store().list_requests().map_err(ra_err)?))
            }
            (&Method::GET, ["requests", id]) => ok(json!(ra
                .store()
                .get_request(id)
                .map_err(ra_err)?
                .ok_or_else(|| ApiError::not_found(format!("request {id:?} not found")))?)),
            (&Method::POST, ["requests", id, "approve"]) => {
                let b: DecisionBody = if body.is_empty() {
                    DecisionBody::default()
                } else {
                    parse(body)?
                };
                let cert = ra.approve(id, actor, b.message.as_deref())?;
                let pem = views::chain_pem(ra, &cert);
                ok(views::certificate(&cert, now, Some(&pem)))
            }
            (&Method::POST, ["requests", id, "decline"]) => {
                let b: DecisionBody = if body.is_empty() {
                    DecisionBody::default()
                } else {
                    parse(body)?
                };
                let reason = b.reason.unwrap_or_default();
                ok(json!(ra.decline(id, actor, &reason)?))
            }
            (&Method::GET, ["audit", "verify"]) => {
                let verdict = ra.store().verify_audit().map_err(ra_err)?;
                ok(match verdict {
                    crate::storage::audit::AuditVerdict::Intact { records } => {
                        json!({"intact": true, "records": records})
                    }
                    crate::storage::audit::AuditVerdict::Broken { seq, reason } => {
                        json!({"intact": false, "first_bad_record": seq, "reason": reason})
                    }
                })
            }
            (&Method::GET, ["audit", "export"]) => {
                let mut out = Vec::new();
                for r in ra.store().audit_records().map_err(ra_err)? {
                    out.extend_from_slice(&serde_json::to_vec(&r).unwrap_or_default());
                    out.push(b'\n');
                }
                Ok(Reply {
                    status: StatusCode::OK,
                    content_type: "application/x-ndjson",
                    body: out,
                })
            }
            (&Method::POST, ["crl", "publish"]) => {
                let crl = ra.publish_crl(actor)?;
                ok(json!({"number": crl.number, "entries": crl.entries,
                          "this_update": crl.this_update.unix_timestamp(),
                          "next_update": crl.next_update.unix_timestamp()}))
            }
            _ => Err(ApiError::not_found(format!(
                "no admin route {method} {PREFIX}/{}",
                parts.join("/")
            ))),
        }
    }

    fn request_certificate(&self, b: CertRequestBody) -> Result<Reply, ApiError> {
        let csr = csr_bytes(&b.csr)?;
        let email = crate::ra::invitations::check_email("email", &b.email)?;
        let req = EnrollmentRequest {
            account: b.account,
            profile: b.profile,
            email,
            csr,
            term_days: b.term_days,
            attestation: b.attestation,
            requester: "admin".into(),
            link: Default::default(),
            request_id: None,
            renews: None,
        };
        let now = self.ra.clock().now();
        match self.ra.enroll(&req)? {
            EnrollmentOutcome::Issued(cert) => {
                let pem = views::chain_pem(&self.ra, &cert);
                Ok(Reply::json(
                    StatusCode::CREATED,
                    &views::certificate(&cert, now, Some(&pem)),
                ))
            }
            EnrollmentOutcome::Pending(r) => Ok(Reply::json(
                StatusCode::ACCEPTED,
                &json!({"status": "applied", "request": r}),
            )),
        }
    }
}

fn ra_err(e: crate::storage::StorageError) -> ApiError {
    ApiError::from(crate::ra::RaError::from_store(e))
}

/// The path's segments, each percent-decoded (an encoded `/` stays inside its segment).
fn decode_segments(rest: &str) -> Result<Vec<String>, ApiError> {
    rest.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .map(|d| d.into_owned())
                .map_err(|_| {
                    ApiError::field(
                        "path",
                        format!("segment {s:?} is not UTF-8 once percent-decoded"),
                    )
                })
        })
        .collect()
}

/// The percent-decoded value of query parameter `name`.
fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
}
