//! Outgoing mail: one RFC 5322 `.eml` file per message in an outbox directory
//! (the embedded default), or an SMTP relay via lettre.
//!
//! The outbox is a plain directory: every message is written to a temporary
//! dot-file and renamed into place, so a reader that skips dot-files never sees
//! a partial message. File names sort by the (clock) time of sending:
//! `20261121T050954.123456789Z-000001-5f3a9c1e.eml`. Read them with
//! [`outbox_messages`].
//!
//! [`Mailer::send`] blocks (file I/O or an SMTP dialogue); from async code use
//! [`Mailer::send_async`].

use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{Message, SmtpTransport, Transport as _};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::SharedClock;
use crate::config::{MailConfig, MailTransport, SmtpTls};
use crate::metrics::Metrics;

/// A message to send. The mailer adds From, Date and Message-ID.
#[derive(Debug, Clone, Default)]
pub struct OutgoingMail {
    pub to: String,
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// Extra headers, e.g. ("Auto-Submitted", "auto-generated; type=acme").
    pub headers: Vec<(String, String)>,
}

/// Why a message could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("invalid address {0:?}")]
    Address(String),
    #[error("could not build the message: {0}")]
    Build(String),
    #[error("could not write the outbox: {0}")]
    Outbox(String),
    #[error("SMTP relay: {0}")]
    Smtp(String),
}

/// Headers the mailer sets itself; callers may not supply them.
const RESERVED_HEADERS: &[&str] = &[
    "from",
    "to",
    "date",
    "message-id",
    "subject",
    "content-type",
    "content-transfer-encoding",
    "mime-version",
];

/// Orders outbox files written within the same clock instant.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Sends mail through the configured transport. Cheap to clone.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
    metrics: Option<Metrics>,
}

struct Inner {
    from: Mailbox,
    /// Domain part of the From address: right-hand side of Message-IDs.
    domain: String,
    clock: SharedClock,
    transport: Transport,
}

enum Transport {
    Outbox(PathBuf),
    Smtp {
        relay: String,
        transport: Box<SmtpTransport>,
    },
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = f.debug_struct("Mailer");
        d.field("from", &self.inner.from.to_string());
        match &self.inner.transport {
            Transport::Outbox(dir) => d.field("outbox", dir),
            Transport::Smtp { relay, .. } => d.field("smtp", relay),
        };
        d.finish_non_exhaustive()
    }
}

