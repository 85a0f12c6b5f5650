//! Every metric, registered in one place. Label values come from closed enums (`Reason::code`, fixed result
//! strings), never from users, tokens, kids, paths or issuers.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::authn::reason::Reason;

/// The registry and its metrics.
pub struct Metrics {
    registry: Registry,
    /// `authgate_requests_total{decision,reason}`.
    pub requests: IntCounterVec,
    /// `requests_total{decision="allow",reason="ok"}`, resolved once.
    allowed: IntCounter,
    /// `requests_total` for each reason at its default status, indexed by `Reason as usize`.
    denied: Vec<IntCounter>,
    /// `authgate_request_duration_seconds`.
    pub request_duration: Histogram,
    /// `authgate_decision_cache_hits_total`.
    pub cache_hits: IntCounter,
    /// `authgate_decision_cache_misses_total`.
    pub cache_misses: IntCounter,
    /// `authgate_jwks_refresh_total{result}`.
    pub jwks_refresh: IntCounterVec,
    /// `authgate_jwks_keys`.
    pub jwks_keys: IntGauge,
    /// `authgate_jwks_last_success_timestamp_seconds`.
    pub jwks_last_success: IntGauge,
    /// `authgate_webhook_requests_total{result}`.
    pub webhook_requests: IntCounterVec,
    /// `authgate_webhook_duration_seconds`.
    pub webhook_duration: Histogram,
    /// `authgate_config_reloads_total{result}`.
    pub config_reloads: IntCounterVec,
    /// `authgate_config_last_success_timestamp_seconds`.
    pub config_last_success: IntGauge,
    /// `authgate_admission_reviews_total{result}`.
    pub admission_reviews: IntCounterVec,
    /// `authgate_internal_errors_total{site}`.
    internal_errors: IntCounterVec,
}

/// Where an internal error (a fault of authgate, not of a request or a config) happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InternalError {
    /// The Prometheus text exposition could not be encoded.
    MetricsRender,
    /// An admission answer could not be serialised.
    AdmissionRender,
    /// A JWKS lock was poisoned by a panic while held.
    JwksLock,
}

impl InternalError {
    /// Every site, for pre-registering the label set.
    pub const ALL: [InternalError; 3] = [
        InternalError::MetricsRender,
        InternalError::AdmissionRender,
        InternalError::JwksLock,
    ];

    /// The `site` label.
    pub fn as_str(self) -> &'static str {
        match self {
            InternalError::MetricsRender => "metrics_render",
            InternalError::AdmissionRender => "admission_render",
            InternalError::JwksLock => "jwks_lock",
        }
    }
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
            "Auth decisions by decision and reason.",
            &["decision", "reason"],
        );
        // Every bounded label set exists from the start (dashboards see zeros, not gaps), and the hot path
        // holds the counters directly.
        let allowed = requests.with_label_values(&["allow", "ok"]);
        let denied = Reason::ALL
            .iter()
            .map(|r| requests.with_label_values(&[decision_label(r.status()), r.code()]))
            .collect();
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
        for r in ["allow", "deny", "error"] {
            m.webhook_requests.with_label_values(&[r]);
        }
        for r in ["success", "error"] {
            m.jwks_refresh.with_label_values(&[r]);
            m.config_reloads.with_label_values(&[r]);
        }
        for site in InternalError::ALL {
            m.internal_errors.with_label_values(&[site.as_str()]);
        }
        m
    }

    /// Count one internal error.
    pub fn internal_error(&self, site: InternalError) {
        self.internal_errors
            .with_label_values(&[site.as_str()])
            .inc();
    }

    /// Count of internal errors at `site` so far.
    pub fn internal_error_count(&self, site: InternalError) -> u64 {
        self.internal_errors
            .with_label_values(&[site.as_str()])
            .get()
    }

    /// Count one decision.
    pub fn observe_decision(&self, status: u16, reason: Option<Reason>, seconds: f64) {
        // Resolved once at start: no label hashing per request.
        match reason {
            None => self.allowed.inc(),
            Some(r) if r.status() == status => self.denied[r as usize].inc(),
            // A webhook denial carries the hook's own 401/403.
            Some(r) => self
                .requests
                .with_label_values(&[decision_label(status), r.code()])
                .inc(),
        }
        self.request_duration.observe(seconds);
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

/// Seconds since the Unix epoch.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
