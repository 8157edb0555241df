//! The email-reply-00 challenge (RFC 8823): responding sends the challenge
//! mail; replies arrive through `signet mail ingest` (spooled into the inbox
//! maildir the server polls) or a configured maildir, and are judged by the RA
//! on the facts the VA reads from them.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, Instant};

use http::StatusCode;
use serde_json::json;
use time::Duration;

use super::problem::{Problem, ProblemType};
use super::{Inner, Reply, Signed};
use crate::config::Config;
use crate::ra::acme::{acme_requester, ReplyVerdict};
use crate::storage::acme::{AcmeAuthorization, AuthzStatus, ChallengeStatus};
use crate::storage::model::AuditEvent;
use crate::storage::StorageError;
use crate::va::email::{challenge_mail, parse_reply, MAX_REPLY_BYTES};

/// Most refused-reply reasons kept on a challenge.
const MAX_REJECTIONS: usize = 20;
/// Messages processed per directory per poll.
const MAX_PER_POLL: usize = 200;

/// What became of one ingested reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// The reply validated the challenge of this authorization.
    Validated { authorization: String },
    /// The reply answers this authorization's challenge mail but was refused;
    /// the reason is recorded on the challenge.
    Rejected {
        authorization: String,
        reason: String,
    },
    /// The message answers no challenge mail of this server.
    Unmatched { reason: String },
}

impl std::fmt::Display for IngestOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IngestOutcome::Validated { authorization } => {
                write!(
                    f,
                    "validated the challenge of authorization {authorization}"
                )
            }
            IngestOutcome::Rejected {
                authorization,
                reason,
            } => write!(f, "refused for authorization {authorization}: {reason}"),
            IngestOutcome::Unmatched { reason } => write!(f, "not a challenge reply: {reason}"),
        }
    }
}

/// The inbox maildir replies are spooled into: `acme.inbox_dir`, or
/// `<server.data_dir>/mail-inbox`.
pub fn inbox_dir(cfg: &Config) -> PathBuf {
    if cfg.acme.inbox_dir.is_empty() {
        super::default_inbox(Path::new(&cfg.server.data_dir))
    } else {
        PathBuf::from(&cfg.acme.inbox_dir)
    }
}

/// Delivers one RFC 5322 message into the maildir `dir` (tmp/ then an atomic
/// rename into new/), where the server picks it up. This is what
/// `signet mail ingest` does with its standard input.
pub fn spool_reply(dir: &Path, raw: &[u8]) -> std::io::Result<PathBuf> {
    use rand::RngCore;
    if raw.len() > MAX_REPLY_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("message larger than {MAX_REPLY_BYTES} bytes"),
        ));
    }
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "empty message",
        ));
    }
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let name = format!(
        "{nanos}.P{}R{:08x}.signet",
        std::process::id(),
        rand::rngs::OsRng.next_u32()
    );
    let tmp = dir.join("tmp").join(&name);
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600); // replies are private to the server's user
        }
        let mut f = options.open(&tmp)?;
        f.write_all(raw)?;
        f.sync_all()?;
    }
    let dest = dir.join("new").join(&name);
    std::fs::rename(&tmp, &dest)?;
    Ok(dest)
}

impl Inner {
    pub(crate) fn challenge_post(&self, s: &Signed, id: &str) -> Result<Reply, Problem> {
        let a = self.owned_authz(s, id)?;
        let a = if s.jws.is_post_as_get() {
            self.maybe_scan_inbox();
            self.store.get_acme_authz(id)?.unwrap_or(a)
        } else {
            let p = s.payload()?;
            if !p.as_object().is_some_and(|o| o.is_empty()) {
                return Err(Problem::malformed(
                    "respond to an email-reply-00 challenge with an empty JSON object {}",
                ));
            }
            self.respond(a)?
        };
        let mut r = Reply::json(StatusCode::OK, &self.challenge_resource(&a))
            .link(&self.authz_url(&a.id), "up");
        if a.challenge.status == ChallengeStatus::Processing {
            r.retry_after = Some(self.cfg.retry_after_secs);
        }
        Ok(r)
    }

