//! Black-box tests of the JWKS cache (policy §5, §10, §11) against the real `authgate serve` binary and a real local
//! JWKS server: periodic refresh, the `Cache-Control: max-age` clamp, key rotation through one forced refresh, the
//! forced-refresh rate limit under an unknown-`kid` flood, stale-on-error, an endpoint down at start, the body and
//! key-count limits, and the filtering of unusable keys. Every wait is bounded by a deadline; everything listens on
//! 127.0.0.1.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::configs::jwk_from_url_config;
use common::http::{Answer, ask};
use common::mock::{MockServer, Route};
use common::service::{Service, metric, ready, started};
use common::tokens::{JWKS_PATH, jwks_doc, mint, rsa1_k1, serve_jwks};
use serde_json::{Value, json};

fn claims() -> Value {
    json!({
        "claims.jwt.hasura.io": {
            "x-hasura-allowed-roles": ["user"],
            "x-hasura-default-role": "user",
            "x-hasura-user-id": "42"
        }
    })
}

/// An RS256 token signed by the committed key `sign_with`, with header `kid`.
fn rs256(sign_with: &str, kid: &str) -> String {
    mint(
        &json!({"alg": "RS256", "sign_with": sign_with, "kid": kid, "claims": claims(), "exp_in": 3600}),
    )
}

/// Start the binary against the mock and wait until it is ready (its key set loaded).
fn start_ready(mock: &MockServer, flags: &[&str]) -> Service {
    started(&jwk_from_url_config(mock), flags)
}

/// One decision on `token`, sent as a Bearer.
async fn decide_with(client: &reqwest::Client, svc: &Service, token: &str) -> Answer {
    let authorization = format!("Bearer {token}");
    ask(
        client,
        &svc.url("/some/path"),
        &[("authorization", &authorization)],
    )
    .await
}

async fn decide(svc: &Service, token: &str) -> Answer {
    decide_with(&common::http::client(), svc, token).await
}

fn refreshes(svc: &Service, result: &str) -> f64 {
    let series = format!("authgate_jwks_refresh_total{{result=\"{result}\"}}");
    metric(&svc.metrics(), &series).unwrap_or(0.0)
}

fn readyz(svc: &Service) -> Option<u16> {
    common::raw::http_get_status(&svc.admin_url("/readyz"))
}

