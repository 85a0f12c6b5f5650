//! The process-wide `tracing` subscriber: the log layer (JSON or text, written by a background thread) and, when
//! tracing is on, the OpenTelemetry layer, each with its own filter.

use tracing_subscriber::Layer;
use tracing_subscriber::filter::{FilterExt, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use super::{OtelSettings, TARGET};

/// Flushes the log (and the queued spans) when dropped at exit.
pub struct Flush {
    _log: tracing_appender::non_blocking::WorkerGuard,
    #[cfg(feature = "otel")]
    traces: Option<(
        opentelemetry_sdk::trace::SdkTracerProvider,
        super::export::Exporting,
    )>,
}

impl Drop for Flush {
    fn drop(&mut self) {
        #[cfg(feature = "otel")]
        if let Some((provider, exporting)) = self.traces.take() {
            let _ = provider.shutdown_with_timeout(std::time::Duration::from_secs(3));
            drop(exporting);
        }
    }
}

/// Install the subscriber. `json`: the log format (`None`: JSON unless stderr is a terminal). `otel`: the trace
/// settings ([`super::from_env`]), `None` for no tracing.
///
/// Log lines are written to stderr by a background thread, never by a request's worker: a slow log reader (a full
/// pipe to the container runtime) must not stall decisions. Up to 64k lines wait in memory; past that, lines are
/// dropped rather than blocking (every decision is still counted in the metrics).
pub fn init(json: Option<bool>, otel: Option<&OtelSettings>) -> Result<Flush, String> {
    use std::io::IsTerminal;
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(65_536)
        .thread_name("authgate-log")
        .finish(std::io::stderr());
    let env = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let log_filter = env.and(filter_fn(|m| m.target() != TARGET));
    let json = json.unwrap_or_else(|| !std::io::stderr().is_terminal());
    let log = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(writer)
            .with_filter(log_filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer()
            .with_writer(writer)
            .with_filter(log_filter)
            .boxed()
    };
    #[cfg(feature = "otel")]
    {
        let mut layers = vec![log];
        let traces = match otel {
            Some(s) => {
                let (layer, provider, exporting) = otel_layer(s)?;
                layers.push(layer);
                Some((provider, exporting))
            }
            None => None,
        };
        tracing_subscriber::registry()
            .with(layers)
            .try_init()
            .map_err(|e| e.to_string())?;
        if traces.is_some() {
            super::ENABLED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Flush {
            _log: guard,
            traces,
        })
    }
    #[cfg(not(feature = "otel"))]
    {
        tracing_subscriber::registry()
            .with(log)
            .try_init()
            .map_err(|e| e.to_string())?;
        if otel.is_some() {
            tracing::warn!(
                "an OTLP endpoint is set, but this build has no trace exporter (feature `otel`)"
            );
        }
        Ok(Flush { _log: guard })
    }
}

#[cfg(feature = "otel")]
type Boxed = Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync>;

#[cfg(feature = "otel")]
fn otel_layer(
    s: &OtelSettings,
) -> Result<
    (
        Boxed,
        opentelemetry_sdk::trace::SdkTracerProvider,
        super::export::Exporting,
    ),
    String,
> {
    use opentelemetry::trace::TracerProvider;
    use opentelemetry_sdk::propagation::TraceContextPropagator;
    use opentelemetry_sdk::trace::Sampler as Sdk;

    use super::Propagator;

    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name(s.service_name.clone())
        .with_attribute(opentelemetry::KeyValue::new(
            "service.version",
            env!("CARGO_PKG_VERSION"),
        ))
        .build();
    let (queue, exporting) = super::export::start(s, &resource)?;
    // The configured sampler chooses decisions before their span exists (`sampling`); the SDK is given only the
    // chosen spans and their children, and keeps them all.
    super::sampling::install(s.sampler.clone());
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_span_processor(queue)
        .with_sampler(Sdk::AlwaysOn)
        .with_resource(resource)
        .build();
    let propagators: Vec<Box<dyn opentelemetry::propagation::TextMapPropagator + Send + Sync>> = s
        .propagators
        .iter()
        .map(
            |p| -> Box<dyn opentelemetry::propagation::TextMapPropagator + Send + Sync> {
                match p {
                    Propagator::TraceContext => Box::new(TraceContextPropagator::new()),
                    Propagator::B3Single => Box::new(super::b3::B3::single()),
                    Propagator::B3Multi => Box::new(super::b3::B3::multi()),
                }
            },
        )
        .collect();
    opentelemetry::global::set_text_map_propagator(
        opentelemetry::propagation::TextMapCompositePropagator::new(propagators),
    );
    let layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("authgate"))
        .with_location(false)
        .with_threads(false)
        .with_level(false)
        .with_target(false)
        .with_tracked_inactivity(false)
        .with_filter(filter_fn(|m| m.target() == TARGET))
        .boxed();
    Ok((layer, provider, exporting))
}