    /// The client is ready: send the challenge mail (once).
    fn respond(&self, a: AcmeAuthorization) -> Result<AcmeAuthorization, Problem> {
        if a.challenge.status != ChallengeStatus::Pending {
            return Ok(a); // already responded: idempotent
        }
        if self.effective_authz_status(&a) != AuthzStatus::Pending {
            return Err(Problem::malformed(format!(
                "the authorization is {}; it cannot be validated any more",
                super::status_name(&self.effective_authz_status(&a))
            )));
        }
        // Claim the challenge first so concurrent responses send one mail.
        let claimed = self.store.update_acme_authz(
            &a.id,
            |x| {
                if x.challenge.status != ChallengeStatus::Pending {
                    return Err("already responded".into());
                }
                x.challenge.status = ChallengeStatus::Processing;
                Ok(())
            },
            |_| None,
        );
        match claimed {
            Ok(_) => self
                .ra
                .metrics()
                .acme_challenge("email-reply-00", "processing"),
            Err(StorageError::Rejected(_)) => {
                return self
                    .store
                    .get_acme_authz(&a.id)?
                    .ok_or_else(|| Problem::internal("authorization vanished"))
            }
            Err(e) => return Err(e.into()),
        }
        let mail = challenge_mail(&a.email, &a.challenge.token_part1);
        match self.mailer.send(&mail) {
            Ok(message_id) => {
                let now = self.clock.now();
                let mid = message_id.clone();
                let updated = self.store.update_acme_authz(
                    &a.id,
                    move |x| {
                        x.challenge.message_id = Some(mid.clone());
                        x.challenge.sent_at = Some(now);
                        Ok(())
                    },
                    |x| {
                        Some(AuditEvent {
                            at: now,
                            actor: acme_requester(&x.account_id),
                            action: "acme.challenge.mail_sent".into(),
                            details: json!({"authorization": x.id, "email": x.email,
                                            "message_id": x.challenge.message_id}),
                        })
                    },
                )?;
                Ok(updated)
            }
            Err(e) => {
                tracing::warn!(authorization = %a.id, error = %e, "challenge mail not sent");
                let _ = self.store.update_acme_authz(
                    &a.id,
                    |x| {
                        x.challenge.status = ChallengeStatus::Pending;
                        Ok(())
                    },
                    |_| None,
                );
                Err(Problem::internal(
                    "the challenge mail could not be sent; respond to the challenge again later",
                ))
            }
        }
    }

    /// Judges and records one reply.
    pub(crate) fn ingest_mail(&self, raw: &[u8]) -> IngestOutcome {
        let outcome = self.ingest_mail_unmeasured(raw);
        let m = self.ra.metrics();
        match &outcome {
            IngestOutcome::Validated { .. } => {
                m.mail_ingested("validated");
                m.acme_challenge("email-reply-00", "valid");
                m.acme_authorization("valid");
            }
            IngestOutcome::Rejected { authorization, .. } => {
                m.mail_ingested("rejected");
                if let Ok(Some(a)) = self.store.get_acme_authz(authorization) {
                    if a.status == AuthzStatus::Invalid {
                        m.acme_challenge("email-reply-00", "invalid");
                        m.acme_authorization("invalid");
                    }
                }
            }
            IngestOutcome::Unmatched { .. } => m.mail_ingested("unmatched"),
        }
        outcome
    }

