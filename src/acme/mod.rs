//! The ACME front end (RFC 8555) for email identifiers (RFC 8823): the only
//! code that knows ACME's HTTP shapes. It authenticates requests (nonces,
//! JWS, account keys), asks the RA for every decision and answers with RFC
//! 8555 resources or RFC 7807 problem documents.
//!
//! Resources (all under `<public_url>/acme`):
//!
//! | path | method | what |
//! | --- | --- | --- |
//! | `/directory` | GET | the directory |
//! | `/new-nonce` | HEAD, GET | a fresh nonce |
//! | `/new-account` | POST (jwk) | create/find an account (EAB required) |
//! | `/acct/<id>` | POST (kid) | read, update contact, deactivate |
//! | `/acct/<id>/orders` | POST-as-GET | the account's orders (`?cursor=N` pages) |
//! | `/key-change` | POST (kid) | key rollover |
//! | `/new-order` | POST (kid) | order for the account's email address |
//! | `/order/<id>` | POST-as-GET | an order |
//! | `/order/<id>/finalize` | POST | submit the CSR |
//! | `/authz/<id>` | POST-as-GET, POST | an authorization (deactivate) |
//! | `/chall/<id>` | POST | respond: sends the challenge mail |
//! | `/cert/<serial>` | POST-as-GET | the certificate chain (PEM, or PKCS#7) |
//! | `/cert/<serial>/alt` | POST-as-GET | alternate chain (with the root), if configured |
//! | `/revoke-cert` | POST (kid or certificate jwk) | revoke |
//! | `/renewal-info/<CertID>` | GET | RFC 9773 suggested renewal window |
//! | `/terms` | GET | the built-in terms of service |

mod account;
pub mod ari;
mod cert;
mod challenge;
mod directory;
mod finalize;
pub mod jws;
pub mod nonce;
mod order;
pub mod problem;
mod revoke;
pub mod types;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode};
use http_body_util::Full;
use serde::Serialize;
use serde_json::Value;

use crate::clock::SharedClock;
use crate::config::AcmeConfig;
use crate::http::routing::{BoxFuture, FrontEnd, HttpRequest, HttpResponse, RouteLabel};
use crate::mail::Mailer;
use crate::ra::acme::{AcmeIdentifierPolicy, SenderAuth};
use crate::ra::Ra;
use crate::storage::acme::{AccountStatus, AcmeAccount};
use crate::storage::Store;

pub use challenge::{inbox_dir, spool_reply, IngestOutcome};
use jws::Flattened;
use nonce::NonceService;
use problem::{Problem, ProblemType};

/// The content type of ACME POST bodies.
pub const JOSE_JSON: &str = "application/jose+json";

/// The ACME front end. Cheap to clone.
#[derive(Clone)]
pub struct AcmeFrontEnd {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// Backoff after failed external account bindings (set by `mounted`).
    auth_throttle: std::sync::OnceLock<Arc<crate::http::throttle::AuthThrottle>>,
    pub(crate) ra: Arc<Ra>,
    pub(crate) store: Store,
    pub(crate) cfg: AcmeConfig,
    /// `<public_url>/acme`, no trailing slash.
    pub(crate) base: String,
    pub(crate) nonces: NonceService,
    pub(crate) mailer: Mailer,
    pub(crate) clock: SharedClock,
    pub(crate) inbox: PathBuf,
    pub(crate) sender_auth: SenderAuth,
    pub(crate) last_scan: Mutex<Option<Instant>>,
}

