//! EST (RFC 7030, with the RFC 8951 base64 rules) for build agents.
//!
//! Served under `/.well-known/est/` and `/.well-known/est/<label>/`, where a
//! label names an enrollment endpoint (same operations either way; an unknown
//! label is a 404):
//!
//! | operation | method | authentication | answer |
//! | --- | --- | --- | --- |
//! | `cacerts` | GET | none | certs-only PKCS#7 (issuing CA + root) |
//! | `simpleenroll` | POST `application/pkcs10` | HTTP Basic: kid / HMAC key of an invitation | `application/pkcs7-mime; smime-type=certs-only`, or 202 + Retry-After |
//! | `simplereenroll` | POST `application/pkcs10` | TLS client certificate issued by Signet | same |
//! | `csrattrs` | GET | none | `application/csrattrs` (key types, signature algorithms, attestation extensions) |
//! | `serverkeygen` | POST | - | 403: code-signing keys must be generated in the requester's hardware |
//! | `fullcmc` | POST | - | 501 |
//!
//! Bodies are base64 of DER both ways; requests may wrap lines, omit
//! `Content-Transfer-Encoding` or padding; responses carry
//! `Content-Transfer-Encoding: base64` for older clients. Errors are
//! `text/plain` with the reason: 400 bad CSR or body, 401 (with
//! `WWW-Authenticate: Basic`) missing/refused credentials, 403 policy
//! refusals, 404 unknown label or operation, 405 wrong method, 415 wrong
//! content type. All decisions are the RA's ([`crate::ra::est`]).

pub mod auth;
pub mod encoding;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};

use crate::config::EstConfig;
use crate::http::routing::{response, BoxFuture, FrontEnd, HttpRequest, HttpResponse, RouteLabel};
use crate::ra::est::{EstError, EstOutcome};
use crate::ra::{Ra, RaError};

/// The path prefix of every EST resource.
pub const PREFIX: &str = "/.well-known/est";
/// The realm of the Basic challenge.
pub const REALM: &str = "signet-est";

const CT_PKCS7: &str = "application/pkcs7-mime";
const CT_PKCS7_CERTS_ONLY: &str = "application/pkcs7-mime; smime-type=certs-only";
const CT_CSRATTRS: &str = "application/csrattrs";
const CT_PKCS10: &str = "application/pkcs10";
const CT_TEXT: &str = "text/plain; charset=utf-8";

/// The EST operations (RFC 7030 section 3.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    CaCerts,
    SimpleEnroll,
    SimpleReenroll,
    CsrAttrs,
    ServerKeygen,
    FullCmc,
}

impl Operation {
    /// Whether this is an enrollment: it runs on the bounded issuance pool
    /// (`Ra::run_issuing`) and its answer waits for its durable flush; the
    /// others (`cacerts`, `csrattrs`, the refusals) are short and run inline
    /// on Tokio's workers.
    fn may_wait(self) -> bool {
        matches!(self, Operation::SimpleEnroll | Operation::SimpleReenroll)
    }

    fn parse(s: &str) -> Option<Operation> {
        Some(match s {
            "cacerts" => Operation::CaCerts,
            "simpleenroll" => Operation::SimpleEnroll,
            "simplereenroll" => Operation::SimpleReenroll,
            "csrattrs" => Operation::CsrAttrs,
            "serverkeygen" => Operation::ServerKeygen,
            "fullcmc" => Operation::FullCmc,
            _ => return None,
        })
    }

    fn route(self) -> &'static str {
        match self {
            Operation::CaCerts => "/.well-known/est/cacerts",
            Operation::SimpleEnroll => "/.well-known/est/simpleenroll",
            Operation::SimpleReenroll => "/.well-known/est/simplereenroll",
            Operation::CsrAttrs => "/.well-known/est/csrattrs",
            Operation::ServerKeygen => "/.well-known/est/serverkeygen",
            Operation::FullCmc => "/.well-known/est/fullcmc",
        }
    }

    fn method(self) -> Method {
        match self {
            Operation::CaCerts | Operation::CsrAttrs => Method::GET,
            _ => Method::POST,
        }
    }
}

