//! Multi-config mode end to end (policy §13, issue 14's "Done when"): the real `authgate serve --config DIR` on
//! loopback, configs selected by `/configs/<name>` on the data listener, `/readyz` and `/metrics` on the admin
//! listener, and the directory changed on disk while the process runs: a broken config fixed without a restart
//! while the others are hammered, a removal served through its grace, a name claimed twice, a directory of one,
//! and two configs sharing one JWKS URL refreshed once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::common::configs::{Jwt, hs256_config, noauth_config};
use super::common::http::{Answer, ask, client};
use super::common::mock::{MockServer, Route};
use super::common::raw::http_get;
use super::common::service::{Service, metric};
use super::common::tokens::{JWKS_PATH, jwks_doc, mint, rsa1_k1};
use super::common::{temp_dir, write_atomic};

const BROKEN: &str =
    "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      rolee: x\n";
const SECRET_A: &str = "e2e-config-a-secret-0123456789-0123456789";
const SECRET_B: &str = "e2e-config-b-secret-0123456789-0123456789";
const SECRET_C: &str = "e2e-config-c-secret-0123456789-0123456789";
const SECRET_C2: &str = "e2e-config-c2-secret-0123456789-012345678";

/// An HS256 token signed with `secret` for user `user` (role `user`), valid for ten minutes.
fn hs_token(secret: &str, user: &str) -> String {
    mint(&json!({"alg": "HS256", "secret": secret, "exp_in": 600,
        "claims": {"claims.jwt.hasura.io": {
            "x-hasura-allowed-roles": ["user"], "x-hasura-default-role": "user", "x-hasura-user-id": user}}}))
}

/// `authgate serve --config DIR` (multi-config mode), polling the directory every 50 ms; the log is kept outside
/// the directory so it is never a candidate config.
fn serve_dir(dir: &std::path::Path, extra: &[&str]) -> Service {
    let source = ["--config".to_owned(), dir.display().to_string()];
    let mut flags = vec!["--reload-interval-ms", "50"];
    flags.extend_from_slice(extra);
    Service::start_with(
        &source,
        &temp_dir("multi-e2e-log").join("authgate"),
        &flags,
        &[],
    )
}

/// GET `/configs/<name><rest>` on the data listener, with a Bearer token when given.
async fn through(c: &reqwest::Client, svc: &Service, target: &str, token: Option<&str>) -> Answer {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    ask(c, &svc.url(target), &headers).await
}

/// `/readyz`: its status and JSON body.
fn readyz(svc: &Service) -> (u16, Value) {
    let (status, body) = http_get(&svc.admin_url("/readyz")).expect("GET /readyz");
    let v =
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("/readyz not JSON ({e}): {body}"));
    (status, v)
}

