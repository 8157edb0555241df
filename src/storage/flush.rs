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
//! ([`FlushCoordinator::announce`]: an issuing request from the moment it is
//! queued for the signing pool, `Ra::run_issuing`, and an issuance between
//! its serial reservation and its certificate record). A caller about to lead a flush
//! first waits, at most [`MAX_LINGER`], while announced writers are still on
//! their way, so they share its flush instead of each paying for the next
//! one (sled wakes its whole IO thread pool for every flush). Nobody waits
//! when nothing is announced, and the linger only delays the start of a flush:
//! a caller still returns only after a flush that started after its call.
//!
//! Callers that must not block ([`FlushCoordinator::flush_after_now_then`],
//! used by the issuing jobs through `storage/deferred.rs`) register like
//! blocking callers with a callback, which the thread that completes their
//! flush calls (an async caller awaits one: `DeferredFlush::wait`). Since
//! they cannot lead a flush themselves, a flusher thread (`signet-flush`,
//! started on first use) leads the flushes they need.
//!
//! `signet_storage_flush_duration_seconds` and `signet_storage_flush_batch_size`
//! show the flush latency and how many callers each flush served.
//!
//! [`Store::flush`]: super::Store::flush

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, Weak};
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
    /// Highest flush sequence number an async caller waits for.
    async_target: u64,
    /// Callbacks of [`FlushCoordinator::flush_after_now_then`], each with the
    /// sequence number of the flush it waits for.
    callbacks: Vec<(u64, FlushCallback)>,
    /// Times a lingering leader woke up (tests).
    #[cfg(test)]
    linger_wakeups: usize,
}

/// Called with the result of the flush a caller waits for.
pub(crate) type FlushCallback = Box<dyn FnOnce(Result<(), String>) + Send>;

/// Performs one flush of the store (for the flusher thread).
pub(crate) type FlushFn = Box<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The longest a flush waits for announced writers before it starts.
pub(crate) const MAX_LINGER: Duration = Duration::from_millis(1);

/// A writer's announcement that it will ask for a flush soon (see the module
/// documentation). Withdrawn when dropped, or handed to
/// `FlushCoordinator::flush_after_now` when the writer asks.
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
            let last = st.announced == 0;
            drop(st);
            if last {
                self.coord.arrivals.notify_all();
            }
        }
    }
}

/// Coordinates the flushes of one store.
#[derive(Default)]
pub(crate) struct FlushCoordinator {
    state: Mutex<State>,
    done: Condvar,
    /// Signalled when the last announced writer arrives or withdraws (a
    /// lingering leader waits for no announced writer to be left).
    arrivals: Condvar,
    /// Signalled when an async caller needs a flush led for it.
    leader_wanted: Condvar,
    /// The store's flush, for the flusher thread.
    flush_fn: OnceLock<FlushFn>,
    /// Set once the flusher thread is started.
    flusher: OnceLock<()>,
    metrics: OnceLock<Metrics>,
    /// Longest linger for announced writers (None: [`MAX_LINGER`]; tests).
    linger: Option<Duration>,
}

impl FlushCoordinator {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writers announced now (tests).
    #[cfg(test)]
    pub(crate) fn lock_announced(&self) -> usize {
        self.lock().announced
    }