impl std::fmt::Debug for AcmeFrontEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AcmeFrontEnd")
            .field("base", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl AcmeFrontEnd {
    /// Builds the front end. `public_url` is the HTTPS base URL (e.g.
    /// `https://signet.example.com`); `inbox` is where `signet mail ingest`
    /// spools challenge replies (see [`inbox_dir`]).
    pub fn new(
        ra: Arc<Ra>,
        cfg: AcmeConfig,
        public_url: &str,
        mailer: Mailer,
        clock: SharedClock,
        inbox: PathBuf,
    ) -> AcmeFrontEnd {
        let sender_auth = match cfg.sender_auth.as_str() {
            "none" => SenderAuth::None,
            "dkim" => SenderAuth::Dkim {
                trusted: cfg.trusted_authserv_ids.clone(),
            },
            // "auto": the local outbox transport means a local, trusted pipe.
            _ if mailer.transport_name() == "outbox" => SenderAuth::None,
            _ => SenderAuth::Dkim {
                trusted: cfg.trusted_authserv_ids.clone(),
            },
        };
        if matches!(&sender_auth, SenderAuth::Dkim { trusted } if trusted.is_empty()) {
            tracing::warn!(
                "acme.sender_auth requires DKIM but acme.trusted_authserv_ids is empty: \
                 every email-reply-00 reply will be refused"
            );
        }
        let nonces = NonceService::new(cfg.nonce_ttl_secs, cfg.nonce_max_used, clock.clone());
        let store = ra.store().clone();
        AcmeFrontEnd {
            inner: Arc::new(Inner {
                ra,
                store,
                cfg,
                base: format!("{}/acme", public_url.trim_end_matches('/')),
                nonces,
                mailer,
                clock,
                inbox,
                sender_auth,
                last_scan: Mutex::new(None),
                auth_throttle: std::sync::OnceLock::new(),
            }),
        }
    }

    /// The front end as `signet serve` mounts it: with the server's
    /// failed-authentication throttle, its inbox directory created and,
    /// inside a tokio runtime, the mail poller started (it stops when the
    /// front end is dropped).
    pub fn mounted(
        ra: Arc<Ra>,
        config: &crate::config::Config,
        public_url: &str,
        mailer: Mailer,
        clock: SharedClock,
        throttle: Arc<crate::http::throttle::AuthThrottle>,
    ) -> Result<AcmeFrontEnd, crate::error::Error> {
        let fe = AcmeFrontEnd::new(
            ra,
            config.acme.clone(),
            public_url,
            mailer,
            clock,
            inbox_dir(config),
        );
        let _ = fe.inner.auth_throttle.set(throttle);
        std::fs::create_dir_all(fe.inner.inbox.join("new")).map_err(|e| {
            crate::error::Error::io(format!("creating {}", fe.inner.inbox.display()), e)
        })?;
        if tokio::runtime::Handle::try_current().is_ok() {
            fe.spawn_mail_poller();
        }
        Ok(fe)
    }

    /// The directory URL.
    pub fn directory_url(&self) -> String {
        format!("{}/directory", self.inner.base)
    }

    /// Answers one request (blocking: storage, signing and SMTP run inline).
    pub fn handle_blocking(&self, req: &HttpRequest) -> HttpResponse {
        self.inner.handle(req)
    }

    /// Processes one challenge reply (RFC 5322 message) right away.
    pub fn ingest_mail(&self, raw: &[u8]) -> IngestOutcome {
        self.inner.ingest_mail(raw)
    }

    /// Processes every message waiting in the inbox and the configured maildir.
    pub fn poll_mail(&self) -> Vec<IngestOutcome> {
        self.inner.poll_mail()
    }

    /// Runs [`AcmeFrontEnd::poll_mail`] every `acme.poll_interval_secs` until
    /// the front end is dropped (or the task aborted). Call inside a tokio runtime.
    pub fn spawn_mail_poller(&self) -> tokio::task::JoinHandle<()> {
        let weak = Arc::downgrade(&self.inner);
        let every = std::time::Duration::from_secs(self.inner.cfg.poll_interval_secs.max(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(inner) = weak.upgrade() else { break };
                let _ = tokio::task::spawn_blocking(move || inner.poll_mail()).await;
            }
        })
    }
}

