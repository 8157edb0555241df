//! The store: the only code that knows sled.
//!
//! Records are JSON-encoded serde types ([`model`]). Methods are named for
//! what they mean (`redeem_invitation`, `record_issuance`); every change that
//! touches more than one record runs as one atomic change set, which also
//! appends the audit record for it, so an action and its audit entry are
//! never separated. Methods that return a certificate flush to disk first.
//!
//! Files: `tx.rs` (change sets over named tables + the audit chain),
//! `journal.rs` (what makes a change set crash-atomic), `overlay.rs` (what
//! makes it visible at one instant), `claims.rs` (what an issuance in
//! progress holds until its one change set), `flush.rs` (group commit), `cache.rs`
//! (write-through read cache for records read on every request), `links.rs`
//! (the ACME order / EST binding written with a request or certificate),
//! `lineage.rs` (which certificate renewed which; a certificate renews once),
//! `audit.rs`, and one file per domain (`acme.rs`, `est.rs`, `certs.rs`,
//! `crls.rs`, `directory.rs`, `invitations.rs`).

pub mod acme;
pub mod acme_status;
pub mod model;

pub mod audit;
pub mod auth_failures;
mod cache;
mod certs;
mod claims;
pub mod crls;
mod deferred;
mod directory;
pub mod est;
mod flush;
mod invitations;
mod journal;
pub mod lineage;
mod links;
mod overlay;
pub mod sequence;
mod tx;

use std::path::Path;

use serde::{de::DeserializeOwned, Serialize};
use sled::Tree;

