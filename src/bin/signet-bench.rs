//! `signet-bench`: the load driver of `scripts/bench`.
//!
//! - `signet-bench acme`: many concurrent ACME accounts, each on its own
//!   keep-alive TLS connection, running full order flows (newOrder ->
//!   authorization -> challenge (when pending) -> finalize -> poll -> download)
//!   with real ES256 JWS signing. Against Signet (`--server signet`) the
//!   accounts register with EAB credentials from invitations created through
//!   the admin API and order `email` identifiers (the server must run with
//!   `acme.invitation_confirms_email = true`, which stands in for the mail
//!   round-trip); against Pebble (`--server pebble`, run with
//!   `PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0`)
//!   they order `dns` identifiers and answer http-01.
//! - `signet-bench est`: EST `simpleenroll` over TLS with HTTP Basic
//!   credentials of invitations created (untimed) beforehand, one per request.
//!
//! Each run prints a human line and, with `--json`, one JSON object (rates,
//! latency percentiles in milliseconds, error counts) for the bench script.
//! Keys and CSRs are made once per account before the timed phase so the
//! driver's CPU goes to the protocol (the machine is shared with the server).
//! `--rate` paces flow starts (open loop) for latency-at-load measurements.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::Engine;
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};

/// Interval of status polls while a server validates or issues.
const POLL_MS: u64 = 10;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

#[derive(Parser)]
#[command(name = "signet-bench", about = "Load driver for Signet (and Pebble)")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Full ACME order flows.
    Acme(AcmeArgs),
    /// EST simpleenroll over TLS.
    Est(EstArgs),
    /// GET one URL over keep-alive TLS connections: the front-end floor
    /// (TLS, HTTP, routing) without storage, signing or JWS.
    Get(GetArgs),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ServerKind {
    Signet,
    Pebble,
}

#[derive(Parser, Clone)]
struct Common {
    /// PEM file with the root(s) the server's TLS certificate chains to.
    #[arg(long)]
    ca_file: std::path::PathBuf,
    /// Concurrent clients (each with its own connection and account).
    #[arg(long, default_value_t = 32)]
    vus: usize,
    /// Timed phase, seconds.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Print one JSON object with the results.
    #[arg(long)]
    json: bool,
    /// Admin API base URL (Signet): e.g. https://localhost:8443.
    #[arg(long)]
    admin_url: Option<String>,
    /// Admin API bearer token (Signet). May start with '-' (generated tokens do).
    #[arg(long, env = "SIGNET_BENCH_ADMIN_TOKEN", allow_hyphen_values = true)]
    admin_token: Option<String>,
    /// The server's process id (same machine): its CPU during the timed
    /// phase is reported as `server_cpu_s`.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Parser, Clone)]
struct AcmeArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long, value_enum)]
    server: ServerKind,
    /// The ACME directory URL.
    #[arg(long)]
    directory: String,
    /// Flows started per second in total (0: as fast as possible).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Seconds a flow may take before it counts as an error (a stuck server).
    #[arg(long, default_value_t = 20.0)]
    flow_timeout: f64,
}

#[derive(Parser, Clone)]
struct EstArgs {
    #[command(flatten)]
    common: Common,
    /// EST base URL, e.g. https://localhost:8443/.well-known/est
    #[arg(long)]
    est_url: String,
    /// Enrollments to perform (one invitation each, created before the timed phase).
    #[arg(long, default_value_t = 4000)]
    requests: usize,
}

#[derive(Parser, Clone)]
struct GetArgs {
    #[command(flatten)]
    common: Common,
    /// The URL to GET, e.g. https://localhost:8443/acme/directory
    #[arg(long)]
    url: String,
}

type Error = String;

fn err<E: std::fmt::Display>(ctx: &str) -> impl Fn(E) -> Error + '_ {
    move |e| format!("{ctx}: {e}")
}

// ---------------------------------------------------------------- HTTP over TLS

/// Where a URL points: connect address, TLS name, path.
#[derive(Clone, Debug)]
struct Target {
    authority: String,
    host: String,
    path: String,
}

