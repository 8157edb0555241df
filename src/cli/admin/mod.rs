//! `signet admin ...`: talks to the admin API of a running server.
//!
//! Server URL, token and trust anchor come from flags, then
//! `SIGNET_ADMIN_URL` / `SIGNET_ADMIN_TOKEN` / `SIGNET_ADMIN_CA`, then the
//! server's own configuration (`--config` / `SIGNET_CONFIG` and the
//! `SIGNET_SERVER__*` variables, as `signet serve` reads them: its
//! `admin_token` and `public_url`), then its data directory (`server-url`,
//! `admin-token`, `ca/tls-ca.pem`). The data directory is `--data-dir` /
//! `SIGNET_DATA_DIR`, else the configuration's `server.data_dir`
//! (`SIGNET_SERVER__DATA_DIR`), else `./signet-data`.
//!
//! One file per object family: `orgs`, `profiles`, `endpoints`
//! (endpoints and accounts), `invitations`, `certs`, `requests`,
//! `audit` (audit log and CRL); `common` holds the connection and output
//! helpers.

mod audit;
mod certs;
mod common;
mod endpoints;
mod invitations;
mod orgs;
mod profiles;
mod requests;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use crate::error::Error;

pub use audit::{AuditCommand, CrlCommand};
pub use certs::CertCommand;
pub use endpoints::{AccountCommand, EndpointCommand};
pub use invitations::{InvitationCommand, InviteArgs};
pub use orgs::{DeptCommand, OrgCommand};
pub use profiles::ProfileCommand;
pub use requests::RequestCommand;

/// The help heading of the options every admin command takes.
const GLOBAL: &str = "Global options";

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Base URL of the server, e.g. https://localhost:8443.
    #[arg(long, env = "SIGNET_ADMIN_URL", global = true, help_heading = GLOBAL)]
    pub url: Option<String>,
    /// Admin bearer token (default: the server's admin_token or <data dir>/admin-token).
    #[arg(
        long,
        env = "SIGNET_ADMIN_TOKEN",
        global = true,
        help_heading = GLOBAL,
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// PEM trust anchor for the server's TLS certificate (default: <data dir>/ca/tls-ca.pem).
    #[arg(long, env = "SIGNET_ADMIN_CA", global = true, help_heading = GLOBAL)]
    pub ca_file: Option<PathBuf>,
    /// The server's configuration file, as given to `signet serve --config`: its data
    /// directory, admin token and public URL are used.
    #[arg(long, env = "SIGNET_CONFIG", global = true, help_heading = GLOBAL)]
    pub config: Option<PathBuf>,
    /// The server's data directory, to read the URL, token and trust anchor from
    /// (default: server.data_dir of --config / SIGNET_SERVER__DATA_DIR, else ./signet-data).
    #[arg(long, env = "SIGNET_DATA_DIR", global = true, help_heading = GLOBAL)]
    pub data_dir: Option<PathBuf>,
    /// Print the server's JSON answer instead of text.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    #[command(subcommand)]
    pub command: AdminCommand,
}

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Organizations (certificate subject O, L, ST, C).
    #[command(subcommand, alias = "organization")]
    Org(OrgCommand),
    /// Departments (certificate subject OU).
    #[command(subcommand, alias = "department")]
    Dept(DeptCommand),
    /// Certificate profiles.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Enrollment endpoints.
    #[command(subcommand)]
    Endpoint(EndpointCommand),
    /// Endpoint accounts.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Invite someone: creates EAB credentials and mails them.
    Invite(InviteArgs),
    /// Invitations.
    #[command(subcommand)]
    Invitation(InvitationCommand),
    /// Certificates.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Certificate requests (approval workflow).
    #[command(subcommand)]
    Request(RequestCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Certificate revocation lists.
    #[command(subcommand)]
    Crl(CrlCommand),
}

/// Runs one admin command.
pub async fn run(a: AdminArgs) -> Result<ExitCode, Error> {
    let c = common::connection(&a)?;
    let j = a.json;
    match a.command {
        AdminCommand::Org(cmd) => orgs::run_org(cmd, &c, j).await?,
        AdminCommand::Dept(cmd) => orgs::run_dept(cmd, &c, j).await?,
        AdminCommand::Profile(cmd) => profiles::run(cmd, &c, j).await?,
        AdminCommand::Endpoint(cmd) => endpoints::run_endpoint(cmd, &c, j).await?,
        AdminCommand::Account(cmd) => endpoints::run_account(cmd, &c, j).await?,
        AdminCommand::Invite(i) => invitations::run_invite(i, &c, j).await?,
        AdminCommand::Invitation(cmd) => invitations::run_invitation(cmd, &c, j).await?,
        AdminCommand::Cert(cmd) => certs::run(cmd, &c, j).await?,
        AdminCommand::Request(cmd) => requests::run(cmd, &c, j).await?,
        AdminCommand::Audit(cmd) => return audit::run_audit(cmd, &c, j).await,
        AdminCommand::Crl(cmd) => audit::run_crl(cmd, &c, j).await?,
    }
    Ok(ExitCode::SUCCESS)
}
