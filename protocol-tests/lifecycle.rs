//! Black-box lifecycle tests: approval, decline, revocation and CRLs,
//! notifications, the audit log.

mod support;

use std::process::Command;

use support::{openssl_csr, run, venv_tool, AdminServer};

fn http_get(url: &str) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", url])
        .output()
        .expect("curl");
    let mut body = out.stdout;
    let pos = body.iter().rposition(|b| *b == b'\n').unwrap();
    let code: u16 = String::from_utf8_lossy(&body[pos + 1..])
        .trim()
        .parse()
        .unwrap();
    body.truncate(pos);
    (code, body)
}

fn request(srv: &AdminServer, dir: &std::path::Path, name: &str) -> serde_json::Value {
    let (_, csr) = openssl_csr(dir, name, "p256", &[]);
    srv.admin_json(&[
        "cert",
        "request",
        "--account",
        "release",
        "--email",
        "dev@acme.example",
        "--csr",
        csr.to_str().unwrap(),
    ])
}

fn outbox_to(srv: &AdminServer, to: &str, subject_part: &str) -> usize {
    // notifications are written by a background thread: wait for the queue
    let ra = &srv.server.as_ref().unwrap().app.ra;
    assert!(ra.flush_notifications(std::time::Duration::from_secs(10)));
    std::fs::read_dir(srv.data_dir().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|m| m.contains(&format!("To: {to}")) && m.contains(subject_part))
        .count()
}

#[test]
fn approval_then_issue_and_decline_with_reason() {
    let srv = AdminServer::start_with(|c| {
        c.notifications.admin_emails = vec!["pki@acme.example".into()];
    });
    srv.standard_directory(true);
    let dir = tempfile::tempdir().unwrap();
    let pending = request(&srv, dir.path(), "a");
    assert_eq!(pending["status"], "applied");
    let id = pending["request"]["id"].as_str().unwrap().to_string();
    assert_eq!(srv.admin_json(&["cert", "list"]), serde_json::json!([]));
    assert_eq!(outbox_to(&srv, "pki@acme.example", "needs approval"), 1);

    let issued = srv.admin_json(&["request", "approve", &id, "--message", "ok by Alice"]);
    assert_eq!(issued["status"], "issued");
    let serial = issued["serial"].as_str().unwrap();
    assert_eq!(
        srv.admin_json(&["cert", "show", serial])["status"],
        "issued"
    );
    let req = srv.admin_json(&["request", "show", &id]);
    assert_eq!(req["status"], "issued");
    assert_eq!(outbox_to(&srv, "dev@acme.example", "has been issued"), 1);
    // an approved request cannot be decided again
    assert!(srv
        .admin_fails(&["request", "decline", &id, "--reason", "late"])
        .contains("409"));

    let second = request(&srv, dir.path(), "b");
    let id2 = second["request"]["id"].as_str().unwrap();
    let declined = srv.admin_json(&["request", "decline", id2, "--reason", "not a release key"]);
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["message"], "not a release key");
    assert_eq!(outbox_to(&srv, "dev@acme.example", "was declined"), 1);
    assert_eq!(
        srv.admin_json(&["cert", "list"]).as_array().unwrap().len(),
        1
    );
}

#[test]
fn revocation_lands_on_a_valid_crl_and_blocks_compromised_keys() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let dir = tempfile::tempdir().unwrap();
    let (_, csr) = openssl_csr(dir.path(), "k", "p256", &[]);
    let args = [
        "cert",
        "request",
        "--account",
        "release",
        "--email",
        "dev@acme.example",
        "--csr",
        csr.to_str().unwrap(),
    ];
    let c = srv.admin_json(&args);
    let serial = c["serial"].as_str().unwrap().to_string();
    let (code, before) = http_get(&format!("{}/crl/issuing.crl", srv.http_url));
    assert_eq!(code, 200);

    let r = srv.admin_json(&["cert", "revoke", &serial, "--reason", "keyCompromise"]);
    assert_eq!(r["status"], "revoked");
    assert!(srv
        .admin_fails(&["cert", "revoke", &serial])
        .contains("409"));
    assert_eq!(outbox_to(&srv, "dev@acme.example", "has been revoked"), 1);

    let (code, der) = http_get(&format!("{}/crl/issuing.crl", srv.http_url));
    assert_eq!(code, 200);
    assert_ne!(der, before, "a new CRL is published on revocation");
    let crl_path = dir.path().join("issuing.crl");
    std::fs::write(&crl_path, &der).unwrap();
    let text = run(Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&crl_path)
        .arg("-CAfile")
        .arg(srv.issuing_pem()));
    assert!(
        text.to_lowercase()
            .contains(&serial.trim_start_matches('0').to_lowercase()),
        "{text}"
    );
    assert!(text.contains("Key Compromise"), "{text}");
    let verify = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-in"])
        .arg(&crl_path)
        .arg("-CAfile")
        .arg(srv.issuing_pem())
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&verify.stderr).contains("verify OK"),
        "{verify:?}"
    );
    // PEM on request
    let (_, pem_crl) = http_get(&format!("{}/crl/issuing.crl?format=pem", srv.http_url));
    assert!(String::from_utf8_lossy(&pem_crl).starts_with("-----BEGIN X509 CRL-----"));

    // pkilint: no ERROR or FATAL findings
    for profile in ["PKIX", "BR"] {
        let lint = Command::new(venv_tool("lint_crl"))
            .args([
                "lint",
                "-t",
                "CRL",
                "-p",
                profile,
                "-s",
                "ERROR",
                "--document-format",
                "DER",
            ])
            .arg(&crl_path)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&lint.stdout).to_string()
            + &String::from_utf8_lossy(&lint.stderr);
        eprintln!("lint_crl {profile}: {report}");
        assert!(lint.status.success(), "lint_crl {profile} failed: {report}");
        assert!(
            !report.contains("ERROR") && !report.contains("FATAL"),
            "{report}"
        );
    }

    // the compromised key is refused from now on
    let err = srv.admin_fails(&args);
    assert!(err.contains("compromised"), "{err}");
}

