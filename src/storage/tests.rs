use serde_json::json;
use time::{Duration, OffsetDateTime};

use super::audit::AuditVerdict;
use super::model::*;
use super::*;

fn t0() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap()
}

fn ev(action: &str) -> AuditEvent {
    AuditEvent {
        at: t0(),
        actor: "test".into(),
        action: action.into(),
        details: json!({"n": action}),
    }
}

fn invitation(kid: &str) -> Invitation {
    Invitation {
        kid: kid.into(),
        hmac_key: "secret".into(),
        email: "dev@example.com".into(),
        account_id: "acct_1".into(),
        profile_id: None,
        state: InvitationState::Sent,
        created_at: t0(),
        expires_at: t0() + Duration::days(14),
        redeemed_at: None,
        redeemed_by: None,
        revoked_at: None,
    }
}

#[test]
fn invitation_redeems_once_and_expires() {
    let s = Store::temporary().unwrap();
    s.create_invitation(&invitation("k1"), &ev("create"))
        .unwrap();
    s.create_invitation(&invitation("k2"), &ev("create"))
        .unwrap();
    let r = s
        .redeem_invitation("k1", t0(), "acme:a1", &ev("redeem"))
        .unwrap();
    assert_eq!(r.state, InvitationState::Redeemed);
    let again = s.redeem_invitation("k1", t0(), "acme:a2", &ev("redeem"));
    assert!(matches!(again, Err(StorageError::Rejected(m)) if m.contains("already been used")));
    let late = s.redeem_invitation("k2", t0() + Duration::days(15), "acme:a3", &ev("redeem"));
    assert!(matches!(late, Err(StorageError::Rejected(m)) if m.contains("expired")));
    assert_eq!(
        s.get_invitation("k2")
            .unwrap()
            .unwrap()
            .status(t0() + Duration::days(15)),
        "expired"
    );
}

#[test]
fn revoked_invitation_cannot_be_redeemed() {
    let s = Store::temporary().unwrap();
    s.create_invitation(&invitation("k1"), &ev("create"))
        .unwrap();
    s.revoke_invitation("k1", t0(), &ev("revoke")).unwrap();
    let r = s.redeem_invitation("k1", t0(), "est:k1", &ev("redeem"));
    assert!(matches!(r, Err(StorageError::Rejected(m)) if m.contains("revoked")));
}

#[test]
fn failed_transaction_leaves_no_trace() {
    let s = Store::temporary().unwrap();
    s.create_invitation(&invitation("k1"), &ev("create"))
        .unwrap();
    let before = s.audit_records().unwrap().len();
    // duplicate kid: the insert aborts, and so does its audit record
    assert!(s
        .create_invitation(&invitation("k1"), &ev("create"))
        .is_err());
    assert_eq!(s.audit_records().unwrap().len(), before);
}

#[test]
fn serial_is_reserved_once() {
    let s = Store::temporary().unwrap();
    let req = CertRequest {
        id: "req_1".into(),
        status: RequestStatus::Applied,
        account_id: "a".into(),
        profile_id: "p".into(),
        email: "e@example.com".into(),
        csr: String::new(),
        term_days: 1,
        requester: "admin".into(),
        created_at: t0(),
        decided_by: None,
        message: None,
        serial: None,
        attestation: None,
    };
    s.begin_issuance(&req, "00ff").unwrap();
    assert!(s.serial_reserved("00ff").unwrap());
    let again = s.begin_issuance(
        &CertRequest {
            id: "req_2".into(),
            ..req
        },
        "00ff",
    );
    assert!(matches!(again, Err(StorageError::Conflict(_))));
}

fn audit_store() -> Store {
    let s = Store::temporary().unwrap();
    for i in 0..5 {
        s.append_audit(&ev(&format!("a{i}"))).unwrap();
    }
    s
}

