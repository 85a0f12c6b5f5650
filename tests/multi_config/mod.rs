//! Multi-config selection through the real actix data listener on loopback (policy §13), a module of the `metrics`
//! test binary: the gate is built in-process in multi-config mode (the flags that choose it belong to `serve`),
//! and every request is sent as raw bytes, so the path reaches the listener exactly as written (`%61` stays
//! `%61`). Then `/readyz` and the `config`-labelled series of the same process.

use std::sync::Arc;
use std::time::Duration;

use authgate::clock::SystemClock;
use authgate::config::{LoadOptions, load_str};
use authgate::gate::{Gate, GateSettings};
use authgate::listeners::{RunOptions, admin_server, bind, data_server};
use authgate::metrics::Metrics;
use serde_json::Value;

use super::common::configs::{hs256_config, noauth_config};
use super::common::raw::{Reply, request};
use super::hs_token;

const SECRET_A: &str = "config-a-secret-0123456789-0123456789";
const SECRET_B: &str = "config-b-secret-0123456789-0123456789";

/// The data and admin listeners of `gate` on loopback ports.
fn listen(gate: Arc<Gate>, metrics: Arc<Metrics>) -> (String, String) {
    let data_l = bind("127.0.0.1:0", 64).expect("bind data");
    let admin_l = bind("127.0.0.1:0", 64).expect("bind admin");
    let data = data_l.local_addr().expect("addr").to_string();
    let admin = admin_l.local_addr().expect("addr").to_string();
    let opts = RunOptions {
        listen: data.clone(),
        admin_listen: admin.clone(),
        workers: 1,
        shutdown_delay: 0,
        shutdown_timeout: 1,
        max_connections: 64,
        metrics: metrics.clone(),
        grpc: None,
    };
    // Dropping the handle would stop the listener: it serves for the rest of the test process.
    std::mem::forget(data_server(gate.clone(), data_l, &opts).expect("data server"));
    tokio::spawn(admin_server(gate, metrics, admin_l).expect("admin server"));
    (data, admin)
}

fn load(gate: &Gate, name: &str, text: &str) {
    let loaded = load_str(text, &LoadOptions::default()).expect("config loads");
    gate.config_loaded(name, loaded.config);
}

/// One raw GET of `target`, with a Bearer token when given.
async fn get(host: &str, target: &str, token: Option<&str>) -> Reply {
    let (host, target) = (host.to_owned(), target.to_owned());
    let headers: Vec<(String, String)> = token
        .map(|t| vec![("Authorization".to_owned(), format!("Bearer {t}"))])
        .unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        request(
            &host,
            "GET",
            &target,
            &headers,
            b"",
            Duration::from_secs(10),
        )
    })
    .await
    .expect("request task")
    .unwrap_or_else(|e| panic!("GET {e}"))
}

