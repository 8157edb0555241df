//! The `signet` command line: `serve`, `config check`, `admin ...`, `mail ingest`.

mod admin;
mod help;
pub mod http;
mod mail;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{FromArgMatches, Parser, Subcommand};

pub use admin::AdminArgs;

#[derive(Debug, Parser)]
#[command(
    name = "signet",
    version,
    about = "Enrollment server for code-signing certificates"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once per process: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (embedded defaults unless --config is given).
    Serve {
        /// Configuration file (TOML); SIGNET_<TABLE>__<KEY> variables override it.
        #[arg(long, env = "SIGNET_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Configuration commands.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Administer a running server through its admin API.
    Admin(AdminArgs),
    /// Mail commands (`mail ingest`: a challenge reply on stdin, for an MTA pipe).
    Mail(mail::MailArgs),
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration; print it (secrets redacted) on success.
    Check {
        /// Configuration file (TOML); SIGNET_<TABLE>__<KEY> variables override it.
        #[arg(long, env = "SIGNET_CONFIG")]
        config: Option<PathBuf>,
        /// Also fail unless every URL certificates will carry (CRL, AIA,
        /// CPS) names a fully qualified public host.
        #[arg(long)]
        production: bool,
    },
}

/// Entry point of the `signet` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::from_arg_matches(&help::command().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // `serve` loads its configuration before the runtime starts: the
    // runtime's threads inherit the scheduling policy it asks for.
    let serve_config = match &cli.command {
        Command::Serve { config } => match crate::config::load(config.as_deref()) {
            Ok(cfg) => {
                if cfg.server.batch_scheduling {
                    crate::threads::enable();
                }
                Some(cfg)
            }
            Err(e) => {
                eprintln!("signet: {e}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(crate::threads::background)
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("signet: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, serve_config)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("signet: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs to standard error at the configured level (`RUST_LOG` overrides).
fn init_logging(cfg: &crate::config::LogConfig) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // colours only for a terminal: a log file gets no escape codes
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match cfg.format {
        crate::config::LogFormat::Json => builder.json().try_init(),
        crate::config::LogFormat::Text => builder.fmt_fields(crate::text::log_fields()).try_init(),
    };
}

async fn run(
    cli: Cli,
    serve_config: Option<crate::config::Config>,
) -> Result<ExitCode, crate::error::Error> {
    match cli.command {
        Command::Serve { config } => {
            let cfg = match serve_config {
                Some(cfg) => cfg,
                None => crate::config::load(config.as_deref())?,
            };
            init_logging(&cfg.log);
            let server = crate::server::start(cfg, crate::clock::system()).await?;
            eprintln!(
                "signet: serving {} (ACME directory {}/acme/directory), metrics and CRLs on {}",
                server.public_url, server.public_url, server.http_public_url
            );
            server.run_until_signal().await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Config {
            command: ConfigCommand::Check { config, production },
        } => {
            let cfg = crate::config::load(config.as_deref())?;
            let findings = crate::config::non_public_certificate_urls(&cfg);
            if production && !findings.is_empty() {
                for f in &findings {
                    eprintln!("signet: not production-ready: certificates would carry {f}");
                }
                return Ok(ExitCode::FAILURE);
            }
            println!("configuration OK");
            println!("{}", toml::to_string_pretty(&cfg).unwrap_or_default());
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(args) => admin::run(args).await,
        Command::Mail(args) => mail::run(args),
    }
}
