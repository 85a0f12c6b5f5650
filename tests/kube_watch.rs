//! `authgate serve --configmap NS/NAME` with the real kube-rs client against a local HTTP server that speaks the
//! Kubernetes list/watch protocol for ConfigMaps: initial list, ADDED/MODIFIED/DELETED, BOOKMARK, a watch connection
//! that drops and is resumed, and a `410 Gone` that forces a relist.

#[path = "kube_watch/api.rs"]
mod api;
mod common;
#[path = "kube_watch/selector.rs"]
mod selector;
#[path = "kube_watch/serve_selector.rs"]
mod serve_selector;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use api::{Feed, Served};
use common::configs::noauth_config;
use common::service::{RELOADS_ERR, Service, metric, ready};
use common::temp_dir;
use serde_json::{Value, json};

const NS: &str = "auth";
const NAME: &str = "authgate-config";

fn noauth(role: &str) -> String {
    noauth_config(role, &[])
}

#[derive(Default)]
struct ApiState {
    object: Option<Value>,
    feed: Feed,
}

impl Served for ApiState {
    fn selects(target: &str) -> bool {
        target.contains("metadata.name%3D")
    }
    fn items(&self) -> Vec<Value> {
        self.object.iter().cloned().collect()
    }
    fn feed(&mut self) -> &mut Feed {
        &mut self.feed
    }
}

/// A fake API server: serves list and watch of one ConfigMap.
struct FakeApi {
    port: u16,
    state: Arc<Mutex<ApiState>>,
    stop: Arc<AtomicBool>,
}

impl FakeApi {
    fn start(initial: Option<&str>) -> Self {
        let state = Arc::new(Mutex::new(ApiState::default()));
        let (port, stop) = api::listen(state.clone());
        let api = FakeApi { port, state, stop };
        if let Some(text) = initial {
            api.set(text);
        }
        api
    }

    fn object(rv: u64, text: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": NAME, "namespace": NS, "resourceVersion": rv.to_string(),
                            "labels": {"authgate.io/authconfig": "true"}},
               "data": {"authconfig.yaml": text}})
    }

    /// Create or modify the object.
    fn set(&self, text: &str) {
        let mut st = self.state.lock().expect("lock");
        st.feed.rv += 1;
        let obj = Self::object(st.feed.rv, text);
        let kind = if st.object.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        st.object = Some(obj.clone());
        st.feed.publish(&json!({"type": kind, "object": obj}));
    }

    fn delete(&self) {
        let mut st = self.state.lock().expect("lock");
        st.feed.rv += 1;
        if let Some(mut obj) = st.object.take() {
            obj["metadata"]["resourceVersion"] = st.feed.rv.to_string().into();
            st.feed.publish(&json!({"type": "DELETED", "object": obj}));
        }
    }

    fn bookmark(&self) {
        let mut st = self.state.lock().expect("lock");
        st.feed.rv += 1;
        let ev = json!({"type": "BOOKMARK", "object": {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"resourceVersion": st.feed.rv.to_string()}}});
        st.feed.publish(&ev);
    }

    /// Close every open watch connection (the client must resume).
    fn drop_watches(&self) {
        self.state.lock().expect("lock").feed.drop_watches();
    }

    fn counts(&self) -> (usize, usize) {
        let st = self.state.lock().expect("lock");
        (st.feed.lists, st.feed.watches)
    }

    fn kubeconfig(&self) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: http://127.0.0.1:{}\nusers:\n- name: u\n  user:\n    token: test-token\ncontexts:\n- name: c\n  context:\n    cluster: fake\n    user: u\n    namespace: {NS}\ncurrent-context: c\n",
            self.port
        )
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.drop_watches();
    }
}

fn role(svc: &Service) -> Option<String> {
    common::raw::get(&svc.url("/"))?
        .header("x-hasura-role")
        .map(str::to_owned)
}

