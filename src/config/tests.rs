use super::*;
use std::io::Write;

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn toml_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn err_of(text: &str) -> String {
    let f = toml_file(text);
    match load_from(Some(f.path()), no_env()) {
        Ok(c) => panic!("expected an error for {text:?}, got {c:?}"),
        Err(e) => e.to_string(),
    }
}

fn as_json(c: &Config) -> serde_json::Value {
    serde_json::to_value(c).unwrap()
}

#[test]
fn no_file_no_env_gives_the_embedded_defaults() {
    let c = load_from(None, no_env()).unwrap();
    assert_eq!(as_json(&c), as_json(&Config::default()));
    assert_eq!(c.server.listen, "127.0.0.1:8443");
    assert_eq!(c.server.http_listen, "127.0.0.1:8080");
    assert_eq!(c.server.data_dir, std::path::PathBuf::from("./signet-data"));
    assert_eq!(c.server.tls_hostnames, vec!["localhost", "127.0.0.1"]);
    assert_eq!(c.mail.transport, MailTransport::Outbox);
    assert_eq!(c.mail.from, "signet@localhost");
    assert_eq!(c.invitations.ttl_days, 14);
    assert_eq!(c.log.level, "info");
    assert_eq!(c.ca.algorithm, "p384");
    Config::default().validate().unwrap();
}

#[test]
fn default_toml_documents_exactly_the_defaults() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
    let c = load_from(Some(&path), no_env()).unwrap();
    assert_eq!(as_json(&c), as_json(&Config::default()));
    // every key of the defaults appears in the file, set or commented out
    let text = std::fs::read_to_string(&path).unwrap();
    fn walk(prefix: &str, v: &serde_json::Value, text: &str) {
        if let Some(map) = v.as_object() {
            for (k, v) in map {
                if v.is_object() {
                    let table = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    assert!(
                        text.contains(&format!("[{table}]")),
                        "table [{table}] missing"
                    );
                    walk(&table, v, text);
                } else {
                    assert!(
                        text.contains(&format!("\n{k} = "))
                            || text.contains(&format!("\n# {k} = ")),
                        "key {prefix}.{k} is not documented in config/default.toml"
                    );
                }
            }
        }
    }
    walk("", &as_json(&Config::default()), &text);
}

#[test]
fn example_files_load() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load_from(Some(&path), no_env()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 2);
}

#[test]
fn smtp_example_is_read_field_by_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples/smtp-relay.toml");
    let c = load_from(Some(&path), no_env()).unwrap();
    assert_eq!(c.mail.transport, MailTransport::Smtp);
    assert_eq!(c.mail.smtp.host.as_deref(), Some("relay.example.com"));
    assert_eq!(c.mail.smtp.effective_port(), 587);
    assert_eq!(c.mail.smtp.password.as_ref().unwrap().expose(), "change-me");
    assert_eq!(c.log.format, LogFormat::Json);
    assert_eq!(c.invitations.ttl_days, 7);
}

#[test]
fn unknown_key_is_named_with_its_table() {
    let e = err_of("[server]\nlisen = \"127.0.0.1:1\"\n");
    assert!(e.contains("unknown key \"server.lisen\""), "{e}");
    assert!(e.contains("listen"), "should list the expected keys: {e}");
}

#[test]
fn unknown_table_is_named() {
    let e = err_of("[serer]\nlisten = \"127.0.0.1:1\"\n");
    assert!(e.contains("unknown key \"serer\""), "{e}");
}

#[test]
fn unknown_nested_key_is_named_with_full_path() {
    let e = err_of("[mail.smtp]\nhots = \"x\"\n");
    assert!(e.contains("unknown key \"mail.smtp.hots\""), "{e}");
    let e = err_of("[acme]\nfoo = 1\n");
    assert!(e.contains("unknown key \"acme.foo\""), "{e}");
    let e = err_of("[ca]\nalgo = \"p256\"\n");
    assert!(e.contains("unknown key \"ca.algo\""), "{e}");
}

#[test]
fn bad_socket_address_names_the_key() {
    let e = err_of("[server]\nlisten = \"abc\"\n");
    assert!(
        e.starts_with("server.listen: invalid socket address \"abc\": expected HOST:PORT"),
        "{e}"
    );
    let e = err_of("[server]\nhttp_listen = \"localhost\"\n");
    assert!(
        e.starts_with("server.http_listen: invalid socket address"),
        "{e}"
    );
    let e = err_of("[server]\nlisten = \"localhost:84430\"\n");
    assert!(e.contains("the port must be a number"), "{e}");
    let e = err_of("[server]\nlisten = \"no-such-host.invalid:8443\"\n");
    assert!(e.contains("use an IP address"), "{e}");
}

