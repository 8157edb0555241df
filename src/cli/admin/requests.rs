//! `signet admin request ...`: certificate requests waiting for approval.

use clap::Subcommand;
use serde_json::{json, Value};

use super::common::{path, print, s, show_all, Conn};
use crate::error::Error;

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    /// List certificate requests: id, status, email, profile.
    List,
    /// Show one request.
    Show {
        /// The request's id, as `request list` prints it.
        id: String,
    },
    /// Approve a waiting request; its certificate is issued.
    Approve {
        /// The request's id, as `request list` prints it.
        id: String,
        /// A note for the requester, e.g. "approved for the 2.0 release".
        #[arg(long)]
        message: Option<String>,
    },
    /// Decline a waiting request with a reason the requester sees.
    Decline {
        /// The request's id, as `request list` prints it.
        id: String,
        /// Why, shown to the requester, e.g. "use the release account".
        #[arg(long)]
        reason: String,
    },
}

pub(super) async fn run(cmd: RequestCommand, c: &Conn, j: bool) -> Result<(), Error> {
    let summary = |o: &Value| {
        format!(
            "{}  {}  {}  {}",
            s(o, "id"),
            s(o, "status"),
            s(o, "email"),
            s(o, "profile_id")
        )
    };
    match cmd {
        RequestCommand::List => print(&c.json("GET", "/requests", None).await?, j, summary),
        RequestCommand::Show { id } => print(
            &c.json("GET", &path(&["requests", &id]), None).await?,
            j,
            show_all,
        ),
        RequestCommand::Approve { id, message } => {
            let v = c
                .json(
                    "POST",
                    &path(&["requests", &id, "approve"]),
                    Some(json!({"message": message})),
                )
                .await?;
            print(&v, j, |o| {
                format!("approved {id}: issued certificate {}", s(o, "serial"))
            });
        }
        RequestCommand::Decline { id, reason } => {
            let v = c
                .json(
                    "POST",
                    &path(&["requests", &id, "decline"]),
                    Some(json!({"reason": reason})),
                )
                .await?;
            print(&v, j, |o| {
                format!("declined {}: {}", s(o, "id"), s(o, "message"))
            });
        }
    }
    Ok(())
}
