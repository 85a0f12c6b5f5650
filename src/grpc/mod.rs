//! The gRPC listener (policy §12): `envoy.service.auth.v3.Authorization/Check` through the `ext_authz` adapter and
//! `grpc.health.v1.Health`, on HTTP/2 cleartext or TLS (the certificate reloaded on change, client certificates
//! required when a CA is given), on the same gate, caches and metrics as the HTTP listener.
//!
//! `main` runs under actix's current-thread system runtime and each HTTP worker owns a single-threaded one, so the
//! listener gets a tokio runtime of its own, on its own thread, with as many workers as the data listener: gRPC
//! decisions get as many cores as HTTP ones (multi-threaded; a current-thread one for a single worker, see `start`).
//! `start` binds and loads the TLS files before returning (a bad flag fails the start, not the first check);
//! `GrpcServer::stop` stops accepting, lets in-flight checks finish within the shutdown timeout, and joins the
//! runtime's thread.
//!
//! Bounds: a check message of at most [`MAX_MESSAGE_BYTES`] (larger is refused with `RESOURCE_EXHAUSTED`; anything
//! smaller that is too large to judge is a `431` inside a `CheckResponse`), [`MAX_STREAMS`] concurrent streams per
//! connection, [`MAX_CONNECTIONS`] connections, HTTP/2 keep-alive pings, TCP keep-alive, a read-idle timeout, a TLS
//! handshake timeout, and a per-call timeout longer than any decision can take.

mod conn;
mod health;
mod service;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::sync::{oneshot, watch};
use tonic_health::pb::health_server::HealthServer;

pub use health::AUTHORIZATION_SERVICE;

use crate::contracts::ext_authz::ExtAuthzSettings;
use crate::gate::Gate;
use crate::tls::ReloadingCert;
use conn::ConnLimits;

/// Largest check message: Envoy's default header limit (60 KiB) and the rest of the check, with room to spare.
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;
/// Most concurrent streams (checks) on one connection; Envoy opens another connection past it.
pub const MAX_STREAMS: u32 = 1024;
/// Most open connections; more wait in the accept queue.
pub const MAX_CONNECTIONS: usize = 1024;
/// HTTP/2 keep-alive: a ping after this long without one, and the connection closed when it is not answered
/// within [`KEEPALIVE_TIMEOUT`].
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(20);
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection from which nothing (not even a ping's answer) was read for this long is closed.
pub const READ_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS files of the listener.
#[derive(Debug, Clone)]
pub struct GrpcTls {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Require client certificates issued by this CA.
    pub client_ca: Option<PathBuf>,
}

/// How to run the listener.
#[derive(Debug, Clone)]
pub struct GrpcOptions {
    /// `host:port`.
    pub listen: String,
    /// Worker threads of its runtime.
    pub workers: usize,
    pub tls: Option<GrpcTls>,
    pub ext_authz: ExtAuthzSettings,
    /// Longest call; past it the call is answered `DEADLINE_EXCEEDED`, so it must outlast every decision (webhook timeout, forced
    /// JWKS refresh).
    pub call_timeout: Duration,
    /// Time given to in-flight checks when stopping.
    pub shutdown_timeout: Duration,
}

/// A running gRPC listener.
pub struct GrpcServer {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    done: oneshot::Receiver<anyhow::Result<()>>,
}

impl GrpcServer {
    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop accepting, let in-flight checks finish (within the shutdown timeout), and wait for the runtime's end.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        self.done.await.unwrap_or_else(|_| {
            Err(anyhow::anyhow!(
                "the gRPC runtime's thread ended without a word"
            ))
        })
    }
}

/// Bind, load the TLS files, and serve on a runtime of its own.
pub fn start(gate: Arc<Gate>, opts: GrpcOptions) -> anyhow::Result<GrpcServer> {
    let std_listener = crate::listeners::bind(&opts.listen, 1024)
        .with_context(|| format!("cannot listen on {} (gRPC)", opts.listen))?;
    std_listener.set_nonblocking(true)?;
    let addr = std_listener.local_addr()?;
    let tls = match &opts.tls {
        Some(t) => Some(Tls::load(t)?),
        None => None,
    };
    // One worker: a current-thread runtime. hyper spawns a task per HTTP/2 stream; on a one-worker multi-thread
    // runtime every spawn and wake-up went through the work-stealing scheduler and parked or unparked its thread
    // (futex calls): behind Envoy that was ~3 µs of CPU per check, 0.5 µs of it left in the kernel after the change.
    // `authgate dev` runs one worker, so its tests (tests/grpc/dev.rs, with a real Envoy) run this runtime.
    let mut builder = if opts.workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(opts.workers);
        b
    };
    let runtime = builder
        .thread_name("authgate-grpc")
        .enable_all()
        .build()
        .context("cannot build the gRPC runtime")?;
    let mode = match &opts.tls {
        None => "cleartext",
        Some(GrpcTls {
            client_ca: None, ..
        }) => "tls",
        Some(GrpcTls {
            client_ca: Some(_), ..
        }) => "tls, client certificates required",
    };
    let (stop, stopping) = watch::channel(false);
    let (done_tx, done) = oneshot::channel();
    std::thread::Builder::new()
        .name("authgate-grpc-main".into())
        .spawn(move || {
            let res = runtime.block_on(serve(gate, opts, std_listener, tls, stopping));
            // Dropped here, outside any async context; a connection left after the timeout is cut.
            runtime.shutdown_timeout(Duration::from_secs(1));
            let _ = done_tx.send(res);
        })
        .context("cannot start the gRPC thread")?;
    tracing::info!(grpc = %addr, mode, "gRPC listening");
    Ok(GrpcServer { addr, stop, done })
}

