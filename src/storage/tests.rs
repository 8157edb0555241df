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
        renews: None,
    };
    let req2 = CertRequest {
        id: "req_2".into(),
        ..req.clone()
    };
    let claim = s.claim_issuance(&req, "00ff", &RequestLink::None).unwrap();
    // claimed, not yet recorded: nothing written, but nobody else gets it
    assert!(!s.serial_reserved("00ff").unwrap());
    let again = s.claim_issuance(&req2, "00ff", &RequestLink::None);
    assert!(matches!(again, Err(StorageError::Conflict(_))));
    s.record_issuance(claim, &cert_record("00ff", "req_1"), &ev("issue"))
        .unwrap();
    assert!(s.serial_reserved("00ff").unwrap());
    assert_eq!(
        s.get_request("req_1").unwrap().unwrap().status,
        RequestStatus::Issued
    );
    let again = s.claim_issuance(&req2, "00ff", &RequestLink::None);
    assert!(matches!(again, Err(StorageError::Conflict(_))));
    // an abandoned claim releases its serial without writing anything
    let abandoned = s.claim_issuance(&req2, "00fe", &RequestLink::None).unwrap();
    drop(abandoned);
    assert!(!s.serial_reserved("00fe").unwrap());
    s.claim_issuance(&req2, "00fe", &RequestLink::None).unwrap();
}

