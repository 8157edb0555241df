//! Connection limits of one listener: open connections per client address
//! (an IPv4 address or an IPv6 /64), refusals counted in
//! `signet_http_connections_refused_total{listener,reason}` and logged at
//! most once per [`REFUSAL_LOG_INTERVAL`] with the number refused since the
//! last line (an attacker opening thousands of connections does not write
//! thousands of log lines).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `signet_http_connections_refused_total{listener,reason}`.
pub(crate) fn refused_counter(metrics: &crate::metrics::Metrics) -> prometheus::IntCounterVec {
    let labels = ["listener", "reason"];
    metrics
        .int_counter_vec(
            "signet_http_connections_refused_total",
            "Connections closed at once without being served, by listener and reason \
             (per_address_limit: the client address held server.max_connections_per_address).",
            &labels,
        )
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "cannot register signet_http_connections_refused_total");
            prometheus::IntCounterVec::new(prometheus::Opts::new("unregistered", "-"), &labels)
                .expect("a valid unregistered family")
        })
}

/// Shortest time between two log lines about refused connections.
pub(crate) const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The key connections are counted under: the IPv4 address, or the /64 of
/// an IPv6 address (one host usually holds a whole /64).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(bits.into())
            }
        },
    }
}

/// Open connections per client address of one listener.
pub(crate) struct AddressLimit {
    /// None: no per-address cap (behind a TLS proxy).
    cap: Option<usize>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted connection; dropping it frees its place.
pub(crate) struct AddressSlot {
    limit: Arc<AddressLimit>,
    key: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self.limit.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = open.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

impl AddressLimit {
    pub(crate) fn new(cap: Option<usize>) -> Arc<AddressLimit> {
        Arc::new(AddressLimit {
            cap,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for one more connection from `ip`, or None at the cap.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let key = client_key(ip);
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let n = open.entry(key).or_insert(0);
        if self.cap.is_some_and(|cap| *n >= cap) {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            limit: self.clone(),
            key,
        })
    }
}

/// Counts refused connections and logs them rate-limited.
pub(crate) struct RefusalLog {
    listener: &'static str,
    counter: prometheus::IntCounterVec,
    last_logged: Option<Instant>,
    since_last: u64,
}

impl RefusalLog {
    pub(crate) fn new(listener: &'static str, counter: prometheus::IntCounterVec) -> RefusalLog {
        RefusalLog {
            listener,
            counter,
            last_logged: None,
            since_last: 0,
        }
    }

    /// Records one refusal of a connection from `ip` for `reason`.
    pub(crate) fn refused(&mut self, ip: IpAddr, reason: &'static str, cap: usize) {
        self.counter
            .with_label_values(&[self.listener, reason])
            .inc();
        self.since_last += 1;
        let due = match self.last_logged {
            None => true,
            Some(t) => t.elapsed() >= REFUSAL_LOG_INTERVAL,
        };
        if due {
            tracing::warn!(
                listener = self.listener,
                client = %ip,
                reason,
                limit = cap,
                refused = self.since_last,
                "refused connections: a client address holds too many open connections \
                 (server.max_connections_per_address); at most one such line every 10 s"
            );
            self.last_logged = Some(Instant::now());
            self.since_last = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_connections_per_address_and_frees_them() {
        let limit = AddressLimit::new(Some(2));
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        let b: IpAddr = "127.0.0.2".parse().unwrap();
        let one = limit.admit(a).unwrap();
        let _two = limit.admit(a).unwrap();
        assert!(limit.admit(a).is_none());
        assert!(
            limit.admit(b).is_some(),
            "another address has its own places"
        );
        drop(one);
        assert!(limit.admit(a).is_some());
        let unlimited = AddressLimit::new(None);
        let slots: Vec<_> = (0..10).map(|_| unlimited.admit(a).unwrap()).collect();
        assert_eq!(slots.len(), 10);
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let x: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let y: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let z: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(client_key(x), client_key(y));
        assert_ne!(client_key(x), client_key(z));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
