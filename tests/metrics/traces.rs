//! OpenTelemetry traces of decisions, received by a real OTLP collector endpoint on loopback (gRPC, and HTTP
//! protobuf): the decision span joins the caller's trace with bounded attributes only, the JWKS fetch and the
//! webhook call are its children, the hook gets authgate's own `traceparent`, the trace id reaches the `denied`
//! log line, and a dead collector changes no decision.

use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::core::v3::HeaderMap;
use envoy_types::pb::envoy::config::core::v3::HeaderValue;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use serde_json::{Value, json};

use crate::common::configs::{jwk_from_url_config, webhook_config};
use crate::common::http::ask;
use crate::common::mock::{MockServer, Route};
use crate::common::otlp::{Got, GrpcReceiver, decode_bodies, wait_until};
use crate::common::service::{Service, metric, ready};
use crate::common::tokens::{mint, rsa1_k1, serve_jwks};

const LIMIT: Duration = Duration::from_secs(15);

fn rs256(sign_with: &str, kid: &str, user: &str) -> String {
    let claims = json!({"claims.jwt.hasura.io": {
        "x-hasura-allowed-roles": ["user"],
        "x-hasura-default-role": "user",
        "x-hasura-user-id": user
    }});
    mint(
        &json!({"alg": "RS256", "sign_with": sign_with, "kid": kid, "claims": claims, "exp_in": 3600}),
    )
}

fn traceparent(trace: &str, parent: &str, sampled: bool) -> String {
    format!("00-{trace}-{parent}-{}", if sampled { "01" } else { "00" })
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn decisions<'a>(spans: &'a [Got], trace: &str) -> Vec<&'a Got> {
    spans
        .iter()
        .filter(|s| s.name == "authgate.decide" && s.trace_id == trace)
        .collect()
}

/// Nothing a client or a token chose is in a span: no attribute names a header, a path or a claim, and no value
/// is the token, the user id or the path; log lines do not become span events.
fn assert_bounded(s: &Got, forbidden: &[&str]) {
    for (k, v) in &s.attrs {
        let allowed = k.starts_with("authgate.")
            || k.starts_with("http.response.")
            || k.starts_with("otel.")
            || k == "span.kind";
        assert!(allowed, "unexpected attribute {k}={v} on {s:#?}");
        for f in forbidden {
            assert!(!v.contains(f), "attribute {k}={v} carries {f:?}");
        }
    }
    assert!(s.events.is_empty(), "span events (log lines) on {s:#?}");
}

/// One decision over HTTP with `authorization` and a `traceparent`.
async fn ask_traced(
    client: &reqwest::Client,
    url: &str,
    authorization: &str,
    traceparent: &str,
) -> crate::common::http::Answer {
    ask(
        client,
        url,
        &[
            ("authorization", authorization),
            ("traceparent", traceparent),
        ],
    )
    .await
}

/// A `CheckRequest` carrying `authorization`, sent with `traceparent` in the call's own metadata (where Envoy puts
/// its ext_authz span's context).
async fn grpc_check(svc: &Service, authorization: &str, traceparent: &str) -> i32 {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{}", svc.grpc))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("connect to the gRPC listener");
    let header = |k: &str, v: &str| HeaderValue {
        key: k.into(),
        value: v.into(),
        ..HeaderValue::default()
    };
    let check = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: "/graphql".into(),
                    host: "api.example.com".into(),
                    header_map: Some(HeaderMap {
                        headers: vec![header("authorization", authorization)],
                    }),
                    ..HttpRequest::default()
                }),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    };
    let mut req = tonic::Request::new(check);
    req.metadata_mut()
        .insert("traceparent", traceparent.parse().expect("ascii metadata"));
    let resp = AuthorizationClient::new(channel)
        .check(req)
        .await
        .expect("the check answers");
    resp.into_inner().status.map_or(-1, |s| s.code)
}