    /// Sets the flush the flusher thread performs for async callers.
    pub(crate) fn set_flush_fn(&self, f: FlushFn) {
        let _ = self.flush_fn.set(f);
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
                if st.announced == 0 {
                    self.arrivals.notify_all();
                }
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
                st = self.lead(st, f);
                continue;
            }
            st = self.done.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Runs one flush as its leader (`st` must show none running): lingers
    /// for announced writers, flushes, records the result and wakes every
    /// waiter, blocking or async.
    fn lead<'a>(
        &'a self,
        mut st: MutexGuard<'a, State>,
        flush: impl FnOnce() -> Result<(), String>,
    ) -> MutexGuard<'a, State> {
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
            #[cfg(test)]
            {
                st.linger_wakeups += 1;
            }
        }
        st.started += 1;
        let seq = st.started;
        let batch = st.waiting.max(1);
        st.waiting = 0;
        drop(st);
        let start = Instant::now();
        let result = flush();
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
        if st.async_target > st.started {
            // async callers arrived during this flush: the flusher leads next
            self.leader_wanted.notify_one();
        }
        // Callbacks waiting for this flush (or an earlier one) run now,
        // outside the lock; those registered during it wait for the next.
        if st.callbacks.iter().any(|(target, _)| *target <= seq) {
            let (ready, later) = std::mem::take(&mut st.callbacks)
                .into_iter()
                .partition::<Vec<_>, _>(|(target, _)| *target <= seq);
            st.callbacks = later;
            drop(st);
            for (_, done) in ready {
                done(result.clone());
            }
            st = self.lock();
        }
        st
    }

    /// [`FlushCoordinator::flush_after_now`] without blocking: registers now
    /// and calls `done` (on the thread that ran the flush) once a flush that
    /// started after this call has completed, with its result. `intents` are
    /// the caller's announcements.
    pub(crate) fn flush_after_now_then(
        self: &Arc<Self>,
        intents: Vec<FlushIntent>,
        done: FlushCallback,
    ) {
        {
            let mut st = self.lock();
            let target = st.started + 1;
            st.waiting += 1;
            for mut intent in intents {
                if intent.live {
                    intent.live = false;
                    st.announced = st.announced.saturating_sub(1);
                }
            }
            // a lingering leader waits for the last announced writer only
            if st.announced == 0 {
                self.arrivals.notify_all();
            }
            st.async_target = st.async_target.max(target);
            st.callbacks.push((target, done));
            if !st.running {
                self.leader_wanted.notify_one();
            }
        }
        self.start_flusher();
    }

    /// Starts the flusher thread once (it ends when the store is dropped).
    fn start_flusher(self: &Arc<Self>) {
        self.flusher.get_or_init(|| {
            let weak = Arc::downgrade(self);
            let spawned = std::thread::Builder::new()
                .name("signet-flush".into())
                .spawn(move || {
                    // every issuance's answer waits for the flushes it leads
                    crate::threads::issuing();
                    flusher(weak)
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "could not start the store's flusher thread");
            }
        });
    }
}

