//! Configuration: a TOML file plus `SIGNET_*` environment variables, with
//! embedded defaults for everything (the server starts with no file at all),
//! checked at start-up with errors that name the key.
//!
//! # Sources and precedence
//!
//! 1. Embedded defaults ([`Config::default`], documented in `config/default.toml`).
//! 2. The TOML file given to [`load`] (if any).
//! 3. Environment variables `SIGNET_<TABLE>__<KEY>`: the prefix `SIGNET_`, then
//!    the key path in upper case with **two underscores** between path segments
//!    (single underscores stay part of a key name). Examples:
//!    `SIGNET_SERVER__LISTEN=0.0.0.0:443`, `SIGNET_MAIL__TRANSPORT=smtp`,
//!    `SIGNET_MAIL__SMTP__HOST=relay.example.com`,
//!    `SIGNET_SERVER__TLS_HOSTNAMES=signet.example.com,localhost` (list keys take
//!    comma-separated values). Variables without `__` (such as `SIGNET_CONFIG`)
//!    are not configuration keys and are ignored, except that `SIGNET_SERVER_LISTEN`
//!    style mistakes (a table name followed by one underscore) are reported.
//!
//! # Adding settings
//!
//! Each subsystem owns a table struct (`AcmeConfig` in `config/acme.rs`, ...) with
//! `#[serde(deny_unknown_fields, default)]`, a `Default` impl, a doc comment on
//! every field, and a `validate` that reports errors with [`ConfigError::invalid`]
//! naming the full key (`"acme.nonce_ttl_secs"`). Every new key also goes into
//! `config/default.toml` (a test checks that file equals the defaults) and
//! `docs/CONFIGURATION.md`.

mod acme;
mod ca;
mod ca_settings;
pub use ca::{certificate_urls, non_public_certificate_urls, non_public_host};
pub use ca_settings::CaConfig;
mod est;
mod mail;
mod ra;
mod server;

pub use acme::AcmeConfig;
pub use est::EstConfig;
pub use mail::{MailConfig, MailTransport, SmtpConfig, SmtpTls};
pub use ra::RaConfig;
pub use server::ServerConfig;

use serde::{Deserialize, Serialize};
use std::path::Path;

/// The prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "SIGNET_";
/// The separator between key path segments in environment variable names.
pub const ENV_SEPARATOR: &str = "__";

/// Top-level tables (used to spot `SIGNET_SERVER_LISTEN`-style mistakes).
const TABLES: &[&str] = &[
    "server",
    "ca",
    "mail",
    "invitations",
    "acme",
    "est",
    "notifications",
    "attestation",
    "ra",
    "log",
];

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub ca: CaConfig,
    pub mail: MailConfig,
    pub invitations: InvitationsConfig,
    pub acme: AcmeConfig,
    pub est: EstConfig,
    pub notifications: NotificationsConfig,
    pub attestation: AttestationConfig,
    pub ra: RaConfig,
    pub log: LogConfig,
}

/// Key attestation settings (`[attestation]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AttestationConfig {
    /// Extra pinned vendor roots: a directory with one subfolder per family
    /// (`yubikey-piv/`, `yubihsm2/`, `thales-luna/`, `google-cloud-hsm-manufacturer/`,
    /// `google-cloud-hsm-owner/`, `fortanix-dsm/`) of PEM files, added to the shipped roots.
    pub roots_dir: Option<std::path::PathBuf>,
}

impl AttestationConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        match &self.roots_dir {
            Some(d) if !d.is_dir() => Err(ConfigError::invalid(
                "attestation.roots_dir",
                format!("{} is not a directory", d.display()),
            )),
            _ => Ok(()),
        }
    }
}

/// Notification settings (`[notifications]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NotificationsConfig {
    /// Administrators mailed when a certificate request needs approval.
    pub admin_emails: Vec<String>,
}

impl NotificationsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        for a in &self.admin_emails {
            if a.parse::<lettre::Address>().is_err() {
                return Err(ConfigError::invalid(
                    "notifications.admin_emails",
                    format!("{a:?} is not an email address"),
                ));
            }
        }
        Ok(())
    }
}

/// Invitation settings (`[invitations]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InvitationsConfig {
    /// Days an invitation (and its EAB credentials) stays redeemable.
    pub ttl_days: u32,
}