pub use claims::IssuanceClaim;
pub use deferred::{defer_flushes, DeferredFlush};
pub use flush::FlushIntent;
pub use lineage::{PendingSupersession, RevocationScope};
pub use links::{Redemption, RequestLink};
pub use tx::Tx;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("database: {0}")]
    Db(#[from] sled::Error),
    /// The store's lock file is held by another process.
    #[error(
        "the store {} is in use by another process: another signet is probably running \
         on this data directory (stop it, or give this one its own server.data_dir)",
        .0.display()
    )]
    InUse(std::path::PathBuf),
    #[error("record {kind} {key:?} is not valid JSON: {reason}")]
    Corrupt {
        kind: &'static str,
        key: String,
        reason: String,
    },
    #[error("{kind} {key:?} not found")]
    NotFound { kind: &'static str, key: String },
    #[error("{0}")]
    Conflict(String),
    /// A precondition checked inside a transaction failed (message for the caller).
    #[error("{0}")]
    Rejected(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The tables (sled trees). The order is the index into `Store::trees`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    Meta,
    Audit,
    Organizations,
    Departments,
    Persons,
    Profiles,
    Endpoints,
    Accounts,
    Invitations,
    Requests,
    Certificates,
    Serials,
    BlockedKeys,
    AcmeAccounts,
    AcmeAccountKeys,
    AcmeOrders,
    AcmeAuthorizations,
    Crls,
}

impl Table {
    pub const ALL: [Table; 18] = [
        Table::Meta,
        Table::Audit,
        Table::Organizations,
        Table::Departments,
        Table::Persons,
        Table::Profiles,
        Table::Endpoints,
        Table::Accounts,
        Table::Invitations,
        Table::Requests,
        Table::Certificates,
        Table::Serials,
        Table::BlockedKeys,
        Table::AcmeAccounts,
        Table::AcmeAccountKeys,
        Table::AcmeOrders,
        Table::AcmeAuthorizations,
        Table::Crls,
    ];

    fn name(self) -> &'static str {
        match self {
            Table::Meta => "meta",
            Table::Audit => "audit",
            Table::Organizations => "organizations",
            Table::Departments => "departments",
            Table::Persons => "persons",
            Table::Profiles => "profiles",
            Table::Endpoints => "endpoints",
            Table::Accounts => "accounts",
            Table::Invitations => "invitations",
            Table::Requests => "requests",
            Table::Certificates => "certificates",
            Table::Serials => "serials",
            Table::BlockedKeys => "blocked_keys",
            Table::AcmeAccounts => "acme_accounts",
            Table::AcmeAccountKeys => "acme_account_keys",
            Table::AcmeOrders => "acme_orders",
            Table::AcmeAuthorizations => "acme_authorizations",
            Table::Crls => "crls",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The Signet store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    trees: Vec<Tree>,
    /// Group commit of [`Store::flush`] (shared by the clones of this store).
    flusher: std::sync::Arc<flush::FlushCoordinator>,
    /// Records read on the request path (`storage/cache.rs`).
    cache: std::sync::Arc<cache::ReadCache>,
    /// Change sets not yet fully applied (`storage/journal.rs`).
    journal: Tree,
    /// Serializes change sets (`storage/tx.rs`).
    writer: std::sync::Arc<tx::Writer>,
    /// The change set being applied (`storage/overlay.rs`).
    overlay: std::sync::Arc<overlay::Overlay>,
    /// What issuances in progress will use (`storage/claims.rs`).
    claims: std::sync::Arc<claims::Claims>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// sled 0.34 reports a lock held by another process only as an I/O error
/// whose text begins "could not acquire lock" (config.rs, around the
/// `try_lock_exclusive` call): name what it means.
fn open_error(dir: &Path, e: sled::Error) -> StorageError {
    match &e {
        sled::Error::Io(io) if io.to_string().starts_with("could not acquire lock") => {
            StorageError::InUse(dir.to_path_buf())
        }
        _ => StorageError::Db(e),
    }
}

/// sled 0.34 has no file-mode option: it creates `conf`, `db`, `blobs/`
/// and `snap.*` with the process's umask (0644 under the usual 022). The
/// store holds invitation HMAC keys, so after opening, every entry of the
/// store directory is made private (directories 0700, files 0600); files
/// sled creates later inherit `signet serve`'s umask 077
/// (`server::permissions`).
fn make_private(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let io = |e: std::io::Error| {
            StorageError::Db(sled::Error::Io(std::io::Error::new(
                e.kind(),
                format!("making the store {} private: {e}", dir.display()),
            )))
        };
        let mut pending = vec![dir.to_path_buf()];
        while let Some(path) = pending.pop() {
            let meta = std::fs::symlink_metadata(&path).map_err(io)?;
            if meta.file_type().is_symlink() {
                continue;
            }
            let want = if meta.is_dir() { 0o700 } else { 0o600 };
            if meta.permissions().mode() & 0o777 != want {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(want))
                    .map_err(io)?;
            }
            if meta.is_dir() {
                for entry in std::fs::read_dir(&path).map_err(io)? {
                    pending.push(entry.map_err(io)?.path());
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

impl Store {
    /// Opens (or creates) the store in `dir` with sled's default cache.
    pub fn open(dir: &Path) -> Result<Store> {
        let db = sled::Config::new().path(dir).open();
        let store = Self::from_db(db.map_err(|e| open_error(dir, e))?)?;
        make_private(dir)?;
        Ok(store)
    }

    /// Opens (or creates) the store in `dir`, caching at most `cache_bytes`
    /// of records in memory.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> Result<Store> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(cache_bytes)
            .open();
        let store = Self::from_db(db.map_err(|e| open_error(dir, e))?)?;
        make_private(dir)?;
        Ok(store)
    }

    /// A throw-away in-memory store (tests).
    pub fn temporary() -> Result<Store> {
        let db = sled::Config::new().temporary(true).open()?;
        Self::from_db(db)
    }

    fn from_db(db: sled::Db) -> Result<Store> {
        let trees = Table::ALL
            .iter()
            .map(|t| db.open_tree(t.name()))
            .collect::<Result<Vec<_>, _>>()?;
        let journal = db.open_tree("journal")?;
        let flusher = std::sync::Arc::new(flush::FlushCoordinator::default());
        let flush_db = db.clone();
        flusher.set_flush_fn(Box::new(move || {
            flush_db.flush().map(|_| ()).map_err(|e| e.to_string())
        }));
        let store = Store {
            db,
            trees,
            flusher,
            cache: Default::default(),
            journal,
            writer: Default::default(),
            overlay: Default::default(),
            claims: Default::default(),
        };
        store.recover_journal()?;
        store.load_writer_state()?;
        Ok(store)
    }

    pub(crate) fn tree(&self, table: Table) -> &Tree {
        &self.trees[table.index()]
    }

    /// Makes everything written so far durable. Concurrent callers share
    /// flushes (group commit, see `storage/flush.rs`): this returns once a
    /// flush that started after the call has completed.
    pub fn flush(&self) -> Result<()> {
        self.flush_with(None)
    }

    /// Announces a flush request to come: a flush about to start waits
    /// briefly for announced writers so they share it (`storage/flush.rs`).
    pub(crate) fn announce_flush(&self) -> FlushIntent {
        self.flusher.announce()
    }

    /// Flush requests announced and not yet made or withdrawn (tests).
    #[cfg(test)]
    pub(crate) fn announced_flushes(&self) -> usize {
        self.flusher.lock_announced()
    }

    /// [`Store::flush`] for a writer that announced it (`intent`).
    pub(crate) fn flush_with(&self, intent: Option<FlushIntent>) -> Result<()> {
        // inside `defer_flushes` the caller awaits the flush later
        let Err(intent) = deferred::try_defer(&self.flusher, intent) else {
            return Ok(());
        };
        let db = &self.db;
        self.flusher
            .flush_after_now(intent, || db.flush().map(|_| ()).map_err(|e| e.to_string()))
            .map_err(|msg| {
                StorageError::Db(sled::Error::Io(std::io::Error::other(format!(
                    "flushing the store: {msg}"
                ))))
            })
    }

    /// Records flush latency and batch sizes into `metrics` (first call wins).
    pub fn set_metrics(&self, metrics: &crate::metrics::Metrics) {
        self.flusher.set_metrics(metrics);
    }

    /// Reads one record (through the read cache for cacheable tables).
    pub(crate) fn get<T: DeserializeOwned>(&self, table: Table, key: &str) -> Result<Option<T>> {
        match self.read_raw(table, key.as_bytes())? {
            Some(bytes) => decode(table, key, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// The raw value of `key` in `table` as of the last change set: the one
    /// being applied (`overlay.rs`), else the read cache for cacheable
    /// tables, else sled.
    pub(crate) fn read_raw(&self, table: Table, key: &[u8]) -> Result<Option<sled::IVec>> {
        if let Some(value) = self.overlay.get(table, key) {
            return Ok(value);
        }
        if cache::cacheable(table) {
            self.get_cached(table, key)
        } else {
            Ok(self.tree(table).get(key)?)
        }
    }

    /// The raw value of `key` in `table`, through the read cache. Only for
    /// keys that nothing but change sets writes.
    pub(crate) fn get_cached(&self, table: Table, key: &[u8]) -> Result<Option<sled::IVec>> {
        if let Some(value) = self.overlay.get(table, key) {
            return Ok(value);
        }
        let tree = self.tree(table);
        let (value, hit) = self.cache.get_or_read(table, key, || tree.get(key))?;
        if let Some(m) = self.flusher.metrics() {
            m.storage_cache_read(hit);
        }
        Ok(value)
    }

    /// All records of a table, in key order.
    pub(crate) fn scan<T: DeserializeOwned>(&self, table: Table) -> Result<Vec<T>> {
        self.scan_prefix(table, "")
    }

    /// Records whose key starts with `prefix`, in key order.
    pub(crate) fn scan_prefix<T: DeserializeOwned>(
        &self,
        table: Table,
        prefix: &str,
    ) -> Result<Vec<T>> {
        let mut out = Vec::new();
        for item in self.tree(table).scan_prefix(prefix.as_bytes()) {
            let (k, v) = item?;
            out.push(decode(table, &String::from_utf8_lossy(&k), &v)?);
        }
        Ok(out)
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing our own model types cannot fail (no maps with non-string keys).
    serde_json::to_vec(value).unwrap_or_default()
}

pub(crate) fn decode<T: DeserializeOwned>(table: Table, key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StorageError::Corrupt {
        kind: table.name(),
        key: key.to_string(),
        reason: e.to_string(),
    })
}

/// A new identifier with a readable prefix, e.g. `ord_3f9a1c2b7d0a91c4e`:
/// a per-process counter from a random start, then 24 random bits. Records
/// created one after the other get neighbouring keys (see
/// [`sequence`]); the ids are unique, not secret (every record they name is
/// behind the account's JWS or the admin token).
pub fn new_id(prefix: &str) -> String {
    use rand::RngCore;
    static NEXT: std::sync::OnceLock<sequence::Sequence> = std::sync::OnceLock::new();
    let n = NEXT.get_or_init(|| sequence::Sequence::new(1 << 40)).next();
    let mut b = [0u8; 3];
    // the thread's CSPRNG: a system call per id was 1 of ~15 per enrollment
    rand::thread_rng().fill_bytes(&mut b);
    // counter first: ids made one after the other are neighbouring keys
    format!("{prefix}_{n:010x}{}", hex::encode(b))
}

#[cfg(test)]
mod tests;
