//! The server: binds the HTTPS listener (ACME, EST, admin API) and the
//! plain-HTTP listener (`/metrics`, `/ca/...`, `/crl/...`, `/healthz`), builds
//! the application ([`App`]), routes requests to the front ends, and shuts
//! down gracefully.
//!
//! ```no_run
//! # async fn run() -> Result<(), signet::error::Error> {
//! let config = signet::config::load(None)?;
//! let server = signet::server::start(config, signet::clock::system()).await?;
//! println!("ACME directory: {}/acme/directory", server.public_url);
//! server.run_until_signal().await // SIGTERM / Ctrl-C: graceful shutdown
//! # }
//! ```
//!
//! # Data directory
//!
//! `<data_dir>/ca/` (CA keys and certificates, `root.pem` is the code-signing
//! trust anchor, `tls-ca.pem` the development TLS CA of the HTTPS listener),
//! `<data_dir>/store/` (sled), `<data_dir>/outbox/` (mail, outbox mode),
//! `<data_dir>/admin-token` (generated admin bearer token, mode 0600).

mod conn;
mod crl;
mod frontends;
mod limits;
pub mod permissions;
pub mod plain;
pub use crate::http::{routing, throttle};
pub mod tls;

pub use frontends::AdminFrontEnd;
pub use routing::{BoxFuture, FrontEnd, HttpRequest, HttpResponse, RouteLabel, Router};

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::ca::Ca;
use crate::clock::SharedClock;
use crate::config::{Config, Secret};
use crate::error::Error;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::ra::{Ra, RaSettings};
use crate::storage::Store;

/// The file (in the data directory) holding the generated admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";

/// Everything the front ends share, built once at start-up.
pub struct App {
    /// The validated configuration, with `ca.crl_url`/`ca.issuer_url` filled in.
    pub config: Arc<Config>,
    pub clock: SharedClock,
    pub metrics: Metrics,
    pub mailer: Mailer,
    pub ca: Arc<Ca>,
    pub store: Store,
    pub ra: Arc<Ra>,
    pub data_dir: PathBuf,
    /// Public base URL of the HTTPS listener, without a trailing `/`
    /// (e.g. `https://localhost:8443`).
    pub public_url: String,
    /// Public base URL of the plain-HTTP listener, without a trailing `/`.
    pub http_public_url: String,
    /// The admin API bearer token (configured or generated).
    pub admin_token: Secret,
    /// Backoff after failed authentication (EST, admin API, ACME EAB).
    pub auth_throttle: Arc<throttle::AuthThrottle>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("data_dir", &self.data_dir)
            .field("public_url", &self.public_url)
            .field("http_public_url", &self.http_public_url)
            .finish_non_exhaustive()
    }
}

impl Drop for App {
    fn drop(&mut self) {
        // Break the metrics -> CRL source -> store -> metrics cycle so the
        // store (and the sled lock on the data directory) is released.
        self.metrics.clear_sources();
    }
}

