//! `authgate serve`: the gate behind the data and gRPC listeners, its config sources watched and reloaded. The
//! source flags choose the mode (policy §13): single-config mode swaps one config into the gate as it always did;
//! multi-config mode starts a multi-config source reporting to a `ConfigSink`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{gate_settings, grpc_options, load_options};
use crate::admission::Scope;
use crate::cli::ServeArgs;
use crate::clock::{Clock, SystemClock};
use crate::gate::{Gate, GateSettings};
use crate::grpc::GrpcTls;
use crate::kube_watch::selector::{
    POD_NAMESPACE_FILE, SelectorOptions, pod_namespace, watch_selector,
};
use crate::listeners::{RunOptions, run};
use crate::metrics::Metrics;
use crate::reload::files::{Root, watch_files};
use crate::reload::{ConfigSink, watch_file};

/// Where the configs come from, which is also the mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Single-config mode: one file.
    File(PathBuf),
    /// Single-config mode: one ConfigMap.
    ConfigMap { namespace: String, name: String },
    /// Multi-config mode: directories and files.
    Files(Vec<Root>),
    /// Multi-config mode: the ConfigMaps a label selector matches (namespace `None`: the pod's).
    Selector {
        namespace: Option<String>,
        selector: String,
    },
}

impl ConfigSource {
    /// The source the flags name. The flags, never the number of configs, choose the mode: a directory holding one
    /// file is still multi-config mode. (clap has already refused two source flags together.)
    pub fn of(args: &ServeArgs) -> anyhow::Result<Self> {
        match (
            args.config.as_slice(),
            &args.configmap,
            &args.configmap_selector,
        ) {
            ([one], None, None) if !one.is_dir() => Ok(Self::File(one.clone())),
            ([], Some((ns, name)), None) => Ok(Self::ConfigMap {
                namespace: ns.clone(),
                name: name.clone(),
            }),
            ([], None, Some(sel)) => Ok(Self::Selector {
                namespace: args.configmap_namespace.clone(),
                selector: sel.clone(),
            }),
            (paths, None, None) if !paths.is_empty() => {
                Ok(Self::Files(paths.iter().map(|p| Root::of(p)).collect()))
            }
            _ => anyhow::bail!(
                "exactly one of --config, --configmap or --configmap-selector is required"
            ),
        }
    }

    /// Whether this is multi-config mode.
    pub fn is_multi(&self) -> bool {
        matches!(self, Self::Files(_) | Self::Selector { .. })
    }
}

