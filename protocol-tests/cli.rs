//! The `signet admin` command line as people use it, driven through the real
//! `signet` binary against a running server: names with spaces in request
//! paths, serials as people paste them, objects referenced by id, name or
//! label, the server's data-directory settings, and what the CLI says about
//! what it did.

mod support;

use support::AdminServer;

/// `signet admin org show "Acme Corp"`: every path segment the CLI builds
/// is percent-encoded, so names with spaces, slashes, `?`, `#` and `%` reach
/// the server as one segment.
#[test]
fn names_with_spaces_and_reserved_characters_work_in_paths() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let v = srv.admin_json(&["org", "show", "Acme Corp"]);
    assert_eq!(v["name"], "Acme Corp");

    let odd = "R&D / Labs? #1 100%";
    let created = srv.admin_json(&[
        "org",
        "create",
        "--name",
        odd,
        "--city",
        "Berlin",
        "--country",
        "DE",
    ]);
    let v = srv.admin_json(&["org", "show", odd]);
    assert_eq!(v["name"], odd);
    assert_eq!(v["id"], created["id"]);
    // an encoded slash stays inside its segment: no other route is reached
    let err = srv.admin_fails(&["org", "show", "Acme Corp/../x"]);
    assert!(err.contains("404"), "{err}");
}

/// Issues a certificate to `dev@acme.example` through `cert request`;
/// returns its JSON view and the chain file.
fn issue(srv: &AdminServer, name: &str) -> (serde_json::Value, std::path::PathBuf) {
    let (_key, csr) = support::openssl_csr(srv.dir.path(), name, "p256", &[]);
    let v = srv.admin_json(&[
        "cert",
        "request",
        "--account",
        "release",
        "--profile",
        "cs",
        "--email",
        "dev@acme.example",
        "--csr",
        csr.to_str().unwrap(),
        "--term",
        "365",
    ]);
    let chain = srv.dir.path().join(format!("{name}-chain.pem"));
    std::fs::write(&chain, v["pem_chain"].as_str().unwrap()).unwrap();
    (v, chain)
}

/// `openssl x509 -serial` of the first certificate in `pem`: `0C0D74...`.
fn openssl_serial(pem: &std::path::Path) -> String {
    let out = support::run(
        std::process::Command::new("openssl")
            .args(["x509", "-noout", "-serial", "-in"])
            .arg(pem),
    );
    out.trim().strip_prefix("serial=").unwrap().to_string()
}

/// Serials as people paste them (upper case from `openssl x509 -serial`,
/// colons, `0x`) work for show, download and revoke; text that is not hex
/// is refused naming the field.
#[test]
fn serials_are_accepted_in_any_case_with_colons_or_0x() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let (cert, chain) = issue(&srv, "paste");
    let serial = cert["serial"].as_str().unwrap().to_string();
    let printed = openssl_serial(&chain);
    assert_eq!(
        printed,
        serial.to_ascii_uppercase(),
        "openssl prints upper case"
    );
    let colons = printed
        .as_bytes()
        .chunks(2)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(":");

    for given in [printed.clone(), colons.clone(), format!("0x{printed}")] {
        let v = srv.admin_json(&["cert", "show", &given]);
        assert_eq!(v["serial"], serial.as_str(), "cert show {given}");
    }
    let der = srv.dir.path().join("paste.der");
    let out = srv.admin(&[
        "cert",
        "download",
        &colons.to_ascii_lowercase(),
        "--format",
        "der",
        "--out",
        der.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        std::fs::read(&der).unwrap().starts_with(&[0x30]),
        "DER written"
    );

    let v = srv.admin_json(&["cert", "revoke", &printed, "--reason", "superseded"]);
    assert_eq!(v["serial"], serial.as_str());
    assert_eq!(v["status"], "revoked");

    let err = srv.admin_fails(&["cert", "show", "0C0D74G3"]);
    assert!(err.contains("400"), "{err}");
    assert!(err.contains("field serial"), "{err}");
    assert!(err.contains("not a hex digit"), "{err}");
}

