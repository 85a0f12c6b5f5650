//! The gRPC listener (policy §12) of the real `authgate` binary, asked by a real tonic client: the allow and deny
//! mapping against the HTTP answer for the same request, the bounds, the health service following readiness, the
//! graceful shutdown, TLS with reloads and client certificates, the metrics' `transport` label, and `authgate dev`'s
//! gRPC listener with the Envoy bootstrap it writes, run through a real Envoy.

#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../interop/discovery.rs"]
mod discovery;

mod decisions;
mod dev;
mod framing;
mod lifecycle;
mod support;
mod tls;
