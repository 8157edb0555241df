use super::*;
use crate::clock::FakeClock;
use mail_parser::MessageParser;
use time::OffsetDateTime;

fn clock_at(ts: i64) -> Arc<FakeClock> {
    Arc::new(FakeClock::new(
        OffsetDateTime::from_unix_timestamp(ts).unwrap(),
    ))
}

fn sample(to: &str) -> OutgoingMail {
    OutgoingMail {
        to: to.into(),
        subject: "ACME: abc-DEF_123".into(),
        body: "Hello Jürgen,\r\nplease reply to this message.\r\n".into(),
        headers: vec![
            ("Auto-Submitted".into(), "auto-generated; type=acme".into()),
            ("X-Signet-Test".into(), "yes".into()),
        ],
    }
}

#[test]
fn outbox_message_parses_back_with_all_headers() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock_at(1_790_000_000);
    let metrics = Metrics::new();
    let mailer = Mailer::outbox(dir.path(), "Signet <signet@ca.example>", clock.clone())
        .unwrap()
        .with_metrics(metrics.clone());
    assert_eq!(mailer.transport_name(), "outbox");
    let id = mailer.send(&sample("dev@example.com")).unwrap();
    assert!(id.ends_with("@ca.example"), "{id}");
    assert!(!id.contains('<'));

    let files = outbox_messages(dir.path()).unwrap();
    assert_eq!(files.len(), 1);
    // nothing half-written left behind
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    let raw = std::fs::read(&files[0]).unwrap();
    let msg = MessageParser::default()
        .parse(&raw)
        .expect("parses as RFC 5322");
    let from = msg.from().and_then(|a| a.first()).unwrap();
    assert_eq!(from.address(), Some("signet@ca.example"));
    assert_eq!(from.name(), Some("Signet"));
    let to = msg.to().and_then(|a| a.first()).unwrap();
    assert_eq!(to.address(), Some("dev@example.com"));
    assert_eq!(msg.subject(), Some("ACME: abc-DEF_123"));
    assert_eq!(msg.message_id(), Some(id.as_str()));
    assert_eq!(msg.date().unwrap().to_timestamp(), 1_790_000_000);
    assert_eq!(
        msg.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated; type=acme")
    );
    assert_eq!(msg.header_raw("X-Signet-Test").map(str::trim), Some("yes"));
    let body = msg.body_text(0).unwrap();
    assert!(body.contains("Hello Jürgen,"), "{body:?}");
    assert!(body.contains("please reply"));

    let text = metrics.encode().unwrap();
    assert!(
        text.contains("signet_mails_total{outcome=\"sent\",transport=\"outbox\"} 1"),
        "{text}"
    );
    assert!(text.contains("signet_mails_total{outcome=\"failed\",transport=\"outbox\"} 0"));
}

#[test]
fn an_outbox_directory_removed_after_start_is_made_again() {
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let mailer = Mailer::outbox(&outbox, "signet@ca.example", clock_at(1_790_000_000)).unwrap();
    mailer.send(&sample("dev@example.com")).unwrap();
    std::fs::remove_dir_all(&outbox).unwrap();
    mailer.send(&sample("dev@example.com")).unwrap();
    mailer
        .send_notification(&sample("ops@example.com"))
        .unwrap();
    assert_eq!(outbox_messages(&outbox).unwrap().len(), 2);
}

