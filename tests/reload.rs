//! Hot reload of the config file (policy §9, §11), black-box against the real `authgate serve` on 127.0.0.1: a
//! valid change takes effect quickly, an invalid one is ignored, logged and counted, the Kubernetes ConfigMap
//! symlink swap is picked up, and a service whose config never loaded stays up and becomes ready once a valid
//! config appears. (A hundred reloads under load is a load test: it is in tests/timing.rs, where it runs alone.)

mod common;
#[path = "reload/multi.rs"]
mod multi;
#[path = "reload/serve_multi.rs"]
mod serve_multi;

use std::time::{Duration, Instant};

use common::configs::noauth_config;
use common::http::{counter, decide_session as decide, scrape};
use common::raw::http_get_status;
use common::service::{RELOADS_ERR, RELOADS_OK, Service, metric, ready, started};
use common::write_atomic;
use serde_json::Value;

fn noauth(role: &str) -> String {
    noauth_config(role, &[("x-hasura-user-id", "1")])
}

/// Poll a counter until it reaches `want` (a reload is visible to requests a moment before it is counted), at
/// most for 1 s; returns the last value read.
async fn counter_reaches(client: &reqwest::Client, svc: &Service, series: &str, want: f64) -> f64 {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let got = counter(client, svc, series).await;
        if got >= want || Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Poll until the data listener answers with `role`, at most until `deadline`. Returns the last role seen.
async fn wait_role(
    client: &reqwest::Client,
    svc: &Service,
    role: &str,
    deadline: Instant,
) -> Option<String> {
    let mut last = None;
    loop {
        if let Ok((200, r, _)) = decide(client, svc, None).await {
            last = r;
            if last.as_deref() == Some(role) {
                return last;
            }
        }
        if Instant::now() >= deadline {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_valid_change_takes_effect_within_one_second() {
    let svc = started(&noauth("admin"), &[]);
    let client = common::http::client();
    let (status, role, _) = decide(&client, &svc, None).await.expect("first decision");
    assert_eq!((status, role.as_deref()), (200, Some("admin")));

    // An editor-style in-place write, with the default reload interval.
    std::fs::write(&svc.config_path, noauth("viewer")).expect("rewrite config");
    let deadline = Instant::now() + Duration::from_secs(1);
    let seen = wait_role(&client, &svc, "viewer", deadline).await;
    assert_eq!(
        seen.as_deref(),
        Some("viewer"),
        "the new role did not arrive within 1 s of the write; log:\n{}",
        svc.log()
    );
    assert_eq!(counter_reaches(&client, &svc, RELOADS_OK, 2.0).await, 2.0);
    assert_eq!(
        http_get_status(&svc.admin_url("/readyz")),
        Some(200),
        "still ready after the reload"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_change_is_ignored_logged_and_counted() {
    let svc = started(&noauth("admin"), &[]);
    let client = common::http::client();
    let errors_before = counter(&client, &svc, RELOADS_ERR).await;
    assert_eq!(errors_before, 0.0);

    // A typo in a field name: `rolee` is not an AuthConfig field.
    let broken = noauth("viewer").replace("role: viewer", "rolee: viewer");
    write_atomic(&svc.config_path, &broken);

    let deadline = Instant::now() + Duration::from_secs(2);
    let mut errors = errors_before;
    while errors < errors_before + 1.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        errors = counter(&client, &svc, RELOADS_ERR).await;
    }
    assert_eq!(
        errors,
        errors_before + 1.0,
        "the rejected reload was not counted; log:\n{}",
        svc.log()
    );

    // The old config keeps answering, and the service stays ready.
    for _ in 0..5 {
        let (status, role, user) = decide(&client, &svc, None).await.expect("decision");
        assert_eq!(
            (status, role.as_deref(), user.as_deref()),
            (200, Some("admin"), Some("1"))
        );
    }
    assert_eq!(http_get_status(&svc.admin_url("/readyz")), Some(200));

    // Logged at error level, naming the offending field.
    let log = svc.log();
    let logged = log.lines().any(|l| {
        serde_json::from_str::<Value>(l).is_ok_and(|v| {
            v["level"]
                .as_str()
                .is_some_and(|s| s.eq_ignore_ascii_case("error"))
                && l.contains("rolee")
        })
    });
    assert!(
        logged,
        "no error log line names the field `rolee`; log:\n{log}"
    );

    // The same broken file sitting there for several more polls is one rejected reload, not one per poll.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        counter(&client, &svc, RELOADS_ERR).await,
        errors_before + 1.0
    );
    assert_eq!(counter(&client, &svc, RELOADS_OK).await, 1.0);

    // Fixing the file is picked up.
    write_atomic(&svc.config_path, &noauth("viewer"));
    let seen = wait_role(
        &client,
        &svc,
        "viewer",
        Instant::now() + Duration::from_secs(1),
    )
    .await;
    assert_eq!(seen.as_deref(), Some("viewer"), "log:\n{}", svc.log());
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_configmap_style_symlink_swap_is_picked_up_within_one_second() {
    use std::os::unix::fs::symlink;

    // The layout kubelet makes for a mounted ConfigMap:
    //   authconfig.yaml -> ..data/authconfig.yaml
    //   ..data -> ..2024_05_01_10_00_00.000000001
    let dir = common::temp_dir("configmap");
    let first = "..2024_05_01_10_00_00.000000001";
    std::fs::create_dir(dir.join(first)).expect("timestamped dir");
    std::fs::write(dir.join(first).join("authconfig.yaml"), noauth("admin")).expect("write config");
    symlink(first, dir.join("..data")).expect("..data symlink");
    symlink("..data/authconfig.yaml", dir.join("authconfig.yaml")).expect("config symlink");

    let svc = Service::start_at(&dir.join("authconfig.yaml"), &[], &[]);
    ready(&svc);
    let client = common::http::client();
    let (status, role, _) = decide(&client, &svc, None).await.expect("decision");
    assert_eq!((status, role.as_deref()), (200, Some("admin")));

    // kubelet's update: a new timestamped dir, a new symlink, renamed over `..data`, then the old dir removed.
    let second = "..2024_05_01_10_05_00.000000002";
    std::fs::create_dir(dir.join(second)).expect("new timestamped dir");
    std::fs::write(dir.join(second).join("authconfig.yaml"), noauth("viewer"))
        .expect("write new config");
    symlink(second, dir.join("..data_tmp")).expect("..data_tmp symlink");
    std::fs::rename(dir.join("..data_tmp"), dir.join("..data")).expect("swap ..data");
    let swapped = Instant::now();
    std::fs::remove_dir_all(dir.join(first)).expect("remove the old dir");

    let seen = wait_role(&client, &svc, "viewer", swapped + Duration::from_secs(1)).await;
    assert_eq!(
        seen.as_deref(),
        Some("viewer"),
        "the swapped ConfigMap was not picked up within 1 s; log:\n{}",
        svc.log()
    );
    assert_eq!(counter_reaches(&client, &svc, RELOADS_OK, 2.0).await, 2.0);
    assert_eq!(counter(&client, &svc, RELOADS_ERR).await, 0.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_a_loadable_config_stays_up_and_becomes_ready_later() {
    let broken =
        "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      role: admin\n";
    let svc = Service::start(broken, &[], &[]);
    let client = common::http::client();

    // Give the watcher time to try (and fail) to load.
    let deadline = Instant::now() + Duration::from_secs(2);
    while counter(&client, &svc, RELOADS_ERR).await < 1.0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(counter(&client, &svc, RELOADS_ERR).await, 1.0);
    assert_eq!(counter(&client, &svc, RELOADS_OK).await, 0.0);

    assert_eq!(http_get_status(&svc.admin_url("/healthz")), Some(200));
    assert_eq!(http_get_status(&svc.admin_url("/readyz")), Some(503));

    let resp = client
        .get(svc.url("/some/path"))
        .send()
        .await
        .expect("decision");
    assert_eq!(resp.status().as_u16(), 503);
    assert!(
        resp.headers().get("retry-after").is_some(),
        "503 without Retry-After"
    );
    assert!(
        resp.headers().get("x-hasura-role").is_none(),
        "no session on an error"
    );
    let body: Value =
        serde_json::from_str(&resp.text().await.expect("body")).expect("JSON error body");
    assert_eq!(body["data"], Value::Null);
    assert_eq!(body["errors"][0]["extensions"]["code"], "no_config");
    let scrape = scrape(&client, &svc).await;
    assert_eq!(
        metric(
            &scrape,
            "authgate_requests_total{decision=\"error\",reason=\"no_config\",transport=\"http\"}"
        ),
        Some(1.0)
    );

    // A valid config written later makes it ready and answering.
    write_atomic(&svc.config_path, &noauth("admin"));
    assert!(
        svc.wait_ready(Duration::from_secs(2)),
        "not ready after a valid config was written; log:\n{}",
        svc.log()
    );
    let (status, role, _) = decide(&client, &svc, None).await.expect("decision");
    assert_eq!((status, role.as_deref()), (200, Some("admin")));
    assert_eq!(counter_reaches(&client, &svc, RELOADS_OK, 1.0).await, 1.0);
}
