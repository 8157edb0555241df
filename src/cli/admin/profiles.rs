//! `signet admin profile ...`: certificate profiles.

use clap::Subcommand;
use serde_json::json;

use super::common::{path, print, s, show_all, Conn};
use crate::error::Error;

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Create a certificate profile: template, terms, key types, approval, attestation.
    Create {
        /// Profile name (letters, digits, '-', '_'), e.g. cs-ov.
        #[arg(long)]
        name: String,
        /// Certificate template: ov (default) or ev.
        #[arg(long, default_value = "ov")]
        template: String,
        /// Allowed term in days, 1 to 460 (repeatable), e.g. --term 365 --term 460.
        #[arg(long = "term", required = true)]
        terms: Vec<u32>,
        /// Allowed key type (repeatable, exact: rsa-3072 is RSA-3072 only):
        /// rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384 or ecdsa-p521.
        #[arg(long = "key-type", required = true)]
        key_types: Vec<String>,
        /// Requests wait for an administrator's approval (`signet admin request approve`).
        #[arg(long)]
        requires_approval: bool,
        /// Whether key attestation is required: required (default) or optional.
        #[arg(long, default_value = "required")]
        attestation: String,
        /// Accepted attestation format (repeatable; default all), e.g. yubikey-piv.
        #[arg(long = "attestation-format")]
        attestation_formats: Vec<String>,
        /// Only FIPS-certified devices.
        #[arg(long)]
        require_fips: bool,
        /// Only keys whose use requires touch (YubiKey touch policy always/cached).
        #[arg(long)]
        require_touch: bool,
        /// Minimum firmware per format, FORMAT=VERSION (repeatable), e.g. yubikey-piv=5.4.3.
        #[arg(long = "min-firmware")]
        min_firmware: Vec<String>,
    },
    /// List profiles: id, name, template, terms, key types.
    List,
    /// Show one profile.
    Show {
        /// The profile's id or name, e.g. cs-ov.
        id: String,
    },
}

pub(super) async fn run(cmd: ProfileCommand, c: &Conn, j: bool) -> Result<(), Error> {
    match cmd {
        ProfileCommand::Create {
            name,
            template,
            terms,
            key_types,
            requires_approval,
            attestation,
            attestation_formats,
            require_fips,
            require_touch,
            min_firmware,
        } => {
            let required = match attestation.as_str() {
                "required" => true,
                "optional" | "none" => false,
                other => {
                    return Err(Error::Command(format!(
                        "--attestation: {other:?} is not required|optional"
                    )))
                }
            };
            let mut firmware = serde_json::Map::new();
            for m in &min_firmware {
                let (f, v) = m.split_once('=').ok_or_else(|| {
                    Error::Command(format!("--min-firmware: {m:?} is not FORMAT=VERSION"))
                })?;
                firmware.insert(f.to_string(), json!(v));
            }
            let v = c
                .json(
                    "POST",
                    "/profiles",
                    Some(json!({
                        "name": name, "template": template, "terms_days": terms, "key_types": key_types,
                        "requires_approval": requires_approval,
                        "attestation": {"required": required, "formats": attestation_formats,
                                        "require_fips": require_fips, "require_touch": require_touch,
                                        "min_firmware": firmware},
                    })),
                )
                .await?;
            print(&v, j, |o| {
                format!("created profile {} ({})", s(o, "id"), s(o, "name"))
            });
        }
        ProfileCommand::List => print(&c.json("GET", "/profiles", None).await?, j, |o| {
            format!(
                "{}  {}  {}  terms={}  keys={}",
                s(o, "id"),
                s(o, "name"),
                s(o, "template"),
                o["terms_days"],
                o["key_types"]
            )
        }),
        ProfileCommand::Show { id } => print(
            &c.json("GET", &path(&["profiles", &id]), None).await?,
            j,
            show_all,
        ),
    }
    Ok(())
}
