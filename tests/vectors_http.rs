//! Every request case of the conformance vectors (tests/fixtures/vectors/public.yaml), run against the real
//! `authgate serve` on 127.0.0.1, with a real local JWKS server (and webhook server) where the case needs one.
//! Every case runs exactly once and sends every request it names: the run is checked against the case ids and
//! requests counted from the file, so a case the runner skips fails the test instead of shrinking it.

mod common;
#[path = "vectors_http/explain.rs"]
mod explain;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::http::{Answer, send_tolerant};
use common::mock::{MockServer, Route};
use common::now;
use common::service::Service;
use common::tokens::{jwks_doc, mint};
use common::vectors::{CaseKind, VECTORS, cases, kind_of, lines_starting};
use serde_json::Value;

/// The number of requests a runtime case sends (1 for `request` + `expect`, one per step for `steps`), or `None`
/// for a `load` case. A case is exactly one of the three (the README's layout), and every step sends a request.
fn requests_of(case: &Value) -> Option<usize> {
    let id = case["id"].as_str().unwrap_or("?");
    match kind_of(case) {
        CaseKind::Load => return None,
        CaseKind::Request => return Some(1),
        CaseKind::Steps => {}
    }
    let steps = case["steps"].as_array().expect("steps is a list");
    assert!(!steps.is_empty(), "{id}: an empty steps list");
    for (i, step) in steps.iter().enumerate() {
        assert!(
            step.get("request").is_some() && step.get("expect").is_some(),
            "{id}[{i}]: every step has a request and an expect"
        );
    }
    Some(steps.len())
}

const WEBHOOK_PATH: &str = "/validate-request";

struct Mocks {
    server: MockServer,
    jwks_path: String,
    dead_port: u16,
}

impl Mocks {
    fn new(case: &Value) -> Self {
        let server = MockServer::start();
        let jwks_path = case
            .pointer("/jwks/path")
            .and_then(Value::as_str)
            .unwrap_or("/jwks.json")
            .to_owned();
        let m = Mocks {
            server,
            jwks_path,
            dead_port: common::free_port(),
        };
        if let Some(j) = case.get("jwks") {
            m.set_jwks(j);
            for (path, doc) in j
                .get("extra_paths")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                let keys = doc["keys"].as_array().cloned().unwrap_or_default();
                m.server.set(path, Route::json(200, &jwks_doc(&keys)));
            }
        }
        if let Some(w) = case.get("webhook") {
            m.set_webhook(w);
        }
        m
    }

    fn set_jwks(&self, j: &Value) {
        let status = j.get("status").and_then(Value::as_u64).unwrap_or(200) as u16;
        let route = match j.get("body").and_then(Value::as_str) {
            Some(body) => Route::raw(status, body),
            None => {
                let keys = j
                    .get("keys")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                Route::json(status, &jwks_doc(&keys))
            }
        };
        self.server.set(&self.jwks_path, route);
    }

    fn set_webhook(&self, w: &Value) {
        let status = w.get("status").and_then(Value::as_u64).unwrap_or(200) as u16;
        let mut route = match w.get("body") {
            Some(Value::String(s)) => Route::raw(status, s),
            Some(v) => Route::json(status, v),
            None => Route::raw(status, ""),
        };
        for (k, v) in w
            .get("headers")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            route
                .headers
                .push((k.clone(), v.as_str().unwrap_or_default().to_owned()));
        }
        self.server.set(WEBHOOK_PATH, route);
    }

    fn fill(&self, text: &str) -> String {
        text.replace(
            "{{jwks_url}}",
            &format!("{}{}", self.server.base(), self.jwks_path),
        )
        .replace(
            "{{webhook_url}}",
            &format!("{}{WEBHOOK_PATH}", self.server.base()),
        )
        .replace(
            "{{dead_url}}",
            &format!("http://127.0.0.1:{}/dead", self.dead_port),
        )
        .replace("{{mock_base}}", &self.server.base())
    }
}

/// The token a vectors request names, minted, with its `exp`.
fn token_of(mocks: &Mocks, req: &Value) -> (Option<String>, Option<i64>) {
    let token = req
        .get("token")
        .map(|t| mint(&serde_json::from_str(&mocks.fill(&t.to_string())).expect("json")));
    let exp = req
        .get("token")
        .and_then(|t| t.get("exp_in"))
        .and_then(Value::as_i64)
        .map(|d| now() + d);
    (token, exp)
}