/// Poll `f` until it is true or `timeout` passes.
async fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// 1. Periodic refresh
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_set_is_refreshed_in_the_background_without_requests() {
    let mock = MockServer::start();
    serve_jwks(&mock, &[rsa1_k1()], None);
    let svc = start_ready(
        &mock,
        &["--jwks-refresh-secs", "1", "--jwks-min-refresh-secs", "1"],
    );
    let before = mock.count(JWKS_PATH);
    assert!(before >= 1, "the key set was not fetched at start");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let after = mock.count(JWKS_PATH);
    // Every 1 s ± 10 %: 2 to 4 more fetches in 3.2 s; never a hot loop.
    assert!(
        (before + 2..=before + 5).contains(&after),
        "{before} fetches at ready, {after} 3.2 s later with --jwks-refresh-secs 1; log:\n{}",
        svc.log()
    );
    assert!(
        refreshes(&svc, "success") >= 3.0,
        "success counter: {}",
        svc.metrics()
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 2. max-age clamp
// ---------------------------------------------------------------------------------------------------------------
// A timing test: it is in tests/timing.rs, where it runs alone.

// ---------------------------------------------------------------------------------------------------------------
// 3. Key rotation
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotated_key_is_picked_up_by_one_forced_refresh() {
    let mock = MockServer::start();
    serve_jwks(&mock, &[rsa1_k1()], None);
    // A long background period, so that any new fetch is the forced one; a generous budget, so that a loaded test
    // machine does not turn the forced refresh into a miss.
    let svc = start_ready(
        &mock,
        &[
            "--jwks-refresh-secs",
            "600",
            "--jwks-forced-budget-ms",
            "2000",
        ],
    );
    let client = common::http::client();
    let old = rs256("rsa1", "k1");
    let a = decide_with(&client, &svc, &old).await;
    assert_eq!(a.status, 200, "k1 token before rotation: {}", a.body);

    serve_jwks(&mock, &[json!({"key": "rsa2", "kid": "k2"})], None);
    let before = mock.count(JWKS_PATH);
    let new = rs256("rsa2", "k2");
    let a = decide_with(&client, &svc, &new).await;
    assert_eq!(
        a.status, 200,
        "k2 token on the first request after rotation: {}",
        a.body
    );
    assert_eq!(a.header("x-hasura-user-id"), Some("42"));
    assert_eq!(
        mock.count(JWKS_PATH),
        before + 1,
        "exactly one forced fetch for the new kid"
    );

    // Known now: no further fetch.
    let a = decide_with(&client, &svc, &new).await;
    assert_eq!(a.status, 200, "k2 token again: {}", a.body);
    // The old key left the set: its (cached) allow is not served any more; the forced refresh is rate limited.
    let a = decide_with(&client, &svc, &old).await;
    assert_eq!(a.status, 401, "k1 token after k1 left the set: {}", a.body);
    assert_eq!(a.code().as_deref(), Some("unknown_kid"), "{}", a.body);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        mock.count(JWKS_PATH),
        before + 1,
        "no fetch beyond the one forced refresh"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 4. Unknown-kid flood
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kid_flood_causes_at_most_one_forced_fetch() {
    const TOTAL: usize = 1000;
    const CONCURRENCY: usize = 50;
    let mock = MockServer::start();
    serve_jwks(&mock, &[rsa1_k1()], None);
    let svc = Arc::new(start_ready(&mock, &["--jwks-refresh-secs", "600"]));
    assert_eq!(mock.count(JWKS_PATH), 1, "one fetch at start");

    let client = common::http::client();
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs(40);
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (client, svc, next) = (client.clone(), svc.clone(), next.clone());
        workers.spawn(async move {
            let mut bad = Vec::new();
            let mut done = 0usize;
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= TOTAL {
                    break;
                }
                let kid = format!("random-{i}-{:016x}", rand::random::<u64>());
                let a = decide_with(&client, &svc, &rs256("rsa1", &kid)).await;
                done += 1;
                if a.status != 401 || a.code().as_deref() != Some("unknown_kid") {
                    bad.push(format!("kid {kid}: {} {}", a.status, a.body));
                }
            }
            (done, bad)
        });
    }
    let mut done = 0;
    let mut bad = Vec::new();
    while let Some(r) = workers.join_next().await {
        let (d, b) = r.expect("worker task");
        done += d;
        bad.extend(b);
    }
    assert_eq!(done, TOTAL, "the flood did not finish within its deadline");
    assert!(
        bad.is_empty(),
        "{} answers were not 401 unknown_kid, e.g. {:?}",
        bad.len(),
        &bad[..bad.len().min(3)]
    );
    let fetches = mock.count(JWKS_PATH);
    assert!(
        fetches <= 2,
        "{fetches} JWKS fetches for {TOTAL} unknown kids (initial + at most one forced)"
    );
    let denied = metric(
        &svc.metrics(),
        r#"authgate_requests_total{decision="deny",reason="unknown_kid",transport="http"}"#,
    );
    assert_eq!(denied, Some(TOTAL as f64), "requests_total for unknown_kid");
    // The service still answers a known kid.
    let a = decide_with(&client, &svc, &rs256("rsa1", "k1")).await;
    assert_eq!(a.status, 200, "known kid after the flood: {}", a.body);
    assert!(mock.count(JWKS_PATH) <= 2);
}

// ---------------------------------------------------------------------------------------------------------------
// 5. Stale on error
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn last_good_key_set_keeps_serving_while_the_endpoint_is_down() {
    let mock = MockServer::start();
    serve_jwks(&mock, &[rsa1_k1()], None);
    // The decision cache is off, so that every 200 below comes from the held key set.
    let svc = start_ready(
        &mock,
        &[
            "--jwks-refresh-secs",
            "1",
            "--jwks-min-refresh-secs",
            "1",
            "--decision-cache-size",
            "0",
        ],
    );
    let client = common::http::client();
    let token = rs256("rsa1", "k1");
    let a = decide_with(&client, &svc, &token).await;
    assert_eq!(a.status, 200, "before the outage: {}", a.body);

    let errors_before = refreshes(&svc, "error");
    let fetches_before = mock.count(JWKS_PATH);
    mock.set_up(false);
    let until = Instant::now() + Duration::from_millis(3200);
    let mut n = 0;
    while Instant::now() < until {
        let a = decide_with(&client, &svc, &token).await;
        assert_eq!(a.status, 200, "request {n} during the outage: {}", a.body);
        n += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(n >= 10, "only {n} requests in 3.2 s");
    let errors_after = refreshes(&svc, "error");
    assert!(
        errors_after >= errors_before + 2.0,
        "jwks_refresh_total{{result=\"error\"}} {errors_before} -> {errors_after}; fetches {fetches_before} -> {}",
        mock.count(JWKS_PATH)
    );
    assert_eq!(
        readyz(&svc),
        Some(200),
        "/readyz while serving the last good set"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// 6. Endpoint down at start
// ---------------------------------------------------------------------------------------------------------------

async fn recovers_after_failing_at_start(mock: MockServer) {
    let svc = Service::start(
        &jwk_from_url_config(&mock),
        &["--jwks-refresh-secs", "1"],
        &[],
    );
    // Give the first fetch (and a retry) time to fail.
    assert!(
        eventually(Duration::from_secs(5), || mock.count(JWKS_PATH) >= 1).await,
        "the JWKS was never fetched"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_ne!(readyz(&svc), Some(200), "/readyz before any key set loaded");
    let token = rs256("rsa1", "k1");
    let a = decide(&svc, &token).await;
    assert_eq!(a.status, 503, "no key set yet: {}", a.body);
    assert!(a.header("retry-after").is_some(), "503 without Retry-After");
    assert!(
        a.header("cache-control")
            .is_some_and(|c| c.contains("no-store"))
    );
    assert_eq!(a.code().as_deref(), Some("jwks_unavailable"), "{}", a.body);
    assert!(refreshes(&svc, "error") >= 1.0);

    mock.set_up(true);
    serve_jwks(&mock, &[rsa1_k1()], None);
    assert!(
        eventually(Duration::from_secs(6), || readyz(&svc) == Some(200)).await,
        "not ready within 6 s of the endpoint recovering; log:\n{}",
        svc.log()
    );
    let a = decide(&svc, &token).await;
    assert_eq!(a.status, 200, "after recovery: {}", a.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_answering_500_at_start_then_recovering() {
    let mock = MockServer::start();
    mock.set(JWKS_PATH, Route::raw(500, "upstream broke"));
    recovers_after_failing_at_start(mock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoint_down_at_start_then_recovering() {
    let mock = MockServer::start();
    mock.set_up(false);
    recovers_after_failing_at_start(mock).await;
}

// ---------------------------------------------------------------------------------------------------------------
// 7. Limits: an answer over a limit never replaces the last good set
// ---------------------------------------------------------------------------------------------------------------

/// Load rsa1 as `k1`, then switch the endpoint to `bad` (which, were it accepted, would map `k1` to rsa2 and so turn
/// rsa1 tokens into 401s). The rsa1 token must stay allowed while the refresh errors pile up.
async fn bad_answer_keeps_last_good_set(bad: Route, what: &str) {
    let mock = MockServer::start();
    serve_jwks(&mock, &[rsa1_k1()], None);
    let svc = start_ready(
        &mock,
        &[
            "--jwks-refresh-secs",
            "1",
            "--jwks-min-refresh-secs",
            "1",
            "--decision-cache-size",
            "0",
        ],
    );
    let client = common::http::client();
    let token = rs256("rsa1", "k1");
    let a = decide_with(&client, &svc, &token).await;
    assert_eq!(a.status, 200, "before the {what}: {}", a.body);

    let errors_before = refreshes(&svc, "error");
    mock.set(JWKS_PATH, bad);
    let fetches_at_switch = mock.count(JWKS_PATH);
    let grew = eventually(Duration::from_secs(6), || {
        refreshes(&svc, "error") >= errors_before + 2.0
    })
    .await;
    assert!(
        grew,
        "the {what} was not counted as a failed refresh: errors {errors_before} -> {}, fetches {fetches_at_switch} -> {}; log:\n{}",
        refreshes(&svc, "error"),
        mock.count(JWKS_PATH),
        svc.log()
    );
    for i in 0..5 {
        let a = decide_with(&client, &svc, &token).await;
        assert_eq!(a.status, 200, "request {i} after the {what}: {}", a.body);
    }
    assert_eq!(
        metric(&svc.metrics(), "authgate_jwks_keys"),
        Some(1.0),
        "jwks_keys after the {what}"
    );
    assert_eq!(readyz(&svc), Some(200));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_jwks_body_keeps_last_good_set() {
    let mut doc = jwks_doc(&[json!({"key": "rsa2", "kid": "k1"})]);
    doc["padding"] = "x".repeat(70 * 1024).into();
    let route = Route::json(200, &doc);
    assert!(route.body.len() > 64 * 1024);
    bad_answer_keeps_last_good_set(route, "oversized body").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_with_too_many_keys_keeps_last_good_set() {
    let mut keys = vec![json!({"key": "rsa2", "kid": "k1"})];
    keys.extend((1..=32).map(|i| json!({"key": "rsa2", "kid": format!("x{i}")})));
    let route = Route::json(200, &jwks_doc(&keys));
    assert_eq!(keys.len(), 33);
    assert!(
        route.body.len() < 64 * 1024,
        "the body must stay under the size limit"
    );
    bad_answer_keeps_last_good_set(route, "33-key set").await;
}

// ---------------------------------------------------------------------------------------------------------------
// 8. Key filtering
// ---------------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_keys_in_a_fetched_jwks_are_ignored() {
    const SECRET: &str = "a-shared-secret-that-is-long-enough-for-hs256";
    let mock = MockServer::start();
    serve_jwks(
        &mock,
        &[
            json!({"oct": SECRET, "kid": "hs", "alg": "HS256"}),
            rsa1_k1(),
            json!({"key": "rsa2", "kid": "enc", "use": "enc"}),
            json!({"key": "rsa2", "kid": "wrap", "key_ops": ["wrapKey"]}),
        ],
        None,
    );
    let svc = start_ready(&mock, &["--jwks-refresh-secs", "600"]);
    let client = common::http::client();
    // Control: the usable RSA key works.
    let a = decide_with(&client, &svc, &rs256("rsa1", "k1")).await;
    assert_eq!(a.status, 200, "usable RSA key: {}", a.body);

    let cases = [
        (
            "HS256 token with the JWKS's oct secret",
            mint(
                &json!({"alg": "HS256", "secret": SECRET, "kid": "hs", "claims": claims(), "exp_in": 3600}),
            ),
        ),
        ("token for a key with use: enc", rs256("rsa2", "enc")),
        (
            "token for a key whose key_ops lack verify",
            rs256("rsa2", "wrap"),
        ),
    ];
    for (what, token) in &cases {
        let a = decide_with(&client, &svc, token).await;
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert_eq!(
            a.code().as_deref(),
            Some("unknown_kid"),
            "{what}: {}",
            a.body
        );
        assert_eq!(
            a.header("www-authenticate"),
            Some(r#"Bearer error="invalid_token""#),
            "{what}"
        );
        assert!(
            a.header("x-hasura-role").is_none(),
            "{what}: session header on a deny"
        );
    }
    // Algorithm confusion: HS256 keyed with the RSA public key, under the RSA key's kid.
    let confused = mint(&json!({
        "alg": "HS256", "secret_from_public_pem": "rsa1", "kid": "k1", "claims": claims(), "exp_in": 3600
    }));
    let a = decide_with(&client, &svc, &confused).await;
    assert_eq!(a.status, 401, "HS256 under an RSA kid: {}", a.body);
    assert_eq!(
        metric(&svc.metrics(), "authgate_jwks_keys"),
        Some(1.0),
        "only the RSA key is usable"
    );
    // RSA keys under 2048 bits: `item19_rsa_keys_under_2048_bits_are_dropped_from_a_fetched_jwks` below.
}

// ---------------------------------------------------------------------------------------------------------------
// 9. Issue 11: the decision cache and a stale key set; token-header denials; claim types; weak keys
// ---------------------------------------------------------------------------------------------------------------

fn cache_counts(svc: &Service) -> (f64, f64) {
    let m = svc.metrics();
    (
        metric(&m, "authgate_decision_cache_hits_total").unwrap_or(-1.0),
        metric(&m, "authgate_decision_cache_misses_total").unwrap_or(-1.0),
    )
}

/// A token with this JOSE header, the usual claims, and a signature that is never looked at.
fn with_header(header: &Value) -> String {
    use base64::Engine;
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let mut claims = claims();
    claims["exp"] = (common::now() + 3600).into();
    format!("{}.{}.c2lnbmF0dXJl", b64(header), b64(&claims))
}

/// Item 3: in JWKS mode, a denial decided from the token header alone (no `kid`, an unsupported `alg`, `crit`,
/// `jku`, undecodable base64 or JSON) is served from the denial cache on the next identical request. It used to be
/// stored under key-set epoch 0 and looked up under the current epoch, so it never hit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item3_header_denials_are_served_from_the_denial_cache_in_jwks_mode() {
    let mock = MockServer::start();
    serve_jwks(&mock, &[rsa1_k1()], None);
    let svc = start_ready(&mock, &["--jwks-refresh-secs", "600"]);
    let client = common::http::client();
    let cases = [
        (
            "no kid",
            with_header(&json!({"alg": "RS256", "typ": "JWT"})),
            "malformed_token",
        ),
        (
            "alg none",
            with_header(&json!({"alg": "none", "kid": "k1"})),
            "invalid_algorithm",
        ),
        (
            "crit",
            with_header(&json!({"alg": "RS256", "kid": "k1", "crit": ["exp"]})),
            "unsupported_header",
        ),
        (
            "jku",
            with_header(&json!({"alg": "RS256", "kid": "k1", "jku": "https://evil.example/jwks"})),
            "unsupported_header",
        ),
        (
            "header not base64",
            "e30*.e30.c2ln".to_owned(),
            "malformed_token",
        ),
        (
            "header not JSON",
            "bm90IGpzb24.e30.c2ln".to_owned(),
            "malformed_token",
        ),
    ];
    const REPEAT: usize = 4;
    for (what, token, code) in &cases {
        let (hits_before, misses_before) = cache_counts(&svc);
        for i in 0..REPEAT {
            let a = decide_with(&client, &svc, token).await;
            assert_eq!(a.status, 401, "{what}, request {i}: {}", a.body);
            assert_eq!(
                a.code().as_deref(),
                Some(*code),
                "{what}, request {i}: {}",
                a.body
            );
        }
        let (hits, misses) = cache_counts(&svc);
        assert_eq!(
            (hits - hits_before, misses - misses_before),
            ((REPEAT - 1) as f64, 1.0),
            "{what}: {REPEAT} identical requests must be one miss and {} denial-cache hits \
             (hits {hits_before} -> {hits}, misses {misses_before} -> {misses})",
            REPEAT - 1
        );
    }
    // Control: the same holds for a denial decided after the key lookup (bad signature).
    let (hits_before, _) = cache_counts(&svc);
    let forged = rs256("rsa2", "k1");
    for _ in 0..REPEAT {
        let a = decide_with(&client, &svc, &forged).await;
        assert_eq!(a.code().as_deref(), Some("invalid_signature"), "{}", a.body);
    }
    assert_eq!(cache_counts(&svc).0 - hits_before, (REPEAT - 1) as f64);
}

/// Item 8: once the key set is older than its stale bound, a cached allow is no longer served: the same token gets
/// the `503` that an uncached request gets, as it would after a key rotation. When the endpoint comes back, the
/// token is verified again (a cache miss) and allowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item8_a_stale_key_set_invalidates_cached_allows() {
    let mock = MockServer::start();
    serve_jwks(&mock, &[rsa1_k1()], None);
    let svc = start_ready(
        &mock,
        &[
            "--jwks-refresh-secs",
            "1",
            "--jwks-min-refresh-secs",
            "1",
            "--jwks-max-stale-secs",
            "2",
            "--decision-cache-ttl",
            "600",
        ],
    );
    let client = common::http::client();
    let token = rs256("rsa1", "k1");
    let a = decide_with(&client, &svc, &token).await;
    assert_eq!(a.status, 200, "first request: {}", a.body);
    let (hits_before, _) = cache_counts(&svc);
    let a = decide_with(&client, &svc, &token).await;
    assert_eq!(a.status, 200, "second request: {}", a.body);
    assert_eq!(
        cache_counts(&svc).0,
        hits_before + 1.0,
        "the second request must be a cache hit, or this test proves nothing"
    );

    mock.set_up(false);
    assert!(
        eventually(Duration::from_secs(8), || readyz(&svc) != Some(200)).await,
        "the key set never went stale with --jwks-max-stale-secs 2; log:\n{}",
        svc.log()
    );
    let (hits_stale, _) = cache_counts(&svc);
    for i in 0..3 {
        let a = decide_with(&client, &svc, &token).await;
        assert_eq!(
            a.status, 503,
            "request {i} with a stale key set was answered from the cache: {}",
            a.body
        );
        assert_eq!(a.code().as_deref(), Some("jwks_unavailable"), "{}", a.body);
    }
    assert_eq!(
        cache_counts(&svc).0,
        hits_stale,
        "no cache hit while the key set is stale"
    );

    mock.set_up(true);
    assert!(
        eventually(Duration::from_secs(8), || readyz(&svc) == Some(200)).await,
        "not ready again after the endpoint came back; log:\n{}",
        svc.log()
    );
    let (_, misses_before) = cache_counts(&svc);
    let a = decide_with(&client, &svc, &token).await;
    assert_eq!(a.status, 200, "after recovery: {}", a.body);
    assert_eq!(
        cache_counts(&svc).1,
        misses_before + 1.0,
        "after recovery the token is verified again, not served from before the outage"
    );
}

/// Item 11: a validly signed token whose `exp`, `nbf` or `iat` is not a number is `malformed_token` in the body and
/// in the metrics label, not `invalid_signature`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item11_wrongly_typed_exp_nbf_iat_are_malformed_token_in_body_and_metrics() {
    let mock = MockServer::start();
    serve_jwks(&mock, &[rsa1_k1()], None);
    let svc = start_ready(&mock, &["--jwks-refresh-secs", "600"]);
    let client = common::http::client();
    let exp = common::now() + 3600;
    let cases = [
        ("exp a string", json!({"exp": "tomorrow"})),
        ("exp negative", json!({"exp": -1})),
        ("nbf a string", json!({"exp": exp, "nbf": "now"})),
        ("iat an object", json!({"exp": exp, "iat": {"t": 1}})),
    ];
    for (what, extra) in &cases {
        let mut c = claims();
        for (k, v) in extra.as_object().expect("object") {
            c[k] = v.clone();
        }
        let token = mint(&json!({"alg": "RS256", "sign_with": "rsa1", "kid": "k1", "claims": c}));
        let a = decide_with(&client, &svc, &token).await;
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert_eq!(
            a.code().as_deref(),
            Some("malformed_token"),
            "{what}: {}",
            a.body
        );
    }
    let m = svc.metrics();
    assert_eq!(
        metric(
            &m,
            r#"authgate_requests_total{decision="deny",reason="malformed_token",transport="http"}"#
        ),
        Some(cases.len() as f64),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            r#"authgate_requests_total{decision="deny",reason="invalid_signature",transport="http"}"#
        ),
        Some(0.0),
        "{m}"
    );
}

/// Item 19: an RSA key under 2048 bits in a fetched JWKS is dropped. The committed RSA-1024 key
/// (tests/fixtures/rsa1024) is served beside the usable RSA-2048 key; the token it signed is `unknown_kid` (its key
/// is not in the set), and the set holds one key. Without the filter the key would be counted and its token would
/// reach signature verification.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item19_rsa_keys_under_2048_bits_are_dropped_from_a_fetched_jwks() {
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/rsa1024");
    let weak_jwk: Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{fixtures}/rsa1024.jwk.json")).expect("weak JWK"),
    )
    .expect("weak JWK parses");
    let weak_token =
        std::fs::read_to_string(format!("{fixtures}/rsa1024.jwt")).expect("weak token");
    let weak_token = weak_token.trim();
    let mut doc = jwks_doc(&[rsa1_k1()]);
    doc["keys"]
        .as_array_mut()
        .expect("keys")
        .push(weak_jwk.clone());
    let mock = MockServer::start();
    mock.set(JWKS_PATH, Route::json(200, &doc));
    let svc = start_ready(&mock, &["--jwks-refresh-secs", "600"]);
    let client = common::http::client();
    let a = decide_with(&client, &svc, &rs256("rsa1", "k1")).await;
    assert_eq!(a.status, 200, "the RSA-2048 key: {}", a.body);
    let a = decide_with(&client, &svc, weak_token).await;
    assert_eq!(
        a.status, 401,
        "token signed with the RSA-1024 key: {}",
        a.body
    );
    assert_eq!(a.code().as_deref(), Some("unknown_kid"), "{}", a.body);
    assert_eq!(
        metric(&svc.metrics(), "authgate_jwks_keys"),
        Some(1.0),
        "the RSA-1024 key must not be in the set"
    );
}

/// Start the binary on the JWKS config edited by `edit`, serving rsa1 as `k1`, and wait until it is ready.
fn start_ready_with(mock: &MockServer, edit: impl Fn(String) -> String) -> Service {
    serve_jwks(mock, &[rsa1_k1()], None);
    let svc = Service::start(
        &edit(jwk_from_url_config(mock)),
        &["--jwks-refresh-secs", "600"],
        &[],
    );
    ready(&svc);
    svc
}

/// An rsa1/k1 token over the usual claims with `extra` merged in (a `null` in `extra` sets the claim to null).
fn token_with(extra: &Value) -> String {
    let mut c = claims();
    for (k, v) in extra.as_object().expect("object") {
        c[k] = v.clone();
    }
    mint(&json!({"alg": "RS256", "sign_with": "rsa1", "kid": "k1", "claims": c, "exp_in": 3600}))
}

/// Each `(what, token)` must be answered 401 with `code`.
async fn assert_denied(svc: &Service, cases: &[(&str, String)], code: &str) {
    let client = common::http::client();
    for (what, token) in cases {
        let a = decide_with(&client, svc, token).await;
        assert_eq!(a.status, 401, "{what}: {}", a.body);
        assert_eq!(a.code().as_deref(), Some(code), "{what}: {}", a.body);
    }
}

/// Item 4: with no audience configured, a token carrying `aud` of any shape is `invalid_audience`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item4_non_string_aud_is_invalid_audience_through_the_binary() {
    let mock = MockServer::start();
    let svc = start_ready_with(&mock, |c| c);
    let a = decide(&svc, &token_with(&json!({}))).await;
    assert_eq!(a.status, 200, "control, no aud: {}", a.body);
    let cases = [
        ("aud 5", token_with(&json!({"aud": 5}))),
        ("aud [1,2]", token_with(&json!({"aud": [1, 2]}))),
        ("aud {a:1}", token_with(&json!({"aud": {"a": 1}}))),
    ];
    assert_denied(&svc, &cases, "invalid_audience").await;
}

/// Item 5: `iss` must be a string equal to the configured issuer; an array holding it is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item5_iss_array_is_invalid_issuer_through_the_binary() {
    const ISS: &str = "https://issuer.example";
    let mock = MockServer::start();
    let svc = start_ready_with(&mock, |c| {
        c.replace("    jwt:\n", &format!("    jwt:\n      issuer: {ISS}\n"))
    });
    let a = decide(&svc, &token_with(&json!({"iss": ISS}))).await;
    assert_eq!(a.status, 200, "control, iss a string: {}", a.body);
    let cases = [
        ("iss [ISS]", token_with(&json!({"iss": [ISS]}))),
        (
            "iss [evil, ISS]",
            token_with(&json!({"iss": ["https://evil.example", ISS]})),
        ),
    ];
    assert_denied(&svc, &cases, "invalid_issuer").await;
}

/// Item 6: `crit`, `jku`, `x5u`, `jwk`, `x5c` set to null are present, and refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item6_null_crit_and_key_headers_are_refused_through_the_binary() {
    let mock = MockServer::start();
    let svc = start_ready_with(&mock, |c| c);
    let cases: Vec<(&str, String)> = ["crit", "jku", "x5u", "jwk", "x5c"]
        .into_iter()
        .map(|name| {
            let token = mint(&json!({
                "alg": "RS256", "sign_with": "rsa1", "kid": "k1", "claims": claims(), "exp_in": 3600,
                "header_extra": {name: null}
            }));
            (name, token)
        })
        .collect();
    assert_denied(&svc, &cases, "unsupported_header").await;
}

/// Item 7: a `StringifiedJson` namespace is parsed as strictly as the token: a session variable given twice is
/// `invalid_claims`, not resolved last-wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item7_duplicate_keys_in_stringified_claims_are_invalid_through_the_binary() {
    let mock = MockServer::start();
    let svc = start_ready_with(&mock, |c| {
        c.replace("claimsFormat: Json", "claimsFormat: StringifiedJson")
    });
    let ns = |inner: &str| token_with(&json!({"claims.jwt.hasura.io": inner}));
    let ok = ns(
        r#"{"x-hasura-default-role":"user","x-hasura-allowed-roles":["user"],"x-hasura-user-id":"1"}"#,
    );
    let a = decide(&svc, &ok).await;
    assert_eq!(a.status, 200, "control: {}", a.body);
    assert_eq!(a.header("x-hasura-user-id"), Some("1"));
    let cases = [(
        "x-hasura-user-id twice",
        ns(
            r#"{"x-hasura-default-role":"user","x-hasura-allowed-roles":["user"],"x-hasura-user-id":"1","x-hasura-user-id":"2"}"#,
        ),
    )];
    assert_denied(&svc, &cases, "invalid_claims").await;
}

/// Item 21 (issue 11): a forced refresh sent on a kept-alive connection that the JWKS server closes as the request
/// arrives (sent, never answered) is sent once more on a new connection, so the new key is still found: the race
/// between a pool's reuse and a server's idle close must not turn a rotation into a refused token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn item21_a_jwks_fetch_crossing_the_servers_idle_close_is_sent_again() {
    let mock = MockServer::start_keep_alive(Duration::from_secs(30));
    serve_jwks(&mock, &[rsa1_k1()], None);
    let svc = start_ready(
        &mock,
        &[
            "--jwks-refresh-secs",
            "600",
            "--jwks-forced-budget-ms",
            "2000",
        ],
    );
    let client = common::http::client();
    let a = decide_with(&client, &svc, &rs256("rsa1", "k1")).await;
    assert_eq!(a.status, 200, "k1 token: {}", a.body);
    assert_eq!(mock.accepts(), 1, "the first fetch's connection is kept");

    serve_jwks(
        &mock,
        &[rsa1_k1(), json!({"key": "rsa2", "kid": "k2"})],
        None,
    );
    let before = mock.count(JWKS_PATH);
    mock.drop_reused(1);
    let a = decide_with(&client, &svc, &rs256("rsa2", "k2")).await;
    assert_eq!(
        a.status, 200,
        "the forced refresh that met the server's close failed the decision: {}",
        a.body
    );
    assert_eq!(
        mock.count(JWKS_PATH),
        before + 2,
        "sent on the kept connection (dropped), then once more"
    );
    assert_eq!(mock.accepts(), 2, "the second attempt on a new connection");
}
