//! `authgate serve --configmap-selector` end to end: the real binary, its kube-rs client pointed by a kubeconfig at
//! the label-filtering list/watch server of the selector tests, and every answer read through `/configs/<name>` on
//! the data listener: ConfigMaps added, changed, broken and fixed, deleted or unlabelled (served through the grace,
//! then `unknown_config`), and a `410 Gone` relist under a client that must see no failed request.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::common::raw::{Reply, get, http_get};
use super::common::service::Service;
use super::common::temp_dir;
use super::selector::{FakeApi, LABEL};
use super::{NS, noauth};

const BROKEN: &str =
    "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      rolee: x\n";

fn start(api: &FakeApi, grace_secs: &str) -> Service {
    let dir = temp_dir("kube-selector-e2e");
    let kubeconfig = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{}\nusers:\n- name: u\n  user:\n    token: test-token\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\ncurrent-context: c\n",
        api.port
    );
    std::fs::write(&kubeconfig, text).expect("kubeconfig");
    let source = [
        "--configmap-selector".to_owned(),
        format!("{}={}", LABEL.0, LABEL.1),
        "--configmap-namespace".to_owned(),
        NS.to_owned(),
        "--config-removal-grace".to_owned(),
        grace_secs.to_owned(),
    ];
    let env = [
        ("KUBECONFIG".to_owned(), kubeconfig.display().to_string()),
        ("KUBERNETES_SERVICE_HOST".to_owned(), String::new()),
    ];
    Service::start_with(&source, &dir.join("authgate"), &[], &env)
}

fn ask(svc: &Service, target: &str) -> Reply {
    get(&svc.url(target)).unwrap_or_else(|| panic!("GET {target} failed"))
}

fn role(svc: &Service, target: &str) -> Option<String> {
    ask(svc, target).header("x-hasura-role").map(str::to_owned)
}

/// `errors[0].extensions.code` of a 503, with its status.
fn refusal(svc: &Service, target: &str) -> (u16, Option<String>) {
    let r = ask(svc, target);
    let code = serde_json::from_slice::<Value>(&r.body).ok().and_then(|v| {
        v.pointer("/errors/0/extensions/code")?
            .as_str()
            .map(str::to_owned)
    });
    (r.status, code)
}

fn config_entry(svc: &Service, name: &str) -> Option<Value> {
    let (_, body) = http_get(&svc.admin_url("/readyz"))?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["configs"]
        .as_array()?
        .iter()
        .find(|c| c["name"] == name)
        .cloned()
}

