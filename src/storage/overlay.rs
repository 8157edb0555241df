//! The change set being applied, visible to readers as a whole.
//!
//! A change set reaches sled as several plain writes ([`super::journal`]), so
//! without this a reader could see some of them and not others. The writer
//! publishes the whole set here before its first write and retires it after
//! the read cache has its new values; reads outside change sets
//! ([`super::Store::read_raw`]) look here first. A change set therefore
//! becomes visible at one instant. Scans of whole tables do not look here:
//! they may see a change set half applied for the microseconds it takes.
//!
//! Change sets run one at a time, so this holds at most one of them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use sled::IVec;

use super::cache::Write;
use super::Table;

/// Published values by (table, key); `None`: removed.
type Published = HashMap<(Table, Vec<u8>), Option<IVec>>;

#[derive(Default)]
pub(super) struct Overlay {
    /// Whether a change set is published (lets readers skip the lock).
    active: AtomicBool,
    writes: RwLock<Published>,
}

impl Overlay {
    /// Makes `writes` visible (the last write of a key wins).
    pub(super) fn publish(&self, writes: &[Write]) {
        let mut map = self.writes.write().unwrap_or_else(|e| e.into_inner());
        for (table, key, value) in writes {
            map.insert((*table, key.clone()), value.clone());
        }
        self.active.store(true, Ordering::SeqCst);
    }

    /// Forgets the published change set (its writes are in sled and the
    /// read cache now).
    pub(super) fn retire(&self) {
        let mut map = self.writes.write().unwrap_or_else(|e| e.into_inner());
        map.clear();
        self.active.store(false, Ordering::SeqCst);
    }

    /// The published value of a key: `Some(None)` if the change set removes
    /// it, `None` if it does not touch it.
    pub(super) fn get(&self, table: Table, key: &[u8]) -> Option<Option<IVec>> {
        if !self.active.load(Ordering::SeqCst) {
            return None;
        }
        let map = self.writes.read().unwrap_or_else(|e| e.into_inner());
        map.get(&(table, key.to_vec())).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_published_change_set_is_read_until_retired() {
        let o = Overlay::default();
        assert_eq!(o.get(Table::Certificates, b"c"), None);
        o.publish(&[
            (
                Table::Certificates,
                b"c".to_vec(),
                Some(IVec::from(&b"1"[..])),
            ),
            (Table::AcmeOrders, b"o".to_vec(), None),
            (
                Table::Certificates,
                b"c".to_vec(),
                Some(IVec::from(&b"2"[..])),
            ),
        ]);
        assert_eq!(
            o.get(Table::Certificates, b"c"),
            Some(Some(IVec::from(&b"2"[..])))
        );
        assert_eq!(o.get(Table::AcmeOrders, b"o"), Some(None));
        assert_eq!(o.get(Table::Serials, b"c"), None);
        o.retire();
        assert_eq!(o.get(Table::Certificates, b"c"), None);
    }
}
