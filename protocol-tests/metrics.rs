//! The metrics listener against a real server: after one full ACME order flow
//! (driven by the real load driver, `signet-bench`, with ES256 JWS and EAB)
//! and one EST enrollment, every family documented in docs/METRICS.md is
//! exposed, the recorded values match what happened, and `promtool check
//! metrics` (Debian package `prometheus`) finds nothing to complain about.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::TestServer;

/// The families named in the first column of docs/METRICS.md's table.
fn documented_families() -> Vec<String> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/METRICS.md"))
        .expect("docs/METRICS.md");
    doc.lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_string)
        .collect()
}

/// The value of one sample line `name{labels} value` (labels as exposed, sorted).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no sample {series} in:\n{text}"))
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{series}: {e}"))
}

fn bench(server: &TestServer, root: &std::path::Path, args: &[&str]) -> serde_json::Value {
    // `--admin-token=...` in one argument: a generated token may start with '-'
    let token = format!("--admin-token={}", server.admin_token);
    let out = Command::new(env!("CARGO_BIN_EXE_signet-bench"))
        .args(args)
        .args([
            "--ca-file",
            root.to_str().unwrap(),
            "--admin-url",
            &server.base_url,
            &token,
            "--json",
        ])
        .output()
        .expect("running signet-bench");
    assert!(
        out.status.success(),
        "signet-bench {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "signet-bench output is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn every_documented_family_is_exposed_after_one_enrollment_and_promtool_is_clean() {
    let server = TestServer::start_with(|c| {
        c.acme.invitation_confirms_email = true;
        c.ca.algorithm = "p256".into();
    });
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root.pem");
    std::fs::write(&root, &server.tls_ca_pem).unwrap();

    // One full ACME order flow (newAccount with EAB, newOrder, authz, finalize, download).
    let acme = bench(
        &server,
        &root,
        &[
            "acme",
            "--server",
            "signet",
            "--directory",
            &format!("{}/acme/directory", server.base_url),
            "--vus",
            "1",
            "--duration",
            "0.01",
        ],
    );
    assert_eq!(acme["errors"], 0, "{acme}");
    let flows = acme["flows"].as_u64().unwrap();
    assert!(flows >= 1, "{acme}");
    // One EST simpleenroll with an invitation's Basic credentials.
    let est = bench(
        &server,
        &root,
        &[
            "est",
            "--est-url",
            &format!("{}/.well-known/est", server.base_url),
            "--vus",
            "1",
            "--requests",
            "1",
        ],
    );
    assert_eq!(est["enrollments"], 1, "{est}");
    // A CRL exists (published at start-up or now) for the CRL gauges.
    if server.app.store.current_crl().unwrap().is_none() {
        server.app.ra.publish_crl("test").unwrap();
    }

    let resp = server.http_get("/metrics");
    assert_eq!(resp.status, 200);
    let text = resp.text();

    let families = documented_families();
    assert!(families.len() >= 25, "table not found: {families:?}");
    let missing: Vec<&String> = families
        .iter()
        .filter(|f| !text.contains(&format!("# TYPE {f} ")))
        .collect();
    assert!(
        missing.is_empty(),
        "documented but not exposed: {missing:?}\n{text}"
    );
    // ... and nothing exposed is undocumented.
    let undocumented: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split(' ').next())
        .filter(|f| !families.iter().any(|d| d == f))
        .collect();
    assert!(
        undocumented.is_empty(),
        "exposed but not in docs/METRICS.md: {undocumented:?}"
    );

    // The values say what happened.
    let f = flows as f64;
    let issued = |protocol: &str| -> f64 {
        text.lines()
            .filter(|l| {
                l.starts_with("signet_issuances_total{outcome=\"issued\"")
                    && l.contains(&format!("protocol=\"{protocol}\""))
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert_eq!(issued("acme"), f, "{text}");
    assert_eq!(issued("est"), 1.0, "{text}");
    assert_eq!(
        sample(
            &text,
            "signet_invitation_redemptions_total{protocol=\"acme\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(
            &text,
            "signet_invitation_redemptions_total{protocol=\"est\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "signet_acme_orders_total{status=\"valid\"}"),
        f
    );
    assert_eq!(
        sample(&text, "signet_acme_orders_total{status=\"processing\"}"),
        f
    );
    assert!(sample(&text, "signet_acme_authorizations_total{status=\"valid\"}") >= 1.0);
    assert!(
        sample(
            &text,
            "signet_signing_duration_seconds_count{algorithm=\"p256\"}"
        ) >= f + 1.0
    );
    assert_eq!(sample(&text, "signet_signing_queue_depth"), 0.0);
    assert!(sample(&text, "signet_storage_flush_duration_seconds_count") >= 1.0);
    assert!(
        sample(&text, "signet_storage_flush_batch_size_sum")
            >= sample(&text, "signet_storage_flush_batch_size_count")
    );
    // every authenticated ACME request reads its account: after the first,
    // from the read cache
    assert!(sample(&text, "signet_storage_cache_reads_total{result=\"hit\"}") >= 1.0);
    assert!(sample(&text, "signet_storage_cache_reads_total{result=\"miss\"}") >= 1.0);
    assert!(sample(&text, "signet_acme_nonces_total{outcome=\"accepted\"}") >= 4.0 * f + 1.0);
    assert!(sample(&text, "signet_acme_nonces_outstanding") >= 1.0);
    assert!(
        sample(
            &text,
            "signet_attestation_verdicts_total{format=\"none\",result=\"none\"}"
        ) >= f + 1.0
    );
    let age = sample(&text, "signet_crl_age_seconds");
    assert!((0.0..3600.0).contains(&age), "CRL age {age}");
    assert!(sample(&text, "signet_crl_next_update_seconds") > 0.0);
    assert!(
        sample(
            &text,
            "signet_http_requests_total{frontend=\"acme\",route=\"/acme/finalize\",status=\"200\"}"
        ) >= f
    );

    // promtool's lint: naming, units, _total, help texts, histogram shapes.
    let (ok, report) = promtool_check(&text);
    assert!(
        ok && report.trim().is_empty(),
        "promtool check metrics: {report}"
    );
}

#[test]
fn promtool_rejects_a_badly_named_family() {
    // The lint the test above relies on is real: a counter without _total fails.
    let bad = "# HELP signet_bad A counter.\n# TYPE signet_bad counter\nsignet_bad 1\n";
    let (ok, report) = promtool_check(bad);
    assert!(!ok || !report.trim().is_empty(), "{report}");
}

/// Runs `promtool check metrics` over `exposition`: (exit success, its report).
fn promtool_check(exposition: &str) -> (bool, String) {
    let mut child = match Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => panic!(
            "promtool is missing ({e}): run scripts/install-test-deps (Debian package prometheus)"
        ),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), report)
}
