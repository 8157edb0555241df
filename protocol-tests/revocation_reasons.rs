//! CRL reasons and revocation dates (issue 18 point 5), against a real
//! server: certificateHold and the CA-only reasons refused on every path
//! (admin API, `signet admin cert revoke`, ACME revokeCert), and an
//! invalidity date set by the CA for a key compromise, read back from the
//! CRL fetched over plain HTTP and parsed with x509-parser.

mod acme_support;
mod common;

use std::process::Command;
use std::sync::Arc;

use acme_support::{b64, expect_problem, issue, seed, Client};
use common::TestServer;
use serde_json::{json, Value};
use signet::clock::{Clock, FakeClock};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};

/// Runs `signet admin --json ARGS` against `srv`: (success, stdout, stderr).
fn cli(srv: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_signet"))
        .arg("admin")
        .arg(format!("--url={}", srv.base_url))
        .arg(format!("--token={}", srv.admin_token))
        .arg("--ca-file")
        .arg(srv.data_dir.join("ca/tls-ca.pem"))
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

/// A certificate issued through the admin API (account `release`): its JSON view.
fn admin_issue(srv: &TestServer) -> Value {
    let (pem, _) = acme_support::csr(None);
    let r = srv.admin(
        "POST",
        "/admin/v1/certificates",
        Some(&json!({"account": "release", "email": "dev@example.com", "csr": pem})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

fn revoke(srv: &TestServer, serial: &str, body: Value) -> common::Response {
    srv.admin(
        "POST",
        &format!("/admin/v1/certificates/{serial}/revoke"),
        Some(&body),
    )
}

/// The CRL entry of `serial` on the CRL served over plain HTTP.
fn crl_entry(srv: &TestServer, serial: &str) -> Option<(u8, Option<i64>, i64)> {
    let crl = srv.http_get("/crl/issuing.crl");
    assert_eq!(crl.status, 200);
    let (_, parsed) = x509_parser::parse_x509_crl(&crl.body).expect("CRL parses");
    let entry = parsed.iter_revoked_certificates().find(|e| {
        hex::encode(e.raw_serial()).trim_start_matches('0') == serial.trim_start_matches('0')
    })?;
    Some((
        entry.reason_code().map_or(0, |r| r.1 .0),
        entry.invalidity_date().map(|d| d.1.timestamp()),
        entry.revocation_date.timestamp(),
    ))
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap()
}

#[test]
fn certificate_hold_and_ca_reasons_are_refused_on_every_path() {
    let srv = TestServer::start();
    seed(&srv);
    let serial = admin_issue(&srv)["serial"].as_str().unwrap().to_string();

    // admin API: a 400 naming the field and saying why
    for (reason, why) in [
        ("certificateHold", "cannot be suspended"),
        ("6", "cannot be suspended"),
        ("cACompromise", "CA certificates only"),
        ("aACompromise", "attribute authority"),
    ] {
        let r = revoke(&srv, &serial, json!({"reason": reason}));
        assert_eq!(r.status, 400, "{reason}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["field"], "reason", "{e}");
        assert!(e["message"].as_str().unwrap().contains(why), "{e}");
    }
    // the CLI
    let (ok, _, err) = cli(
        &srv,
        &["cert", "revoke", &serial, "--reason", "certificateHold"],
    );
    assert!(!ok && err.contains("cannot be suspended"), "{err}");
    // nothing was revoked by any refusal
    assert!(srv
        .app
        .ra
        .certificate(&serial)
        .unwrap()
        .revocation
        .is_none());
    assert!(crl_entry(&srv, &serial).is_none());

    // ACME revokeCert: badRevocationReason
    let c = Client::registered(&srv, "dev@example.com");
    let (cert_url, _) = issue(&c, "dev@example.com");
    let der = ::pem::parse_many(c.post(&cert_url, None).body).unwrap()[0]
        .contents()
        .to_vec();
    for (reason, why) in [
        (6, "cannot be suspended"),
        (2, "CA certificates"),
        (10, "attribute"),
    ] {
        let p = expect_problem(
            &c.post(
                "/acme/revoke-cert",
                Some(json!({"certificate": b64(&der), "reason": reason})),
            ),
            "badRevocationReason",
        );
        assert!(p["detail"].as_str().unwrap().contains(why), "{p}");
    }
    let acme_serial = cert_url.rsplit('/').next().unwrap();
    assert!(srv
        .app
        .ra
        .certificate(acme_serial)
        .unwrap()
        .revocation
        .is_none());
    // an accepted subscriber reason still works
    let r = c.post(
        "/acme/revoke-cert",
        Some(json!({"certificate": b64(&der), "reason": 5})),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(crl_entry(&srv, acme_serial).map(|e| e.0), Some(5));
}

#[test]
fn key_compromise_with_an_invalidity_date_is_on_the_crl() {
    let clock = Arc::new(FakeClock::new(OffsetDateTime::now_utc()));
    let srv = TestServer::start_with_clock(clock.clone(), |_| {});
    seed(&srv);
    let cert = admin_issue(&srv);
    let serial = cert["serial"].as_str().unwrap().to_string();
    let not_before = OffsetDateTime::parse(cert["not_before"].as_str().unwrap(), &Rfc3339).unwrap();
    clock.advance(Duration::hours(3));
    let now = clock.now();

    // refused: in the future, before notBefore, with a reason that is no compromise, malformed
    for (body, needle) in [
        (
            json!({"reason": "keyCompromise", "invalid_since": rfc3339(now + Duration::hours(1))}),
            "in the future",
        ),
        (
            json!({"reason": "keyCompromise", "invalid_since": rfc3339(not_before - Duration::hours(1))}),
            "notBefore",
        ),
        (
            json!({"reason": "superseded", "invalid_since": rfc3339(not_before)}),
            "keyCompromise",
        ),
        (
            json!({"reason": "keyCompromise", "invalid_since": "yesterday"}),
            "RFC 3339",
        ),
    ] {
        let r = revoke(&srv, &serial, body.clone());
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["field"], "invalid_since", "{e}");
        assert!(e["message"].as_str().unwrap().contains(needle), "{e}");
    }
    assert!(
        crl_entry(&srv, &serial).is_none(),
        "nothing revoked by a refusal"
    );

    let since = not_before + Duration::hours(1);
    let r = revoke(
        &srv,
        &serial,
        json!({"reason": "keyCompromise", "invalid_since": rfc3339(since)}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json()["revocation"]["invalid_since"],
        rfc3339(since).as_str()
    );

    // the CRL entry: keyCompromise, invalidityDate and revocationDate both the given time
    let (reason, invalidity, revocation_date) = crl_entry(&srv, &serial).expect("on the CRL");
    assert_eq!(reason, 1);
    assert_eq!(invalidity, Some(since.unix_timestamp()));
    assert_eq!(revocation_date, since.unix_timestamp());
    // the audit record keeps it, and when the revocation was made
    let audit = srv.app.store.audit_records().unwrap();
    let rec = audit
        .iter()
        .rev()
        .find(|r| r.action == "certificate.revoke")
        .unwrap();
    assert_eq!(rec.details["invalid_since"], rfc3339(since).as_str());
    assert_eq!(rec.at.unix_timestamp(), now.unix_timestamp());

    // the CLI flag: refused in the future (naming the field), then accepted
    let third = admin_issue(&srv);
    let third_serial = third["serial"].as_str().unwrap().to_string();
    let third_nb = OffsetDateTime::parse(third["not_before"].as_str().unwrap(), &Rfc3339).unwrap();
    let future = rfc3339(clock.now() + Duration::hours(2));
    let (ok, _, err) = cli(
        &srv,
        &[
            "cert",
            "revoke",
            &third_serial,
            "--reason",
            "keyCompromise",
            "--invalid-since",
            &future,
        ],
    );
    assert!(!ok && err.contains("invalid_since"), "{err}");
    clock.advance(Duration::minutes(10));
    let since_cli = rfc3339(third_nb + Duration::minutes(5));
    let (ok, _, err) = cli(
        &srv,
        &[
            "cert",
            "revoke",
            &third_serial,
            "--reason",
            "keyCompromise",
            "--invalid-since",
            &since_cli,
        ],
    );
    assert!(ok, "{err}");
    let (_, invalidity, _) = crl_entry(&srv, &third_serial).expect("on the CRL");
    assert_eq!(
        invalidity,
        Some((third_nb + Duration::minutes(5)).unix_timestamp())
    );

    // without an invalidity date: no extension, revocationDate = time of revocation
    let other = admin_issue(&srv)["serial"].as_str().unwrap().to_string();
    let r = revoke(&srv, &other, json!({"reason": "keyCompromise"}));
    assert_eq!(r.status, 200, "{}", r.text());
    let (reason, invalidity, revocation_date) = crl_entry(&srv, &other).expect("on the CRL");
    assert_eq!((reason, invalidity), (1, None));
    assert_eq!(revocation_date, clock.now().unix_timestamp());
}
