//! Renewal lineage (issue 19 point 1), against a real server over EST the
//! way a build agent's script does it (openssl + curl): a certificate renews
//! once, also under 20 parallel renewals with 20 new keys; the renewed
//! certificate is superseded (on the CRL with reason superseded) after the
//! grace period; a keyCompromise revocation with `lineage` takes every
//! certificate renewed from it; `cert show` lists ancestors and descendants;
//! ACME `replaces` follows the same rule.

mod acme_support;
mod common;
mod est_support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use common::TestServer;
use est_support::Work;
use serde_json::{json, Value};
use signet::clock::FakeClock;
use signet::ra::NewInvitation;
use time::{Duration, OffsetDateTime};

fn norm(serial: &str) -> String {
    serial
        .to_ascii_lowercase()
        .trim_start_matches('0')
        .to_string()
}

/// Organization, department, profile `cs`, endpoint `builds` with account `agents`.
fn directory(server: &TestServer) {
    common::build_agent_directory(server);
}

fn est(server: &TestServer, op: &str) -> String {
    format!("{}/.well-known/est/{op}", server.base_url)
}

/// First enrollment: leaves `<name>.key` and `<name>.pem`; returns the serial.
fn enroll(server: &TestServer, w: &Work, name: &str) -> String {
    let inv = server
        .app
        .ra
        .create_invitation(
            &NewInvitation {
                email: format!("{name}@example.com"),
                account: "agents".into(),
                profile: None,
                ttl_days: None,
            },
            "test",
        )
        .unwrap();
    w.ec_key(&format!("{name}.key"));
    w.csr(&format!("{name}.key"), "/CN=agent", &format!("{name}.csr"));
    let user = format!("{}:{}", inv.kid, inv.hmac_key);
    let out = format!("{name}.out");
    let (status, _) = w.post_csr(
        &est(server, "simpleenroll"),
        &format!("{name}.csr"),
        &["-u", &user],
        &out,
    );
    assert_eq!(status, 200, "{}", w.text(&out));
    w.cert_of(&out, &format!("{name}.pem"));
    w.serial(&format!("{name}.pem"))
}

/// Renews `old` (`<old>.pem` + `<old>.key`) with the new key `<new>.key`:
/// the status; on 200 `<new>.pem` holds the certificate, else `<new>.out` the error.
fn renew(server: &TestServer, w: &Work, old: &str, new: &str) -> u16 {
    w.ec_key(&format!("{new}.key"));
    w.renewal_csr(
        &format!("{old}.pem"),
        &format!("{new}.key"),
        &format!("{new}.csr"),
    );
    resend(server, w, old, new)
}

/// Sends `<new>.csr` again, authenticated by `<old>`.
fn resend(server: &TestServer, w: &Work, old: &str, new: &str) -> u16 {
    let (cert, key) = (format!("{old}.pem"), format!("{old}.key"));
    let out = format!("{new}.out");
    let (status, _) = w.post_csr(
        &est(server, "simplereenroll"),
        &format!("{new}.csr"),
        &["--cert", &cert, "--key", &key],
        &out,
    );
    if status == 200 {
        w.cert_of(&out, &format!("{new}.pem"));
    }
    status
}

/// The CRL reason of `serial` on the CRL served over plain HTTP (None: not on it).
fn crl_reason(server: &TestServer, serial: &str) -> Option<u8> {
    let crl = server.http_get("/crl/issuing.crl");
    assert_eq!(crl.status, 200);
    let (_, parsed) = x509_parser::parse_x509_crl(&crl.body).expect("CRL parses");
    let reason = parsed
        .iter_revoked_certificates()
        .find(|e| norm(&hex::encode(e.raw_serial())) == norm(serial))
        .map(|e| e.reason_code().map_or(0, |r| r.1 .0));
    reason
}

