//! What a new user meets first, driven through the real `signet` binary:
//! a second server on a data directory already in use, a listener given as
//! a host name, and an invitation mail whose commands can be copied from
//! the raw message.

mod support;

use std::process::Command;

use support::{serve_command as serve, stop_serve as stop, wait_listening, AdminServer};

#[test]
fn a_second_server_on_the_same_data_directory_says_another_signet_runs_there() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = serve(dir.path(), "127.0.0.1:0", &[]).spawn().unwrap();
    wait_listening(&mut first, dir.path());

    let out = serve(dir.path(), "127.0.0.1:0", &[]).output().unwrap();
    stop(first);
    assert!(!out.status.success(), "the second server must not start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("another signet is probably running on this data directory"),
        "{err}"
    );
    assert!(!err.contains("Os {"), "no raw OS error: {err}");
}

#[test]
fn serve_accepts_a_host_name_in_listen() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = serve(dir.path(), "localhost:0", &[]).spawn().unwrap();
    let url = wait_listening(&mut child, dir.path());
    // the HTTPS listener answers on the loopback address localhost resolves to
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(dir.path().join("ca/tls-ca.pem"))
        .arg(format!("{url}/acme/directory"))
        .output()
        .expect("curl");
    stop(child);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{url}");
}

/// The invitation mail goes out 7bit with short lines, so its certbot
/// command survives a copy from the raw message; pasted into a shell it
/// carries the invitation's own credentials.
#[test]
fn the_invitation_mail_is_7bit_and_its_commands_can_be_copied() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let inv = srv.admin_json(&[
        "invite",
        "--email",
        "dev@acme.example",
        "--account",
        "release",
    ]);
    let outbox = srv.data_dir().join("outbox");
    let raw: Vec<String> = std::fs::read_dir(&outbox)
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .filter(|m| m.contains("To: dev@acme.example"))
        .collect();
    assert_eq!(raw.len(), 1);
    let raw = &raw[0];
    let (headers, body) = raw.split_once("\r\n\r\n").expect("headers and body");
    assert!(
        headers
            .to_ascii_lowercase()
            .contains("content-transfer-encoding: 7bit"),
        "{headers}"
    );
    for line in body.split("\r\n") {
        assert!(line.len() <= 78, "line too long for a mail: {line:?}");
    }
    // the certbot command, joined at its `\` continuations
    let joined = body.replace(" \\\r\n", " ");
    let command = joined
        .split("\r\n")
        .map(str::trim)
        .find(|l| l.starts_with("certbot register"))
        .expect("a certbot command");
    let kid = inv["kid"].as_str().unwrap();
    let key = inv["hmac_key"].as_str().unwrap();
    let directory = inv["directory"].as_str().unwrap();
    let expected = format!(
        "certbot register --agree-tos --no-eff-email --server {directory} \
         --eab-kid={kid} --eab-hmac-key={key} -m dev@acme.example"
    );
    let words = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    assert_eq!(words(command), words(&expected));
}