impl App {
    /// Builds the application for listeners reachable at `public_url` and
    /// `http_public_url`: opens the data directory, the CA (creating the
    /// development CA on first start), the store, the mailer and the RA.
    pub fn build(
        mut config: Config,
        clock: SharedClock,
        public_url: String,
        http_public_url: String,
    ) -> Result<App, Error> {
        config.validate()?;
        let data_dir = config.server.data_dir.clone();
        permissions::secure_data_dir(&data_dir)?;
        if let Some(key) = &config.server.tls_key_file {
            permissions::check_external_key("server.tls_key_file", key)?;
        }
        if let Some(key) = &config.ca.issuer_key_file {
            permissions::check_external_key("ca.issuer_key_file", Path::new(key))?;
        }
        let metrics = Metrics::new();
        metrics.preregister_attestation_formats(
            crate::va::attestation::Format::ALL
                .iter()
                .map(|f| f.as_str()),
        );

        if config.ca.crl_url.is_empty() {
            config.ca.crl_url = format!("{http_public_url}/crl/issuing.crl");
        }
        if config.ca.issuer_url.is_empty() {
            config.ca.issuer_url = format!("{http_public_url}/ca/issuing.crt");
        }
        if config.ca.root_crl_url.is_empty() {
            config.ca.root_crl_url = config.ca.effective_root_crl_url();
        }
        if config.ca.root_url.is_empty() {
            config.ca.root_url = config.ca.effective_root_url();
        }
        for finding in crate::config::non_public_certificate_urls(&config) {
            tracing::warn!(
                "!!! NOT FOR PRODUCTION: certificates will carry {finding}; relying parties cannot \
                 reach it (set a fully qualified public name; `signet config check --production` fails) !!!"
            );
        }
        let ca = Arc::new(Ca::load_or_create(
            &data_dir.join("ca"),
            &config.ca,
            &clock,
        )?);
        let store = Store::open_with_cache(
            &data_dir.join("store"),
            config.server.store_cache_mib * 1024 * 1024,
        )?;
        // CA key generation and CA certificate loading (CS BR 5.4.1.1)
        for e in ca.startup_events() {
            store.append_audit(&crate::storage::model::AuditEvent {
                at: clock.now(),
                actor: "system".into(),
                action: e.action.into(),
                details: e.details.clone(),
            })?;
        }
        let mailer = Mailer::from_config(&config.mail, &data_dir, clock.clone())?
            .with_metrics(metrics.clone());
        let ra = Ra::new(
            store.clone(),
            ca.clone(),
            mailer.clone(),
            clock.clone(),
            RaSettings {
                invitation_ttl_days: config.invitations.ttl_days,
                acme_directory_url: format!("{public_url}/acme/directory"),
                est_url: format!("{public_url}/.well-known/est"),
                admin_emails: config.notifications.admin_emails.clone(),
            },
        );
        let trust =
            crate::va::attestation::TrustStore::load(config.attestation.roots_dir.as_deref())
                .map_err(|e| {
                    Error::Config(crate::config::ConfigError::invalid(
                        "attestation.roots_dir",
                        e.to_string(),
                    ))
                })?;
        let ra = ra
            .with_attestation_trust(trust)
            .with_blocked_keys(blocked_keys(&config.ra)?)
            .with_renewal_grace(time::Duration::hours(i64::from(
                config.ra.renewal_grace_hours,
            )));
        // Issuances, signing, flushes and the front ends' families record here.
        let ra = Arc::new(ra.with_metrics(metrics.clone()));
        let admin_token = match &config.server.admin_token {
            Some(token) => token.clone(),
            None => load_or_create_admin_token(&data_dir)?,
        };
        let auth_throttle = Arc::new(throttle::AuthThrottle::new(
            clock.clone(),
            store.clone(),
            &metrics,
            config.server.auth_failures_before_backoff,
            config.server.auth_backoff_max_secs,
        ));
        // Last, infallible step: from here on App's Drop breaks the cycle this
        // creates (metrics -> CRL source -> store -> metrics).
        crl::watch_crl(&metrics, &store, &clock);
        Ok(App {
            config: Arc::new(config),
            clock,
            metrics,
            mailer,
            ca,
            store,
            ra,
            data_dir,
            public_url,
            http_public_url,
            admin_token,
            auth_throttle,
        })
    }
}

/// Triggers a graceful shutdown of a running server (cheap to clone).
#[derive(Debug, Clone)]
pub struct ShutdownHandle(Arc<watch::Sender<bool>>);

impl ShutdownHandle {
    /// Stops accepting connections; in-flight requests finish (up to
    /// `server.shutdown_timeout_secs`).
    pub fn shutdown(&self) {
        self.0.send_replace(true);
    }
}

/// A started server.
pub struct RunningServer {
    /// The bound HTTPS (ACME/EST/admin) address.
    pub https_addr: SocketAddr,
    /// The bound plain-HTTP (metrics/CRL/CA certificates) address.
    pub http_addr: SocketAddr,
    /// Public base URL of the HTTPS listener (no trailing `/`).
    pub public_url: String,
    /// Public base URL of the plain-HTTP listener (no trailing `/`).
    pub http_public_url: String,
    pub data_dir: PathBuf,
    /// The application (store, CA, RA, metrics...), e.g. for in-process tests.
    pub app: Arc<App>,
    shutdown: ShutdownHandle,
    tasks: Vec<JoinHandle<()>>,
    tls_identity: Option<Arc<tls::ServerIdentity>>,
}

