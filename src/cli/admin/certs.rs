//! `signet admin cert ...`: certificates (manual enrollment, list, show,
//! download, revoke).

use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};

use super::common::{path, print, s, seg, show_all, write_out, Conn};
use crate::error::Error;

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Manual enrollment with a CSR (PEM or DER file).
    Request {
        /// The account to issue on: id or name, e.g. release.
        #[arg(long)]
        account: String,
        /// Profile, id or name (default: the account's first), e.g. cs-ov.
        #[arg(long)]
        profile: Option<String>,
        /// The holder's email address (the certificate's rfc822Name), e.g. dev@acme.example.
        #[arg(long)]
        email: String,
        /// The CSR file, PEM or DER (only its public key is used), e.g. dev.csr.
        #[arg(long)]
        csr: PathBuf,
        /// Term in days, one the profile allows, e.g. 365 (default: the profile's longest).
        #[arg(long = "term")]
        term_days: Option<u32>,
        /// Key attestation evidence (JSON document or PEM bundle).
        #[arg(long)]
        attestation: Option<PathBuf>,
        /// Write the PEM chain here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// List certificates: serial, status, email, subject, end of validity.
    List,
    /// Show one certificate with its PEM chain.
    Show {
        /// The serial: any case, with or without colons or 0x, e.g. 0C0D74F35D83429B00DF3032D20642CD.
        serial: String,
    },
    /// Download a certificate in one format.
    Download {
        /// The serial: any case, with or without colons or 0x, e.g. 0C0D74F35D83429B00DF3032D20642CD.
        serial: String,
        /// pem (leaf), chain (leaf + CA), der, pkcs7 (DER, for signtool) or pkcs7-pem.
        #[arg(long, default_value = "chain")]
        format: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Revoke a certificate; the CRL is published at once.
    Revoke {
        /// The serial: any case, with or without colons or 0x, e.g. 0C0D74F35D83429B00DF3032D20642CD.
        serial: String,
        /// RFC 5280 reason: unspecified, keyCompromise, affiliationChanged, superseded,
        /// cessationOfOperation, privilegeWithdrawn (or its code).
        #[arg(long, default_value = "unspecified")]
        reason: String,
        /// keyCompromise / suspect code: from when the certificate is invalid
        /// (RFC 3339, e.g. 2026-12-01T09:30:00Z); the CRL's revocationDate
        /// and invalidityDate.
        #[arg(long, value_name = "TIME")]
        invalid_since: Option<String>,
        /// keyCompromise: also revoke every certificate renewed from this one.
        #[arg(long)]
        lineage: bool,
    },
}

/// What `cert request` without --term says about the term the server chose
/// (the profile's longest), with the terms the profile allows.
fn term_note(term: i64, profile: Option<&Value>) -> String {
    let terms: Vec<String> = profile
        .and_then(|p| p["terms_days"].as_array())
        .map(|a| a.iter().map(|t| t.to_string()).collect())
        .unwrap_or_default();
    let name = profile.map(|p| s(p, "name")).unwrap_or_else(|| "-".into());
    match terms.len() {
        0 => format!("term: {term} days (no --term given: the profile's longest)"),
        1 => format!("term: {term} days, the only term profile {name:?} allows"),
        _ => format!(
            "term: {term} days, the longest of the terms profile {name:?} allows ({} days); \
             choose one with --term",
            terms.join(", ")
        ),
    }
}

/// What `cert download` says it wrote: format, what it holds, bytes, where.
fn download_note(format: &str, bytes: usize, out: &Option<PathBuf>) -> String {
    let what = match format {
        "pem" => "the certificate, PEM",
        "chain" => "certificate + issuing CA, PEM",
        "der" => "the certificate, DER (binary)",
        "pkcs7" => {
            "certs-only PKCS#7 of certificate + issuing CA, DER (binary); \
             --format pkcs7-pem writes the same PEM-armored"
        }
        "pkcs7-pem" => "certs-only PKCS#7 of certificate + issuing CA, PEM",
        _ => "",
    };
    let to = match out {
        Some(p) => p.display().to_string(),
        None => "standard output".into(),
    };
    format!("wrote {format} ({what}): {bytes} bytes to {to}")
}

/// One line per certificate: serial, status, email, subject, end of validity.
fn summary(o: &Value) -> String {
    format!(
        "{}  {}  {}  {}  until {}",
        s(o, "serial"),
        s(o, "status"),
        s(o, "email"),
        s(o, "subject"),
        s(o, "not_after")
    )
}

pub(super) async fn run(cmd: CertCommand, c: &Conn, j: bool) -> Result<(), Error> {
    match cmd {
        CertCommand::Request {
            account,
            profile,
            email,
            csr,
            term_days,
            attestation,
            out,
        } => {
            let bytes = std::fs::read(&csr)
                .map_err(|e| Error::io(format!("reading {}", csr.display()), e))?;
            let csr_text = if bytes.starts_with(b"-----BEGIN") {
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes)
            };
            let attestation = match attestation {
                Some(p) => {
                    let text = std::fs::read_to_string(&p)
                        .map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
                    Some(serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)))
                }
                None => None,
            };
            let v = c
                .json(
                    "POST",
                    "/certificates",
                    Some(json!({
                        "account": account, "profile": profile, "email": email, "csr": csr_text,
                        "term_days": term_days, "attestation": attestation,
                    })),
                )
                .await?;
            // the term the server chose when none was asked for, said on stderr
            let chosen = match term_days {
                Some(_) => None,
                None => {
                    let (profile_id, term) = match v.get("request") {
                        Some(r) => (s(r, "profile_id"), r["term_days"].as_i64()),
                        None => (s(&v, "profile_id"), v["term_days"].as_i64()),
                    };
                    let profile = c.json("GET", &path(&["profiles", &profile_id]), None).await;
                    term.map(|t| term_note(t, profile.as_ref().ok()))
                }
            };
            if j {
                print(&v, true, show_all);
            } else if let Some(pem) = v["pem_chain"].as_str() {
                write_out(&out, pem.as_bytes())?;
                eprintln!("issued certificate {}", s(&v, "serial"));
            } else {
                println!(
                    "request {} is waiting for approval (status applied)",
                    s(&v["request"], "id")
                );
            }
            if let Some(note) = chosen {
                eprintln!("{note}");
            }
        }
        CertCommand::List => print(&c.json("GET", "/certificates", None).await?, j, summary),
        CertCommand::Show { serial } => print(
            &c.json("GET", &path(&["certificates", &serial]), None)
                .await?,
            j,
            show_all,
        ),
        CertCommand::Download {
            serial,
            format,
            out,
        } => {
            let (_, _, body) = c
                .call(
                    "GET",
                    &format!(
                        "{}?format={}",
                        path(&["certificates", &serial, "download"]),
                        seg(&format)
                    ),
                    None,
                )
                .await?;
            write_out(&out, &body)?;
            eprintln!("{}", download_note(&format, body.len(), &out));
        }
        CertCommand::Revoke {
            serial,
            reason,
            invalid_since,
            lineage,
        } => print(
            &c.json(
                "POST",
                &path(&["certificates", &serial, "revoke"]),
                Some(json!({"reason": reason, "invalid_since": invalid_since, "lineage": lineage})),
            )
            .await?,
            j,
            |v| match v["descendants_revoked"].as_array() {
                Some(d) if !d.is_empty() => {
                    let d: Vec<String> =
                        d.iter().map(|x| x.as_str().unwrap_or("-").into()).collect();
                    format!(
                        "{}\nalso revoked (renewed from it): {}",
                        summary(v),
                        d.join(", ")
                    )
                }
                _ => summary(v),
            },
        ),
    }
    Ok(())
}