impl Mailer {
    /// Builds the mailer from `[mail]`; the outbox defaults to `<data_dir>/outbox`
    /// (created if missing).
    pub fn from_config(
        cfg: &MailConfig,
        data_dir: &Path,
        clock: SharedClock,
    ) -> Result<Mailer, MailError> {
        match cfg.transport {
            MailTransport::Outbox => Mailer::outbox(&cfg.outbox_dir(data_dir), &cfg.from, clock),
            MailTransport::Smtp => {
                let (from, domain) = parse_from(&cfg.from)?;
                let smtp = &cfg.smtp;
                let host = smtp
                    .host
                    .clone()
                    .filter(|h| !h.trim().is_empty())
                    .ok_or_else(|| MailError::Smtp("mail.smtp.host is not set".into()))?;
                let port = smtp.effective_port();
                let tls = match smtp.tls {
                    SmtpTls::None => Tls::None,
                    SmtpTls::Starttls | SmtpTls::Tls => {
                        let mut params = TlsParameters::builder(host.clone());
                        if let Some(ca_file) = &smtp.ca_file {
                            let pem = std::fs::read(ca_file).map_err(|e| {
                                MailError::Smtp(format!(
                                    "mail.smtp.ca_file {}: {e}",
                                    ca_file.display()
                                ))
                            })?;
                            let cert = Certificate::from_pem(&pem).map_err(|e| {
                                MailError::Smtp(format!(
                                    "mail.smtp.ca_file {}: {e}",
                                    ca_file.display()
                                ))
                            })?;
                            params = params.add_root_certificate(cert);
                        }
                        let params = params
                            .build_rustls()
                            .map_err(|e| MailError::Smtp(format!("TLS parameters: {e}")))?;
                        if smtp.tls == SmtpTls::Tls {
                            Tls::Wrapper(params)
                        } else {
                            Tls::Required(params)
                        }
                    }
                };
                let mut builder = SmtpTransport::builder_dangerous(host.clone())
                    .port(port)
                    .tls(tls)
                    .hello_name(ClientId::Domain(domain.clone()))
                    .timeout(Some(Duration::from_secs(smtp.timeout_secs)));
                if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(Credentials::new(
                        user.clone(),
                        password.expose().to_string(),
                    ));
                }
                Ok(Mailer {
                    inner: Arc::new(Inner {
                        from,
                        domain,
                        clock,
                        transport: Transport::Smtp {
                            relay: format!("{host}:{port}"),
                            transport: Box::new(builder.build()),
                        },
                    }),
                    metrics: None,
                })
            }
        }
    }

    /// A mailer writing to the outbox directory `dir` (created if missing).
    pub fn outbox(dir: &Path, from: &str, clock: SharedClock) -> Result<Mailer, MailError> {
        let (from, domain) = parse_from(from)?;
        std::fs::create_dir_all(dir)
            .map_err(|e| MailError::Outbox(format!("creating {}: {e}", dir.display())))?;
        Ok(Mailer {
            inner: Arc::new(Inner {
                from,
                domain,
                clock,
                transport: Transport::Outbox(dir.to_path_buf()),
            }),
            metrics: None,
        })
    }

    /// Counts sent and failed mails in `signet_mails_total`.
    pub fn with_metrics(mut self, metrics: Metrics) -> Mailer {
        for outcome in ["sent", "failed"] {
            metrics
                .mails
                .with_label_values(&[self.transport_name(), outcome]);
        }
        self.metrics = Some(metrics);
        self
    }

    /// "outbox" or "smtp".
    pub fn transport_name(&self) -> &'static str {
        match self.inner.transport {
            Transport::Outbox(_) => "outbox",
            Transport::Smtp { .. } => "smtp",
        }
    }

    /// The outbox directory, in outbox mode.
    pub fn outbox_dir(&self) -> Option<&Path> {
        match &self.inner.transport {
            Transport::Outbox(dir) => Some(dir),
            Transport::Smtp { .. } => None,
        }
    }

    /// The From address.
    pub fn from_address(&self) -> String {
        self.inner.from.email.to_string()
    }

    /// Sends `mail` and returns its Message-ID (without angle brackets).
    /// Blocks: from async code use [`Mailer::send_async`].
    pub fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        self.send_with(mail, Durability::Synced)
    }

    /// Sends a best-effort notification: like [`Mailer::send`], but an
    /// outbox file is not fsynced (a crash may lose the last seconds of
    /// notifications; the action they report is durable and audited). Call
    /// [`Mailer::sync_outbox`] after a batch to make the batch durable.
    pub fn send_notification(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        self.send_with(mail, Durability::Deferred)
    }

    /// Fsyncs the outbox directory once, making the file names of a batch of
    /// [`Mailer::send_notification`] calls durable (their contents follow the
    /// kernel's write-back). No-op for SMTP.
    pub fn sync_outbox(&self) {
        if let Transport::Outbox(dir) = &self.inner.transport {
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
    }

    fn send_with(&self, mail: &OutgoingMail, durability: Durability) -> Result<String, MailError> {
        let result = self.send_inner(mail, durability);
        if let Some(m) = &self.metrics {
            let outcome = if result.is_ok() { "sent" } else { "failed" };
            m.mail(self.transport_name(), outcome);
        }
        match &result {
            Ok(id) => tracing::info!(
                transport = self.transport_name(),
                message_id = %id,
                "mail sent"
            ),
            Err(e) => {
                tracing::warn!(transport = self.transport_name(), error = %e, "mail not sent")
            }
        }
        result
    }

    /// [`Mailer::send`] on the blocking thread pool.
    pub async fn send_async(&self, mail: OutgoingMail) -> Result<String, MailError> {
        let mailer = self.clone();
        tokio::task::spawn_blocking(move || mailer.send(&mail))
            .await
            .map_err(|e| MailError::Build(format!("mail task failed: {e}")))?
    }

    fn send_inner(&self, mail: &OutgoingMail, durability: Durability) -> Result<String, MailError> {
        let (message, id) = self.build(mail)?;
        match &self.inner.transport {
            Transport::Outbox(dir) => {
                write_outbox(
                    dir,
                    self.inner.clock.now(),
                    &message.formatted(),
                    durability,
                )?;
            }
            Transport::Smtp { transport, .. } => {
                transport
                    .send(&message)
                    .map_err(|e| MailError::Smtp(e.to_string()))?;
            }
        }
        Ok(id)
    }

    fn build(&self, mail: &OutgoingMail) -> Result<(Message, String), MailError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|_| MailError::Address(mail.to.clone()))?;
        if has_line_break(&mail.subject) {
            return Err(MailError::Build("the subject contains a line break".into()));
        }
        let id = format!("{}@{}", random_token(), self.inner.domain);
        let mut builder = Message::builder()
            .from(self.inner.from.clone())
            .to(to)
            .subject(crate::text::escape(&mail.subject))
            .date(self.inner.clock.now().into())
            .message_id(Some(format!("<{id}>")))
            .header(ContentType::TEXT_PLAIN);
        for (name, value) in &mail.headers {
            if RESERVED_HEADERS.contains(&name.to_ascii_lowercase().as_str()) {
                return Err(MailError::Build(format!(
                    "header {name:?} is set by the mailer"
                )));
            }
            let valid_name =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic() && b != b':');
            if !valid_name {
                return Err(MailError::Build(format!("invalid header name {name:?}")));
            }
            if has_line_break(value) {
                return Err(MailError::Build(format!(
                    "header {name:?} contains a line break"
                )));
            }
            let header_name = HeaderName::new_from_ascii(name.clone())
                .map_err(|_| MailError::Build(format!("invalid header name {name:?}")))?;
            builder = builder.raw_header(HeaderValue::new(header_name, value.clone()));
        }
        let message = builder
            .body(crate::text::escape_keeping_lines(&mail.body).into_owned())
            .map_err(|e| MailError::Build(e.to_string()))?;
        Ok((message, id))
    }
}