impl std::fmt::Debug for RunningServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningServer")
            .field("https_addr", &self.https_addr)
            .field("http_addr", &self.http_addr)
            .field("public_url", &self.public_url)
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl RunningServer {
    /// The admin API bearer token.
    pub fn admin_token(&self) -> &Secret {
        &self.app.admin_token
    }

    /// The HTTPS server identity (None behind a TLS proxy); `refresh()` renews
    /// or reloads it now instead of at the next periodic check.
    pub fn tls_identity(&self) -> Option<&Arc<tls::ServerIdentity>> {
        self.tls_identity.as_ref()
    }

    /// A handle that can stop the server from elsewhere.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Graceful shutdown: stop accepting, finish in-flight requests (bounded by
    /// `server.shutdown_timeout_secs`), flush the store.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.shutdown.shutdown();
        self.wait().await
    }

    /// Waits until the server has been stopped (through a [`ShutdownHandle`]),
    /// then flushes the store.
    pub async fn wait(self) -> Result<(), Error> {
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "listener task failed");
            }
        }
        let ra = self.app.ra.clone();
        let _ = tokio::task::spawn_blocking(move || ra.flush_notifications(Duration::from_secs(5)))
            .await;
        let store = self.app.store.clone();
        tokio::task::spawn_blocking(move || store.flush())
            .await
            .map_err(|e| Error::Command(format!("flushing the store: {e}")))??;
        tracing::info!("server stopped");
        Ok(())
    }

    /// Serves until SIGTERM or Ctrl-C (or a [`ShutdownHandle`]), then shuts down gracefully.
    pub async fn run_until_signal(self) -> Result<(), Error> {
        let mut stopped = self.shutdown.0.subscribe();
        tokio::select! {
            _ = termination_signal() => {
                tracing::info!("termination signal received: shutting down");
            }
            _ = conn::stopped(&mut stopped) => {}
        }
        self.shutdown().await
    }
}

async fn termination_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C only");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Starts the server: binds both listeners (port 0 picks a free port), builds
/// the [`App`], and serves until shut down.
pub async fn start(config: Config, clock: SharedClock) -> Result<RunningServer, Error> {
    start_with(config, clock, Vec::new()).await
}

