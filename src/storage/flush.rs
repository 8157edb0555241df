//! Group commit: many durable writes share one flush (fsync).
//!
//! A caller that needs its write on disk ([`Store::flush`]) needs a flush that
//! *started after its write*. Flushes run one at a time; a caller arriving
//! while one is running waits for the next one, and whoever finds no flush
//! running starts it on its own thread (no background thread). So under load
//! each flush covers every write made while the previous one ran, the fsync
//! rate stays at one per flush latency, and no caller ever returns before a
//! flush that covers its write has completed.
//!
//! Writers can *announce* that they will ask for a flush soon
//! ([`FlushCoordinator::announce`]: an issuance between its serial
//! reservation and its certificate record). A caller about to lead a flush
//! first waits, at most [`MAX_LINGER`], while announced writers are still on
//! their way, so they share its flush instead of each paying for the next
//! one (sled wakes its whole IO thread pool for every flush). Nobody waits
//! when nothing is announced, and the linger only delays the start of a flush:
//! a caller still returns only after a flush that started after its call.
//!
//! `signet_storage_flush_duration_seconds` and `signet_storage_flush_batch_size`
//! show the flush latency and how many callers each flush served.
//!
//! [`Store::flush`]: super::Store::flush

use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::metrics::Metrics;

#[derive(Default)]
struct State {
    /// Sequence number of the last flush started (0: none yet).
    started: u64,
    /// Whether a flush is running now.
    running: bool,
    /// Highest sequence number of a flush that succeeded.
    done_ok: u64,
    /// The last failed flush: (sequence number, error).
    failed: Option<(u64, String)>,
    /// Callers that need the next flush to start (its batch).
    waiting: usize,
    /// Writers that announced a flush request soon.
    announced: usize,
}

/// The longest a flush waits for announced writers before it starts.
pub(crate) const MAX_LINGER: Duration = Duration::from_millis(1);

/// A writer's announcement that it will ask for a flush soon (see the module
/// documentation). Withdrawn when dropped, or handed to
/// [`FlushCoordinator::flush_after_now`] when the writer asks.
pub struct FlushIntent {
    coord: Arc<FlushCoordinator>,
    live: bool,
}

impl std::fmt::Debug for FlushIntent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlushIntent")
            .field("live", &self.live)
            .finish()
    }
}

impl Drop for FlushIntent {
    fn drop(&mut self) {
        if self.live {
            let mut st = self.coord.lock();
            st.announced = st.announced.saturating_sub(1);
            drop(st);
            self.coord.arrivals.notify_all();
        }
    }
}

/// Coordinates the flushes of one store.
#[derive(Default)]
pub(crate) struct FlushCoordinator {
    state: Mutex<State>,
    done: Condvar,
    /// Signalled when an announced writer arrives or withdraws.
    arrivals: Condvar,
    metrics: OnceLock<Metrics>,
    /// Longest linger for announced writers (None: [`MAX_LINGER`]; tests).
    linger: Option<Duration>,
}

impl FlushCoordinator {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Announces a flush request to come (see the module documentation).
    pub(crate) fn announce(self: &Arc<Self>) -> FlushIntent {
        self.lock().announced += 1;
        FlushIntent {
            coord: self.clone(),
            live: true,
        }
    }

    pub(crate) fn set_metrics(&self, metrics: &Metrics) {
        let _ = self.metrics.set(metrics.clone());
    }

    /// The store's metrics, once set.
    pub(crate) fn metrics(&self) -> Option<&Metrics> {
        self.metrics.get()
    }