impl FrontEnd for AcmeFrontEnd {
    fn name(&self) -> &'static str {
        "acme"
    }

    fn prefix(&self) -> &str {
        "/acme"
    }

    /// RFC 8555 §6.7: a problem document (`malformed`) with a fresh nonce
    /// and the directory link, like every other ACME error.
    fn payload_too_large(&self, limit: usize) -> HttpResponse {
        let mut p = Problem::malformed(format!(
            "the request body is larger than this server accepts: at most {limit} bytes"
        ));
        p.status = StatusCode::PAYLOAD_TOO_LARGE.as_u16();
        finish(
            Reply::problem(&p),
            Some(self.inner.nonces.issue()),
            &self.inner.url("/directory"),
        )
    }

    fn handle(&self, req: HttpRequest) -> BoxFuture<'_, HttpResponse> {
        let inner = self.inner.clone();
        if !may_wait(&req) {
            // Short CPU work and in-memory store operations: answered on
            // this thread (a hand-off to the blocking pool and back costs
            // more than the request itself).
            return Box::pin(async move { inner.handle(&req) });
        }
        Box::pin(async move {
            let worker = inner.clone();
            let failed = |what: &str| {
                let p = Problem::internal(what);
                finish(
                    Reply::problem(&p),
                    Some(inner.nonces.issue()),
                    &inner.url("/directory"),
                )
            };
            if issues(&req) {
                // On the issuance pool; the answer waits for its flush.
                return match inner.ra.run_issuing(move || worker.handle(&req)).await {
                    Ok(resp) => resp,
                    Err(e) => {
                        tracing::error!(error = %e, "finalize did not complete");
                        failed("the request could not be completed")
                    }
                };
            }
            match tokio::task::spawn_blocking(move || worker.handle(&req)).await {
                Ok(resp) => resp,
                Err(_) => failed("the request handler failed"),
            }
        })
    }
}

/// Whether `req` is a finalize: it runs on the bounded issuance pool
/// (`Ra::run_issuing`), since it is CPU work, store writes and signing,
/// with its durable flush awaited here rather than on a thread.
fn issues(req: &HttpRequest) -> bool {
    req.path_under("/acme")
        .is_some_and(|p| p.ends_with("/finalize"))
}

/// Whether answering `req` may wait for the disk, a mail transport or the
/// signing pool: finalize (see [`issues`]: the issuance pool), challenge
/// responses (sending the challenge mail) and revocation (CRL signing,
/// flush), which run on the blocking pool. Every other request is short CPU
/// work plus store reads and small change sets (no flush) and runs inline.
fn may_wait(req: &HttpRequest) -> bool {
    let path = req.path_under("/acme").unwrap_or("");
    path.ends_with("/finalize") || path.starts_with("/chall/") || path == "/revoke-cert"
}

/// A response before the common ACME headers are added.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub location: Option<String>,
    pub links: Vec<String>,
    pub retry_after: Option<u64>,
    pub route: &'static str,
}

impl Reply {
    pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Reply {
        Reply {
            status,
            content_type: Some("application/json".into()),
            body: serde_json::to_vec(value).unwrap_or_default(),
            location: None,
            links: Vec::new(),
            retry_after: None,
            route: "/acme",
        }
    }

    pub fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            content_type: None,
            body: Vec::new(),
            location: None,
            links: Vec::new(),
            retry_after: None,
            route: "/acme",
        }
    }

    pub fn problem(p: &Problem) -> Reply {
        let mut r = Reply::json(p.http_status(), p);
        r.content_type = Some("application/problem+json".into());
        r.location = p.location.as_deref().cloned();
        r
    }

    pub fn location(mut self, url: impl Into<String>) -> Reply {
        self.location = Some(url.into());
        self
    }

    pub fn link(mut self, url: &str, rel: &str) -> Reply {
        self.links.push(format!("<{url}>;rel=\"{rel}\""));
        self
    }

    pub fn route(mut self, route: &'static str) -> Reply {
        self.route = route;
        self
    }
}