/// Like [`start`], with additional front ends on the HTTPS listener (tests of
/// a front end in isolation, diagnostics). They win over the built-in ones
/// for a longer prefix, like any route.
pub async fn start_with(
    config: Config,
    clock: SharedClock,
    extra_front_ends: Vec<Arc<dyn FrontEnd>>,
) -> Result<RunningServer, Error> {
    config.validate()?;
    let listen = config.server.listen_addr()?;
    let http_listen = config.server.http_listen_addr()?;
    let https_listener = TcpListener::bind(listen)
        .await
        .map_err(|e| Error::io(format!("binding server.listen {listen}"), e))?;
    let http_listener = TcpListener::bind(http_listen)
        .await
        .map_err(|e| Error::io(format!("binding server.http_listen {http_listen}"), e))?;
    let https_addr = local_addr(&https_listener, "server.listen")?;
    let http_addr = local_addr(&http_listener, "server.http_listen")?;

    let hostnames = &config.server.tls_hostnames;
    let public_url = match &config.server.public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => derived_url("https", hostnames, https_addr),
    };
    let http_public_url = match &config.server.http_public_url {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => derived_url("http", hostnames, http_addr),
    };

    let behind_proxy = config.server.behind_tls_proxy;
    let grace = Duration::from_secs(config.server.shutdown_timeout_secs);
    let max_body_bytes = config.server.max_body_bytes;
    let max_connections = config.server.max_connections;
    let per_address = config.server.max_connections_per_address;
    let header_read_timeout = Duration::from_secs(config.server.header_read_timeout_secs);
    let keep_alive_timeout = Duration::from_secs(config.server.keep_alive_timeout_secs);
    let request_timeout = Duration::from_secs(config.server.request_timeout_secs);
    let tls_files = config
        .server
        .tls_cert_file
        .clone()
        .zip(config.server.tls_key_file.clone());
    let hostnames = hostnames.clone();

    // CA key generation and store opening block: keep them off the async workers.
    let app = tokio::task::spawn_blocking({
        let public_url = public_url.clone();
        let http_public_url = http_public_url.clone();
        move || App::build(config, clock, public_url, http_public_url)
    })
    .await
    .map_err(|e| Error::Command(format!("building the application: {e}")))??;
    let app = Arc::new(app);

    let tls_identity = if behind_proxy {
        None
    } else {
        let source = match tls_files {
            Some((cert, key)) => tls::IdentitySource::Files { cert, key },
            None => tls::IdentitySource::Ca {
                ca: app.ca.clone(),
                hostnames,
            },
        };
        Some(Arc::new(tls::ServerIdentity::new(
            source,
            app.clock.clone(),
        )?))
    };
    let tls_acceptor = match &tls_identity {
        Some(identity) => Some(tokio_rustls::TlsAcceptor::from(Arc::new(
            tls::server_config(identity.clone())?,
        ))),
        None => None,
    };

    let https_handler = Arc::new(conn::Handler {
        router: Router::new({
            let mut front_ends = frontends::https_front_ends(&app)?;
            front_ends.extend(extra_front_ends);
            front_ends
        }),
        metrics: app.metrics.clone(),
        max_body_bytes,
        max_connections,
        // behind a TLS proxy every client has the proxy's address
        max_connections_per_address: (!behind_proxy).then_some(per_address),
        header_read_timeout,
        keep_alive_timeout,
        request_timeout,
        listener: "https",
    });
    let http_handler = Arc::new(conn::Handler {
        router: Router::new(frontends::http_front_ends(&app)?),
        metrics: app.metrics.clone(),
        max_body_bytes,
        max_connections,
        max_connections_per_address: Some(per_address),
        header_read_timeout,
        keep_alive_timeout,
        request_timeout,
        listener: "http",
    });

    let (tx, rx) = watch::channel(false);
    if let Some(identity) = &tls_identity {
        spawn_tls_refresh(identity.clone(), rx.clone());
    }
    spawn_duties(app.ra.clone(), rx.clone());
    let url_file = app.data_dir.join(SERVER_URL_FILE);
    if let Err(e) = std::fs::write(&url_file, format!("{public_url}\n")) {
        tracing::warn!(error = %e, file = %url_file.display(), "could not write the server URL file");
    }
    let tasks = vec![
        tokio::spawn(conn::accept_loop(
            https_listener,
            tls_acceptor,
            https_handler,
            rx.clone(),
            grace,
        )),
        tokio::spawn(conn::accept_loop(
            http_listener,
            None,
            http_handler,
            rx,
            grace,
        )),
    ];
    tracing::info!(
        https = %https_addr,
        http = %http_addr,
        public_url = %public_url,
        tls = !behind_proxy,
        "server started"
    );
    Ok(RunningServer {
        https_addr,
        http_addr,
        public_url,
        http_public_url,
        data_dir: app.data_dir.clone(),
        app,
        shutdown: ShutdownHandle(Arc::new(tx)),
        tasks,
        tls_identity,
    })
}

/// How often the HTTPS identity is checked for renewal / changed files.
const TLS_REFRESH_INTERVAL: Duration = Duration::from_secs(600);

/// Renews the CA-issued server certificate before it expires and picks up
/// rotated certificate files, until shutdown.
fn spawn_tls_refresh(identity: Arc<tls::ServerIdentity>, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(TLS_REFRESH_INTERVAL);
        tick.tick().await; // the first tick is immediate: the identity is fresh
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    let identity = identity.clone();
                    match tokio::task::spawn_blocking(move || identity.refresh()).await {
                        Ok(Err(e)) => tracing::error!(error = %e, "HTTPS certificate refresh failed; keeping the current one"),
                        Err(e) => tracing::error!(error = %e, "HTTPS certificate refresh panicked"),
                        Ok(Ok(_)) => {}
                    }
                }
                _ = conn::stopped(&mut stop) => break,
            }
        }
    });
}

/// The file (in the data directory) telling the admin CLI where the server is.
pub const SERVER_URL_FILE: &str = "server-url";

/// How often the background duties run (CRL refresh, expiry reminders).
const DUTY_INTERVAL: Duration = Duration::from_secs(3600);

