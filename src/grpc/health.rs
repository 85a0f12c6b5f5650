//! `grpc.health.v1.Health`: SERVING exactly when the gate is ready (what `/readyz` says), NOT_SERVING otherwise,
//! for the whole server (`""`) and for `envoy.service.auth.v3.Authorization`. Readiness is asked of the gate on each
//! `Check`; a `Watch` asks every half second and sends each change, and ends when the listener stops (a stream left
//! open would hold the graceful shutdown until its timeout).

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tokio::sync::watch;
use tonic::{Request, Response, Status};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_server::Health;
use tonic_health::pb::{HealthCheckRequest, HealthCheckResponse};

use crate::gate::Gate;

/// The service name Envoy's gRPC health check may ask for, beside the server as a whole (`""`).
pub const AUTHORIZATION_SERVICE: &str = "envoy.service.auth.v3.Authorization";

/// How often a `Watch` looks at readiness.
const WATCH_PERIOD: Duration = Duration::from_millis(500);

/// The health service of one gate.
pub struct GateHealth {
    gate: Arc<Gate>,
    /// Turns `true` when the listener stops.
    stopping: watch::Receiver<bool>,
}

impl GateHealth {
    pub fn new(gate: Arc<Gate>, stopping: watch::Receiver<bool>) -> Self {
        Self { gate, stopping }
    }
}

/// The status of `service` for `gate`; `None` for a service not served here.
fn status(gate: &Gate, service: &str) -> Option<ServingStatus> {
    match service {
        "" | AUTHORIZATION_SERVICE => Some(if gate.is_ready() {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        }),
        _ => None,
    }
}

fn answer(s: ServingStatus) -> HealthCheckResponse {
    HealthCheckResponse { status: s as i32 }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<HealthCheckResponse, Status>> + Send>>;

#[tonic::async_trait]
impl Health for GateHealth {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        let service = request.into_inner().service;
        status(&self.gate, &service)
            .map(|s| Response::new(answer(s)))
            .ok_or_else(|| Status::not_found("unknown service"))
    }

    type WatchStream = WatchStream;

    async fn watch(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let service = request.into_inner().service;
        let state = (self.gate.clone(), self.stopping.clone(), service, None);
        let stream =
            futures::stream::unfold(state, |(gate, mut stopping, service, last)| async move {
                loop {
                    if *stopping.borrow() {
                        return None;
                    }
                    let now = status(&gate, &service).unwrap_or(ServingStatus::ServiceUnknown);
                    if last != Some(now) {
                        return Some((Ok(answer(now)), (gate, stopping, service, Some(now))));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(WATCH_PERIOD) => {}
                        // A closed sender means the listener is gone too.
                        changed = stopping.changed() => if changed.is_err() {
                            return None;
                        },
                    }
                }
            });
        Ok(Response::new(Box::pin(stream)))
    }
}
