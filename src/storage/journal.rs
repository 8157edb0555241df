//! The change-set journal: crash atomicity without sled transactions.
//!
//! Why not sled transactions: in sled 0.34 every transaction (and every
//! `apply_batch`) seals and writes the current IO buffer twice, each write a
//! synchronous `pwrite` + `sync_file_range` handed to sled's IO thread pool,
//! which wakes all its idle threads for it. That made a transaction cost
//! about as much as a durable flush (see docs/performance-log.md, session 3).
//!
//! Instead a change set ([`super::tx`]) is written as:
//! 1. one journal record holding every write of the set (a single-key insert
//!    under [`PENDING_KEY`], which sled makes atomic; change sets run one at
//!    a time, so there is at most one);
//! 2. the writes themselves, as plain inserts and removals;
//! 3. the removal of the journal record.
//!
//! sled recovers a prefix of its log after a crash, so a recovered write of
//! step 2 implies its journal record was recovered too. On open,
//! [`Store::recover_journal`] re-applies every journal record still present
//! (the writes are idempotent puts and removals) and removes it: a change set
//! is either entirely present after a crash or entirely absent.
//!
//! Record format: the number of writes (u32 big-endian), then for each write
//! the table index (1 byte), the key length (u32 big-endian) and key, then
//! either 0 (removed) or 1, the value length (u32 big-endian) and value.

use sled::IVec;

use super::cache::Write;
use super::{Result, StorageError, Store, Table};

/// The key of the journal record of the change set being applied.
pub(super) const PENDING_KEY: &[u8] = b"pending";

/// Encodes the writes of one change set as a journal record.
pub(super) fn encode(writes: &[Write]) -> Vec<u8> {
    let size: usize = writes
        .iter()
        .map(|(_, k, v)| 10 + k.len() + v.as_ref().map_or(0, |v| v.len()))
        .sum();
    let mut out = Vec::with_capacity(4 + size);
    let count = u32::try_from(writes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&count.to_be_bytes());
    for (table, key, value) in writes {
        out.push(table.index() as u8);
        push_bytes(&mut out, key);
        match value {
            None => out.push(0),
            Some(v) => {
                out.push(1);
                push_bytes(&mut out, v);
            }
        }
    }
    out
}

fn push_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    // Keys and records are far below 4 GiB (certificates, JSON records).
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Decodes a journal record (the reason if it is malformed).
pub(super) fn decode(bytes: &[u8]) -> Result<Vec<Write>, String> {
    let (count, mut bytes) = bytes
        .split_first_chunk::<4>()
        .ok_or("truncated before the write count")?;
    let count = u32::from_be_bytes(*count);
    let mut writes = Vec::new();
    for _ in 0..count {
        let (&table, rest) = bytes.split_first().ok_or("truncated before a write")?;
        let table = *Table::ALL
            .get(usize::from(table))
            .ok_or_else(|| format!("unknown table index {table}"))?;
        let (key, rest) = take_bytes(rest)?;
        let (&flag, rest) = rest.split_first().ok_or("truncated before a value flag")?;
        let (value, rest) = match flag {
            0 => (None, rest),
            1 => {
                let (v, rest) = take_bytes(rest)?;
                (Some(IVec::from(v)), rest)
            }
            other => return Err(format!("bad value flag {other}")),
        };
        writes.push((table, key.to_vec(), value));
        bytes = rest;
    }
    if !bytes.is_empty() {
        return Err(format!("{} bytes after the last write", bytes.len()));
    }
    Ok(writes)
}

fn take_bytes(bytes: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let (len, rest) = bytes
        .split_first_chunk::<4>()
        .ok_or("truncated before a length")?;
    let len = u32::from_be_bytes(*len) as usize;
    if rest.len() < len {
        return Err(format!("length {len} runs past the end"));
    }
    Ok(rest.split_at(len))
}

impl Store {
    /// Applies `writes` to their trees (plain inserts and removals).
    pub(super) fn apply_writes(&self, writes: &[Write]) -> Result<()> {
        for (table, key, value) in writes {
            let tree = self.tree(*table);
            match value {
                Some(v) => tree.insert(key.as_slice(), v.clone())?,
                None => tree.remove(key.as_slice())?,
            };
        }
        Ok(())
    }

    /// Completes every change set a crash interrupted (see the module
    /// documentation) and makes the result durable. Returns how many there
    /// were.
    pub(super) fn recover_journal(&self) -> Result<usize> {
        let mut recovered = 0;
        for item in self.journal.iter() {
            let (key, record) = item?;
            let writes = decode(&record).map_err(|reason| StorageError::Corrupt {
                kind: "journal",
                key: hex::encode(&key),
                reason,
            })?;
            self.apply_writes(&writes)?;
            self.journal.remove(&key)?;
            recovered += 1;
        }
        if recovered > 0 {
            self.db.flush()?;
        }
        Ok(recovered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_malformed_ones_are_refused() {
        let writes: Vec<Write> = vec![
            (
                Table::Certificates,
                b"01ab".to_vec(),
                Some(IVec::from(&b"cert"[..])),
            ),
            (Table::AcmeOrders, b"o/1".to_vec(), None),
            (Table::Meta, Vec::new(), Some(IVec::from(&b""[..]))),
        ];
        let bytes = encode(&writes);
        assert_eq!(decode(&bytes).unwrap(), writes);
        assert_eq!(decode(&encode(&[])).unwrap(), Vec::<Write>::new());
        // every truncation is refused, never a panic
        for cut in 0..bytes.len() {
            let r = decode(&bytes[..cut]);
            assert!(r.is_err(), "truncation at {cut} accepted: {r:?}");
        }
        assert!(decode(&[0, 0, 0, 1, 200, 0, 0, 0, 0, 0])
            .unwrap_err()
            .contains("table"));
        assert!(decode(&[0, 0, 0, 1, 0, 0, 0, 0, 0, 7])
            .unwrap_err()
            .contains("flag"));
        let mut long = bytes.clone();
        long.push(0);
        assert!(decode(&long).unwrap_err().contains("after the last write"));
    }

    #[test]
    fn an_interrupted_change_set_is_completed_on_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            // a crash after the journal record and one of the two writes
            let writes: Vec<Write> = vec![
                (
                    Table::Certificates,
                    b"c1".to_vec(),
                    Some(IVec::from(&b"1"[..])),
                ),
                (Table::Serials, b"c1".to_vec(), Some(IVec::from(&b"2"[..]))),
            ];
            s.journal
                .insert(7u64.to_be_bytes(), encode(&writes))
                .unwrap();
            s.apply_writes(&writes[..1]).unwrap();
            s.db.flush().unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(
            s.tree(Table::Serials).get(b"c1").unwrap().as_deref(),
            Some(&b"2"[..])
        );
        assert!(s.journal.is_empty());
        // a corrupt record stops the open with an error naming it
        s.journal.insert(9u64.to_be_bytes(), &[200u8][..]).unwrap();
        s.db.flush().unwrap();
        drop(s);
        let err = Store::open(dir.path()).unwrap_err().to_string();
        assert!(err.contains("journal"), "{err}");
    }
}
