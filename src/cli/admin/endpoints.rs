//! `signet admin endpoint ...` and `signet admin account ...`: enrollment
//! endpoints and their accounts.

use clap::Subcommand;
use serde_json::json;

use super::common::{path, print, s, show_all, Conn};
use crate::error::Error;

#[derive(Debug, Subcommand)]
pub enum EndpointCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        label: String,
    },
    List,
    Show {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        endpoint: String,
        #[arg(long = "org")]
        organization: String,
        #[arg(long = "dept")]
        department: Option<String>,
        /// Allowed profile (repeatable).
        #[arg(long = "profile", required = true)]
        profiles: Vec<String>,
        #[arg(long)]
        auto_approve: bool,
    },
    List,
    Show {
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