/// Runs [`Ra::periodic`] at start and then every [`DUTY_INTERVAL`] (or
/// when the RA wakes it) until shutdown.
fn spawn_duties(ra: Arc<Ra>, mut stop: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(DUTY_INTERVAL);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                // a renewal was recorded (a grace period of 0 supersedes at once)
                _ = ra.duties_wakeup().notified() => {}
                _ = stop.changed() => break,
            }
            let ra = ra.clone();
            match tokio::task::spawn_blocking(move || ra.periodic()).await {
                Ok(Err(e)) => tracing::error!(error = %e, "background duties failed"),
                Err(e) => tracing::error!(error = %e, "background duties panicked"),
                Ok(Ok(_)) => {}
            }
        }
    });
}

/// The operator's blocklist of compromised keys (`ra.blocked_keys_file`;
/// empty without it). A bad line stops the start, naming the key and line.
fn blocked_keys(
    config: &crate::config::RaConfig,
) -> Result<crate::ra::blocklist::BlockedKeys, crate::config::ConfigError> {
    match &config.blocked_keys_file {
        Some(path) => crate::ra::blocklist::BlockedKeys::load(path)
            .map_err(|e| crate::config::ConfigError::invalid("ra.blocked_keys_file", e)),
        None => Ok(Default::default()),
    }
}

fn local_addr(listener: &TcpListener, key: &str) -> Result<SocketAddr, Error> {
    listener
        .local_addr()
        .map_err(|e| Error::io(format!("{key}: reading the bound address"), e))
}

/// `scheme://host:port` with the first configured host name (or the bound IP).
fn derived_url(scheme: &str, hostnames: &[String], bound: SocketAddr) -> String {
    let host = match hostnames.first() {
        Some(h) => h.clone(),
        None if bound.ip().is_unspecified() => "localhost".to_string(),
        None => bound.ip().to_string(),
    };
    let host = if host.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("[{host}]")
    } else {
        host
    };
    format!("{scheme}://{host}:{}", bound.port())
}

/// Reads `<data_dir>/admin-token`, or writes a fresh random 256-bit
/// base64url token there (mode 0600) on first start.
pub fn load_or_create_admin_token(data_dir: &Path) -> Result<Secret, Error> {
    use base64::Engine;
    use std::io::Write;
    let path = data_dir.join(ADMIN_TOKEN_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let token = text.trim();
            if token.len() < 16 {
                return Err(Error::Command(format!(
                    "{}: the admin token is shorter than 16 characters",
                    path.display()
                )));
            }
            return Ok(Secret::new(token));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let write = || -> std::io::Result<()> {
        let mut f = options.open(&path)?;
        f.write_all(token.as_bytes())?;
        f.write_all(b"\n")?;
        f.sync_all()
    };
    write().map_err(|e| Error::io(format!("writing {}", path.display()), e))?;
    tracing::info!(path = %path.display(), "generated the admin API token");
    Ok(Secret::new(token))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_urls_use_the_first_host_name_and_bound_port() {
        let bound: SocketAddr = "127.0.0.1:40123".parse().unwrap();
        assert_eq!(
            derived_url("https", &["localhost".into(), "127.0.0.1".into()], bound),
            "https://localhost:40123"
        );
        assert_eq!(derived_url("http", &[], bound), "http://127.0.0.1:40123");
        let any: SocketAddr = "0.0.0.0:80".parse().unwrap();
        assert_eq!(derived_url("http", &[], any), "http://localhost:80");
        assert_eq!(
            derived_url("https", &["::1".into()], "[::1]:8443".parse().unwrap()),
            "https://[::1]:8443"
        );
    }

    #[test]
    fn admin_token_is_generated_once_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create_admin_token(dir.path()).unwrap();
        let b = load_or_create_admin_token(dir.path()).unwrap();
        assert_eq!(a.expose(), b.expose());
        // 256 bits in base64url without padding
        assert_eq!(a.expose().len(), 43);
        assert!(a
            .expose()
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(ADMIN_TOKEN_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let other = tempfile::tempdir().unwrap();
        assert_ne!(
            load_or_create_admin_token(other.path()).unwrap().expose(),
            a.expose()
        );
    }
}
