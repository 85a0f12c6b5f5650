//! The AuthConfig from one Kubernetes ConfigMap, watched with kube-rs: every version of the object is
//! loaded off the request path and swapped in when it loads; an invalid one is logged and counted and the last good
//! config keeps serving; a deleted ConfigMap keeps the last good config; API errors back off and the watch resumes.

pub mod selector;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher;

use crate::config::LoadOptions;
use crate::gate::Gate;
use crate::observe::Outcome;
use crate::reload::apply_text;

/// What to do with one observed state of the ConfigMap (pure, for the watcher and its tests).
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// Load this text.
    Load(&'a str),
    /// Same text as last time (a relist or resync): nothing to do.
    Unchanged,
    /// The key is missing: count an error, keep the last good config.
    MissingKey,
    /// The ConfigMap is gone: keep the last good config.
    Deleted,
}

/// Decide what an observed ConfigMap means, given the text applied last.
pub fn step<'a>(cm: Option<&'a ConfigMap>, key: &str, last: Option<&str>) -> Step<'a> {
    let Some(cm) = cm else { return Step::Deleted };
    match cm.data.as_ref().and_then(|d| d.get(key)) {
        None => Step::MissingKey,
        Some(text) if Some(text.as_str()) == last => Step::Unchanged,
        Some(text) => Step::Load(text),
    }
}

/// Watch `namespace/name` until the task is dropped.
pub async fn watch_configmap(
    gate: Arc<Gate>,
    client: kube::Client,
    namespace: String,
    name: String,
    key: String,
    opts: LoadOptions,
) {
    let source = format!("configmap {namespace}/{name}");
    let api: Api<ConfigMap> = Api::namespaced(client, &namespace);
    let stream = watcher::watch_object(api, &name).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut last: Option<String> = None;
    while let Some(event) = stream.next().await {
        match event {
            Ok(cm) => match step(cm.as_ref(), &key, last.as_deref()) {
                Step::Load(text) => {
                    // Remember what was tried, good or bad, so a relist does not re-log the same failure.
                    last = Some(text.to_owned());
                    // apply_text logs and counts a rejected config itself.
                    let _ = apply_text(&gate, text, &opts, &source);
                }
                Step::Unchanged => {}
                Step::MissingKey => {
                    last = None;
                    gate.observer()
                        .config_load(Outcome::Error, crate::clock::unix_now());
                    tracing::error!(
                        source,
                        key,
                        "the ConfigMap has no such key; the last good config keeps serving"
                    );
                }
                Step::Deleted => {
                    last = None;
                    tracing::warn!(
                        source,
                        "the ConfigMap is gone; the last good config keeps serving"
                    );
                }
            },
            Err(e) => {
                tracing::warn!(source, error = %e, "ConfigMap watch error; retrying with backoff")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn cm(key: &str, text: &str) -> ConfigMap {
        ConfigMap {
            data: Some(BTreeMap::from([(key.to_owned(), text.to_owned())])),
            ..ConfigMap::default()
        }
    }

    #[test]
    fn steps() {
        let c = cm("authconfig.yaml", "x");
        assert_eq!(step(Some(&c), "authconfig.yaml", None), Step::Load("x"));
        assert_eq!(
            step(Some(&c), "authconfig.yaml", Some("x")),
            Step::Unchanged
        );
        assert_eq!(step(Some(&c), "other", None), Step::MissingKey);
        assert_eq!(step(None, "authconfig.yaml", Some("x")), Step::Deleted);
    }
}
