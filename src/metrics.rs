//! Every metric, registered in one place: the only module that names prometheus. `Metrics` is an
//! [`Observer`]: the domain reports typed outcomes and this turns them into series. Label values come from closed
//! enums (`Reason::code`, the `as_str()` of the outcome enums), never from users, tokens, kids, paths or issuers.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::authn::reason::Reason;
pub use crate::observe::InternalError;
use crate::observe::{CacheLookup, HookResult, Observer, Outcome, ReviewResult, Transport};

/// The registry and its metrics.
pub struct Metrics {
    registry: Registry,
    /// `authgate_requests_total{decision,reason,transport}`.
    requests: IntCounterVec,
    /// `requests_total{decision="allow",reason="ok"}` of each transport (at `Transport::index`), resolved once.
    allowed: [IntCounter; 2],
    /// `requests_total` for each reason at its default status, at `[Transport::index][Reason::index]`.
    denied: [Vec<IntCounter>; 2],
    /// `authgate_request_duration_seconds`.
    request_duration: Histogram,
    /// `authgate_decision_cache_hits_total`.
    cache_hits: IntCounter,
    /// `authgate_decision_cache_misses_total`.
    cache_misses: IntCounter,
    /// `authgate_jwks_refresh_total{result}`.
    jwks_refresh: IntCounterVec,
    /// `authgate_jwks_keys`.
    jwks_keys: IntGauge,
    /// `authgate_jwks_last_success_timestamp_seconds`.
    jwks_last_success: IntGauge,
    /// `authgate_webhook_requests_total{result}`.
    webhook_requests: IntCounterVec,
    /// `authgate_webhook_duration_seconds`.
    webhook_duration: Histogram,
    /// `authgate_config_reloads_total{result}`.
    config_reloads: IntCounterVec,
    /// `authgate_config_last_success_timestamp_seconds`.
    config_last_success: IntGauge,
    /// `authgate_admission_reviews_total{result}`.
    admission_reviews: IntCounterVec,
    /// `authgate_internal_errors_total{site}`.
    internal_errors: IntCounterVec,
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
    /// Create and register every metric.
    pub fn new() -> Self {
        let registry = Registry::new_custom(Some("authgate".into()), None)
            .expect("static registry prefix is valid");
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)
                .expect("static metric definition");
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
            c
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("static metric definition");
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("static metric definition");
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
        let requests = counter_vec(
            "requests_total",
            "Auth decisions by decision, reason and the listener they came through (http or grpc).",
            &["decision", "reason", "transport"],
        );
        // Every bounded label set exists from the start (dashboards see zeros, not gaps), and the hot path
        // holds the counters directly.
        let allowed =
            Transport::ALL.map(|t| requests.with_label_values(&["allow", "ok", t.as_str()]));
        let denied = Transport::ALL.map(|t| {
            Reason::ALL
                .iter()
                .map(|r| {
                    requests.with_label_values(&[decision_label(r.status()), r.code(), t.as_str()])
                })
                .collect()
        });
        let m = Metrics {
            allowed,
            denied,
            requests,
            request_duration: histogram("request_duration_seconds", "Time to decide, in seconds."),
            cache_hits: counter(
                "decision_cache_hits_total",
                "Decisions answered from the decision cache.",
            ),
            cache_misses: counter(
                "decision_cache_misses_total",
                "Decisions that missed the decision cache.",
            ),
            jwks_refresh: counter_vec("jwks_refresh_total", "JWKS fetches by result.", &["result"]),
            jwks_keys: gauge(
                "jwks_keys",
                "Usable keys in the most recently fetched key set.",
            ),
            jwks_last_success: gauge(
                "jwks_last_success_timestamp_seconds",
                "Unix time of the last good JWKS fetch.",
            ),
            webhook_requests: counter_vec(
                "webhook_requests_total",
                "Auth webhook calls by result.",
                &["result"],
            ),
            webhook_duration: histogram(
                "webhook_duration_seconds",
                "Auth webhook call duration, in seconds.",
            ),
            config_reloads: counter_vec(
                "config_reloads_total",
                "Config loads by result.",
                &["result"],
            ),
            config_last_success: gauge(
                "config_last_success_timestamp_seconds",
                "Unix time of the last good config load.",
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
        for r in Outcome::ALL {
            m.jwks_refresh.with_label_values(&[r.as_str()]);
            m.config_reloads.with_label_values(&[r.as_str()]);
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

impl Observer for Metrics {
    fn decision(&self, transport: Transport, status: u16, reason: Option<Reason>, seconds: f64) {
        // The common series are resolved once at start: no label hashing per request.
        let t = transport.index();
        match reason {
            None => self.allowed[t].inc(),
            Some(r) if r.status() == status => self.denied[t][r.index()].inc(),
            // A webhook denial carries the hook's own 401/403.
            Some(r) => self
                .requests
                .with_label_values(&[decision_label(status), r.code(), transport.as_str()])
                .inc(),
        }
        self.request_duration.observe(seconds);
    }

    fn cache(&self, lookup: CacheLookup) {
        match lookup {
            CacheLookup::Hit => self.cache_hits.inc(),
            CacheLookup::Miss => self.cache_misses.inc(),
        }
    }

    fn jwks_fetch(&self, outcome: Outcome, keys: usize, unix: u64) {
        self.jwks_refresh
            .with_label_values(&[outcome.as_str()])
            .inc();
        if outcome == Outcome::Success {
            self.jwks_keys.set(i64::try_from(keys).unwrap_or(i64::MAX));
            self.jwks_last_success
                .set(i64::try_from(unix).unwrap_or(i64::MAX));
        }
    }

    fn webhook_call(&self, result: HookResult, seconds: f64) {
        self.webhook_requests
            .with_label_values(&[result.as_str()])
            .inc();
        self.webhook_duration.observe(seconds);
    }

    fn config_load(&self, outcome: Outcome, unix: u64) {
        self.config_reloads
            .with_label_values(&[outcome.as_str()])
            .inc();
        if outcome == Outcome::Success {
            self.config_last_success
                .set(i64::try_from(unix).unwrap_or(i64::MAX));
        }
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
}