#[test]
fn outbox_files_sort_by_time_of_sending() {
    let dir = tempfile::tempdir().unwrap();
    let clock = clock_at(1_790_000_000);
    let mailer = Mailer::outbox(dir.path(), "signet@localhost", clock.clone()).unwrap();
    let mut ids = Vec::new();
    for i in 0..3 {
        let mut m = sample("a@example.com");
        m.subject = format!("message {i}");
        ids.push(mailer.send(&m).unwrap());
        if i == 0 {
            // the second message is sent at the same instant as the first
            continue;
        }
        clock.advance(time::Duration::seconds(1));
    }
    let files = outbox_messages(dir.path()).unwrap();
    assert_eq!(files.len(), 3);
    let subjects: Vec<String> = files
        .iter()
        .map(|f| {
            let raw = std::fs::read(f).unwrap();
            MessageParser::default()
                .parse(&raw)
                .unwrap()
                .subject()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(subjects, ["message 0", "message 1", "message 2"]);
    let name = files[0].file_name().unwrap().to_string_lossy().to_string();
    assert!(name.starts_with("20260921T"), "{name}");
    // Message-IDs are unique
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[test]
fn bad_input_is_refused_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let mailer = Mailer::outbox(dir.path(), "signet@localhost", clock_at(1_790_000_000))
        .unwrap()
        .with_metrics(metrics.clone());
    assert!(matches!(
        mailer.send(&sample("not an address")),
        Err(MailError::Address(_))
    ));
    let mut m = sample("a@example.com");
    m.headers
        .push(("X-Evil".into(), "a\r\nBcc: victim@example.com".into()));
    assert!(matches!(mailer.send(&m), Err(MailError::Build(_))));
    let mut m = sample("a@example.com");
    m.subject = "hi\r\nBcc: victim@example.com".into();
    assert!(matches!(mailer.send(&m), Err(MailError::Build(_))));
    let mut m = sample("a@example.com");
    m.headers.push(("Message-ID".into(), "<x@y>".into()));
    assert!(matches!(mailer.send(&m), Err(MailError::Build(_))));
    let mut m = sample("a@example.com");
    m.headers.push(("Bad Name".into(), "x".into()));
    assert!(matches!(mailer.send(&m), Err(MailError::Build(_))));
    assert!(outbox_messages(dir.path()).unwrap().is_empty());
    assert!(metrics
        .encode()
        .unwrap()
        .contains("signet_mails_total{outcome=\"failed\",transport=\"outbox\"} 5"));
    assert!(matches!(
        Mailer::outbox(dir.path(), "nobody", clock_at(0)),
        Err(MailError::Address(_))
    ));
}

#[test]
fn from_config_defaults_to_outbox_under_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = MailConfig::default();
    let mailer = Mailer::from_config(&cfg, dir.path(), clock_at(1_790_000_000)).unwrap();
    assert_eq!(
        mailer.outbox_dir(),
        Some(dir.path().join("outbox").as_path())
    );
    assert_eq!(mailer.from_address(), "signet@localhost");
    mailer.send(&sample("a@example.com")).unwrap();
    assert_eq!(
        outbox_messages(&dir.path().join("outbox")).unwrap().len(),
        1
    );
}

/// What the in-test SMTP server saw.
#[derive(Debug, Default)]
struct Received {
    ehlo: String,
    mail_from: String,
    rcpt_to: Vec<String>,
    data: String,
}

/// A tiny SMTP server: one connection, EHLO/MAIL/RCPT/DATA/QUIT.
async fn smtp_server_once(listener: tokio::net::TcpListener) -> std::io::Result<Received> {
    let (stream, _) = listener.accept().await?;
    smtp_dialogue(stream).await
}

/// The same over implicit TLS with the given server configuration.
async fn smtps_server_once(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
) -> std::io::Result<Received> {
    let (stream, _) = listener.accept().await?;
    let stream = tokio_rustls::TlsAcceptor::from(tls).accept(stream).await?;
    smtp_dialogue(stream).await
}

async fn smtp_dialogue<S>(stream: S) -> std::io::Result<Received>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let (r, mut w) = tokio::io::split(stream);
    let mut r = BufReader::new(r);
    let mut got = Received::default();
    w.write_all(b"220 test.local ESMTP ready\r\n").await?;
    let mut line = String::new();
    loop {
        line.clear();
        if r.read_line(&mut line).await? == 0 {
            break;
        }
        let cmd = line.trim_end().to_string();
        let upper = cmd.to_ascii_uppercase();
        if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            got.ehlo = cmd[5..].to_string();
            w.write_all(b"250-test.local\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                .await?;
        } else if upper.starts_with("MAIL FROM:") {
            got.mail_from = cmd[10..].to_string();
            w.write_all(b"250 2.1.0 OK\r\n").await?;
        } else if upper.starts_with("RCPT TO:") {
            got.rcpt_to.push(cmd[8..].to_string());
            w.write_all(b"250 2.1.5 OK\r\n").await?;
        } else if upper == "DATA" {
            w.write_all(b"354 go ahead\r\n").await?;
            loop {
                line.clear();
                if r.read_line(&mut line).await? == 0 {
                    return Ok(got);
                }
                if line == ".\r\n" {
                    break;
                }
                let l = line.strip_prefix('.').unwrap_or(&line);
                got.data.push_str(l);
            }
            w.write_all(b"250 2.0.0 queued\r\n").await?;
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 bye\r\n").await?;
            break;
        } else if upper == "RSET" || upper == "NOOP" {
            w.write_all(b"250 OK\r\n").await?;
        } else {
            w.write_all(b"502 5.5.2 not implemented\r\n").await?;
        }
    }
    Ok(got)
}

