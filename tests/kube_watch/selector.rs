//! `--configmap-selector`: the selector watch (kube-rs `watcher` with the real client) against a local server that
//! speaks the list/watch protocol for many ConfigMaps and filters them by label as the API server does (an object
//! whose labels stop matching is sent as DELETED). The watch reports to a recording sink: add, change, annotation
//! name, relabel away, delete, and a `410 Gone` relist that must not remove and re-add what still exists.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use authgate::clock::SystemClock;
use authgate::config::LoadOptions;
use authgate::kube_watch::selector::{SelectorOptions, watch_selector};
use serde_json::{Value, json};

use super::api::{self, Feed, Served};
use super::common::sink::Recorder;
use super::{NS, noauth};

pub(super) const LABEL: (&str, &str) = ("authgate.io/authconfig", "true");

#[derive(Default)]
pub(super) struct State {
    /// Every ConfigMap of the namespace, matching or not.
    objects: BTreeMap<String, Value>,
    /// Events as a watch on the selector sees them.
    pub(super) feed: Feed,
}

impl Served for State {
    fn selects(target: &str) -> bool {
        // The watch must ask for the selector: without it, every ConfigMap would be an AuthConfig.
        target.contains("labelSelector=authgate.io%2Fauthconfig%3Dtrue")
    }
    fn items(&self) -> Vec<Value> {
        self.objects
            .values()
            .filter(|o| matches(o))
            .cloned()
            .collect()
    }
    fn feed(&mut self) -> &mut Feed {
        &mut self.feed
    }
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
        let state = Arc::new(Mutex::new(State::default()));
        let (port, stop) = api::listen(state.clone());
        FakeApi { port, state, stop }
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
        st.feed.rv += 1;
        let rv = st.feed.rv;
        let before = st.objects.get(name).is_some_and(matches);
        let obj = text.map(|t| {
            let mut o = json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": NS, "resourceVersion": rv.to_string(), "labels": {}},
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
                gone["metadata"]["resourceVersion"] = rv.to_string().into();
                Some(json!({"type": "DELETED", "object": gone}))
            }
            _ => None,
        };
        match obj {
            Some(o) => st.objects.insert(name.to_owned(), o),
            None => st.objects.remove(name),
        };
        if let Some(ev) = event {
            st.feed.publish(&ev);
        }
    }

    pub(super) fn drop_watches(&self) {
        self.state.lock().expect("lock").feed.drop_watches();
    }

    pub(super) fn lists(&self) -> usize {
        self.state.lock().expect("lock").feed.lists
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.drop_watches();
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
    let sink = Arc::new(Recorder::with_errors());
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
    api.state.lock().expect("lock").feed.gone_next_watch = true;
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