#[test]
fn a_claim_checks_without_waiting_for_a_change_set_in_progress() {
    let s = Store::temporary().unwrap();
    let held = s.hold_writer_for_test();
    let (tx, rx) = std::sync::mpsc::channel();
    let store = s.clone();
    let claimer = std::thread::spawn(move || {
        let claim = store.claim_issuance(&request_record("req_1"), "00aa", &RequestLink::None);
        let _ = tx.send(claim.map(|c| c.serial().to_string()));
    });
    // a claim is a dry run: it must not queue behind the writer lock
    let claimed = rx.recv_timeout(std::time::Duration::from_secs(10));
    drop(held);
    claimer.join().unwrap();
    assert_eq!(
        claimed
            .expect("the claim waited for the writer lock")
            .unwrap(),
        "00aa"
    );
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

fn request_record(id: &str) -> CertRequest {
    CertRequest {
        id: id.into(),
        status: RequestStatus::Applied,
        account_id: "a".into(),
        profile_id: "p".into(),
        email: "e@example.com".into(),
        csr: String::new(),
        term_days: 1,
        requester: "acme:acct_1".into(),
        created_at: t0(),
        decided_by: None,
        message: None,
        serial: None,
        attestation: None,
        renews: None,
    }
}

fn cert_record(serial: &str, request_id: &str) -> CertificateRecord {
    CertificateRecord {
        serial: serial.into(),
        der: String::new(),
        request_id: request_id.into(),
        account_id: "a".into(),
        profile_id: "p".into(),
        email: "e@example.com".into(),
        subject: "CN=e".into(),
        spki_sha256: "00".into(),
        not_before: t0(),
        not_after: t0() + Duration::days(1),
        issued_at: t0(),
        requester: "acme:acct_1".into(),
        revocation: None,
        attestation: None,
        lineage: Default::default(),
    }
}

/// Stores a `ready` ACME order `id` and returns the link that finalizes it.
fn ready_order(s: &Store, id: &str) -> RequestLink {
    let mut o = acme_order(id);
    o.status = acme::OrderStatus::Ready;
    s.create_acme_order(&o, &[], &ev("order")).unwrap();
    RequestLink::AcmeOrder {
        order_id: id.into(),
    }
}

fn acme_order(id: &str) -> acme::AcmeOrder {
    acme::AcmeOrder {
        id: id.into(),
        account_id: "acct_1".into(),
        status: acme::OrderStatus::Processing,
        email: "e@example.com".into(),
        profile: None,
        authz_ids: vec![],
        expires: t0() + Duration::days(7),
        created_at: t0(),
        request_id: None,
        certificate: None,
        error: None,
        replaces: None,
    }
}

#[test]
fn issuance_writes_its_acme_order_in_the_same_transaction() {
    let s = Store::temporary().unwrap();
    let link = ready_order(&s, "ord_1");
    let claim = s
        .claim_issuance(&request_record("req_1"), "01aa", &link)
        .unwrap();
    s.record_issuance(claim, &cert_record("01aa", "req_1"), &ev("issue"))
        .unwrap();
    let o = s.get_acme_order("ord_1").unwrap().unwrap();
    assert_eq!(o.status, acme::OrderStatus::Valid);
    assert_eq!(o.certificate.as_deref(), Some("01aa"));
    assert_eq!(o.request_id.as_deref(), Some("req_1"));

    // An order that does not exist cannot be claimed.
    let missing = RequestLink::AcmeOrder {
        order_id: "ord_missing".into(),
    };
    assert!(s
        .claim_issuance(&request_record("req_2"), "02bb", &missing)
        .is_err());

    // An intent that no longer holds when the certificate is recorded fails
    // the whole issuance: no certificate, serial or request without its order.
    let link2 = ready_order(&s, "ord_2");
    let claim = s
        .claim_issuance(&request_record("req_3"), "03cc", &link2)
        .unwrap();
    s.update_acme_order("ord_2", |o| {
        o.status = acme::OrderStatus::Invalid;
        Ok(())
    })
    .unwrap();
    assert!(s
        .record_issuance(claim, &cert_record("03cc", "req_3"), &ev("issue"))
        .is_err());
    assert!(s.get_certificate("03cc").unwrap().is_none());
    assert!(!s.serial_reserved("03cc").unwrap());
    assert!(s.get_request("req_3").unwrap().is_none());
    assert_eq!(
        s.get_acme_order("ord_2").unwrap().unwrap().status,
        acme::OrderStatus::Invalid
    );
}

#[test]
fn pending_request_and_issuance_store_the_est_binding() {
    let s = Store::temporary().unwrap();
    let link = RequestLink::Est {
        auth: "inv:k1".into(),
        key_sha256: "abcd".into(),
        redeem: None,
    };
    s.create_request(&request_record("req_1"), &link, &ev("apply"))
        .unwrap();
    let b = s.est_binding("inv:k1", "abcd").unwrap().unwrap();
    assert_eq!(b.request_id, "req_1");

    let renewal = RequestLink::Est {
        auth: "cert:01aa".into(),
        key_sha256: "ef01".into(),
        redeem: None,
    };
    let claim = s
        .claim_issuance(&request_record("req_2"), "03cc", &renewal)
        .unwrap();
    s.record_issuance(claim, &cert_record("03cc", "req_2"), &ev("issue"))
        .unwrap();
    let b = s.est_binding("cert:01aa", "ef01").unwrap().unwrap();
    assert_eq!(b.request_id, "req_2");
}

#[test]
fn est_intent_redeems_the_invitation_once_with_the_serial_reservation() {
    let s = Store::temporary().unwrap();
    s.create_invitation(&invitation("k9"), &ev("create"))
        .unwrap();
    let link = |serial_owner: &str| RequestLink::Est {
        auth: "inv:k9".into(),
        key_sha256: serial_owner.into(),
        redeem: Some(Box::new(Redemption {
            kid: "k9".into(),
            at: t0(),
            by: "est:k9".into(),
            audit: ev("invitation.redeem"),
        })),
    };
    let claim = s
        .claim_issuance(&request_record("req_1"), "0a01", &link("key1"))
        .unwrap();
    // claimed: not redeemed yet, but no other enrollment or protocol may
    // redeem it meanwhile
    let inv = s.get_invitation("k9").unwrap().unwrap();
    assert_eq!(inv.state, InvitationState::Sent);
    let again = s.claim_issuance(&request_record("req_2"), "0a02", &link("key2"));
    assert!(matches!(again, Err(StorageError::Rejected(m)) if m.contains("already been used")));
    let by_acme = s.redeem_invitation("k9", t0(), "acme:acct_9", &ev("redeem"));
    assert!(matches!(by_acme, Err(StorageError::Rejected(m)) if m.contains("already been used")));
    // recorded: redeemed with the certificate, in the same change set
    s.record_issuance(claim, &cert_record("0a01", "req_1"), &ev("issue"))
        .unwrap();
    let inv = s.get_invitation("k9").unwrap().unwrap();
    assert_eq!(inv.state, InvitationState::Redeemed);
    assert_eq!(inv.redeemed_by.as_deref(), Some("est:k9"));
    assert!(s.serial_reserved("0a01").unwrap());
    assert!(s.get_certificate("0a01").unwrap().is_some());
    // a second enrollment with the same invitation claims nothing
    let again = s.claim_issuance(&request_record("req_2"), "0a02", &link("key2"));
    assert!(matches!(again, Err(StorageError::Rejected(m)) if m.contains("already been used")));
    assert!(!s.serial_reserved("0a02").unwrap());
    assert!(s.get_request("req_2").unwrap().is_none());

    // an abandoned claim (the CA failed, say) leaves the invitation usable
    s.create_invitation(&invitation("k8"), &ev("create"))
        .unwrap();
    let link8 = RequestLink::Est {
        auth: "inv:k8".into(),
        key_sha256: "key8".into(),
        redeem: Some(Box::new(Redemption {
            kid: "k8".into(),
            at: t0(),
            by: "est:k8".into(),
            audit: ev("invitation.redeem"),
        })),
    };
    drop(
        s.claim_issuance(&request_record("req_8"), "0a08", &link8)
            .unwrap(),
    );
    s.redeem_invitation("k8", t0(), "acme:acct_8", &ev("redeem"))
        .unwrap();
}

#[test]
fn cached_reads_see_every_committed_write() {
    let s = Store::temporary().unwrap();
    s.create_acme_order(&acme_order("ord_c"), &[], &ev("order"))
        .unwrap();
    // read twice: the second read is served from the cache
    for _ in 0..2 {
        let o = s.get_acme_order("ord_c").unwrap().unwrap();
        assert_eq!(o.status, acme::OrderStatus::Processing);
    }
    assert!(
        s.cache.cached(Table::AcmeOrders, b"o/ord_c").is_some(),
        "not cached"
    );
    s.update_acme_order("ord_c", |o| {
        o.status = acme::OrderStatus::Ready;
        Ok(())
    })
    .unwrap();
    // written through: the cache holds the new record
    let cached = s
        .cache
        .cached(Table::AcmeOrders, b"o/ord_c")
        .flatten()
        .unwrap();
    assert!(String::from_utf8_lossy(&cached).contains("\"ready\""));
    assert_eq!(
        s.get_acme_order("ord_c").unwrap().unwrap().status,
        acme::OrderStatus::Ready
    );
    // a rolled-back transaction leaves the cached value alone and correct
    let failed = s.update_acme_order("ord_c", |_| Err("no".into()));
    assert!(failed.is_err());
    assert_eq!(
        s.get_acme_order("ord_c").unwrap().unwrap().status,
        acme::OrderStatus::Ready
    );
    // an issuance's link is visible to the next read
    let link = RequestLink::AcmeOrder {
        order_id: "ord_c".into(),
    };
    let claim = s
        .claim_issuance(&request_record("req_c"), "0c0c", &link)
        .unwrap();
    s.record_issuance(claim, &cert_record("0c0c", "req_c"), &ev("issue"))
        .unwrap();
    assert_eq!(
        s.get_acme_order("ord_c")
            .unwrap()
            .unwrap()
            .certificate
            .as_deref(),
        Some("0c0c")
    );
}

#[test]
fn an_order_is_claimed_by_one_finalization() {
    let s = Store::temporary().unwrap();
    let link = ready_order(&s, "ord_r");
    let claim = s
        .claim_issuance(&request_record("req_a"), "0d01", &link)
        .unwrap();
    // a second finalization loses and reserves nothing
    let again = s.claim_issuance(&request_record("req_b"), "0d02", &link);
    assert!(matches!(again, Err(StorageError::Rejected(m)) if m.contains("no longer ready")));
    assert!(!s.serial_reserved("0d02").unwrap());
    assert!(s.get_request("req_b").unwrap().is_none());
    // nor may the order be sent waiting for approval meanwhile
    let pending = s.create_request(&request_record("req_b"), &link, &ev("apply"));
    assert!(matches!(pending, Err(StorageError::Rejected(m)) if m.contains("no longer ready")));
    s.record_issuance(claim, &cert_record("0d01", "req_a"), &ev("issue"))
        .unwrap();
    let o = s.get_acme_order("ord_r").unwrap().unwrap();
    assert_eq!(o.status, acme::OrderStatus::Valid);
    assert_eq!(o.request_id.as_deref(), Some("req_a"));
    assert!(s
        .claim_issuance(&request_record("req_b"), "0d02", &link)
        .is_err());
    // waiting for approval: the request and the order move together
    let link2 = ready_order(&s, "ord_p");
    s.create_request(&request_record("req_p"), &link2, &ev("apply"))
        .unwrap();
    let o2 = s.get_acme_order("ord_p").unwrap().unwrap();
    assert_eq!(o2.status, acme::OrderStatus::Processing);
    assert_eq!(o2.request_id.as_deref(), Some("req_p"));
}

#[test]
fn readers_never_see_a_change_set_half_applied() {
    // A change set writes the same counter under two keys, in this order;
    // readers read them in the same order. Seeing the first key's new value
    // and then the second key's old one would mean the set was visible half
    // applied (storage/overlay.rs prevents that). The metadata table is not
    // behind the read cache, so reads go to sled.
    let s = Store::temporary().unwrap();
    let rounds = 5_000u64;
    let writer = {
        let s = s.clone();
        std::thread::spawn(move || {
            for i in 1..=rounds {
                s.transact_on(&[], |tx| {
                    tx.put(Table::Meta, "test_first", &i)?;
                    tx.put(Table::Meta, "test_second", &i)
                })
                .unwrap();
            }
        })
    };
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let s = s.clone();
            std::thread::spawn(move || loop {
                let first: u64 = s.get(Table::Meta, "test_first").unwrap().unwrap_or(0);
                let second: u64 = s.get(Table::Meta, "test_second").unwrap().unwrap_or(0);
                assert!(
                    second >= first,
                    "change set {first} was visible half applied (second key at {second})"
                );
                if first == rounds {
                    return;
                }
            })
        })
        .collect();
    writer.join().unwrap();
    for r in readers {
        r.join().unwrap();
    }
}

#[test]
fn no_change_set_runs_after_one_failed_half_written() {
    let s = Store::temporary().unwrap();
    s.append_audit(&ev("before")).unwrap();
    s.writer_failed_for_test();
    let err = s.append_audit(&ev("after")).unwrap_err().to_string();
    assert!(err.contains("restart the server"), "{err}");
    assert_eq!(s.audit_records().unwrap().len(), 1);
}