    fn ingest_mail_unmeasured(&self, raw: &[u8]) -> IngestOutcome {
        let facts = match parse_reply(raw) {
            Ok(f) => f,
            Err(e) => {
                return IngestOutcome::Unmatched {
                    reason: e.to_string(),
                }
            }
        };
        let mut found = None;
        for mid in &facts.answers {
            match self.store.find_acme_authz_by_message_id(mid) {
                Ok(Some(a)) => {
                    found = Some(a);
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    return IngestOutcome::Unmatched {
                        reason: format!("store: {e}"),
                    }
                }
            }
        }
        let Some(authz) = found else {
            return IngestOutcome::Unmatched {
                reason:
                    "the message answers no challenge mail of this server (In-Reply-To/References)"
                        .into(),
            };
        };
        let account = match self.store.get_acme_account(&authz.account_id) {
            Ok(Some(acct)) => acct,
            _ => {
                return IngestOutcome::Unmatched {
                    reason: "the authorization's account is gone".into(),
                }
            }
        };
        let now = self.clock.now();
        let verdict = self
            .ra
            .acme_judge_reply(&authz, &account, &facts, &self.sender_auth, now);
        let lifetime = Duration::days(i64::from(
            self.cfg.authz_reuse_days.max(self.cfg.order_ttl_days),
        ));
        let from = facts.from.join(", ");
        let v = verdict.clone();
        let result = self.store.update_acme_authz(
            &authz.id,
            move |a| {
                match &v {
                    ReplyVerdict::Accept => {
                        if a.challenge.status != ChallengeStatus::Processing
                            || a.status != AuthzStatus::Pending
                        {
                            return Err("the challenge changed meanwhile".into());
                        }
                        a.status = AuthzStatus::Valid;
                        a.expires = now + lifetime;
                        a.validated_by = Some("email-reply-00".into());
                        a.challenge.status = ChallengeStatus::Valid;
                        a.challenge.validated = Some(now);
                        a.challenge.error = None;
                    }
                    ReplyVerdict::Reject {
                        reason,
                        incorrect_response,
                        terminal,
                    } => {
                        // The reason goes to the challenge's refusedReplies
                        // (and the audit log); `error` is for a challenge that
                        // failed (RFC 8555 §8), so a refused forgery does not
                        // make a live challenge look failed.
                        a.challenge.rejected_replies.push(reason.clone());
                        let excess = a.challenge.rejected_replies.len().saturating_sub(MAX_REJECTIONS);
                        a.challenge.rejected_replies.drain(..excess);
                        if *terminal && a.challenge.status == ChallengeStatus::Processing {
                            let kind = if *incorrect_response {
                                ProblemType::IncorrectResponse
                            } else {
                                ProblemType::Unauthorized
                            };
                            a.challenge.error = Some(Problem::new(kind, reason.clone()).to_value());
                            a.challenge.status = ChallengeStatus::Invalid;
                            a.status = AuthzStatus::Invalid;
                        }
                    }
                }
                Ok(())
            },
            |a| {
                let (action, details) = match &verdict {
                    ReplyVerdict::Accept => (
                        "acme.challenge.valid",
                        json!({"authorization": a.id, "email": a.email}),
                    ),
                    ReplyVerdict::Reject { reason, .. } => (
                        "acme.challenge.reply_refused",
                        json!({"authorization": a.id, "email": a.email, "from": from, "reason": reason}),
                    ),
                };
                Some(AuditEvent {
                    at: now,
                    actor: "mail".into(),
                    action: action.into(),
                    details,
                })
            },
        );
        match (result, verdict) {
            (Ok(_), ReplyVerdict::Accept) => {
                tracing::info!(authorization = %authz.id, "email challenge validated");
                IngestOutcome::Validated {
                    authorization: authz.id,
                }
            }
            (Ok(_), ReplyVerdict::Reject { reason, .. }) => {
                tracing::info!(authorization = %authz.id, %reason, "challenge reply refused");
                IngestOutcome::Rejected {
                    authorization: authz.id,
                    reason,
                }
            }
            (Err(e), _) => IngestOutcome::Rejected {
                authorization: authz.id,
                reason: format!("could not record the reply: {e}"),
            },
        }
    }

    /// Processes the new messages of the inbox and the configured maildir.
    pub(crate) fn poll_mail(&self) -> Vec<IngestOutcome> {
        let mut dirs = vec![self.inbox.clone()];
        if !self.cfg.maildir.is_empty() {
            dirs.push(PathBuf::from(&self.cfg.maildir));
        }
        let mut out = Vec::new();
        for dir in dirs {
            let new = dir.join("new");
            let Ok(entries) = std::fs::read_dir(&new) else {
                continue;
            };
            let mut names: Vec<_> = entries
                .filter_map(Result::ok)
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .map(|e| e.file_name())
                .filter(|n| !n.to_string_lossy().starts_with('.'))
                .collect();
            names.sort();
            let _ = std::fs::create_dir_all(dir.join("cur"));
            for name in names.into_iter().take(MAX_PER_POLL) {
                // Claim the message first (maildir: new/ -> cur/): whoever
                // renames it processes it, so concurrent polls (timer, client
                // polls, other instances) never judge one reply twice.
                let seen = dir
                    .join("cur")
                    .join(format!("{}:2,S", name.to_string_lossy()));
                if std::fs::rename(new.join(&name), &seen).is_err() {
                    continue;
                }
                let outcome = match std::fs::read(&seen) {
                    Ok(raw) if raw.len() <= MAX_REPLY_BYTES => self.ingest_mail(&raw),
                    Ok(_) => IngestOutcome::Unmatched {
                        reason: "message too large".into(),
                    },
                    Err(e) => IngestOutcome::Unmatched {
                        reason: format!("unreadable: {e}"),
                    },
                };
                tracing::debug!(file = %seen.display(), %outcome, "mail ingested");
                out.push(outcome);
            }
        }
        out
    }

    /// Polls the inbox on client polls too (at most every 200 ms), so a reply
    /// spooled by `signet mail ingest` is seen even before the next timer tick.
    pub(crate) fn maybe_scan_inbox(&self) {
        {
            let mut last = self.last_scan.lock().unwrap_or_else(|e| e.into_inner());
            if last.is_some_and(|t| t.elapsed() < StdDuration::from_millis(200)) {
                return;
            }
            *last = Some(Instant::now());
        }
        self.poll_mail();
    }
}