/// Splits the path after [`PREFIX`] into (label, operation).
/// `None` when it names no EST resource.
pub fn parse_path(rest: &str) -> Option<(Option<&str>, Operation)> {
    let rest = rest.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let first = parts.next()?;
    let second = parts.next();
    if parts.next().is_some() {
        return None;
    }
    match second {
        None => Operation::parse(first).map(|op| (None, op)),
        Some(op) => {
            let valid_label = !first.is_empty()
                && first.len() <= 64
                && first
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
            if !valid_label {
                return None;
            }
            Operation::parse(op).map(|op| (Some(first), op))
        }
    }
}

/// The EST front end.
pub struct EstFrontEnd {
    ra: Arc<Ra>,
    config: EstConfig,
    /// Whether TLS is terminated by a proxy in front of Signet (then `req.tls`
    /// is false and client certificates are not available).
    behind_tls_proxy: bool,
    /// Backoff after failed Basic authentication (None: no throttling).
    throttle: Option<Arc<crate::http::throttle::AuthThrottle>>,
}

impl EstFrontEnd {
    pub fn new(ra: Arc<Ra>, config: EstConfig, behind_tls_proxy: bool) -> EstFrontEnd {
        EstFrontEnd {
            ra,
            config,
            behind_tls_proxy,
            throttle: None,
        }
    }

    /// The front end as `signet serve` mounts it: with the server's
    /// failed-authentication throttle.
    pub fn mounted(
        ra: Arc<Ra>,
        config: EstConfig,
        behind_tls_proxy: bool,
        throttle: Arc<crate::http::throttle::AuthThrottle>,
    ) -> EstFrontEnd {
        let mut est = Self::new(ra, config, behind_tls_proxy);
        est.throttle = Some(throttle);
        est
    }

    /// Answers one EST request (runs the RA on the blocking pool).
    pub async fn answer(&self, req: HttpRequest) -> HttpResponse {
        let Some((label, op)) = req.path_under(PREFIX).and_then(parse_path) else {
            return text(
                StatusCode::NOT_FOUND,
                &format!("no EST resource at {}", req.path),
            );
        };
        let label = label.map(str::to_string);
        let mut resp = self.dispatch(req, label, op).await;
        resp.extensions_mut().insert(RouteLabel(op.route()));
        resp
    }

    async fn dispatch(
        &self,
        req: HttpRequest,
        label: Option<String>,
        op: Operation,
    ) -> HttpResponse {
        let method_ok =
            req.method == op.method() || (req.method == Method::HEAD && op.method() == Method::GET);
        if !method_ok {
            let mut resp = text(
                StatusCode::METHOD_NOT_ALLOWED,
                &format!("{} is not allowed here; use {}", req.method, op.method()),
            );
            if let Ok(v) = HeaderValue::from_str(op.method().as_str()) {
                resp.headers_mut().insert(http::header::ALLOW, v);
            }
            return resp;
        }
        if !req.tls && !self.behind_tls_proxy {
            return text(StatusCode::FORBIDDEN, "EST is only served over TLS");
        }
        let ra = self.ra.clone();
        let config = self.config.clone();
        let head = req.method == Method::HEAD;
        let failed = || {
            text(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the request could not be processed",
            )
        };
        let mut resp = if op.may_wait() {
            let worker = ra.clone();
            let throttle = self.throttle.clone();
            let job = move || {
                handle(
                    &worker,
                    &config,
                    throttle.as_deref(),
                    &req,
                    label.as_deref(),
                    op,
                )
            };
            match ra.run_issuing(job).await {
                Ok(resp) => resp,
                Err(e) => {
                    tracing::error!(error = %e, "EST enrollment did not complete");
                    failed()
                }
            }
        } else {
            // short CPU work and store reads: answered on this thread (the
            // hand-off to a pool costs more than the request)
            handle(
                &ra,
                &config,
                self.throttle.as_deref(),
                &req,
                label.as_deref(),
                op,
            )
        };
        if head {
            *resp.body_mut() = http_body_util::Full::new(Bytes::new());
        }
        resp
    }
}

