//! Outgoing mail: one RFC 5322 `.eml` file per message in an outbox directory
//! (the embedded default), or an SMTP relay via lettre.

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

/// Sends mail through the configured transport.
#[derive(Debug, Clone)]
pub struct Mailer {
    _private: (),
}

impl Mailer {
    /// Sends `mail` and returns its Message-ID (without angle brackets).
    pub fn send(&self, mail: &OutgoingMail) -> Result<String, MailError> {
        let _ = mail;
        Err(MailError::Build("not implemented yet".into()))
    }
}