/// Adds the headers every ACME response carries and builds the response.
fn finish(reply: Reply, nonce: Option<String>, index: &str) -> HttpResponse {
    let mut resp = http::Response::new(Full::new(Bytes::from(reply.body)));
    *resp.status_mut() = reply.status;
    let h = resp.headers_mut();
    if let Some(ct) = reply
        .content_type
        .and_then(|c| HeaderValue::from_str(&c).ok())
    {
        h.insert(http::header::CONTENT_TYPE, ct);
    }
    if let Some(n) = nonce.and_then(|n| HeaderValue::from_str(&n).ok()) {
        h.insert("replay-nonce", n);
    }
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    if let Some(l) = reply.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        h.insert(http::header::LOCATION, l);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("<{index}>;rel=\"index\"")) {
        h.append(http::header::LINK, v);
    }
    for l in reply.links {
        if let Ok(v) = HeaderValue::from_str(&l) {
            h.append(http::header::LINK, v);
        }
    }
    if let Some(s) = reply.retry_after {
        h.insert(http::header::RETRY_AFTER, HeaderValue::from(s));
    }
    resp.extensions_mut().insert(RouteLabel(reply.route));
    resp
}

/// How a POST must identify its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyMode {
    /// `jwk` (newAccount).
    Jwk,
    /// `kid` (everything else).
    Kid,
    /// Either (revokeCert).
    Either,
}

/// An authenticated POST.
pub(crate) struct Signed {
    pub jws: Flattened,
    /// The account (kid requests).
    pub account: Option<AcmeAccount>,
    /// The key (jwk requests).
    pub jwk: Option<Value>,
}

impl Signed {
    /// The account of a kid request (always present for KeyMode::Kid).
    pub fn account(&self) -> Result<&AcmeAccount, Problem> {
        self.account
            .as_ref()
            .ok_or_else(|| Problem::malformed("this request must use kid"))
    }

    pub fn payload(&self) -> Result<Value, Problem> {
        if self.jws.is_post_as_get() {
            return Err(Problem::malformed(
                "this request needs a JSON payload, not POST-as-GET",
            ));
        }
        self.jws.payload_json()
    }

    pub fn require_post_as_get(&self) -> Result<(), Problem> {
        if self.jws.is_post_as_get() {
            Ok(())
        } else {
            Err(Problem::malformed(
                "this resource is read with POST-as-GET (empty payload)",
            ))
        }
    }
}

impl Inner {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub(crate) fn account_url(&self, id: &str) -> String {
        self.url(&format!("/acct/{id}"))
    }

    pub(crate) fn policy(&self) -> AcmeIdentifierPolicy {
        AcmeIdentifierPolicy {
            authz_reuse: time::Duration::days(i64::from(self.cfg.authz_reuse_days)),
            invitation_confirms_email: self.cfg.invitation_confirms_email,
        }
    }

    fn handle(&self, req: &HttpRequest) -> HttpResponse {
        let reply = match self.dispatch_throttled(req) {
            Ok(r) => r,
            Err(p) => {
                if p.status >= 500 {
                    tracing::warn!(path = %req.path, detail = %p.detail, "ACME request failed");
                } else {
                    tracing::debug!(path = %req.path, kind = %p.kind, detail = %p.detail, "ACME request refused");
                }
                Reply::problem(&p)
            }
        };
        let nonce = self.nonces.issue();
        self.ra.metrics().acme_nonce("issued");
        finish(reply, Some(nonce), &self.url("/directory"))
    }

    /// [`Inner::dispatch`], with newAccount's external account binding
    /// checks throttled per client address (`http::throttle`): in a
    /// backoff the request gets `rateLimited` (429, Retry-After) unchecked.
    fn dispatch_throttled(&self, req: &HttpRequest) -> Result<Reply, Problem> {
        let throttle = match self.auth_throttle.get() {
            Some(t) if req.path_under("/acme/new-account") == Some("") => t,
            _ => return self.dispatch(req),
        };
        let ip = req.peer.ip();
        if let Err(secs) = throttle.check("acme_eab", ip, None) {
            let p = Problem::new(
                ProblemType::RateLimited,
                format!(
                    "too many failed external account bindings from this address; retry after {secs} seconds"
                ),
            );
            let mut reply = Reply::problem(&p).route("/acme/new-account");
            reply.retry_after = Some(secs);
            return Ok(reply);
        }
        let result = self.dispatch(req);
        match &result {
            // on newAccount only the binding is refused as unauthorized
            Err(p) if p.kind == ProblemType::Unauthorized.uri() => {
                throttle.failed("acme_eab", "bad_binding", ip, None)
            }
            Ok(_) => throttle.succeeded("acme_eab", ip, None),
            Err(_) => {}
        }
        result
    }

