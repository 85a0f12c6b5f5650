//! One gRPC call on hyper's HTTP/2 server. `Authorization/Check` is served here directly: the request's one message
//! is read from the body, decided by the `ext_authz` adapter and answered as one message and a `grpc-status: 0`
//! trailer, without tonic's router, codec and per-call layers, which cost more than the decision itself. The health
//! service and any other path go to tonic's generated `Health` server (and, for unknown methods, `UNIMPLEMENTED`).
//!
//! The gRPC framing followed: a message is a compressed flag (0: none; compression is not offered, so 1 is refused
//! with `UNIMPLEMENTED`), a 4-byte big-endian length and the bytes. An error before any message is a
//! "trailers-only" response (status and message in the headers).

use std::borrow::Cow;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tonic::codegen::Service;
use tonic_health::pb::health_server::HealthServer;

use super::health::GateHealth;
use crate::contracts::ext_authz::{self, ExtAuthzSettings};
use crate::gate::Gate;

/// The path of `envoy.service.auth.v3.Authorization/Check`.
pub const CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// gRPC status codes used here.
const OK: u8 = 0;
const INTERNAL: u8 = 13;
const UNIMPLEMENTED: u8 = 12;
const RESOURCE_EXHAUSTED: u8 = 8;
const DEADLINE_EXCEEDED: u8 = 4;

/// A gRPC error: its code and message.
type Failure = (u8, Cow<'static, str>);

/// What every call on the listener shares.
pub struct Calls {
    pub gate: Arc<Gate>,
    pub settings: ExtAuthzSettings,
    pub health: HealthServer<GateHealth>,
    /// Largest `Check` message.
    pub max_message: usize,
    /// Longest call.
    pub call_timeout: Duration,
}

impl Calls {
    /// Answer one call.
    pub async fn call(
        self: Arc<Self>,
        req: Request<Incoming>,
    ) -> Result<Response<Answer>, Infallible> {
        if req.uri().path() != CHECK_PATH {
            // tonic's generated servers are always ready and answer unknown methods themselves.
            let mut health = self.health.clone();
            return Ok(match health.call(req).await {
                Ok(resp) => resp.map(Answer::Tonic),
                Err(never) => match never {},
            });
        }
        // Envoy starts a span for its ext_authz call and sends it in this call's own HTTP/2 headers; the
        // CheckRequest's headers are the client's, whose trace context is the parent of Envoy's span, not ours.
        let span = crate::telemetry::decision_span(crate::observe::Transport::Grpc, req.headers());
        let check = tracing::Instrument::instrument(self.check(req.into_body()), span);
        let answer = tokio::time::timeout(self.call_timeout, check).await;
        Ok(match answer {
            Ok(Ok(message)) => unary(message),
            Ok(Err((code, msg))) => trailers_only(code, msg),
            Err(_) => trailers_only(
                DEADLINE_EXCEEDED,
                Cow::Borrowed("the check took longer than the call timeout"),
            ),
        })
    }

    /// The encoded `CheckResponse` of the call's request body, or the gRPC error to answer.
    async fn check(&self, body: Incoming) -> Result<Bytes, Failure> {
        let message = read_message(body, self.max_message).await?;
        match ext_authz::check_framed(&self.gate, &message, &self.settings).await {
            Ok(framed) => Ok(Bytes::from(framed)),
            Err(status) => Err((
                status_code(status.code()),
                Cow::Owned(status.message().to_owned()),
            )),
        }
    }
}

fn status_code(c: tonic::Code) -> u8 {
    // gRPC codes are 0..=16.
    u8::try_from(c as i32).unwrap_or(INTERNAL)
}

/// The one message of a unary call's body: at most `max` bytes, uncompressed, nothing after it.
async fn read_message(mut body: Incoming, max: usize) -> Result<Bytes, Failure> {
    let mut first: Option<Bytes> = None;
    let mut more: Option<BytesMut> = None;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| (INTERNAL, Cow::Borrowed("the request body failed")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        let held = first.as_ref().map_or(0, Bytes::len) + more.as_ref().map_or(0, BytesMut::len);
        if held + data.len() > max + 5 {
            return Err((
                RESOURCE_EXHAUSTED,
                Cow::Borrowed("the check message is larger than the listener accepts"),
            ));
        }
        match (&first, &mut more) {
            (None, _) => first = Some(data),
            (Some(f), None) => {
                let mut m = BytesMut::with_capacity(f.len() + data.len());
                m.extend_from_slice(f);
                m.extend_from_slice(&data);
                more = Some(m);
            }
            (Some(_), Some(m)) => m.extend_from_slice(&data),
        }
    }
    let mut all = match more {
        Some(m) => m.freeze(),
        None => first.unwrap_or_default(),
    };
    if all.len() < 5 {
        return Err((INTERNAL, Cow::Borrowed("missing request message")));
    }
    let compressed = all.get_u8();
    let len = all.get_u32() as usize;
    if compressed != 0 {
        return Err((
            UNIMPLEMENTED,
            Cow::Borrowed("compressed messages are not accepted"),
        ));
    }
    if len > max {
        return Err((
            RESOURCE_EXHAUSTED,
            Cow::Borrowed("the check message is larger than the listener accepts"),
        ));
    }
    if all.len() != len {
        return Err((
            INTERNAL,
            Cow::Borrowed("the request body is not exactly one message"),
        ));
    }
    Ok(all)
}

fn grpc_headers(resp: &mut Response<Answer>) {
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
}

fn status_value(code: u8) -> HeaderValue {
    HeaderValue::from(u16::from(code))
}

/// A successful unary answer: the message, then `grpc-status: 0`.
fn unary(message: Bytes) -> Response<Answer> {
    let mut trailers = HeaderMap::with_capacity(1);
    trailers.insert("grpc-status", status_value(OK));
    let mut resp = Response::new(Answer::Unary {
        data: Some(message),
        trailers: Some(trailers),
    });
    grpc_headers(&mut resp);
    resp
}

/// An error with no message: status and message in the response headers, and the stream ends.
fn trailers_only(code: u8, message: Cow<'static, str>) -> Response<Answer> {
    let mut resp = Response::new(Answer::Unary {
        data: None,
        trailers: None,
    });
    grpc_headers(&mut resp);
    resp.headers_mut().insert("grpc-status", status_value(code));
    if let Ok(v) = HeaderValue::from_str(&percent_encode(&message)) {
        resp.headers_mut().insert("grpc-message", v);
    }
    resp
}

/// `grpc-message` is percent-encoded: every byte outside printable ASCII, and `%` itself.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The body of an answer: a unary message and its trailers, or a tonic service's body (health).
pub enum Answer {
    Unary {
        data: Option<Bytes>,
        trailers: Option<HeaderMap>,
    },
    Tonic(tonic::body::Body),
}

impl Body for Answer {
    type Data = Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Answer::Unary { data, trailers } => {
                if let Some(d) = data.take() {
                    return Poll::Ready(Some(Ok(Frame::data(d))));
                }
                Poll::Ready(trailers.take().map(|t| Ok(Frame::trailers(t))))
            }
            Answer::Tonic(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Answer::Unary { data, trailers } => data.is_none() && trailers.is_none(),
            Answer::Tonic(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Answer::Unary { data, .. } => {
                SizeHint::with_exact(data.as_ref().map_or(0, |d| d.len() as u64))
            }
            Answer::Tonic(b) => b.size_hint(),
        }
    }
}
