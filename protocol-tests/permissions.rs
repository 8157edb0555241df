//! Issue 19.3: the data directory is private to the user running Signet.
//! A pre-existing 0755 data directory is tightened to 0700 and everything
//! Signet writes into it (store, CA keys, admin token, outbox mails, inbox
//! spool) is 0600; a directory or key file others may write, or one owned by
//! another user, stops the start with a message saying so.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::TestServer;
use signet::ra::NewInvitation;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Every entry under `dir` (not `dir` itself) with its mode.
fn tree(dir: &Path) -> Vec<(PathBuf, bool, u32)> {
    let mut out = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(d) = pending.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                pending.push(path.clone());
            }
            out.push((path, meta.is_dir(), meta.permissions().mode() & 0o7777));
        }
    }
    out
}

/// Organization, department, profile, endpoint and account, then one
/// invitation (a mail with its HMAC key lands in the outbox).
fn invite(server: &TestServer) {
    common::build_agent_directory(server);
    let ra = &server.app.ra;
    ra.create_invitation(
        &NewInvitation {
            email: "dev@example.com".into(),
            account: "agents".into(),
            profile: None,
            ttl_days: None,
        },
        "test",
    )
    .unwrap();
}

#[test]
fn a_0755_data_dir_becomes_0700_and_every_file_in_it_0600() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    // a file left by an older version, readable by everyone
    std::fs::write(data.join("server-url"), "https://old\n").unwrap();
    std::fs::set_permissions(
        data.join("server-url"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let server = TestServer::start_in(&data, |_| {});
    invite(&server);
    assert_eq!(
        server.outbox().len(),
        1,
        "the invitation mail is in the outbox"
    );
    // a mail reply spooled the way `signet mail ingest` does it
    let spooled = signet::acme::spool_reply(
        &data.join("mail-inbox"),
        b"From: dev@example.com\r\nSubject: Re: ACME: x\r\n\r\nbody\r\n",
    )
    .unwrap();
    assert_eq!(mode(&spooled), 0o600);
    server.stop();

    assert_eq!(mode(&data), 0o700, "the data directory is private");
    let entries = tree(&data);
    for sub in ["store", "ca", "outbox", "mail-inbox"] {
        assert!(
            entries
                .iter()
                .any(|(p, dir, _)| *dir && p == &data.join(sub)),
            "{sub}/ exists: {entries:?}"
        );
    }
    assert!(
        entries.iter().filter(|(_, dir, _)| !dir).count() >= 8,
        "store, CA, token, mail and spool files were written: {entries:?}"
    );
    let public: Vec<_> = entries
        .iter()
        .filter(|(_, dir, m)| *m != if *dir { 0o700 } else { 0o600 })
        .collect();
    assert!(
        public.is_empty(),
        "directories must be 0700 and files 0600: {public:?}"
    );
}

#[test]
fn a_world_writable_data_dir_is_refused_with_a_message() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    let err = TestServer::try_start(TestServer::test_config(&data), signet::clock::system())
        .err()
        .expect("a 0777 data directory must be refused");
    assert!(err.contains("refusing to start"), "{err}");
    assert!(
        err.contains("writable by group or others (mode 0777)"),
        "{err}"
    );
    assert!(err.contains(&data.display().to_string()), "{err}");
    assert!(
        std::fs::read_dir(&data).unwrap().next().is_none(),
        "nothing is written into a refused data directory"
    );
}

#[test]
fn a_group_writable_ca_key_is_refused_at_the_next_start() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    TestServer::start_in(&data, |_| {}).stop();
    let key = data.join("ca").join("issuing.key.pem");
    assert_eq!(mode(&key), 0o600);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o660)).unwrap();
    let err = TestServer::try_start(TestServer::test_config(&data), signet::clock::system())
        .err()
        .expect("a group-writable CA key must be refused");
    assert!(err.contains("issuing.key.pem"), "{err}");
    assert!(
        err.contains("writable by group or others (mode 0660)"),
        "{err}"
    );
}

#[test]
fn a_data_dir_owned_by_another_user_is_refused() {
    let temp = tempfile::tempdir().unwrap();
    let me = rustix::process::geteuid().as_raw();
    let data = if me == 0 {
        // as root: hand a fresh directory to "nobody"
        let data = temp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::os::unix::fs::chown(&data, Some(65534), Some(65534)).unwrap();
        data
    } else {
        // as another user: the root directory is root's
        PathBuf::from("/")
    };
    let owner = std::fs::metadata(&data).unwrap().uid();
    assert_ne!(owner, me);
    let err = TestServer::try_start(TestServer::test_config(&data), signet::clock::system())
        .err()
        .expect("a data directory owned by another user must be refused");
    assert!(err.contains(&format!("owned by uid {owner}")), "{err}");
    assert!(err.contains("not by the user running signet"), "{err}");
}
