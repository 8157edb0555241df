//! Counters for new keys: each starts at a random point of its span and
//! counts up (wrapping), per process.
//!
//! sled keeps a tree's keys in sorted leaves and only a bounded cache of
//! them in memory. Keys drawn at random make every insert into a large tree
//! land in a random leaf, which must be read back from the log first: the
//! store got slower as it grew (EST enrollments after 25,000 ACME flows
//! cost 16 % more CPU than on a fresh store). Keys that start with a counter
//! land next to the previous one, in a leaf that is already in memory.
//! Certificate serials ([`crate::ca::Serial::fresh`]) and record ids
//! ([`super::new_id`]) start with such a counter and end with random bits.

use std::sync::atomic::{AtomicU64, Ordering};

/// A counter over `0..span` from a random start.
#[derive(Debug)]
pub struct Sequence {
    next: AtomicU64,
    span: u64,
}

impl Sequence {
    /// A counter over `0..span` (span > 0) starting at a random value.
    pub fn new(span: u64) -> Sequence {
        use rand::RngCore;
        let span = span.max(1);
        Sequence {
            next: AtomicU64::new(rand::rngs::OsRng.next_u64() % span),
            span,
        }
    }

    /// The next value (wraps to 0 after `span - 1`).
    pub fn next(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed) % self.span
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_from_a_random_start_and_wraps_within_the_span() {
        let s = Sequence::new(1000);
        let first = s.next();
        assert!(first < 1000);
        for i in 1..2500u64 {
            assert_eq!(s.next(), (first + i) % 1000);
        }
        let starts: std::collections::HashSet<u64> =
            (0..8).map(|_| Sequence::new(1 << 40).next()).collect();
        assert!(starts.len() > 1, "the start is random");
    }

    #[test]
    fn ids_and_serials_made_in_turn_sort_in_turn() {
        let ids: Vec<String> = (0..64).map(|_| super::super::new_id("ord")).collect();
        // at most one wrap of the 40-bit counter could break the order
        let sorted = ids.windows(2).filter(|w| w[0] < w[1]).count();
        assert!(sorted >= 62, "{ids:?}");
        assert!(ids.iter().all(|i| i.len() == "ord_".len() + 16));
        let serials: Vec<crate::ca::Serial> = (0..64).map(|_| crate::ca::Serial::fresh()).collect();
        let sorted = serials.windows(2).filter(|w| w[0] < w[1]).count();
        assert!(sorted >= 62);
        for s in &serials {
            assert!(s.0[0] != 0 && s.0[0] < 0x80, "positive, 16 octets in DER");
        }
        // the random part differs between neighbours
        assert!(serials.windows(2).all(|w| w[0].0[5..] != w[1].0[5..]));
    }
}
