//! Deferred flushes: issuance without a thread parked on the disk.
//!
//! The front ends run an issuing request (ACME finalize, EST enrollment) as
//! one synchronous job on the bounded issuance pool (`ca/pool.rs`). If that
//! job waited for its durable flush, a pool thread would sleep through every
//! fsync. Instead the job runs inside [`defer_flushes`]: every
//! [`super::Store::flush`] it asks for returns at once and is collected in a
//! [`DeferredFlush`], which the front end awaits ([`DeferredFlush::wait`])
//! before it sends the response. The rule that nothing is acknowledged
//! before it is durable holds: the response is held, not the thread.
//!
//! Only the code inside [`defer_flushes`] on the calling thread is affected;
//! every other caller flushes as before.

use std::cell::RefCell;
use std::sync::Arc;

use super::flush::{FlushCoordinator, FlushIntent};
use super::{Result, StorageError};

/// A flush asked for inside [`defer_flushes`]: its store's coordinator and
/// the writer's announcement, if any.
type Wait = (Arc<FlushCoordinator>, Option<FlushIntent>);

thread_local! {
    /// The flushes deferred by the running [`defer_flushes`] (None: not deferring).
    static DEFERRED: RefCell<Option<Vec<Wait>>> = const { RefCell::new(None) };
}

/// The flushes a job deferred. Await [`DeferredFlush::wait`] before
/// acknowledging anything the job did.
#[must_use = "the job's writes are durable only once this is waited for"]
#[derive(Default)]
pub struct DeferredFlush {
    waits: Vec<Wait>,
}

impl std::fmt::Debug for DeferredFlush {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeferredFlush")
            .field("flushes", &self.waits.len())
            .finish()
    }
}

/// Runs `f`, deferring every store flush it asks for (see the module
/// documentation).
pub fn defer_flushes<R>(f: impl FnOnce() -> R) -> (R, DeferredFlush) {
    /// Restores the enclosing state, also when `f` panics.
    struct Restore(Option<Option<Vec<Wait>>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            if let Some(outer) = self.0.take() {
                DEFERRED.with(|d| *d.borrow_mut() = outer);
            }
        }
    }
    let mut restore = Restore(Some(DEFERRED.with(|d| d.borrow_mut().replace(Vec::new()))));
    let r = f();
    let outer = restore.0.take().unwrap_or_default();
    let waits = DEFERRED.with(|d| std::mem::replace(&mut *d.borrow_mut(), outer));
    (
        r,
        DeferredFlush {
            waits: waits.unwrap_or_default(),
        },
    )
}

/// Defers a flush if [`defer_flushes`] is running on this thread; otherwise
/// gives `intent` back for a flush now.
pub(super) fn try_defer(
    coord: &Arc<FlushCoordinator>,
    intent: Option<FlushIntent>,
) -> std::result::Result<(), Option<FlushIntent>> {
    DEFERRED.with(|d| match d.borrow_mut().as_mut() {
        Some(waits) => {
            waits.push((coord.clone(), intent));
            Ok(())
        }
        None => Err(intent),
    })
}

impl DeferredFlush {
    /// Whether the job asked for no flush.
    pub fn is_empty(&self) -> bool {
        self.waits.is_empty()
    }

    /// Calls `done` once everything the job wrote is durable (or with the
    /// error that stopped it), on the thread that completed the flush: for a
    /// caller that hands the job's result on in `done` (`Ra::run_issuing`),
    /// one wake-up instead of two.
    pub fn then(self, done: impl FnOnce(Result<()>) + Send + 'static) {
        then_each(self.waits, Box::new(done));
    }

    /// Resolves once everything the job wrote is durable.
    pub async fn wait(self) -> Result<()> {
        let (tx, flushed) = tokio::sync::oneshot::channel();
        self.then(move |r| {
            let _ = tx.send(r);
        });
        flushed
            .await
            .map_err(|_| flush_error("the store's flusher stopped".into()))?
    }
}

fn flush_error(msg: String) -> StorageError {
    StorageError::Db(sled::Error::Io(std::io::Error::other(format!(
        "flushing the store: {msg}"
    ))))
}

/// [`DeferredFlush::then`]: one store's flush after the other.
fn then_each(mut waits: Vec<Wait>, done: Box<dyn FnOnce(Result<()>) + Send>) {
    let Some((coord, first)) = waits.pop() else {
        return done(Ok(()));
    };
    let (same, rest): (Vec<Wait>, Vec<Wait>) =
        waits.into_iter().partition(|(c, _)| Arc::ptr_eq(c, &coord));
    let intents = first
        .into_iter()
        .chain(same.into_iter().filter_map(|(_, i)| i))
        .collect();
    coord.flush_after_now_then(
        intents,
        Box::new(move |flushed| match flushed {
            Ok(()) => then_each(rest, done),
            Err(msg) => done(Err(flush_error(msg))),
        }),
    );
}

#[cfg(test)]
mod tests {
    use super::super::{Store, Table};
    use super::*;

    #[tokio::test]
    async fn flushes_inside_are_deferred_and_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = store.clone();
        let (r, deferred) = defer_flushes(move || {
            s.transact_on(&[Table::Certificates], |tx| {
                tx.put(Table::Certificates, "c", &1u8)
            })?;
            // returns at once: collected, not performed
            s.flush()?;
            let intent = s.announce_flush();
            s.flush_with(Some(intent))
        });
        r.unwrap();
        assert!(!deferred.is_empty());
        assert_eq!(deferred.waits.len(), 2);
        // the intent is still announced until the wait
        assert_eq!(store.flusher.lock_announced(), 1);
        deferred.wait().await.unwrap();
        assert_eq!(store.flusher.lock_announced(), 0);
        // outside, flushes happen at once again
        let (_, none) = defer_flushes(|| ());
        assert!(none.is_empty());
        store.flush().unwrap();
        assert!(DEFERRED.with(|d| d.borrow().is_none()));
    }

    #[test]
    fn then_hands_the_result_on_from_the_flush_that_made_it_durable() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let s = store.clone();
        let (r, deferred) = defer_flushes(move || {
            let intent = s.announce_flush();
            s.transact_on(&[Table::Certificates], |tx| {
                tx.put(Table::Certificates, "c", &1u8)
            })?;
            s.flush_with(Some(intent))
        });
        r.unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        deferred.then(move |flushed| {
            let _ = tx.send((flushed, std::thread::current().name().map(str::to_string)));
        });
        let (flushed, thread) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
        flushed.unwrap();
        // called by the thread that ran the flush, not at once by this one
        assert_eq!(thread.as_deref(), Some("signet-flush"));
        assert_eq!(store.flusher.lock_announced(), 0);
        // a job that asked for no flush is answered at once
        let (tx, rx) = std::sync::mpsc::channel();
        defer_flushes(|| ()).1.then(move |flushed| {
            let _ = tx.send(flushed.is_ok());
        });
        assert!(rx.try_recv().unwrap());
    }

    #[test]
    fn a_panicking_job_does_not_leave_deferral_on() {
        let r = std::panic::catch_unwind(|| defer_flushes(|| panic!("job failed")));
        assert!(r.is_err());
        assert!(DEFERRED.with(|d| d.borrow().is_none()));
    }
}
