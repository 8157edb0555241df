//! `signet admin ...`: talks to the admin API of a running server.
//!
//! Server URL, token and trust anchor come from flags, then
//! `SIGNET_ADMIN_URL` / `SIGNET_ADMIN_TOKEN` / `SIGNET_ADMIN_CA`, then the
//! local data directory (`server-url`, `admin-token`, `ca/root.pem`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use serde_json::{json, Value};

use super::http;
use crate::error::Error;

#[derive(Debug, Args)]
pub struct AdminArgs {
    /// Base URL of the server, e.g. https://localhost:8443
    #[arg(long, env = "SIGNET_ADMIN_URL", global = true)]
    pub url: Option<String>,
    /// Admin bearer token.
    #[arg(
        long,
        env = "SIGNET_ADMIN_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub token: Option<String>,
    /// PEM trust anchor for the server's TLS certificate.
    #[arg(long, env = "SIGNET_ADMIN_CA", global = true)]
    pub ca_file: Option<PathBuf>,
    /// Local data directory to read the URL, token and root from.
    #[arg(
        long,
        env = "SIGNET_DATA_DIR",
        global = true,
        default_value = "./signet-data"
    )]
    pub data_dir: PathBuf,
    /// Print JSON instead of text.
    #[arg(long, global = true)]
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

