//! A real OTLP receiver on loopback: the collector's gRPC `TraceService` (tonic over `opentelemetry-proto`'s
//! generated server), and the decoding of OTLP/HTTP protobuf bodies a [`super::mock::MockServer`] received. Every
//! span that arrives is kept, flattened into a [`Got`].

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use prost::Message;

/// One received span.
#[derive(Debug, Clone)]
pub struct Got {
    pub service: String,
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    /// Empty for a root span.
    pub parent_span_id: String,
    /// Every attribute, its value as text.
    pub attrs: Vec<(String, String)>,
    /// 2 is an error status.
    pub status_code: i32,
    /// The names of the span's events (log lines must not become events).
    pub events: Vec<String>,
}

impl Got {
    pub fn attr(&self, key: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

fn text(v: Option<&Any>) -> String {
    match v {
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

/// The spans of one export request.
pub fn flatten(req: &ExportTraceServiceRequest) -> Vec<Got> {
    let mut out = Vec::new();
    for rs in &req.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .map(|kv| text(kv.value.as_ref().and_then(|v| v.value.as_ref())))
            .unwrap_or_default();
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push(Got {
                    service: service.clone(),
                    name: s.name.clone(),
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent_span_id: hex(&s.parent_span_id),
                    attrs: s
                        .attributes
                        .iter()
                        .map(|kv| {
                            (
                                kv.key.clone(),
                                text(kv.value.as_ref().and_then(|v| v.value.as_ref())),
                            )
                        })
                        .collect(),
                    status_code: s.status.as_ref().map_or(0, |st| st.code),
                    events: s.events.iter().map(|e| e.name.clone()).collect(),
                });
            }
        }
    }
    out
}

/// The spans in OTLP/HTTP protobuf bodies.
pub fn decode_bodies<'a>(bodies: impl IntoIterator<Item = &'a [u8]>) -> Vec<Got> {
    bodies
        .into_iter()
        .flat_map(|b| {
            flatten(
                &ExportTraceServiceRequest::decode(b).expect("an OTLP/HTTP protobuf export body"),
            )
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<Got>>>);

#[tonic::async_trait]
impl TraceService for Sink {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let spans = flatten(request.get_ref());
        self.0.lock().expect("sink lock").extend(spans);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// The OTLP/gRPC receiver, served on the caller's tokio runtime until dropped.
pub struct GrpcReceiver {
    pub port: u16,
    sink: Sink,
    task: tokio::task::JoinHandle<()>,
}

impl GrpcReceiver {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .expect("bind the OTLP receiver");
        let port = listener.local_addr().expect("local addr").port();
        let sink = Sink::default();
        let service = TraceServiceServer::new(sink.clone());
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
                .await;
        });
        GrpcReceiver { port, sink, task }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every span received so far.
    pub fn spans(&self) -> Vec<Got> {
        self.sink.0.lock().expect("sink lock").clone()
    }

    /// Wait (up to `limit`) until `ready` holds for the spans received, and return them; fails the test otherwise.
    pub async fn wait_for(&self, limit: Duration, ready: impl Fn(&[Got]) -> bool) -> Vec<Got> {
        wait_until(limit, || self.spans(), ready).await
    }
}

impl Drop for GrpcReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Poll `get` until `ready` holds for what it returns (up to `limit`); fails the test with what was seen.
pub async fn wait_until(
    limit: Duration,
    get: impl Fn() -> Vec<Got>,
    ready: impl Fn(&[Got]) -> bool,
) -> Vec<Got> {
    let deadline = Instant::now() + limit;
    loop {
        let spans = get();
        if ready(&spans) {
            return spans;
        }
        if Instant::now() >= deadline {
            panic!("the expected spans did not arrive within {limit:?}; got:\n{spans:#?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