/// OTLP/gRPC: JWT decisions over HTTP and gRPC, with and without a `traceparent`, and a forced JWKS refresh.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decision_spans_join_the_callers_trace_over_otlp_grpc() {
    let receiver = GrpcReceiver::start().await;
    let jwks = MockServer::start();
    serve_jwks(&jwks, &[rsa1_k1()], None);
    let endpoint = receiver.endpoint();
    let svc = Service::start(
        &jwk_from_url_config(&jwks),
        &[
            "--otlp-endpoint",
            &endpoint,
            "--jwks-refresh-secs",
            "600",
            "--jwks-forced-budget-ms",
            "3000",
        ],
        &env(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "authgate-under-test"),
        ]),
    );
    ready(&svc);
    let client = crate::common::http::client();
    let (t1, p1) = ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7");
    let token = rs256("rsa1", "k1", "user-4242");
    let bearer = format!("Bearer {token}");
    let a = ask_traced(
        &client,
        &svc.url("/secret/path"),
        &bearer,
        &traceparent(t1, p1, true),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);

    // A new key: the unknown kid forces a JWKS fetch inside the decision.
    serve_jwks(&jwks, &[json!({"key": "rsa2", "kid": "k2"})], None);
    let (t2, p2) = ("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331");
    let rotated = format!("Bearer {}", rs256("rsa2", "k2", "user-4242"));
    let a = ask_traced(&client, &svc.url("/"), &rotated, &traceparent(t2, p2, true)).await;
    assert_eq!(a.status, 200, "{}", a.body);

    // Unsampled by the caller: parent-based sampling exports nothing of that trace.
    let (t3, p3) = ("11111111111111111111111111111111", "2222222222222222");
    let a = ask_traced(
        &client,
        &svc.url("/"),
        &rotated,
        &traceparent(t3, p3, false),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);

    // No traceparent: a trace of its own, whose id the denial's log line carries.
    let a = ask(
        &client,
        &svc.url("/"),
        &[("authorization", "Bearer not-a-jwt")],
    )
    .await;
    assert_eq!(a.status, 401, "{}", a.body);

    // gRPC: the parent is in the call's metadata.
    let (t4, p4) = ("5bf92f3577b34da6a3ce929d0e0e4736", "10f067aa0ba902b7");
    assert_eq!(
        grpc_check(&svc, &rotated, &traceparent(t4, p4, true)).await,
        0
    );

    let spans = receiver
        .wait_for(LIMIT, |s| {
            decisions(s, t1).len() == 1
                && decisions(s, t4).len() == 1
                && s.iter()
                    .any(|x| x.trace_id == t2 && x.name == "authgate.jwks_fetch")
                && s.iter().any(|x| {
                    x.name == "authgate.decide" && x.attr("authgate.decision") == Some("deny")
                })
        })
        .await;
    let forbidden = [token.as_str(), "user-4242", "/secret/path", "Bearer"];

    let d1 = decisions(&spans, t1)[0];
    assert_eq!(d1.parent_span_id, p1, "the caller's span is the parent");
    assert_eq!(d1.service, "authgate-under-test");
    for (k, v) in [
        ("authgate.decision", "allow"),
        ("authgate.transport", "http"),
        ("authgate.mode", "jwt"),
        ("authgate.cache_hit", "false"),
        ("http.response.status_code", "200"),
    ] {
        assert_eq!(d1.attr(k), Some(v), "{k} on {d1:#?}");
    }
    assert_eq!(
        d1.attr("authgate.config"),
        None,
        "single-config mode names no config"
    );
    assert_bounded(d1, &forbidden);

    let d2 = decisions(&spans, t2);
    assert_eq!(d2.len(), 1, "{spans:#?}");
    let fetch = spans
        .iter()
        .find(|x| x.trace_id == t2 && x.name == "authgate.jwks_fetch")
        .expect("the forced JWKS fetch span");
    assert_eq!(
        fetch.parent_span_id, d2[0].span_id,
        "the fetch is the decision's child"
    );
    assert_eq!(fetch.attr("http.response.status_code"), Some("200"));
    assert_bounded(fetch, &forbidden);

    assert!(
        spans.iter().all(|x| x.trace_id != t3),
        "an unsampled caller's trace was exported"
    );

    let d4 = decisions(&spans, t4)[0];
    assert_eq!(d4.parent_span_id, p4);
    assert_eq!(d4.attr("authgate.transport"), Some("grpc"));
    assert_eq!(d4.attr("authgate.decision"), Some("allow"));
    assert_bounded(d4, &forbidden);

    let denied = spans
        .iter()
        .find(|x| x.name == "authgate.decide" && x.attr("authgate.decision") == Some("deny"))
        .expect("the denial's span");
    assert_eq!(denied.parent_span_id, "", "no traceparent: a root span");
    assert_eq!(
        denied.attr("authgate.reason"),
        Some("malformed_token"),
        "{denied:#?}"
    );
    assert_bounded(denied, &forbidden);
    let log = svc.log();
    let line: Value = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "denied")
        .unwrap_or_else(|| panic!("no denied line in:\n{log}"));
    assert_eq!(line["trace_id"], denied.trace_id.as_str(), "{line}");
    // The log layer never records the decision span: no span fields in the line.
    assert!(
        line.get("span").is_none() && line.get("spans").is_none(),
        "{line}"
    );
}