/// The gate of multi-config mode and the sink its sources report to (the gate itself).
fn multi_config_gate(
    settings: GateSettings,
    metrics: Arc<Metrics>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<(Arc<Gate>, Arc<dyn ConfigSink>)> {
    let gate = Arc::new(Gate::new(settings, metrics, clock)?.with_multi_config());
    Ok((gate.clone(), gate))
}

/// A Kubernetes client from the in-cluster config or a kubeconfig.
async fn kube_client() -> anyhow::Result<kube::Client> {
    kube::Client::try_default()
        .await
        .context("cannot build a Kubernetes client (in-cluster config or kubeconfig)")
}

/// Run until SIGTERM. A config that does not load keeps the service up but not ready (every decision `503`).
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let source = ConfigSource::of(&args)?;
    // Multi-config mode labels the series by config; single-config mode keeps today's series unchanged.
    let metrics = Arc::new(if source.is_multi() {
        Metrics::multi_config()
    } else {
        Metrics::new()
    });
    let settings = gate_settings(&args.common);
    let workers = args
        .common
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let tls = match (&args.grpc_tls_cert, &args.grpc_tls_key) {
        (Some(cert), Some(key)) => Some(GrpcTls {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: args.grpc_client_ca.clone(),
        }),
        _ => None,
    };
    let grpc = grpc_options(&args.grpc_listen, tls, workers, &args.common, &settings);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let opts = load_options(&args.common);
    let interval = Duration::from_millis(args.reload_interval_ms.max(10));
    let grace = Duration::from_secs(args.config_removal_grace);
    let multi = source.is_multi();
    if multi {
        // Every request must then name its config: an operator reading the log of a pod answering only
        // `unknown_config` learns why from the first line.
        tracing::info!(
            "multi-config mode: requests name their config (HTTP `/configs/<name>`, gRPC `authgate-config`)"
        );
    }
    let (gate, watcher) = match source {
        ConfigSource::File(path) => {
            let gate = Arc::new(Gate::new(settings, metrics.clone(), clock)?);
            let w = tokio::spawn(watch_file(gate.clone(), path, opts, interval));
            (gate, w)
        }
        ConfigSource::ConfigMap { namespace, name } => {
            let gate = Arc::new(Gate::new(settings, metrics.clone(), clock)?);
            let client = kube_client().await?;
            let w = tokio::spawn(crate::kube_watch::watch_configmap(
                gate.clone(),
                client,
                namespace,
                name,
                args.configmap_key.clone(),
                opts,
            ));
            (gate, w)
        }
        ConfigSource::Files(roots) => {
            let (gate, sink) = multi_config_gate(settings, metrics.clone(), clock.clone())?;
            let w = tokio::spawn(watch_files(sink, roots, opts, grace, interval, clock));
            (gate, w)
        }
        ConfigSource::Selector {
            namespace,
            selector,
        } => {
            let namespace = match namespace {
                Some(ns) => ns,
                None => pod_namespace(std::path::Path::new(POD_NAMESPACE_FILE))
                    .map_err(anyhow::Error::msg)?,
            };
            let client = kube_client().await?;
            let (gate, sink) = multi_config_gate(settings, metrics.clone(), clock.clone())?;
            let w = tokio::spawn(watch_selector(
                sink,
                client,
                SelectorOptions {
                    namespace,
                    selector,
                    key: args.configmap_key.clone(),
                    load: opts,
                    removal_grace: grace,
                },
                clock,
            ));
            (gate, w)
        }
    };
    let admission = match (&args.admission_listen, &args.tls_cert, &args.tls_key) {
        (Some(addr), Some(cert), Some(key)) => Some(
            crate::admission::start(
                addr,
                cert.clone(),
                key.clone(),
                opts,
                args.configmap_key.clone(),
                // The selector's webhook is scoped by its objectSelector: every ConfigMap sent is an AuthConfig.
                if multi && args.configmap_selector.is_some() {
                    Scope::Every
                } else {
                    Scope::Labelled
                },
                gate.observer().clone(),
            )
            .await?,
        ),
        _ => None,
    };
    let res = run(
        gate,
        RunOptions {
            listen: args.listen,
            admin_listen: args.admin_listen,
            workers,
            shutdown_delay: args.common.shutdown_delay_secs,
            shutdown_timeout: args.common.shutdown_timeout_secs,
            max_connections: args.common.max_connections,
            metrics,
            grpc,
        },
    )
    .await;
    watcher.abort();
    if let Some(a) = admission {
        a.stop().await;
    }
    Ok(res?)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn source(flags: &[&str]) -> ConfigSource {
        let args = ["authgate", "serve"].iter().chain(flags).copied();
        match Cli::try_parse_from(args).expect("flags").command {
            Command::Serve(s) => ConfigSource::of(&s).expect("a source"),
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn the_flags_choose_the_mode_never_the_count() {
        let dir = std::env::temp_dir().join(format!("authgate-mode-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let d = dir.display().to_string();
        // One file, existing or not yet: single-config mode, as today.
        let s = source(&["--config", "missing.yaml"]);
        assert_eq!(s, ConfigSource::File("missing.yaml".into()));
        assert!(!s.is_multi());
        assert!(!source(&["--configmap", "ns/cm"]).is_multi());
        // A directory (even with one file, or none), two files, a selector: multi-config mode.
        let s = source(&["--config", &d]);
        assert_eq!(s, ConfigSource::Files(vec![Root::Dir(dir.clone())]));
        let s = source(&["--config", "a.yaml", "--config", "a.yaml"]);
        assert_eq!(
            s,
            ConfigSource::Files(vec![
                Root::File("a.yaml".into()),
                Root::File("a.yaml".into())
            ])
        );
        let s = source(&["--configmap-selector", "app=x"]);
        assert_eq!(
            s,
            ConfigSource::Selector {
                namespace: None,
                selector: "app=x".into()
            }
        );
        assert!(s.is_multi());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
