//! What the domain reports as it works. The gate, jwks, the webhook client, reloads and admission call these typed
//! methods; `metrics::Metrics` turns them into Prometheus series (and the coming tracing layer can listen too).
//! Label values come from these enums, never from users, tokens, kids, paths or issuers.

use crate::authn::reason::Reason;

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

/// How a fetch of a key set or a load of a config ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Error,
}

impl Outcome {
    pub const ALL: [Outcome; 2] = [Outcome::Success, Outcome::Error];

    /// The `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => "success",
            Outcome::Error => "error",
        }
    }
}

/// How a webhook call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookResult {
    /// The hook answered 200 with a usable session.
    Allow,
    /// The hook answered 401 or 403.
    Deny,
    /// Unreachable, timed out, or an unusable answer.
    Error,
}

impl HookResult {
    pub const ALL: [HookResult; 3] = [HookResult::Allow, HookResult::Deny, HookResult::Error];

    /// The `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            HookResult::Allow => "allow",
            HookResult::Deny => "deny",
            HookResult::Error => "error",
        }
    }
}

/// How an admission review ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReviewResult {
    /// The object was allowed (a valid AuthConfig, or not one of ours).
    Allowed,
    /// The AuthConfig does not load.
    Denied,
    /// The body is not an AdmissionReview.
    Invalid,
}

impl ReviewResult {
    pub const ALL: [ReviewResult; 3] = [
        ReviewResult::Allowed,
        ReviewResult::Denied,
        ReviewResult::Invalid,
    ];

    /// The `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewResult::Allowed => "allowed",
            ReviewResult::Denied => "denied",
            ReviewResult::Invalid => "invalid",
        }
    }
}

/// Whether a decision was answered from the decision cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheLookup {
    Hit,
    Miss,
}

/// Which listener a decision came through: the bounded `transport` label.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// The HTTP data listener (forward-auth, Envoy's HTTP `ext_authz`).
    Http,
    /// The gRPC listener (Envoy's `envoy.service.auth.v3.Authorization/Check`).
    Grpc,
}

impl Transport {
    pub const ALL: [Transport; 2] = [Transport::Http, Transport::Grpc];

    /// The `transport` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Grpc => "grpc",
        }
    }

    /// The position of this transport in [`Transport::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A step of a named config's removal (multi-config mode): gone from its source, then, after the grace period, no
/// longer served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    Pending,
    Removed,
}

impl Removal {
    /// The `result` label of `config_reloads_total`.
    pub fn as_str(self) -> &'static str {
        match self {
            Removal::Pending => "removal_pending",
            Removal::Removed => "removed",
        }
    }
}

/// What one config's requests, caches, key sets and loads report. In single-config mode the [`Observer`] itself is
/// the one config's receiver (no `config` label); in multi-config mode [`Observer::config`] hands out one per name.
/// Every method must be cheap: `decision` and `cache` run on every request.
pub trait ConfigObserver: Send + Sync {
    /// A decision: the listener it came through, its HTTP status, its reason when it is not an allow, and how long
    /// it took.
    fn decision(&self, transport: Transport, status: u16, reason: Option<Reason>, seconds: f64);
    /// A lookup in the decision (or webhook-answer) cache.
    fn cache(&self, lookup: CacheLookup);
    /// A JWKS fetch ended: on success, with the number of usable keys and the Unix time.
    fn jwks_fetch(&self, outcome: Outcome, keys: usize, unix: u64);
    /// This config started using a key set that is already held (fetched for another config): the key count and
    /// the Unix time of its last good fetch, without counting a fetch.
    fn jwks_held(&self, _keys: usize, _unix: u64) {}
    /// A config load (or a failed read of its source) ended at Unix time `unix`.
    fn config_load(&self, outcome: Outcome, unix: u64);
    /// A step of this config's removal.
    fn config_removal(&self, _stage: Removal) {}
}

/// The receiver of what happens. As a [`ConfigObserver`] it counts what belongs to no named config: everything in
/// single-config mode, and the requests naming no known config in multi-config mode.
pub trait Observer: ConfigObserver {
    /// A webhook call ended after `seconds`.
    fn webhook_call(&self, result: HookResult, seconds: f64);
    /// An admission review was answered.
    fn admission_review(&self, result: ReviewResult);
    /// An internal error.
    fn internal_error(&self, site: InternalError);
    /// The receiver of config `name`'s series (multi-config mode); asked once per config, when it first appears,
    /// so that the request path never looks a label up.
    fn config(&self, name: &str) -> std::sync::Arc<dyn ConfigObserver>;
}

/// An observer that ignores everything (tests, `explain`).
#[derive(Debug, Default, Clone, Copy)]
pub struct Ignore;

impl ConfigObserver for Ignore {
    fn decision(&self, _: Transport, _: u16, _: Option<Reason>, _: f64) {}
    fn cache(&self, _: CacheLookup) {}
    fn jwks_fetch(&self, _: Outcome, _: usize, _: u64) {}
    fn config_load(&self, _: Outcome, _: u64) {}
}

impl Observer for Ignore {
    fn webhook_call(&self, _: HookResult, _: f64) {}
    fn admission_review(&self, _: ReviewResult) {}
    fn internal_error(&self, _: InternalError) {}
    fn config(&self, _: &str) -> std::sync::Arc<dyn ConfigObserver> {
        std::sync::Arc::new(Ignore)
    }
}

static TRACE_SPANS_DROPPED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// `n` finished spans were dropped before reaching the collector (a full export queue, a failed export). Process-wide:
/// the exporter starts before any `Observer` exists.
pub fn count_trace_spans_dropped(n: u64) {
    TRACE_SPANS_DROPPED.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
}

/// Spans dropped so far (`authgate_trace_spans_dropped_total`).
pub fn trace_spans_dropped() -> u64 {
    TRACE_SPANS_DROPPED.load(std::sync::atomic::Ordering::Relaxed)
}
