//! Subject rules (issue 18.4: CS BR 7.1.4.2.2 d/f, EV Guidelines 9.2.4) and
//! publisher-name spoofing (issue 19.5), black box over the admin API: every
//! subject attribute refuses metadata-only values, look-alike and invisible
//! characters with a 400 naming the field; countries are ISO 3166-1; ordinary
//! non-ASCII names are accepted and issued; an organization stored before the
//! rules existed is refused at enrollment, before anything is signed.

mod acme_support;
mod common;

use common::TestServer;
use serde_json::{json, Value};

fn server() -> TestServer {
    let srv = TestServer::start();
    acme_support::seed(&srv);
    srv
}

/// A valid EV organization body.
fn ev_org(name: &str) -> Value {
    json!({
        "name": name, "street": "Hauptstr. 1", "city": "Berlin", "state": "Berlin",
        "postal_code": "10115", "country": "DE", "validation": "ev",
        "business_category": "Private Organization", "jurisdiction_country": "DE",
        "jurisdiction_state": "Berlin", "jurisdiction_locality": "Berlin",
        "registration_number": "HRB 12345 B",
    })
}

#[track_caller]
fn refused(r: &common::Response, field: &str) -> String {
    assert_eq!(r.status, 400, "{field}: {}", r.text());
    let e = &r.json()["error"];
    assert_eq!(e["field"], field, "{e}");
    e["message"].as_str().unwrap().to_string()
}

#[test]
fn metadata_only_values_are_refused_in_every_subject_attribute_naming_the_field() {
    let srv = server();
    let fields = [
        "name",
        "street",
        "city",
        "state",
        "postal_code",
        "jurisdiction_state",
        "jurisdiction_locality",
        "registration_number",
    ];
    for field in fields {
        for value in [
            "-",
            ".",
            "N/A",
            "n/a",
            "not applicable",
            "None",
            "null",
            "unknown",
        ] {
            let mut body = ev_org(&format!("Org {field}"));
            body[field] = json!(value);
            let r = srv.admin("POST", "/admin/v1/organizations", Some(&body));
            let m = refused(&r, field);
            assert!(m.contains("7.1.4.2.2"), "{field}={value:?}: {m}");
        }
    }
    assert_eq!(
        srv.admin("GET", "/admin/v1/organizations", None)
            .json()
            .as_array()
            .unwrap()
            .len(),
        1,
        "only the seeded organization"
    );
    let r = srv.admin(
        "POST",
        "/admin/v1/departments",
        Some(&json!({"organization": "Acme Corp", "name": "-"})),
    );
    refused(&r, "name");
    // the valid body itself is accepted
    let r = srv.admin(
        "POST",
        "/admin/v1/organizations",
        Some(&ev_org("Beispiel GmbH")),
    );
    assert_eq!(r.status, 201, "{}", r.text());
}

#[test]
fn countries_are_iso_3166_alpha2_and_xx_only_as_country_name() {
    let srv = server();
    for code in ["UK", "EU", "ZZ", "QQ"] {
        let mut body = ev_org(&format!("Org {code}"));
        body["country"] = json!(code);
        let m = refused(
            &srv.admin("POST", "/admin/v1/organizations", Some(&body)),
            "country",
        );
        assert!(m.contains("ISO 3166-1"), "{m}");
        let mut body = ev_org(&format!("Jur {code}"));
        body["jurisdiction_country"] = json!(code);
        refused(
            &srv.admin("POST", "/admin/v1/organizations", Some(&body)),
            "jurisdiction_country",
        );
    }
    let mut body = ev_org("Nowhere Ltd");
    body["country"] = json!("xx");
    let r = srv.admin("POST", "/admin/v1/organizations", Some(&body));
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["country"], "XX");
    let mut body = ev_org("Nowhere Two Ltd");
    body["jurisdiction_country"] = json!("XX");
    refused(
        &srv.admin("POST", "/admin/v1/organizations", Some(&body)),
        "jurisdiction_country",
    );
}

#[test]
fn ev_jurisdiction_locality_without_the_state_is_refused() {
    let srv = server();
    let mut body = ev_org("Locality Only GmbH");
    body.as_object_mut().unwrap().remove("jurisdiction_state");
    let m = refused(
        &srv.admin("POST", "/admin/v1/organizations", Some(&body)),
        "jurisdiction_state",
    );
    assert!(m.contains("jurisdiction_locality"), "{m}");
}