/// `listen = "localhost:8443"` is what people write: it resolves to the
/// loopback address instead of being refused.
#[test]
fn a_listen_host_name_resolves() {
    let f = toml_file("[server]\nlisten = \"localhost:8443\"\nhttp_listen = \"localhost:8080\"\n");
    let c = load_from(Some(f.path()), no_env()).expect("localhost:8443 is accepted");
    let addr = c.server.listen_addr().unwrap();
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_eq!(addr.port(), 8443);
    assert_eq!(c.server.http_listen_addr().unwrap().port(), 8080);
}

#[test]
fn bad_types_name_the_key() {
    let e = err_of("[invitations]\nttl_days = \"soon\"\n");
    assert!(e.starts_with("invitations.ttl_days:"), "{e}");
    let e = err_of("[server]\nbehind_tls_proxy = \"maybe\"\n");
    assert!(e.starts_with("server.behind_tls_proxy:"), "{e}");
    let e = err_of("[server]\ntls_hostnames = \"localhost\"\n");
    assert!(e.starts_with("server.tls_hostnames:"), "{e}");
}

#[test]
fn bad_enum_values_name_the_key() {
    let e = err_of("[mail]\ntransport = \"pigeon\"\n");
    assert!(e.starts_with("mail.transport:"), "{e}");
    assert!(e.contains("pigeon"), "{e}");
    let e = err_of("[mail.smtp]\ntls = \"maybe\"\n");
    assert!(e.starts_with("mail.smtp.tls:"), "{e}");
    let e = err_of("[log]\nformat = \"xml\"\n");
    assert!(e.starts_with("log.format:"), "{e}");
}

#[test]
fn bad_values_name_the_key() {
    let cases = [
        ("[ca]\nalgorithm = \"ed448\"\n", "ca.algorithm:"),
        ("[ca]\ncrl_url = \"not a url\"\n", "ca.crl_url:"),
        ("[ca]\nissuer_url = \"ftp://x/y\"\n", "ca.issuer_url:"),
        (
            "[ca]\nissuer_cert_file = \"a.pem\"\n",
            "ca.issuer_key_file:",
        ),
        ("[invitations]\nttl_days = 0\n", "invitations.ttl_days:"),
        ("[invitations]\nttl_days = 366\n", "invitations.ttl_days:"),
        ("[log]\nlevel = \"loud\"\n", "log.level:"),
        ("[mail]\ntransport = \"smtp\"\n", "mail.smtp.host:"),
        ("[mail]\nfrom = \"nobody\"\n", "mail.from:"),
        ("[mail.smtp]\nusername = \"u\"\n", "mail.smtp.password:"),
        ("[mail.smtp]\nport = 0\n", "mail.smtp.port:"),
        (
            "[server]\npublic_url = \"signet.example.com\"\n",
            "server.public_url:",
        ),
        (
            "[server]\nhttp_public_url = \"mailto:x@y\"\n",
            "server.http_public_url:",
        ),
        ("[server]\nbehind_tls_proxy = true\n", "server.public_url:"),
        (
            "[server]\ntls_cert_file = \"c.pem\"\n",
            "server.tls_key_file:",
        ),
        (
            "[server]\ntls_hostnames = [\"bad host\"]\n",
            "server.tls_hostnames[0]:",
        ),
        ("[server]\nadmin_token = \"short\"\n", "server.admin_token:"),
        ("[server]\nmax_body_bytes = 10\n", "server.max_body_bytes:"),
        ("[server]\ndata_dir = \"\"\n", "server.data_dir:"),
    ];
    for (text, prefix) in cases {
        let e = err_of(text);
        assert!(
            e.starts_with(prefix),
            "{text:?}: expected {prefix:?}, got {e:?}"
        );
    }
}

#[test]
fn toml_syntax_error_names_the_file() {
    let f = toml_file("[server\nlisten = 1");
    let e = load_from(Some(f.path()), no_env()).unwrap_err().to_string();
    assert!(e.contains(&f.path().display().to_string()), "{e}");
}

#[test]
fn missing_file_names_the_file() {
    let e = load_from(Some(Path::new("/nonexistent/signet.toml")), no_env())
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/signet.toml"), "{e}");
}