    /// Returns once a flush that started after this call has completed
    /// (`Err` with its message if that flush failed). `flush` performs one
    /// flush; it is called by at most one caller at a time.
    /// `intent` is the caller's announcement, if it made one.
    pub(crate) fn flush_after_now(
        &self,
        intent: Option<FlushIntent>,
        flush: impl FnOnce() -> Result<(), String>,
    ) -> Result<(), String> {
        let mut st = self.lock();
        // The first flush to start after now: the next sequence number.
        let target = st.started + 1;
        st.waiting += 1;
        if let Some(mut intent) = intent {
            if intent.live {
                intent.live = false;
                st.announced = st.announced.saturating_sub(1);
                self.arrivals.notify_all();
            }
        }
        let mut flush = Some(flush);
        loop {
            if st.done_ok >= target {
                return Ok(());
            }
            if let Some((seq, msg)) = &st.failed {
                if *seq >= target {
                    return Err(msg.clone());
                }
            }
            if !st.running {
                // Lead the next flush: it covers every caller waiting so far.
                let Some(f) = flush.take() else {
                    // Unreachable: a caller leads at most one flush, and the
                    // flush it led has target's sequence number or later.
                    return Err("group commit: flush bookkeeping error".into());
                };
                st.running = true;
                // Linger for announced writers (they join this batch).
                let deadline = Instant::now() + self.linger.unwrap_or(MAX_LINGER);
                while st.announced > 0 {
                    let now = Instant::now();
                    if now >= deadline {
                        break;
                    }
                    st = self
                        .arrivals
                        .wait_timeout(st, deadline - now)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                st.started += 1;
                let seq = st.started;
                let batch = st.waiting.max(1);
                st.waiting = 0;
                drop(st);
                let start = Instant::now();
                let result = f();
                if let Some(m) = self.metrics.get() {
                    m.storage_flush(start.elapsed(), batch);
                }
                st = self.lock();
                st.running = false;
                match &result {
                    Ok(()) => st.done_ok = st.done_ok.max(seq),
                    Err(e) => st.failed = Some((seq, e.clone())),
                }
                self.done.notify_all();
                continue;
            }
            st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[test]
    fn a_caller_returns_only_after_a_flush_that_started_after_it() {
        // "writes" are a counter; a flush snapshots it as "durable".
        let coord = Arc::new(FlushCoordinator::default());
        let written = Arc::new(AtomicU64::new(0));
        let durable = Arc::new(AtomicU64::new(0));
        let flushes = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (coord, written, durable, flushes) = (
                    coord.clone(),
                    written.clone(),
                    durable.clone(),
                    flushes.clone(),
                );
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let mine = written.fetch_add(1, Ordering::SeqCst) + 1;
                        let (w, d, f) = (written.clone(), durable.clone(), flushes.clone());
                        coord
                            .flush_after_now(None, move || {
                                let snapshot = w.load(Ordering::SeqCst);
                                std::thread::sleep(Duration::from_millis(1));
                                d.fetch_max(snapshot, Ordering::SeqCst);
                                f.fetch_add(1, Ordering::SeqCst);
                                Ok(())
                            })
                            .unwrap();
                        assert!(
                            durable.load(Ordering::SeqCst) >= mine,
                            "returned before write {mine} was durable"
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(n < 800, "no grouping: {n} flushes for 800 writes");
        assert!(n >= 1);
    }

    fn coordinator_lingering(linger: Duration) -> Arc<FlushCoordinator> {
        Arc::new(FlushCoordinator {
            linger: Some(linger),
            ..FlushCoordinator::default()
        })
    }

    #[test]
    fn an_announced_writer_shares_the_flush_that_waited_for_it() {
        // A linger far longer than the test: the leader can only start once
        // the announced writer has arrived.
        let coord = coordinator_lingering(Duration::from_secs(600));
        let flushes = Arc::new(AtomicUsize::new(0));
        let intent = coord.announce();
        let leader = {
            let (coord, flushes) = (coord.clone(), flushes.clone());
            std::thread::spawn(move || {
                coord.flush_after_now(None, || {
                    flushes.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
            })
        };
        // wait until the leader is lingering (it claimed the flush)
        while !coord.lock().running {
            std::thread::yield_now();
        }
        let f2 = flushes.clone();
        coord
            .flush_after_now(Some(intent), move || {
                f2.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .unwrap();
        leader.join().unwrap().unwrap();
        assert_eq!(
            flushes.load(Ordering::SeqCst),
            1,
            "one flush for both writers"
        );
        let st = coord.lock();
        assert_eq!((st.announced, st.waiting), (0, 0));
    }

    #[test]
    fn a_withdrawn_announcement_ends_the_linger() {
        let coord = coordinator_lingering(Duration::from_secs(600));
        let intent = coord.announce();
        let leader = {
            let coord = coord.clone();
            std::thread::spawn(move || coord.flush_after_now(None, || Ok(())))
        };
        while !coord.lock().running {
            std::thread::yield_now();
        }
        // the writer gives up (e.g. its signing failed): the flush starts
        drop(intent);
        leader.join().unwrap().unwrap();
        assert_eq!(coord.lock().announced, 0);
    }

    #[test]
    fn a_failed_flush_fails_its_callers_and_the_next_one_recovers() {
        let coord = FlushCoordinator::default();
        let err = coord.flush_after_now(None, || Err("disk on fire".into()));
        assert_eq!(err.unwrap_err(), "disk on fire");
        assert!(coord.flush_after_now(None, || Ok(())).is_ok());
    }

    #[test]
    fn flushes_are_measured() {
        let coord = FlushCoordinator::default();
        let m = Metrics::new();
        coord.set_metrics(&m);
        coord.flush_after_now(None, || Ok(())).unwrap();
        let text = m.encode().unwrap();
        assert!(
            text.contains("signet_storage_flush_duration_seconds_count 1"),
            "{text}"
        );
        assert!(
            text.contains("signet_storage_flush_batch_size_sum 1"),
            "{text}"
        );
    }
}
