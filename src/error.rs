//! The crate-level error: what `signet` reports when it cannot start or a
//! command fails. Each component has its own precise error enum; this one
//! wraps them at the edges (CLI, server start-up).

use crate::{
    ca::CaError, config::ConfigError, mail::MailError, ra::RaError, storage::StorageError,
};

/// Every way a Signet command can fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration file or environment is invalid (names the key).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The store could not be opened or used.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The CA could not be loaded or created.
    #[error("CA: {0}")]
    Ca(#[from] CaError),
    /// The registration authority refused or failed.
    #[error(transparent)]
    Ra(#[from] RaError),
    /// The mailer failed.
    #[error("mail: {0}")]
    Mail(#[from] MailError),
    /// A listener could not be bound or a file could not be read/written.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// TLS set-up failed.
    #[error("TLS: {0}")]
    Tls(String),
    /// A CLI command failed (message for the user).
    #[error("{0}")]
    Command(String),
}

impl Error {
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Error {
        Error::Io {
            context: context.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
