//! A read cache in front of sled for records read on every request (ACME
//! accounts, orders and authorizations, profiles, organizations, name
//! lookups).
//!
//! Why: sled 0.34 makes every plain read wait while any multi-tree
//! transaction runs (one process-wide lock), so under load most reads on the
//! request path went to sleep and woke up again; a hit here takes no sled
//! lock.
//!
//! Coherence: only transactions write the cached tables, and
//! [`super::Store::transact_on`] removes every key a transaction wrote, after
//! it committed and before it returns, so a request that follows a write
//! (same thread, or a later request) reads the new value. A read that raced
//! with a write never inserts what it read (a version counter, bumped by every
//! invalidation, must be unchanged between the sled read and the insert).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sled::IVec;

use super::Table;

/// Most records kept; past it the cache starts over (records are small).
const MAX_ENTRIES: usize = 16_384;

/// Whether reads of `table` go through the cache (the audit log and the
/// metadata table, which also has non-transactional writers, do not; name
/// lookups in the metadata table are cached explicitly by the directory).
pub(super) fn cacheable(table: Table) -> bool {
    !matches!(table, Table::Audit | Table::Meta)
}

#[derive(Default)]
pub(super) struct ReadCache {
    map: Mutex<HashMap<(Table, Vec<u8>), IVec>>,
    version: AtomicU64,
}

impl ReadCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Table, Vec<u8>), IVec>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached value of (`table`, `key`), else `read()`'s (cached if no
    /// write intervened).
    pub(super) fn get_or_read(
        &self,
        table: Table,
        key: &[u8],
        read: impl FnOnce() -> sled::Result<Option<IVec>>,
    ) -> sled::Result<Option<IVec>> {
        if let Some(v) = self.lock().get(&(table, key.to_vec())) {
            return Ok(Some(v.clone()));
        }
        let before = self.version.load(Ordering::SeqCst);
        let value = read()?;
        if let Some(v) = &value {
            let mut map = self.lock();
            if self.version.load(Ordering::SeqCst) == before {
                if map.len() >= MAX_ENTRIES {
                    map.clear();
                }
                map.insert((table, key.to_vec()), v.clone());
            }
        }
        Ok(value)
    }

    /// Forgets `keys` (written by a committed transaction).
    pub(super) fn invalidate(&self, keys: &[(Table, Vec<u8>)]) {
        if keys.is_empty() {
            return;
        }
        let mut map = self.lock();
        self.version.fetch_add(1, Ordering::SeqCst);
        for k in keys {
            map.remove(k);
        }
    }

    #[cfg(test)]
    pub(super) fn contains(&self, table: Table, key: &[u8]) -> bool {
        self.lock().contains_key(&(table, key.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_raced_with_a_write_is_not_cached() {
        let c = ReadCache::default();
        let key = b"k".to_vec();
        // the write commits and invalidates while the read is in sled
        let v = c
            .get_or_read(Table::AcmeOrders, &key, || {
                c.invalidate(&[(Table::AcmeOrders, key.clone())]);
                Ok(Some(IVec::from(b"old".as_slice())))
            })
            .unwrap();
        assert_eq!(v.as_deref(), Some(b"old".as_slice()));
        assert!(!c.contains(Table::AcmeOrders, &key), "stale value cached");
        // a quiet read is cached, and an invalidation forgets it
        c.get_or_read(Table::AcmeOrders, &key, || {
            Ok(Some(IVec::from(b"new".as_slice())))
        })
        .unwrap();
        assert!(c.contains(Table::AcmeOrders, &key));
        let hit = c
            .get_or_read(Table::AcmeOrders, &key, || panic!("hit expected"))
            .unwrap();
        assert_eq!(hit.as_deref(), Some(b"new".as_slice()));
        c.invalidate(&[(Table::AcmeOrders, key.clone())]);
        assert!(!c.contains(Table::AcmeOrders, &key));
    }
}
