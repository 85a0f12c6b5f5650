//! Config reloads: load off the request path, swap atomically, keep the last good config on failure.
//! The file source polls the file's content, which also catches Kubernetes' symlink swap of a mounted ConfigMap
//! (the path stays, the target changes).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::unix_now;
use crate::config::file::read_config_file;
use crate::config::{LoadErrors, LoadOptions, load_str};
use crate::gate::Gate;
use crate::hash::sha256;
use crate::observe::Outcome;

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
