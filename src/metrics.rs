//! The Prometheus registry of one server instance, served as text exposition at
//! `/metrics` on the plain-HTTP listener.
//!
//! # Naming
//!
//! Every family starts with `signet_`, carries its unit as a suffix
//! (`_seconds`, `_bytes`) and counters end in `_total`
//! (<https://prometheus.io/docs/practices/naming/>). Label values must come
//! from small, fixed sets (a front end, a route template, a status code, a
//! profile name) -- never an id, a serial or an email address.
//!
//! # Adding a family
//!
//! From any module, without editing this file, ask the shared [`Metrics`] for
//! the family once (at construction) and keep the handle:
//!
//! ```
//! # let metrics = signet::metrics::Metrics::new();
//! let orders = metrics
//!     .int_counter_vec("signet_example_widgets_total", "Widgets made, by outcome.", &["outcome"])
//!     .expect("valid metric definition");
//! orders.with_label_values(&["made"]).inc();
//! ```
//!
//! Asking twice for the same name returns the same family (so two front-end
//! instances may share it); asking for an existing name with another kind or
//! other labels is an error. Families that several modules record (HTTP
//! requests, issuances, mails) are fields here with a recording method.

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Latency buckets for HTTP requests (seconds): 1 ms .. 10 s.
pub const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Latency buckets for signing and storage flushes (seconds): 50 us .. 1 s.
pub const FAST_BUCKETS: &[f64] = &[
    0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// Buckets for the number of durable writes one storage flush made durable.
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The metrics of one server instance. Cheap to clone (handles are shared).
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// `signet_http_requests_total{frontend,route,status}`
    pub http_requests: IntCounterVec,
    /// `signet_http_request_duration_seconds{frontend,route,status}`
    pub http_request_duration: HistogramVec,
    /// `signet_issuances_total{profile,protocol,outcome}`
    pub issuances: IntCounterVec,
    /// `signet_mails_total{transport,outcome}`
    pub mails: IntCounterVec,
    /// `signet_http_connections_open{listener}`
    pub connections_open: IntGaugeVec,
    /// `signet_mails_ingested_total{outcome}`
    pub mails_ingested: IntCounterVec,
    /// `signet_signing_duration_seconds{algorithm}`
    pub signing_duration: HistogramVec,
    /// `signet_signing_queue_depth`
    pub signing_queue_depth: IntGauge,
    /// `signet_signing_workers`
    pub signing_workers: IntGauge,
    /// `signet_acme_orders_total{status}`
    pub acme_orders: IntCounterVec,
    /// `signet_acme_authorizations_total{status}`
    pub acme_authorizations: IntCounterVec,
    /// `signet_acme_challenges_total{type,status}`
    pub acme_challenges: IntCounterVec,
    /// `signet_acme_nonces_total{outcome}`
    pub acme_nonces: IntCounterVec,
    /// `signet_acme_nonces_outstanding`
    pub acme_nonces_outstanding: IntGauge,
    /// `signet_attestation_verdicts_total{format,result}`
    pub attestation_verdicts: IntCounterVec,
    /// `signet_invitation_redemptions_total{protocol}`
    pub invitation_redemptions: IntCounterVec,
    /// `signet_storage_flush_duration_seconds`
    pub storage_flush_duration: Histogram,
    /// `signet_storage_flush_batch_size`
    pub storage_flush_batch: Histogram,
    /// `signet_storage_transaction_duration_seconds`
    pub storage_transaction_duration: Histogram,
    /// `signet_storage_cache_reads_total{result}`
    pub storage_cache_reads: IntCounterVec,
    /// `signet_crl_age_seconds` / `signet_crl_next_update_seconds` (computed at scrape time)
    crl_source: Arc<Mutex<Option<CrlSource>>>,
    dynamic: Arc<Mutex<HashMap<String, Box<dyn Any + Send + Sync>>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with the process collector (Linux) and Signet's families.
    pub fn new() -> Metrics {
        // The definitions below are static and registered into a fresh registry:
        // failure is a programming error caught by the tests of this module.
        Self::try_new().expect("static metric definitions are valid")
    }

    fn try_new() -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;

        let build_info = IntGaugeVec::new(
            Opts::new("signet_build_info", "Signet build information (always 1)."),
            &["version"],
        )?;
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        registry.register(Box::new(build_info))?;

        let http_requests = IntCounterVec::new(
            Opts::new(
                "signet_http_requests_total",
                "HTTP requests answered, by front end, route and status code.",
            ),
            &["frontend", "route", "status"],
        )?;
        registry.register(Box::new(http_requests.clone()))?;

        let http_request_duration = HistogramVec::new(
            HistogramOpts::new(
                "signet_http_request_duration_seconds",
                "Time from a complete request to its response, by front end, route and status code.",
            )
            .buckets(HTTP_BUCKETS.to_vec()),
            &["frontend", "route", "status"],
        )?;
        registry.register(Box::new(http_request_duration.clone()))?;

        let issuances = IntCounterVec::new(
            Opts::new(
                "signet_issuances_total",
                "Certificate issuance attempts, by profile, protocol and outcome.",
            ),
            &["profile", "protocol", "outcome"],
        )?;
        registry.register(Box::new(issuances.clone()))?;

        let mails = IntCounterVec::new(
            Opts::new(
                "signet_mails_total",
                "Outgoing mails, by transport and outcome (sent, failed).",
            ),
            &["transport", "outcome"],
        )?;
        registry.register(Box::new(mails.clone()))?;

        let connections_open = IntGaugeVec::new(
            Opts::new(
                "signet_http_connections_open",
                "Open client connections, by listener (https, http).",
            ),
            &["listener"],
        )?;
        registry.register(Box::new(connections_open.clone()))?;

        let counter =
            |name: &str, help: &str, labels: &[&str]| -> Result<IntCounterVec, prometheus::Error> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        let mails_ingested = counter(
            "signet_mails_ingested_total",
            "Incoming mails processed as ACME challenge replies, by outcome (validated, rejected, unmatched).",
            &["outcome"],
        )?;
        let acme_orders = counter(
            "signet_acme_orders_total",
            "ACME orders entering a status (pending, ready, processing, valid, invalid).",
            &["status"],
        )?;
        let acme_authorizations = counter(
            "signet_acme_authorizations_total",
            "ACME authorizations entering a status (pending, valid, invalid, deactivated).",
            &["status"],
        )?;
        let acme_challenges = counter(
            "signet_acme_challenges_total",
            "ACME challenges entering a status (processing, valid, invalid), by challenge type.",
            &["type", "status"],
        )?;
        let acme_nonces = counter(
            "signet_acme_nonces_total",
            "ACME replay nonces issued and checked, by outcome (issued, accepted, missing, invalid, expired, replayed).",
            &["outcome"],
        )?;
        let attestation_verdicts = counter(
            "signet_attestation_verdicts_total",
            "Hardware key attestation verdicts, by evidence format and result (accepted, refused, none).",
            &["format", "result"],
        )?;
        let invitation_redemptions = counter(
            "signet_invitation_redemptions_total",
            "Invitations redeemed (ACME external account binding or EST first enrollment), by protocol.",
            &["protocol"],
        )?;

        let signing_duration = HistogramVec::new(
            HistogramOpts::new(
                "signet_signing_duration_seconds",
                "Time the CA core takes to build, sign and check one certificate, by issuer key algorithm.",
            )
            .buckets(FAST_BUCKETS.to_vec()),
            &["algorithm"],
        )?;
        registry.register(Box::new(signing_duration.clone()))?;
        let signing_queue_depth = IntGauge::new(
            "signet_signing_queue_depth",
            "Issuances waiting for a signing worker.",
        )?;
        registry.register(Box::new(signing_queue_depth.clone()))?;
        let signing_workers = IntGauge::new(
            "signet_signing_workers",
            "Threads of the bounded signing pool.",
        )?;
        registry.register(Box::new(signing_workers.clone()))?;
        let acme_nonces_outstanding = IntGauge::new(
            "signet_acme_nonces_outstanding",
            "Used ACME nonces the server remembers to refuse replays (bounded by acme.nonce_max_used).",
        )?;
        registry.register(Box::new(acme_nonces_outstanding.clone()))?;
        let storage_flush_duration = Histogram::with_opts(
            HistogramOpts::new(
                "signet_storage_flush_duration_seconds",
                "Time of one durable flush (fsync) of the store.",
            )
            .buckets(FAST_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(storage_flush_duration.clone()))?;
        let storage_flush_batch = Histogram::with_opts(
            HistogramOpts::new(
                "signet_storage_flush_batch_size",
                "Durable writes (e.g. issuances) made durable together by one flush (group commit).",
            )
            .buckets(BATCH_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(storage_flush_batch.clone()))?;
        let storage_transaction_duration = Histogram::with_opts(
            HistogramOpts::new(
                "signet_storage_transaction_duration_seconds",
                "Time of one multi-record store transaction, including waiting for the store's transaction lock.",
            )
            .buckets(FAST_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(storage_transaction_duration.clone()))?;
        let storage_cache_reads = IntCounterVec::new(
            Opts::new(
                "signet_storage_cache_reads_total",
                "Store reads of records read on every request, by whether the read cache answered (hit) or sled did (miss).",
            ),
            &["result"],
        )?;
        registry.register(Box::new(storage_cache_reads.clone()))?;
        for result in ["hit", "miss"] {
            storage_cache_reads.with_label_values(&[result]);
        }
        // Known label values start at 0, so every family is present from the
        // first scrape and rate() sees the first increment.
        for outcome in ["validated", "rejected", "unmatched"] {
            mails_ingested.with_label_values(&[outcome]);
        }
        for status in ["pending", "ready", "processing", "valid", "invalid"] {
            acme_orders.with_label_values(&[status]);
        }
        for status in ["pending", "valid", "invalid"] {
            acme_authorizations.with_label_values(&[status]);
        }
        for status in ["processing", "valid", "invalid"] {
            acme_challenges.with_label_values(&["email-reply-00", status]);
        }
        for outcome in [
            "issued", "accepted", "missing", "invalid", "expired", "replayed",
        ] {
            acme_nonces.with_label_values(&[outcome]);
        }
        attestation_verdicts.with_label_values(&["none", "none"]);
        for protocol in ["acme", "est"] {
            invitation_redemptions.with_label_values(&[protocol]);
        }
        let crl_source: Arc<Mutex<Option<CrlSource>>> = Arc::new(Mutex::new(None));
        registry.register(Box::new(CrlCollector::new(crl_source.clone())?))?;

        Ok(Metrics {
            registry,
            http_requests,
            http_request_duration,
            issuances,
            mails,
            connections_open,
            mails_ingested,
            signing_duration,
            signing_queue_depth,
            signing_workers,
            acme_orders,
            acme_authorizations,
            acme_challenges,
            acme_nonces,
            acme_nonces_outstanding,
            attestation_verdicts,
            invitation_redemptions,
            storage_flush_duration,
            storage_flush_batch,
            storage_transaction_duration,
            storage_cache_reads,
            crl_source,
            dynamic: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// The underlying registry (to register a custom [`Collector`]).
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// Registers a custom collector.
    pub fn register(&self, collector: Box<dyn Collector>) -> Result<(), prometheus::Error> {
        self.registry.register(collector)
    }

    /// The text exposition format (version 0.0.4) of every family.
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        let mut buf = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut buf)?;
        String::from_utf8(buf).map_err(|e| prometheus::Error::Msg(e.to_string()))
    }

    /// The Content-Type of [`Metrics::encode`]'s output.
    pub fn content_type(&self) -> &'static str {
        "text/plain; version=0.0.4; charset=utf-8"
    }

    /// Records one answered HTTP request.
    pub fn observe_http(&self, frontend: &str, route: &str, status: u16, elapsed: Duration) {
        let status = status.to_string();
        let labels = [frontend, route, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_request_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Records one issuance attempt; `outcome` is e.g. "issued", "pending_approval", "rejected", "failed".
    pub fn issuance(&self, profile: &str, protocol: &str, outcome: &str) {
        self.issuances
            .with_label_values(&[profile, protocol, outcome])
            .inc();
    }

    /// Records one outgoing mail; `outcome` is "sent" or "failed".
    pub fn mail(&self, transport: &str, outcome: &str) {
        self.mails.with_label_values(&[transport, outcome]).inc();
    }

    /// Records one processed incoming mail: "validated", "rejected" or "unmatched".
    pub fn mail_ingested(&self, outcome: &str) {
        self.mails_ingested.with_label_values(&[outcome]).inc();
    }

    /// Records one certificate signed by the CA core.
    pub fn signing(&self, algorithm: &str, elapsed: Duration) {
        self.signing_duration
            .with_label_values(&[algorithm])
            .observe(elapsed.as_secs_f64());
    }

    /// Records an ACME order entering `status`.
    pub fn acme_order(&self, status: &str) {
        self.acme_orders.with_label_values(&[status]).inc();
    }

    /// Records an ACME authorization entering `status`.
    pub fn acme_authorization(&self, status: &str) {
        self.acme_authorizations.with_label_values(&[status]).inc();
    }

    /// Records an ACME challenge of type `kind` entering `status`.
    pub fn acme_challenge(&self, kind: &str, status: &str) {
        self.acme_challenges
            .with_label_values(&[kind, status])
            .inc();
    }

    /// Records an issued nonce ("issued") or a checked one ("accepted",
    /// "missing", "invalid", "expired", "replayed").
    pub fn acme_nonce(&self, outcome: &str) {
        self.acme_nonces.with_label_values(&[outcome]).inc();
    }

    /// Records one attestation verdict: `format` as configured in profiles
    /// (e.g. "yubikey-piv"; "none" without evidence), `result` "accepted" or "refused".
    pub fn attestation_verdict(&self, format: &str, result: &str) {
        self.attestation_verdicts
            .with_label_values(&[format, result])
            .inc();
    }

    /// Records one redeemed invitation ("acme", "est").
    pub fn invitation_redeemed(&self, protocol: &str) {
        self.invitation_redemptions
            .with_label_values(&[protocol])
            .inc();
    }

    /// Records one durable flush of the store that covered `batch` writes.
    pub fn storage_flush(&self, elapsed: Duration, batch: usize) {
        self.storage_flush_duration.observe(elapsed.as_secs_f64());
        self.storage_flush_batch.observe(batch as f64);
    }

    /// Records one read through the store's read cache.
    pub fn storage_cache_read(&self, hit: bool) {
        self.storage_cache_reads
            .with_label_values(&[if hit { "hit" } else { "miss" }])
            .inc();
    }

    /// Records one store transaction.
    pub fn storage_transaction(&self, elapsed: Duration) {
        self.storage_transaction_duration
            .observe(elapsed.as_secs_f64());
    }

    /// Sets where `signet_crl_age_seconds` comes from: a function returning the
    /// current CRL's (thisUpdate, nextUpdate) age and remaining time in seconds,
    /// called at scrape time. The first call wins (one server, one CRL source).
    /// Shows `signet_attestation_verdicts_total` at zero for each evidence
    /// format (`va::attestation::Format::ALL`, given by the server, which
    /// knows the verifiers) and result, before the first verdict.
    pub fn preregister_attestation_formats<'a>(&self, formats: impl IntoIterator<Item = &'a str>) {
        for format in formats {
            for result in ["accepted", "refused"] {
                self.attestation_verdicts
                    .with_label_values(&[format, result]);
            }
        }
    }

    pub fn set_crl_source(&self, source: impl Fn() -> Option<(f64, f64)> + Send + Sync + 'static) {
        let mut slot = self.crl_source.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(Box::new(source));
        }
    }

    /// Drops the scrape-time sources (they hold the store, which holds these
    /// metrics: without this the cycle keeps the sled database, and its lock,
    /// alive after the server stops). Called when the server's `App` is dropped.
    pub fn clear_sources(&self) {
        *self.crl_source.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// A counter family registered on first use (same handle on later calls).
    pub fn int_counter_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntCounterVec, prometheus::Error> {
        self.dynamic(name, labels, || {
            IntCounterVec::new(Opts::new(name, help), labels)
        })
    }

    /// A gauge family registered on first use (same handle on later calls).
    pub fn int_gauge_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<IntGaugeVec, prometheus::Error> {
        self.dynamic(name, labels, || {
            IntGaugeVec::new(Opts::new(name, help), labels)
        })
    }

    /// A label-less gauge registered on first use.
    pub fn int_gauge(&self, name: &str, help: &str) -> Result<IntGauge, prometheus::Error> {
        self.dynamic(name, &[], || IntGauge::new(name, help))
    }

    /// A histogram family registered on first use; `buckets` in the family's unit
    /// (None: the Prometheus default buckets).
    pub fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: Option<&[f64]>,
    ) -> Result<HistogramVec, prometheus::Error> {
        self.dynamic(name, labels, || {
            let mut opts = HistogramOpts::new(name, help);
            if let Some(b) = buckets {
                opts = opts.buckets(b.to_vec());
            }
            HistogramVec::new(opts, labels)
        })
    }

    fn dynamic<C>(
        &self,
        name: &str,
        labels: &[&str],
        make: impl FnOnce() -> Result<C, prometheus::Error>,
    ) -> Result<C, prometheus::Error>
    where
        C: Collector + Clone + Send + Sync + 'static,
    {
        let key = format!("{name}|{}", labels.join(","));
        let mut map = self.dynamic.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = map.get(&key) {
            return existing.downcast_ref::<C>().cloned().ok_or_else(|| {
                prometheus::Error::Msg(format!("{name} is already registered as another kind"))
            });
        }
        let collector = make()?;
        self.registry.register(Box::new(collector.clone()))?;
        map.insert(key, Box::new(collector.clone()));
        Ok(collector)
    }
}

/// (seconds since the current CRL's thisUpdate, seconds until its nextUpdate).
type CrlSource = Box<dyn Fn() -> Option<(f64, f64)> + Send + Sync>;

/// `signet_crl_age_seconds` and `signet_crl_next_update_seconds`, computed at
/// scrape time from the published CRL (absent until a source is set and a CRL
/// exists).
struct CrlCollector {
    source: Arc<Mutex<Option<CrlSource>>>,
    age: Gauge,
    next: Gauge,
    descs: Vec<Desc>,
}

impl CrlCollector {
    fn new(source: Arc<Mutex<Option<CrlSource>>>) -> Result<CrlCollector, prometheus::Error> {
        let age = Gauge::new(
            "signet_crl_age_seconds",
            "Seconds since the thisUpdate of the currently published CRL.",
        )?;
        let next = Gauge::new(
            "signet_crl_next_update_seconds",
            "Seconds until the nextUpdate of the currently published CRL (negative: overdue).",
        )?;
        let mut descs: Vec<Desc> = age.desc().into_iter().cloned().collect();
        descs.extend(next.desc().into_iter().cloned());
        Ok(CrlCollector {
            source,
            age,
            next,
            descs,
        })
    }
}

impl Collector for CrlCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let reading = {
            let slot = self.source.lock().unwrap_or_else(|e| e.into_inner());
            match slot.as_ref() {
                Some(source) => source(),
                None => return Vec::new(),
            }
        };
        let Some((age, next)) = reading else {
            return Vec::new();
        };
        self.age.set(age);
        self.next.set(next);
        let mut out = self.age.collect();
        out.extend(self.next.collect());
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_the_signet_families() {
        let m = Metrics::new();
        m.observe_http("acme", "/acme/new-order", 201, Duration::from_millis(3));
        m.issuance("ov-default", "acme", "issued");
        m.mail("outbox", "sent");
        let text = m.encode().unwrap();
        assert!(text.contains("signet_build_info{version=\""), "{text}");
        assert!(text.contains(
            "signet_http_requests_total{frontend=\"acme\",route=\"/acme/new-order\",status=\"201\"} 1"
        ));
        assert!(text.contains("# TYPE signet_http_request_duration_seconds histogram"));
        assert!(text.contains(
            "signet_http_request_duration_seconds_bucket{frontend=\"acme\",route=\"/acme/new-order\",status=\"201\",le=\"0.005\"} 1"
        ));
        assert!(text.contains(
            "signet_http_request_duration_seconds_bucket{frontend=\"acme\",route=\"/acme/new-order\",status=\"201\",le=\"0.0025\"} 0"
        ));
        assert!(text.contains(
            "signet_issuances_total{outcome=\"issued\",profile=\"ov-default\",protocol=\"acme\"} 1"
        ));
        assert!(text.contains("signet_mails_total{outcome=\"sent\",transport=\"outbox\"} 1"));
        #[cfg(target_os = "linux")]
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
    }

    #[test]
    fn dynamic_families_are_registered_once() {
        let m = Metrics::new();
        let a = m
            .int_counter_vec("signet_test_things_total", "Things.", &["kind"])
            .unwrap();
        let b = m
            .int_counter_vec("signet_test_things_total", "Things.", &["kind"])
            .unwrap();
        a.with_label_values(&["x"]).inc();
        b.with_label_values(&["x"]).inc();
        assert!(m
            .encode()
            .unwrap()
            .contains("signet_test_things_total{kind=\"x\"} 2"));
        // same name as another kind: error, not a panic
        assert!(m
            .int_gauge_vec("signet_test_things_total", "Things.", &["kind"])
            .is_err());
        // a static family's name cannot be taken
        assert!(m
            .int_counter_vec("signet_mails_total", "dup", &["transport", "outcome"])
            .is_err());
        let h = m
            .histogram_vec("signet_test_seconds", "Latency.", &[], Some(&[0.1, 1.0]))
            .unwrap();
        h.with_label_values::<&str>(&[]).observe(0.5);
        assert!(m
            .encode()
            .unwrap()
            .contains("signet_test_seconds_bucket{le=\"1\"} 1"));
    }

    #[test]
    fn every_family_is_documented() {
        let source = include_str!("metrics.rs");
        let docs = include_str!("../docs/CONFIGURATION.md");
        let mut names: Vec<&str> = source
            .split('"')
            .filter(|s| {
                s.starts_with("signet_")
                    && !s.starts_with("signet_test_")
                    && !s.starts_with("signet_example_")
                    && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_')
            })
            .collect();
        names.sort();
        names.dedup();
        assert!(names.len() >= 5, "{names:?}");
        for name in names {
            assert!(
                docs.contains(&format!("`{name}`")),
                "metric family {name} is not documented in docs/CONFIGURATION.md"
            );
        }
    }

    #[test]
    fn instances_are_independent() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.mail("smtp", "failed");
        assert!(!b.encode().unwrap().contains("signet_mails_total{"));
    }
}
