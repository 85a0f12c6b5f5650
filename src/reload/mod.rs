//! Config reloads: load off the request path, swap atomically, keep the last good config on failure.
//! The file source polls the file's content, which also catches Kubernetes' symlink swap of a mounted ConfigMap
//! (the path stays, the target changes).
//!
//! Single-config mode swaps into the gate with `Gate::apply` ([`apply_text`], [`watch_file`]). Multi-config mode
//! (policy §13) reports to a [`ConfigSink`]: every source (`files`, and the ConfigMap selector in `kube_watch`)
//! hands the full picture of each scan to one [`Reconciler`], which applies the naming rules, loads what changed
//! and runs the removal grace.

pub mod files;
pub mod reconcile;

pub use reconcile::{Found, Reconciler, Source, assign_sources};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::unix_now;
use crate::config::file::read_config_file;
use crate::config::{CompiledConfig, LoadErrors, LoadOptions, load_str};
use crate::gate::Gate;
use crate::hash::sha256;
use crate::observe::Outcome;

/// The gate side of multi-config reloads: what a config source reports, one call per change, per config name.
/// The sink logs and counts each change (it owns the observer and the `config` label, and knows whether a last good
/// version is held); a source logs only what the sink never sees: a load's warnings, with the file or ConfigMap.
pub trait ConfigSink: Send + Sync {
    /// A version of `name` loaded: it replaces that config. Also sent, with the same `Arc` as before, when a name
    /// whose removal was pending comes back unchanged: that cancels the removal.
    fn config_loaded(&self, name: &str, config: Arc<CompiledConfig>);
    /// `name` has a load error (its text, its name, a duplicate claim, the config limit): its last good version
    /// keeps serving; a name that never loaded answers `503 no_config`. Also cancels a pending removal.
    fn config_failed(&self, name: &str, error: &str);
    /// `name` is gone from its source; it keeps serving during the removal grace.
    fn config_removal_pending(&self, name: &str);
    /// The grace is over (or was 0): requests naming `name` become `503 unknown_config`.
    fn config_removed(&self, name: &str);
}

/// The multi-config gate is the sink of every source; it logs and counts each change under the config's name.
impl ConfigSink for Gate {
    fn config_loaded(&self, name: &str, config: Arc<CompiledConfig>) {
        Gate::config_loaded(self, name, config);
    }

    fn config_failed(&self, name: &str, error: &str) {
        Gate::config_failed(self, name, error);
    }

    fn config_removal_pending(&self, name: &str) {
        Gate::config_removal_pending(self, name);
    }

    fn config_removed(&self, name: &str) {
        Gate::config_removed(self, name);
    }
}

/// Load `text` and, when it loads, make it the gate's config. Failures are logged and counted; the running
/// config stays.
pub fn apply_text(
    gate: &Gate,
    text: &str,
    opts: &LoadOptions,
    source: &str,
) -> Result<(), LoadErrors> {
    match load_str(text, opts) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                tracing::warn!(source, warning = %w, "AuthConfig warning");
            }
            gate.apply(loaded.config);
            gate.observer().config_load(Outcome::Success, unix_now());
            tracing::info!(source, "AuthConfig loaded");
            Ok(())
        }
        Err(e) => {
            gate.observer().config_load(Outcome::Error, unix_now());
            tracing::error!(source, error = %e, "AuthConfig rejected; the last good config keeps serving");
            Err(e)
        }
    }
}

/// Watch `path`: load it now, then whenever its content changes. Runs until the task is dropped.
pub async fn watch_file(gate: Arc<Gate>, path: PathBuf, opts: LoadOptions, interval: Duration) {
    let source = path.display().to_string();
    let mut last: Option<[u8; 32]> = None;
    let mut read_failed = false;
    loop {
        let p = path.clone();
        let read = tokio::task::spawn_blocking(move || read_config_file(&p)).await;
        match read {
            Ok(Ok(text)) => {
                read_failed = false;
                let h = sha256(&[text.as_bytes()]);
                if last != Some(h) {
                    last = Some(h);
                    // apply_text logs and counts a rejected config itself.
                    let _ = apply_text(&gate, &text, &opts, &source);
                }
            }
            Ok(Err(e)) => {
                if !read_failed {
                    gate.observer().config_load(Outcome::Error, unix_now());
                    tracing::error!(source, error = %e, "cannot read the AuthConfig file; the last good config keeps serving");
                }
                read_failed = true;
            }
            Err(e) => tracing::error!(error = %e, "config reader task failed"),
        }
        tokio::time::sleep(interval).await;
    }
}
