//! Multi-record change sets ("transactions"). A change set runs a closure
//! over a [`Tx`] view: reads see the store plus the set's own writes, writes
//! are collected, and the closure's error discards them all. Change sets run
//! one at a time (the writer lock), so a closure's reads and its writes are
//! serializable. A committed set is made crash-atomic by the journal
//! (`journal.rs`) and visible at one instant by the overlay (`overlay.rs`);
//! durability is the caller's flush (`flush.rs`).
//!
//! A change set names the tables it touches (the audit log and its head are
//! always included); touching another table aborts it. Any change can append
//! its audit record with [`Tx::audit`], chained to the previous one.

use std::cell::RefCell;
use std::sync::{Mutex, MutexGuard};

use serde::{de::DeserializeOwned, Serialize};
use sled::IVec;

use super::cache::Write;
use super::model::AuditEvent;
use super::{decode, encode, journal, Result, StorageError, Store, Table};

/// The error type inside a change-set closure.
pub type TxError = StorageError;
pub type TxResult<T> = std::result::Result<T, TxError>;

/// The head of the audit chain: last sequence number and hash.
#[derive(Debug, Clone, Default)]
pub(super) struct AuditHead {
    seq: u64,
    hash: String,
}

/// State owned by whoever holds the writer lock.
#[derive(Default)]
pub(super) struct WriterState {
    audit: AuditHead,
    /// Set when a change set failed half written: no change set runs after
    /// it, so the journal can complete it on the next open (see `commit`).
    failed: bool,
}

/// The writer lock of one store (shared by its clones).
#[derive(Default)]
pub(super) struct Writer(Mutex<WriterState>);

impl Writer {
    fn lock(&self) -> MutexGuard<'_, WriterState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A view of the store inside one change set.
pub struct Tx<'a> {
    store: &'a Store,
    /// Tables this change set may touch (by `Table::index`).
    allowed: &'a [bool; Table::ALL.len()],
    /// Writes so far, in order (the last write of a key wins).
    writes: RefCell<Vec<Write>>,
    audit: RefCell<AuditHead>,
    /// Claim keys held by the issuance this change set records (`claims.rs`).
    own_claims: &'a [String],
    /// A dry run ([`Store::dry_run_on`]): writes are checked against the
    /// set's tables but neither encoded nor kept.
    dry: bool,
}

