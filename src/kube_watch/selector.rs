//! The ConfigMap source of multi-config mode (`--configmap-selector LABELS`): every ConfigMap of one namespace that
//! matches the label selector is one AuthConfig, watched with kube-rs' `watcher`. A ConfigMap deleted, or whose
//! labels stop matching (the API server sends that as a deletion), is a removal. A relist (after `410 Gone` or a
//! restarted watch) is buffered until it is complete and then handed over whole, so a config that still exists is
//! never removed and re-added on the way.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};

use crate::clock::Clock;
use crate::config::LoadOptions;
use crate::reload::{ConfigSink, Found, Reconciler, Source};

/// The annotation that names a ConfigMap's config (else its own name does).
pub const NAME_ANNOTATION: &str = "authgate.io/config-name";

/// Where a pod finds its own namespace.
pub const POD_NAMESPACE_FILE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// How often pending removals are checked while no event arrives.
const TICK: Duration = Duration::from_millis(200);

/// The namespace of the pod, read from `file` (the service account mount), for `--configmap-namespace`'s default.
pub fn pod_namespace(file: &Path) -> Result<String, String> {
    match std::fs::read_to_string(file) {
        Ok(ns) if !ns.trim().is_empty() => Ok(ns.trim().to_owned()),
        Ok(_) => Err(format!(
            "{} is empty; set --configmap-namespace",
            file.display()
        )),
        Err(e) => Err(format!(
            "not running in a pod ({}: {e}); set --configmap-namespace",
            file.display()
        )),
    }
}

/// The config name a ConfigMap claims: its `authgate.io/config-name` annotation, else its name.
pub fn config_name(cm: &ConfigMap) -> String {
    cm.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(NAME_ANNOTATION))
        .or(cm.metadata.name.as_ref())
        .cloned()
        .unwrap_or_default()
}

/// The claim a ConfigMap makes, with its text under `key` or why it has none.
pub fn source_of(cm: &ConfigMap, key: &str) -> Source {
    let origin = format!(
        "configmap {}/{}",
        cm.metadata.namespace.as_deref().unwrap_or_default(),
        cm.metadata.name.as_deref().unwrap_or_default()
    );
    let found = match cm.data.as_ref().and_then(|d| d.get(key)) {
        Some(text) => Found::Text(text.clone()),
        None => Found::Failed(format!("{origin} has no key `{key}`")),
    };
    Source {
        name: config_name(cm),
        origin,
        found,
    }
}

/// The matching ConfigMaps as the watch has shown them, by object name, and a relist in progress.
#[derive(Debug, Default)]
pub struct Seen {
    live: BTreeMap<String, Source>,
    relist: Option<BTreeMap<String, Source>>,
}

impl Seen {
    /// Take one watch event; true when the picture changed and should be reconciled.
    pub fn apply(&mut self, event: Event<ConfigMap>, key: &str) -> bool {
        let id = |cm: &ConfigMap| cm.metadata.name.clone().unwrap_or_default();
        match event {
            Event::Init => {
                self.relist = Some(BTreeMap::new());
                false
            }
            Event::InitApply(cm) => {
                self.relist
                    .get_or_insert_with(BTreeMap::new)
                    .insert(id(&cm), source_of(&cm, key));
                false
            }
            Event::InitDone => {
                self.live = self.relist.take().unwrap_or_default();
                true
            }
            Event::Apply(cm) => {
                self.live.insert(id(&cm), source_of(&cm, key));
                true
            }
            Event::Delete(cm) => self.live.remove(&id(&cm)).is_some(),
        }
    }

    /// Every claim now, for the reconciler.
    pub fn sources(&self) -> Vec<Source> {
        self.live.values().cloned().collect()
    }
}

/// What a selector watch needs besides the client and the sink.
#[derive(Debug, Clone)]
pub struct SelectorOptions {
    pub namespace: String,
    pub selector: String,
    pub key: String,
    pub load: LoadOptions,
    pub removal_grace: Duration,
}

/// Watch the ConfigMaps `opts.selector` matches in `opts.namespace`, reporting to `sink`, until the task is dropped.
pub async fn watch_selector(
    sink: Arc<dyn ConfigSink>,
    client: kube::Client,
    opts: SelectorOptions,
    clock: Arc<dyn Clock>,
) {
    let source = format!(
        "configmaps in {} matching {:?}",
        opts.namespace, opts.selector
    );
    let reconciler = Arc::new(Mutex::new(Reconciler::new(
        sink,
        opts.load,
        opts.removal_grace,
        clock,
    )));
    let api: Api<ConfigMap> = Api::namespaced(client, &opts.namespace);
    let stream =
        watcher::watcher(api, watcher::Config::default().labels(&opts.selector)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut seen = Seen::default();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let work: Option<Vec<Source>> = tokio::select! {
            event = stream.next() => match event {
                None => break,
                Some(Ok(ev)) => seen.apply(ev, &opts.key).then(|| seen.sources()),
                Some(Err(e)) => {
                    tracing::warn!(source, error = %e, "ConfigMap watch error; retrying with backoff");
                    None
                }
            },
            _ = tick.tick() => None,
        };
        let Some(sources) = work else {
            // Cheap (a look at the deadlines), and every scan waited for above: no contention.
            reconciler.lock().unwrap_or_else(|p| p.into_inner()).tick();
            continue;
        };
        let r = reconciler.clone();
        // Loading is blocking work: off the async workers.
        let done = tokio::task::spawn_blocking(move || {
            r.lock().unwrap_or_else(|p| p.into_inner()).scan(&sources);
        })
        .await;
        if let Err(e) = done {
            tracing::error!(error = %e, "config reconcile task failed");
        }
    }
}

#[cfg(test)]
#[path = "selector_tests.rs"]
mod tests;