/// Poll `check` every 20 ms for at most `within`.
fn eventually(within: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn serve_with_a_selector_follows_configmaps_through_the_config_prefix() {
    let api = FakeApi::start();
    api.put("one", true, None, Some(&noauth("a")));
    api.put("rel-two", true, Some("tenant-b"), Some(&noauth("b")));
    api.put("unrelated", false, None, Some(&noauth("u")));
    let svc = start(&api, "1");
    assert!(svc.wait_ready(Duration::from_secs(10)), "{}", svc.log());
    let within = Duration::from_secs(5);

    // The initial list: by name, by annotation; the ConfigMap's own name of an annotated one, an unlabelled one
    // and no prefix at all are not configs.
    assert!(
        eventually(within, || role(&svc, "/configs/one/q").as_deref()
            == Some("a")),
        "{}",
        svc.log()
    );
    assert_eq!(role(&svc, "/configs/tenant-b").as_deref(), Some("b"));
    for target in ["/configs/rel-two", "/configs/unrelated", "/"] {
        assert_eq!(
            refusal(&svc, target),
            (503, Some("unknown_config".to_owned())),
            "{target}"
        );
    }

    // Changed.
    api.put("one", true, None, Some(&noauth("a2")));
    assert!(
        eventually(within, || role(&svc, "/configs/one").as_deref()
            == Some("a2")),
        "MODIFIED not served:\n{}",
        svc.log()
    );

    // Added broken: no_config and /readyz says why; fixed: served.
    api.put("three", true, None, Some(BROKEN));
    assert!(
        eventually(within, || config_entry(&svc, "three").is_some()),
        "{}",
        svc.log()
    );
    let three = config_entry(&svc, "three").expect("listed");
    assert_eq!(three["state"], "failed", "{three}");
    assert!(
        three["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("rolee")),
        "{three}"
    );
    assert_eq!(
        refusal(&svc, "/configs/three"),
        (503, Some("no_config".to_owned()))
    );
    api.put("three", true, None, Some(&noauth("c")));
    assert!(
        eventually(within, || role(&svc, "/configs/three").as_deref()
            == Some("c")),
        "fixed ConfigMap not served:\n{}",
        svc.log()
    );

    // One deleted, one unlabelled: both serve through the grace, shown as removal_pending, then are unknown.
    api.put("three", true, None, None);
    api.put("rel-two", false, Some("tenant-b"), Some(&noauth("b")));
    let removed = Instant::now();
    assert!(
        eventually(within, || {
            ["three", "tenant-b"]
                .iter()
                .all(|n| config_entry(&svc, n).is_some_and(|e| e["state"] == "removal_pending"))
        }),
        "never removal_pending:\n{}",
        svc.log()
    );
    assert_eq!(role(&svc, "/configs/three").as_deref(), Some("c"));
    assert_eq!(role(&svc, "/configs/tenant-b").as_deref(), Some("b"));
    assert!(
        eventually(within, || {
            refusal(&svc, "/configs/three").1.as_deref() == Some("unknown_config")
                && refusal(&svc, "/configs/tenant-b").1.as_deref() == Some("unknown_config")
        }),
        "not removed after the grace:\n{}",
        svc.log()
    );
    assert!(
        removed.elapsed() >= Duration::from_secs(1),
        "removed inside the grace"
    );
    assert!(config_entry(&svc, "three").is_none() && config_entry(&svc, "tenant-b").is_none());

    // 410 Gone forces a relist; a client asking for `one` all along sees no failed request.
    let stop = Arc::new(AtomicBool::new(false));
    let url = svc.url("/configs/one");
    let hammer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let (mut sent, mut failures) = (0u32, Vec::new());
            let deadline = Instant::now() + Duration::from_secs(30);
            while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                sent += 1;
                match get(&url) {
                    Some(r) if r.status == 200 && r.header("x-hasura-role") == Some("a2") => {}
                    Some(r) => {
                        failures.push(format!("{} {:?}", r.status, r.header("x-hasura-role")))
                    }
                    None => failures.push("no answer".to_owned()),
                }
            }
            (sent, failures)
        })
    };
    // Log lines that a relist mistaken for changes would add: a removal, or `one` loaded again.
    let churn = |svc: &Service| {
        let log = svc.log();
        (
            log.matches("AuthConfig removed from its source").count(),
            log.lines()
                .filter(|l| l.contains("\"AuthConfig loaded\"") && l.contains("\"config\":\"one\""))
                .count(),
        )
    };
    let churn_before = churn(&svc);
    let lists = api.lists();
    api.state.lock().expect("lock").feed.gone_next_watch = true;
    api.drop_watches();
    assert!(
        eventually(Duration::from_secs(15), || api.lists() > lists),
        "no relist after 410 Gone:\n{}",
        svc.log()
    );
    // Past the grace: a relist that dropped `one` even for a moment would have removed it by now.
    std::thread::sleep(Duration::from_millis(1500));
    stop.store(true, Ordering::Relaxed);
    let (sent, failures) = hammer.join().expect("hammer thread");
    assert!(sent >= 20, "only {sent} requests");
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed across the relist: {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(5)],
        svc.log()
    );
    assert_eq!(
        churn(&svc),
        churn_before,
        "the relist removed or reloaded a config:\n{}",
        svc.log()
    );
    // And the watch still follows the objects after it.
    api.put("one", true, None, Some(&noauth("a3")));
    assert!(
        eventually(within, || role(&svc, "/configs/one").as_deref()
            == Some("a3")),
        "change after the relist not served:\n{}",
        svc.log()
    );
}
