//! The bounded signing pool: a fixed set of threads (by default one more than
//! the cores, see [`worker_count`]) that run [`Ca::issue`], fed by a bounded
//! queue.
//!
//! Signing is the one CPU-bound step of an issuance. Running it here instead
//! of on whatever thread handles the request (a Tokio worker or the unbounded
//! blocking pool) keeps the async runtime's threads free for I/O, keeps the
//! number of concurrent signatures near the number of cores, and makes the
//! backlog visible as `signet_signing_queue_depth`. When the queue is full, submitters wait
//! (back-pressure) instead of piling up threads.
//!
//! The front ends also run whole issuing requests here
//! ([`SigningPool::spawn_async`] through `Ra::run_issuing`: ACME finalize,
//! EST enrollment), so a request goes from its Tokio task to one pool thread
//! and back, and a signature asked for on a pool thread is made right there
//! instead of being queued behind itself. Those jobs never wait for the
//! disk: their flushes are deferred, and the thread that completes the flush
//! hands the job's result back (`storage/deferred.rs`).
//!
//! ```
//! # use std::sync::Arc;
//! # fn demo(ca: Arc<signet::ca::Ca>, req: signet::ca::IssuanceRequest) -> Result<(), signet::ca::CaError> {
//! let pool = signet::ca::pool::SigningPool::new(ca, 0); // 0: the default size
//! let der = pool.issue(req)?;                            // blocks this thread, not the pool
//! # Ok(()) }
//! ```

use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use super::{Ca, CaError, IssuanceRequest};
use crate::metrics::Metrics;

/// Queued jobs per worker before submitters wait.
const QUEUE_PER_WORKER: usize = 256;

/// Where a worker delivers the result (a std channel or a tokio oneshot).
type Reply = Box<dyn FnOnce(Result<Vec<u8>, CaError>) + Send>;

enum Job {
    /// Sign one certificate.
    Sign {
        req: Box<IssuanceRequest>,
        reply: Reply,
    },
    /// Run an issuing request ([`SigningPool::spawn_async`]).
    Run(Box<dyn FnOnce() + Send>),
}

thread_local! {
    /// Whether this thread is a pool worker (signs inline).
    static ON_POOL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// A fixed pool of signing threads in front of one [`Ca`]. Dropping the pool
/// lets the workers finish the queued jobs and exit.
pub struct SigningPool {
    tx: SyncSender<Job>,
    workers: usize,
    metrics: Arc<OnceLock<Metrics>>,
    /// For signatures asked for on a pool thread (made inline).
    ca: Arc<Ca>,
}

impl std::fmt::Debug for SigningPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningPool")
            .field("workers", &self.workers)
            .finish_non_exhaustive()
    }
}

/// The number of workers for `requested` (0: one more than the available
/// cores). An issuing job spends part of its time blocked on the store's
/// writer lock (one change set at a time); the extra worker uses the core
/// meanwhile. On the 2-core bench machine 3 workers gave 5 % more EST
/// enrollments per second than 2, and 4 no more than 2 (docs/performance-log.md,
/// session 6).
pub fn worker_count(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        + 1
}

