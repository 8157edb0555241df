//! Multi-record transactions. A transaction spans the tables it names (or
//! all of them) plus the audit log and its head, so any change can append its
//! audit record atomically. sled runs one multi-tree transaction at a time, so
//! hot paths name only the tables they touch: a transaction over 3 trees costs
//! less than half of one over all 18.

use serde::{de::DeserializeOwned, Serialize};
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use super::model::{AuditEvent, AuditRecord};
use super::{decode, encode, Result, StorageError, Store, Table};

/// The error type inside a transaction closure.
pub type TxError = ConflictableTransactionError<StorageError>;
pub type TxResult<T> = std::result::Result<T, TxError>;

/// A view of the tables of one transaction.
pub struct Tx<'a> {
    trees: &'a [TransactionalTree],
    /// Position in `trees` of each table (by `Table::index`), if included.
    slots: &'a [Option<usize>; Table::ALL.len()],
    /// What was written, for the read cache (applied once committed).
    written: &'a std::cell::RefCell<Vec<super::cache::Write>>,
}

impl Tx<'_> {
    fn tree(&self, table: Table) -> TxResult<&TransactionalTree> {
        self.slots[table.index()]
            .and_then(|i| self.trees.get(i))
            .ok_or_else(|| {
                abort(StorageError::Conflict(format!(
                    "table {} is not part of this transaction",
                    table.name()
                )))
            })
    }

    pub fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> TxResult<Option<T>> {
        match self.tree(table)?.get(key.as_bytes())? {
            Some(bytes) => decode(table, key, &bytes)
                .map(Some)
                .map_err(ConflictableTransactionError::Abort),
            None => Ok(None),
        }
    }

    pub fn need<T: DeserializeOwned>(
        &self,
        table: Table,
        kind: &'static str,
        key: &str,
    ) -> TxResult<T> {
        self.get(table, key)?.ok_or_else(|| {
            ConflictableTransactionError::Abort(StorageError::NotFound {
                kind,
                key: key.to_string(),
            })
        })
    }

    pub fn put<T: Serialize>(&self, table: Table, key: &str, value: &T) -> TxResult<()> {
        self.put_raw(table, key.as_bytes(), &encode(value))
    }

    pub fn put_raw(&self, table: Table, key: &[u8], value: &[u8]) -> TxResult<()> {
        let value = sled::IVec::from(value);
        self.tree(table)?.insert(key, value.clone())?;
        self.wrote(table, key, Some(value));
        Ok(())
    }

    fn wrote(&self, table: Table, key: &[u8], value: Option<sled::IVec>) {
        if table != Table::Audit {
            self.written.borrow_mut().push((table, key.to_vec(), value));
        }
    }

    pub fn get_raw(&self, table: Table, key: &[u8]) -> TxResult<Option<Vec<u8>>> {
        Ok(self.tree(table)?.get(key)?.map(|v| v.to_vec()))
    }

    /// Inserts a record that must not exist yet.
    pub fn insert_new<T: Serialize>(&self, table: Table, key: &str, value: &T) -> TxResult<()> {
        if self.tree(table)?.get(key.as_bytes())?.is_some() {
            return Err(abort(StorageError::Conflict(format!(
                "{} {key:?} already exists",
                table.name()
            ))));
        }
        self.put(table, key, value)
    }

    pub fn remove(&self, table: Table, key: &str) -> TxResult<()> {
        self.tree(table)?.remove(key.as_bytes())?;
        self.wrote(table, key.as_bytes(), None);
        Ok(())
    }

    /// Appends an audit record chained to the previous one.
    pub fn audit(&self, event: &AuditEvent) -> TxResult<AuditRecord> {
        let meta = self.tree(Table::Meta)?;
        let seq = match meta.get(super::audit::SEQ_KEY)? {
            Some(v) => u64::from_be_bytes(v.as_ref().try_into().unwrap_or([0; 8])) + 1,
            None => 1,
        };
        let prev_hash = match meta.get(super::audit::HEAD_KEY)? {
            Some(v) => String::from_utf8_lossy(&v).into_owned(),
            None => String::new(),
        };
        let record = super::audit::chain(seq, prev_hash, event);
        self.tree(Table::Audit)?
            .insert(&seq.to_be_bytes(), encode(&record))?;
        meta.insert(super::audit::SEQ_KEY, &seq.to_be_bytes())?;
        meta.insert(super::audit::HEAD_KEY, record.hash.as_bytes())?;
        Ok(record)
    }
}

/// Aborts a transaction with `err`.
pub fn abort(err: StorageError) -> TxError {
    ConflictableTransactionError::Abort(err)
}

/// Aborts a transaction with a caller-facing reason.
pub fn reject(msg: impl Into<String>) -> TxError {
    ConflictableTransactionError::Abort(StorageError::Rejected(msg.into()))
}

impl Store {
    /// Runs `f` as one atomic transaction over every table. `f` may run more
    /// than once (on conflicts), so it must not have side effects outside `tx`.
    pub fn transact<R>(&self, f: impl Fn(&Tx<'_>) -> TxResult<R>) -> Result<R> {
        self.transact_on(&Table::ALL, f)
    }

    /// Like [`Store::transact`], over only `tables` (plus the audit log and
    /// its head, always included). Touching another table aborts the
    /// transaction with an error.
    pub fn transact_on<R>(
        &self,
        tables: &[Table],
        f: impl Fn(&Tx<'_>) -> TxResult<R>,
    ) -> Result<R> {
        let start = std::time::Instant::now();
        let mut slots = [None; Table::ALL.len()];
        let mut trees: Vec<&sled::Tree> = Vec::with_capacity(tables.len() + 2);
        for t in [Table::Meta, Table::Audit].iter().chain(tables) {
            if slots[t.index()].is_none() {
                slots[t.index()] = Some(trees.len());
                trees.push(self.tree(*t));
            }
        }
        let written = std::cell::RefCell::new(Vec::new());
        let seq = std::cell::Cell::new(0);
        let result = trees
            .as_slice()
            .transaction(|views: &Vec<TransactionalTree>| {
                // (sled may run the closure again on a conflict; the closure
                // runs under sled's transaction lock, so `seq` follows
                // commit order)
                written.borrow_mut().clear();
                seq.set(self.cache.next_seq());
                f(&Tx {
                    trees: views.as_slice(),
                    slots: &slots,
                    written: &written,
                })
            });
        if result.is_ok() {
            self.cache.apply(seq.get(), written.take());
        }
        if let Some(m) = self.flusher.metrics() {
            m.storage_transaction(start.elapsed());
        }
        match result {
            Ok(r) => Ok(r),
            Err(TransactionError::Abort(e)) => Err(e),
            Err(TransactionError::Storage(e)) => Err(StorageError::Db(e)),
        }
    }
}

use sled::Transactional;