#[test]
fn intact_audit_log_verifies() {
    let s = audit_store();
    assert_eq!(
        s.verify_audit().unwrap(),
        AuditVerdict::Intact { records: 5 }
    );
    let recs = s.audit_records().unwrap();
    assert_eq!(recs[0].prev_hash, "");
    assert_eq!(recs[1].prev_hash, recs[0].hash);
}

#[test]
fn edited_audit_record_is_detected() {
    let s = audit_store();
    let raw = s.audit_raw(3).unwrap();
    let edited = String::from_utf8(raw).unwrap().replace("a2", "a9");
    s.tamper_audit_raw(3, Some(edited.as_bytes())).unwrap();
    assert!(matches!(
        s.verify_audit().unwrap(),
        AuditVerdict::Broken { seq: 3, .. }
    ));
}

#[test]
fn flipped_byte_in_audit_record_is_detected() {
    let s = audit_store();
    let mut raw = s.audit_raw(2).unwrap();
    let pos = raw.iter().position(|b| *b == b'a').unwrap();
    raw[pos] = b'b';
    s.tamper_audit_raw(2, Some(&raw)).unwrap();
    assert!(matches!(
        s.verify_audit().unwrap(),
        AuditVerdict::Broken { seq: 2, .. }
    ));
}

#[test]
fn removed_audit_record_is_detected() {
    let s = audit_store();
    s.tamper_audit_raw(2, None).unwrap();
    assert!(matches!(
        s.verify_audit().unwrap(),
        AuditVerdict::Broken { seq: 3, .. }
    ));
    let s = audit_store();
    s.tamper_audit_raw(5, None).unwrap();
    assert!(matches!(
        s.verify_audit().unwrap(),
        AuditVerdict::Broken { .. }
    ));
}

#[test]
fn swapped_audit_records_are_detected() {
    let s = audit_store();
    let r2 = s.audit_raw(2).unwrap();
    let r3 = s.audit_raw(3).unwrap();
    s.tamper_audit_raw(2, Some(&r3)).unwrap();
    s.tamper_audit_raw(3, Some(&r2)).unwrap();
    assert!(matches!(
        s.verify_audit().unwrap(),
        AuditVerdict::Broken { seq: 2, .. }
    ));
}

#[test]
fn names_are_unique_and_lookups_take_id_or_name() {
    let s = Store::temporary().unwrap();
    let org = Organization {
        id: "org_1".into(),
        name: "Acme".into(),
        street: None,
        city: None,
        state: None,
        postal_code: None,
        country: "DE".into(),
        validation: crate::ca::Template::Ov,
        created_at: t0(),
        business_category: None,
        jurisdiction_country: None,
        jurisdiction_state: None,
        jurisdiction_locality: None,
        registration_number: None,
    };
    s.create_organization(&org, &ev("org")).unwrap();
    assert_eq!(s.find_organization("acme").unwrap().unwrap().id, "org_1");
    assert_eq!(s.find_organization("org_1").unwrap().unwrap().name, "Acme");
    let dup = Organization {
        id: "org_2".into(),
        ..org
    };
    assert!(matches!(
        s.create_organization(&dup, &ev("org")),
        Err(StorageError::Rejected(_))
    ));
}

#[test]
fn a_transaction_touches_only_the_tables_it_names() {
    let s = Store::temporary().unwrap();
    let r = s.transact_on(&[Table::Invitations], |tx| {
        tx.put(Table::Invitations, "k", &1u8)?;
        tx.put(Table::Certificates, "c", &1u8)?;
        Ok(())
    });
    assert!(matches!(r, Err(StorageError::Conflict(m)) if m.contains("certificates")));
    // nothing of the aborted transaction is visible
    assert!(s.tree(Table::Invitations).get("k").unwrap().is_none());
    // the audit log is always part of it
    s.transact_on(&[Table::Invitations], |tx| {
        tx.put(Table::Invitations, "k", &1u8)?;
        tx.audit(&ev("narrow"))?;
        Ok(())
    })
    .unwrap();
    assert_eq!(s.audit_records().unwrap().len(), 1);
}
