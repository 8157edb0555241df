//! Text from outside cannot forge a log line, rewrite the operator's
//! terminal or the requester's mail (issue 19.4): a renewal CSR whose
//! subject carries a newline and escape codes, and a decline reason with
//! escape codes, reach the server log, the EST reply and the mail escaped.
//! Driven through the real `signet serve` binary (its own log set-up) with
//! openssl and curl as the build agent.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

const FORGED_SUBJECT: &str =
    "/CN=agent\n2026-12-08T00:00:00.000000Z  INFO signet: forged line\u{1b}[2J";
const FORGED_REASON: &str = "no\u{1b}[31m red\nINFO forged reason line";

struct Served {
    child: Option<Child>,
    dir: tempfile::TempDir,
    url: String,
    log: PathBuf,
}

impl Served {
    fn start() -> Served {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let log = dir.path().join("server.log");
        let mut child = support::serve_command(
            &data,
            "127.0.0.1:0",
            &[
                ("SIGNET_LOG__LEVEL", "info"),
                ("SIGNET_CA__ALGORITHM", "p256"),
            ],
        )
        .env_remove("RUST_LOG")
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("signet serve");
        let url = support::wait_listening(&mut child, &data);
        Served {
            child: Some(child),
            dir,
            url,
            log,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The certificate that authenticates the HTTPS listener.
    fn tls_trust(&self) -> PathBuf {
        let tls_ca = self.data().join("ca").join("tls-ca.pem");
        if tls_ca.exists() {
            tls_ca
        } else {
            self.data().join("ca").join("root.pem")
        }
    }

    fn admin_json(&self, args: &[&str]) -> serde_json::Value {
        let token = std::fs::read_to_string(self.data().join("admin-token")).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_signet"))
            .arg("admin")
            .arg(format!("--url={}", self.url))
            .arg(format!("--token={}", token.trim()))
            .arg("--ca-file")
            .arg(self.tls_trust())
            .arg("--json")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "signet admin {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn log_text(&self) -> Vec<u8> {
        std::fs::read(&self.log).unwrap()
    }

    fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            support::stop_serve(child);
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{program} is missing ({e}): run scripts/install-test-deps"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// POSTs a PKCS#10 CSR (PEM file `csr`) to `url`; returns (status, body).
fn post_csr(s: &Served, dir: &Path, url: &str, csr: &str, auth: &[&str]) -> (u16, Vec<u8>) {
    run(
        dir,
        "openssl",
        &["req", "-in", csr, "-outform", "DER", "-out", "req.der"],
    );
    run(
        dir,
        "openssl",
        &["base64", "-in", "req.der", "-out", "req.b64"],
    );
    let trust = s.tls_trust();
    let mut args = vec![
        "-s",
        "-o",
        "body.out",
        "-w",
        "%{http_code}",
        "--cacert",
        trust.to_str().unwrap(),
        "-H",
        "Content-Type: application/pkcs10",
        "--data-binary",
        "@req.b64",
    ];
    args.extend_from_slice(auth);
    args.push(url);
    let status = run(dir, "curl", &args);
    let body = std::fs::read(dir.join("body.out")).unwrap_or_default();
    (status.trim().parse().unwrap(), body)
}

/// A P-256 key `<name>.key` and a CSR `<name>.csr` for `subject`.
fn key_and_csr(w: &Path, name: &str, subject: &str) {
    let key = format!("{name}.key");
    let csr = format!("{name}.csr");
    run(
        w,
        "openssl",
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &key,
        ],
    );
    run(
        w,
        "openssl",
        &["req", "-new", "-key", &key, "-subj", subject, "-out", &csr],
    );
}

fn assert_no_raw_controls(what: &str, bytes: &[u8]) {
    assert!(
        !bytes.contains(&0x1b),
        "{what} carries a raw ESC: {}",
        String::from_utf8_lossy(bytes)
    );
    let text = String::from_utf8_lossy(bytes);
    for line in text.lines() {
        assert!(
            !line.trim_start().starts_with("2026-12-08T00:00:00")
                && !line.trim_start().starts_with("INFO forged"),
            "{what} has a forged line: {line:?}"
        );
    }
}

fn directory(s: &Served) {
    support::standard_directory(|args| s.admin_json(args), false);
    s.admin_json(&[
        "profile",
        "create",
        "--name",
        "gated",
        "--template",
        "ov",
        "--term",
        "365",
        "--key-type",
        "ecdsa-p256",
        "--attestation",
        "optional",
        "--requires-approval",
    ]);
    s.admin_json(&[
        "account",
        "create",
        "--name",
        "gated",
        "--endpoint",
        "builds",
        "--org",
        "Acme Corp",
        "--dept",
        "Release",
        "--profile",
        "gated",
    ]);
}

fn credentials(s: &Served, email: &str, account: &str) -> String {
    let inv = s.admin_json(&["invite", "--email", email, "--account", account]);
    format!(
        "{}:{}",
        inv["kid"].as_str().unwrap(),
        inv["hmac_key"].as_str().unwrap()
    )
}

#[test]
fn a_renewal_subject_with_a_newline_and_escape_codes_reaches_log_and_reply_escaped() {
    let mut s = Served::start();
    directory(&s);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let user = credentials(&s, "agent@example.com", "release");
    key_and_csr(w, "a", "/CN=agent");
    let (status, body) = post_csr(
        &s,
        w,
        &format!("{}/.well-known/est/simpleenroll", s.url),
        "a.csr",
        &["-u", &user],
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    std::fs::write(w.join("a.p7.b64"), &body).unwrap();
    run(
        w,
        "openssl",
        &["base64", "-d", "-in", "a.p7.b64", "-out", "a.p7"],
    );
    run(
        w,
        "openssl",
        &[
            "pkcs7",
            "-inform",
            "DER",
            "-in",
            "a.p7",
            "-print_certs",
            "-out",
            "a.pem",
        ],
    );

    // the renewal CSR's subject differs, so the refusal quotes it
    run(
        w,
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            "a.key",
            "-utf8",
            "-subj",
            FORGED_SUBJECT,
            "-out",
            "evil.csr",
        ],
    );
    let (status, body) = post_csr(
        &s,
        w,
        &format!("{}/.well-known/est/simplereenroll", s.url),
        "evil.csr",
        &["--cert", "a.pem", "--key", "a.key"],
    );
    assert_eq!(status, 403, "{}", String::from_utf8_lossy(&body));
    let reply = String::from_utf8_lossy(&body);
    assert!(
        reply.contains("forged line\\u{1b}[2J"),
        "the reply shows the subject escaped: {reply}"
    );
    assert_no_raw_controls("the EST reply", &body);
    s.stop();
    let log = s.log_text();
    assert!(
        String::from_utf8_lossy(&log).contains("EST request refused"),
        "the refusal is logged: {}",
        String::from_utf8_lossy(&log)
    );
    assert_no_raw_controls("the server log", &log);
}

#[test]
fn a_decline_reason_with_escape_codes_reaches_reply_mail_and_log_escaped() {
    let mut s = Served::start();
    directory(&s);
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let user = credentials(&s, "gated@example.com", "gated");
    key_and_csr(w, "g", "/CN=gated");
    let url = format!("{}/.well-known/est/simpleenroll", s.url);
    let (status, body) = post_csr(&s, w, &url, "g.csr", &["-u", &user]);
    let waiting = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 202, "{waiting}");
    let id = waiting
        .split_whitespace()
        .nth(1)
        .unwrap_or_else(|| panic!("a request id in {waiting:?}"))
        .to_string();
    s.admin_json(&["request", "decline", &id, "--reason", FORGED_REASON]);

    let (status, body) = post_csr(&s, w, &url, "g.csr", &["-u", &user]);
    let reply = String::from_utf8_lossy(&body).into_owned();
    assert!(
        status >= 400,
        "a declined request is refused: {status} {reply}"
    );
    assert!(reply.contains("no\\u{1b}[31m red\\nINFO forged"), "{reply}");
    assert_no_raw_controls("the EST reply", &body);

    // the notification goes out from the notifier thread: wait for it
    let started = Instant::now();
    let mails = loop {
        let mails: Vec<Vec<u8>> = std::fs::read_dir(s.data().join("outbox"))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap_or_default())
            .filter(|m| String::from_utf8_lossy(m).contains("was declined"))
            .collect();
        if !mails.is_empty() || started.elapsed() > Duration::from_secs(20) {
            break mails;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(mails.len(), 1, "one decline mail");
    let mail = String::from_utf8_lossy(&mails[0]);
    assert!(mail.contains("no\\u{1b}[31m red"), "{mail}");
    // a mail body keeps the reason's line breaks (they forge nothing there)
    assert!(
        !mails[0].contains(&0x1b),
        "the decline mail carries a raw ESC: {mail}"
    );
    s.stop();
    assert_no_raw_controls("the server log", &s.log_text());
}