#[test]
fn bidi_controls_invisible_characters_and_mixed_scripts_are_refused() {
    let srv = server();
    for (field, value, why) in [
        ("name", "Acme\u{202E}exe.", "U+202E"),
        ("name", "Ac\u{200B}me Corp", "U+200B"),
        ("name", "Ac\u{2060}me Corp", "U+2060"),
        ("name", "Acme\u{00A0}Corp", "U+00A0"),
        ("name", "\u{0410}cme Corp", "mixes scripts"),
        ("name", "Micr\u{043E}soft", "mixes scripts"),
        ("city", "Ber\u{200D}lin", "U+200D"),
        ("state", "Bay\u{00AD}ern", "U+00AD"),
    ] {
        let mut body = ev_org("Spoof");
        body[field] = json!(value);
        let m = refused(
            &srv.admin("POST", "/admin/v1/organizations", Some(&body)),
            field,
        );
        assert!(m.contains(why), "{value:?}: {m}");
    }
    let r = srv.admin(
        "POST",
        "/admin/v1/departments",
        Some(&json!({"organization": "Acme Corp", "name": "Release\u{2066}Team"})),
    );
    assert!(refused(&r, "name").contains("bidirectional"));
}

#[test]
fn ordinary_non_ascii_names_are_accepted_and_issued() {
    let srv = server();
    for name in ["Müller GmbH", "株式会社", "Société Générale", "Acme Россия"] {
        let mut body = ev_org(name);
        body["validation"] = json!("ov");
        let r = srv.admin("POST", "/admin/v1/organizations", Some(&body));
        assert_eq!(r.status, 201, "{name}: {}", r.text());
    }
    let r = srv.admin(
        "POST",
        "/admin/v1/departments",
        Some(&json!({"organization": "株式会社", "name": "開発部"})),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = srv.admin(
        "POST",
        "/admin/v1/accounts",
        Some(
            &json!({"name": "jp", "endpoint": "builds", "organization": "株式会社",
                     "department": "開発部", "profiles": ["cs"], "auto_approve": true}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let (csr, _) = acme_support::csr(None);
    let r = srv.admin(
        "POST",
        "/admin/v1/certificates",
        Some(&json!({"account": "jp", "email": "dev@example.jp", "csr": csr})),
    );
    assert!(r.status == 200 || r.status == 201, "{}", r.text());
    let cert = srv.app.store.list_certificates().unwrap().pop().unwrap();
    assert!(
        cert.subject.contains("O=株式会社") && cert.subject.contains("OU=開発部"),
        "{}",
        cert.subject
    );
}

#[test]
fn an_organization_stored_before_the_rules_is_refused_at_enrollment_and_nothing_is_signed() {
    use signet::storage::model::{AuditEvent, Organization};
    let srv = server();
    let now = srv.app.clock.now();
    // what an older version let through: a metadata-only state and a Cyrillic look-alike
    let stale = Organization {
        id: "org_stale".into(),
        name: "\u{0410}cme Corp".into(),
        street: None,
        city: Some("Berlin".into()),
        state: Some("N/A".into()),
        postal_code: None,
        country: "DE".into(),
        validation: signet::ca::Template::Ov,
        created_at: now,
        business_category: None,
        jurisdiction_country: None,
        jurisdiction_state: None,
        jurisdiction_locality: None,
        registration_number: None,
    };
    let ev = AuditEvent {
        at: now,
        actor: "test".into(),
        action: "organization.create".into(),
        details: json!({}),
    };
    srv.app.store.create_organization(&stale, &ev).unwrap();
    let r = srv.admin(
        "POST",
        "/admin/v1/accounts",
        Some(
            &json!({"name": "stale", "endpoint": "builds", "organization": "org_stale",
                     "profiles": ["cs"], "auto_approve": true}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let (csr, _) = acme_support::csr(None);
    let r = srv.admin(
        "POST",
        "/admin/v1/certificates",
        Some(&json!({"account": "stale", "email": "dev@example.com", "csr": csr})),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(
        r.text().contains("cannot be a certificate subject"),
        "{}",
        r.text()
    );
    assert!(srv.app.store.list_certificates().unwrap().is_empty());
    assert!(srv.audit_actions().iter().any(|a| a == "request.refused"));
}