    fn dispatch(&self, req: &HttpRequest) -> Result<Reply, Problem> {
        let path = req.path_under("/acme").unwrap_or("");
        let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let is_get = req.method == Method::GET || req.method == Method::HEAD;
        match (segs.as_slice(), is_get) {
            (["directory"], true) => Ok(self.directory()?.route("/acme/directory")),
            (["terms"], true) => Ok(self.terms().route("/acme/terms")),
            (["new-nonce"], true) => {
                let status = if req.method == Method::HEAD {
                    StatusCode::OK
                } else {
                    StatusCode::NO_CONTENT
                };
                Ok(Reply::empty(status).route("/acme/new-nonce"))
            }
            (["renewal-info", id], true) => Ok(self.renewal_info(id)?.route("/acme/renewal-info")),
            (["directory"] | ["terms"] | ["new-nonce"] | ["renewal-info", _], false) => {
                Err(method_not_allowed("GET or HEAD"))
            }
            (_, true) => {
                if self.is_known_post_resource(&segs) {
                    Err(method_not_allowed(
                        "POST (use POST-as-GET to read ACME resources)",
                    ))
                } else {
                    Err(Problem::not_found(format!("resource {}", req.path)))
                }
            }
            (_, false) if req.method != Method::POST => Err(method_not_allowed("POST")),
            (segs, false) => self.dispatch_post(req, segs),
        }
    }

    fn is_known_post_resource(&self, segs: &[&str]) -> bool {
        matches!(
            segs,
            ["new-account"]
                | ["new-order"]
                | ["revoke-cert"]
                | ["key-change"]
                | ["acct", _]
                | ["acct", _, "orders"]
                | ["order", _]
                | ["order", _, "finalize"]
                | ["authz", _]
                | ["chall", _]
                | ["cert", _]
                | ["cert", _, "alt"]
        )
    }

    fn dispatch_post(&self, req: &HttpRequest, segs: &[&str]) -> Result<Reply, Problem> {
        if !self.is_known_post_resource(segs) {
            return Err(Problem::not_found(format!("resource {}", req.path)));
        }
        let mode = match segs {
            ["new-account"] => KeyMode::Jwk,
            ["revoke-cert"] => KeyMode::Either,
            _ => KeyMode::Kid,
        };
        let signed = self.authenticate(req, mode)?;
        let r = match segs {
            ["new-account"] => self.new_account(&signed)?.route("/acme/new-account"),
            ["acct", id] => self.account_post(&signed, id)?.route("/acme/acct"),
            ["acct", id, "orders"] => self
                .orders_list(&signed, id, req.query.as_deref())?
                .route("/acme/acct/orders"),
            ["key-change"] => self.key_change(&signed)?.route("/acme/key-change"),
            ["new-order"] => self.new_order(&signed)?.route("/acme/new-order"),
            ["order", id] => self.order_get(&signed, id)?.route("/acme/order"),
            ["order", id, "finalize"] => self.finalize(&signed, id)?.route("/acme/finalize"),
            ["authz", id] => self.authz_post(&signed, id)?.route("/acme/authz"),
            ["chall", id] => self.challenge_post(&signed, id)?.route("/acme/chall"),
            ["cert", serial] => self
                .cert_get(&signed, serial, false, req)?
                .route("/acme/cert"),
            ["cert", serial, "alt"] => self
                .cert_get(&signed, serial, true, req)?
                .route("/acme/cert"),
            ["revoke-cert"] => self.revoke(&signed)?.route("/acme/revoke-cert"),
            _ => return Err(Problem::not_found(format!("resource {}", req.path))),
        };
        Ok(r)
    }