fn wait_role(svc: &Service, want: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if role(svc).as_deref() == Some(want) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn start(api: &FakeApi) -> Service {
    let dir = temp_dir("kube");
    let kubeconfig = dir.join("kubeconfig");
    std::fs::write(&kubeconfig, api.kubeconfig()).expect("kubeconfig");
    let source = ["--configmap".to_owned(), format!("{NS}/{NAME}")];
    let env = [
        ("KUBECONFIG".to_owned(), kubeconfig.display().to_string()),
        ("KUBERNETES_SERVICE_HOST".to_owned(), String::new()),
    ];
    Service::start_with(&source, &dir.join("authgate"), &[], &env)
}

fn errors(svc: &Service) -> f64 {
    metric(&svc.metrics(), RELOADS_ERR).unwrap_or(0.0)
}

#[test]
fn configmap_watch_applies_changes_keeps_last_good_and_recovers() {
    let api = FakeApi::start(Some(&noauth("admin")));
    let svc = start(&api);
    ready(&svc);
    assert_eq!(
        role(&svc).as_deref(),
        Some("admin"),
        "the initial list is served"
    );

    api.set(&noauth("editor"));
    assert!(
        wait_role(&svc, "editor", Duration::from_secs(1)),
        "MODIFIED not applied within 1 s:\n{}",
        svc.log()
    );

    api.set("kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      rolee: x\n");
    let deadline = Instant::now() + Duration::from_secs(3);
    while errors(&svc) < 1.0 {
        assert!(
            Instant::now() < deadline,
            "invalid config not counted:\n{}",
            svc.metrics()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        role(&svc).as_deref(),
        Some("editor"),
        "an invalid ConfigMap must not replace the good one"
    );

    // The DELETED event must have been processed before the role is checked (a fixed sleep would pass whether or
    // not it was): the watcher logs it.
    let gone_logged = |svc: &Service| svc.log().matches("the ConfigMap is gone").count();
    assert_eq!(gone_logged(&svc), 0, "no delete yet:\n{}", svc.log());
    api.delete();
    let deadline = Instant::now() + Duration::from_secs(5);
    while gone_logged(&svc) == 0 {
        assert!(
            Instant::now() < deadline,
            "the DELETED event was not processed within 5 s:\n{}",
            svc.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(gone_logged(&svc), 1, "one DELETED event, one log line");
    assert_eq!(
        role(&svc).as_deref(),
        Some("editor"),
        "a deleted ConfigMap keeps the last good config"
    );
    assert!(svc.wait_ready(Duration::from_secs(1)));

    api.bookmark();
    api.set(&noauth("viewer"));
    assert!(
        wait_role(&svc, "viewer", Duration::from_secs(1)),
        "ADDED after delete not applied:\n{}",
        svc.log()
    );

    // The watch connection drops: the client resumes and sees the next change.
    let (_, watches_before) = api.counts();
    api.drop_watches();
    let deadline = Instant::now() + Duration::from_secs(10);
    while api.counts().1 <= watches_before {
        assert!(Instant::now() < deadline, "the watch was not resumed");
        std::thread::sleep(Duration::from_millis(20));
    }
    api.set(&noauth("resumed"));
    assert!(
        wait_role(&svc, "resumed", Duration::from_secs(2)),
        "change after a resumed watch:\n{}",
        svc.log()
    );

    // 410 Gone on the next watch: the client relists and still follows the object.
    let (lists_before, _) = api.counts();
    api.state.lock().expect("lock").feed.gone_next_watch = true;
    api.drop_watches();
    let deadline = Instant::now() + Duration::from_secs(15);
    while api.counts().0 <= lists_before {
        assert!(
            Instant::now() < deadline,
            "no relist after 410 Gone:\n{}",
            svc.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    api.set(&noauth("relisted"));
    assert!(
        wait_role(&svc, "relisted", Duration::from_secs(5)),
        "change after relist:\n{}",
        svc.log()
    );
    assert_eq!(
        errors(&svc),
        1.0,
        "only the one invalid version counts as an error"
    );
}

#[test]
fn missing_configmap_keeps_the_service_up_but_not_ready() {
    let api = FakeApi::start(None);
    let svc = start(&api);
    std::thread::sleep(Duration::from_millis(500));
    assert_ne!(
        common::raw::http_get_status(&svc.admin_url("/readyz")),
        Some(200)
    );
    api.set(&noauth("late"));
    assert!(
        svc.wait_ready(Duration::from_secs(5)),
        "not ready after the ConfigMap appeared:\n{}",
        svc.log()
    );
    assert_eq!(role(&svc).as_deref(), Some("late"));
}