fn parse_url(url: &str) -> Result<Target, Error> {
    let rest = url
        .strip_prefix("https://")
        .ok_or_else(|| format!("{url}: only https URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let host = if let Some(h) = authority.strip_prefix('[') {
        h.split(']').next().unwrap_or("").to_string()
    } else {
        authority.split(':').next().unwrap_or("").to_string()
    };
    Ok(Target {
        authority: authority.to_string(),
        host,
        path: path.to_string(),
    })
}

struct Resp {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Resp {
    fn json(&self) -> Result<Value, Error> {
        serde_json::from_slice(&self.body).map_err(|e| {
            format!(
                "status {}: body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

/// One keep-alive HTTPS connection to one authority (reconnects when closed).
struct Conn {
    tls: tokio_rustls::TlsConnector,
    authority: String,
    host: String,
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
    requests: u64,
}

impl Conn {
    async fn new(tls: tokio_rustls::TlsConnector, url: &str) -> Result<Conn, Error> {
        let t = parse_url(url)?;
        let addr = tokio::net::lookup_host(&t.authority)
            .await
            .map_err(err("resolving"))?
            .find(|a| a.is_ipv4())
            .ok_or_else(|| format!("{}: no IPv4 address", t.authority))?;
        Ok(Conn {
            tls,
            authority: t.authority,
            host: t.host,
            addr,
            sender: None,
            requests: 0,
        })
    }

    async fn connect(&mut self) -> Result<(), Error> {
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .map_err(err("connecting"))?;
        tcp.set_nodelay(true).map_err(err("nodelay"))?;
        let name = ServerName::try_from(self.host.clone()).map_err(err("server name"))?;
        let tls = self.tls.connect(name, tcp).await.map_err(err("TLS"))?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(err("HTTP handshake"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        self.sender = Some(sender);
        Ok(())
    }

    async fn request(
        &mut self,
        method: http::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Resp, Error> {
        let path = match url.strip_prefix("https://") {
            Some(_) => parse_url(url)?.path,
            None => url.to_string(),
        };
        for attempt in 0..2 {
            let ready = match self.sender.as_mut() {
                Some(s) => s.ready().await.is_ok(),
                None => false,
            };
            if !ready {
                self.connect().await?;
            }
            let mut b = http::Request::builder()
                .method(method.clone())
                .uri(&path)
                .header(http::header::HOST, &self.authority);
            for (k, v) in headers {
                b = b.header(*k, *v);
            }
            let req = b
                .body(Full::new(Bytes::from(body.clone())))
                .map_err(err("request"))?;
            let sender = self.sender.as_mut().ok_or("no connection")?;
            match sender.send_request(req).await {
                Ok(resp) => {
                    self.requests += 1;
                    let (parts, body) = resp.into_parts();
                    let body = body
                        .collect()
                        .await
                        .map_err(err("reading the body"))?
                        .to_bytes();
                    return Ok(Resp {
                        status: parts.status.as_u16(),
                        headers: parts.headers,
                        body,
                    });
                }
                Err(e) if attempt == 0 => {
                    // A closed keep-alive connection: reconnect once.
                    self.sender = None;
                    let _ = e;
                }
                Err(e) => return Err(format!("{method} {url}: {e}")),
            }
        }
        Err(format!("{method} {url}: no response"))
    }
}

fn tls_connector(ca_file: &std::path::Path) -> Result<tokio_rustls::TlsConnector, Error> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(ca_file).map_err(err("reading --ca-file"))? {
        let cert = cert.map_err(err("parsing --ca-file"))?;
        roots.add(cert).map_err(err("adding a root"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(err("TLS versions"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

// ---------------------------------------------------------------- admin API

struct Admin {
    conn: Conn,
    base: String,
    auth: String,
}

impl Admin {
    async fn new(tls: tokio_rustls::TlsConnector, c: &Common) -> Result<Admin, Error> {
        let base = c
            .admin_url
            .clone()
            .ok_or("--admin-url is required for Signet")?;
        let token = c
            .admin_token
            .clone()
            .ok_or("--admin-token (or SIGNET_BENCH_ADMIN_TOKEN) is required for Signet")?;
        Ok(Admin {
            conn: Conn::new(tls, &base).await?,
            base: base.trim_end_matches('/').to_string(),
            auth: format!("Bearer {token}"),
        })
    }

    async fn post(&mut self, path: &str, body: Value) -> Result<Value, Error> {
        let url = format!("{}/admin/v1/{path}", self.base);
        let r = self
            .conn
            .request(
                http::Method::POST,
                &url,
                &[
                    ("authorization", &self.auth),
                    ("content-type", "application/json"),
                ],
                body.to_string().into_bytes(),
            )
            .await?;
        if r.status != 201 && r.status != 200 {
            return Err(format!(
                "admin POST {path}: {} {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            ));
        }
        r.json()
    }

    /// Organization, P-256 profile, endpoint and auto-approving account named
    /// after `tag`; returns the account name.
    async fn directory(&mut self, tag: &str) -> Result<String, Error> {
        let org = format!("Bench Org {tag}");
        self.post(
            "organizations",
            json!({"name": org, "city": "Berlin", "country": "DE"}),
        )
        .await?;
        let profile = format!("bench-{tag}");
        self.post(
            "profiles",
            json!({"name": profile, "template": "ov", "terms_days": [365],
                   "key_types": ["ecdsa-p256", "ecdsa-p384", "rsa-3072"],
                   "requires_approval": false, "attestation": {"required": false}}),
        )
        .await?;
        let endpoint = format!("bench-{tag}");
        self.post("endpoints", json!({"name": endpoint, "label": endpoint}))
            .await?;
        let account = format!("bench-{tag}");
        self.post(
            "accounts",
            json!({"name": account, "endpoint": endpoint, "organization": org,
                   "profiles": [profile], "auto_approve": true}),
        )
        .await?;
        Ok(account)
    }

    /// A fresh invitation: (email, kid, HMAC key bytes, HMAC key text).
    async fn invite(
        &mut self,
        account: &str,
        email: &str,
    ) -> Result<(String, Vec<u8>, String), Error> {
        let inv = self
            .post("invitations", json!({"email": email, "account": account}))
            .await?;
        let kid = inv["kid"].as_str().ok_or("invitation without kid")?;
        let key_text = inv["hmac_key"].as_str().ok_or("invitation without key")?;
        let key = B64.decode(key_text).map_err(err("hmac_key"))?;
        Ok((kid.to_string(), key, key_text.to_string()))
    }
}

fn tag() -> String {
    use rand::RngCore;
    let mut b = [0u8; 4];
    rand::rngs::OsRng.fill_bytes(&mut b);
    hex::encode(b)
}

// ---------------------------------------------------------------- ACME client

struct AccountKey {
    key: EcdsaKeyPair,
    jwk: Value,
    rng: SystemRandom,
}

impl AccountKey {
    fn generate() -> Result<AccountKey, Error> {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(err("account key"))?;
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
            .map_err(err("account key"))?;
        let point = key.public_key().as_ref();
        if point.len() != 65 {
            return Err("unexpected P-256 public key encoding".into());
        }
        let jwk = json!({"crv": "P-256", "kty": "EC",
                         "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65])});
        Ok(AccountKey { key, jwk, rng })
    }

    fn sign(&self, protected: &Value, payload: Option<&Value>) -> Result<Vec<u8>, Error> {
        let p = B64.encode(protected.to_string());
        let pl = payload
            .map(|v| B64.encode(v.to_string()))
            .unwrap_or_default();
        let sig = self
            .key
            .sign(&self.rng, format!("{p}.{pl}").as_bytes())
            .map_err(err("signing"))?;
        Ok(
            json!({"protected": p, "payload": pl, "signature": B64.encode(sig.as_ref())})
                .to_string()
                .into_bytes(),
        )
    }
}

#[derive(Clone)]
struct Directory {
    new_nonce: String,
    new_account: String,
    new_order: String,
}

struct AcmeClient {
    conn: Conn,
    key: AccountKey,
    kid: Option<String>,
    nonce: Option<String>,
    dir: Directory,
}

impl AcmeClient {
    async fn fresh_nonce(&mut self) -> Result<String, Error> {
        if let Some(n) = self.nonce.take() {
            return Ok(n);
        }
        let url = self.dir.new_nonce.clone();
        let r = self
            .conn
            .request(http::Method::HEAD, &url, &[], Vec::new())
            .await?;
        r.header("replay-nonce")
            .ok_or_else(|| "newNonce gave no nonce".to_string())
    }

    /// A signed POST (payload None = POST-as-GET); retries once on badNonce.
    async fn post(&mut self, url: &str, payload: Option<&Value>) -> Result<Resp, Error> {
        for attempt in 0..3 {
            let nonce = self.fresh_nonce().await?;
            let protected = match &self.kid {
                Some(kid) => json!({"alg": "ES256", "kid": kid, "nonce": nonce, "url": url}),
                None => json!({"alg": "ES256", "jwk": self.key.jwk, "nonce": nonce, "url": url}),
            };
            let body = self.key.sign(&protected, payload)?;
            let r = self
                .conn
                .request(
                    http::Method::POST,
                    url,
                    &[("content-type", "application/jose+json")],
                    body,
                )
                .await?;
            self.nonce = r.header("replay-nonce");
            if r.status >= 400 {
                let bad_nonce = r
                    .json()
                    .ok()
                    .and_then(|v| v["type"].as_str().map(|t| t.ends_with(":badNonce")))
                    .unwrap_or(false);
                if bad_nonce && attempt < 2 {
                    continue;
                }
                return Err(format!(
                    "POST {url}: {} {}",
                    r.status,
                    String::from_utf8_lossy(&r.body)
                ));
            }
            return Ok(r);
        }
        Err(format!("POST {url}: repeated badNonce"))
    }

    async fn register(&mut self, eab: Option<(&str, &[u8])>) -> Result<(), Error> {
        let url = self.dir.new_account.clone();
        let mut payload = json!({"termsOfServiceAgreed": true});
        if let Some((kid, hmac_key)) = eab {
            let protected = B64.encode(json!({"alg": "HS256", "kid": kid, "url": url}).to_string());
            let pl = B64.encode(self.key.jwk.to_string());
            let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, hmac_key);
            let tag = aws_lc_rs::hmac::sign(&key, format!("{protected}.{pl}").as_bytes());
            payload["externalAccountBinding"] = json!({"protected": protected, "payload": pl, "signature": B64.encode(tag.as_ref())});
        }
        let r = self.post(&url, Some(&payload)).await?;
        self.kid = Some(r.header("location").ok_or("newAccount gave no Location")?);
        Ok(())
    }
}

async fn directory(conn: &mut Conn, url: &str) -> Result<Directory, Error> {
    let r = conn
        .request(http::Method::GET, url, &[], Vec::new())
        .await?;
    let d = r.json()?;
    let get = |k: &str| {
        d[k].as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("directory has no {k}"))
    };
    Ok(Directory {
        new_nonce: get("newNonce")?,
        new_account: get("newAccount")?,
        new_order: get("newOrder")?,
    })
}

/// What one account orders: identifier and a CSR made for it once; with
/// `dns_suffix`, a fresh name (and CSR) per order instead: Pebble reuses valid
/// authorizations for a repeated name, and with `PEBBLE_VA_ALWAYS_VALID` an
/// order that reuses one sometimes never leaves `pending` (seen with Debian's
/// Pebble 2.4 after a few dozen orders per account).
struct Ordering_ {
    identifier: Value,
    csr_b64: String,
    dns_suffix: Option<String>,
    count: u64,
}

fn csr_for(identifier_type: &str, value: &str) -> Result<String, Error> {
    let key =
        rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(err("CSR key"))?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, value.to_string());
    params.subject_alt_names = vec![match identifier_type {
        "dns" => rcgen::SanType::DnsName(value.try_into().map_err(err("dns name"))?),
        _ => rcgen::SanType::Rfc822Name(value.try_into().map_err(err("email"))?),
    }];
    let csr = params.serialize_request(&key).map_err(err("CSR"))?;
    Ok(B64.encode(csr.der()))
}

#[derive(Default)]
struct Samples {
    flows: Vec<u32>,
    finalize: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
    requests: u64,
    /// When the last successful flow ended (since the timed phase began).
    last_ok: Duration,
}

fn micros(d: Duration) -> u32 {
    u32::try_from(d.as_micros()).unwrap_or(u32::MAX)
}

async fn pause(resp: &Resp) {
    // Retry-After is in whole seconds (Pebble: 0-3 s): far too coarse for a
    // benchmark, so poll every POLL_MS, or sooner when the server says 0.
    let ms = match resp
        .header("retry-after")
        .and_then(|s| s.parse::<u64>().ok())
    {
        Some(0) => 1,
        _ => POLL_MS,
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// One full order flow; returns the finalize latency.
async fn order_flow(c: &mut AcmeClient, o: &mut Ordering_) -> Result<Duration, Error> {
    if let Some(suffix) = &o.dns_suffix {
        let name = format!("o{}.{suffix}", o.count);
        o.identifier = json!({"type": "dns", "value": name});
        o.csr_b64 = csr_for("dns", &name)?;
    }
    o.count += 1;
    let new_order = c.dir.new_order.clone();
    let r = c
        .post(&new_order, Some(&json!({"identifiers": [o.identifier]})))
        .await?;
    let order_url = r.header("location").ok_or("newOrder gave no Location")?;
    let order = r.json()?;
    let finalize = order["finalize"]
        .as_str()
        .ok_or("order without finalize")?
        .to_string();
    let authzs: Vec<String> = order["authorizations"]
        .as_array()
        .ok_or("order without authorizations")?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let mut pending_authz = false;
    for authz in &authzs {
        let r = c.post(authz, None).await?;
        let a = r.json()?;
        if a["status"] == "valid" {
            continue;
        }
        if a["status"] != "pending" {
            return Err(format!("authorization is {}", a["status"]));
        }
        let chall = a["challenges"]
            .as_array()
            .and_then(|cs| {
                cs.iter()
                    .find(|ch| ch["type"] == "http-01")
                    .or_else(|| cs.first())
            })
            .and_then(|ch| ch["url"].as_str())
            .ok_or("authorization without challenge")?
            .to_string();
        c.post(&chall, Some(&json!({}))).await?;
        pending_authz = true;
    }
    if pending_authz {
        // Wait for the order to become ready (polling the order, not the
        // authorization: Debian's Pebble 2.4 could stall for good when its
        // validation finished while the authorization was being polled).
        loop {
            tokio::time::sleep(Duration::from_millis(POLL_MS)).await;
            let r = c.post(&order_url, None).await?;
            let o = r.json()?;
            match o["status"].as_str() {
                Some("ready") => break,
                Some("pending") => {}
                other => return Err(format!("order became {other:?} while validating")),
            }
        }
    }
    let t = Instant::now();
    let r = c.post(&finalize, Some(&json!({"csr": o.csr_b64}))).await?;
    let mut order = r.json()?;
    let mut last = r;
    loop {
        match order["status"].as_str() {
            Some("valid") => break,
            Some("processing") | Some("ready") | Some("pending") => {
                pause(&last).await;
                last = c.post(&order_url, None).await?;
                order = last.json()?;
            }
            other => return Err(format!("order became {other:?}: {order}")),
        }
    }
    let fin = t.elapsed();
    let cert = order["certificate"]
        .as_str()
        .ok_or("valid order without certificate")?
        .to_string();
    let r = c.post(&cert, None).await?;
    if !r.body.starts_with(b"-----BEGIN CERTIFICATE-----") {
        return Err("certificate download is not PEM".into());
    }
    Ok(fin)
}

struct Pace {
    start: Instant,
    rate: f64,
    next: AtomicU64,
}

impl Pace {
    async fn wait(&self) {
        if self.rate <= 0.0 {
            return;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let at = self.start + Duration::from_secs_f64(n as f64 / self.rate);
        tokio::time::sleep_until(at.into()).await;
    }
}

async fn acme(args: AcmeArgs) -> Result<Value, Error> {
    let c = &args.common;
    let tls = tls_connector(&c.ca_file)?;
    let mut probe = Conn::new(tls.clone(), &args.directory).await?;
    let dir = directory(&mut probe, &args.directory).await?;
    let run = tag();

    // Set-up (untimed): accounts, keys, CSRs.
    let mut invites = Vec::new();
    if args.server == ServerKind::Signet {
        let mut admin = Admin::new(tls.clone(), c).await?;
        let account = admin.directory(&run).await?;
        for i in 0..c.vus {
            let email = format!("vu{i}-{run}@bench.example");
            let (kid, key, _) = admin.invite(&account, &email).await?;
            invites.push(Some((email, kid, key)));
        }
    } else {
        invites.resize_with(c.vus, || None);
    }
    let mut setups = Vec::new();
    for (i, inv) in invites.into_iter().enumerate() {
        let tls = tls.clone();
        let dir = dir.clone();
        let directory_url = args.directory.clone();
        let run = run.clone();
        setups.push(tokio::spawn(async move {
            let conn = Conn::new(tls, &directory_url).await?;
            let mut client = AcmeClient {
                conn,
                key: AccountKey::generate()?,
                kid: None,
                nonce: None,
                dir,
            };
            let order = match &inv {
                Some((email, kid, key)) => {
                    client.register(Some((kid, key))).await?;
                    Ordering_ {
                        identifier: json!({"type": "email", "value": email}),
                        csr_b64: csr_for("email", email)?,
                        dns_suffix: None,
                        count: 0,
                    }
                }
                None => {
                    client.register(None).await?;
                    let name = format!("vu{i}-{run}.bench.test");
                    Ordering_ {
                        identifier: json!({"type": "dns", "value": name}),
                        csr_b64: String::new(),
                        dns_suffix: Some(name),
                        count: 0,
                    }
                }
            };
            Ok::<_, Error>((client, order))
        }));
    }
    let mut clients = Vec::new();
    for s in setups {
        clients.push(s.await.map_err(err("set-up task"))??);
    }

    // Timed phase.
    let start = Instant::now();
    let cpu_start = own_cpu_seconds();
    let server_cpu_start = c.server_pid.map(process_cpu_seconds);
    let deadline = start + Duration::from_secs_f64(c.duration);
    let pace = Arc::new(Pace {
        start,
        rate: args.rate,
        next: AtomicU64::new(0),
    });
    let flow_timeout = Duration::from_secs_f64(args.flow_timeout.max(0.1));
    let mut tasks = Vec::new();
    for (mut client, mut order) in clients {
        let pace = pace.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Samples::default();
            let before = client.conn.requests;
            loop {
                pace.wait().await;
                if Instant::now() >= deadline {
                    break;
                }
                let t = Instant::now();
                // A stuck server (or a lost response) ends the flow as an error.
                let flow = tokio::time::timeout(flow_timeout, order_flow(&mut client, &mut order));
                let result = match flow.await {
                    Ok(r) => r,
                    Err(_) => {
                        client.conn.sender = None;
                        Err(format!("flow timed out after {flow_timeout:?}"))
                    }
                };
                match result {
                    Ok(fin) => {
                        s.flows.push(micros(t.elapsed()));
                        s.finalize.push(micros(fin));
                        s.last_ok = start.elapsed();
                    }
                    Err(e) => {
                        s.errors += 1;
                        if s.first_error.is_none() {
                            s.first_error = Some(e);
                        }
                        client.nonce = None;
                    }
                }
            }
            s.requests = client.conn.requests - before;
            s
        }));
    }
    let mut all = Samples::default();
    for t in tasks {
        let s = t.await.map_err(err("client task"))?;
        all.flows.extend(s.flows);
        all.finalize.extend(s.finalize);
        all.errors += s.errors;
        all.requests += s.requests;
        all.last_ok = all.last_ok.max(s.last_ok);
        if all.first_error.is_none() {
            all.first_error = s.first_error;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = all.flows.len();
    let out = json!({
        "server": match args.server { ServerKind::Signet => "signet", ServerKind::Pebble => "pebble" },
        "vus": c.vus,
        "target_rate": args.rate,
        "seconds": elapsed,
        "driver_cpu_s": own_cpu_seconds() - cpu_start,
        "server_cpu_s": server_cpu_start.zip(c.server_pid).map(|(s0, pid)| process_cpu_seconds(pid) - s0),
        "flows": n,
        "flows_per_sec": n as f64 / elapsed,
        // Rate while the server answered: up to the last completed flow (a
        // server that stalls mid-run is measured over the time it ran).
        "active_flows_per_sec": if n > 0 { n as f64 / all.last_ok.as_secs_f64().max(1e-3) } else { 0.0 },
        "requests_per_flow": if n > 0 { all.requests as f64 / n as f64 } else { 0.0 },
        "errors": all.errors,
        "first_error": all.first_error,
        "flow_ms": percentiles(&mut all.flows),
        "finalize_ms": percentiles(&mut all.finalize),
    });
    Ok(out)
}

fn percentiles(v: &mut [u32]) -> Value {
    if v.is_empty() {
        return json!({});
    }
    v.sort_unstable();
    let p = |q: f64| {
        let i = ((v.len() as f64 - 1.0) * q).round() as usize;
        f64::from(v[i.min(v.len() - 1)]) / 1000.0
    };
    json!({"p50": p(0.50), "p90": p(0.90), "p99": p(0.99), "max": p(1.0)})
}

// ---------------------------------------------------------------- EST

async fn est(args: EstArgs) -> Result<Value, Error> {
    let c = &args.common;
    let tls = tls_connector(&c.ca_file)?;
    let run = tag();
    let mut admin = Admin::new(tls.clone(), c).await?;
    let account = admin.directory(&run).await?;
    // Untimed: one invitation per request, created by a few parallel admins.
    let per = args.requests.div_ceil(4);
    let mut makers = Vec::new();
    for w in 0..4usize {
        let tls = tls.clone();
        let c = c.clone();
        let account = account.clone();
        let run = run.clone();
        let n = per.min(args.requests.saturating_sub(w * per));
        makers.push(tokio::spawn(async move {
            let mut admin = Admin::new(tls, &c).await?;
            let mut out = Vec::with_capacity(n);
            for i in 0..n {
                let email = format!("agent{w}-{i}-{run}@bench.example");
                let (kid, _, key_text) = admin.invite(&account, &email).await?;
                let basic =
                    base64::engine::general_purpose::STANDARD.encode(format!("{kid}:{key_text}"));
                out.push(format!("Basic {basic}"));
            }
            Ok::<_, Error>(out)
        }));
    }
    let mut creds = Vec::new();
    for m in makers {
        creds.extend(m.await.map_err(err("invitation task"))??);
    }
    // A handful of CSRs (an agent's key), reused: the server's work per request is the same.
    let mut csrs = Vec::new();
    for _ in 0..8 {
        let csr = csr_for("email", "agent@bench.example")?;
        let der = B64.decode(&csr).map_err(err("csr"))?;
        csrs.push(base64::engine::general_purpose::STANDARD.encode(der));
    }
    let url = format!("{}/simpleenroll", args.est_url.trim_end_matches('/'));
    let queue = Arc::new(std::sync::Mutex::new(creds));
    let csrs = Arc::new(csrs);
    let start = Instant::now();
    let cpu_start = own_cpu_seconds();
    let server_cpu_start = c.server_pid.map(process_cpu_seconds);
    let mut tasks = Vec::new();
    for i in 0..c.vus {
        let tls = tls.clone();
        let url = url.clone();
        let queue = queue.clone();
        let csrs = csrs.clone();
        tasks.push(tokio::spawn(async move {
            let mut s = Samples::default();
            let mut conn = match Conn::new(tls, &url).await {
                Ok(c) => c,
                Err(e) => {
                    s.errors += 1;
                    s.first_error = Some(e);
                    return s;
                }
            };
            let csr = csrs[i % csrs.len()].clone();
            // (the guard moves into the closure and is dropped there)
            while let Some(auth) = queue.lock().ok().and_then(|mut q| q.pop()) {
                let t = Instant::now();
                let r = conn
                    .request(
                        http::Method::POST,
                        &url,
                        &[
                            ("content-type", "application/pkcs10"),
                            ("content-transfer-encoding", "base64"),
                            ("authorization", &auth),
                        ],
                        csr.clone().into_bytes(),
                    )
                    .await;
                match r {
                    Ok(r) if r.status == 200 => s.flows.push(micros(t.elapsed())),
                    Ok(r) => {
                        s.errors += 1;
                        if s.first_error.is_none() {
                            s.first_error =
                                Some(format!("{} {}", r.status, String::from_utf8_lossy(&r.body)));
                        }
                    }
                    Err(e) => {
                        s.errors += 1;
                        if s.first_error.is_none() {
                            s.first_error = Some(e);
                        }
                    }
                }
            }
            s
        }));
    }
    let all = gather(tasks, "EST task").await?;
    Ok(closed_loop_summary(
        c,
        start,
        cpu_start,
        server_cpu_start,
        all,
        "enrollments",
    ))
}

/// `signet-bench get`: requests/s of one GET over keep-alive TLS connections.
async fn get(args: GetArgs) -> Result<Value, Error> {
    let c = &args.common;
    let tls = tls_connector(&c.ca_file)?;
    let stop_at = Instant::now() + Duration::from_secs_f64(c.duration);
    let start = Instant::now();
    let cpu_start = own_cpu_seconds();
    let server_cpu_start = c.server_pid.map(process_cpu_seconds);
    let mut tasks = Vec::new();
    for _ in 0..c.vus {
        let (tls, url) = (tls.clone(), args.url.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = Samples::default();
            let mut conn = match Conn::new(tls, &url).await {
                Ok(c) => c,
                Err(e) => {
                    s.errors += 1;
                    s.first_error = Some(e);
                    return s;
                }
            };
            while Instant::now() < stop_at {
                let t = Instant::now();
                match conn.request(http::Method::GET, &url, &[], Vec::new()).await {
                    Ok(r) if r.status == 200 => s.flows.push(micros(t.elapsed())),
                    Ok(r) => {
                        s.errors += 1;
                        s.first_error
                            .get_or_insert_with(|| format!("status {}", r.status));
                    }
                    Err(e) => {
                        s.errors += 1;
                        s.first_error.get_or_insert(e);
                    }
                }
            }
            s
        }));
    }
    let all = gather(tasks, "GET task").await?;
    Ok(closed_loop_summary(
        c,
        start,
        cpu_start,
        server_cpu_start,
        all,
        "requests",
    ))
}

/// Waits for the client tasks of a closed-loop run and merges their samples.
async fn gather(
    tasks: Vec<tokio::task::JoinHandle<Samples>>,
    what: &str,
) -> Result<Samples, Error> {
    let mut all = Samples::default();
    for t in tasks {
        let s = t.await.map_err(err(what))?;
        all.flows.extend(s.flows);
        all.errors += s.errors;
        if all.first_error.is_none() {
            all.first_error = s.first_error;
        }
    }
    Ok(all)
}

/// The JSON result of a closed-loop run (`est`, `get`): `noun` counts the
/// completed operations (`<noun>` and `<noun>_per_sec`).
fn closed_loop_summary(
    c: &Common,
    start: Instant,
    cpu_start: f64,
    server_cpu_start: Option<f64>,
    mut all: Samples,
    noun: &str,
) -> Value {
    let elapsed = start.elapsed().as_secs_f64();
    let n = all.flows.len();
    let mut v = json!({
        "vus": c.vus,
        "seconds": elapsed,
        "driver_cpu_s": own_cpu_seconds() - cpu_start,
        "server_cpu_s": server_cpu_start.zip(c.server_pid).map(|(s0, pid)| process_cpu_seconds(pid) - s0),
        "errors": all.errors,
        "first_error": all.first_error,
        "latency_ms": percentiles(&mut all.flows),
    });
    v[noun] = json!(n);
    v[format!("{noun}_per_sec")] = json!(n as f64 / elapsed);
    v
}

/// CPU seconds (user + system, all threads) this process has used so far
/// (from /proc/self/stat; 0 where unavailable): the driver's own cost.
fn own_cpu_seconds() -> f64 {
    cpu_seconds_from("/proc/self/stat")
}

/// CPU seconds another process (the server) has used so far.
fn process_cpu_seconds(pid: u32) -> f64 {
    cpu_seconds_from(&format!("/proc/{pid}/stat"))
}

fn cpu_seconds_from(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let cli = Cli::parse();
    let threads = std::env::var("SIGNET_BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("signet-bench: runtime: {e}");
            std::process::exit(2);
        }
    };
    let (json_out, result) = match cli.cmd {
        Cmd::Acme(a) => (a.common.json, rt.block_on(acme(a))),
        Cmd::Est(a) => (a.common.json, rt.block_on(est(a))),
        Cmd::Get(a) => (a.common.json, rt.block_on(get(a))),
    };
    match result {
        Ok(v) => {
            if json_out {
                println!("{v}");
            } else {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            }
        }
        Err(e) => {
            eprintln!("signet-bench: {e}");
            std::process::exit(1);
        }
    }
}
