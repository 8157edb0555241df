//! Published CRLs: the current one per issuing CA and the monotonic CRL number.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::model::AuditEvent;
use super::{Result, Store, Table};

/// A signed CRL as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCrl {
    pub number: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub this_update: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub next_update: OffsetDateTime,
    /// DER, base64url.
    pub der: String,
    pub entries: usize,
}

const CURRENT: &str = "current";
const NUMBER: &[u8] = b"crl_number";

impl Store {
    /// The next CRL number (one above the last published; never reused).
    pub fn next_crl_number(&self) -> Result<u64> {
        Ok(match self.tree(Table::Meta).get(NUMBER)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])) + 1,
            None => 1,
        })
    }

    /// Publishes `crl` as current if its number is above the last one
    /// (a concurrent publisher with a higher number wins); audits; flushes.
    pub fn publish_crl(&self, crl: &StoredCrl, audit: &AuditEvent) -> Result<bool> {
        let published = self.transact_on(&[Table::Crls], |tx| {
            let last = tx
                .get_raw(Table::Meta, NUMBER)?
                .map(|v| u64::from_be_bytes(v.as_slice().try_into().unwrap_or([0; 8])))
                .unwrap_or(0);
            if crl.number <= last {
                return Ok(false);
            }
            // a slow publisher must never replace a fresher CRL
            if let Some(cur) = tx.get::<StoredCrl>(Table::Crls, CURRENT)? {
                if crl.this_update < cur.this_update {
                    return Ok(false);
                }
            }
            tx.put_raw(Table::Meta, NUMBER, &crl.number.to_be_bytes())?;
            tx.put(Table::Crls, CURRENT, crl)?;
            tx.audit(audit)?;
            Ok(true)
        })?;
        self.flush()?;
        Ok(published)
    }

    pub fn current_crl(&self) -> Result<Option<StoredCrl>> {
        self.get(Table::Crls, CURRENT)
    }

    /// Whether a notification `key` was already sent; marks it sent if not.
    pub fn mark_notified(&self, key: &str) -> Result<bool> {
        let k = format!("notified/{key}");
        let prev = self.tree(Table::Meta).compare_and_swap(
            k.as_bytes(),
            None as Option<&[u8]>,
            Some(b"1".as_slice()),
        )?;
        Ok(prev.is_ok())
    }
}