impl Default for InvitationsConfig {
    fn default() -> Self {
        InvitationsConfig { ttl_days: 14 }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Logging settings (`[log]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// "trace", "debug", "info", "warn", "error" or "off".
    pub level: String,
    /// "text" or "json".
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// The accepted values of `log.level`.
pub const LOG_LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

/// The accepted values of `ca.algorithm`.
pub const CA_ALGORITHMS: &[&str] = &["p256", "p384", "rsa4096"];

/// A secret string (password, token): never printed by `Debug`, and
/// serialized as `"<redacted>"` (so `signet config check` can print the
/// configuration).
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

/// What a [`Secret`] serializes to.
pub const REDACTED: &str = "<redacted>";

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself. Don't log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Why the configuration was rejected. Every variant names the key, the file or
/// the environment variable at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read or is not valid TOML.
    #[error("configuration file {path}: {message}")]
    File { path: String, message: String },
    /// A key that Signet does not know (typo?).
    #[error("unknown key {key:?}{}", .expected.as_deref().map(|e| format!(" (expected one of: {e})")).unwrap_or_default())]
    UnknownKey {
        key: String,
        expected: Option<String>,
    },
    /// A known key with a bad value.
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
    /// A malformed `SIGNET_*` environment variable.
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
    /// Anything else the configuration library reported.
    #[error("configuration: {0}")]
    Other(String),
}

impl ConfigError {
    /// A bad value for `key` (the full dotted path, e.g. `"server.listen"`).
    pub fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The dotted key this error is about, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::UnknownKey { key, .. } | ConfigError::Invalid { key, .. } => Some(key),
            _ => None,
        }
    }
}

/// Loads the configuration: embedded defaults, then the TOML file at `path`
/// (if given), then `SIGNET_*` environment variables; then validates it.
pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
    load_from(path, std::env::vars())
}

/// Like [`load`], with the environment given explicitly (tests).
pub fn load_from(
    path: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = path {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        builder = builder.add_source(config::File::from_str(&text, config::FileFormat::Toml));
    }
    for (key, value) in env_overrides(env)? {
        builder = match value {
            EnvValue::One(v) => builder.set_override(&key, v),
            EnvValue::List(v) => builder.set_override(&key, v),
        }
        .map_err(|e| ConfigError::Env {
            var: env_var_name(&key),
            message: e.to_string(),
        })?;
    }
    let origin = path.map(|p| p.display().to_string());
    let built = builder
        .build()
        .map_err(|e| translate(e, origin.as_deref()))?;
    let config: Config = built
        .try_deserialize()
        .map_err(|e| translate(e, origin.as_deref()))?;
    config.validate()?;
    Ok(config)
}

/// Parses a TOML document (no environment) and validates it.
pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
    let built = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Toml))
        .build()
        .map_err(|e| translate(e, None))?;
    let config: Config = built.try_deserialize().map_err(|e| translate(e, None))?;
    config.validate()?;
    Ok(config)
}

impl Config {
    /// Checks every value; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        ca::validate_ca(&self.ca)?;
        ca::validate_tls_source(self)?;
        self.mail.validate()?;
        if !(1..=365).contains(&self.invitations.ttl_days) {
            return Err(ConfigError::invalid(
                "invitations.ttl_days",
                format!("{} is out of range 1..=365", self.invitations.ttl_days),
            ));
        }
        self.acme.validate()?;
        self.est.validate()?;
        self.notifications.validate()?;
        self.attestation.validate()?;
        self.ra.validate()?;
        if !LOG_LEVELS.contains(&self.log.level.as_str()) {
            return Err(ConfigError::invalid(
                "log.level",
                format!(
                    "invalid level {:?} (expected one of: {})",
                    self.log.level,
                    LOG_LEVELS.join(", ")
                ),
            ));
        }
        Ok(())
    }
}

/// Checks that a configured file exists (so `signet config check` reports a
/// wrong path before `serve` does).
pub(crate) fn check_file(key: &str, path: &Path) -> Result<(), ConfigError> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Ok(()),
        Ok(_) => Err(ConfigError::invalid(
            key,
            format!("{} is not a file", path.display()),
        )),
        Err(e) => Err(ConfigError::invalid(
            key,
            format!("{}: {e}", path.display()),
        )),
    }
}

/// Checks that `value` is an absolute URL with one of `schemes` and a host.
pub(crate) fn check_url(key: &str, value: &str, schemes: &[&str]) -> Result<(), ConfigError> {
    let bad = |why: &str| ConfigError::invalid(key, format!("invalid URL {value:?}: {why}"));
    let uri: hyper::http::Uri = value.parse().map_err(|_| bad("cannot be parsed"))?;
    let scheme = uri.scheme_str().ok_or_else(|| bad("no scheme"))?;
    if !schemes.contains(&scheme) {
        return Err(bad(&format!("scheme must be {}", schemes.join(" or "))));
    }
    match uri.authority() {
        Some(a) if !a.host().is_empty() => {}
        _ => return Err(bad("no host")),
    }
    if uri.query().is_some() {
        return Err(bad("must not have a query"));
    }
    Ok(())
}

enum EnvValue {
    One(String),
    List(Vec<String>),
}

/// `server.tls_hostnames` -> `SIGNET_SERVER__TLS_HOSTNAMES`.
pub fn env_var_name(key: &str) -> String {
    format!(
        "{ENV_PREFIX}{}",
        key.split('.')
            .map(str::to_uppercase)
            .collect::<Vec<_>>()
            .join(ENV_SEPARATOR)
    )
}

/// Maps `SIGNET_A__B=v` variables to (`a.b`, v). List keys (those whose default
/// is an array) are split on commas.
fn env_overrides(
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<(String, EnvValue)>, ConfigError> {
    let defaults = serde_json::to_value(Config::default()).unwrap_or_default();
    let mut out = Vec::new();
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with(ENV_PREFIX))
        .collect();
    vars.sort();
    for (var, value) in vars {
        let rest = &var[ENV_PREFIX.len()..];
        if !rest.contains(ENV_SEPARATOR) {
            let lower = rest.to_lowercase();
            if let Some(table) = TABLES.iter().find(|t| lower.starts_with(&format!("{t}_"))) {
                return Err(ConfigError::Env {
                    var: var.clone(),
                    message: format!(
                        "not a configuration key; separate the table from the key with two underscores, e.g. {}{}{}{}",
                        ENV_PREFIX,
                        table.to_uppercase(),
                        ENV_SEPARATOR,
                        &rest[table.len() + 1..]
                    ),
                });
            }
            continue;
        }
        let segments: Vec<String> = rest.split(ENV_SEPARATOR).map(str::to_lowercase).collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(ConfigError::Env {
                var,
                message: "empty key segment".into(),
            });
        }
        let key = segments.join(".");
        let is_list = segments
            .iter()
            .try_fold(&defaults, |v, s| v.get(s))
            .is_some_and(|v| v.is_array());
        if is_list {
            let items = value
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            out.push((key, EnvValue::List(items)));
        } else if !value.is_empty() {
            out.push((key, EnvValue::One(value)));
        }
    }
    Ok(out)
}

/// Turns the config crate's errors into ones that name the full key.
fn translate(err: config::ConfigError, origin: Option<&str>) -> ConfigError {
    match err {
        config::ConfigError::FileParse { cause, .. } => ConfigError::File {
            path: origin.unwrap_or("(inline)").to_string(),
            message: cause.to_string(),
        },
        config::ConfigError::At { error, key, .. } => {
            let key = key.unwrap_or_default();
            match *error {
                config::ConfigError::Message(m) => from_message(&key, &m),
                other => {
                    let inner = translate(other, origin);
                    match inner {
                        ConfigError::Invalid { key: k, message } if k.is_empty() => {
                            ConfigError::invalid(key, message)
                        }
                        ConfigError::Other(message) => ConfigError::invalid(key, message),
                        e => e,
                    }
                }
            }
        }
        config::ConfigError::Type {
            unexpected,
            expected,
            key,
            ..
        } => ConfigError::invalid(
            key.unwrap_or_default(),
            format!("expected {expected}, found {unexpected}"),
        ),
        config::ConfigError::Message(m) => from_message("", &m),
        config::ConfigError::NotFound(key) => ConfigError::invalid(key, "missing"),
        other => ConfigError::Other(other.to_string()),
    }
}

/// Interprets a serde message raised while deserializing the table at `table`.
fn from_message(table: &str, message: &str) -> ConfigError {
    let join = |field: &str| {
        if table.is_empty() {
            field.to_string()
        } else {
            format!("{table}.{field}")
        }
    };
    if let Some(rest) = message.strip_prefix("unknown field `") {
        if let Some((field, tail)) = rest.split_once('`') {
            let expected = tail
                .trim_start_matches(',')
                .trim()
                .strip_prefix("expected one of ")
                .or_else(|| {
                    tail.trim_start_matches(',')
                        .trim()
                        .strip_prefix("expected ")
                })
                .map(|e| e.replace('`', ""));
            let expected = match expected.as_deref() {
                Some("fields") | None => None,
                Some(e) => Some(e.to_string()),
            };
            return ConfigError::UnknownKey {
                key: join(field),
                expected,
            };
        }
    }
    if table.is_empty() {
        ConfigError::Other(message.to_string())
    } else {
        ConfigError::invalid(table, message)
    }
}

#[cfg(test)]
mod tests;
