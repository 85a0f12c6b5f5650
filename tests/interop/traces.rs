//! Issue 16: one trace across Envoy and authgate. Real Envoy runs `deploy/proxies/envoy-grpc-otel.yaml` (gRPC
//! ext_authz with its OpenTelemetry tracer), authgate exports to the same loopback OTLP/gRPC receiver, and a
//! request through Envoy must leave Envoy's spans and authgate's decision span in one trace, the decision a child
//! of one of Envoy's spans (its ext_authz call).

use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use serde_json::json;

use crate::common::configs::jwk_from_url_config;
use crate::common::mock::{MockServer, Route};
use crate::common::otlp::GrpcReceiver;
use crate::common::raw::request;
use crate::common::service::{Service, ready};
use crate::common::tokens::{mint, rsa1_k1, serve_jwks};
use crate::discovery::{Kind, Recipe, require};
use crate::proxy::Proxy;

const FILE: &str = "deploy/proxies/envoy-grpc-otel.yaml";

/// The receiver's port, for the deploy file's placeholders (an `Edit` is a plain function).
static OTLP_PORT: AtomicU16 = AtomicU16::new(0);

fn with_collector(text: &str) -> String {
    text.replace("{{OTLP_HOST}}", "127.0.0.1").replace(
        "{{OTLP_PORT}}",
        &OTLP_PORT.load(Ordering::SeqCst).to_string(),
    )
}

#[test]
fn envoy_and_authgate_spans_share_one_trace() {
    let kind = Kind::Envoy(Recipe::Grpc);
    let Some(installed) = require(kind) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let receiver = rt.block_on(GrpcReceiver::start());
    OTLP_PORT.store(receiver.port, Ordering::SeqCst);

    let jwks = MockServer::start();
    serve_jwks(&jwks, &[rsa1_k1()], None);
    let endpoint = receiver.endpoint();
    let gate = Service::start(
        &jwk_from_url_config(&jwks),
        &["--otlp-endpoint", &endpoint],
        &[("OTEL_EXPORTER_OTLP_PROTOCOL".into(), "grpc".into())],
    );
    ready(&gate);
    let upstream = MockServer::start();
    upstream.set("/api", Route::raw(200, ""));
    let proxy = Proxy::start_file(
        kind,
        FILE,
        &installed,
        gate.grpc,
        upstream.port,
        with_collector,
    );

    let claims = json!({"claims.jwt.hasura.io": {
        "x-hasura-allowed-roles": ["user"],
        "x-hasura-default-role": "user",
        "x-hasura-user-id": "7"
    }});
    let token = mint(
        &json!({"alg": "RS256", "sign_with": "rsa1", "kid": "k1", "claims": claims, "exp_in": 600}),
    );
    // Envoy's health check must see authgate before it forwards checks; retry briefly until the first answer is 200.
    let headers = vec![("authorization".to_owned(), format!("Bearer {token}"))];
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let reply = request(
            &format!("127.0.0.1:{}", proxy.port),
            "GET",
            "/api",
            &headers,
            b"",
            Duration::from_secs(10),
        )
        .expect("Envoy answers");
        if reply.status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Envoy never let the request through ({}); proxy log:\n{}",
            reply.status,
            proxy.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Envoy flushes its spans every 5 s.
    let spans = rt.block_on(receiver.wait_for(Duration::from_secs(30), |s| {
        s.iter().any(|d| {
            d.service == "authgate"
                && d.name == "authgate.decide"
                && d.attr("authgate.decision") == Some("allow")
                && s.iter()
                    .any(|e| e.service == "envoy" && e.trace_id == d.trace_id)
        })
    }));
    let decision = spans
        .iter()
        .find(|d| d.service == "authgate" && d.attr("authgate.decision") == Some("allow"))
        .expect("authgate's decision span");
    assert_eq!(decision.attr("authgate.transport"), Some("grpc"));
    let envoy: Vec<_> = spans
        .iter()
        .filter(|e| e.service == "envoy" && e.trace_id == decision.trace_id)
        .collect();
    assert!(
        envoy.iter().any(|e| e.span_id == decision.parent_span_id),
        "the decision's parent {} is none of Envoy's spans in its trace: {envoy:#?}",
        decision.parent_span_id
    );
}