#[test]
fn environment_overrides_file_and_defaults() {
    let f = toml_file("[server]\nlisten = \"127.0.0.1:1111\"\nhttp_listen = \"127.0.0.1:2222\"\n");
    let c = load_from(
        Some(f.path()),
        env(&[
            ("SIGNET_SERVER__LISTEN", "0.0.0.0:443"),
            (
                "SIGNET_SERVER__TLS_HOSTNAMES",
                "signet.example.com, localhost",
            ),
            ("SIGNET_SERVER__BEHIND_TLS_PROXY", "true"),
            ("SIGNET_SERVER__PUBLIC_URL", "https://signet.example.com"),
            ("SIGNET_MAIL__TRANSPORT", "smtp"),
            ("SIGNET_MAIL__SMTP__HOST", "relay.example.com"),
            ("SIGNET_MAIL__SMTP__PORT", "2525"),
            ("SIGNET_MAIL__SMTP__USERNAME", "u"),
            ("SIGNET_MAIL__SMTP__PASSWORD", "1e3"),
            ("SIGNET_INVITATIONS__TTL_DAYS", "30"),
            ("SIGNET_CONFIG", "/etc/signet.toml"),
            ("PATH", "/usr/bin"),
        ]),
    )
    .unwrap();
    assert_eq!(c.server.listen, "0.0.0.0:443");
    assert_eq!(c.server.http_listen, "127.0.0.1:2222");
    assert_eq!(
        c.server.tls_hostnames,
        vec!["signet.example.com", "localhost"]
    );
    assert!(c.server.behind_tls_proxy);
    assert_eq!(c.mail.transport, MailTransport::Smtp);
    assert_eq!(c.mail.smtp.port, Some(2525));
    // strings stay strings (no numeric re-formatting of passwords)
    assert_eq!(c.mail.smtp.password.as_ref().unwrap().expose(), "1e3");
    assert_eq!(c.invitations.ttl_days, 30);
}

#[test]
fn environment_errors_name_the_key_or_variable() {
    let e = load_from(None, env(&[("SIGNET_SERVER__LISEN", "x")]))
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown key \"server.lisen\""), "{e}");
    let e = load_from(None, env(&[("SIGNET_SERVER__LISTEN", "abc")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("server.listen: invalid socket address \"abc\""),
        "{e}"
    );
    let e = load_from(None, env(&[("SIGNET_INVITATIONS__TTL_DAYS", "x")]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("invitations.ttl_days:"), "{e}");
    let e = load_from(None, env(&[("SIGNET_SERVER_LISTEN", "127.0.0.1:1")]))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("SIGNET_SERVER_LISTEN") && e.contains("SIGNET_SERVER__LISTEN"),
        "{e}"
    );
}

#[test]
fn env_var_names_follow_the_convention() {
    assert_eq!(
        env_var_name("server.tls_hostnames"),
        "SIGNET_SERVER__TLS_HOSTNAMES"
    );
    assert_eq!(env_var_name("mail.smtp.host"), "SIGNET_MAIL__SMTP__HOST");
}

#[test]
fn secrets_are_not_printed_by_debug() {
    let c = from_toml_str(
        "[server]\nadmin_token = \"s3cr3t-s3cr3t-s3cr3t\"\n[mail.smtp]\nusername = \"u\"\npassword = \"hunter2-hunter2\"\n",
    )
    .unwrap();
    let dbg = format!("{c:?}");
    assert!(!dbg.contains("s3cr3t") && !dbg.contains("hunter2"), "{dbg}");
    assert_eq!(
        c.server.admin_token.unwrap().expose(),
        "s3cr3t-s3cr3t-s3cr3t"
    );
}

#[test]
fn derived_values() {
    let c = Config::default();
    assert_eq!(c.server.listen_addr().unwrap().port(), 8443);
    assert_eq!(
        c.mail.outbox_dir(Path::new("/data")),
        std::path::PathBuf::from("/data/outbox")
    );
    let mut s = SmtpConfig {
        tls: SmtpTls::Tls,
        ..SmtpConfig::default()
    };
    assert_eq!(s.effective_port(), 465);
    s.tls = SmtpTls::None;
    assert_eq!(s.effective_port(), 25);
}

#[test]
fn secrets_are_redacted_when_serialized() {
    let c = from_toml_str(
        "[server]\nadmin_token = \"s3cr3t-s3cr3t-s3cr3t\"\n[mail.smtp]\nusername = \"u\"\npassword = \"hunter2-hunter2\"\n",
    )
    .unwrap();
    let text = toml::to_string_pretty(&c).unwrap();
    assert!(
        !text.contains("s3cr3t") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(text.contains(REDACTED));
}

#[test]
fn every_key_is_documented_in_configuration_md() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/CONFIGURATION.md");
    let text = std::fs::read_to_string(&path).unwrap();
    fn walk(prefix: &str, v: &serde_json::Value, text: &str) {
        if let Some(map) = v.as_object() {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                if v.is_object() {
                    walk(&key, v, text);
                } else {
                    assert!(
                        text.contains(&format!("`{key}`")),
                        "key {key} is not documented in docs/CONFIGURATION.md"
                    );
                }
            }
        }
    }
    walk("", &as_json(&Config::default()), &text);
}

