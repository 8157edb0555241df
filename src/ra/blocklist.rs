//! Keys the RA refuses whatever the profile says: weak keys
//! ([`super::keycheck`]) and blocked keys. A key is blocked when a
//! certificate for it was revoked for keyCompromise (the store's
//! `blocked_keys` table, written in the revocation's change set) or when the
//! operator lists it in `ra.blocked_keys_file` (keys known compromised
//! elsewhere, e.g. Debian's weak keys of CVE-2008-0166). Both name a key by
//! the SHA-256 of its DER SubjectPublicKeyInfo, in hex, and one check
//! (`Ra::refuse_weak_key`) consults both.

use std::collections::HashSet;
use std::path::Path;

use super::{Ra, RaError};

/// The operator's list of compromised keys (SPKI SHA-256 hashes).
#[derive(Debug, Clone, Default)]
pub struct BlockedKeys {
    hashes: HashSet<String>,
}

impl BlockedKeys {
    /// Reads a blocklist: one hash per line (64 hex digits, any case, colons
    /// allowed), anything after it on the line and lines starting with `#`
    /// ignored. The error names the line.
    pub fn load(path: &Path) -> Result<BlockedKeys, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("{} cannot be read: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Parses the text of a blocklist (see [`BlockedKeys::load`]).
    pub fn parse(text: &str) -> Result<BlockedKeys, String> {
        let mut hashes = HashSet::new();
        for (i, line) in text.lines().enumerate() {
            let Some(token) = line.split_whitespace().next() else {
                continue;
            };
            if token.starts_with('#') {
                continue;
            }
            let hash = token.replace(':', "").to_ascii_lowercase();
            if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(format!(
                    "line {}: {:?} is not the SHA-256 of a SubjectPublicKeyInfo (64 hex digits)",
                    i + 1,
                    token.chars().take(80).collect::<String>()
                ));
            }
            hashes.insert(hash);
        }
        Ok(BlockedKeys { hashes })
    }

    pub fn contains(&self, spki_sha256: &str) -> bool {
        self.hashes.contains(spki_sha256)
    }

    pub fn len(&self) -> usize {
        self.hashes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hashes.is_empty()
    }
}

impl Ra {
    /// Uses the operator's blocklist (`ra.blocked_keys_file`).
    pub fn with_blocked_keys(self, keys: BlockedKeys) -> Ra {
        let _ = self.blocked_keys.set(keys);
        self
    }

    /// Refuses a weak key (small factor, Fermat, ROCA, exponent) and a
    /// blocked one (keyCompromise revocation or the operator's list).
    pub(crate) fn refuse_weak_key(&self, spki_der: &[u8]) -> Result<(), RaError> {
        super::keycheck::check_spki(spki_der).map_err(|w| RaError::BadPublicKey(w.to_string()))?;
        let hash = super::enroll::spki_sha256(spki_der);
        if self.blocked_keys.get().is_some_and(|b| b.contains(&hash)) {
            return Err(RaError::BadPublicKey(
                "this key is on the operator's list of compromised keys and is blocked".into(),
            ));
        }
        if self.store.is_key_blocked(&hash)? {
            return Err(RaError::BadPublicKey(
                "this key was reported compromised and is blocked".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hashes_comments_and_colons() {
        let h = "AB".repeat(32);
        let colons = (0..32).map(|_| "cd").collect::<Vec<_>>().join(":");
        let b = BlockedKeys::parse(&format!(
            "# Debian weak keys\n\n{h}  debian 4096\n{colons}\n"
        ))
        .unwrap();
        assert_eq!(b.len(), 2);
        assert!(b.contains(&"ab".repeat(32)));
        assert!(b.contains(&"cd".repeat(32)));
    }

    #[test]
    fn a_bad_line_is_named() {
        let e = BlockedKeys::parse("# ok\nnot-a-hash\n").unwrap_err();
        assert!(e.starts_with("line 2:"), "{e}");
        let e = BlockedKeys::parse(&"a".repeat(63)).unwrap_err();
        assert!(e.starts_with("line 1:"), "{e}");
    }
}
