//! The OTLP exporter, off every request's thread. Finished spans go into a bounded queue (`on_end` never blocks:
//! a full queue drops the span and counts it); one thread takes batches from it and exports each on a small tokio
//! runtime of its own, so neither a slow collector nor a dead one can stall an actix worker or the gRPC runtime.
//! The SDK's batch processor is not used because it keeps what it drops to itself: here every drop (a full queue,
//! a failed or timed-out export) reaches `authgate_trace_spans_dropped_total`.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use opentelemetry_otlp::{WithExportConfig, WithHttpConfig, WithTonicConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use super::settings::{OtelSettings, Protocol};
use crate::observe;

/// Spans waiting for export, at most.
const QUEUE: usize = 4096;
/// Spans per export, at most.
const BATCH: usize = 512;
/// How long a span may wait for its batch to fill.
const DELAY: Duration = Duration::from_millis(200);
/// One export's limit (the exporter's own timeout is shorter; this one also covers a wedged connection).
const EXPORT_LIMIT: Duration = Duration::from_secs(10);
/// At most one export-failure log line per this period.
const LOG_EVERY: Duration = Duration::from_secs(30);

/// The exporter's runtime and thread; dropping it flushes what is queued (bounded in time) and stops both.
pub struct Exporting {
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Exporting {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// Build the exporter for `s` and the processor that feeds it.
pub fn start(s: &OtelSettings, resource: &Resource) -> Result<(Queue, Exporting), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("authgate-otel")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the trace exporter's runtime: {e}"))?;
    // tonic's channel spawns its connection task on the runtime it is built in.
    let _entered = runtime.enter();
    let mut exporter = match s.protocol {
        Protocol::Grpc => {
            let mut b = opentelemetry_otlp::SpanExporter::builder()
                .with_tonic()
                .with_endpoint(s.endpoint.clone())
                .with_timeout(Duration::from_secs(5));
            // tonic's default TLS configuration trusts no root at all: use the system's.
            if s.endpoint.starts_with("https://") {
                b = b.with_tls_config(tonic::transport::ClientTlsConfig::new().with_native_roots());
            }
            b.build()
        }
        Protocol::HttpProtobuf => {
            let http = reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .map_err(|e| format!("cannot build the trace exporter's HTTP client: {e}"))?;
            opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_http_client(OnRuntime {
                    http,
                    handle: runtime.handle().clone(),
                })
                .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
                .with_endpoint(s.endpoint.clone())
                .with_timeout(Duration::from_secs(5))
                .build()
        }
    }
    .map_err(|e| format!("cannot build the OTLP exporter: {e}"))?;
    exporter.set_resource(resource);
    let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
    let handle = runtime.handle().clone();
    let worker = std::thread::Builder::new()
        .name("authgate-otel-export".into())
        .spawn(move || export_loop(&rx, &exporter, &handle))
        .map_err(|e| format!("cannot start the trace export thread: {e}"))?;
    drop(_entered);
    Ok((
        Queue {
            tx: Mutex::new(Some(tx)),
            worker: Mutex::new(Some(worker)),
            closed: AtomicBool::new(false),
        },
        Exporting {
            runtime: Some(runtime),
        },
    ))
}

fn export_loop(
    rx: &Receiver<SpanData>,
    exporter: &opentelemetry_otlp::SpanExporter,
    handle: &tokio::runtime::Handle,
) {
    let mut last_log: Option<Instant> = None;
    loop {
        let first = match rx.recv() {
            Ok(span) => span,
            Err(_) => return,
        };
        let mut batch = vec![first];
        let deadline = Instant::now() + DELAY;
        while batch.len() < BATCH {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(span) => batch.push(span),
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        let n = batch.len() as u64;
        // The timer is made inside `block_on`: it needs the runtime's context, which this thread only has there.
        let result = handle
            .block_on(async { tokio::time::timeout(EXPORT_LIMIT, exporter.export(batch)).await });
        let error = match result {
            Ok(Ok(())) => continue,
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {EXPORT_LIMIT:?}"),
        };
        observe::count_trace_spans_dropped(n);
        if last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
            last_log = Some(Instant::now());
            tracing::warn!(error = %error, spans = n, "trace export failed; the spans are dropped");
        }
    }
}

/// The span processor: a bounded queue in front of the export thread.
#[derive(Debug)]
pub struct Queue {
    tx: Mutex<Option<SyncSender<SpanData>>>,
    worker: Mutex<Option<std::thread::JoinHandle<()>>>,
    closed: AtomicBool,
}

impl SpanProcessor for Queue {
    fn on_start(&self, _span: &mut Span, _cx: &opentelemetry::Context) {}

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() || self.closed.load(Ordering::Relaxed) {
            return;
        }
        let sent = match self.tx.lock() {
            Ok(tx) => match tx.as_ref() {
                Some(tx) => tx.try_send(span),
                None => return,
            },
            Err(_) => return,
        };
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = sent {
            observe::count_trace_spans_dropped(1);
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.closed.store(true, Ordering::Relaxed);
        // Closing the queue ends the export loop once it has sent what was queued.
        drop(self.tx.lock().ok().and_then(|mut tx| tx.take()));
        let worker = self.worker.lock().ok().and_then(|mut w| w.take());
        let Some(worker) = worker else {
            return Ok(());
        };
        let deadline = Instant::now() + timeout;
        while !worker.is_finished() {
            if Instant::now() >= deadline {
                return Err(OTelSdkError::Timeout(timeout));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        worker
            .join()
            .map_err(|_| OTelSdkError::InternalFailure("the export thread panicked".into()))
    }
}

/// The OTLP/HTTP client: the project's reqwest, its calls run on the exporter's runtime (the export thread itself
/// has no tokio reactor).
#[derive(Debug)]
struct OnRuntime {
    http: reqwest::Client,
    handle: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for OnRuntime {
    async fn send_bytes(
        &self,
        request: http::Request<Bytes>,
    ) -> Result<http::Response<Bytes>, opentelemetry_http::HttpError> {
        let http = self.http.clone();
        let call = async move {
            let request = reqwest::Request::try_from(request)?;
            let resp = http.execute(request).await?;
            let mut out = http::Response::builder().status(resp.status());
            for (n, v) in resp.headers() {
                out = out.header(n, v);
            }
            // Collectors answer with a small status message; anything larger is not read.
            let body = crate::net::read_body(resp, 64 * 1024).await?;
            Ok::<_, opentelemetry_http::HttpError>(out.body(Bytes::from(body))?)
        };
        self.handle.spawn(call).await?
    }
}
