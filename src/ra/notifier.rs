//! Notification mail off the request path: the RA hands messages to one
//! background thread, so an issuance or revocation answers without waiting
//! for the mail's file writes (or an SMTP round-trip). The thread sends what
//! arrives within 50 ms as a batch: outbox files without a per-file fsync, one
//! directory fsync per batch ([`Mailer::send_notification`]). Notifications are best
//! effort: a failed one is logged and never undoes the action that caused it,
//! and a crash may lose the ones queued or not yet written back (the actions
//! themselves are durable and audited).

use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long the sender collects messages into one batch.
const BATCH_WINDOW: Duration = Duration::from_millis(50);
/// Most messages in one batch.
const MAX_BATCH: usize = 256;

use crate::mail::{Mailer, OutgoingMail};

/// Messages queued but not yet handed to the mailer.
#[derive(Default)]
struct Pending {
    count: Mutex<usize>,
    idle: Condvar,
}

impl Pending {
    fn add(&self, n: isize) {
        let mut c = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *c = c.saturating_add_signed(n);
        if *c == 0 {
            self.idle.notify_all();
        }
    }
}

/// The queue and its sender thread.
pub(crate) struct Notifier {
    tx: Mutex<Option<mpsc::Sender<OutgoingMail>>>,
    mailer: Mailer,
    pending: Arc<Pending>,
}

impl Notifier {
    pub(crate) fn new(mailer: Mailer) -> Notifier {
        let (tx, rx) = mpsc::channel::<OutgoingMail>();
        let pending = Arc::new(Pending::default());
        let worker_mailer = mailer.clone();
        let worker_pending = pending.clone();
        let spawned = std::thread::Builder::new()
            .name("signet-notify".into())
            .spawn(move || {
                crate::threads::background();
                // Drain what is queued as one batch: files written without
                // fsync, then one directory fsync for the batch.
                let mut backlog = false;
                while let Ok(first) = rx.recv() {
                    // Let what arrives within BATCH_WINDOW collect while
                    // this thread sleeps (at most MAX_BATCH): a sender wakes
                    // it once per batch, not once per message, and one
                    // directory fsync covers the batch. A lone message waits
                    // the window; a backlog is sent without waiting.
                    if !backlog {
                        std::thread::sleep(BATCH_WINDOW);
                    }
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(mail) => batch.push(mail),
                            Err(_) => break,
                        }
                    }
                    backlog = batch.len() == MAX_BATCH;
                    for mail in &batch {
                        if let Err(e) = worker_mailer.send_notification(mail) {
                            tracing::warn!(error = %e, "notification could not be sent");
                        }
                    }
                    worker_mailer.sync_outbox();
                    worker_pending.add(-(batch.len() as isize));
                }
            });
        let tx = match spawned {
            Ok(_) => Some(tx),
            Err(e) => {
                tracing::warn!(error = %e, "no notification thread: sending inline");
                None
            }
        };
        Notifier {
            tx: Mutex::new(tx),
            mailer,
            pending,
        }
    }

    /// Queues `mail` (sends it inline if the thread is gone).
    pub(crate) fn send(&self, mail: OutgoingMail) {
        let tx = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = tx.as_ref() {
            self.pending.add(1);
            match tx.send(mail) {
                Ok(()) => {}
                Err(mpsc::SendError(mail)) => {
                    self.pending.add(-1);
                    self.send_inline(&mail);
                }
            }
        } else {
            self.send_inline(&mail);
        }
    }

    fn send_inline(&self, mail: &OutgoingMail) {
        if let Err(e) = self.mailer.send(mail) {
            tracing::warn!(error = %e, "notification could not be sent");
        }
    }

    /// Waits until every queued notification was handed to the mailer (or
    /// `timeout` passed); returns whether the queue is empty.
    pub(crate) fn flush(&self, timeout: Duration) -> bool {
        let c = self.pending.count.lock().unwrap_or_else(|e| e.into_inner());
        let (c, _) = self
            .pending
            .idle
            .wait_timeout_while(c, timeout, |n| *n > 0)
            .unwrap_or_else(|e| e.into_inner());
        *c == 0
    }
}
