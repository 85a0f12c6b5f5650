//! The Prometheus scrape (policy §10) after a scripted sequence of decisions against one real `authgate serve`
//! on 127.0.0.1, and the promise that an error body's `extensions.code` is the metrics `reason` label (§6, §11).

mod common;
#[path = "metrics/monitoring.rs"]
mod monitoring;
mod multi_config;
#[path = "metrics/traces.rs"]
mod traces;

use std::time::Duration;

use common::configs::{Jwt, hs256_config, webhook_config};
use common::now;
use common::service::{Service, metric, started};
use common::tokens::mint;
use serde_json::{Value, json};

fn hs_token(secret: &str, user: &str, exp_in: i64, with_claims: bool) -> String {
    let claims = if with_claims {
        json!({"claims.jwt.hasura.io": {
            "x-hasura-allowed-roles": ["user"],
            "x-hasura-default-role": "user",
            "x-hasura-user-id": user
        }})
    } else {
        json!({"sub": user})
    };
    mint(&json!({"alg": "HS256", "secret": secret, "claims": claims, "exp_in": exp_in}))
}

/// One request of the script: a name, the `Authorization` value (if any), the `x-hasura-role` header (if any),
/// and the expected status and reason (`ok` for an allow).
struct Step {
    name: &'static str,
    authorization: Option<String>,
    role: Option<&'static str>,
    status: u16,
    reason: &'static str,
}

/// Every deny reason an HS256 fixed-key config lets a client trigger, each with a token never sent before.
fn denials() -> Vec<Step> {
    let bearer = |t: String| Some(format!("Bearer {t}"));
    vec![
        Step {
            name: "no token",
            authorization: None,
            role: None,
            status: 401,
            reason: "missing_token",
        },
        Step {
            name: "not a JWT",
            authorization: Some("Bearer not-a-jwt".into()),
            role: None,
            status: 401,
            reason: "malformed_token",
        },
        Step {
            name: "signed with another secret",
            authorization: bearer(hs_token("another-secret", "1", 3600, true)),
            role: None,
            status: 401,
            reason: "invalid_signature",
        },
        Step {
            name: "expired an hour ago",
            authorization: bearer(hs_token("token", "1", -3600, true)),
            role: None,
            status: 401,
            reason: "expired",
        },
        Step {
            name: "no Hasura claims",
            authorization: bearer(hs_token("token", "1", 3600, false)),
            role: None,
            status: 401,
            reason: "invalid_claims",
        },
        Step {
            name: "a role the token does not allow",
            authorization: bearer(hs_token("token", "2", 3600, true)),
            role: Some("admin"),
            status: 403,
            reason: "role_not_allowed",
        },
    ]
}

/// Send one step; returns the status and the error body's `extensions.code` (None on a 200).
async fn send(client: &reqwest::Client, svc: &Service, step: &Step) -> (u16, Option<String>) {
    let mut rb = client.get(svc.url("/graphql"));
    if let Some(a) = &step.authorization {
        rb = rb.header("authorization", a);
    }
    if let Some(r) = step.role {
        rb = rb.header("x-hasura-role", r);
    }
    let answer = common::http::send(rb).await;
    let (status, body) = (answer.status, answer.body);
    let code = (status != 200).then(|| {
        let v: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {body}", step.name));
        v.pointer("/errors/0/extensions/code")
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}: no extensions.code in {body}", step.name))
            .to_owned()
    });
    (status, code)
}

/// HS256 with the fixed key `token` (vectors case C26a), ready.
fn ready_service() -> Service {
    started(&hs256_config("token"), &[])
}

fn requests_series(decision: &str, reason: &str) -> String {
    format!(
        "authgate_requests_total{{decision=\"{decision}\",reason=\"{reason}\",transport=\"http\"}}"
    )
}

