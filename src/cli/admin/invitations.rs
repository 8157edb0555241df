//! `signet admin invite` and `signet admin invitation ...`: EAB invitations.

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::common::{path, print, s, Conn};
use crate::error::Error;

#[derive(Debug, Args)]
pub struct InviteArgs {
    /// The invitee's email address (the certificate's rfc822Name), e.g. dev@acme.example.
    #[arg(long)]
    pub email: String,
    /// The account the invitee enrolls on: id or name, e.g. release.
    #[arg(long)]
    pub account: String,
    /// Profile to use, id or name (default: the account's first), e.g. cs-ov.
    #[arg(long)]
    pub profile: Option<String>,
    /// Days until the invitation expires (default: the server's invitation_ttl_days).
    #[arg(long)]
    pub ttl_days: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum InvitationCommand {
    /// List invitations: kid, email, status, expiry.
    List,
    /// Show one invitation (without its HMAC key).
    Show {
        /// The invitation's key id (kid), as `invite` printed it.
        kid: String,
    },
    /// Revoke an invitation that was not used yet.
    Revoke {
        /// The invitation's key id (kid), as `invite` printed it.
        kid: String,
    },
}

pub(super) async fn run_invite(i: InviteArgs, c: &Conn, j: bool) -> Result<(), Error> {
    let v = c
        .json(
            "POST",
            "/invitations",
            Some(json!({
                "email": i.email, "account": i.account, "profile": i.profile, "ttl_days": i.ttl_days,
            })),
        )
        .await?;
    print(&v, j, |o| {
        format!(
            "invited {}\n  kid:       {}\n  hmac_key:  {}\n  directory: {}\n  expires:   {}",
            s(o, "email"),
            s(o, "kid"),
            s(o, "hmac_key"),
            s(o, "directory"),
            s(o, "expires")
        )
    });
    Ok(())
}

pub(super) async fn run_invitation(cmd: InvitationCommand, c: &Conn, j: bool) -> Result<(), Error> {
    let summary = |o: &Value| {
        format!(
            "{}  {}  {}  expires {}",
            s(o, "kid"),
            s(o, "email"),
            s(o, "status"),
            s(o, "expires")
        )
    };
    match cmd {
        InvitationCommand::List => print(&c.json("GET", "/invitations", None).await?, j, summary),
        InvitationCommand::Show { kid } => print(
            &c.json("GET", &path(&["invitations", &kid]), None).await?,
            j,
            summary,
        ),
        InvitationCommand::Revoke { kid } => print(
            &c.json("POST", &path(&["invitations", &kid, "revoke"]), None)
                .await?,
            j,
            summary,
        ),
    }
    Ok(())
}
