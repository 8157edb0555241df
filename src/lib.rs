//! Signet: an enrollment server for code-signing certificates.
//!
//! # Layout
//!
//! Requests enter through a front end, are decided by the registration
//! authority, validated by the validation authority, signed by the CA core and
//! recorded by storage. Only front ends know HTTP; only the RA decides; only
//! storage knows sled.
//!
//! - [`server`]: listeners (HTTPS via tokio-rustls, plain-HTTP metrics and
//!   CRLs), routing to the front ends, graceful shutdown.
//! - [`acme`]: RFC 8555 front end (JWS, nonces, EAB accounts, email orders,
//!   RFC 8823 challenges, finalize, download, revocation).
//! - [`est`]: RFC 7030 front end for build agents.
//! - [`admin`]: the JSON admin API under `/admin/v1` (bearer token).
//! - [`ra`]: the registration authority: invitations, profiles, enrollment
//!   policy, approval, revocation.
//! - [`va`]: the validation authority: email-reply challenges and hardware key
//!   attestation. Reports facts, decides nothing.
//! - [`csr`]: PKCS#10 parsing and proof of possession.
//! - [`keyid`]: RFC 7638 thumbprints of keys from a JWK or an SPKI.
//! - [`ca`]: the CA core; signs only what the RA hands it.
//! - [`storage`]: the sled store, methods named for intent.
//! - [`mail`]: outbox directory or SMTP relay.
//! - [`config`]: TOML file + `SIGNET_*` environment, checked at start-up.
//! - [`metrics`]: the Prometheus registry.
//! - [`cli`]: the `signet` command line (serve, config check, admin, mail ingest).
//! - [`clock`]: the one source of time, fakeable in tests.
//! - [`threads`]: the scheduling policy of the server's threads.
//! - [`error`]: the crate-level error type.

#![forbid(unsafe_code)]

pub mod acme;
pub mod admin;
pub mod ca;
// clap turns these doc comments into help text, where `<VALUE>` is a placeholder
#[allow(rustdoc::invalid_html_tags)]
pub mod cli;
pub mod clock;
pub mod config;
pub mod csr;
pub mod error;
pub mod est;
pub mod http;
pub mod keyid;
pub mod mail;
pub mod metrics;
pub mod ra;
pub mod server;
pub mod storage;
pub mod text;
pub mod threads;
pub mod va;