fn code(r: &Reply) -> Option<String> {
    let v: Value = serde_json::from_slice(&r.body).ok()?;
    v.pointer("/errors/0/extensions/code")?
        .as_str()
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_path_prefix_selects_the_config_by_raw_bytes() {
    let metrics = Arc::new(Metrics::multi_config());
    let gate = Arc::new(
        Gate::new(
            GateSettings::default(),
            metrics.clone(),
            Arc::new(SystemClock),
        )
        .expect("gate")
        .with_multi_config(),
    );
    load(&gate, "a", &hs256_config(SECRET_A));
    load(&gate, "b", &hs256_config(SECRET_B));
    load(&gate, "open", &noauth_config("guest", &[]));
    gate.config_failed(
        "broken",
        "definition.mode: expected one of jwt, webhook, noAuth",
    );
    let (data, admin) = listen(gate.clone(), metrics.clone());
    let ta = hs_token(SECRET_A, "1", 3600, true);

    let rows: [(&str, Option<&str>, u16, Option<&str>); 16] = [
        ("/configs/a", Some(&ta), 200, None),
        ("/configs/a/", Some(&ta), 200, None),
        ("/configs/a/graphql", Some(&ta), 200, None),
        ("/configs/a?x=1", Some(&ta), 200, None),
        // The client's own path after the name is never read: a client asking for b through a's route gets a.
        ("/configs/a/configs/b/graphql", Some(&ta), 200, None),
        (
            "/configs/b/graphql",
            Some(&ta),
            401,
            Some("invalid_signature"),
        ),
        (
            "/configs/b/configs/a",
            Some(&ta),
            401,
            Some("invalid_signature"),
        ),
        ("/configs/open/x", None, 200, None),
        (
            "/configs/%61/graphql",
            Some(&ta),
            503,
            Some("unknown_config"),
        ),
        (
            "/configs/ab/graphql",
            Some(&ta),
            503,
            Some("unknown_config"),
        ),
        ("/configs/A/graphql", Some(&ta), 503, Some("unknown_config")),
        (
            "/configs//a/graphql",
            Some(&ta),
            503,
            Some("unknown_config"),
        ),
        ("/configs", Some(&ta), 503, Some("unknown_config")),
        ("/graphql", Some(&ta), 503, Some("unknown_config")),
        ("/x/configs/a", Some(&ta), 503, Some("unknown_config")),
        ("/configs/broken/graphql", Some(&ta), 503, Some("no_config")),
    ];
    for (target, token, status, want) in rows {
        let r = get(&data, target, token).await;
        assert_eq!(r.status, status, "{target}");
        assert_eq!(code(&r).as_deref(), want, "{target}");
        if status == 503 {
            // Like every 503: not cached, retried later, a JSON body.
            assert_eq!(r.header("cache-control"), Some("no-store"), "{target}");
            assert_eq!(r.header("retry-after"), Some("5"), "{target}");
            assert_eq!(
                r.header("content-type"),
                Some("application/json"),
                "{target}"
            );
        }
    }
    let open = get(&data, "/configs/open", None).await;
    assert_eq!(open.header("x-hasura-role"), Some("guest"));

    // /readyz: ready (a, b and open are usable), one entry per config with its state and last error.
    let ready = get(&admin, "/readyz", None).await;
    assert_eq!(ready.status, 200);
    let body: Value = serde_json::from_slice(&ready.body).expect("/readyz is JSON");
    assert_eq!(body["ready"], true);
    let configs = body["configs"].as_array().expect("configs");
    let names: Vec<&str> = configs.iter().filter_map(|c| c["name"].as_str()).collect();
    assert_eq!(names, ["a", "b", "broken", "open"]);
    assert_eq!(configs[0]["state"], "ready");
    assert_eq!(configs[2]["state"], "failed");
    assert_eq!(
        configs[2]["last_error"],
        "definition.mode: expected one of jwt, webhook, noAuth"
    );
    let text = String::from_utf8_lossy(&ready.body);
    assert!(
        !text.contains(SECRET_A) && !text.contains(SECRET_B),
        "{text}"
    );

    // The metrics: per config; the unknown names are no label; the histogram has no config label.
    let scrape = metrics.render().expect("render");
    let count = |series: &str| {
        scrape
            .lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .parse::<f64>()
                    .ok()
            })
            .unwrap_or_else(|| panic!("{series} not in:\n{scrape}"))
    };
    let req = |config: &str, decision: &str, reason: &str| {
        format!(
            "authgate_requests_total{{config=\"{config}\",decision=\"{decision}\",reason=\"{reason}\",transport=\"http\"}}"
        )
    };
    assert_eq!(count(&req("a", "allow", "ok")), 5.0);
    assert_eq!(count(&req("b", "deny", "invalid_signature")), 2.0);
    assert_eq!(count(&req("open", "allow", "ok")), 2.0);
    assert_eq!(count(&req("", "error", "unknown_config")), 7.0);
    assert_eq!(count(&req("broken", "error", "no_config")), 1.0);
    assert_eq!(count(&req("b", "allow", "ok")), 0.0);
    assert_eq!(count("authgate_request_duration_seconds_count"), 17.0);
    assert_eq!(
        count("authgate_config_reloads_total{config=\"broken\",result=\"error\"}"),
        1.0
    );
    assert_eq!(
        count("authgate_config_reloads_total{config=\"a\",result=\"success\"}"),
        1.0
    );
    assert_eq!(
        count("authgate_decision_cache_hits_total{config=\"a\"}"),
        4.0
    );
    assert_eq!(
        count("authgate_decision_cache_misses_total{config=\"a\"}"),
        1.0
    );
    for leaked in ["%61", "\"ab\"", "\"A\""] {
        assert!(!scrape.contains(leaked), "{leaked} in the scrape");
    }
    assert!(!scrape.contains("request_duration_seconds_bucket{config"));

    // Removed after its grace: its requests become unknown_config, and readiness follows the others.
    gate.config_removal_pending("a");
    assert_eq!(get(&data, "/configs/a", Some(&ta)).await.status, 200);
    gate.config_removed("a");
    let gone = get(&data, "/configs/a", Some(&ta)).await;
    assert_eq!(
        (gone.status, code(&gone).as_deref()),
        (503, Some("unknown_config"))
    );
    let scrape = metrics.render().expect("render");
    assert!(scrape.contains("authgate_config_reloads_total{config=\"a\",result=\"removed\"} 1\n"));
    for name in ["b", "open"] {
        gate.config_removed(name);
    }
    let not_ready = get(&admin, "/readyz", None).await;
    assert_eq!(
        not_ready.status, 503,
        "only a config that never loaded is left"
    );
    let body: Value = serde_json::from_slice(&not_ready.body).expect("/readyz is JSON");
    assert_eq!(body["ready"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_config_mode_ignores_the_configs_prefix() {
    let metrics = Arc::new(Metrics::new());
    let gate = Arc::new(
        Gate::new(
            GateSettings::default(),
            metrics.clone(),
            Arc::new(SystemClock),
        )
        .expect("gate"),
    );
    let loaded = load_str(&hs256_config(SECRET_A), &LoadOptions::default()).expect("loads");
    gate.apply(loaded.config);
    let (data, admin) = listen(gate, metrics.clone());
    let ta = hs_token(SECRET_A, "1", 3600, true);
    for target in [
        "/configs/b/graphql",
        "/configs/nope",
        "/graphql",
        "/configs/%61",
    ] {
        assert_eq!(get(&data, target, Some(&ta)).await.status, 200, "{target}");
    }
    let ready = get(&admin, "/readyz", None).await;
    assert_eq!(
        (ready.status, ready.body.as_slice()),
        (200, &b"ready\n"[..])
    );
    let scrape = metrics.render().expect("render");
    assert!(
        !scrape.contains("config=") && !scrape.contains("unknown_config"),
        "{scrape}"
    );
}