/// Sum of every `authgate_requests_total` series in a scrape.
fn requests_sum(scrape: &str) -> f64 {
    scrape
        .lines()
        .filter(|l| l.starts_with("authgate_requests_total{"))
        .filter_map(|l| l.rsplit_once(' ').and_then(|(_, v)| v.parse::<f64>().ok()))
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scrape_after_a_scripted_sequence_has_exact_counts() {
    let started_at = now();
    let svc = ready_service();
    let client = common::http::client();

    let allowed = hs_token("token", "1", 3600, true);
    let allow = Step {
        name: "allowed",
        authorization: Some(format!("Bearer {allowed}")),
        role: None,
        status: 200,
        reason: "ok",
    };
    let mut script = vec![&allow, &allow]; // the second identical request is a cache hit
    let denials = denials();
    script.extend(denials.iter());
    for step in &script {
        let (status, code) = send(&client, &svc, step).await;
        assert_eq!(status, step.status, "{}: status", step.name);
        if status != 200 {
            assert_eq!(code.as_deref(), Some(step.reason), "{}: code", step.name);
        }
    }

    let scrape = svc.metrics();
    let m = |series: &str| {
        metric(&scrape, series)
            .unwrap_or_else(|| panic!("{series} missing from the scrape:\n{scrape}"))
    };

    // Decisions by decision and reason.
    assert_eq!(m(&requests_series("allow", "ok")), 2.0);
    for d in &denials {
        assert_eq!(m(&requests_series("deny", d.reason)), 1.0, "{}", d.reason);
    }
    // Nothing else was counted (bounded label sets are pre-created as zeros, e.g. unknown_kid).
    assert_eq!(m(&requests_series("deny", "unknown_kid")), 0.0);
    assert_eq!(m(&requests_series("error", "no_config")), 0.0);
    assert_eq!(requests_sum(&scrape), script.len() as f64);

    // The decision cache: the repeated allowed token is the one hit; every other token sent is a miss.
    let with_token = script.iter().filter(|s| s.authorization.is_some()).count();
    assert_eq!(m("authgate_decision_cache_hits_total"), 1.0);
    assert_eq!(
        m("authgate_decision_cache_misses_total"),
        (with_token - 1) as f64
    );

    // The latency histogram: every decision observed, with sub-millisecond buckets.
    assert_eq!(
        m("authgate_request_duration_seconds_count"),
        script.len() as f64
    );
    assert_eq!(
        m("authgate_request_duration_seconds_bucket{le=\"+Inf\"}"),
        script.len() as f64
    );
    let sub_ms: Vec<f64> = scrape
        .lines()
        .filter_map(|l| l.strip_prefix("authgate_request_duration_seconds_bucket{le=\""))
        .filter_map(|l| l.split_once('"').and_then(|(le, _)| le.parse::<f64>().ok()))
        .filter(|le| *le < 0.001)
        .collect();
    assert!(
        !sub_ms.is_empty(),
        "no sub-millisecond bucket in:\n{scrape}"
    );

    // The one config load at start.
    assert_eq!(m("authgate_config_reloads_total{result=\"success\"}"), 1.0);
    assert_eq!(m("authgate_config_reloads_total{result=\"error\"}"), 0.0);
    let loaded_at = m("authgate_config_last_success_timestamp_seconds");
    assert!(loaded_at > 0.0);
    assert!(
        loaded_at >= (started_at - 1) as f64 && loaded_at <= (now() + 1) as f64,
        "last success timestamp {loaded_at} is not the time of the load (test started at {started_at})"
    );

    // The build.
    assert_eq!(
        m(&format!(
            "authgate_build_info{{version=\"{}\"}}",
            env!("CARGO_PKG_VERSION")
        )),
        1.0
    );

    // Labels are bounded: no token, user or path value appears anywhere in the scrape.
    for leaked in [allowed.as_str(), "/graphql", "not-a-jwt"] {
        assert!(!scrape.contains(leaked), "the scrape contains {leaked:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_error_code_of_each_denial_is_its_metrics_reason_label() {
    let svc = ready_service();
    let client = common::http::client();
    for step in denials() {
        let before = svc.metrics();
        let (status, code) = send(&client, &svc, &step).await;
        let after = svc.metrics();
        assert_eq!(status, step.status, "{}: status", step.name);
        let code = code.expect("a denial has a code");
        assert_eq!(code, step.reason, "{}: extensions.code", step.name);
        let series = requests_series("deny", &code);
        let delta = metric(&after, &series).unwrap_or_else(|| panic!("{series} not in the scrape"))
            - metric(&before, &series).unwrap_or(0.0);
        assert_eq!(delta, 1.0, "{}: {series} moved by {delta}", step.name);
        assert_eq!(
            requests_sum(&after) - requests_sum(&before),
            1.0,
            "{}: exactly one decision counted",
            step.name
        );
    }
}

/// Webhook and dependency series: one allow, one hook denial and one hook failure through a real local hook, then
/// a JWKS that never loads, and the scrape shows each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_and_dependency_series_appear_in_the_scrape() {
    use common::mock::{MockServer, Route};
    let hook = MockServer::start();
    let svc = started(
        &webhook_config("GET", &format!("{}/hook", hook.base()), None),
        &[],
    );
    let client = common::http::client();
    for (status, body, want) in [
        (
            200u16,
            json!({"x-hasura-role": "user", "x-hasura-user-id": "7"}),
            200u16,
        ),
        (401, json!({}), 401),
        (500, json!({}), 503),
    ] {
        hook.set("/hook", Route::json(status, &body));
        let got = client
            .get(svc.url("/"))
            .send()
            .await
            .expect("request")
            .status()
            .as_u16();
        assert_eq!(got, want, "hook answered {status}");
    }
    let scrape = svc.metrics();
    for (series, want) in [
        ("authgate_webhook_requests_total{result=\"allow\"}", 1.0),
        ("authgate_webhook_requests_total{result=\"deny\"}", 1.0),
        ("authgate_webhook_requests_total{result=\"error\"}", 1.0),
        ("authgate_webhook_duration_seconds_count", 3.0),
        (
            "authgate_requests_total{decision=\"allow\",reason=\"ok\",transport=\"http\"}",
            1.0,
        ),
        (
            "authgate_requests_total{decision=\"deny\",reason=\"webhook_denied\",transport=\"http\"}",
            1.0,
        ),
        (
            "authgate_requests_total{decision=\"error\",reason=\"webhook_unavailable\",transport=\"http\"}",
            1.0,
        ),
    ] {
        assert_eq!(
            metric(&scrape, series),
            Some(want),
            "{series} in:\n{scrape}"
        );
    }

    // A JWKS endpoint where nothing listens: decisions are 503 jwks_unavailable and the failures are counted.
    let dead = common::free_port();
    let url = format!("http://127.0.0.1:{dead}/jwks.json");
    let svc = Service::start(&Jwt::jwk_from_url(&url).yaml(), &[], &[]);
    let token = mint(&json!({"alg": "RS256", "sign_with": "rsa1", "kid": "k1",
        "claims": {"claims.jwt.hasura.io": {"x-hasura-allowed-roles": ["user"], "x-hasura-default-role": "user"}},
        "exp_in": 600}));
    let resp = client
        .get(svc.url("/"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 503);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let scrape = svc.metrics();
        let errors =
            metric(&scrape, "authgate_jwks_refresh_total{result=\"error\"}").unwrap_or(0.0);
        let unavailable = metric(
            &scrape,
            "authgate_requests_total{decision=\"error\",reason=\"jwks_unavailable\",transport=\"http\"}",
        );
        if errors >= 1.0 && unavailable == Some(1.0) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "JWKS failure series missing:\n{scrape}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
