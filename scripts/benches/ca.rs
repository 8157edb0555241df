//! CA core benchmark (harness = false): for P-256, P-384 and RSA-4096 issuers,
//! the issuance rate of `Ca::issue` with the default configuration (validate,
//! encode from the template, sign, assemble, per-certificate checks; no I/O)
//! against the raw signature rate of the same issuing key over a TBS-sized
//! message, both on one thread. Also shown: `Ca::issue` with
//! `ca.verify_signatures = true` (per-certificate signature verification).
//!
//! Run: `scripts/bench-ca` (= `cargo bench --bench ca`).
//! `SIGNET_BENCH_SECONDS` sets the time per measurement (default 2.5; CI smoke: 0.2);
//! `SIGNET_BENCH_ALGS` (e.g. `p256,p384`) selects issuers.

use std::time::{Duration, Instant};

use rcgen::PublicKeyData as _;
use signet::ca::{Ca, CaConfig, IssuanceRequest, Serial, SubjectInfo, Template};

fn seconds() -> f64 {
    std::env::var("SIGNET_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .unwrap_or(2.5)
}

/// Runs `f` repeatedly for about `secs` seconds; returns operations per second.
fn rate(secs: f64, f: &mut dyn FnMut()) -> f64 {
    // warm-up
    for _ in 0..3 {
        f();
    }
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n: u64 = 0;
    loop {
        for _ in 0..8 {
            f();
        }
        n += 8;
        let elapsed = start.elapsed();
        if elapsed >= budget {
            return n as f64 / elapsed.as_secs_f64();
        }
    }
}

/// Measures each closure for `secs` seconds in total, in 5 interleaved rounds,
/// and keeps each one's best round: the machine is shared, and interleaving
/// exposes all measurements to the same background load.
fn interleaved(secs: f64, fs: &mut [&mut dyn FnMut()]) -> Vec<f64> {
    const ROUNDS: usize = 5;
    let mut best = vec![0.0f64; fs.len()];
    for _ in 0..ROUNDS {
        for (i, f) in fs.iter_mut().enumerate() {
            best[i] = best[i].max(rate(secs / ROUNDS as f64, &mut **f));
        }
    }
    best
}

fn request() -> IssuanceRequest {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("subscriber key");
    let now = time::OffsetDateTime::now_utc();
    IssuanceRequest {
        serial: Serial::random(),
        subject: SubjectInfo {
            common_name: "Jane Builder".into(),
            organization: "Example Widgets GmbH".into(),
            organizational_unit: Some("Release Engineering".into()),
            locality: Some("Munich".into()),
            state: Some("Bavaria".into()),
            country: "DE".into(),
            business_category: Some("Private Organization".into()),
            jurisdiction_country: Some("DE".into()),
            jurisdiction_state: Some("Bavaria".into()),
            jurisdiction_locality: Some("Munich".into()),
            registration_number: Some("HRB 123456".into()),
        },
        email: "jane.builder@example.com".into(),
        spki_der: key.subject_public_key_info(),
        template: Template::Ev,
        not_before: now,
        not_after: now + time::Duration::days(365),
    }
}

fn main() {
    // `cargo bench` passes --bench; nothing else to parse.
    let secs = seconds();
    let clock = signet::clock::system();
    let req = request();
    println!("signet CA core benchmark: {secs} s per measurement, one thread");
    println!(
        "{:<8} {:>6} {:>11} {:>11} {:>7} {:>11} {:>7} {:>9} {:>9} {:>9}",
        "issuer",
        "tbs(B)",
        "raw sign/s",
        "issue/s",
        "ratio",
        "issue-v/s",
        "ratio-v",
        "sign(us)",
        "issue(us)",
        "issue-v(us)"
    );
    let mut worst: f64 = f64::INFINITY;
    let mut worst_verifying: f64 = f64::INFINITY;
    let algs: Vec<String> = std::env::var("SIGNET_BENCH_ALGS")
        .map(|s| s.split(',').map(|a| a.trim().to_string()).collect())
        .unwrap_or_else(|_| vec!["p256".into(), "p384".into(), "rsa4096".into()]);
    for alg in &algs {
        let dir = tempfile::tempdir().expect("temp dir");
        let cfg = CaConfig {
            algorithm: alg.clone(),
            crl_url: "http://127.0.0.1:9090/crl/issuing.crl".into(),
            issuer_url: "http://127.0.0.1:9090/ca/issuing.crt".into(),
            ..CaConfig::default()
        };
        // The same issuing CA twice: the default configuration and
        // `verify_signatures = true` (verify every signature).
        let ca = Ca::load_or_create(dir.path(), &cfg, &clock).expect("dev CA");
        let verifying = Ca::load_or_create(
            dir.path(),
            &CaConfig {
                verify_signatures: true,
                ..cfg.clone()
            },
            &clock,
        )
        .expect("dev CA");
        let der = ca.issue(&req).expect("issue");
        // The TBSCertificate of a real certificate is the message size.
        let tbs_len = {
            use x509_parser::prelude::FromDer;
            let (_, cert) =
                x509_parser::certificate::X509Certificate::from_der(&der).expect("parse");
            cert.tbs_certificate.as_ref().len()
        };
        let msg: Vec<u8> = (0..tbs_len).map(|i| (i * 31 % 251) as u8).collect();

        if std::env::var("SIGNET_BENCH_PROFILE").as_deref() == Ok("issue") {
            // For `perf record`: only the default issuance loop.
            let r = rate(secs, &mut || {
                std::hint::black_box(ca.issue(&req).expect("issue"));
            });
            println!("{alg}: issuance {r:.0}/s");
            continue;
        }
        let rates = interleaved(
            secs,
            &mut [
                &mut || {
                    std::hint::black_box(ca.sign_raw(std::hint::black_box(&msg)).expect("sign"));
                },
                &mut || {
                    std::hint::black_box(ca.issue(std::hint::black_box(&req)).expect("issue"));
                },
                &mut || {
                    std::hint::black_box(
                        verifying.issue(std::hint::black_box(&req)).expect("issue"),
                    );
                },
            ],
        );
        let (sign_rate, issue_rate, verifying_rate) = (rates[0], rates[1], rates[2]);
        let ratio = issue_rate / sign_rate;
        let ratio_v = verifying_rate / sign_rate;
        worst = worst.min(ratio);
        worst_verifying = worst_verifying.min(ratio_v);
        println!(
            "{:<8} {:>6} {:>11.0} {:>11.0} {:>7.3} {:>11.0} {:>7.3} {:>9.1} {:>9.1} {:>9.1}",
            ca.algorithm(),
            tbs_len,
            sign_rate,
            issue_rate,
            ratio,
            verifying_rate,
            ratio_v,
            1e6 / sign_rate,
            1e6 / issue_rate,
            1e6 / verifying_rate
        );
    }
    println!(
        "worst issue/sign ratio: {worst:.3} with the default configuration (goal >= 0.9), \
         {worst_verifying:.3} with ca.verify_signatures = true"
    );
}