/// The headers of a vectors request, in order, `{{token}}` replaced (a list value gives one header per item).
fn headers_of(req: &Value, token: Option<&str>) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, v) in req
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let values: Vec<&Value> = match v {
            Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for v in values {
            let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            out.push((
                name.clone(),
                text.replace("{{token}}", token.unwrap_or_default()),
            ));
        }
    }
    out
}

/// Send one vectors request with `token`; returns the answer (an unreadable body taken as empty: `check` judges it).
async fn send(svc: &Service, req: &Value, token: Option<&str>) -> Answer {
    let method = req.get("method").and_then(Value::as_str).unwrap_or("GET");
    let path = req.get("path").and_then(Value::as_str).unwrap_or("/");
    let mut rb = common::http::client().request(method.parse().expect("method"), svc.url(path));
    for (name, text) in headers_of(req, token) {
        let value =
            reqwest::header::HeaderValue::from_bytes(text.as_bytes()).expect("header value");
        rb = rb.header(name.as_str(), value);
    }
    if let Some(b) = req.get("body").and_then(Value::as_str) {
        rb = rb.body(b.to_owned());
    }
    send_tolerant(rb).await
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_lowercase))
                .collect()
        })
        .unwrap_or_default()
}

/// Check one answer against `expect` and the rules that apply to every answer. Returns the problems found.
fn check(
    id: &str,
    method: &str,
    expect: &Value,
    (answer, exp): &(Answer, Option<i64>),
) -> Vec<String> {
    let Answer {
        status,
        headers,
        body,
        ..
    } = answer;
    let mut p = Vec::new();
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let want = expect["status"].as_u64().unwrap_or(0) as u16;
    if *status != want {
        p.push(format!("{id}: status {status}, want {want}; body {body}"));
        return p;
    }
    let hasura: Vec<(String, String)> = headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("x-hasura-"))
        .map(|(n, v)| {
            (
                n.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if let Some(want) = expect.get("headers").and_then(Value::as_object) {
        for (n, v) in want {
            let v = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
            let got = headers
                .get(n.as_str())
                .map(|x| String::from_utf8_lossy(x.as_bytes()).into_owned());
            if got.as_deref() != Some(v.as_str()) {
                p.push(format!("{id}: header {n} = {got:?}, want {v:?}"));
            }
        }
        if *status == 200 {
            for (n, _) in &hasura {
                if !want.contains_key(n) {
                    p.push(format!("{id}: unexpected session header {n}"));
                }
            }
        }
    }
    for n in strings(expect.get("absent_headers")) {
        if headers.contains_key(n.as_str()) {
            p.push(format!("{id}: header {n} must be absent"));
        }
    }
    if let Some(want) = expect.get("headers_to_remove") {
        let mut want = strings(Some(want));
        want.sort();
        let mut got: Vec<String> = h("x-envoy-auth-headers-to-remove")
            .map(|v| {
                v.split(',')
                    .map(|s| s.trim().to_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        got.sort();
        if got != want {
            p.push(format!("{id}: headers to remove {got:?}, want {want:?}"));
        }
    }
    if let Some(w) = expect.get("www_authenticate").and_then(Value::as_str) {
        let got = h("www-authenticate").unwrap_or_default();
        let ok = match w.strip_suffix('*') {
            Some(prefix) => got.starts_with(prefix),
            None => got == w,
        };
        if !ok {
            p.push(format!("{id}: WWW-Authenticate {got:?}, want {w:?}"));
        }
    }
    let cc = h("cache-control").unwrap_or_default();
    if *status == 200 {
        let max_age = cc
            .split(',')
            .find_map(|d| d.trim().strip_prefix("max-age="))
            .and_then(|n| n.parse::<i64>().ok());
        match max_age {
            Some(n) if cc.contains("private") => {
                if let Some(exp) = exp
                    && n > (exp - now()).max(0) + 1
                {
                    p.push(format!(
                        "{id}: max-age {n} exceeds the token's remaining life"
                    ));
                }
            }
            _ => p.push(format!("{id}: Cache-Control {cc:?} on a 200")),
        }
    } else {
        if !hasura.is_empty() {
            p.push(format!("{id}: session headers on a {status}"));
        }
        if !cc.contains("no-store") {
            p.push(format!("{id}: Cache-Control {cc:?} on a {status}"));
        }
        if *status == 503 && h("retry-after").is_none() {
            p.push(format!("{id}: 503 without Retry-After"));
        }
        if method != "HEAD" {
            match serde_json::from_str::<Value>(body) {
                Ok(b) => {
                    let msg = b.pointer("/errors/0/message").and_then(Value::as_str);
                    let code = b
                        .pointer("/errors/0/extensions/code")
                        .and_then(Value::as_str);
                    if !b["data"].is_null() || msg.is_none() || code.is_none() {
                        p.push(format!("{id}: error body shape {body}"));
                    }
                    if let Some(want) = expect.get("message_contains").and_then(Value::as_str)
                        && !msg.unwrap_or_default().contains(want)
                    {
                        p.push(format!("{id}: message {msg:?} lacks {want:?}"));
                    }
                }
                Err(_) => p.push(format!("{id}: body is not JSON: {body}")),
            }
        }
    }
    p
}

/// Run one runtime case; returns the problems found and the number of requests sent.
async fn run_case(case: &Value) -> (Vec<String>, usize) {
    let id = case["id"].as_str().unwrap_or("?");
    let mocks = Mocks::new(case);
    let env: Vec<(String, String)> = case
        .get("env")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
        .collect();
    let config = mocks.fill(case["config"].as_str().expect("config"));
    // `Service::start` returns once `/healthz` answers.
    let svc = Service::start(&config, &[], &env);
    let expect_ready = case.get("ready").and_then(Value::as_bool).unwrap_or(true);
    let mut problems = Vec::new();
    let mut sent = 0;
    if expect_ready {
        if !svc.wait_ready(Duration::from_secs(10)) {
            return (
                vec![format!("{id}: never became ready; log:\n{}", svc.log())],
                sent,
            );
        }
    } else if let Some(after) = ready_within(&svc, NEVER_READY_WINDOW) {
        problems.push(format!(
            "{id}: /readyz answered 200 {after:?} after start; it must never be ready"
        ));
    }
    let steps: Vec<Value> = match case.get("steps").and_then(Value::as_array) {
        Some(s) => s.clone(),
        None => vec![serde_json::json!({"request": case["request"], "expect": case["expect"]})],
    };
    // Every request is replayed through `explain` after the run (once the mocks' counts are checked), against
    // the mocks as they are then: a case whose mocks change after its first request has no such state.
    let mut replays = Vec::new();
    if steps.iter().skip(1).any(|s| {
        ["jwks_set", "webhook_set", "sleep_s"]
            .iter()
            .any(|k| s.get(*k).is_some())
    }) {
        problems.push(format!(
            "{id}: its mocks change between steps, which the explain replay cannot judge yet"
        ));
    }
    for (i, step) in steps.iter().enumerate() {
        if let Some(j) = step.get("jwks_set") {
            mocks.set_jwks(j);
        }
        if let Some(w) = step.get("webhook_set") {
            mocks.set_webhook(w);
        }
        if let Some(s) = step.get("sleep_s").and_then(Value::as_f64) {
            tokio::time::sleep(Duration::from_secs_f64(s)).await;
        }
        let Some(req) = step.get("request") else {
            continue;
        };
        let minted_at = now();
        let (token, exp) = token_of(&mocks, req);
        let answer = (send(&svc, req, token.as_deref()).await, exp);
        sent += 1;
        let method = req.get("method").and_then(Value::as_str).unwrap_or("GET");
        problems.extend(check(
            &format!("{id}[{i}]"),
            method,
            &step["expect"],
            &answer,
        ));
        replays.push((
            format!("{id}[{i}]"),
            req.clone(),
            token,
            minted_at,
            answer.0,
        ));
    }
    if let Some(f) = case.get("expect_jwks_fetches") {
        let n = mocks.server.count(&mocks.jwks_path) as u64;
        let (min, max) = (
            f["min"].as_u64().unwrap_or(0),
            f["max"].as_u64().unwrap_or(u64::MAX),
        );
        if n < min || n > max {
            problems.push(format!("{id}: {n} JWKS fetches, want {min}..={max}"));
        }
    }
    for path in case
        .pointer("/jwks/expect_not_fetched")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(path) = path.as_str()
            && mocks.server.count(path) > 0
        {
            problems.push(format!("{id}: {path} was fetched"));
        }
    }
    if let Some(w) = case.get("webhook") {
        problems.extend(check_webhook(id, w, &mocks));
    }
    let replayed = replays.len();
    for (label, req, token, at, served) in replays {
        let asked = explain::Asked {
            config: &config,
            headers: headers_of(&req, token.as_deref()),
            at,
            env: env.clone(),
        };
        problems.extend(explain::replay(&label, asked, &req, &served).await);
    }
    if replayed == 0 {
        problems.push(format!("{id}: no request replayed through explain"));
    }
    if !problems.is_empty() {
        problems.push(format!(
            "{id}: service log:\n{}",
            common::tail(&svc.log(), 8)
        ));
    }
    (problems, sent)
}

/// How long a `ready: false` case is watched after `/healthz` answers: the config load and the JWKS fetch at start
/// (an error status or a body that is not a key set, on loopback) take milliseconds, and the first retry of a failed
/// fetch comes about a second later, so a service that wrongly turns ready does so inside this window.
const NEVER_READY_WINDOW: Duration = Duration::from_millis(1500);

/// Poll `/readyz` every 20 ms for `window`; the time since the first poll at which it answered 200, if it did.
fn ready_within(svc: &Service, window: Duration) -> Option<Duration> {
    let started = Instant::now();
    while started.elapsed() < window {
        if common::raw::http_get_status(&svc.admin_url("/readyz")) == Some(200) {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

fn check_webhook(id: &str, w: &Value, mocks: &Mocks) -> Vec<String> {
    let mut p = Vec::new();
    let calls: Vec<_> = mocks
        .server
        .received()
        .into_iter()
        .filter(|r| r.path.starts_with(WEBHOOK_PATH))
        .collect();
    if let Some(n) = w.get("expect_calls").and_then(Value::as_u64)
        && calls.len() as u64 != n
    {
        p.push(format!("{id}: {} webhook calls, want {n}", calls.len()));
    }
    let Some(want) = w.get("expect_received") else {
        return p;
    };
    let Some(first) = calls.first() else {
        p.push(format!("{id}: the webhook was not called"));
        return p;
    };
    if let Some(m) = want.get("method").and_then(Value::as_str)
        && first.method != m
    {
        p.push(format!("{id}: webhook method {}, want {m}", first.method));
    }
    for (n, v) in want
        .get("headers_include")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if first.header(n) != v.as_str() {
            p.push(format!(
                "{id}: webhook header {n} = {:?}, want {v}",
                first.header(n)
            ));
        }
    }
    for n in want
        .get("headers_exclude")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let n = n.as_str().unwrap_or_default();
        if first.header(n).is_some() {
            p.push(format!("{id}: webhook received header {n}"));
        }
    }
    for (n, v) in want
        .get("headers_not_equal")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        if first.header(n).is_some() && first.header(n) == v.as_str() {
            p.push(format!(
                "{id}: webhook header {n} carries the client's value"
            ));
        }
    }
    let body: Value = serde_json::from_slice(&first.body).unwrap_or(Value::Null);
    if let Some(b) = want.get("body")
        && &body != b
    {
        p.push(format!("{id}: webhook body {body}, want {b}"));
    }
    if let Some(b) = want.get("body_include")
        && !subset(b, &body)
    {
        p.push(format!("{id}: webhook body {body} does not include {b}"));
    }
    p
}

fn subset(want: &Value, got: &Value) -> bool {
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w
            .iter()
            .all(|(k, v)| g.get(k).is_some_and(|gv| subset(v, gv))),
        _ => want == got,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_cases_of_the_vectors() {
    let cases = cases();
    // Requests each runtime case must send, by id, from the file.
    let want: BTreeMap<String, usize> = cases
        .iter()
        .filter_map(|c| Some((c["id"].as_str()?.to_owned(), requests_of(c)?)))
        .collect();
    assert_eq!(
        want.len(),
        lines_starting("  request:") + lines_starting("  steps:"),
        "runtime cases parsed vs `  request:` and `  steps:` lines in {VECTORS}"
    );
    // Per case run: how many times it ran, and the requests it sent.
    let mut ran: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        if case.get("load").is_some() {
            continue;
        }
        let id = case["id"].as_str().unwrap_or("?").to_owned();
        let (problems, sent) = run_case(case).await;
        failures.extend(problems);
        let entry = ran.entry(id).or_default();
        entry.0 += 1;
        entry.1 += sent;
    }
    let mut miscounted = Vec::new();
    for (id, requests) in &want {
        match ran.get(id) {
            None => miscounted.push(format!("{id}: not run")),
            Some(&(1, sent)) if sent == *requests => {}
            Some((runs, sent)) => miscounted.push(format!(
                "{id}: run {runs} times, sent {sent} requests, want once with {requests}"
            )),
        }
    }
    for id in ran.keys().filter(|id| !want.contains_key(*id)) {
        miscounted.push(format!("{id}: run, but not a runtime case of the file"));
    }
    assert!(
        miscounted.is_empty(),
        "the run does not match the {} runtime cases of the file:\n{}",
        want.len(),
        miscounted.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