impl SigningPool {
    /// Starts `workers` signing threads (0: [`worker_count`]'s default).
    pub fn new(ca: Arc<Ca>, workers: usize) -> SigningPool {
        let workers = worker_count(workers);
        let (tx, rx) = mpsc::sync_channel::<Job>(workers * QUEUE_PER_WORKER);
        let rx = Arc::new(Mutex::new(rx));
        let metrics: Arc<OnceLock<Metrics>> = Arc::new(OnceLock::new());
        for i in 0..workers {
            let rx = rx.clone();
            let ca = ca.clone();
            let metrics = metrics.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("signet-sign-{i}"))
                .spawn(move || {
                    // the threads that hold the store's writer lock (src/threads.rs)
                    crate::threads::issuing();
                    ON_POOL.with(|p| p.set(true));
                    worker(&ca, &rx, &metrics)
                });
            if let Err(e) = spawned {
                // Fewer workers still work; none at all shows as an error per issuance.
                tracing::error!(error = %e, "could not start a signing worker");
            }
        }
        SigningPool {
            tx,
            workers,
            metrics,
            ca,
        }
    }

    /// Records signing latency and queue depth into `metrics` from now on
    /// (the first call wins).
    pub fn set_metrics(&self, metrics: &Metrics) {
        metrics.signing_workers.set(self.workers as i64);
        let _ = self.metrics.set(metrics.clone());
    }

    /// The number of worker threads.
    pub fn workers(&self) -> usize {
        self.workers
    }

    /// Signs `req` on a pool thread and waits for the certificate (DER).
    /// On a pool thread (inside a job of [`SigningPool::spawn_async`] or
    /// [`SigningPool::run_async`]) it signs right here.
    pub fn issue(&self, req: IssuanceRequest) -> Result<Vec<u8>, CaError> {
        if ON_POOL.with(|p| p.get()) {
            return sign(&self.ca, &req, self.metrics.get());
        }
        let (tx, result) = mpsc::sync_channel(1);
        let reply: Reply = Box::new(move |r| {
            let _ = tx.send(r);
        });
        self.submit(Job::Sign {
            req: Box::new(req),
            reply,
        })?;
        result
            .recv()
            .map_err(|_| CaError::Signing("the signing worker stopped".into()))?
    }

    /// Like [`SigningPool::issue`], for async callers: waits without blocking
    /// the runtime's thread.
    pub async fn issue_async(&self, req: IssuanceRequest) -> Result<Vec<u8>, CaError> {
        let (tx, result) = tokio::sync::oneshot::channel();
        let reply: Reply = Box::new(move |r| {
            let _ = tx.send(r);
        });
        self.submit(Job::Sign {
            req: Box::new(req),
            reply,
        })?;
        result
            .await
            .map_err(|_| CaError::Signing("the signing worker stopped".into()))?
    }

    /// Runs `job` (an issuing request: CPU work, store writes with deferred
    /// flushes, signing) on a pool thread and resolves to its result without
    /// blocking the caller's thread. Signatures `job` asks for are made on
    /// the same thread. `job` must not wait for the disk or the network.
    pub async fn run_async<R: Send + 'static>(
        &self,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, CaError> {
        let (tx, result) = tokio::sync::oneshot::channel();
        self.spawn_async(move || {
            let _ = tx.send(job());
        })
        .await?;
        result
            .await
            .map_err(|_| CaError::Signing("the issuance job did not complete".into()))
    }

    /// Queues `job` (see [`SigningPool::run_async`]) without waiting for it:
    /// the job hands on its own result. Waits only while the queue is full.
    pub async fn spawn_async(&self, job: impl FnOnce() + Send + 'static) -> Result<(), CaError> {
        let mut job = Job::Run(Box::new(job));
        if let Some(m) = self.metrics.get() {
            m.signing_queue_depth.inc();
        }
        // A full queue makes this task wait, not the runtime's thread.
        loop {
            match self.tx.try_send(job) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => {
                    job = back;
                    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                }
                Err(TrySendError::Disconnected(_)) => {
                    if let Some(m) = self.metrics.get() {
                        m.signing_queue_depth.dec();
                    }
                    return Err(CaError::Signing("the signing pool is stopped".into()));
                }
            }
        }
        Ok(())
    }

    fn submit(&self, job: Job) -> Result<(), CaError> {
        if let Some(m) = self.metrics.get() {
            m.signing_queue_depth.inc();
        }
        self.tx.send(job).map_err(|_| {
            if let Some(m) = self.metrics.get() {
                m.signing_queue_depth.dec();
            }
            CaError::Signing("the signing pool is stopped".into())
        })
    }
}

fn worker(ca: &Ca, rx: &Mutex<Receiver<Job>>, metrics: &OnceLock<Metrics>) {
    loop {
        let job = {
            let rx = rx.lock().unwrap_or_else(|e| e.into_inner());
            rx.recv()
        };
        let Ok(job) = job else { return };
        let m = metrics.get();
        if let Some(m) = m {
            m.signing_queue_depth.dec();
        }
        match job {
            Job::Sign { req, reply } => {
                // The submitter may have given up (its thread ended): nothing to do.
                reply(sign(ca, &req, m));
            }
            Job::Run(run) => {
                // A panicking job loses only its own reply (the caller gets
                // an error); the worker goes on.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
            }
        }
    }
}

