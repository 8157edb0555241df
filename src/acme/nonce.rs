//! Replay nonces (RFC 8555 §6.5): single use, expiring, bounded memory.
//!
//! A nonce is `base64url(issued_at_ms(8) || random(16) || tag(16))` where `tag` is
//! a truncated HMAC-SHA256 over the first 24 bytes under a server key. So any
//! instance holding the key can tell a nonce it issued from a forged one and
//! how old it is without storing issued nonces. Only *used* nonces are kept,
//! until they expire; when more than `max_used` are remembered the oldest
//! are forgotten and every nonce issued at or before the forgotten one's
//! timestamp is refused from then on, so a forgotten nonce can never be
//! replayed.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use aws_lc_rs::hmac;
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::clock::SharedClock;

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;
const BODY_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// Why a nonce was refused (all map to `badNonce`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NonceError {
    #[error("the JWS carries no nonce")]
    Missing,
    #[error("the nonce was not issued by this server")]
    Invalid,
    #[error("the nonce has expired")]
    Expired,
    #[error("the nonce has already been used")]
    Replayed,
}

struct Used {
    set: HashSet<[u8; BODY_LEN]>,
    order: VecDeque<(i64, [u8; BODY_LEN])>,
    /// Nonces issued at or before this unix millisecond are refused.
    floor: i64,
}

/// Issues and checks nonces.
pub struct NonceService {
    key: hmac::Key,
    ttl_ms: i64,
    max_used: usize,
    clock: SharedClock,
    used: Mutex<Used>,
}

impl std::fmt::Debug for NonceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NonceService")
            .field("ttl_ms", &self.ttl_ms)
            .field("max_used", &self.max_used)
            .finish_non_exhaustive()
    }
}

impl NonceService {
    /// A service with a fresh random key.
    pub fn new(ttl_secs: u64, max_used: usize, clock: SharedClock) -> NonceService {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self::with_key(&key, ttl_secs, max_used, clock)
    }

    /// A service with a given key (instances sharing the key accept each other's nonces).
    pub fn with_key(key: &[u8], ttl_secs: u64, max_used: usize, clock: SharedClock) -> Self {
        NonceService {
            key: hmac::Key::new(hmac::HMAC_SHA256, key),
            ttl_ms: i64::try_from(ttl_secs.saturating_mul(1000)).unwrap_or(i64::MAX),
            max_used: max_used.max(1),
            clock,
            used: Mutex::new(Used {
                set: HashSet::new(),
                order: VecDeque::new(),
                floor: i64::MIN,
            }),
        }
    }