/// OTLP/HTTP protobuf (the default protocol): a webhook decision, its webhook child span, and the hook receiving
/// authgate's own trace context instead of the client's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_calls_carry_authgates_trace_context_over_otlp_http() {
    let collector = MockServer::start();
    collector.set("/v1/traces", Route::raw(200, ""));
    let hook = MockServer::start();
    hook.set(
        "/hook",
        Route::json(
            200,
            &json!({"x-hasura-role": "user", "x-hasura-user-id": "hook-user-77"}),
        ),
    );
    let svc = Service::start(
        &webhook_config("GET", &format!("{}/hook", hook.base()), None),
        &[],
        &env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &collector.base())]),
    );
    ready(&svc);
    let (t, p) = ("6bf92f3577b34da6a3ce929d0e0e4736", "20f067aa0ba902b7");
    let a = ask(
        &crate::common::http::client(),
        &svc.url("/"),
        &[
            ("traceparent", &traceparent(t, p, true)),
            ("tracestate", "client=state"),
            ("baggage", "user=hook-user-77"),
            ("x-client", "kept"),
        ],
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);

    let get = || {
        let received = collector.received();
        decode_bodies(
            received
                .iter()
                .filter(|r| r.path == "/v1/traces")
                .map(|r| r.body.as_slice()),
        )
    };
    let spans = wait_until(LIMIT, get, |s| {
        decisions(s, t).len() == 1
            && s.iter()
                .any(|x| x.trace_id == t && x.name == "authgate.webhook")
    })
    .await;
    let d = decisions(&spans, t)[0];
    assert_eq!(d.parent_span_id, p);
    assert_eq!(d.attr("authgate.mode"), Some("webhook"));
    assert_eq!(d.service, "authgate");
    let call = spans
        .iter()
        .find(|x| x.trace_id == t && x.name == "authgate.webhook")
        .expect("the webhook span");
    assert_eq!(call.parent_span_id, d.span_id);
    assert_eq!(call.attr("authgate.result"), Some("allow"));
    for s in [d, call] {
        assert_bounded(s, &["hook-user-77"]);
    }

    let sent = hook.received();
    let sent = sent
        .iter()
        .find(|r| r.path == "/hook")
        .expect("the hook was called");
    assert_eq!(
        sent.values("traceparent"),
        vec![traceparent(t, &call.span_id, true)],
        "the hook gets authgate's webhook span as its parent, once"
    );
    // W3C: a trace's `tracestate` travels with it; authgate's own context carries it on (once, not doubled).
    assert_eq!(sent.values("tracestate"), vec!["client=state"]);
    assert_eq!(
        sent.header("baggage"),
        None,
        "the client's baggage is never passed on"
    );
    assert_eq!(sent.header("x-client"), Some("kept"));
}

/// A collector that is down: every decision answers as before, in time, and the lost spans are counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_changes_no_decision() {
    let dead = crate::common::free_port();
    let endpoint = format!("http://127.0.0.1:{dead}");
    let jwks = MockServer::start();
    serve_jwks(&jwks, &[rsa1_k1()], None);
    let svc = Service::start(
        &jwk_from_url_config(&jwks),
        &["--otlp-endpoint", &endpoint],
        &env(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]),
    );
    ready(&svc);
    let client = crate::common::http::client();
    let bearer = format!("Bearer {}", rs256("rsa1", "k1", "u1"));
    let started = Instant::now();
    for i in 0..40 {
        let tp = traceparent(&format!("{:032x}", i + 1), "00f067aa0ba902b7", true);
        let a = ask_traced(&client, &svc.url("/"), &bearer, &tp).await;
        assert_eq!(a.status, 200, "decision {i}: {}", a.body);
        let a = ask(&client, &svc.url("/"), &[("authorization", "Bearer x")]).await;
        assert_eq!(a.status, 401, "denial {i}: {}", a.body);
    }
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "80 decisions took {:?} with the collector down",
        started.elapsed()
    );
    let deadline = Instant::now() + LIMIT;
    loop {
        let dropped = metric(&svc.metrics(), "authgate_trace_spans_dropped_total").unwrap_or(0.0);
        if dropped > 0.0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no dropped span counted; log:\n{}",
            svc.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(svc.log().contains("trace export failed"), "{}", svc.log());
}
