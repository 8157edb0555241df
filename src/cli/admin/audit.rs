//! `signet admin audit ...` and `signet admin crl publish`: the audit log and
//! CRL publication.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use super::common::{print, s, write_out, Conn};
use crate::error::Error;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exits non-zero naming the first bad record.
    Verify,
    /// Write the audit log as JSON lines.
    Export {
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CrlCommand {
    /// Sign and publish a fresh CRL now.
    Publish,
}

pub(super) async fn run_audit(cmd: AuditCommand, c: &Conn, j: bool) -> Result<ExitCode, Error> {
    match cmd {
        AuditCommand::Verify => {
            let v = c.json("GET", "/audit/verify", None).await?;
            print(&v, j, |o| {
                if o["intact"].as_bool() == Some(true) {
                    format!("audit log intact: {} records", s(o, "records"))
                } else {
                    format!(
                        "audit log BROKEN at record {}: {}",
                        s(o, "first_bad_record"),
                        s(o, "reason")
                    )
                }
            });
            if v["intact"].as_bool() != Some(true) {
                return Ok(ExitCode::FAILURE);
            }
        }
        AuditCommand::Export { out } => {
            let (_, _, body) = c.call("GET", "/audit/export", None).await?;
            write_out(&out, &body)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) async fn run_crl(cmd: CrlCommand, c: &Conn, j: bool) -> Result<(), Error> {
    match cmd {
        CrlCommand::Publish => {
            let v = c.json("POST", "/crl/publish", None).await?;
            print(&v, j, |o| {
                format!(
                    "published CRL number {} with {} entries",
                    s(o, "number"),
                    s(o, "entries")
                )
            });
        }
    }
    Ok(())
}
