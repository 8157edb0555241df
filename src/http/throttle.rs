//! Failed-authentication throttling for EST Basic, the admin bearer token
//! and ACME EAB (issue 19.7), and their audit records (18.10).
//!
//! Failures are counted per client address and per credential (the key id a
//! client named) for each front end. After `server.auth_failures_before_backoff`
//! failures within [`WINDOW`], that address (or credential) is answered 429
//! with `Retry-After` without the credential being checked, for 2 s, then
//! 4 s, 8 s ... up to `server.auth_backoff_max_secs`. A success clears the
//! address's and the credential's count; other addresses and credentials
//! are never slowed. The comparisons themselves stay constant-time (the
//! front ends' checks are unchanged).
//!
//! Each failure counts in `signet_auth_failures_total{frontend,reason}`
//! (a throttled attempt as reason `throttled`), is logged with the client
//! address up to the threshold and once when the backoff starts, and is
//! written to the audit log (`auth.failure`, source address, key id; never
//! the secret or an email) within a budget of [`AUDIT_PER_MINUTE`] records a
//! minute: the rest are counted and the next record says how many were
//! left out (`suppressed_before`), so an attacker cannot fill the disk.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use time::{Duration, OffsetDateTime};

use crate::clock::SharedClock;
use crate::metrics::Metrics;
use crate::storage::auth_failures::FailedAuthentication;
use crate::storage::Store;

/// Failures older than this are forgotten.
pub const WINDOW: Duration = Duration::minutes(15);
/// The first backoff; each further failure doubles it.
const FIRST_BACKOFF_SECS: i64 = 2;
/// Most `auth.failure` audit records a minute.
pub const AUDIT_PER_MINUTE: u32 = 30;
/// Entries kept before old ones are pruned.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Address(&'static str, IpAddr),
    Credential(&'static str, String),
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    last: OffsetDateTime,
    blocked_until: Option<OffsetDateTime>,
}

#[derive(Debug, Default)]
struct AuditBudget {
    minute_started: Option<OffsetDateTime>,
    written: u32,
    suppressed: u64,
}

/// The throttle shared by the front ends.
pub struct AuthThrottle {
    clock: SharedClock,
    store: Store,
    failures: prometheus::IntCounterVec,
    threshold: u32,
    max_backoff: Duration,
    entries: Mutex<HashMap<Key, Entry>>,
    audit: Mutex<AuditBudget>,
}

impl std::fmt::Debug for AuthThrottle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthThrottle")
            .field("threshold", &self.threshold)
            .finish_non_exhaustive()
    }
}

/// `signet_auth_failures_total{frontend,reason}`.
fn failures_counter(metrics: &Metrics) -> prometheus::IntCounterVec {
    let labels = ["frontend", "reason"];
    metrics
        .int_counter_vec(
            "signet_auth_failures_total",
            "Failed authentications (EST Basic, admin bearer token, ACME EAB), by front end and \
             reason; throttled: refused with 429 during a backoff.",
            &labels,
        )
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot register signet_auth_failures_total");
            prometheus::IntCounterVec::new(prometheus::Opts::new("unregistered", "-"), &labels)
                .expect("a valid unregistered family")
        })
}

impl AuthThrottle {
    pub fn new(
        clock: SharedClock,
        store: Store,
        metrics: &Metrics,
        threshold: u32,
        max_backoff_secs: u64,
    ) -> AuthThrottle {
        AuthThrottle {
            clock,
            store,
            failures: failures_counter(metrics),
            threshold: threshold.max(1),
            max_backoff: Duration::seconds(max_backoff_secs.min(86_400) as i64),
            entries: Mutex::new(HashMap::new()),
            audit: Mutex::new(AuditBudget::default()),
        }
    }

    fn keys(front: &'static str, ip: IpAddr, credential: Option<&str>) -> Vec<Key> {
        let mut keys = vec![Key::Address(front, ip)];
        if let Some(c) = credential {
            keys.push(Key::Credential(front, c.to_string()));
        }
        keys
    }

    /// `Err(seconds)` while the address or credential is in a backoff (the
    /// caller answers 429 with `Retry-After` and checks nothing).
    pub fn check(
        &self,
        front: &'static str,
        ip: IpAddr,
        credential: Option<&str>,
    ) -> Result<(), u64> {
        let now = self.clock.now();
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let wait = Self::keys(front, ip, credential)
            .iter()
            .filter_map(|k| entries.get(k)?.blocked_until)
            .filter(|until| *until > now)
            .map(|until| (until - now).whole_seconds().max(1) as u64)
            .max();
        drop(entries);
        match wait {
            Some(secs) => {
                self.failures.with_label_values(&[front, "throttled"]).inc();
                Err(secs)
            }
            None => Ok(()),
        }
    }