#[test]
fn crl_is_refreshed_before_next_update_on_a_fake_clock() {
    let srv = AdminServer::start();
    let ra = srv.server.as_ref().unwrap().app.ra.clone();
    let first = ra.current_crl().unwrap();
    assert!(first.next_update - first.this_update <= time::Duration::days(10));
    let mut last = first.clone();
    // walk 60 days in 6-hour steps, running the background duty each time
    for _ in 0..240 {
        srv.clock.advance(time::Duration::hours(6));
        ra.periodic().unwrap();
        let now = ra.clock().now();
        let cur = srv
            .server
            .as_ref()
            .unwrap()
            .app
            .store
            .current_crl()
            .unwrap()
            .unwrap();
        assert!(cur.next_update > now, "nextUpdate passed at {now}");
        assert!(cur.number >= last.number);
        last = cur;
    }
    assert!(
        last.number >= first.number + 8,
        "re-signed regularly: {}",
        last.number
    );
}

#[test]
fn expiry_reminders_are_sent_once_per_threshold() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let dir = tempfile::tempdir().unwrap();
    let (_, csr) = openssl_csr(dir.path(), "e", "p256", &[]);
    srv.admin_json(&[
        "cert",
        "request",
        "--account",
        "release",
        "--email",
        "dev@acme.example",
        "--csr",
        csr.to_str().unwrap(),
        "--term",
        "365",
    ]);
    let ra = srv.server.as_ref().unwrap().app.ra.clone();
    assert_eq!(ra.notify_expiring().unwrap(), 0);
    srv.clock.advance(time::Duration::days(336)); // 29 days left
    assert_eq!(ra.notify_expiring().unwrap(), 1);
    assert_eq!(ra.notify_expiring().unwrap(), 0, "sent once");
    srv.clock.advance(time::Duration::days(23)); // 6 days left
    assert_eq!(ra.notify_expiring().unwrap(), 1);
    assert_eq!(outbox_to(&srv, "dev@acme.example", "expires in 30 day"), 1);
    assert_eq!(outbox_to(&srv, "dev@acme.example", "expires in 7 day"), 1);
}

#[test]
fn audit_log_records_an_enrollment_in_order_and_verifies() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    srv.admin_json(&[
        "invite",
        "--email",
        "dev@acme.example",
        "--account",
        "release",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let c = request(&srv, dir.path(), "x");
    srv.admin_json(&[
        "cert",
        "revoke",
        c["serial"].as_str().unwrap(),
        "--reason",
        "superseded",
    ]);
    let v = srv.admin_json(&["audit", "verify"]);
    assert_eq!(v["intact"], true);
    let out = srv.admin(&["audit", "export"]);
    assert!(out.status.success());
    let actions: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["action"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let expected = [
        "organization.create",
        "department.create",
        "profile.create",
        "endpoint.create",
        "account.create",
        "invitation.create",
        "certificate.issue",
        "certificate.revoke",
        "crl.publish",
    ];
    let mut it = actions.iter();
    for want in expected {
        assert!(
            it.any(|a| a == want),
            "{want} missing or out of order in {actions:?}"
        );
    }
}

#[test]
fn audit_verify_names_the_first_tampered_record() {
    for tamper in ["flip", "delete", "swap"] {
        let mut srv = AdminServer::start();
        srv.standard_directory(false);
        let store = srv.server.as_ref().unwrap().app.store.clone();
        match tamper {
            "flip" => {
                let mut raw = store.audit_raw(3).unwrap();
                let i = raw.iter().position(|b| *b == b'e').unwrap();
                raw[i] = b'f';
                store.tamper_audit_raw(3, Some(&raw)).unwrap();
            }
            "delete" => store.tamper_audit_raw(3, None).unwrap(),
            _ => {
                let (a, b) = (store.audit_raw(3).unwrap(), store.audit_raw(4).unwrap());
                store.tamper_audit_raw(3, Some(&b)).unwrap();
                store.tamper_audit_raw(4, Some(&a)).unwrap();
            }
        }
        let out = srv.admin(&["audit", "verify"]);
        assert!(!out.status.success(), "{tamper}: verify must fail");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["intact"], false, "{tamper}");
        let bad = v["first_bad_record"].as_u64().unwrap();
        let want = if tamper == "delete" { 4 } else { 3 };
        assert_eq!(bad, want, "{tamper}: {v}");
        srv.stop();
    }
}