fn smtp_config(port: u16) -> MailConfig {
    let mut cfg = MailConfig {
        transport: MailTransport::Smtp,
        from: "pki@ca.example".into(),
        ..MailConfig::default()
    };
    cfg.smtp.host = Some("127.0.0.1".into());
    cfg.smtp.port = Some(port);
    cfg.smtp.tls = SmtpTls::None;
    cfg.smtp.timeout_secs = 5;
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_relay_receives_the_message() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(smtp_server_once(listener));
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let mailer = Mailer::from_config(&smtp_config(port), dir.path(), clock_at(1_790_000_000))
        .unwrap()
        .with_metrics(metrics.clone());
    assert_eq!(mailer.transport_name(), "smtp");
    let id = mailer.send_async(sample("dev@example.com")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(got.ehlo, "ca.example");
    assert!(got.mail_from.contains("<pki@ca.example>"), "{got:?}");
    assert_eq!(got.rcpt_to.len(), 1);
    assert!(got.rcpt_to[0].contains("<dev@example.com>"), "{got:?}");
    let msg = MessageParser::default()
        .parse(got.data.as_bytes())
        .expect("DATA parses as RFC 5322");
    assert_eq!(msg.message_id(), Some(id.as_str()));
    assert_eq!(msg.subject(), Some("ACME: abc-DEF_123"));
    assert_eq!(
        msg.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-generated; type=acme")
    );
    assert!(msg.body_text(0).unwrap().contains("Hello Jürgen"));
    // nothing in the outbox in SMTP mode
    assert!(!dir.path().join("outbox").exists());
    assert!(metrics
        .encode()
        .unwrap()
        .contains("signet_mails_total{outcome=\"sent\",transport=\"smtp\"} 1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_relay_down_is_an_smtp_error() {
    // a port nobody listens on
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let mailer = Mailer::from_config(&smtp_config(port), dir.path(), clock_at(1_790_000_000))
        .unwrap()
        .with_metrics(metrics.clone());
    let err = mailer
        .send_async(sample("dev@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Smtp(_)), "{err:?}");
    assert!(metrics
        .encode()
        .unwrap()
        .contains("signet_mails_total{outcome=\"failed\",transport=\"smtp\"} 1"));
}

/// A TLS server identity for 127.0.0.1 and its certificate as PEM (the "private CA").
fn tls_identity() -> (Arc<rustls::ServerConfig>, String) {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    (Arc::new(cfg), cert.pem())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_over_implicit_tls_trusts_the_configured_ca_file() {
    let (server_tls, ca_pem) = tls_identity();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("smtp-ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(smtps_server_once(listener, server_tls.clone()));
    let mut cfg = smtp_config(port);
    cfg.smtp.tls = SmtpTls::Tls;
    cfg.smtp.ca_file = Some(ca_file.clone());
    let mailer = Mailer::from_config(&cfg, dir.path(), clock_at(1_790_000_000)).unwrap();
    let id = mailer.send_async(sample("dev@example.com")).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let msg = MessageParser::default().parse(got.data.as_bytes()).unwrap();
    assert_eq!(msg.message_id(), Some(id.as_str()));

    // without the CA file the relay's certificate is not trusted
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = tokio::spawn(smtps_server_once(listener, server_tls));
    let mut cfg = smtp_config(port);
    cfg.smtp.tls = SmtpTls::Tls;
    let mailer = Mailer::from_config(&cfg, dir.path(), clock_at(1_790_000_000)).unwrap();
    let err = mailer
        .send_async(sample("dev@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Smtp(_)), "{err:?}");
    assert!(server.await.unwrap().is_err(), "handshake must fail");

    // an unreadable CA file is reported with its key
    cfg.smtp.ca_file = Some(dir.path().join("missing.pem"));
    let err = Mailer::from_config(&cfg, dir.path(), clock_at(0)).unwrap_err();
    assert!(err.to_string().contains("mail.smtp.ca_file"), "{err}");
}