/// An endpoint is referenced by its id, name or label; organizations,
/// departments, profiles and accounts by id or name. A reference that
/// matches nothing says which forms are accepted.
#[test]
fn objects_are_referenced_by_id_name_or_label() {
    let srv = AdminServer::start();
    let org = srv.admin_json(&[
        "org",
        "create",
        "--name",
        "Acme Corp",
        "--city",
        "Springfield",
        "--country",
        "US",
    ]);
    let org_id = org["id"].as_str().unwrap();
    let dept = srv.admin_json(&["dept", "create", "--org", org_id, "--name", "Release"]);
    let profile = srv.admin_json(&[
        "profile",
        "create",
        "--name",
        "cs",
        "--term",
        "365",
        "--key-type",
        "ecdsa-p256",
        "--attestation",
        "optional",
    ]);
    let ep = srv.admin_json(&[
        "endpoint",
        "create",
        "--name",
        "Build farm",
        "--label",
        "builds",
    ]);
    let ep_id = ep["id"].as_str().unwrap();

    // the endpoint by label, the others by id
    let by_label = srv.admin_json(&[
        "account",
        "create",
        "--name",
        "release",
        "--endpoint",
        "builds",
        "--org",
        org_id,
        "--dept",
        dept["id"].as_str().unwrap(),
        "--profile",
        profile["id"].as_str().unwrap(),
    ]);
    assert_eq!(by_label["endpoint_id"], ep_id);
    assert_eq!(by_label["department_id"], dept["id"]);
    // the endpoint by id and by name
    for (name, endpoint) in [("by-id", ep_id), ("by-name", "Build farm")] {
        let a = srv.admin_json(&[
            "account",
            "create",
            "--name",
            name,
            "--endpoint",
            endpoint,
            "--org",
            "Acme Corp",
            "--dept",
            "Release",
            "--profile",
            "cs",
        ]);
        assert_eq!(a["endpoint_id"], ep_id, "{endpoint}");
    }
    for given in [ep_id, "Build farm", "builds"] {
        assert_eq!(srv.admin_json(&["endpoint", "show", given])["id"], ep_id);
    }
    // an invitation names its account by id or name
    let inv = srv.admin_json(&[
        "invite",
        "--email",
        "dev@acme.example",
        "--account",
        by_label["id"].as_str().unwrap(),
        "--profile",
        "cs",
    ]);
    let shown = srv.admin_json(&["invitation", "show", inv["kid"].as_str().unwrap()]);
    assert_eq!(shown["account_id"], by_label["id"]);

    let err = srv.admin_fails(&[
        "account",
        "create",
        "--name",
        "x",
        "--endpoint",
        "cs",
        "--org",
        "Acme Corp",
        "--profile",
        "cs",
    ]);
    assert!(
        err.contains(r#"no endpoint "cs" (give its id, name or label)"#)
            && err.contains("field endpoint"),
        "{err}"
    );
    let err = srv.admin_fails(&[
        "account",
        "create",
        "--name",
        "x",
        "--endpoint",
        "builds",
        "--org",
        "Nobody",
        "--profile",
        "cs",
    ]);
    assert!(
        err.contains(r#"no organization "Nobody" (give its id or name)"#),
        "{err}"
    );
    let err = srv.admin_fails(&[
        "invite",
        "--email",
        "dev@acme.example",
        "--account",
        "nobody",
    ]);
    assert!(
        err.contains(r#"no endpoint account "nobody" (give its id or name)"#)
            && err.contains("field account"),
        "{err}"
    );
    let err = srv.admin_fails(&["endpoint", "show", "nowhere"]);
    assert!(
        err.contains("404") && err.contains("id, name or label"),
        "{err}"
    );
}

/// `signet admin ARGS` run from an empty directory with only the given
/// `SIGNET_*` variables: no --url, --token or --ca-file.
fn bare_admin(
    srv: &AdminServer,
    env: &[(&str, &std::ffi::OsStr)],
    args: &[&str],
) -> std::process::Output {
    let cwd = srv.dir.path().join("elsewhere");
    std::fs::create_dir_all(&cwd).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_signet"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SIGNET_") {
            cmd.env_remove(k);
        }
    }
    cmd.current_dir(&cwd)
        .envs(env.iter().copied())
        .arg("admin")
        .args(args)
        .output()
        .expect("run signet admin")
}

/// The CLI finds the token, URL and root where the server keeps them when
/// told the way the server is: SIGNET_SERVER__DATA_DIR or --config (and
/// SIGNET_DATA_DIR / --data-dir still work).
#[test]
fn the_cli_finds_the_server_through_its_own_data_dir_settings() {
    let srv = AdminServer::start();
    srv.standard_directory(false);
    let data = srv.data_dir();
    let config = srv.dir.path().join("signet.toml");
    std::fs::write(
        &config,
        format!("[server]\ndata_dir = {:?}\n", data.to_str().unwrap()),
    )
    .unwrap();
    type Env<'a> = Vec<(&'a str, &'a std::ffi::OsStr)>;
    let cases: Vec<(&str, Env, Vec<&str>)> = vec![
        (
            "SIGNET_SERVER__DATA_DIR",
            vec![("SIGNET_SERVER__DATA_DIR", data.as_os_str())],
            vec![],
        ),
        (
            "--config",
            vec![],
            vec!["--config", config.to_str().unwrap()],
        ),
        (
            "SIGNET_CONFIG",
            vec![("SIGNET_CONFIG", config.as_os_str())],
            vec![],
        ),
        (
            "SIGNET_DATA_DIR",
            vec![("SIGNET_DATA_DIR", data.as_os_str())],
            vec![],
        ),
        (
            "--data-dir",
            vec![],
            vec!["--data-dir", data.to_str().unwrap()],
        ),
    ];
    for (how, env, flags) in cases {
        let mut args = flags.clone();
        args.extend(["--json", "org", "show", "Acme Corp"]);
        let out = bare_admin(&srv, &env, &args);
        assert!(
            out.status.success(),
            "{how}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["name"], "Acme Corp", "{how}");
    }
    // without any of them the CLI says where it looked and what to set
    let out = bare_admin(&srv, &[], &["org", "list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("SIGNET_SERVER__DATA_DIR"), "{err}");
    // a --config that does not load is an error, not ignored
    let out = bare_admin(
        &srv,
        &[],
        &["--config", "/nonexistent/signet.toml", "org", "list"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/signet.toml"));
}

/// What the CLI says about what it did (issue 30): an unknown template is
/// refused naming the field and the accepted values, `cert download` says
/// what it wrote (and that pkcs7-pem exists), and `cert request` without
/// --term says which term the server chose.
#[test]
fn the_cli_says_what_it_did_and_what_it_accepts() {
    let srv = AdminServer::start();
    srv.standard_directory(false);

    let err = srv.admin_fails(&[
        "profile",
        "create",
        "--name",
        "p",
        "--template",
        "xx",
        "--term",
        "365",
        "--key-type",
        "ecdsa-p256",
    ]);
    assert!(err.contains("field template"), "{err}");
    assert!(err.contains(r#""xx" is not one of: ov, ev"#), "{err}");
    assert!(!err.contains("line 1 column"), "no parser position: {err}");

    // no --term: the profile's longest, said on stderr
    let (_key, csr) = support::openssl_csr(srv.dir.path(), "noterm", "p256", &[]);
    let out = srv.admin(&[
        "cert",
        "request",
        "--account",
        "release",
        "--email",
        "dev@acme.example",
        "--csr",
        csr.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(r#"term: 460 days, the longest of the terms profile "cs" allows (365, 460 days); choose one with --term"#),
        "{stderr}"
    );
    let cert: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(cert["term_days"], 460);
    // with --term nothing is added
    let (v, _chain) = issue(&srv, "withterm");
    assert_eq!(v["term_days"], 365);

    let serial = cert["serial"].as_str().unwrap();
    let p7 = srv.dir.path().join("dev.p7b");
    let out = srv.admin(&[
        "cert",
        "download",
        serial,
        "--format",
        "pkcs7",
        "--out",
        p7.to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let written = std::fs::metadata(&p7).unwrap().len();
    assert!(
        stderr.contains(&format!("wrote pkcs7 (certs-only PKCS#7 of certificate + issuing CA, DER (binary); --format pkcs7-pem writes the same PEM-armored): {written} bytes to {}", p7.display())),
        "{stderr}"
    );
    // what was written is what openssl reads as DER PKCS#7
    support::run(
        std::process::Command::new("openssl")
            .args(["pkcs7", "-inform", "DER", "-print_certs", "-noout", "-in"])
            .arg(&p7),
    );
}

/// `signet admin ARGS` in text mode (no --json).
fn admin_text(srv: &AdminServer, args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_signet"))
        .arg("admin")
        .arg(format!("--url={}", srv.url))
        .arg(format!("--token={}", srv.token))
        .arg("--ca-file")
        .arg(srv.tls_ca_pem())
        .args(args)
        .output()
        .expect("run signet admin");
    assert!(
        out.status.success(),
        "signet admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Subjects are shown in RFC 4514 form with escaping (an organization named
/// `Comma, Inc.+CN=evil` is one O attribute, not three name parts), and
/// server-supplied text with control or bidi characters (a decline reason)
/// reaches the terminal escaped, in text and in JSON output.
#[test]
fn subjects_are_rfc4514_and_server_text_is_escaped_on_the_terminal() {
    let srv = AdminServer::start();
    srv.admin_json(&[
        "org",
        "create",
        "--name",
        "Comma, Inc.+CN=evil",
        "--city",
        "Springfield",
        "--country",
        "US",
    ]);
    let profile = |name: &str, approval: bool| {
        let mut args = vec![
            "profile",
            "create",
            "--name",
            name,
            "--term",
            "365",
            "--key-type",
            "ecdsa-p256",
            "--attestation",
            "optional",
        ];
        if approval {
            args.push("--requires-approval");
        }
        srv.admin_json(&args);
    };
    profile("cs", false);
    profile("wait", true);
    srv.admin_json(&[
        "endpoint", "create", "--name", "builds", "--label", "builds",
    ]);
    srv.admin_json(&[
        "account",
        "create",
        "--name",
        "release",
        "--endpoint",
        "builds",
        "--org",
        "Comma, Inc.+CN=evil",
        "--profile",
        "cs",
        "--profile",
        "wait",
        "--auto-approve",
    ]);
    let (cert, _chain) = issue(&srv, "comma");
    let subject = r"CN=Comma\, Inc.\+CN\=evil,O=Comma\, Inc.\+CN\=evil,L=Springfield,C=US";
    assert_eq!(cert["subject"], subject);
    let serial = cert["serial"].as_str().unwrap();
    assert_eq!(
        srv.admin_json(&["cert", "show", serial])["subject"],
        subject
    );
    let listed = admin_text(&srv, &["cert", "list"]);
    assert!(listed.contains(subject), "{listed}");

    // a decline reason with a terminal escape and a right-to-left override
    let (_key, csr) = support::openssl_csr(srv.dir.path(), "waiting", "p256", &[]);
    let pending = srv.admin_json(&[
        "cert",
        "request",
        "--account",
        "release",
        "--profile",
        "wait",
        "--email",
        "dev@acme.example",
        "--csr",
        csr.to_str().unwrap(),
    ]);
    let id = pending["request"]["id"].as_str().unwrap();
    let reason = "no\u{1b}[2J\u{202e}txt.exe";
    let declined = admin_text(&srv, &["request", "decline", id, "--reason", reason]);
    let unsafe_char = |s: &str| {
        s.chars()
            .any(|c| c != '\n' && (c.is_control() || c == '\u{202e}'))
    };
    assert!(!unsafe_char(&declined), "{declined:?}");
    assert!(
        declined.contains(r"no\u{1b}[2J\u{202e}txt.exe"),
        "{declined:?}"
    );
    for args in [&["request", "show", id][..], &["request", "list"][..]] {
        let shown = admin_text(&srv, args);
        assert!(!unsafe_char(&shown), "{args:?}: {shown:?}");
    }
    let json = srv.admin(&["request", "show", id]);
    let text = String::from_utf8(json.stdout).unwrap();
    assert!(!unsafe_char(&text), "{text:?}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        v["message"], reason,
        "the JSON still says what the server said"
    );
}