    /// Records a failed check: counts, backs off, logs and audits it.
    pub fn failed(
        &self,
        front: &'static str,
        reason: &'static str,
        ip: IpAddr,
        credential: Option<&str>,
    ) {
        let now = self.clock.now();
        self.failures.with_label_values(&[front, reason]).inc();
        let mut failures = 0;
        let mut backoff = None;
        {
            let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
            if entries.len() >= MAX_ENTRIES {
                entries.retain(|_, e| now - e.last < WINDOW);
            }
            for key in Self::keys(front, ip, credential) {
                let entry = entries.entry(key).or_insert(Entry {
                    failures: 0,
                    last: now,
                    blocked_until: None,
                });
                if now - entry.last >= WINDOW {
                    entry.failures = 0;
                }
                entry.failures += 1;
                entry.last = now;
                if entry.failures >= self.threshold {
                    let doublings = (entry.failures - self.threshold).min(30);
                    let secs = FIRST_BACKOFF_SECS.saturating_mul(1i64 << doublings);
                    let wait = Duration::seconds(secs).min(self.max_backoff);
                    entry.blocked_until = Some(now + wait);
                    backoff = backoff.max(Some(wait));
                }
                failures = failures.max(entry.failures);
            }
        }
        if failures <= self.threshold {
            tracing::warn!(
                frontend = front,
                client = %ip,
                credential = credential.unwrap_or("-"),
                reason,
                failures,
                backoff_secs = backoff.map(|d| d.whole_seconds()).unwrap_or(0),
                "authentication failed"
            );
        }
        self.audit(now, front, reason, ip, credential);
    }

    /// Records a successful check: the address and credential start afresh.
    pub fn succeeded(&self, front: &'static str, ip: IpAddr, credential: Option<&str>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        for key in Self::keys(front, ip, credential) {
            entries.remove(&key);
        }
    }

    fn audit(
        &self,
        now: OffsetDateTime,
        front: &str,
        reason: &str,
        ip: IpAddr,
        credential: Option<&str>,
    ) {
        let suppressed_before = {
            let mut budget = self.audit.lock().unwrap_or_else(|e| e.into_inner());
            let new_minute = match budget.minute_started {
                None => true,
                Some(t) => now - t >= Duration::minutes(1),
            };
            if new_minute {
                budget.minute_started = Some(now);
                budget.written = 0;
            }
            if budget.written >= AUDIT_PER_MINUTE {
                budget.suppressed += 1;
                return;
            }
            budget.written += 1;
            std::mem::take(&mut budget.suppressed)
        };
        let failure = FailedAuthentication {
            front_end: front,
            reason,
            source: ip,
            credential,
            suppressed_before,
        };
        if let Err(e) = self.store.record_failed_authentication(now, &failure) {
            tracing::error!(error = %e, "could not write the auth.failure audit record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use std::sync::Arc;

    fn throttle() -> (AuthThrottle, Arc<FakeClock>, Store) {
        let clock = Arc::new(FakeClock::new(OffsetDateTime::now_utc()));
        let store = Store::temporary().unwrap();
        let t = AuthThrottle::new(clock.clone(), store.clone(), &Metrics::new(), 3, 60);
        (t, clock, store)
    }

    #[test]
    fn backs_off_after_the_threshold_doubling_to_the_cap() {
        let (t, clock, _) = throttle();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..2 {
            t.failed("est", "bad_credentials", a, Some("inv_1"));
            assert!(t.check("est", a, Some("inv_1")).is_ok());
        }
        t.failed("est", "bad_credentials", a, Some("inv_1"));
        assert_eq!(t.check("est", a, Some("inv_1")), Err(2));
        assert_eq!(
            t.check("est", a, Some("inv_2")),
            Err(2),
            "the address is throttled"
        );
        assert_eq!(
            t.check("est", b, Some("inv_1")),
            Err(2),
            "the credential is throttled"
        );
        assert!(
            t.check("est", b, Some("inv_2")).is_ok(),
            "others are not slowed"
        );
        assert!(t.check("admin", a, None).is_ok(), "front ends count apart");
        clock.advance(Duration::seconds(3));
        t.failed("est", "bad_credentials", a, None);
        assert_eq!(t.check("est", a, None), Err(4));
        for _ in 0..10 {
            t.failed("est", "bad_credentials", a, None);
        }
        assert_eq!(t.check("est", a, None), Err(60), "capped");
        t.succeeded("est", a, None);
        assert!(t.check("est", a, None).is_ok(), "a success starts afresh");
    }

    #[test]
    fn audit_records_are_budgeted_per_minute() {
        let (t, clock, store) = throttle();
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..(AUDIT_PER_MINUTE + 20) {
            t.failed("admin", "bad_token", a, None);
        }
        let count = |s: &Store| {
            s.audit_records()
                .unwrap()
                .into_iter()
                .filter(|r| r.action == "auth.failure")
                .collect::<Vec<_>>()
        };
        assert_eq!(count(&store).len(), AUDIT_PER_MINUTE as usize);
        clock.advance(Duration::minutes(1));
        t.failed("admin", "bad_token", a, None);
        let records = count(&store);
        let last = records.last().unwrap();
        assert_eq!(last.details["suppressed_before"], 20);
        assert_eq!(last.details["source"], "192.0.2.1");
        assert_eq!(last.actor, "client:192.0.2.1");
    }
}
