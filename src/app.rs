//! The assembled application: store, CA, mailer, RA and the front ends that
//! share them, built once at start-up from the configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::admin::AdminApi;
use crate::ca::Ca;
use crate::clock::SharedClock;
use crate::config::Config;
use crate::error::Error;
use crate::mail::Mailer;
use crate::metrics::Metrics;
use crate::ra::{Ra, RaSettings};
use crate::storage::Store;

/// Where the server can be reached once its listeners are bound.
#[derive(Debug, Clone)]
pub struct PublicUrls {
    /// Base URL of the HTTPS listener (ACME, EST, admin), no trailing slash.
    pub https: String,
    /// Base URL of the plain-HTTP listener (metrics, CRLs, CA certificates).
    pub http: String,
}

/// Everything the front ends share.
pub struct App {
    pub config: Config,
    pub data_dir: PathBuf,
    pub clock: SharedClock,
    pub store: Store,
    pub ca: Arc<Ca>,
    pub mailer: Mailer,
    pub ra: Arc<Ra>,
    pub admin: AdminApi,
    pub metrics: Metrics,
    pub urls: PublicUrls,
}

/// Name of the file in the data directory that holds the admin token.
pub const ADMIN_TOKEN_FILE: &str = "admin-token";
/// Name of the file in the data directory that tells the CLI the server URL.
pub const SERVER_URL_FILE: &str = "server-url";

impl App {
    /// Opens the data directory, the store and the CA (generating a development
    /// CA on first start), and builds the RA and front ends. `urls` are the
    /// public base URLs of the bound listeners.
    pub fn build(
        config: Config,
        clock: SharedClock,
        metrics: Metrics,
        urls: PublicUrls,
    ) -> Result<App, Error> {
        let data_dir = PathBuf::from(&config.server.data_dir);
        std::fs::create_dir_all(&data_dir)
            .map_err(|e| Error::io(format!("creating data directory {}", data_dir.display()), e))?;
        let store = Store::open(&data_dir.join("db"))?;

        let mut ca_cfg = config.ca.clone();
        if ca_cfg.crl_url.is_empty() {
            ca_cfg.crl_url = format!("{}/crl/issuing.crl", urls.http);
        }
        if ca_cfg.issuer_url.is_empty() {
            ca_cfg.issuer_url = format!("{}/ca/issuing.cer", urls.http);
        }
        let ca = Arc::new(Ca::load_or_create(&data_dir.join("ca"), &ca_cfg, &clock)?);

        let mailer = Mailer::from_config(&config.mail, &data_dir, clock.clone())?
            .with_metrics(metrics.clone());

        let settings = RaSettings {
            invitation_ttl_days: config.invitations.ttl_days,
            acme_directory_url: format!("{}/acme/directory", urls.https),
            est_url: format!("{}/.well-known/est", urls.https),
        };
        let ra = Arc::new(Ra::new(
            store.clone(),
            ca.clone(),
            mailer.clone(),
            clock.clone(),
            settings,
        ));
        let token = match &config.server.admin_token {
            Some(t) => t.expose().to_string(),
            None => load_or_create_token(&data_dir.join(ADMIN_TOKEN_FILE))?,
        };
        let admin = AdminApi::new(ra.clone(), token);
        write_file(
            &data_dir.join(SERVER_URL_FILE),
            urls.https.as_bytes(),
            false,
        )?;
        Ok(App {
            config,
            data_dir,
            clock,
            store,
            ca,
            mailer,
            ra,
            admin,
            metrics,
            urls,
        })
    }
}

fn write_file(path: &Path, bytes: &[u8], secret: bool) -> Result<(), Error> {
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(true);
        #[cfg(unix)]
        if secret {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let _ = secret;
        let mut f = opts
            .open(&tmp)
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        f.write_all(bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(format!("writing {}", path.display()), e))
}

fn load_or_create_token(path: &Path) -> Result<String, Error> {
    if let Ok(t) = std::fs::read_to_string(path) {
        let t = t.trim().to_string();
        if t.len() >= 16 {
            return Ok(t);
        }
    }
    use base64::Engine;
    use rand::RngCore;
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    write_file(path, token.as_bytes(), true)?;
    Ok(token)
}
