//! `signet admin endpoint ...` and `signet admin account ...`: enrollment
//! endpoints and their accounts.

use clap::Subcommand;
use serde_json::json;

use super::common::{path, print, s, show_all, Conn};
use crate::error::Error;

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    /// Create an enrollment endpoint (EST serves it at /.well-known/est/<label>/).
    Create {
        /// Endpoint name, e.g. "Build farm".
        #[arg(long)]
        name: String,
        /// Label in the EST path (letters, digits, '-', '_'), e.g. builds.
        #[arg(long)]
        label: String,
    },
    /// List endpoints: id, name, label.
    List,
    /// Show one endpoint.
    Show {
        /// The endpoint's id, name or label, e.g. builds.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Create an account on an endpoint: who it issues for and with which profiles.
    Create {
        /// Account name (letters, digits, '-', '_'), e.g. release.
        #[arg(long)]
        name: String,
        /// The endpoint: id, name or label, e.g. builds.
        #[arg(long)]
        endpoint: String,
        /// The organization (subject O): id or name, e.g. "Acme Corp".
        #[arg(long = "org")]
        organization: String,
        /// The department (subject OU) in that organization: id or name, e.g. Release.
        #[arg(long = "dept")]
        department: Option<String>,
        /// Allowed profile, id or name (repeatable; the first is the default), e.g. cs-ov.
        #[arg(long = "profile", required = true)]
        profiles: Vec<String>,
        /// Issue without an administrator's approval (unless the profile requires it).
        #[arg(long)]
        auto_approve: bool,
    },
    /// List accounts: id, name, organization id, auto-approve.
    List,
    /// Show one account.
    Show {
        /// The account's id or name, e.g. release.
        id: String,
    },
}

pub(super) async fn run_endpoint(cmd: EndpointCommand, c: &Conn, j: bool) -> Result<(), Error> {
    match cmd {
        EndpointCommand::Create { name, label } => {
            let v = c
                .json(
                    "POST",
                    "/endpoints",
                    Some(json!({"name": name, "label": label})),
                )
                .await?;
            print(&v, j, |o| {
                format!(
                    "created endpoint {} ({}, label {})",
                    s(o, "id"),
                    s(o, "name"),
                    s(o, "label")
                )
            });
        }
        EndpointCommand::List => print(&c.json("GET", "/endpoints", None).await?, j, |o| {
            format!("{}  {}  {}", s(o, "id"), s(o, "name"), s(o, "label"))
        }),
        EndpointCommand::Show { id } => print(
            &c.json("GET", &path(&["endpoints", &id]), None).await?,
            j,
            show_all,
        ),
    }
    Ok(())
}

pub(super) async fn run_account(cmd: AccountCommand, c: &Conn, j: bool) -> Result<(), Error> {
    match cmd {
        AccountCommand::Create {
            name,
            endpoint,
            organization,
            department,
            profiles,
            auto_approve,
        } => {
            let v = c
                .json(
                    "POST",
                    "/accounts",
                    Some(json!({
                        "name": name, "endpoint": endpoint, "organization": organization,
                        "department": department, "profiles": profiles, "auto_approve": auto_approve,
                    })),
                )
                .await?;
            print(&v, j, |o| {
                format!("created account {} ({})", s(o, "id"), s(o, "name"))
            });
        }
        AccountCommand::List => print(&c.json("GET", "/accounts", None).await?, j, |o| {
            format!(
                "{}  {}  org={}  auto_approve={}",
                s(o, "id"),
                s(o, "name"),
                s(o, "organization_id"),
                s(o, "auto_approve")
            )
        }),
        AccountCommand::Show { id } => print(
            &c.json("GET", &path(&["accounts", &id]), None).await?,
            j,
            show_all,
        ),
    }
    Ok(())
}
