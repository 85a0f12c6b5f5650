//! Every metric, registered in one place: the only module that names prometheus. `Metrics` is an
//! [`Observer`]: the domain reports typed outcomes and this turns them into series. Label values come from closed
//! enums (`Reason::code`, the `as_str()` of the outcome enums), never from users, tokens, kids, paths or issuers.

use std::sync::Arc;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

mod series;

use crate::authn::reason::Reason;
pub use crate::observe::InternalError;
use crate::observe::{
    CacheLookup, ConfigObserver, HookResult, Observer, Outcome, Removal, ReviewResult, Transport,
};
use series::{Families, Preset, Series};

/// The registry and its metrics.
pub struct Metrics {
    registry: Registry,
    /// `requests_total`, the latency histogram, and the cache, JWKS and reload series: labelled by config in
    /// multi-config mode.
    families: Arc<Families>,
    /// What belongs to no named config: every series in single-config mode; in multi-config mode the requests that
    /// name no known config (`config=""`: the name a client sent is never a label).
    base: Series,
    /// Whether the `config` label is in use.
    multi: bool,
    /// `authgate_webhook_requests_total{result}`.
    webhook_requests: IntCounterVec,
    /// `authgate_webhook_duration_seconds`.
    webhook_duration: Histogram,
    /// `authgate_admission_reviews_total{result}`.
    admission_reviews: IntCounterVec,
    /// `authgate_internal_errors_total{site}`.
    internal_errors: IntCounterVec,
    /// `authgate_trace_spans_dropped_total`, copied from the exporter's process-wide count at each scrape.
    spans_dropped: prometheus::IntCounter,
}

/// Decision label of `requests_total`.
pub fn decision_label(status: u16) -> &'static str {
    match status {
        200 => "allow",
        401 | 403 => "deny",
        _ => "error",
    }
}

/// Sub-millisecond resolution for cached decisions, up to 5 s (the default webhook timeout).
const LATENCY_BUCKETS: [f64; 18] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

impl Metrics {
    /// Create and register every metric, for single-config mode (no `config` label).
    pub fn new() -> Self {
        Self::build(false)
    }

    /// Create and register every metric, for multi-config mode: request counters, cache, JWKS and reload series
    /// carry a `config` label (each config's series appear when [`Observer::config`] is first asked for it).
    pub fn multi_config() -> Self {
        Self::build(true)
    }

    fn build(multi: bool) -> Self {
        let registry = Registry::new_custom(Some("authgate".into()), None)
            .expect("static registry prefix is valid");
        let labels = |rest: &[&'static str]| -> Vec<&'static str> {
            multi
                .then_some("config")
                .into_iter()
                .chain(rest.iter().copied())
                .collect()
        };
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)
                .expect("static metric definition");
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
            c
        };
        let gauge_vec = |name: &str, help: &str, labels: &[&str]| {
            let g =
                IntGaugeVec::new(Opts::new(name, help), labels).expect("static metric definition");
            registry
                .register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let histogram = |name: &str, help: &str| {
            let h = Histogram::with_opts(
                HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
            )
            .expect("static metric definition");
            registry
                .register(Box::new(h.clone()))
                .expect("metric registered once");
            h
        };
        let families = Arc::new(Families {
            requests: counter_vec(
                "requests_total",
                "Auth decisions by decision, reason and the listener they came through (http or grpc).",
                &labels(&["decision", "reason", "transport"]),
            ),
            duration: histogram("request_duration_seconds", "Time to decide, in seconds."),
            cache_hits: counter_vec(
                "decision_cache_hits_total",
                "Decisions answered from the decision cache.",
                &labels(&[]),
            ),
            cache_misses: counter_vec(
                "decision_cache_misses_total",
                "Decisions that missed the decision cache.",
                &labels(&[]),
            ),
            jwks_refresh: counter_vec(
                "jwks_refresh_total",
                "JWKS fetches by result.",
                &labels(&["result"]),
            ),
            jwks_keys: gauge_vec(
                "jwks_keys",
                "Usable keys in the most recently fetched key set.",
                &labels(&[]),
            ),
            jwks_last_success: gauge_vec(
                "jwks_last_success_timestamp_seconds",
                "Unix time of the last good JWKS fetch.",
                &labels(&[]),
            ),
            config_reloads: counter_vec(
                "config_reloads_total",
                "Config loads by result.",
                &labels(&["result"]),
            ),
            config_last_success: gauge_vec(
                "config_last_success_timestamp_seconds",
                "Unix time of the last good config load.",
                &labels(&[]),
            ),
        });
        // Every bounded label set exists from the start (dashboards see zeros, not gaps), and the hot path
        // holds the counters directly.
        let base = if multi {
            Series::new(families.clone(), Some(""), Preset::Unnamed)
        } else {
            let base = Series::new(families.clone(), None, Preset::Config);
            base.preset_jwks();
            base
        };
        let m = Metrics {
            families,
            base,
            multi,
            webhook_requests: counter_vec(
                "webhook_requests_total",
                "Auth webhook calls by result.",
                &["result"],
            ),
            webhook_duration: histogram(
                "webhook_duration_seconds",
                "Auth webhook call duration, in seconds.",
            ),
            admission_reviews: counter_vec(
                "admission_reviews_total",
                "Admission reviews by result.",
                &["result"],
            ),
            internal_errors: counter_vec(
                "internal_errors_total",
                "Internal errors (faults of authgate itself) by site.",
                &["site"],
            ),
            spans_dropped: {
                let c = prometheus::IntCounter::new(
                    "trace_spans_dropped_total",
                    "Finished trace spans dropped before reaching the OTLP collector (queue full or export failed).",
                )
                .expect("static metric definition");
                registry
                    .register(Box::new(c.clone()))
                    .expect("metric registered once");
                c
            },
            registry,
        };
        // `authgate_build_info{version}`: always 1; the version is the label.
        let build_info = IntGaugeVec::new(
            Opts::new("build_info", "Build information; the value is always 1."),
            &["version"],
        )
        .expect("static metric definition");
        m.registry
            .register(Box::new(build_info.clone()))
            .expect("metric registered once");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for r in HookResult::ALL {
            m.webhook_requests.with_label_values(&[r.as_str()]);
        }
        for r in ReviewResult::ALL {
            m.admission_reviews.with_label_values(&[r.as_str()]);
        }
        for site in InternalError::ALL {
            m.internal_errors.with_label_values(&[site.as_str()]);
        }
        m
    }

