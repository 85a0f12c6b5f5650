//! `authgate serve`: the gate behind the data and gRPC listeners, the config file watched and reloaded.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::{gate_settings, grpc_options, load_options};
use crate::cli::ServeArgs;
use crate::clock::SystemClock;
use crate::gate::Gate;
use crate::grpc::GrpcTls;
use crate::listeners::{RunOptions, run};
use crate::metrics::Metrics;
use crate::reload::watch_file;

/// Run until SIGTERM. A config that does not load keeps the service up but not ready (every decision `503`).
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::new());
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
    let gate = Arc::new(Gate::new(settings, metrics.clone(), Arc::new(SystemClock))?);
    let opts = load_options(&args.common);
    let watcher = match (&args.config, &args.configmap) {
        (Some(path), _) => tokio::spawn(watch_file(
            gate.clone(),
            path.clone(),
            opts,
            Duration::from_millis(args.reload_interval_ms.max(10)),
        )),
        (None, Some((ns, name))) => {
            let client = kube::Client::try_default()
                .await
                .context("cannot build a Kubernetes client (in-cluster config or kubeconfig)")?;
            tokio::spawn(crate::kube_watch::watch_configmap(
                gate.clone(),
                client,
                ns.clone(),
                name.clone(),
                args.configmap_key.clone(),
                opts,
            ))
        }
        (None, None) => anyhow::bail!("one of --config or --configmap is required"),
    };
    let admission = match (&args.admission_listen, &args.tls_cert, &args.tls_key) {
        (Some(addr), Some(cert), Some(key)) => Some(
            crate::admission::start(
                addr,
                cert.clone(),
                key.clone(),
                opts,
                args.configmap_key.clone(),
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
