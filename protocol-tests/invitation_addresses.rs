//! Invitation addresses (issue 19.6), black box over the admin API: an
//! address the certificate's rfc822Name (IA5String) or the RFC 8823 email
//! challenge cannot carry is refused when the invitation is created, with a
//! 400 naming `email` (never a 500, never stored, no mail); an invitation
//! whose mail could not be sent is not left as sent.

mod acme_support;
mod common;

use common::TestServer;
use serde_json::json;

fn invite(srv: &TestServer, email: &str) -> common::Response {
    srv.admin(
        "POST",
        "/admin/v1/invitations",
        Some(&json!({"email": email, "account": "release"})),
    )
}

#[test]
fn addresses_a_certificate_cannot_carry_are_refused_at_invitation_time_naming_email() {
    let srv = TestServer::start();
    acme_support::seed(&srv);
    for (email, why) in [
        (
            "ü@exämple.com",
            "internationalised addresses are not supported",
        ),
        (
            "dev@exämple.com",
            "internationalised addresses are not supported",
        ),
        ("\"a b\"@example.com", "spaces"),
        ("\"ab\"@example.com", "quoted"),
        ("a@b@example.com", "more than one @"),
        ("dev@localhost", "fully qualified"),
        ("dev@[192.0.2.1]", "address literal"),
        ("dev(x)@example.com", "'('"),
        ("dev@exa_mple.com", "host name"),
        ("", "required"),
    ] {
        let r = invite(&srv, email);
        assert_eq!(r.status, 400, "{email:?}: {}", r.text());
        let e = &r.json()["error"];
        assert_eq!(e["field"], "email", "{email:?}: {e}");
        assert!(
            e["message"].as_str().unwrap().contains(why),
            "{email:?}: {e}"
        );
    }
    // nothing stored, nothing mailed
    assert!(srv.app.store.list_invitations().unwrap().is_empty());
    assert!(srv.outbox().is_empty());
    // an ordinary address (domain in its xn-- form) still works
    let r = invite(&srv, "dev.ops+ci@xn--exmple-cua.com");
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["email"], "dev.ops+ci@xn--exmple-cua.com");
}

#[test]
fn an_invitation_whose_mail_failed_is_withdrawn_not_left_as_sent() {
    // An SMTP relay that refuses connections: the port of a listener just closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let srv = TestServer::start_with(|cfg| {
        cfg.mail.transport = signet::config::MailTransport::Smtp;
        cfg.mail.smtp.host = Some("127.0.0.1".into());
        cfg.mail.smtp.port = Some(port);
        cfg.mail.smtp.tls = signet::config::SmtpTls::None;
        cfg.mail.smtp.timeout_secs = 5;
    });
    acme_support::seed(&srv);
    let r = invite(&srv, "dev@example.com");
    assert!(r.status >= 500, "the mail failed: {}", r.text());
    let stored = srv.app.store.list_invitations().unwrap();
    assert_eq!(stored.len(), 1, "{stored:?}");
    let now = srv.app.clock.now();
    assert_eq!(stored[0].status(now), "revoked", "{stored:?}");
    let r = srv.admin("GET", "/admin/v1/invitations", None);
    assert_eq!(r.json()[0]["status"], "revoked", "{}", r.text());
    let actions = srv.audit_actions();
    assert!(
        actions.iter().any(|a| a == "invitation.withdraw"),
        "{actions:?}"
    );
}
