//! Scheduling policy of the server's threads.
//!
//! Two kinds of thread are on the path of every issuance's answer: the
//! signing pool's threads, which hold the store's writer lock
//! (`storage/tx.rs`) while a change set is written, and the store's flusher
//! (`storage/flush.rs`), which leads the flush the answer waits for. On a
//! machine with few cores, a writer preempted by another thread's wake-up (a
//! Tokio worker woken by the network, one of sled's IO threads, the
//! notification sender) stalls every signing thread that waits for the lock
//! until it runs again: a turn of about 55 us became a wait of about 400 us
//! (docs/performance-log.md, session 7).
//!
//! So `signet serve` runs its threads in `SCHED_BATCH` and those two in
//! `SCHED_OTHER` ([`Class::Issuing`]). Both are ordinary time-sharing
//! policies: every thread keeps its fair share of the CPU and no privilege
//! is needed. The difference is that a batch thread's wake-up never preempts
//! a running thread (the scheduler's tick does, within a time slice), so a
//! signing thread runs its change set to the end. Threads created by a batch
//! thread inherit the policy (sled's IO threads, Tokio's blocking threads).
//! Changing a thread's policy also sets its nice value to 0.
//!
//! Off unless [`enable`] was called (`server.batch_scheduling`, default on);
//! a failure to change a policy is logged and otherwise ignored. Linux only.

use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// How a thread is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `SCHED_BATCH`: its wake-ups do not preempt other threads.
    Background,
    /// `SCHED_OTHER`: the signing pool's threads and the store's flusher.
    Issuing,
}

/// Turns the policy on for this process and makes the calling thread (and
/// the threads it creates from now on) [`Class::Background`].
pub fn enable() {
    ENABLED.store(true, Ordering::SeqCst);
    background();
}

/// Whether [`enable`] was called.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::SeqCst)
}

/// Makes the calling thread [`Class::Background`] (when enabled).
pub fn background() {
    set_current(Class::Background);
}

/// Makes the calling thread [`Class::Issuing`] (when enabled).
pub fn issuing() {
    set_current(Class::Issuing);
}

fn set_current(class: Class) {
    if !enabled() {
        return;
    }
    if let Err(e) = apply(class) {
        tracing::debug!(?class, error = %e, "could not change the thread's scheduling policy");
    }
}

#[cfg(target_os = "linux")]
fn apply(class: Class) -> Result<(), String> {
    use thread_priority::{
        set_thread_priority_and_policy, thread_native_id, NormalThreadSchedulePolicy,
        ThreadPriority, ThreadSchedulePolicy,
    };
    let policy = match class {
        Class::Background => NormalThreadSchedulePolicy::Batch,
        Class::Issuing => NormalThreadSchedulePolicy::Other,
    };
    // Normal policies take static priority 0; the crate also sets nice 0.
    set_thread_priority_and_policy(
        thread_native_id(),
        ThreadPriority::Os(Default::default()),
        ThreadSchedulePolicy::Normal(policy),
    )
    .map_err(|e| format!("{e:?}"))
}

#[cfg(not(target_os = "linux"))]
fn apply(_class: Class) -> Result<(), String> {
    Ok(())
}
