//! `authgate serve --configmap NS/NAME` with the real kube-rs client against a local HTTP server that speaks the
//! Kubernetes list/watch protocol for ConfigMaps: initial list, ADDED/MODIFIED/DELETED, BOOKMARK, a watch connection
//! that drops and is resumed, and a `410 Gone` that forces a relist.

mod common;
#[path = "kube_watch/selector.rs"]
mod selector;
#[path = "kube_watch/serve_selector.rs"]
mod serve_selector;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    rv: u64,
    watchers: Vec<Sender<Option<String>>>,
    /// Every event with its resourceVersion: a watch from version N first receives the events after N, as the real
    /// API server does, so a change made between a list and the next watch is not lost.
    history: Vec<(u64, String)>,
    gone_next_watch: bool,
    lists: usize,
    watches: usize,
}

/// A fake API server: serves list and watch of one ConfigMap.
struct FakeApi {
    port: u16,
    state: Arc<Mutex<ApiState>>,
    stop: Arc<AtomicBool>,
}

impl FakeApi {
    fn start(initial: Option<&str>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(ApiState::default()));
        let api = FakeApi {
            port,
            state: state.clone(),
            stop: Arc::new(AtomicBool::new(false)),
        };
        if let Some(text) = initial {
            api.set(text);
        }
        let stop = api.stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, _)) => {
                        let (st, sp) = (state.clone(), stop.clone());
                        std::thread::spawn(move || serve(s, &st, &sp));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        api
    }

    fn object(rv: u64, text: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": NAME, "namespace": NS, "resourceVersion": rv.to_string(),
                            "labels": {"authgate.io/authconfig": "true"}},
               "data": {"authconfig.yaml": text}})
    }

    fn broadcast(st: &mut ApiState, event: Value) {
        let line = event.to_string();
        st.history.push((st.rv, line.clone()));
        st.watchers.retain(|w| w.send(Some(line.clone())).is_ok());
    }

    /// Create or modify the object.
    fn set(&self, text: &str) {
        let mut st = self.state.lock().expect("lock");
        st.rv += 1;
        let obj = Self::object(st.rv, text);
        let kind = if st.object.is_some() {
            "MODIFIED"
        } else {
            "ADDED"
        };
        st.object = Some(obj.clone());
        Self::broadcast(&mut st, json!({"type": kind, "object": obj}));
    }

    fn delete(&self) {
        let mut st = self.state.lock().expect("lock");
        st.rv += 1;
        if let Some(mut obj) = st.object.take() {
            obj["metadata"]["resourceVersion"] = st.rv.to_string().into();
            Self::broadcast(&mut st, json!({"type": "DELETED", "object": obj}));
        }
    }

    fn bookmark(&self) {
        let mut st = self.state.lock().expect("lock");
        st.rv += 1;
        let ev = json!({"type": "BOOKMARK", "object": {"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"resourceVersion": st.rv.to_string()}}});
        Self::broadcast(&mut st, ev);
    }

    /// Close every open watch connection (the client must resume).
    fn drop_watches(&self) {
        let mut st = self.state.lock().expect("lock");
        for w in st.watchers.drain(..) {
            let _ = w.send(None);
        }
    }

    fn counts(&self) -> (usize, usize) {
        let st = self.state.lock().expect("lock");
        (st.lists, st.watches)
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

fn serve(stream: TcpStream, state: &Arc<Mutex<ApiState>>, stop: &Arc<AtomicBool>) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let target = line
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_owned();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
    }
    let mut out = stream;
    let path = target.split('?').next().unwrap_or_default();
    if path != format!("/api/v1/namespaces/{NS}/configmaps") || !target.contains("metadata.name%3D")
    {
        let _ = write!(
            out,
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    if !target.contains("watch=true") {
        let body = {
            let mut st = state.lock().expect("lock");
            st.lists += 1;
            let items: Vec<Value> = st.object.iter().cloned().collect();
            json!({"apiVersion": "v1", "kind": "ConfigMapList",
                   "metadata": {"resourceVersion": st.rv.to_string()}, "items": items})
            .to_string()
        };
        let _ = write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        return;
    }
    let (tx, rx): (Sender<Option<String>>, Receiver<Option<String>>) = channel();
    let gone = {
        let mut st = state.lock().expect("lock");
        st.watches += 1;
        let gone = std::mem::take(&mut st.gone_next_watch);
        if !gone {
            let from: u64 = target
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("resourceVersion="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(st.rv);
            for (_, line) in st.history.iter().filter(|(rv, _)| *rv > from) {
                let _ = tx.send(Some(line.clone()));
            }
            st.watchers.push(tx);
        }
        gone
    };
    let _ = write!(
        out,
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    let chunk = |out: &mut TcpStream, s: &str| {
        let data = format!("{s}\n");
        write!(out, "{:x}\r\n{data}\r\n", data.len()).and_then(|()| out.flush())
    };
    if gone {
        let status = json!({"type": "ERROR", "object": {"apiVersion": "v1", "kind": "Status", "status": "Failure",
                     "message": "too old resource version", "reason": "Expired", "code": 410}});
        let _ = chunk(&mut out, &status.to_string());
        let _ = write!(out, "0\r\n\r\n");
        return;
    }
    while !stop.load(Ordering::Relaxed) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Some(line)) => {
                if chunk(&mut out, &line).is_err() {
                    return;
                }
            }
            Ok(None) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
    }
    let _ = write!(out, "0\r\n\r\n");
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
    api.state.lock().expect("lock").gone_next_watch = true;
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
