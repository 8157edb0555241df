//! The `[server]` table: data directory, listeners, public URLs, TLS, admin token.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::PathBuf;

use super::{ConfigError, Secret};

/// Listener, TLS and data-directory settings (`[server]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Directory holding the store, the CA files, the outbox and the admin token.
    pub data_dir: PathBuf,
    /// HTTPS listener for ACME, EST and the admin API (plain HTTP when
    /// `behind_tls_proxy` is true).
    pub listen: String,
    /// Plain-HTTP listener for `/metrics`, CRLs (`/crl/...`) and CA certificates (`/ca/...`).
    pub http_listen: String,
    /// Public base URL of the HTTPS listener (ACME directory URLs are built from it).
    /// Default: `https://<first tls_hostname>:<bound port>`.
    pub public_url: Option<String>,
    /// Public base URL of the plain-HTTP listener (CRL distribution point and AIA
    /// URLs are built from it). Default: `http://<first tls_hostname>:<bound port>`.
    pub http_public_url: Option<String>,
    /// Names (DNS names or IP addresses) in the server certificate issued by the CA
    /// when no `tls_cert_file` is given.
    pub tls_hostnames: Vec<String>,
    /// PEM certificate chain for the HTTPS listener (instead of one from the CA).
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key matching `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Bearer token of the admin API. Unset: generated on first start into
    /// `<data_dir>/admin-token` (mode 0600).
    pub admin_token: Option<Secret>,
    /// A TLS-terminating proxy sits in front: `listen` serves plain HTTP and
    /// `public_url` must be set.
    pub behind_tls_proxy: bool,
    /// Largest accepted request body in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// How long shutdown waits for in-flight requests (seconds).
    pub shutdown_timeout_secs: u64,
    /// Most client connections open at once on each listener; past it, new
    /// connections wait in the kernel's accept queue.
    pub max_connections: usize,
    /// Most connections one client address (an IPv6 /64) may hold open on
    /// each listener; past it new connections are closed at once and counted
    /// in `signet_http_connections_refused_total`. Not applied to the main
    /// listener when `behind_tls_proxy` (every client is the proxy there).
    pub max_connections_per_address: usize,
    /// Longest a client may take for the TLS handshake and for sending a
    /// request's head (first request and each keep-alive request), seconds.
    pub header_read_timeout_secs: u64,
    /// Longest an idle keep-alive connection waits for the next request's
    /// head after a response (then it is closed), seconds.
    pub keep_alive_timeout_secs: u64,
    /// Failed authentications (EST Basic, admin token, ACME EAB) from one
    /// address or for one key id within 15 minutes before it is answered
    /// 429 with `Retry-After` (2 s, doubling).
    pub auth_failures_before_backoff: u32,
    /// Longest backoff after failed authentications, seconds.
    pub auth_backoff_max_secs: u64,
    /// Longest a front end may take to answer one request; past it the client
    /// gets 503 (the work itself is not interrupted).
    pub request_timeout_secs: u64,
    /// Memory the store may use to cache records (MiB); bounds the process's
    /// resident memory as the store grows.
    pub store_cache_mib: u64,
    /// Run the server's threads in `SCHED_BATCH` and the signing pool's and
    /// the store's flusher in `SCHED_OTHER`, so a signing thread holding the
    /// store's writer lock is not preempted by other threads' wake-ups
    /// (Linux; see `src/threads.rs`).
    pub batch_scheduling: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            data_dir: PathBuf::from("./signet-data"),
            listen: "127.0.0.1:8443".into(),
            http_listen: "127.0.0.1:8080".into(),
            public_url: None,
            http_public_url: None,
            tls_hostnames: vec!["localhost".into(), "127.0.0.1".into()],
            tls_cert_file: None,
            tls_key_file: None,
            admin_token: None,
            behind_tls_proxy: false,
            max_body_bytes: 1024 * 1024,
            shutdown_timeout_secs: 10,
            max_connections: 1024,
            max_connections_per_address: 64,
            header_read_timeout_secs: 10,
            keep_alive_timeout_secs: 15,
            auth_failures_before_backoff: 5,
            auth_backoff_max_secs: 300,
            request_timeout_secs: 60,
            store_cache_mib: 24,
            batch_scheduling: true,
        }
    }
}

impl ServerConfig {
    /// The parsed `listen` address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_socket_addr("server.listen", &self.listen)
    }

    /// The parsed `http_listen` address.
    pub fn http_listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_socket_addr("server.http_listen", &self.http_listen)
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::invalid("server.data_dir", "must not be empty"));
        }
        self.listen_addr()?;
        self.http_listen_addr()?;
        if let Some(url) = &self.public_url {
            super::check_url("server.public_url", url, &["https", "http"])?;
        }
        if let Some(url) = &self.http_public_url {
            super::check_url("server.http_public_url", url, &["http", "https"])?;
        }
        for (i, name) in self.tls_hostnames.iter().enumerate() {
            if !valid_host_name(name) {
                return Err(ConfigError::invalid(
                    format!("server.tls_hostnames[{i}]"),
                    format!("invalid host name {name:?}"),
                ));
            }
        }
        if self.tls_cert_file.is_none() && self.tls_hostnames.is_empty() && !self.behind_tls_proxy {
            return Err(ConfigError::invalid(
                "server.tls_hostnames",
                "must name at least one host when server.tls_cert_file is not set",
            ));
        }
        match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "server.tls_key_file",
                    "required when server.tls_cert_file is set",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "server.tls_cert_file",
                    "required when server.tls_key_file is set",
                ))
            }
            _ => {}
        }
        if let Some(path) = &self.tls_cert_file {
            super::check_file("server.tls_cert_file", path)?;
        }
        if let Some(path) = &self.tls_key_file {
            super::check_file("server.tls_key_file", path)?;
        }
        if let Some(token) = &self.admin_token {
            if token.expose().len() < 16 {
                return Err(ConfigError::invalid(
                    "server.admin_token",
                    "must be at least 16 characters long",
                ));
            }
        }
        if self.behind_tls_proxy && self.public_url.is_none() {
            return Err(ConfigError::invalid(
                "server.public_url",
                "required when server.behind_tls_proxy = true",
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError::invalid(
                "server.max_body_bytes",
                format!("{} is too small (at least 1024)", self.max_body_bytes),
            ));
        }
        if !(1..=3600).contains(&self.shutdown_timeout_secs) {
            return Err(ConfigError::invalid(
                "server.shutdown_timeout_secs",
                format!("{} is out of range 1..=3600", self.shutdown_timeout_secs),
            ));
        }
        if !(8..=65536).contains(&self.store_cache_mib) {
            return Err(ConfigError::invalid(
                "server.store_cache_mib",
                format!("{} is out of range 8..=65536", self.store_cache_mib),
            ));
        }
        if !(1..=3600).contains(&self.request_timeout_secs) {
            return Err(ConfigError::invalid(
                "server.request_timeout_secs",
                format!("{} is out of range 1..=3600", self.request_timeout_secs),
            ));
        }
        if !(1..=1_000_000).contains(&self.max_connections_per_address) {
            return Err(ConfigError::invalid(
                "server.max_connections_per_address",
                format!(
                    "{} is out of range 1..=1000000",
                    self.max_connections_per_address
                ),
            ));
        }
        if !(1..=300).contains(&self.header_read_timeout_secs) {
            return Err(ConfigError::invalid(
                "server.header_read_timeout_secs",
                format!("{} is out of range 1..=300", self.header_read_timeout_secs),
            ));
        }
        if !(1..=3600).contains(&self.keep_alive_timeout_secs) {
            return Err(ConfigError::invalid(
                "server.keep_alive_timeout_secs",
                format!("{} is out of range 1..=3600", self.keep_alive_timeout_secs),
            ));
        }
        if !(1..=1000).contains(&self.auth_failures_before_backoff) {
            return Err(ConfigError::invalid(
                "server.auth_failures_before_backoff",
                format!(
                    "{} is out of range 1..=1000",
                    self.auth_failures_before_backoff
                ),
            ));
        }
        if !(2..=86_400).contains(&self.auth_backoff_max_secs) {
            return Err(ConfigError::invalid(
                "server.auth_backoff_max_secs",
                format!("{} is out of range 2..=86400", self.auth_backoff_max_secs),
            ));
        }
        if !(1..=1_000_000).contains(&self.max_connections) {
            return Err(ConfigError::invalid(
                "server.max_connections",
                format!("{} is out of range 1..=1000000", self.max_connections),
            ));
        }
        Ok(())
    }
}

/// `IP:PORT`, or `HOST:PORT` with a host name that resolves (`localhost:8443`
/// listens on the first address the name resolves to, IPv4 first).
fn parse_socket_addr(key: &str, value: &str) -> Result<SocketAddr, ConfigError> {
    if let Ok(addr) = value.parse() {
        return Ok(addr);
    }
    let invalid = |why: &str| {
        ConfigError::invalid(
            key,
            format!("invalid socket address {value:?}: {why} (e.g. \"127.0.0.1:8443\" or \"localhost:8443\")"),
        )
    };
    let Some((host, port)) = value.rsplit_once(':') else {
        return Err(invalid("expected HOST:PORT or IP:PORT"));
    };
    if port.parse::<u16>().is_err() {
        return Err(invalid("the port must be a number from 0 to 65535"));
    }
    if !valid_host_name(host) || host.starts_with("*.") {
        return Err(invalid("expected HOST:PORT or IP:PORT"));
    }
    let addrs: Vec<SocketAddr> = std::net::ToSocketAddrs::to_socket_addrs(value)
        .map_err(|e| {
            invalid(&format!(
                "the host name does not resolve ({e}); use an IP address"
            ))
        })?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| invalid("the host name resolves to no address; use an IP address"))
}

/// A DNS name (letters, digits, '-', '.', optional leading "*.") or an IP address.
fn valid_host_name(name: &str) -> bool {
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = name.strip_prefix("*.").unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}
