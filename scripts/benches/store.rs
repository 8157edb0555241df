//! Durable-store floor benchmark (harness = false): what the store alone
//! (sled + group-committed fsync, no HTTP, TLS, JWS or signing) sustains for
//! the storage part of one issuance: `claim_issuance` (the checks and the
//! in-memory claim, no write) then `record_issuance` (serial, request,
//! certificate and audit in one change set, durable before it returns), from
//! many writer threads at once.
//!
//! With `SIGNET_BENCH_WORKLOAD=acme` each iteration is the storage of one
//! ACME flow instead: order creation, `claim_issuance` (the order must be
//! ready), `record_issuance` that also makes the order valid (2 change sets,
//! one durable flush).
//!
//! It prints, per writer count: issuances/s, CPU per issuance, context
//! switches per issuance and the group-commit batch (writes per flush). The
//! front ends cannot issue faster than this on the same machine: it is the
//! measured limit under the EST and ACME rates in docs/performance-log.md.
//!
//! Run: `cargo bench --bench store`. `SIGNET_BENCH_SECONDS` sets the time per
//! measurement (default 2.5); `SIGNET_BENCH_WRITERS` (e.g. `1,16,64`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use signet::storage::acme::{AcmeOrder, OrderStatus};
use signet::storage::model::{AuditEvent, CertRequest, CertificateRecord, RequestStatus};
use signet::storage::{RequestLink, Store};

fn seconds() -> f64 {
    std::env::var("SIGNET_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(2.5)
}

fn writer_counts() -> Vec<usize> {
    std::env::var("SIGNET_BENCH_WRITERS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![1, 16, 64])
}

/// Process CPU seconds (all threads, including exited ones) from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the parenthesized command name; utime and stime are 14 and 15
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Context switches of the live threads (voluntary + involuntary).
fn context_switches() -> u64 {
    let mut total = 0;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
            for line in status.lines() {
                if line.starts_with("voluntary_ctxt_switches")
                    || line.starts_with("nonvoluntary_ctxt_switches")
                {
                    total += line
                        .split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0);
                }
            }
        }
    }
    total
}

fn now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// A request and certificate record of realistic size (a P-256 CSR and
/// certificate, base64).
fn records(i: u64, writer: usize) -> (CertRequest, CertificateRecord, String) {
    let serial = format!("{:032x}", (writer as u128) << 64 | u128::from(i) | 1 << 126);
    let id = format!("req_{writer}_{i}");
    let req = CertRequest {
        id: id.clone(),
        status: RequestStatus::Applied,
        account_id: "acct_bench".into(),
        profile_id: "prof_bench".into(),
        email: format!("agent{writer}-{i}@bench.example"),
        csr: "A".repeat(620),
        term_days: 365,
        requester: format!("est:inv_{writer}_{i}"),
        created_at: now(),
        decided_by: None,
        message: None,
        serial: None,
        attestation: None,
        renews: None,
    };
    let cert = CertificateRecord {
        serial: serial.clone(),
        der: "B".repeat(1_100),
        request_id: id,
        account_id: req.account_id.clone(),
        profile_id: req.profile_id.clone(),
        email: req.email.clone(),
        subject: "CN=agent, O=Example Widgets GmbH, L=Munich, C=DE".into(),
        spki_sha256: "c".repeat(64),
        not_before: now(),
        not_after: now() + time::Duration::days(365),
        issued_at: now(),
        requester: req.requester.clone(),
        revocation: None,
        attestation: None,
        lineage: Default::default(),
    };
    (req, cert, serial)
}

struct Run {
    rate: f64,
    cpu_us: f64,
    switches: f64,
    batch: f64,
}

fn acme_workload() -> bool {
    std::env::var("SIGNET_BENCH_WORKLOAD").is_ok_and(|w| w == "acme")
}

/// The order an ACME flow finalizes (as `newOrder` stores it once its
/// authorization is valid).
fn order(id: &str, email: &str) -> AcmeOrder {
    AcmeOrder {
        id: id.into(),
        account_id: "acct_bench".into(),
        status: OrderStatus::Ready,
        email: email.into(),
        profile: None,
        authz_ids: vec![format!("authz_{id}")],
        expires: now() + time::Duration::days(7),
        created_at: now(),
        request_id: None,
        certificate: None,
        error: None,
        replaces: None,
    }
}

fn run(writers: usize, secs: f64) -> Run {
    let dir = std::env::temp_dir().join(format!(
        "signet-store-bench-{}-{writers}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Arc::new(Store::open(&dir).expect("opening the store"));
    let metrics = signet::metrics::Metrics::new();
    store.set_metrics(&metrics);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let (cpu0, sw0, t0) = (cpu_seconds(), context_switches(), Instant::now());
    let acme = acme_workload();
    let threads: Vec<_> = (0..writers)
        .map(|w| {
            let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let (req, cert, serial) = records(i, w);
                    let ev = |action: &str| AuditEvent {
                        at: now(),
                        actor: req.requester.clone(),
                        action: action.into(),
                        details: serde_json::json!({"serial": serial, "request": req.id}),
                    };
                    let mut link = RequestLink::None;
                    if acme {
                        let id = format!("ord_{w}_{i}");
                        store
                            .create_acme_order(
                                &order(&id, &req.email),
                                &[],
                                &ev("acme.order.create"),
                            )
                            .expect("create_acme_order");
                        link = RequestLink::AcmeOrder { order_id: id };
                    }
                    let claim = store
                        .claim_issuance(&req, &serial, &link)
                        .expect("claim_issuance");
                    store
                        .record_issuance(claim, &cert, &ev("certificate.issue"))
                        .expect("record_issuance");
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    stop.store(true, Ordering::Relaxed);
    let sw1 = context_switches();
    for t in threads {
        let _ = t.join();
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let n = done.load(Ordering::Relaxed).max(1) as f64;
    let text = metrics.encode().unwrap_or_default();
    let batch = metric(&text, "signet_storage_flush_batch_size_sum")
        / metric(&text, "signet_storage_flush_batch_size_count").max(1.0);
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Run {
        rate: n / elapsed,
        cpu_us: cpu * 1e6 / n,
        switches: sw1.saturating_sub(sw0) as f64 / n,
        batch,
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn main() {
    let secs = seconds();
    println!(
        "# workload {}: writers durable_issuances_per_s cpu_us_per_issuance context_switches_per_issuance writes_per_flush",
        if acme_workload() { "acme (2 change sets)" } else { "issuance (1 change set)" }
    );
    for writers in writer_counts() {
        let r = run(writers, secs);
        println!(
            "{writers} {:.0} {:.0} {:.1} {:.1}",
            r.rate, r.cpu_us, r.switches, r.batch
        );
    }
}
