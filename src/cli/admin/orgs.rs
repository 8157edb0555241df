//! `signet admin org ...` and `signet admin dept ...`: organizations and departments.

use clap::Subcommand;
use serde_json::json;

use super::common::{path, print, s, show_all, Conn};
use crate::error::Error;

// Parsed once per process: the size of the Create variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Create an organization (the certificate subject's O, street, L, ST, C).
    Create {
        /// Legal name, the subject O, e.g. "Acme Corp".
        #[arg(long)]
        name: String,
        /// Street address, e.g. "1 Main St".
        #[arg(long)]
        street: Option<String>,
        /// City (subject L); a city or a state is required.
        #[arg(long)]
        city: Option<String>,
        /// State or province (subject ST); a city or a state is required.
        #[arg(long)]
        state: Option<String>,
        /// Postal code, e.g. 97403.
        #[arg(long)]
        postal_code: Option<String>,
        /// Country, ISO 3166-1 alpha-2 (subject C), e.g. US.
        #[arg(long)]
        country: String,
        /// How the organization was validated: ov (default) or ev.
        #[arg(long)]
        validation: Option<String>,
        /// EV: "Private Organization", "Government Entity", "Business Entity"
        /// or "Non-Commercial Entity" (subject businessCategory).
        #[arg(long)]
        business_category: Option<String>,
        /// EV: country of incorporation, ISO 3166-1 alpha-2 (jurisdictionC).
        #[arg(long)]
        jurisdiction_country: Option<String>,
        /// EV: state of incorporation (jurisdictionST).
        #[arg(long)]
        jurisdiction_state: Option<String>,
        /// EV: locality of incorporation (jurisdictionL).
        #[arg(long)]
        jurisdiction_locality: Option<String>,
        /// EV: registration number (subject serialNumber).
        #[arg(long)]
        registration_number: Option<String>,
    },
    /// List organizations: id, name, country.
    List,
    /// Show one organization.
    Show {
        /// The organization's id or name, e.g. "Acme Corp".
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeptCommand {
    /// Create a department (the certificate subject's OU) in an organization.
    Create {
        /// The organization it belongs to: id or name, e.g. "Acme Corp".
        #[arg(long = "org")]
        organization: String,
        /// Department name, the subject OU, e.g. Release.
        #[arg(long)]
        name: String,
    },
    /// List departments: id, organization id, name.
    List,
}

pub(super) async fn run_org(cmd: OrgCommand, c: &Conn, j: bool) -> Result<(), Error> {
    match cmd {
        OrgCommand::Create {
            name,
            street,
            city,
            state,
            postal_code,
            country,
            validation,
            business_category,
            jurisdiction_country,
            jurisdiction_state,
            jurisdiction_locality,
            registration_number,
        } => {
            let v = c
                .json(
                    "POST",
                    "/organizations",
                    Some(json!({
                        "name": name, "street": street, "city": city, "state": state,
                        "postal_code": postal_code, "country": country, "validation": validation,
                        "business_category": business_category,
                        "jurisdiction_country": jurisdiction_country,
                        "jurisdiction_state": jurisdiction_state,
                        "jurisdiction_locality": jurisdiction_locality,
                        "registration_number": registration_number,
                    })),
                )
                .await?;
            print(&v, j, |o| {
                format!("created organization {} ({})", s(o, "id"), s(o, "name"))
            });
        }
        OrgCommand::List => print(&c.json("GET", "/organizations", None).await?, j, |o| {
            format!("{}  {}  {}", s(o, "id"), s(o, "name"), s(o, "country"))
        }),
        OrgCommand::Show { id } => print(
            &c.json("GET", &path(&["organizations", &id]), None).await?,
            j,
            show_all,
        ),
    }
    Ok(())
}

pub(super) async fn run_dept(cmd: DeptCommand, c: &Conn, j: bool) -> Result<(), Error> {
    match cmd {
        DeptCommand::Create { organization, name } => {
            let v = c
                .json(
                    "POST",
                    "/departments",
                    Some(json!({"organization": organization, "name": name})),
                )
                .await?;
            print(&v, j, |o| {
                format!("created department {} ({})", s(o, "id"), s(o, "name"))
            });
        }
        DeptCommand::List => print(&c.json("GET", "/departments", None).await?, j, |o| {
            format!(
                "{}  {}  {}",
                s(o, "id"),
                s(o, "organization_id"),
                s(o, "name")
            )
        }),
    }
    Ok(())
}