// Parsed once per process: the size of the Create variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    Create {
        #[arg(long)]
        name: String,
        #[arg(long)]
        street: Option<String>,
        #[arg(long)]
        city: Option<String>,
        #[arg(long)]
        state: Option<String>,
        #[arg(long)]
        postal_code: Option<String>,
        #[arg(long)]
        country: String,
        /// ov or ev
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
    List,
    Show {
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DeptCommand {
    Create {
        #[arg(long = "org")]
        organization: String,
        #[arg(long)]
        name: String,
    },
    List,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    Create {
        #[arg(long)]
        name: String,
        /// ov or ev
        #[arg(long, default_value = "ov")]
        template: String,
        /// Allowed term in days (repeatable).
        #[arg(long = "term", required = true)]
        terms: Vec<u32>,
        /// rsa-3072, rsa-4096, ecdsa-p256, ecdsa-p384 (repeatable).
        #[arg(long = "key-type", required = true)]
        key_types: Vec<String>,
        #[arg(long)]
        requires_approval: bool,
        /// Whether key attestation is required: required (default) or optional.
        #[arg(long, default_value = "required")]
        attestation: String,
        /// Accepted attestation formats (repeatable; default all).
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
    List,
    Show {
        id: String,
    },
}

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

#[derive(Debug, Args)]
pub struct InviteArgs {
    #[arg(long)]
    pub email: String,
    #[arg(long)]
    pub account: String,
    #[arg(long)]
    pub profile: Option<String>,
    #[arg(long)]
    pub ttl_days: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum InvitationCommand {
    List,
    Show { kid: String },
    Revoke { kid: String },
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Manual enrollment with a CSR (PEM or DER file).
    Request {
        #[arg(long)]
        account: String,
        #[arg(long)]
        profile: Option<String>,
        #[arg(long)]
        email: String,
        #[arg(long)]
        csr: PathBuf,
        #[arg(long = "term")]
        term_days: Option<u32>,
        /// Key attestation evidence (JSON document or PEM bundle).
        #[arg(long)]
        attestation: Option<PathBuf>,
        /// Write the PEM chain here instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    List,
    Show {
        serial: String,
    },
    /// Download: pem (leaf), chain (leaf + CA), der, pkcs7, pkcs7-pem.
    Download {
        serial: String,
        #[arg(long, default_value = "chain")]
        format: String,
        #[arg(long)]
        out: Option<PathBuf>,
    },
    Revoke {
        serial: String,
        /// RFC 5280 reason name (keyCompromise, superseded, ...) or code.
        #[arg(long, default_value = "unspecified")]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum RequestCommand {
    List,
    Show {
        id: String,
    },
    /// Approve a waiting request; its certificate is issued.
    Approve {
        id: String,
        #[arg(long)]
        message: Option<String>,
    },
    /// Decline a waiting request with a reason the requester sees.
    Decline {
        id: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the hash chain; exits non-zero naming the first bad record.
    Verify,
    /// Write the audit log as JSON lines.
    Export {
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum CrlCommand {
    /// Sign and publish a fresh CRL now.
    Publish,
}

struct Conn {
    base: String,
    token: String,
    roots: Vec<rustls_pki_types::CertificateDer<'static>>,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn connection(a: &AdminArgs) -> Result<Conn, Error> {
    let base = a
        .url
        .clone()
        .or_else(|| read_trimmed(&a.data_dir.join("server-url")))
        .unwrap_or_else(|| "https://localhost:8443".into());
    let token = a
        .token
        .clone()
        .or_else(|| read_trimmed(&a.data_dir.join("admin-token")))
        .ok_or_else(|| {
            Error::Command(format!(
                "no admin token: pass --token, set SIGNET_ADMIN_TOKEN, or run where {} exists",
                a.data_dir.join("admin-token").display()
            ))
        })?;
    let ca_path = a
        .ca_file
        .clone()
        .unwrap_or_else(|| a.data_dir.join("ca").join("root.pem"));
    let mut roots = Vec::new();
    if let Ok(bytes) = std::fs::read(&ca_path) {
        for p in pem::parse_many(&bytes)
            .map_err(|e| Error::Command(format!("{}: {e}", ca_path.display())))?
        {
            roots.push(rustls_pki_types::CertificateDer::from(p.into_contents()));
        }
    } else if base.starts_with("https://") {
        return Err(Error::Command(format!(
            "no trust anchor: pass --ca-file or set SIGNET_ADMIN_CA ({} not found)",
            ca_path.display()
        )));
    }
    Ok(Conn {
        base: base.trim_end_matches('/').to_string(),
        token,
        roots,
    })
}

impl Conn {
    async fn call(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, String, Vec<u8>), Error> {
        let url = format!("{}{}{}", self.base, crate::admin::PREFIX, path);
        let body = body.map(|b| serde_json::to_vec(&b).unwrap_or_default());
        let r = http::request(&url, method, Some(&self.token), body, &self.roots).await?;
        if r.status >= 400 {
            let v: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
            let msg = v["error"]["message"].as_str().unwrap_or("request failed");
            let field = v["error"]["field"]
                .as_str()
                .map(|f| format!(" (field {f})"))
                .unwrap_or_default();
            return Err(Error::Command(format!(
                "{} {}: {msg}{field}",
                r.status,
                v["error"]["type"].as_str().unwrap_or("error")
            )));
        }
        Ok((r.status, r.content_type, r.body))
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, Error> {
        let (_, _, bytes) = self.call(method, path, body).await?;
        serde_json::from_slice(&bytes)
            .map_err(|e| Error::Command(format!("server sent invalid JSON: {e}")))
    }
}

fn print(v: &Value, json_out: bool, summary: impl Fn(&Value) -> String) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else if let Some(items) = v.as_array() {
        for item in items {
            println!("{}", summary(item));
        }
    } else {
        println!("{}", summary(v));
    }
}

fn s(v: &Value, k: &str) -> String {
    match &v[k] {
        Value::String(x) => x.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

fn show_all(v: &Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}

fn write_out(out: &Option<PathBuf>, bytes: &[u8]) -> Result<(), Error> {
    match out {
        Some(p) => {
            std::fs::write(p, bytes).map_err(|e| Error::io(format!("writing {}", p.display()), e))
        }
        None => {
            use std::io::Write;
            std::io::stdout()
                .write_all(bytes)
                .map_err(|e| Error::io("writing standard output", e))
        }
    }
}

/// Runs one admin command.
pub async fn run(a: AdminArgs) -> Result<ExitCode, Error> {
    let c = connection(&a)?;
    let j = a.json;
    match a.command {
        AdminCommand::Org(cmd) => match cmd {
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
                let v = c.json("POST", "/organizations", Some(json!({
                    "name": name, "street": street, "city": city, "state": state,
                    "postal_code": postal_code, "country": country, "validation": validation,
                    "business_category": business_category,
                    "jurisdiction_country": jurisdiction_country,
                    "jurisdiction_state": jurisdiction_state,
                    "jurisdiction_locality": jurisdiction_locality,
                    "registration_number": registration_number,
                }))).await?;
                print(&v, j, |o| {
                    format!("created organization {} ({})", s(o, "id"), s(o, "name"))
                });
            }
            OrgCommand::List => print(&c.json("GET", "/organizations", None).await?, j, |o| {
                format!("{}  {}  {}", s(o, "id"), s(o, "name"), s(o, "country"))
            }),
            OrgCommand::Show { id } => print(
                &c.json("GET", &format!("/organizations/{id}"), None).await?,
                j,
                show_all,
            ),
        },
        AdminCommand::Dept(cmd) => match cmd {
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
        },
        AdminCommand::Profile(cmd) => match cmd {
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
                &c.json("GET", &format!("/profiles/{id}"), None).await?,
                j,
                show_all,
            ),
        },
        AdminCommand::Endpoint(cmd) => match cmd {
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
                &c.json("GET", &format!("/endpoints/{id}"), None).await?,
                j,
                show_all,
            ),
        },
        AdminCommand::Account(cmd) => match cmd {
            AccountCommand::Create {
                name,
                endpoint,
                organization,
                department,
                profiles,
                auto_approve,
            } => {
                let v = c.json("POST", "/accounts", Some(json!({
                    "name": name, "endpoint": endpoint, "organization": organization,
                    "department": department, "profiles": profiles, "auto_approve": auto_approve,
                }))).await?;
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
                &c.json("GET", &format!("/accounts/{id}"), None).await?,
                j,
                show_all,
            ),
        },
        AdminCommand::Invite(i) => {
            let v = c.json("POST", "/invitations", Some(json!({
                "email": i.email, "account": i.account, "profile": i.profile, "ttl_days": i.ttl_days,
            }))).await?;
            print(&v, j, |o| {
                format!(
                    "invited {}\n  kid:       {}\n  hmac_key:  {}\n  directory: {}\n  expires:   {}",
                    s(o, "email"), s(o, "kid"), s(o, "hmac_key"), s(o, "directory"), s(o, "expires")
                )
            });
        }
        AdminCommand::Invitation(cmd) => {
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
                InvitationCommand::List => {
                    print(&c.json("GET", "/invitations", None).await?, j, summary)
                }
                InvitationCommand::Show { kid } => print(
                    &c.json("GET", &format!("/invitations/{kid}"), None).await?,
                    j,
                    summary,
                ),
                InvitationCommand::Revoke { kid } => print(
                    &c.json("POST", &format!("/invitations/{kid}/revoke"), None)
                        .await?,
                    j,
                    summary,
                ),
            }
        }
        AdminCommand::Cert(cmd) => {
            let summary = |o: &Value| {
                format!(
                    "{}  {}  {}  {}  until {}",
                    s(o, "serial"),
                    s(o, "status"),
                    s(o, "email"),
                    s(o, "subject"),
                    s(o, "not_after")
                )
            };
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
                            Some(
                                serde_json::from_str::<Value>(&text).unwrap_or(Value::String(text)),
                            )
                        }
                        None => None,
                    };
                    let v = c.json("POST", "/certificates", Some(json!({
                        "account": account, "profile": profile, "email": email, "csr": csr_text,
                        "term_days": term_days, "attestation": attestation,
                    }))).await?;
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
                }
                CertCommand::List => {
                    print(&c.json("GET", "/certificates", None).await?, j, summary)
                }
                CertCommand::Show { serial } => print(
                    &c.json("GET", &format!("/certificates/{serial}"), None)
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
                            &format!("/certificates/{serial}/download?format={format}"),
                            None,
                        )
                        .await?;
                    write_out(&out, &body)?;
                }
                CertCommand::Revoke { serial, reason } => print(
                    &c.json(
                        "POST",
                        &format!("/certificates/{serial}/revoke"),
                        Some(json!({"reason": reason})),
                    )
                    .await?,
                    j,
                    summary,
                ),
            }
        }
        AdminCommand::Request(cmd) => {
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
                    &c.json("GET", &format!("/requests/{id}"), None).await?,
                    j,
                    show_all,
                ),
                RequestCommand::Approve { id, message } => {
                    let v = c
                        .json(
                            "POST",
                            &format!("/requests/{id}/approve"),
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
                            &format!("/requests/{id}/decline"),
                            Some(json!({"reason": reason})),
                        )
                        .await?;
                    print(&v, j, |o| {
                        format!("declined {}: {}", s(o, "id"), s(o, "message"))
                    });
                }
            }
        }
        AdminCommand::Audit(cmd) => match cmd {
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
        },
        AdminCommand::Crl(CrlCommand::Publish) => {
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
    Ok(ExitCode::SUCCESS)
}
