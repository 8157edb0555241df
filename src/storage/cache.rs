//! A write-through read cache in front of sled for records read on every
//! request (ACME accounts, orders and authorizations, profiles,
//! organizations, name lookups, blocked keys).
//!
//! Why: a hit costs one hash lookup and a clone, far less than a sled read
//! (which also had to wait for sled's process-wide lock while any sled
//! transaction ran, before change sets stopped using them).
//!
//! Coherence. Only change sets (`tx.rs`) write the cached keys (callers of
//! [`super::Store::get_cached`] promise that). Every change set takes a
//! sequence number while it holds the writer lock, so sequence numbers follow
//! commit order; after its writes are in sled, and before
//! [`super::Store::transact_on`] returns, what it wrote (or removed) goes into
//! the cache unless a later change set's value is already there. A read that
//! misses fills the cache (present or absent) only if no transaction's writes
//! were applied meanwhile (a version counter), and with sequence number 0, so
//! any transaction's write replaces it. A request that follows a write (same
//! thread, or a later request) therefore reads the new value.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use sled::IVec;

use super::Table;

/// Most records kept; past it the cache starts over (records are small).
const MAX_ENTRIES: usize = 16_384;

/// Whether typed reads of `table` go through the cache (the audit log and
/// the metadata table, which also has non-transactional writers, do not;
/// name lookups in the metadata table are cached explicitly by the
/// directory).
pub(super) fn cacheable(table: Table) -> bool {
    !matches!(table, Table::Audit | Table::Meta)
}

/// One write of a committed transaction: the new value, or None (removed).
pub(super) type Write = (Table, Vec<u8>, Option<IVec>);

struct Entry {
    /// Sequence number of the transaction that wrote it (0: filled by a read).
    seq: u64,
    value: Option<IVec>,
}

#[derive(Default)]
pub(super) struct ReadCache {
    map: Mutex<HashMap<(Table, Vec<u8>), Entry>>,
    /// Bumped whenever transactions' writes are applied.
    version: AtomicU64,
    /// Change-set sequence numbers (taken under the writer lock).
    next_seq: AtomicU64,
}

impl ReadCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(Table, Vec<u8>), Entry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A sequence number for a change set; call holding the writer lock.
    pub(super) fn next_seq(&self) -> u64 {
        self.next_seq.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// The cached value of (`table`, `key`), else `read()`'s; and whether
    /// the cache answered.
    pub(super) fn get_or_read(
        &self,
        table: Table,
        key: &[u8],
        read: impl FnOnce() -> sled::Result<Option<IVec>>,
    ) -> sled::Result<(Option<IVec>, bool)> {
        if let Some(e) = self.lock().get(&(table, key.to_vec())) {
            return Ok((e.value.clone(), true));
        }
        let before = self.version.load(Ordering::SeqCst);
        let value = read()?;
        let mut map = self.lock();
        if self.version.load(Ordering::SeqCst) == before {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.entry((table, key.to_vec())).or_insert(Entry {
                seq: 0,
                value: value.clone(),
            });
        }
        Ok((value, false))
    }

    /// Applies the writes of the committed transaction `seq`.
    pub(super) fn apply(&self, seq: u64, writes: Vec<Write>) {
        if writes.is_empty() {
            return;
        }
        let mut map = self.lock();
        self.version.fetch_add(1, Ordering::SeqCst);
        if map.len() + writes.len() > MAX_ENTRIES {
            map.clear();
        }
        for (table, key, value) in writes {
            let e = map.entry((table, key)).or_insert(Entry {
                seq: 0,
                value: None,
            });
            if e.seq <= seq {
                *e = Entry { seq, value };
            }
        }
    }

    #[cfg(test)]
    pub(super) fn cached(&self, table: Table, key: &[u8]) -> Option<Option<IVec>> {
        self.lock()
            .get(&(table, key.to_vec()))
            .map(|e| e.value.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Option<IVec> {
        Some(IVec::from(s.as_bytes()))
    }

    #[test]
    fn a_read_that_raced_with_a_write_is_not_cached() {
        let c = ReadCache::default();
        let key = b"k".to_vec();
        // a transaction commits and applies while the read is in sled
        let got = c
            .get_or_read(Table::AcmeOrders, &key, || {
                c.apply(
                    c.next_seq(),
                    vec![(Table::AcmeOrders, key.clone(), v("new"))],
                );
                Ok(v("old"))
            })
            .unwrap();
        assert_eq!(got, (v("old"), false));
        assert_eq!(c.cached(Table::AcmeOrders, &key), Some(v("new")));
    }

    #[test]
    fn writes_apply_in_commit_order_whatever_order_they_arrive_in() {
        let c = ReadCache::default();
        let key = b"k".to_vec();
        let (first, second) = (c.next_seq(), c.next_seq());
        c.apply(second, vec![(Table::AcmeOrders, key.clone(), v("second"))]);
        c.apply(first, vec![(Table::AcmeOrders, key.clone(), v("first"))]);
        assert_eq!(c.cached(Table::AcmeOrders, &key), Some(v("second")));
        // a removal is remembered (absent), and a read-filled entry yields
        // to any transaction's write
        let third = c.next_seq();
        c.apply(third, vec![(Table::AcmeOrders, key.clone(), None)]);
        let got = c
            .get_or_read(Table::AcmeOrders, &key, || panic!("hit expected"))
            .unwrap();
        assert_eq!(got, (None, true));
        let other = b"other".to_vec();
        c.get_or_read(Table::AcmeOrders, &other, || Ok(v("read")))
            .unwrap();
        assert_eq!(c.cached(Table::AcmeOrders, &other), Some(v("read")));
        let fourth = c.next_seq();
        c.apply(
            fourth,
            vec![(Table::AcmeOrders, other.clone(), v("written"))],
        );
        assert_eq!(c.cached(Table::AcmeOrders, &other), Some(v("written")));
    }
}
