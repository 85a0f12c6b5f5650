//! `--configmap-selector`: the selector watch (kube-rs `watcher` with the real client) against a local server that
//! speaks the list/watch protocol for many ConfigMaps and filters them by label as the API server does (an object
//! whose labels stop matching is sent as DELETED). The watch reports to a recording sink: add, change, annotation
//! name, relabel away, delete, and a `410 Gone` relist that must not remove and re-add what still exists.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authgate::clock::SystemClock;
use authgate::config::{CompiledConfig, LoadOptions};
use authgate::kube_watch::selector::{SelectorOptions, watch_selector};
use authgate::reload::ConfigSink;
use serde_json::{Value, json};

use super::{NS, noauth};

pub(super) const LABEL: (&str, &str) = ("authgate.io/authconfig", "true");

#[derive(Default)]
pub(super) struct State {
    /// Every ConfigMap of the namespace, matching or not.
    objects: BTreeMap<String, Value>,
    rv: u64,
    watchers: Vec<Sender<Option<String>>>,
    /// Events as a watch on the selector sees them, with their resourceVersion.
    history: Vec<(u64, String)>,
    pub(super) gone_next_watch: bool,
    lists: usize,
}

pub(super) struct FakeApi {
    pub(super) port: u16,
    pub(super) state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

fn matches(obj: &Value) -> bool {
    obj["metadata"]["labels"][LABEL.0] == LABEL.1
}

impl FakeApi {
    pub(super) fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let api = FakeApi {
            port,
            state: Arc::new(Mutex::new(State::default())),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let (state, stop) = (api.state.clone(), api.stop.clone());
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

    /// Create, change or delete (`None`) a ConfigMap; a watch sees what the label selector makes of it.
    pub(super) fn put(
        &self,
        name: &str,
        labelled: bool,
        annotation: Option<&str>,
        text: Option<&str>,
    ) {
        let mut st = self.state.lock().expect("lock");
        st.rv += 1;
        let before = st.objects.get(name).is_some_and(matches);
        let obj = text.map(|t| {
            let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": NS, "resourceVersion": st.rv.to_string(), "labels": {}},
                "data": {"authconfig.yaml": t}});
            if labelled {
                o["metadata"]["labels"][LABEL.0] = LABEL.1.into();
            }
            if let Some(a) = annotation {
                o["metadata"]["annotations"] = json!({"authgate.io/config-name": a});
            }
            o
        });
        let after = obj.as_ref().is_some_and(matches);
        let event = match (before, after, &obj) {
            (false, true, Some(o)) => Some(json!({"type": "ADDED", "object": o})),
            (true, true, Some(o)) => Some(json!({"type": "MODIFIED", "object": o})),
            (true, false, _) => {
                let mut gone = obj
                    .clone()
                    .or_else(|| st.objects.get(name).cloned())
                    .unwrap_or_default();
                gone["metadata"]["resourceVersion"] = st.rv.to_string().into();
                Some(json!({"type": "DELETED", "object": gone}))
            }
            _ => None,
        };
        match obj {
            Some(o) => st.objects.insert(name.to_owned(), o),
            None => st.objects.remove(name),
        };
        if let Some(ev) = event {
            let line = ev.to_string();
            let rv = st.rv;
            st.history.push((rv, line.clone()));
            st.watchers.retain(|w| w.send(Some(line.clone())).is_ok());
        }
    }

    pub(super) fn drop_watches(&self) {
        for w in self.state.lock().expect("lock").watchers.drain(..) {
            let _ = w.send(None);
        }
    }

    pub(super) fn lists(&self) -> usize {
        self.state.lock().expect("lock").lists
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.drop_watches();
    }
}