    /// RFC 8555 §6.2-6.5: content type, flattened JWS, algorithm, key
    /// identification, URL, nonce, signature.
    fn authenticate(&self, req: &HttpRequest, mode: KeyMode) -> Result<Signed, Problem> {
        let ct = req.header("content-type").map(|c| {
            c.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        if ct.as_deref() != Some(JOSE_JSON) {
            let mut p = Problem::malformed(format!(
                "ACME POST requests must have Content-Type: {JOSE_JSON}"
            ));
            p.status = StatusCode::UNSUPPORTED_MEDIA_TYPE.as_u16();
            return Err(p);
        }
        let jws = Flattened::parse(&req.body)?;
        jws.check_account_alg()?;
        let h = &jws.header;
        match (&h.jwk, &h.kid) {
            (Some(_), Some(_)) => {
                return Err(Problem::malformed(
                    "the protected header must have exactly one of jwk and kid, not both",
                ))
            }
            (None, None) => {
                return Err(Problem::malformed(
                    "the protected header must have exactly one of jwk and kid",
                ))
            }
            (Some(_), None) if mode == KeyMode::Kid => {
                return Err(Problem::malformed(
                    "this request must identify the account with kid, not jwk",
                ))
            }
            (None, Some(_)) if mode == KeyMode::Jwk => {
                return Err(Problem::malformed(
                    "this request must carry the account key as jwk, not kid",
                ))
            }
            _ => {}
        }
        let request_url = match &req.query {
            Some(q) => format!(
                "{}{}?{q}",
                self.url(""),
                req.path.trim_start_matches("/acme")
            ),
            None => format!("{}{}", self.url(""), req.path.trim_start_matches("/acme")),
        };
        match &h.url {
            Some(u) if *u == request_url => {}
            Some(u) => {
                return Err(Problem::unauthorized(format!(
                    "the JWS url {u:?} is not the request URL {request_url:?}"
                )))
            }
            None => return Err(Problem::malformed("the protected header has no url")),
        }
        let nonce = h.nonce.as_deref().unwrap_or("");
        let consumed = self.nonces.consume(nonce);
        let m = self.ra.metrics();
        m.acme_nonce(match &consumed {
            Ok(()) => "accepted",
            Err(nonce::NonceError::Missing) => "missing",
            Err(nonce::NonceError::Invalid) => "invalid",
            Err(nonce::NonceError::Expired) => "expired",
            Err(nonce::NonceError::Replayed) => "replayed",
        });
        m.acme_nonces_outstanding
            .set(self.nonces.remembered() as i64);
        consumed.map_err(|e| Problem::new(ProblemType::BadNonce, e.to_string()))?;
        if let Some(jwk) = &h.jwk {
            jws.verify(jwk)?;
            let public = jws::public_jwk(jwk)?;
            return Ok(Signed {
                jws,
                account: None,
                jwk: Some(public),
            });
        }
        let kid = h.kid.clone().unwrap_or_default();
        let prefix = self.url("/acct/");
        let id = kid
            .strip_prefix(&prefix)
            .filter(|id| !id.is_empty() && !id.contains('/'));
        let Some(id) = id else {
            return Err(Problem::new(
                ProblemType::AccountDoesNotExist,
                format!("kid {kid:?} is not an account URL of this server"),
            ));
        };
        let account = self.store.get_acme_account(id)?.ok_or_else(|| {
            Problem::new(
                ProblemType::AccountDoesNotExist,
                format!("there is no account {kid:?}"),
            )
        })?;
        jws.verify(&account.key)?;
        if account.status != AccountStatus::Valid {
            return Err(Problem::unauthorized(format!(
                "the account is {}",
                status_name(&account.status)
            )));
        }
        Ok(Signed {
            jws,
            account: Some(account),
            jwk: None,
        })
    }
}

fn method_not_allowed(allowed: &str) -> Problem {
    Problem::new(
        ProblemType::MethodNotAllowed,
        format!("method not allowed here; use {allowed}"),
    )
}

pub(crate) fn status_name<T: Serialize>(s: &T) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// Where replies for the server are spooled: `acme.inbox_dir`, or `<data_dir>/mail-inbox`.
pub fn default_inbox(data_dir: &Path) -> PathBuf {
    data_dir.join("mail-inbox")
}

#[cfg(test)]
mod tests;