/// The flusher thread: leads the flushes async callers wait for.
fn flusher(coord: Weak<FlushCoordinator>) {
    // nothing to lead: a flush runs, or every async caller's flush started
    let nothing_to_lead = |st: &mut State| st.running || st.async_target <= st.started;
    loop {
        let Some(c) = coord.upgrade() else { return };
        let Some(flush) = c.flush_fn.get() else {
            tracing::error!("the store's flusher has no flush to run");
            return;
        };
        let st = c.lock();
        // wake up now and then to notice a dropped store
        let (st, _) = c
            .leader_wanted
            .wait_timeout_while(st, Duration::from_millis(250), nothing_to_lead)
            .unwrap_or_else(|e| e.into_inner());
        if !st.running && st.async_target > st.started {
            drop(c.lead(st, flush));
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

    /// An async caller: resolves once a flush that started after the call
    /// has completed (what `DeferredFlush::wait` does).
    async fn flush_after_now_async(
        coord: &Arc<FlushCoordinator>,
        intents: Vec<FlushIntent>,
    ) -> Result<(), String> {
        let (tx, flushed) = tokio::sync::oneshot::channel();
        coord.flush_after_now_then(
            intents,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        flushed
            .await
            .map_err(|_| "the flusher stopped".to_string())?
    }

    /// A coordinator whose flush fn snapshots a counter of "writes" as
    /// "durable" (after 1 ms) and counts its flushes: (coordinator,
    /// written, durable, flushes).
    fn counting_coordinator() -> (
        Arc<FlushCoordinator>,
        Arc<AtomicU64>,
        Arc<AtomicU64>,
        Arc<AtomicUsize>,
    ) {
        let coord = Arc::new(FlushCoordinator::default());
        let written = Arc::new(AtomicU64::new(0));
        let durable = Arc::new(AtomicU64::new(0));
        let flushes = Arc::new(AtomicUsize::new(0));
        let (w, d, f) = (written.clone(), durable.clone(), flushes.clone());
        coord.set_flush_fn(Box::new(move || {
            let snapshot = w.load(Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(1));
            d.fetch_max(snapshot, Ordering::SeqCst);
            f.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }));
        (coord, written, durable, flushes)
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
    fn a_lingering_leader_is_woken_by_the_last_announced_writer_only() {
        // Each wake-up of the leader is a context switch on the flusher,
        // which runs SCHED_OTHER and so preempts a signing thread: waking it
        // for every arrival cost 11 % of EST throughput (docs/performance-log.md).
        let coord = coordinator_lingering(Duration::from_secs(600));
        let intents: Vec<FlushIntent> = (0..4).map(|_| coord.announce()).collect();
        let leader = {
            let coord = coord.clone();
            std::thread::spawn(move || coord.flush_after_now(None, || Ok(())))
        };
        while !coord.lock().running {
            std::thread::yield_now();
        }
        for intent in intents {
            std::thread::sleep(Duration::from_millis(10));
            drop(intent);
        }
        leader.join().unwrap().unwrap();
        // one wake-up (a spurious one may add another), not one per writer
        let wakeups = coord.lock().linger_wakeups;
        assert!(
            (1..4).contains(&wakeups),
            "{wakeups} wake-ups for 4 writers"
        );
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_callers_are_served_by_the_flusher_thread() {
        let (coord, written, durable, flushes) = counting_coordinator();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (coord, written, durable) = (coord.clone(), written.clone(), durable.clone());
            tasks.push(tokio::spawn(async move {
                for _ in 0..20 {
                    let intent = coord.announce();
                    let mine = written.fetch_add(1, Ordering::SeqCst) + 1;
                    flush_after_now_async(&coord, vec![intent]).await.unwrap();
                    assert!(
                        durable.load(Ordering::SeqCst) >= mine,
                        "resolved before write {mine} was durable"
                    );
                }
            }));
        }
        // blocking callers share the same flushes
        let blocking = {
            let (coord, written, durable) = (coord.clone(), written.clone(), durable.clone());
            tokio::task::spawn_blocking(move || {
                for _ in 0..20 {
                    let mine = written.fetch_add(1, Ordering::SeqCst) + 1;
                    let d = durable.clone();
                    let w = written.clone();
                    coord
                        .flush_after_now(None, move || {
                            d.fetch_max(w.load(Ordering::SeqCst), Ordering::SeqCst);
                            Ok(())
                        })
                        .unwrap();
                    assert!(durable.load(Ordering::SeqCst) >= mine);
                }
            })
        };
        for t in tasks {
            t.await.unwrap();
        }
        blocking.await.unwrap();
        let n = flushes.load(Ordering::SeqCst);
        assert!(n < 320, "no grouping: {n} flushes for 320 async writes");
        let st = coord.lock();
        assert_eq!((st.announced, st.waiting), (0, 0));
    }

    #[tokio::test]
    async fn an_async_caller_gets_the_error_of_its_failed_flush() {
        let coord = Arc::new(FlushCoordinator::default());
        let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
        let f = fail.clone();
        coord.set_flush_fn(Box::new(move || {
            if f.load(Ordering::SeqCst) {
                Err("disk on fire".into())
            } else {
                Ok(())
            }
        }));
        let err = flush_after_now_async(&coord, Vec::new()).await;
        assert_eq!(err.unwrap_err(), "disk on fire");
        fail.store(false, Ordering::SeqCst);
        flush_after_now_async(&coord, Vec::new()).await.unwrap();
    }

    #[test]
    fn a_callback_runs_only_after_a_flush_that_started_after_it() {
        let (coord, written, durable, flushes) = counting_coordinator();
        let (tx, rx) = std::sync::mpsc::channel();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (coord, written, durable, tx) =
                    (coord.clone(), written.clone(), durable.clone(), tx.clone());
                std::thread::spawn(move || {
                    for _ in 0..40 {
                        let mine = written.fetch_add(1, Ordering::SeqCst) + 1;
                        let (durable, tx) = (durable.clone(), tx.clone());
                        coord.flush_after_now_then(
                            Vec::new(),
                            Box::new(move |r| {
                                let _ = tx.send((
                                    mine,
                                    durable.load(Ordering::SeqCst),
                                    r,
                                    std::thread::current().name().map(str::to_string),
                                ));
                            }),
                        );
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(tx);
        let answers: Vec<_> = rx.iter().collect();
        assert_eq!(answers.len(), 320, "every callback ran once");
        for (mine, durable_then, result, thread) in answers {
            assert_eq!(result, Ok(()));
            assert!(
                durable_then >= mine,
                "called before write {mine} was durable"
            );
            assert_eq!(thread.as_deref(), Some("signet-flush"));
        }
        let n = flushes.load(Ordering::SeqCst);
        assert!(n < 320, "no grouping: {n} flushes for 320 callbacks");
        let st = coord.lock();
        assert_eq!((st.announced, st.waiting, st.callbacks.len()), (0, 0, 0));
    }

    #[test]
    fn a_callback_gets_the_error_of_its_failed_flush_and_releases_the_intent() {
        let coord = Arc::new(FlushCoordinator::default());
        coord.set_flush_fn(Box::new(|| Err("disk on fire".into())));
        let intent = coord.announce();
        let (tx, rx) = std::sync::mpsc::channel();
        coord.flush_after_now_then(
            vec![intent],
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        assert_eq!(coord.lock().announced, 0, "the intent is handed over");
        let r = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(r.unwrap_err(), "disk on fire");
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