/// Signs `req` and records the signing latency.
fn sign(ca: &Ca, req: &IssuanceRequest, metrics: Option<&Metrics>) -> Result<Vec<u8>, CaError> {
    let start = Instant::now();
    let result = ca.issue(req);
    if let Some(m) = metrics {
        m.signing(ca.algorithm(), start.elapsed());
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ca::{CaConfig, Serial, SubjectInfo, Template};
    use rcgen::PublicKeyData as _;

    fn ca(dir: &std::path::Path) -> Arc<Ca> {
        let cfg = CaConfig {
            algorithm: "p256".into(),
            crl_url: "http://pki.signet.test/crl/issuing.crl".into(),
            issuer_url: "http://pki.signet.test/ca/issuing.cer".into(),
            ..CaConfig::default()
        };
        Arc::new(Ca::load_or_create(dir, &cfg, &crate::clock::system()).unwrap())
    }

    fn request(spki: Vec<u8>) -> IssuanceRequest {
        let now = time::OffsetDateTime::now_utc();
        IssuanceRequest {
            serial: Serial::random(),
            subject: SubjectInfo {
                common_name: "Pool Test".into(),
                organization: "Pool Test".into(),
                organizational_unit: None,
                locality: Some("Berlin".into()),
                state: None,
                country: "DE".into(),
                ..SubjectInfo::default()
            },
            email: "pool@example.com".into(),
            spki_der: spki,
            template: Template::Ov,
            not_before: now,
            not_after: now + time::Duration::days(30),
        }
    }

    #[test]
    fn concurrent_issuances_run_on_the_pool_and_are_measured() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(SigningPool::new(ca(dir.path()), 2));
        assert_eq!(pool.workers(), 2);
        let metrics = Metrics::new();
        pool.set_metrics(&metrics);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki = key.subject_public_key_info();
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let pool = pool.clone();
                let spki = spki.clone();
                std::thread::spawn(move || {
                    for _ in 0..5 {
                        let req = request(spki.clone());
                        let serial = req.serial;
                        let der = pool.issue(req).unwrap();
                        let (_, cert) =
                            x509_parser::parse_x509_certificate(&der).expect("a certificate");
                        assert_eq!(cert.raw_serial(), &serial.0);
                        let name = std::thread::current().name().map(str::to_string);
                        assert!(!name.unwrap_or_default().starts_with("signet-sign"));
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("signet_signing_duration_seconds_count{algorithm=\"p256\"} 40"),
            "{text}"
        );
        assert!(text.contains("signet_signing_queue_depth 0"), "{text}");
        assert!(text.contains("signet_signing_workers 2"), "{text}");
    }

    #[tokio::test]
    async fn async_callers_wait_without_blocking_and_errors_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let pool = SigningPool::new(ca(dir.path()), 1);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let der = pool
            .issue_async(request(key.subject_public_key_info()))
            .await
            .unwrap();
        assert!(x509_parser::parse_x509_certificate(&der).is_ok());
        // A key the CA cannot use comes back as the CA's error, not a hang.
        let err = pool.issue_async(request(vec![0x30, 0x00])).await;
        assert!(err.is_err());
    }

    #[tokio::test]
    async fn jobs_run_on_the_pool_and_sign_inline_there() {
        let dir = tempfile::tempdir().unwrap();
        let pool = Arc::new(SigningPool::new(ca(dir.path()), 1));
        let metrics = Metrics::new();
        pool.set_metrics(&metrics);
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let spki = key.subject_public_key_info();
        // With one worker, a signature queued behind the job itself would
        // never run: it must be made on the job's thread.
        let p = pool.clone();
        let (thread, der) = pool
            .run_async(move || {
                let der = p.issue(request(spki));
                (std::thread::current().name().map(str::to_string), der)
            })
            .await
            .unwrap();
        assert_eq!(thread.as_deref(), Some("signet-sign-0"));
        assert!(x509_parser::parse_x509_certificate(&der.unwrap()).is_ok());
        // a panicking job fails only its caller; the worker goes on
        assert!(pool.run_async(|| panic!("job failed")).await.is_err());
        assert_eq!(pool.run_async(|| 7).await.unwrap(), 7);
        let text = metrics.encode().unwrap();
        assert!(
            text.contains("signet_signing_duration_seconds_count{algorithm=\"p256\"} 1"),
            "{text}"
        );
        assert!(text.contains("signet_signing_queue_depth 0"), "{text}");
    }

    #[test]
    fn worker_count_defaults_to_one_more_than_the_cores() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        assert_eq!(worker_count(0), cores + 1);
        assert_eq!(worker_count(3), 3);
    }
}