impl Tx<'_> {
    /// Whether an issuance in progress other than this change set's own
    /// holds claim `key` (`claims.rs`).
    pub(super) fn claimed_elsewhere(&self, key: &str) -> bool {
        !self.own_claims.iter().any(|k| k == key) && self.store.claims.is_claimed(key)
    }

    /// The serial of the issuance in progress (other than this change
    /// set's own) that holds claim `key`, if any (`claims.rs`).
    pub(super) fn claim_holder_elsewhere(&self, key: &str) -> Option<String> {
        if self.own_claims.iter().any(|k| k == key) {
            return None;
        }
        self.store.claims.holder(key)
    }

    fn check(&self, table: Table) -> TxResult<()> {
        if self.allowed[table.index()] {
            Ok(())
        } else {
            Err(StorageError::Conflict(format!(
                "table {} is not part of this transaction",
                table.name()
            )))
        }
    }

    fn read(&self, table: Table, key: &[u8]) -> TxResult<Option<IVec>> {
        self.check(table)?;
        let own = self
            .writes
            .borrow()
            .iter()
            .rev()
            .find(|(t, k, _)| *t == table && k.as_slice() == key)
            .map(|(_, _, v)| v.clone());
        match own {
            Some(v) => Ok(v),
            None => self.store.read_raw(table, key),
        }
    }

    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> TxResult<Option<T>> {
        match self.read(table, key.as_bytes())? {
            Some(bytes) => decode(table, key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    pub fn need<T: DeserializeOwned>(
        &self,
        table: Table,
        kind: &'static str,
        key: &str,
    ) -> TxResult<T> {
        self.get(table, key)?.ok_or_else(|| StorageError::NotFound {
            kind,
            key: key.to_string(),
        })
    }

    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> TxResult<()> {
        if self.dry {
            return self.check(table);
        }
        self.put_raw(table, key.as_bytes(), &encode(value))
    }

    pub fn put_raw(&self, table: Table, key: &[u8], value: &[u8]) -> TxResult<()> {
        self.check(table)?;
        if self.dry {
            return Ok(());
        }
        self.writes
            .borrow_mut()
            .push((table, key.to_vec(), Some(IVec::from(value))));
        Ok(())
    }

    pub fn get_raw(&self, table: Table, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        Ok(self.read(table, key)?.map(|v| v.to_vec()))
    }

    /// Inserts a record that must not exist yet.
    pub fn insert_new<T: Serialize>(&self, table: Table, key: &str, value: &T) -> TxResult<()> {
        if self.read(table, key.as_bytes())?.is_some() {
            return Err(StorageError::Conflict(format!(
                "{} {key:?} already exists",
                table.name()
            )));
        }
        self.put(table, key, value)
    }

    pub fn remove(&self, table: Table, key: &str) -> TxResult<()> {
        self.check(table)?;
        if self.dry {
            return Ok(());
        }
        self.writes
            .borrow_mut()
            .push((table, key.as_bytes().to_vec(), None));
        Ok(())
    }

    /// Appends an audit record chained to the previous one.
    pub fn audit(&self, event: &AuditEvent) -> TxResult<()> {
        if self.dry {
            return Ok(());
        }
        let mut head = self.audit.borrow_mut();
        let seq = head.seq + 1;
        let record = super::audit::chain(seq, head.hash.clone(), event);
        self.put_raw(Table::Audit, &seq.to_be_bytes(), &encode(&record))?;
        // the sequence number is the audit tree's last key (`load_writer_state`)
        self.put_raw(Table::Meta, super::audit::HEAD_KEY, record.hash.as_bytes())?;
        *head = AuditHead {
            seq,
            hash: record.hash,
        };
        Ok(())
    }
}

/// `writes` without those a later write of the same key replaces (order
/// kept otherwise): each key is written once per change set.
fn last_write_per_key(writes: Vec<Write>) -> Vec<Write> {
    let mut seen = std::collections::HashSet::with_capacity(writes.len());
    let mut kept: Vec<Write> = writes
        .into_iter()
        .rev()
        .filter(|(t, k, _)| seen.insert((*t, k.clone())))
        .collect();
    kept.reverse();
    kept
}

/// The tables a change set over `tables` may touch, by [`Table::index`]:
/// those, and the audit log and its head.
fn allowed_tables(tables: &[Table]) -> [bool; Table::ALL.len()] {
    let mut allowed = [false; Table::ALL.len()];
    for t in [Table::Meta, Table::Audit].iter().chain(tables) {
        allowed[t.index()] = true;
    }
    allowed
}

/// Aborts a change set with `err`.
pub fn abort(err: StorageError) -> TxError {
    err
}

/// Aborts a change set with a caller-facing reason.
pub fn reject(msg: impl Into<String>) -> TxError {
    StorageError::Rejected(msg.into())
}

impl Store {
    /// Runs `f` as one atomic change set that may touch every table.
    pub fn transact<R>(&self, f: impl Fn(&Tx<'_>) -> TxResult<R>) -> Result<R> {
        self.transact_on(&Table::ALL, f)
    }

    /// Like [`Store::transact`], over only `tables` (plus the audit log and
    /// its head, always included). Touching another table aborts the change
    /// set with an error. Nothing is written if `f` fails.
    pub fn transact_on<R>(
        &self,
        tables: &[Table],
        f: impl Fn(&Tx<'_>) -> TxResult<R>,
    ) -> Result<R> {
        self.run_set(tables, &[], f)
    }

    /// [`Store::transact_on`] for the change set that records an issuance
    /// holding the claim keys `own` (`claims.rs`).
    pub(super) fn transact_claimed<R>(
        &self,
        tables: &[Table],
        own: &[String],
        f: impl Fn(&Tx<'_>) -> TxResult<R>,
    ) -> Result<R> {
        self.run_set(tables, own, f)
    }

    /// Runs `f` like a change set, without writing and without the writer
    /// lock: a check of everything a later change set will require, against
    /// the committed state (`claims.rs`). Its writes are checked against
    /// `tables` but not kept, so `f` must not read back what it wrote, and
    /// it must not append to the audit log. A change set committed while it
    /// runs is not seen: the change set it prepares checks everything again.
    pub(super) fn dry_run_on<R>(
        &self,
        tables: &[Table],
        f: impl Fn(&Tx<'_>) -> TxResult<R>,
    ) -> Result<R> {
        f(&Tx {
            store: self,
            allowed: &allowed_tables(tables),
            writes: RefCell::new(Vec::new()),
            audit: RefCell::new(AuditHead::default()),
            own_claims: &[],
            dry: true,
        })
    }

    fn run_set<R>(
        &self,
        tables: &[Table],
        own_claims: &[String],
        f: impl Fn(&Tx<'_>) -> TxResult<R>,
    ) -> Result<R> {
        let start = std::time::Instant::now();
        let allowed = allowed_tables(tables);
        let mut state = self.writer.lock();
        if state.failed {
            return Err(StorageError::Db(sled::Error::Io(std::io::Error::other(
                "an earlier store write failed; restart the server to recover the store",
            ))));
        }
        let tx = Tx {
            store: self,
            allowed: &allowed,
            writes: RefCell::new(Vec::new()),
            audit: RefCell::new(state.audit.clone()),
            own_claims,
            dry: false,
        };
        let result = f(&tx).and_then(|r| {
            let writes = tx.writes.take();
            if !writes.is_empty() {
                self.commit(&mut state, last_write_per_key(writes))?;
                state.audit = tx.audit.take();
            }
            Ok(r)
        });
        drop(state);
        if let Some(m) = self.flusher.metrics() {
            m.storage_transaction(start.elapsed());
        }
        result
    }

    /// Writes a change set (journal record, writes, journal removal), then
    /// hands its values to the read cache. Call holding the writer lock.
    fn commit(&self, state: &mut WriterState, writes: Vec<Write>) -> Result<()> {
        let seq = self.cache.next_seq();
        // one change set at a time: one journal record at most
        let key = journal::PENDING_KEY;
        self.overlay.publish(&writes);
        let written = self
            .journal
            .insert(key, journal::encode(&writes))
            .map_err(StorageError::from)
            .and_then(|_| self.apply_writes(&writes))
            .and_then(|()| {
                self.journal
                    .remove(key)
                    .map(|_| ())
                    .map_err(StorageError::from)
            });
        if written.is_ok() {
            let cached = writes.into_iter().filter(|(t, _, _)| *t != Table::Audit);
            self.cache.apply(seq, cached.collect());
        } else {
            // Part of the set may be in sled. Nothing may be written after
            // it (a later set could reuse its audit sequence number); the
            // journal completes it, or it was never begun, on the next open.
            state.failed = true;
        }
        self.overlay.retire();
        written
    }

    /// Holds the writer lock, as a change set does (tests).
    #[cfg(test)]
    pub(super) fn hold_writer_for_test(&self) -> MutexGuard<'_, WriterState> {
        self.writer.lock()
    }

    /// Marks the writer as after a half-written change set (tests).
    #[cfg(test)]
    pub(super) fn writer_failed_for_test(&self) {
        self.writer.lock().failed = true;
    }

    /// Loads the writer's state (the audit chain's head). The sequence
    /// number is the audit tree's last key; stores written before that kept
    /// it under `audit_seq` too, and the larger of the two counts, so a
    /// number is never handed out twice.
    pub(super) fn load_writer_state(&self) -> Result<()> {
        let meta = self.tree(Table::Meta);
        let corrupt = |key: &str| StorageError::Corrupt {
            kind: "meta",
            key: key.into(),
            reason: "not an 8-byte sequence number".into(),
        };
        let stored = match meta.get(super::audit::SEQ_KEY)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().map_err(|_| corrupt("audit_seq"))?),
            None => 0,
        };
        let last = match self.tree(Table::Audit).last()? {
            Some((k, _)) => u64::from_be_bytes(
                k.as_ref()
                    .try_into()
                    .map_err(|_| corrupt("audit record key"))?,
            ),
            None => 0,
        };
        let hash = meta
            .get(super::audit::HEAD_KEY)?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        self.writer.lock().audit = AuditHead {
            seq: stored.max(last),
            hash,
        };
        Ok(())
    }
}