/// The TLS config in use and what reloads it.
struct Tls {
    config: Arc<ArcSwap<rustls::ServerConfig>>,
    cert: Arc<ReloadingCert>,
    client_ca: Option<PathBuf>,
}

impl Tls {
    fn load(t: &GrpcTls) -> anyhow::Result<Self> {
        let cert = ReloadingCert::load(t.cert.clone(), t.key.clone())?;
        let config = build_config(&cert, t.client_ca.as_deref())?;
        Ok(Self {
            config: Arc::new(ArcSwap::from_pointee(config)),
            cert,
            client_ca: t.client_ca.clone(),
        })
    }

    /// Watch the certificate pair (swapped inside the resolver) and the client CA (a new config around the same
    /// resolver).
    fn watch(&self) {
        tokio::spawn(self.cert.clone().watch("grpc"));
        if let Some(ca) = self.client_ca.clone() {
            let (config, cert) = (self.config.clone(), self.cert.clone());
            tokio::spawn(async move {
                let files = [ca.clone()];
                crate::tls::watch_files(&files, "grpc client CA", || {
                    config.store(Arc::new(build_config(&cert, Some(&ca))?));
                    Ok(())
                })
                .await
            });
        }
    }
}

fn build_config(
    cert: &Arc<ReloadingCert>,
    client_ca: Option<&std::path::Path>,
) -> anyhow::Result<rustls::ServerConfig> {
    let clients = client_ca.map(crate::tls::client_verifier).transpose()?;
    crate::tls::server_config(cert.clone(), clients, &[b"h2"])
}

async fn serve(
    gate: Arc<Gate>,
    opts: GrpcOptions,
    listener: std::net::TcpListener,
    tls: Option<Tls>,
    stopping: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::from_std(listener)?;
    if let Some(t) = &tls {
        t.watch();
    }
    let limits = ConnLimits {
        max_connections: MAX_CONNECTIONS,
        read_idle: READ_IDLE_TIMEOUT,
        handshake: HANDSHAKE_TIMEOUT,
        tcp_keepalive: Duration::from_secs(30),
    };
    let incoming = conn::incoming(listener, tls.map(|t| t.config), limits);
    let calls = Arc::new(service::Calls {
        health: HealthServer::new(health::GateHealth::new(gate.clone(), stopping.clone()))
            .max_decoding_message_size(4096),
        gate,
        settings: opts.ext_authz.clone(),
        max_message: MAX_MESSAGE_BYTES,
        call_timeout: opts.call_timeout,
    });
    let mut http2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    http2
        .timer(TokioTimer::new())
        .max_concurrent_streams(MAX_STREAMS)
        .keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT);
    let server = accept(incoming, http2, calls, stopping.clone());
    let deadline = async {
        stopped(stopping).await;
        tokio::time::sleep(opts.shutdown_timeout).await;
    };
    tokio::select! {
        () = server => Ok(()),
        () = deadline => {
            tracing::warn!(
                timeout_secs = opts.shutdown_timeout.as_secs(),
                "gRPC connections still open after the shutdown timeout; closing them"
            );
            Ok(())
        }
    }
}

/// Serve every connection of `incoming` until the stop flag is set; then stop accepting (dropping the stream closes
/// the listening socket), ask each connection to finish gracefully (HTTP/2 GOAWAY: streams in flight complete, no
/// new ones) and return when the last has closed.
async fn accept(
    incoming: impl futures::Stream<Item = std::io::Result<conn::Conn>>,
    http2: hyper::server::conn::http2::Builder<TokioExecutor>,
    calls: Arc<service::Calls>,
    stopping: watch::Receiver<bool>,
) {
    let mut incoming = Box::pin(incoming);
    // Every connection task holds a sender; `recv` returns `None` once all are gone.
    let (alive, mut all_closed) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        let conn = tokio::select! {
            () = stopped(stopping.clone()) => break,
            c = futures::StreamExt::next(&mut incoming) => match c {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "gRPC listener: connection failed");
                    continue;
                }
                None => break,
            },
        };
        let calls = calls.clone();
        let svc = hyper::service::service_fn(move |req| calls.clone().call(req));
        let conn = http2.serve_connection(TokioIo::new(conn), svc);
        let (alive, stopping) = (alive.clone(), stopping.clone());
        tokio::spawn(async move {
            let mut conn = std::pin::pin!(conn);
            let res = tokio::select! {
                res = conn.as_mut() => res,
                () = stopped(stopping) => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = res {
                tracing::debug!(error = %e, "gRPC connection ended with an error");
            }
            drop(alive);
        });
    }
    drop(incoming);
    drop(alive);
    let _ = all_closed.recv().await;
}

/// Resolves once the stop flag is set (or its sender is gone).
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|s| *s).await;
}
