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
//!     .int_counter_vec("signet_acme_orders_total", "ACME orders created, by outcome.", &["outcome"])
//!     .expect("valid metric definition");
//! orders.with_label_values(&["created"]).inc();
//! ```
//!
//! Asking twice for the same name returns the same family (so two front-end
//! instances may share it); asking for an existing name with another kind or
//! other labels is an error. Families that several modules record (HTTP
//! requests, issuances, mails) are fields here with a recording method.

use prometheus::core::Collector;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};
use std::any::Any;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Latency buckets for HTTP requests (seconds): 1 ms .. 10 s.
pub const HTTP_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

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

        Ok(Metrics {
            registry,
            http_requests,
            http_request_duration,
            issuances,
            mails,
            connections_open,
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
    fn instances_are_independent() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.mail("smtp", "failed");
        assert!(!b.encode().unwrap().contains("signet_mails_total{"));
    }
}