fn serve(stream: TcpStream, state: &Arc<Mutex<State>>, stop: &Arc<AtomicBool>) {
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
    // The watch must ask for the selector: without it, every ConfigMap would be an AuthConfig.
    let selector = "labelSelector=authgate.io%2Fauthconfig%3Dtrue";
    if path != format!("/api/v1/namespaces/{NS}/configmaps") || !target.contains(selector) {
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
            let items: Vec<Value> = st
                .objects
                .values()
                .filter(|o| matches(o))
                .cloned()
                .collect();
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
    let (tx, rx) = channel();
    let gone = {
        let mut st = state.lock().expect("lock");
        let gone = std::mem::take(&mut st.gone_next_watch);
        if !gone {
            let from: u64 = target
                .split(['?', '&'])
                .find_map(|p| p.strip_prefix("resourceVersion="))
                .and_then(|v| v.parse().ok())
                .unwrap_or(st.rv);
            for (_, l) in st.history.iter().filter(|(rv, _)| *rv > from) {
                let _ = tx.send(Some(l.clone()));
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
            Ok(Some(l)) => {
                if chunk(&mut out, &l).is_err() {
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

/// A sink that records `verb name` for every call, in order.
#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl Recorder {
    fn calls(&self) -> Vec<String> {
        self.0.lock().expect("lock").clone()
    }

    /// Wait (at most `within`) until the calls number `n`; returns them.
    fn wait_len(&self, n: usize, within: Duration) -> Vec<String> {
        let deadline = Instant::now() + within;
        loop {
            let calls = self.calls();
            if calls.len() >= n || Instant::now() >= deadline {
                return calls;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl ConfigSink for Recorder {
    fn config_loaded(&self, name: &str, _: Arc<CompiledConfig>) {
        self.0.lock().expect("lock").push(format!("loaded {name}"));
    }
    fn config_failed(&self, name: &str, error: &str) {
        self.0
            .lock()
            .expect("lock")
            .push(format!("failed {name}: {error}"));
    }
    fn config_removal_pending(&self, name: &str) {
        self.0.lock().expect("lock").push(format!("pending {name}"));
    }
    fn config_removed(&self, name: &str) {
        self.0.lock().expect("lock").push(format!("removed {name}"));
    }
}

#[test]
fn the_selector_watch_adds_changes_removes_and_survives_a_relist() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let api = FakeApi::start();
    api.put("one", true, None, Some(&noauth("a")));
    api.put("rel-two", true, Some("tenant-b"), Some(&noauth("b")));
    api.put("unrelated", false, None, Some("not an AuthConfig"));

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let sink = Arc::new(Recorder::default());
    let url = format!("http://127.0.0.1:{}", api.port)
        .parse()
        .expect("url");
    let grace = Duration::from_millis(300);
    let client = rt
        .block_on(async { kube::Client::try_from(kube::Config::new(url)) })
        .expect("client");
    rt.spawn(watch_selector(
        sink.clone(),
        client,
        SelectorOptions {
            namespace: NS.to_owned(),
            selector: format!("{}={}", LABEL.0, LABEL.1),
            key: "authconfig.yaml".to_owned(),
            load: LoadOptions::default(),
            removal_grace: grace,
        },
        Arc::new(SystemClock),
    ));
    let within = Duration::from_secs(5);
    // The initial list: one by its name, the other by its annotation; the unlabelled one is not seen.
    assert_eq!(sink.wait_len(2, within), ["loaded one", "loaded tenant-b"]);

    api.put("one", true, None, Some(&noauth("a2")));
    assert_eq!(sink.wait_len(3, within)[2..], ["loaded one"], "a change");

    // A broken one is a load error under its name; deleted, it is pending, then removed after the grace.
    api.put("three", true, None, Some("x"));
    let calls = sink.wait_len(4, within);
    assert!(calls[3].starts_with("failed three: "), "{calls:?}");
    api.put("three", true, None, None);
    assert_eq!(
        sink.wait_len(6, within)[4..],
        ["pending three", "removed three"]
    );
    api.put("four", true, None, Some(&noauth("d")));
    assert_eq!(sink.wait_len(7, within)[6..], ["loaded four"]);

    // Its label dropped: the same as deleted, with the grace.
    let relabelled = Instant::now();
    api.put("rel-two", false, Some("tenant-b"), Some(&noauth("b")));
    let calls = sink.wait_len(9, within);
    assert_eq!(calls[7..], ["pending tenant-b", "removed tenant-b"]);
    assert!(
        relabelled.elapsed() >= grace,
        "removed after {:?}",
        relabelled.elapsed()
    );

    // 410 Gone: the watcher relists. What still exists is neither removed nor reloaded.
    let lists = api.lists();
    api.state.lock().expect("lock").gone_next_watch = true;
    api.drop_watches();
    let deadline = Instant::now() + Duration::from_secs(15);
    while api.lists() <= lists {
        assert!(Instant::now() < deadline, "no relist after 410 Gone");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(grace + Duration::from_millis(300));
    assert_eq!(
        sink.calls().len(),
        9,
        "a relist changed nothing: {:?}",
        sink.calls()
    );
    // And the watch still follows the objects.
    api.put("four", true, None, Some(&noauth("d2")));
    assert_eq!(sink.wait_len(10, within)[9..], ["loaded four"]);
    drop(api);
    rt.shutdown_timeout(Duration::from_secs(1));
}