/// The `.eml` files of an outbox directory, oldest first (dot-files, i.e.
/// messages still being written, are skipped).
pub fn outbox_messages(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if !name.starts_with('.') && name.ends_with(".eml") {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

fn parse_from(from: &str) -> Result<(Mailbox, String), MailError> {
    let mailbox: Mailbox = from
        .parse()
        .map_err(|_| MailError::Address(from.to_string()))?;
    let domain = mailbox.email.domain().to_string();
    Ok((mailbox, domain))
}

fn has_line_break(s: &str) -> bool {
    s.contains(['\r', '\n'])
}

/// Unique, not secret (Message-ID, outbox file names): the thread's CSPRNG,
/// without a system call per token.
fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Whether an outbox write waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// File and directory fsynced before `send` returns.
    Synced,
    /// Left to the kernel's write-back (or a later [`Mailer::sync_outbox`]).
    Deferred,
}

/// Writes `bytes` into `dir` under a time-sortable name: temp file, fsync
/// (when `durability` is [`Durability::Synced`]), rename.
fn write_outbox(
    dir: &Path,
    now: time::OffsetDateTime,
    bytes: &[u8],
    durability: Durability,
) -> Result<PathBuf, MailError> {
    let fmt = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:9]Z"
    );
    let stamp = now
        .to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .map_err(|e| MailError::Outbox(format!("formatting the time: {e}")))?;
    let seq = SEQUENCE.fetch_add(1, Ordering::Relaxed) % 1_000_000;
    let name = format!("{stamp}-{seq:06}-{}.eml", &random_token()[..8]);
    let final_path = dir.join(&name);
    let tmp_path = dir.join(format!(".{name}.tmp"));
    let io = |what: &str, e: std::io::Error| MailError::Outbox(format!("{what}: {e}"));
    // mails carry invitation HMAC keys: private to the server's user
    let create = || {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        options.open(&tmp_path)
    };
    let write = || -> std::io::Result<()> {
        // the directory is made when it is missing, not checked per message
        let mut f = match create() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir)?;
                create()?
            }
            other => other?,
        };
        f.write_all(bytes)?;
        if durability == Durability::Synced {
            f.sync_all()?;
        }
        std::fs::rename(&tmp_path, &final_path)?;
        if durability == Durability::Synced {
            // make the rename durable
            if let Ok(d) = std::fs::File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp_path);
        return Err(io(&format!("writing {}", final_path.display()), e));
    }
    Ok(final_path)
}

#[cfg(test)]
mod tests;
