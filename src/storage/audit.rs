//! The append-only, hash-chained audit log.

use aws_lc_rs::digest;
use time::format_description::well_known::Rfc3339;

use super::model::{AuditEvent, AuditRecord};
use super::{decode, Result, StorageError, Store, Table};

pub(super) const SEQ_KEY: &[u8] = b"audit_seq";
pub(super) const HEAD_KEY: &[u8] = b"audit_head";

/// Hash of a record: SHA-256 over the previous hash and every other field.
pub fn record_hash(
    seq: u64,
    prev_hash: &str,
    at: &time::OffsetDateTime,
    actor: &str,
    action: &str,
    details: &serde_json::Value,
) -> String {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(prev_hash.as_bytes());
    ctx.update(b"\n");
    ctx.update(seq.to_string().as_bytes());
    ctx.update(b"\n");
    ctx.update(at.format(&Rfc3339).unwrap_or_default().as_bytes());
    ctx.update(b"\n");
    ctx.update(actor.as_bytes());
    ctx.update(b"\n");
    ctx.update(action.as_bytes());
    ctx.update(b"\n");
    ctx.update(details.to_string().as_bytes());
    hex::encode(ctx.finish().as_ref())
}

pub(super) fn chain(seq: u64, prev_hash: String, e: &AuditEvent) -> AuditRecord {
    let hash = record_hash(seq, &prev_hash, &e.at, &e.actor, &e.action, &e.details);
    AuditRecord {
        seq,
        at: e.at,
        actor: e.actor.clone(),
        action: e.action.clone(),
        details: e.details.clone(),
        prev_hash,
        hash,
    }
}

/// What `audit verify` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditVerdict {
    /// Every record chains; `records` were checked.
    Intact { records: u64 },
    /// The first bad record (by position) and why.
    Broken { seq: u64, reason: String },
}

impl Store {
    /// Appends one audit record on its own (for actions that change nothing else).
    pub fn append_audit(&self, event: &AuditEvent) -> Result<()> {
        self.transact(|tx| tx.audit(event))
    }

    /// The whole audit log in order.
    pub fn audit_records(&self) -> Result<Vec<AuditRecord>> {
        let mut out = Vec::new();
        for item in self.tree(Table::Audit).iter() {
            let (k, v) = item?;
            out.push(decode(Table::Audit, &hex::encode(&k), &v)?);
        }
        Ok(out)
    }

    /// Checks the hash chain: detects edited, removed and reordered records.
    pub fn verify_audit(&self) -> Result<AuditVerdict> {
        let mut prev = String::new();
        let mut expected_seq = 1u64;
        let mut count = 0u64;
        for item in self.tree(Table::Audit).iter() {
            let (k, v) = item?;
            let key_seq = k.as_ref().try_into().map(u64::from_be_bytes).unwrap_or(0);
            let rec: AuditRecord = match serde_json::from_slice(&v) {
                Ok(r) => r,
                Err(e) => {
                    return Ok(AuditVerdict::Broken {
                        seq: key_seq,
                        reason: format!("record does not decode: {e}"),
                    })
                }
            };
            if rec.seq != key_seq || rec.seq != expected_seq {
                return Ok(AuditVerdict::Broken {
                    seq: key_seq,
                    reason: format!(
                        "sequence gap or reorder: expected {expected_seq}, found {}",
                        rec.seq
                    ),
                });
            }
            if rec.prev_hash != prev {
                return Ok(AuditVerdict::Broken {
                    seq: rec.seq,
                    reason: "previous-hash link does not match the record before it".into(),
                });
            }
            let h = record_hash(
                rec.seq,
                &rec.prev_hash,
                &rec.at,
                &rec.actor,
                &rec.action,
                &rec.details,
            );
            if h != rec.hash {
                return Ok(AuditVerdict::Broken {
                    seq: rec.seq,
                    reason: "record content does not match its hash (edited)".into(),
                });
            }
            prev = rec.hash;
            expected_seq += 1;
            count += 1;
        }
        let head = self
            .tree(Table::Meta)
            .get(HEAD_KEY)?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        if head != prev {
            return Ok(AuditVerdict::Broken {
                seq: expected_seq,
                reason: "log ends before its recorded head (records removed at the end)".into(),
            });
        }
        Ok(AuditVerdict::Intact { records: count })
    }

    /// Test and forensic hook: raw access to overwrite or delete an audit
    /// record by sequence number (used to prove tampering is detected).
    pub fn tamper_audit_raw(&self, seq: u64, replacement: Option<&[u8]>) -> Result<()> {
        let key = seq.to_be_bytes();
        match replacement {
            Some(bytes) => {
                self.tree(Table::Audit).insert(key, bytes)?;
            }
            None => {
                self.tree(Table::Audit).remove(key)?;
            }
        }
        Ok(())
    }

    /// Raw bytes of an audit record (tests).
    pub fn audit_raw(&self, seq: u64) -> Result<Vec<u8>> {
        self.tree(Table::Audit)
            .get(seq.to_be_bytes())?
            .map(|v| v.to_vec())
            .ok_or(StorageError::NotFound {
                kind: "audit record",
                key: seq.to_string(),
            })
    }
}