fn show(server: &TestServer, serial: &str) -> Value {
    let r = server.admin("GET", &format!("/admin/v1/certificates/{serial}"), None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Runs `signet admin --json ARGS` against `server`: (success, stdout, stderr).
fn cli(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_signet"))
        .arg("admin")
        .arg(format!("--url={}", server.base_url))
        .arg(format!("--token={}", server.admin_token))
        .arg("--ca-file")
        .arg(server.data_dir.join("ca/tls-ca.pem"))
        .arg("--json")
        .args(args)
        .output()
        .expect("run signet admin");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn twenty_parallel_renewals_issue_exactly_one_certificate() {
    let server = TestServer::start();
    directory(&server);
    let w = Work::new(&server);
    let old = enroll(&server, &w, "a");
    for i in 0..20 {
        w.ec_key(&format!("n{i}.key"));
        w.renewal_csr("a.pem", &format!("n{i}.key"), &format!("n{i}.csr"));
    }
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let (server, w) = (&server, &w);
                s.spawn(move || resend(server, w, "a", &format!("n{i}")))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<usize> = (0..20).filter(|i| statuses[*i] == 200).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one renewal is issued: {statuses:?}"
    );
    let winner = w.serial(&format!("n{}.pem", winners[0]));
    for i in (0..20).filter(|i| statuses[*i] != 200) {
        let body = w.text(&format!("n{i}.out"));
        assert_eq!(statuses[i], 409, "{body}");
        assert!(
            body.contains(&format!(
                "certificate {old} was already renewed by certificate {winner}"
            )),
            "{body}"
        );
    }
    // the store agrees: one certificate renews the old one
    let renewals: Vec<_> = server
        .app
        .store
        .list_certificates()
        .unwrap()
        .into_iter()
        .filter(|c| c.lineage.renews.as_deref() == Some(old.as_str()))
        .collect();
    assert_eq!(renewals.len(), 1);
    assert_eq!(renewals[0].serial, winner);

    // a resend of the winning request returns the same certificate
    let again = format!("n{}", winners[0]);
    let first = w.text(&format!("{again}.pem"));
    assert_eq!(resend(&server, &w, "a", &again), 200);
    assert_eq!(w.text(&format!("{again}.pem")), first);
    // the renewed (old) certificate does not renew again, with a new key
    assert_eq!(renew(&server, &w, "a", "late"), 409);
    assert!(w
        .text("late.out")
        .contains(&format!("already renewed by certificate {winner}")));
    // the renewal renews in turn
    let status = renew(&server, &w, &again, "next");
    assert_eq!(status, 200, "{}", w.text("next.out"));
}

#[test]
fn the_renewed_certificate_is_superseded_after_the_grace_period() {
    let clock = Arc::new(FakeClock::new(OffsetDateTime::now_utc()));
    let server = TestServer::start_with_clock(clock.clone(), |_| {});
    directory(&server);
    let w = Work::new(&server);
    let old = enroll(&server, &w, "a");
    assert_eq!(renew(&server, &w, "a", "b"), 200);
    let new = w.serial("b.pem");
    // within the grace period (24 hours by default) both stay valid
    clock.advance(Duration::hours(23));
    server.app.ra.periodic().unwrap();
    assert_eq!(crl_reason(&server, &old), None);
    assert_eq!(show(&server, &old)["status"], "issued");
    // after it, the old one is revoked as superseded; the new one stays
    clock.advance(Duration::hours(2));
    server.app.ra.periodic().unwrap();
    assert_eq!(crl_reason(&server, &old), Some(4), "superseded");
    assert_eq!(crl_reason(&server, &new), None);
    let v = show(&server, &old);
    assert_eq!(v["revocation"]["reason_code"], 4);
    assert_eq!(v["descendants"], json!([new]));
    let audit = server.app.store.audit_records().unwrap();
    assert!(audit.iter().any(|r| r.action == "certificate.revoke"
        && r.details["superseded_by"] == new.as_str()
        && r.actor == "system"));
}

#[test]
fn a_grace_period_of_zero_supersedes_at_once_and_key_compromise_still_applies() {
    let server = TestServer::start_with(|c| c.ra.renewal_grace_hours = 0);
    directory(&server);
    let w = Work::new(&server);
    let a = enroll(&server, &w, "a");
    assert_eq!(renew(&server, &w, "a", "b"), 200);
    let b = w.serial("b.pem");
    // the background duty is woken by the renewal: wait for its CRL
    let deadline = Instant::now() + StdDuration::from_secs(60);
    while crl_reason(&server, &a).is_none() && Instant::now() < deadline {
        std::thread::sleep(StdDuration::from_millis(100));
    }
    assert_eq!(crl_reason(&server, &a), Some(4), "superseded by the duty");
    assert_eq!(crl_reason(&server, &b), None);
    // a superseded certificate whose key turns out compromised: the reason
    // becomes keyCompromise, and the lineage after it goes too
    let r = server.admin(
        "POST",
        &format!("/admin/v1/certificates/{a}/revoke"),
        Some(&json!({"reason": "keyCompromise", "lineage": true})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["descendants_revoked"], json!([b]));
    assert_eq!(crl_reason(&server, &a), Some(1));
    assert_eq!(crl_reason(&server, &b), Some(1));
}

#[test]
fn key_compromise_with_lineage_revokes_every_descendant_and_show_lists_them() {
    let server = TestServer::start();
    directory(&server);
    let w = Work::new(&server);
    let a = enroll(&server, &w, "a");
    assert_eq!(renew(&server, &w, "a", "b"), 200);
    let b = w.serial("b.pem");
    assert_eq!(renew(&server, &w, "b", "c"), 200);
    let c = w.serial("c.pem");

    // cert show (API and CLI): ancestors and descendants, nearest first
    let va = show(&server, &a);
    assert_eq!(va["descendants"], json!([b, c]));
    assert_eq!(va["ancestors"], json!([]));
    let vc = show(&server, &c);
    assert_eq!(vc["ancestors"], json!([b, a]));
    assert_eq!(vc["lineage"]["renews"], b.as_str());
    let (ok, out, err) = cli(&server, &["cert", "show", &a]);
    assert!(ok, "{err}");
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["descendants"], json!([b, c]));

    // lineage goes with keyCompromise only
    let r = server.admin(
        "POST",
        &format!("/admin/v1/certificates/{a}/revoke"),
        Some(&json!({"reason": "superseded", "lineage": true})),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["field"], "lineage");
    assert_eq!(crl_reason(&server, &a), None);

    // the CLI flag: A and everything renewed from it
    let (ok, out, err) = cli(
        &server,
        &[
            "cert",
            "revoke",
            &a,
            "--reason",
            "keyCompromise",
            "--lineage",
        ],
    );
    assert!(ok, "{err}");
    let revoked: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(revoked["descendants_revoked"], json!([b, c]));
    for s in [&a, &b, &c] {
        assert_eq!(crl_reason(&server, s), Some(1), "{s} on the CRL");
    }
    // the descendants cannot renew any more, nor can their keys come back
    assert_eq!(renew(&server, &w, "c", "d"), 401);
    assert!(w.text("d.out").contains("revoked"));
    let audit = server.app.store.audit_records().unwrap();
    let rec = audit
        .iter()
        .rev()
        .find(|r| r.action == "certificate.revoke")
        .unwrap();
    assert_eq!(rec.details["descendants"], json!([b, c]));
}

#[test]
fn without_lineage_a_key_compromise_revokes_the_certificate_alone() {
    let server = TestServer::start();
    directory(&server);
    let w = Work::new(&server);
    let a = enroll(&server, &w, "a");
    assert_eq!(renew(&server, &w, "a", "b"), 200);
    let b = w.serial("b.pem");
    let r = server.admin(
        "POST",
        &format!("/admin/v1/certificates/{a}/revoke"),
        Some(&json!({"reason": "keyCompromise"})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["descendants_revoked"], json!([]));
    assert_eq!(crl_reason(&server, &a), Some(1));
    assert_eq!(crl_reason(&server, &b), None);
    assert_eq!(show(&server, &b)["status"], "issued");
}

#[test]
fn acme_replaces_renews_once_and_the_replaced_certificate_is_superseded() {
    use acme_support::{csr, expect_problem, issue, poll, seed, Client};
    let clock = Arc::new(FakeClock::new(OffsetDateTime::now_utc()));
    let srv = TestServer::start_with_clock(clock.clone(), |_| {});
    seed(&srv);
    let c = Client::registered(&srv, "dev@example.com");
    let (cert_url, _) = issue(&c, "dev@example.com");
    let old = cert_url.rsplit('/').next().unwrap().to_string();
    let der = ::pem::parse_many(c.post(&cert_url, None).body).unwrap()[0]
        .contents()
        .to_vec();
    let id = signet::acme::ari::cert_id(&der).unwrap();
    let new_order = || {
        c.post(
            "/acme/new-order",
            Some(json!({"identifiers": [{"type": "email", "value": "dev@example.com"}], "replaces": id})),
        )
    };
    let r = new_order();
    assert_eq!(r.status, 201, "{}", r.text());
    let order_url = r.header("location").unwrap().to_string();
    let order = poll(&c, &order_url, &["pending"]);
    assert_eq!(order["status"], "ready", "{order}");
    let (pem, _) = csr(Some("dev@example.com"));
    let r = c.post(
        order["finalize"].as_str().unwrap(),
        Some(json!({"csr": pem})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let order = poll(&c, &order_url, &["processing"]);
    let new = order["certificate"]
        .as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    // recorded as the lineage
    assert_eq!(show(&srv, &old)["descendants"], json!([new]));
    // replaced once: a second order naming it is refused, naming the replacement
    let p = expect_problem(&new_order(), "alreadyReplaced");
    assert!(p["detail"].as_str().unwrap().contains(&new), "{p}");
    // superseded after the grace period
    clock.advance(Duration::hours(25));
    srv.app.ra.periodic().unwrap();
    assert_eq!(crl_reason(&srv, &old), Some(4));
    assert_eq!(crl_reason(&srv, &new), None);
}