#[test]
fn configured_files_must_exist() {
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("present.pem");
    std::fs::write(&present, "x").unwrap();
    let missing = dir.path().join("missing.pem");
    let p = present.display();
    let m = missing.display();
    let cases = [
        (
            format!("[server]\ntls_cert_file = \"{m}\"\ntls_key_file = \"{p}\"\n"),
            "server.tls_cert_file:",
        ),
        (
            format!("[server]\ntls_cert_file = \"{p}\"\ntls_key_file = \"{m}\"\n"),
            "server.tls_key_file:",
        ),
        (
            format!("[ca]\nissuer_cert_file = \"{p}\"\nissuer_key_file = \"{m}\"\n"),
            "ca.issuer_key_file:",
        ),
        (
            format!(
                "[ca]\nissuer_cert_file = \"{p}\"\nissuer_key_file = \"{p}\"\nroot_cert_file = \"{m}\"\n"
            ),
            "ca.root_cert_file:",
        ),
        (format!("[mail.smtp]\nca_file = \"{m}\"\n"), "mail.smtp.ca_file:"),
        (
            format!("[mail.smtp]\nca_file = \"{}\"\n", dir.path().display()),
            "mail.smtp.ca_file:",
        ),
    ];
    for (text, prefix) in cases {
        let e = err_of(&text);
        assert!(
            e.starts_with(prefix),
            "{text:?}: expected {prefix:?}, got {e:?}"
        );
    }
    let ok = format!("[server]\ntls_cert_file = \"{p}\"\ntls_key_file = \"{p}\"\n[mail.smtp]\nca_file = \"{p}\"\n");
    from_toml_str(&ok).unwrap();
}

#[test]
fn pkcs11_keys_are_checked_together_and_the_pin_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("libfake-pkcs11.so");
    std::fs::write(&module, "x").unwrap();
    let cert = dir.path().join("issuing.pem");
    std::fs::write(&cert, "x").unwrap();
    let (m, c) = (module.display(), cert.display());
    let full = format!(
        "[server]\nbehind_tls_proxy = true\npublic_url = \"https://signet.example.com\"\n\
         [ca]\nissuer_cert_file = \"{c}\"\npkcs11_module = \"{m}\"\n\
         pkcs11_token_label = \"signet-ca\"\npkcs11_key_label = \"issuing\"\n"
    );
    let cases = [
        // each setting names itself when the others are missing or in conflict
        (
            format!("[ca]\npkcs11_module = \"{m}\"\npkcs11_token_label = \"t\"\npkcs11_key_label = \"k\"\npkcs11_pin = \"1234\"\n"),
            "ca.issuer_cert_file:",
        ),
        (
            format!("[ca]\nissuer_cert_file = \"{c}\"\npkcs11_module = \"{m}\"\npkcs11_key_label = \"k\"\npkcs11_pin = \"1234\"\n"),
            "ca.pkcs11_token_label:",
        ),
        (
            format!("[ca]\nissuer_cert_file = \"{c}\"\npkcs11_module = \"{m}\"\npkcs11_token_label = \"t\"\npkcs11_key_label = \"\"\npkcs11_pin = \"1234\"\n"),
            "ca.pkcs11_key_label:",
        ),
        (full.clone(), "ca.pkcs11_pin:"),
        (
            format!("{full}pkcs11_pin = \"1234\"\nissuer_key_file = \"{c}\"\n"),
            "ca.issuer_key_file:",
        ),
        (
            full.replace(&m.to_string(), "/nonexistent/libpkcs11.so") + "pkcs11_pin = \"1234\"\n",
            "ca.pkcs11_module:",
        ),
        ("[ca]\npkcs11_pin = \"1234\"\n".to_string(), "ca.pkcs11_pin:"),
        ("[ca]\npkcs11_key_label = \"k\"\n".to_string(), "ca.pkcs11_key_label:"),
    ];
    for (text, prefix) in cases {
        let e = err_of(&text);
        assert!(
            e.starts_with(prefix),
            "{text:?}: expected {prefix:?}, got {e:?}"
        );
        assert!(!e.contains("1234"), "the PIN is not echoed: {e}");
    }

    // complete with the PIN from SIGNET_CA__PKCS11_PIN; it is never printed
    let file = toml_file(&full);
    let cfg = load_from(
        Some(file.path()),
        env(&[("SIGNET_CA__PKCS11_PIN", "s3cret-pin")]),
    )
    .unwrap();
    assert_eq!(cfg.ca.pkcs11_pin.as_ref().unwrap().expose(), "s3cret-pin");
    assert_eq!(cfg.ca.pkcs11_key_label.as_deref(), Some("issuing"));
    assert!(!format!("{cfg:?}").contains("s3cret-pin"));
    let printed = toml::to_string(&cfg).unwrap();
    assert!(!printed.contains("s3cret-pin"), "{printed}");
    assert!(printed.contains(REDACTED), "{printed}");
}
