//! The `[mail]` table: outbox directory or SMTP relay.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use super::{ConfigError, Secret};

/// How outgoing mail leaves Signet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    /// One `.eml` file per message in `outbox_dir` (the embedded default).
    #[default]
    Outbox,
    /// An SMTP relay (`[mail.smtp]`).
    Smtp,
}

impl MailTransport {
    /// The label used in metrics and logs.
    pub fn as_str(&self) -> &'static str {
        match self {
            MailTransport::Outbox => "outbox",
            MailTransport::Smtp => "smtp",
        }
    }
}

/// Transport security towards the SMTP relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required), default port 587.
    #[default]
    Starttls,
    /// Implicit TLS ("SMTPS"), default port 465.
    Tls,
    /// No TLS at all (only for a relay on localhost), default port 25.
    None,
}

/// Mail settings (`[mail]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MailConfig {
    /// "outbox" or "smtp".
    pub transport: MailTransport,
    /// The From address of every message Signet sends.
    pub from: String,
    /// Outbox directory (transport = "outbox"). Default: `<data_dir>/outbox`.
    pub outbox_dir: Option<PathBuf>,
    /// SMTP relay (transport = "smtp").
    pub smtp: SmtpConfig,
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            transport: MailTransport::Outbox,
            from: "signet@localhost".into(),
            outbox_dir: None,
            smtp: SmtpConfig::default(),
        }
    }
}

/// SMTP relay settings (`[mail.smtp]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SmtpConfig {
    /// Relay host name (required when transport = "smtp").
    pub host: Option<String>,
    /// Relay port. Default by `tls`: 587 (starttls), 465 (tls), 25 (none).
    pub port: Option<u16>,
    /// User name for SMTP AUTH (with `password`).
    pub username: Option<String>,
    /// Password for SMTP AUTH (with `username`).
    pub password: Option<Secret>,
    /// "starttls", "tls" or "none".
    pub tls: SmtpTls,
    /// PEM file of extra CA certificates trusted for the relay's TLS
    /// certificate (besides the WebPKI roots), e.g. an internal CA.
    pub ca_file: Option<PathBuf>,
    /// Connection and command timeout in seconds.
    pub timeout_secs: u64,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            host: None,
            port: None,
            username: None,
            password: None,
            tls: SmtpTls::Starttls,
            ca_file: None,
            timeout_secs: 30,
        }
    }
}

impl SmtpConfig {
    /// The configured port or the default for the TLS mode.
    pub fn effective_port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        })
    }
}

impl MailConfig {
    /// The outbox directory: `outbox_dir`, or `<data_dir>/outbox`.
    pub fn outbox_dir(&self, data_dir: &Path) -> PathBuf {
        match &self.outbox_dir {
            Some(dir) => dir.clone(),
            None => data_dir.join("outbox"),
        }
    }

    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.from.parse::<lettre::message::Mailbox>().is_err() || !self.from.contains('@') {
            return Err(ConfigError::invalid(
                "mail.from",
                format!("invalid mail address {:?}", self.from),
            ));
        }
        if let Some(dir) = &self.outbox_dir {
            if dir.as_os_str().is_empty() {
                return Err(ConfigError::invalid("mail.outbox_dir", "must not be empty"));
            }
        }
        let smtp = &self.smtp;
        if self.transport == MailTransport::Smtp {
            match smtp.host.as_deref().map(str::trim) {
                None => {
                    return Err(ConfigError::invalid(
                        "mail.smtp.host",
                        "required when mail.transport = \"smtp\"",
                    ))
                }
                Some("") => {
                    return Err(ConfigError::invalid("mail.smtp.host", "must not be empty"))
                }
                Some(h) if h.contains(|c: char| c.is_whitespace() || c == '/') => {
                    return Err(ConfigError::invalid(
                        "mail.smtp.host",
                        format!("invalid host name {h:?}"),
                    ))
                }
                Some(_) => {}
            }
        }
        if let Some(path) = &smtp.ca_file {
            super::check_file("mail.smtp.ca_file", path)?;
        }
        if smtp.port == Some(0) {
            return Err(ConfigError::invalid("mail.smtp.port", "must not be 0"));
        }
        match (&smtp.username, &smtp.password) {
            (Some(_), None) => {
                return Err(ConfigError::invalid(
                    "mail.smtp.password",
                    "required when mail.smtp.username is set",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::invalid(
                    "mail.smtp.username",
                    "required when mail.smtp.password is set",
                ))
            }
            _ => {}
        }
        if !(1..=600).contains(&smtp.timeout_secs) {
            return Err(ConfigError::invalid(
                "mail.smtp.timeout_secs",
                format!("{} is out of range 1..=600", smtp.timeout_secs),
            ));
        }
        Ok(())
    }
}