/// The `/readyz` entry of config `name`, if listed.
fn entry(body: &Value, name: &str) -> Option<Value> {
    body["configs"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
}

/// Poll `check` every 20 ms until it holds, at most `within`; false on timeout.
async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn requests(config: &str, decision: &str, reason: &str) -> String {
    format!(
        "authgate_requests_total{{config=\"{config}\",decision=\"{decision}\",reason=\"{reason}\",transport=\"http\"}}"
    )
}

/// What the hammer saw: requests sent per config (a, b) and every request that did not pass as expected.
#[derive(Default)]
struct Hammered {
    sent: [u64; 2],
    failures: Vec<String>,
}

/// Ask for configs a and b in turn until `stop` (at most 30 s), each with its own token; every fourth request
/// carries a freshly minted token so that the decision cache does not answer them all.
async fn hammer(c: reqwest::Client, svc_data: u16, stop: Arc<AtomicBool>) -> Hammered {
    let mut out = Hammered::default();
    let deadline = Instant::now() + Duration::from_secs(30);
    let fixed = [hs_token(SECRET_A, "ua"), hs_token(SECRET_B, "ub")];
    let mut i: u64 = 0;
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        let which = (i % 2) as usize;
        let (name, secret) = [("a", SECRET_A), ("b", SECRET_B)][which];
        let (token, user) = if i % 4 >= 2 {
            let user = format!("u{i}");
            (hs_token(secret, &user), user)
        } else {
            (fixed[which].clone(), ["ua", "ub"][which].to_owned())
        };
        let url = format!("http://127.0.0.1:{svc_data}/configs/{name}/api?i={i}");
        out.sent[which] += 1;
        match c.get(&url).bearer_auth(&token).send().await {
            Ok(r) => {
                let got_user = r
                    .headers()
                    .get("x-hasura-user-id")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                if r.status().as_u16() != 200 || got_user.as_deref() != Some(user.as_str()) {
                    out.failures
                        .push(format!("{url}: {} user {got_user:?}", r.status()));
                }
            }
            Err(e) => out.failures.push(format!("{url}: {e}")),
        }
        i += 1;
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_config_is_fixed_on_disk_while_the_others_serve_without_a_failed_request() {
    let dir = temp_dir("multi-e2e-three");
    std::fs::write(dir.join("a.yaml"), hs256_config(SECRET_A)).expect("write");
    std::fs::write(dir.join("b.yml"), hs256_config(SECRET_B)).expect("write");
    std::fs::write(dir.join("c.yaml"), BROKEN).expect("write");
    let svc = serve_dir(&dir, &[]);
    assert!(
        svc.wait_ready(Duration::from_secs(10)),
        "never ready:\n{}",
        svc.log()
    );
    let c = client();

    // /readyz: ready, all three listed, the broken one failed with the loader's error.
    let (status, body) = readyz(&svc);
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ready"], true, "{body}");
    let names: Vec<&str> = body["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert_eq!(names, ["a", "b", "c"], "{body}");
    for good in ["a", "b"] {
        let e = entry(&body, good).expect("listed");
        assert_eq!(
            (&e["state"], &e["usable"], &e["last_error"]),
            (&json!("ready"), &json!(true), &Value::Null),
            "{body}"
        );
    }
    let broken = entry(&body, "c").expect("c listed");
    assert_eq!(
        (&broken["state"], &broken["usable"]),
        (&json!("failed"), &json!(false)),
        "{body}"
    );
    assert!(
        broken["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("rolee")),
        "{body}"
    );

    // Each config judges by its own key: a's token passes a, not b; the broken one is no_config; no prefix is
    // unknown_config.
    let (ta, tb, tc) = (
        hs_token(SECRET_A, "ua"),
        hs_token(SECRET_B, "ub"),
        hs_token(SECRET_C, "uc"),
    );
    let r = through(&c, &svc, "/configs/a/graphql", Some(&ta)).await;
    assert_eq!(
        (r.status, r.header("x-hasura-user-id")),
        (200, Some("ua")),
        "{}",
        r.body
    );
    let r = through(&c, &svc, "/configs/b", Some(&tb)).await;
    assert_eq!(
        (r.status, r.header("x-hasura-user-id")),
        (200, Some("ub")),
        "{}",
        r.body
    );
    let r = through(&c, &svc, "/configs/b?x=1", Some(&ta)).await;
    assert_eq!(r.status, 401, "a's token through b: {}", r.body);
    let r = through(&c, &svc, "/configs/c", Some(&tc)).await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (503, Some("no_config")),
        "{}",
        r.body
    );
    let r = through(&c, &svc, "/graphql", Some(&ta)).await;
    assert_eq!(
        (r.status, r.code().as_deref()),
        (503, Some("unknown_config")),
        "{}",
        r.body
    );

    let before = svc.metrics();
    assert_eq!(
        metric(&before, &requests("c", "error", "no_config")),
        Some(1.0),
        "{before}"
    );

    // Hammer a and b while c is fixed, broken again, and changed: none of it may fail a request to a or b.
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(hammer(c.clone(), svc.data, stop.clone()));
    tokio::time::sleep(Duration::from_millis(200)).await;

    write_atomic(&dir.join("c.yaml"), &hs256_config(SECRET_C));
    let served = eventually(Duration::from_secs(3), || async {
        through(&c, &svc, "/configs/c", Some(&tc)).await.status == 200
    })
    .await;
    assert!(
        served,
        "c was not served within 3 s of being fixed:\n{}",
        svc.log()
    );
    let (_, body) = readyz(&svc);
    let fixed = entry(&body, "c").expect("c listed");
    assert_eq!(
        (&fixed["state"], &fixed["last_error"]),
        (&json!("ready"), &Value::Null),
        "{body}"
    );

    // Broken again: the last good version keeps serving, and /readyz says why the new one was refused.
    write_atomic(&dir.join("c.yaml"), BROKEN);
    let refused = eventually(Duration::from_secs(3), || async {
        entry(&readyz(&svc).1, "c").is_some_and(|e| {
            e["last_error"]
                .as_str()
                .is_some_and(|m| m.contains("rolee"))
        })
    })
    .await;
    assert!(
        refused,
        "the broken rewrite was not reported:\n{}",
        svc.log()
    );
    let r = through(&c, &svc, "/configs/c", Some(&tc)).await;
    assert_eq!(r.status, 200, "last good version of c: {}", r.body);

    // A new key: the old token stops passing, the new one passes.
    write_atomic(&dir.join("c.yaml"), &hs256_config(SECRET_C2));
    let tc2 = hs_token(SECRET_C2, "uc2");
    let changed = eventually(Duration::from_secs(3), || async {
        through(&c, &svc, "/configs/c", Some(&tc2)).await.status == 200
    })
    .await;
    assert!(changed, "c's new key was not picked up:\n{}", svc.log());
    assert_eq!(through(&c, &svc, "/configs/c", Some(&tc)).await.status, 401);

    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::Relaxed);
    let seen = load.await.expect("hammer task");
    assert!(
        seen.failures.is_empty(),
        "{} of {:?} requests to a and b failed while c changed, first: {:?}\n{}",
        seen.failures.len(),
        seen.sent,
        &seen.failures[..seen.failures.len().min(5)],
        svc.log()
    );
    assert!(
        seen.sent.iter().all(|&n| n >= 10),
        "too few requests to mean anything: {:?}",
        seen.sent
    );

    // The config-labelled request series count exactly what went through each prefix.
    let scrape = svc.metrics();
    let count = |series: String| {
        metric(&scrape, &series).unwrap_or_else(|| panic!("{series} missing:\n{scrape}"))
    };
    assert_eq!(
        count(requests("a", "allow", "ok")),
        (seen.sent[0] + 1) as f64
    );
    assert_eq!(
        count(requests("b", "allow", "ok")),
        (seen.sent[1] + 1) as f64
    );
    assert_eq!(count(requests("b", "deny", "invalid_signature")), 1.0);
    assert_eq!(count(requests("a", "error", "no_config")), 0.0);
    // A request naming no config counts under the empty name, never under what the client sent.
    assert_eq!(count(requests("", "error", "unknown_config")), 1.0);
    assert!(
        scrape
            .lines()
            .filter(|l| l.contains("unknown_config"))
            .all(|l| l.contains("config=\"\"")),
        "{scrape}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_file_serves_through_the_grace_then_is_unknown() {
    let dir = temp_dir("multi-e2e-grace");
    std::fs::write(dir.join("a.yaml"), noauth_config("ra", &[])).expect("write");
    std::fs::write(dir.join("b.yaml"), noauth_config("rb", &[])).expect("write");
    let svc = serve_dir(&dir, &["--config-removal-grace", "2"]);
    assert!(svc.wait_ready(Duration::from_secs(10)), "{}", svc.log());
    let c = client();
    let r = through(&c, &svc, "/configs/b", None).await;
    assert_eq!((r.status, r.header("x-hasura-role")), (200, Some("rb")));

    std::fs::remove_file(dir.join("b.yaml")).expect("rm b.yaml");
    let removed = Instant::now();
    let mut pending_seen = false;
    let gone_after = loop {
        let elapsed = removed.elapsed();
        assert!(
            elapsed < Duration::from_secs(6),
            "b still served 6 s after removal:\n{}",
            svc.log()
        );
        let r = through(&c, &svc, "/configs/b/x", None).await;
        if r.status == 503 {
            assert_eq!(r.code().as_deref(), Some("unknown_config"), "{}", r.body);
            break elapsed;
        }
        assert_eq!(
            (r.status, r.header("x-hasura-role")),
            (200, Some("rb")),
            "during the grace, at {elapsed:?}: {}",
            r.body
        );
        let (status, body) = readyz(&svc);
        if let Some(b) = entry(&body, "b") {
            pending_seen |= b["state"] == "removal_pending";
        }
        assert_eq!(status, 200, "{body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        gone_after >= Duration::from_secs(2),
        "b stopped after {gone_after:?}, inside the grace"
    );
    assert!(
        pending_seen,
        "/readyz never showed b as removal_pending:\n{}",
        svc.log()
    );
    let (status, body) = readyz(&svc);
    assert_eq!(status, 200, "{body}");
    assert!(
        entry(&body, "b").is_none(),
        "b still listed after the grace: {body}"
    );
    assert_eq!(
        entry(&body, "a").map(|a| a["state"].clone()),
        Some(json!("ready")),
        "{body}"
    );
    let r = through(&c, &svc, "/configs/a", None).await;
    assert_eq!((r.status, r.header("x-hasura-role")), (200, Some("ra")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_claimed_twice_rejects_both_and_a_directory_of_one_is_multi_config() {
    let dir = temp_dir("multi-e2e-dup");
    std::fs::write(dir.join("a.yaml"), noauth_config("from-yaml", &[])).expect("write");
    let json_a = json!({"kind": "AuthConfig", "version": "v4",
        "definition": {"mode": {"noAuth": {"role": "from-json", "sessionVariables": {}}}}});
    std::fs::write(dir.join("a.json"), json_a.to_string()).expect("write");
    std::fs::write(dir.join("b.yaml"), noauth_config("rb", &[])).expect("write");
    let svc = serve_dir(&dir, &[]);
    assert!(svc.wait_ready(Duration::from_secs(10)), "{}", svc.log());
    let c = client();
    for target in ["/configs/a", "/configs/a/x"] {
        let r = through(&c, &svc, target, None).await;
        assert_eq!(
            (r.status, r.code().as_deref()),
            (503, Some("no_config")),
            "{target}: {}",
            r.body
        );
        assert!(r.header("x-hasura-role").is_none());
    }
    let (status, body) = readyz(&svc);
    assert_eq!(status, 200, "b is usable: {body}");
    let a = entry(&body, "a").expect("a listed");
    assert_eq!(a["state"], "failed", "{body}");
    let why = a["last_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("a.json") && why.contains("a.yaml") && why.contains("claimed 2 times"),
        "{body}"
    );
    let r = through(&c, &svc, "/configs/b", None).await;
    assert_eq!((r.status, r.header("x-hasura-role")), (200, Some("rb")));

    // One claimant left: it loads, without a restart.
    std::fs::remove_file(dir.join("a.json")).expect("rm a.json");
    let loaded = eventually(Duration::from_secs(3), || async {
        through(&c, &svc, "/configs/a", None)
            .await
            .header("x-hasura-role")
            == Some("from-yaml")
    })
    .await;
    assert!(loaded, "a.yaml alone was not served:\n{}", svc.log());
    drop(svc);
    let _ = std::fs::remove_dir_all(&dir);

    // A directory of one file: still multi-config mode, so the prefix is required.
    let one = temp_dir("multi-e2e-one");
    std::fs::write(one.join("only.yaml"), noauth_config("solo", &[])).expect("write");
    let svc = serve_dir(&one, &[]);
    assert!(svc.wait_ready(Duration::from_secs(10)), "{}", svc.log());
    let (_, body) = readyz(&svc);
    assert_eq!(body["configs"].as_array().map(Vec::len), Some(1), "{body}");
    for target in [
        "/",
        "/only",
        "/configs/",
        "/configs/onlyx",
        "/configs/%6fnly",
    ] {
        let r = through(&c, &svc, target, None).await;
        assert_eq!(
            (r.status, r.code().as_deref()),
            (503, Some("unknown_config")),
            "{target}: {}",
            r.body
        );
    }
    for target in [
        "/configs/only",
        "/configs/only/",
        "/configs/only?q=1",
        "/configs/only/configs/x",
    ] {
        let r = through(&c, &svc, target, None).await;
        assert_eq!(
            (r.status, r.header("x-hasura-role")),
            (200, Some("solo")),
            "{target}"
        );
    }
    let _ = std::fs::remove_dir_all(&one);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_configs_with_one_jwks_url_cause_one_fetch_per_refresh() {
    // a and b share one URL; c has its own and is the yardstick: one refresher, one fetch per period.
    const SOLO: &str = "/solo/jwks.json";
    let mock = MockServer::start();
    let doc = jwks_doc(&[rsa1_k1()]);
    mock.set(JWKS_PATH, Route::json(200, &doc));
    mock.set(SOLO, Route::json(200, &doc));
    let shared = format!("{}{JWKS_PATH}", mock.base());
    let solo = format!("{}{SOLO}", mock.base());
    let dir = temp_dir("multi-e2e-jwks");
    for (name, url) in [("a", &shared), ("b", &shared), ("c", &solo)] {
        let issuer = format!("https://issuer-{name}.example");
        let text = Jwt::jwk_from_url(url).issuer(&issuer).yaml();
        std::fs::write(dir.join(format!("{name}.yaml")), text).expect("write");
    }
    let svc = serve_dir(
        &dir,
        &["--jwks-refresh-secs", "1", "--jwks-min-refresh-secs", "1"],
    );
    assert!(svc.wait_ready(Duration::from_secs(10)), "{}", svc.log());

    let c = client();
    let token = |name: &str| {
        mint(
            &json!({"alg": "RS256", "sign_with": "rsa1", "kid": "k1", "exp_in": 600,
            "claims": {"iss": format!("https://issuer-{name}.example"), "claims.jwt.hasura.io": {
                "x-hasura-allowed-roles": ["user"], "x-hasura-default-role": "user", "x-hasura-user-id": name}}}),
        )
    };
    for name in ["a", "b", "c"] {
        let r = through(&c, &svc, &format!("/configs/{name}"), Some(&token(name))).await;
        assert_eq!(
            (r.status, r.header("x-hasura-user-id")),
            (200, Some(name)),
            "{}",
            r.body
        );
    }
    let r = through(&c, &svc, "/configs/a", Some(&token("b"))).await;
    assert_eq!(r.status, 401, "b's issuer through a: {}", r.body);

    // Let the yardstick refresh a few times (about 1 s apart), then compare.
    let mut counted = false;
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if mock.count(SOLO) >= 5 {
            counted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (shared_n, solo_n) = (mock.count(JWKS_PATH), mock.count(SOLO));
    assert!(
        counted,
        "the solo URL was fetched {solo_n} times in 15 s:\n{}",
        svc.log()
    );
    assert!(
        shared_n + 1 >= solo_n && shared_n <= solo_n + 1,
        "the shared URL was fetched {shared_n} times while the solo one was fetched {solo_n} times"
    );
    // The one shared key set reports its fetches under each config that uses it.
    let scrape = svc.metrics();
    let fetched = |config: &str| {
        metric(
            &scrape,
            &format!("authgate_jwks_refresh_total{{config=\"{config}\",result=\"success\"}}"),
        )
    };
    assert!(fetched("a").is_some_and(|n| n >= 4.0), "{scrape}");
    assert_eq!(fetched("a"), fetched("b"), "{scrape}");
    let _ = std::fs::remove_dir_all(&dir);
}