    fn now_ms(&self) -> i64 {
        i64::try_from(self.clock.now().unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    fn tag(&self, body: &[u8]) -> [u8; TAG_LEN] {
        let full = hmac::sign(&self.key, body);
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&full.as_ref()[..TAG_LEN]);
        out
    }

    /// A fresh nonce.
    pub fn issue(&self) -> String {
        let now = self.now_ms();
        let mut raw = [0u8; BODY_LEN + TAG_LEN];
        raw[..8].copy_from_slice(&now.to_be_bytes());
        rand::rngs::OsRng.fill_bytes(&mut raw[8..BODY_LEN]);
        let tag = self.tag(&raw[..BODY_LEN]);
        raw[BODY_LEN..].copy_from_slice(&tag);
        B64.encode(raw)
    }

    /// Checks a nonce and marks it used.
    pub fn consume(&self, nonce: &str) -> Result<(), NonceError> {
        if nonce.is_empty() {
            return Err(NonceError::Missing);
        }
        let raw = B64.decode(nonce).map_err(|_| NonceError::Invalid)?;
        if raw.len() != BODY_LEN + TAG_LEN {
            return Err(NonceError::Invalid);
        }
        let expected = self.tag(&raw[..BODY_LEN]);
        if !bool::from(expected.ct_eq(&raw[BODY_LEN..])) {
            return Err(NonceError::Invalid);
        }
        let mut ts_bytes = [0u8; 8];
        ts_bytes.copy_from_slice(&raw[..8]);
        let issued = i64::from_be_bytes(ts_bytes);
        let now = self.now_ms();
        if issued > now.saturating_add(60_000) {
            return Err(NonceError::Invalid);
        }
        if now.saturating_sub(issued) > self.ttl_ms {
            return Err(NonceError::Expired);
        }
        let mut body = [0u8; BODY_LEN];
        body.copy_from_slice(&raw[..BODY_LEN]);

        let mut used = self.used.lock().unwrap_or_else(|e| e.into_inner());
        if issued <= used.floor {
            return Err(NonceError::Expired);
        }
        if used.set.contains(&body) {
            return Err(NonceError::Replayed);
        }
        // Forget used nonces that have expired anyway.
        while let Some((ts, b)) = used.order.front().copied() {
            if now.saturating_sub(ts) > self.ttl_ms {
                used.order.pop_front();
                used.set.remove(&b);
            } else {
                break;
            }
        }
        used.set.insert(body);
        used.order.push_back((issued, body));
        while used.order.len() > self.max_used {
            if let Some((ts, b)) = used.order.pop_front() {
                used.set.remove(&b);
                used.floor = used.floor.max(ts);
            }
        }
        Ok(())
    }

    /// How many used nonces are remembered (tests, metrics).
    pub fn remembered(&self) -> usize {
        self.used
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .set
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FakeClock;
    use std::sync::Arc;
    use time::{Duration, OffsetDateTime};

    fn clock() -> Arc<FakeClock> {
        Arc::new(FakeClock::new(
            OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap(),
        ))
    }

    #[test]
    fn nonce_is_single_use() {
        let c = clock();
        let svc = NonceService::new(60, 1000, c.clone());
        let n = svc.issue();
        assert_ne!(n, svc.issue());
        assert_eq!(svc.consume(&n), Ok(()));
        assert_eq!(svc.consume(&n), Err(NonceError::Replayed));
    }

    #[test]
    fn nonce_expires() {
        let c = clock();
        let svc = NonceService::new(60, 1000, c.clone());
        let n = svc.issue();
        c.advance(Duration::seconds(61));
        assert_eq!(svc.consume(&n), Err(NonceError::Expired));
    }

    #[test]
    fn forged_and_foreign_nonces_are_refused() {
        let c = clock();
        let a = NonceService::new(60, 1000, c.clone());
        let b = NonceService::new(60, 1000, c.clone());
        assert_eq!(b.consume(&a.issue()), Err(NonceError::Invalid));
        let mut raw = B64.decode(a.issue()).unwrap();
        raw[10] ^= 1;
        assert_eq!(a.consume(&B64.encode(raw)), Err(NonceError::Invalid));
        assert_eq!(a.consume("not base64!"), Err(NonceError::Invalid));
        assert_eq!(a.consume(""), Err(NonceError::Missing));
        // Instances sharing a key accept each other's nonces.
        let k1 = NonceService::with_key(b"shared", 60, 1000, c.clone());
        let k2 = NonceService::with_key(b"shared", 60, 1000, c.clone());
        assert_eq!(k2.consume(&k1.issue()), Ok(()));
    }

    #[test]
    fn memory_is_bounded_and_forgotten_nonces_cannot_be_replayed() {
        let c = clock();
        let svc = NonceService::new(3600, 100, c.clone());
        let first = svc.issue();
        svc.consume(&first).unwrap();
        c.advance(Duration::seconds(1));
        for _ in 0..150 {
            c.advance(Duration::milliseconds(1));
            let n = svc.issue();
            svc.consume(&n).unwrap();
        }
        assert!(svc.remembered() <= 100);
        // `first` was forgotten, but it is still refused.
        assert_eq!(svc.consume(&first), Err(NonceError::Expired));
        // New nonces still work.
        c.advance(Duration::seconds(1));
        assert_eq!(svc.consume(&svc.issue()), Ok(()));
    }

    #[test]
    fn expired_used_nonces_are_pruned() {
        let c = clock();
        let svc = NonceService::new(10, 1000, c.clone());
        for _ in 0..20 {
            svc.consume(&svc.issue()).unwrap();
        }
        c.advance(Duration::seconds(11));
        svc.consume(&svc.issue()).unwrap();
        assert_eq!(svc.remembered(), 1);
    }
}
