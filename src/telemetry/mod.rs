//! Logs and traces: the `tracing` subscriber (the JSON or text log on a background thread) and, when an OTLP
//! endpoint is configured and the `otel` feature is built, the OpenTelemetry layer and its exporter.
//!
//! The spans sent to the collector have their own target, [`TARGET`]; each layer filters for itself, so the log
//! layer never records them and, with tracing off, no layer is interested and their callsites are disabled: a
//! decision then pays one relaxed atomic load for tracing ([`enabled`]). The decision span is opened by the
//! contract adapters ([`decision_span`]: its parent from the proxy's headers, and no span at all for a decision
//! the sampler leaves out) and its outcome recorded by the gate ([`record_decision`]); the JWKS fetch and the
//! webhook call open child spans ([`client_span`]), and the webhook request carries authgate's own context onward
//! ([`inject_current`]).
//! Attribute values are bounded: enum names, reason codes, the names of loaded configs; never a token, a claim, a
//! header value or a path.

#[cfg(feature = "otel")]
mod b3;
#[cfg(feature = "otel")]
mod export;
#[cfg(feature = "otel")]
mod sampling;
mod settings;
mod subscriber;

use std::sync::atomic::{AtomicBool, Ordering};

pub use settings::{OtelSettings, Propagator, Protocol, Sampler, from_env};
pub use subscriber::{Flush, init};

use crate::observe::Transport;

/// The target of every span meant for the collector.
pub const TARGET: &str = "authgate::trace";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether the OpenTelemetry layer is installed (spans of [`TARGET`] are recorded).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The request headers a trace context is read from.
pub trait HeaderSource {
    /// The value of header `name` (lower case), when it is text.
    fn header(&self, name: &str) -> Option<&str>;
}

impl HeaderSource for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The span of one decision whose request carries `headers`: a child of their trace context (per the configured
/// propagators), or a new root. Disabled, and free, when tracing is off or the sampler leaves this decision out
/// (see `sampling`).
pub fn decision_span(transport: Transport, headers: &dyn HeaderSource) -> tracing::Span {
    #[cfg(feature = "otel")]
    if enabled() {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        struct Extract<'a>(&'a dyn HeaderSource);
        impl opentelemetry::propagation::Extractor for Extract<'_> {
            fn get(&self, key: &str) -> Option<&str> {
                self.0.header(key)
            }
            fn keys(&self) -> Vec<&str> {
                Vec::new()
            }
        }
        let cx = opentelemetry::global::get_text_map_propagator(|p| p.extract(&Extract(headers)));
        let parent = {
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid()
                .then(|| (sc.is_sampled(), sc.trace_id().to_bytes()))
        };
        if !sampling::keep(parent) {
            return tracing::Span::none();
        }
        let span = tracing::info_span!(
            target: TARGET,
            "authgate.decide",
            otel.kind = "server",
            otel.status_code = tracing::field::Empty,
            authgate.transport = transport.as_str(),
            authgate.decision = tracing::field::Empty,
            authgate.reason = tracing::field::Empty,
            authgate.config = tracing::field::Empty,
            authgate.cache_hit = tracing::field::Empty,
            authgate.mode = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        );
        // Fails only when the span already started, which a fresh span has not.
        let _ = span.set_parent(cx);
        return span;
    }
    let _ = (transport, headers);
    tracing::Span::none()
}

/// A client span (the JWKS fetch, the webhook call) under the current decision span; none outside a traced
/// decision (a background key refresh is not traced: its outcome is in the metrics).
#[inline]
pub fn client_span(name: &'static str) -> tracing::Span {
    if !enabled() || tracing::Span::current().is_disabled() {
        return tracing::Span::none();
    }
    match name {
        "authgate.jwks_fetch" => tracing::info_span!(
            target: TARGET,
            "authgate.jwks_fetch",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            http.response.status_code = tracing::field::Empty,
        ),
        _ => tracing::info_span!(
            target: TARGET,
            "authgate.webhook",
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            authgate.result = tracing::field::Empty,
        ),
    }
}

/// Record the outcome of a client span: its HTTP status when one came back, and whether it failed.
pub fn record_client(span: &tracing::Span, status: Option<u16>, failed: bool) {
    if span.is_disabled() {
        return;
    }
    if let Some(s) = status {
        span.record("http.response.status_code", s);
    }
    if failed {
        span.record("otel.status_code", "error");
    }
}

/// The outcome of one decision: what the gate knows of it.
pub struct Outcome<'a> {
    pub status: u16,
    /// The deny reason's code.
    pub reason: Option<&'static str>,
    /// The config's name, when it is one being served (never a name a client sent that matches none).
    pub config: Option<&'a str>,
    pub cache_hit: bool,
    /// `jwt`, `webhook` or `noauth`, when a mode was selected.
    pub mode: Option<&'static str>,
}

/// Record a decision's outcome on the current span (the decision span its adapter opened).
pub fn record_decision(o: &Outcome<'_>) {
    let span = tracing::Span::current();
    if span.is_disabled() {
        return;
    }
    let decision = match o.status {
        200 => "allow",
        401 | 403 => "deny",
        _ => "error",
    };
    span.record("authgate.decision", decision);
    span.record("http.response.status_code", o.status);
    span.record("authgate.cache_hit", o.cache_hit);
    if let Some(r) = o.reason {
        span.record("authgate.reason", r);
    }
    if let Some(c) = o.config {
        span.record("authgate.config", c);
    }
    if let Some(m) = o.mode {
        span.record("authgate.mode", m);
    }
    if o.status >= 500 {
        span.record("otel.status_code", "error");
    }
}

/// The trace context of the current span, as the configured propagators write it (nothing when tracing is off or
/// the span is not part of a sampled trace).
pub fn inject_current() -> Vec<(String, String)> {
    #[cfg(feature = "otel")]
    if enabled() {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let cx = tracing::Span::current().context();
        if !cx.span().span_context().is_valid() {
            return Vec::new();
        }
        let mut out = std::collections::HashMap::new();
        opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut out));
        return out.into_iter().collect();
    }
    Vec::new()
}

/// Whether `name` (lower case) is a trace-context header, which authgate never passes on from a client when it
/// traces: it sends its own.
pub fn is_trace_header(name: &str) -> bool {
    matches!(name, "traceparent" | "tracestate" | "b3") || name.starts_with("x-b3-")
}

/// The trace id of the current span, for a log line, when it belongs to a sampled trace.
pub fn current_trace_id() -> Option<String> {
    #[cfg(feature = "otel")]
    if enabled() {
        use opentelemetry::trace::TraceContextExt;
        use tracing_opentelemetry::OpenTelemetrySpanExt;
        let cx = tracing::Span::current().context();
        let span = cx.span();
        let sc = span.span_context();
        return (sc.is_valid() && sc.is_sampled()).then(|| sc.trace_id().to_string());
    }
    None
}