impl FrontEnd for EstFrontEnd {
    fn name(&self) -> &'static str {
        "est"
    }

    fn prefix(&self) -> &str {
        PREFIX
    }

    fn handle(&self, req: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        Box::pin(self.answer(req))
    }

    /// RFC 7030 errors are a status code with a human-readable text.
    fn payload_too_large(&self, limit: usize) -> HttpResponse {
        text(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the request body is larger than this server accepts: at most {limit} bytes"),
        )
    }
}

/// The synchronous part: RA calls and encoding.
fn handle(
    ra: &Ra,
    config: &EstConfig,
    throttle: Option<&crate::http::throttle::AuthThrottle>,
    req: &HttpRequest,
    label: Option<&str>,
    op: Operation,
) -> HttpResponse {
    let endpoint = match ra.est_endpoint(label) {
        Ok(ep) => ep,
        Err(e) => return error_response(&e),
    };
    match op {
        Operation::CaCerts => {
            let ca = ra.ca();
            match encoding::certs_only(&[ca.issuing_cert_der(), ca.root_cert_der()]) {
                Ok(der) => base64_response(config, CT_PKCS7, &der),
                Err(e) => internal(&format!("encoding the CA certificates: {e}")),
            }
        }
        Operation::CsrAttrs => match ra.est_csr_policy(endpoint.as_ref()) {
            Ok(policy) => {
                let elements = encoding::csr_attr_elements(&policy);
                if elements.is_empty() {
                    return text(StatusCode::NO_CONTENT, "");
                }
                match encoding::csr_attrs_der(&elements) {
                    Ok(der) => base64_response(config, CT_CSRATTRS, &der),
                    Err(e) => internal(&format!("encoding the CSR attributes: {e}")),
                }
            }
            Err(e) => error_response(&e),
        },
        Operation::ServerKeygen => text(
            StatusCode::FORBIDDEN,
            "serverkeygen is refused: code-signing keys must be generated in the requester's \
             hardware (token, HSM or TPM), never by the server; send a CSR to simpleenroll instead",
        ),
        Operation::FullCmc => text(
            StatusCode::NOT_IMPLEMENTED,
            "fullcmc is not implemented; use simpleenroll and simplereenroll",
        ),
        Operation::SimpleEnroll | Operation::SimpleReenroll => {
            let csr = match request_csr(req) {
                Ok(csr) => csr,
                Err(resp) => return *resp,
            };
            if let Err(e) = auth::check_channel_binding(
                &config.channel_binding,
                &csr,
                req.tls_exporter.as_deref(),
            ) {
                return text(StatusCode::FORBIDDEN, &e.to_string());
            }
            let outcome = if op == Operation::SimpleEnroll {
                match auth::basic_credentials(req.header("authorization")) {
                    Ok(Some(creds)) => {
                        if let Err(resp) =
                            auth::throttled(throttle, req.peer.ip(), Some(&creds.user))
                        {
                            return *resp;
                        }
                        let outcome =
                            ra.est_enroll(endpoint.as_ref(), &creds.user, creds.password(), &csr);
                        auth::record(throttle, req.peer.ip(), Some(&creds.user), &outcome);
                        outcome
                    }
                    Ok(None) => Err(EstError::Unauthenticated(
                        "simpleenroll requires HTTP Basic authentication with an invitation's \
                         key identifier (user name) and HMAC key (password); renewals use \
                         simplereenroll with the issued certificate"
                            .into(),
                    )),
                    Err(e) => {
                        if let Err(resp) = auth::throttled(throttle, req.peer.ip(), None) {
                            return *resp;
                        }
                        let outcome = Err(EstError::Unauthenticated(e.to_string()));
                        auth::record(throttle, req.peer.ip(), None, &outcome);
                        outcome
                    }
                }
            } else {
                let chain: Vec<Vec<u8>> = req
                    .client_chain
                    .iter()
                    .map(|c| c.as_ref().to_vec())
                    .collect();
                ra.est_reenroll(endpoint.as_ref(), &chain, &csr)
            };
            match outcome {
                Ok(EstOutcome::Issued(cert)) => {
                    tracing::info!(?op, label, serial = %cert.serial, requester = %cert.requester, "EST certificate returned");
                    // the CA core made this certificate: no need to parse it again
                    let p7 = crate::ca::pkcs7::certs_only_der(&[&cert.der_bytes()]);
                    base64_response(config, CT_PKCS7_CERTS_ONLY, &p7)
                }
                Ok(EstOutcome::Pending { request_id }) => {
                    tracing::info!(?op, label, request = %request_id, "EST request waits for approval");
                    let mut resp = text(
                        StatusCode::ACCEPTED,
                        &format!(
                            "request {request_id} is waiting for an administrator's approval; \
                             send the same request again after {} seconds",
                            config.retry_after_secs
                        ),
                    );
                    resp.headers_mut().insert(
                        http::header::RETRY_AFTER,
                        HeaderValue::from(config.retry_after_secs),
                    );
                    resp
                }
                Err(e) => {
                    tracing::info!(?op, label, status = status_for(&e).as_u16(), reason = %e, "EST request refused");
                    error_response(&e)
                }
            }
        }
    }
}

