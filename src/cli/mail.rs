//! `signet mail ingest`: accepts one RFC 5322 message on standard input (as an
//! MTA pipe transport delivers it) and spools it into the server's inbox
//! maildir (`acme.inbox_dir`, default `<data_dir>/mail-inbox`), where the
//! running server judges it as an RFC 8823 challenge reply. Spooling (rather
//! than opening the store) lets the MTA deliver while the server holds the
//! database; the server picks the message up within `acme.poll_interval_secs`
//! or on the client's next poll.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::error::Error;

#[derive(Debug, Args)]
pub struct MailArgs {
    #[command(subcommand)]
    pub command: MailCommand,
}

#[derive(Debug, Subcommand)]
pub enum MailCommand {
    /// Read one message (a challenge reply) from standard input and hand it to the server.
    Ingest {
        /// The server's configuration file (for acme.inbox_dir / server.data_dir).
        #[arg(long, env = "SIGNET_CONFIG")]
        config: Option<PathBuf>,
    },
}

/// Exit status for a message that cannot be accepted (EX_DATAERR): the MTA bounces it.
const EX_DATAERR: u8 = 65;
/// Exit status for a local failure (EX_TEMPFAIL): the MTA retries later.
const EX_TEMPFAIL: u8 = 75;

pub fn run(args: MailArgs) -> Result<ExitCode, Error> {
    match args.command {
        MailCommand::Ingest { config } => {
            let cfg = crate::config::load(config.as_deref())?;
            let mut raw = Vec::new();
            let limit = crate::va::email::MAX_REPLY_BYTES as u64 + 1;
            std::io::stdin()
                .take(limit)
                .read_to_end(&mut raw)
                .map_err(|e| Error::io("reading the message from standard input", e))?;
            let dir = crate::acme::inbox_dir(&cfg);
            match crate::acme::spool_reply(&dir, &raw) {
                Ok(path) => {
                    eprintln!("signet: message spooled to {}", path.display());
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) if e.kind() == std::io::ErrorKind::InvalidInput => {
                    eprintln!("signet: message refused: {e}");
                    Ok(ExitCode::from(EX_DATAERR))
                }
                Err(e) => {
                    eprintln!("signet: cannot spool into {}: {e}", dir.display());
                    Ok(ExitCode::from(EX_TEMPFAIL))
                }
            }
        }
    }
}