    /// Count of internal errors at `site` so far.
    pub fn internal_error_count(&self, site: InternalError) -> u64 {
        self.internal_errors
            .with_label_values(&[site.as_str()])
            .get()
    }

    /// The Prometheus text exposition, or why it could not be encoded.
    pub fn render(&self) -> Result<String, String> {
        let mut buf = Vec::new();
        let dropped = crate::observe::trace_spans_dropped();
        self.spans_dropped
            .inc_by(dropped.saturating_sub(self.spans_dropped.get()));
        let families = self.registry.gather();
        TextEncoder::new()
            .encode(&families, &mut buf)
            .map_err(|e| e.to_string())?;
        String::from_utf8(buf).map_err(|e| e.to_string())
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl ConfigObserver for Metrics {
    fn decision(&self, transport: Transport, status: u16, reason: Option<Reason>, seconds: f64) {
        self.base.decision(transport, status, reason, seconds);
    }

    fn cache(&self, lookup: CacheLookup) {
        self.base.cache(lookup);
    }

    fn jwks_fetch(&self, outcome: Outcome, keys: usize, unix: u64) {
        self.base.jwks_fetch(outcome, keys, unix);
    }

    fn jwks_held(&self, keys: usize, unix: u64) {
        self.base.jwks_held(keys, unix);
    }

    fn config_load(&self, outcome: Outcome, unix: u64) {
        self.base.config_load(outcome, unix);
    }

    fn config_removal(&self, stage: Removal) {
        self.base.config_removal(stage);
    }
}

impl Observer for Metrics {
    fn webhook_call(&self, result: HookResult, seconds: f64) {
        self.webhook_requests
            .with_label_values(&[result.as_str()])
            .inc();
        self.webhook_duration.observe(seconds);
    }

    fn admission_review(&self, result: ReviewResult) {
        self.admission_reviews
            .with_label_values(&[result.as_str()])
            .inc();
    }

    fn internal_error(&self, site: InternalError) {
        self.internal_errors
            .with_label_values(&[site.as_str()])
            .inc();
    }

    fn config(&self, name: &str) -> Arc<dyn ConfigObserver> {
        if self.multi {
            Arc::new(Series::new(
                self.families.clone(),
                Some(name),
                Preset::Config,
            ))
        } else {
            // Single-config mode has no `config` label: everything is the one config's.
            Arc::new(Series::new(self.families.clone(), None, Preset::Config))
        }
    }
}