/// Checks the content type and decodes the CSR body.
fn request_csr(req: &HttpRequest) -> Result<Vec<u8>, Box<HttpResponse>> {
    let ct = req
        .header("content-type")
        .map(encoding::media_type)
        .unwrap_or_default();
    if ct != CT_PKCS10 {
        let shown = if ct.is_empty() {
            "none".to_string()
        } else {
            ct
        };
        return Err(Box::new(text(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!("the request must be {CT_PKCS10} (base64 of the DER PKCS#10), not {shown}"),
        )));
    }
    encoding::decode_body(&req.body, req.header("content-transfer-encoding"))
        .map_err(|e| Box::new(text(StatusCode::BAD_REQUEST, &format!("bad CSR: {e}"))))
}

fn base64_response(config: &EstConfig, content_type: &str, der: &[u8]) -> HttpResponse {
    let mut resp = response(
        StatusCode::OK,
        content_type,
        encoding::encode_body(der, config.base64_line_length),
    );
    if config.send_transfer_encoding {
        resp.headers_mut().insert(
            "content-transfer-encoding",
            HeaderValue::from_static("base64"),
        );
    }
    resp
}

fn text(status: StatusCode, message: &str) -> HttpResponse {
    let body = if message.is_empty() {
        String::new()
    } else {
        format!("{}\n", crate::text::escape(message))
    };
    response(status, CT_TEXT, body)
}

fn internal(message: &str) -> HttpResponse {
    tracing::error!(message, "EST internal error");
    text(
        StatusCode::INTERNAL_SERVER_ERROR,
        "the request could not be processed",
    )
}

/// The HTTP status for an RA decision.
pub fn status_for(e: &EstError) -> StatusCode {
    match e {
        EstError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        EstError::Forbidden(_) => StatusCode::FORBIDDEN,
        EstError::BadRequest(_) => StatusCode::BAD_REQUEST,
        EstError::NotFound(_) => StatusCode::NOT_FOUND,
        EstError::Ra(ra) => match ra {
            // a refused key (type, size, weak, blocked) is a bad request,
            // as ACME's badPublicKey
            RaError::BadCsr(_) | RaError::Invalid { .. } | RaError::BadPublicKey(_) => {
                StatusCode::BAD_REQUEST
            }
            RaError::RejectedIdentifier(_)
            | RaError::Unauthorized(_)
            | RaError::Policy(_)
            | RaError::BadAttestation(_)
            | RaError::AlreadyRevoked => StatusCode::FORBIDDEN,
            RaError::NotFound(_) => StatusCode::FORBIDDEN,
            RaError::Conflict(_) => StatusCode::CONFLICT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        },
    }
}

fn error_response(e: &EstError) -> HttpResponse {
    let status = status_for(e);
    if status == StatusCode::INTERNAL_SERVER_ERROR {
        return internal(&e.to_string());
    }
    let mut resp = text(status, &e.to_string());
    if status == StatusCode::UNAUTHORIZED {
        resp.headers_mut().insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"signet-est\", charset=\"UTF-8\""),
        );
    }
    resp
}

#[cfg(test)]
mod tests;
