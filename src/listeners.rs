//! The listeners: the data listener's start (`http1`: every method and path is a decision, bound with a deep accept
//! queue), the actix-web apps of the admin listener (`/healthz`, `/readyz`, `/metrics`) and of the JWKS endpoint of
//! `dev`'s embedded issuer; and `run`, which starts the data, admin and gRPC (`grpc`) listeners and on SIGTERM/SIGINT
//! turns readiness off, waits the shutdown delay and drains them. `serve` and `dev` both go through `run`. The
//! admission listener (TLS, its own certificate reloads) is in `admission`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::gate::Gate;
use crate::grpc::GrpcOptions;
use crate::metrics::Metrics;
use crate::observe::{InternalError, Observer};

/// Start the data listener (`http1`) on `listener` with the workers, connection cap and shutdown timeout of `opts`.
pub fn data_server(
    gate: Arc<Gate>,
    listener: TcpListener,
    opts: &RunOptions,
) -> std::io::Result<crate::http1::DataServer> {
    crate::http1::start(
        gate,
        listener,
        crate::http1::DataOptions {
            workers: opts.workers.max(1),
            max_connections: opts.max_connections,
            shutdown_timeout: std::time::Duration::from_secs(opts.shutdown_timeout),
            timeouts: crate::http1::Timeouts::default(),
        },
    )
}

/// The data listener's accept queue. A proxy opens connections in bursts (a restart, a scale-up, a flood of new
/// clients); when the queue is full the kernel drops the SYN and the client waits a whole retransmission (1 s, then
/// 3 s) before it is even accepted. The kernel caps it at `net.core.somaxconn` (4096 by default since Linux 5.4).
pub const DATA_BACKLOG: i32 = 4096;

/// Bind a listening TCP socket on `addr` (`host:port`; every resolved address is tried in turn) with an accept
/// queue of `backlog`. std's `TcpListener::bind` always asks for 128, and actix's own `backlog` setting only
/// applies to sockets actix binds itself, not to a listener handed to `listen`, so the queue is set here.
pub fn bind(addr: &str, backlog: i32) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    use std::net::ToSocketAddrs;
    let mut last = None;
    for a in addr.to_socket_addrs()? {
        let attempt = (|| {
            let socket = Socket::new(Domain::for_address(a), Type::STREAM, None)?;
            // As std does: a restarted service can bind while old connections sit in TIME_WAIT.
            socket.set_reuse_address(true)?;
            socket.bind(&a.into())?;
            socket.listen(backlog)?;
            Ok::<_, std::io::Error>(TcpListener::from(socket))
        })();
        match attempt {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the address resolved to nothing",
        )
    }))
}

/// Start the admin listener.
pub fn admin_server(
    gate: Arc<Gate>,
    metrics: Arc<Metrics>,
    listener: TcpListener,
) -> std::io::Result<Server> {
    let data = web::Data::from(gate);
    let metrics = web::Data::from(metrics);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(metrics.clone())
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().body("ok\n") }),
            )
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(scrape))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

async fn readyz(gate: web::Data<Gate>) -> HttpResponse {
    if let Some(r) = gate.readiness() {
        // Multi-config mode: one entry per config, ready while one is usable.
        let mut resp = if r.ready {
            HttpResponse::Ok()
        } else {
            HttpResponse::ServiceUnavailable()
        };
        return resp.json(&r);
    }
    if gate.is_ready() {
        HttpResponse::Ok().body("ready\n")
    } else if !gate.has_config() {
        HttpResponse::ServiceUnavailable().body("not ready: no valid AuthConfig loaded\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .body("not ready: key sets not loaded, or shutting down\n")
    }
}

async fn scrape(metrics: web::Data<Metrics>) -> HttpResponse {
    metrics_response(metrics.render(), &metrics)
}

/// The `/metrics` answer: the exposition, or a logged and counted 500 when it could not be encoded.
fn metrics_response(rendered: Result<String, String>, metrics: &Metrics) -> HttpResponse {
    match rendered {
        Ok(text) => HttpResponse::Ok()
            .content_type("text/plain; version=0.0.4")
            .body(text),
        Err(e) => {
            tracing::error!(error = %e, "metrics could not be encoded");
            metrics.internal_error(InternalError::MetricsRender);
            HttpResponse::InternalServerError().body("metrics could not be encoded\n")
        }
    }
}

/// Start a one-worker server that answers `GET /.well-known/jwks.json` on `listener` with `jwks`.
pub fn issuer_jwks_server(jwks: String, listener: TcpListener) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        let body = jwks.clone();
        App::new().route(
            "/.well-known/jwks.json",
            web::get().to(move || {
                let body = body.clone();
                async move {
                    HttpResponse::Ok()
                        .content_type("application/json")
                        .body(body)
                }
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// Listening addresses and shutdown timing of a running service.
pub struct RunOptions {
    /// Data listener address.
    pub listen: String,
    /// Admin listener address.
    pub admin_listen: String,
    /// Data workers.
    pub workers: usize,
    /// Seconds of failing readiness before the listeners stop.
    pub shutdown_delay: u64,
    /// Seconds given to in-flight decisions.
    pub shutdown_timeout: u64,
    /// Most open connections on the data listener (each costs about 10 KiB); more wait in the accept backlog.
    pub max_connections: usize,
    /// The registry `/metrics` on the admin listener renders (the gate's observer).
    pub metrics: Arc<Metrics>,
    /// The gRPC listener, unless it is off.
    pub grpc: Option<GrpcOptions>,
}

/// Bind the listeners (data, admin, and gRPC unless it is off), serve until SIGTERM/SIGINT, then shut down
/// gracefully: readiness turns false first (`/readyz` and the gRPC health service), then the listeners stop
/// accepting and in-flight decisions finish.
pub async fn run(gate: Arc<Gate>, opts: RunOptions) -> std::io::Result<()> {
    let data_l = bind(&opts.listen, DATA_BACKLOG).map_err(|e| {
        std::io::Error::new(e.kind(), format!("cannot listen on {}: {e}", opts.listen))
    })?;
    let admin_l = TcpListener::bind(&opts.admin_listen).map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot listen on {}: {e}", opts.admin_listen),
        )
    })?;
    tracing::info!(data = %data_l.local_addr()?, admin = %admin_l.local_addr()?, "listening");
    let data = data_server(gate.clone(), data_l, &opts)?;
    let admin = admin_server(gate.clone(), opts.metrics.clone(), admin_l)?;
    let admin_h = admin.handle();
    let admin_task = tokio::spawn(admin);
    let grpc = match opts
        .grpc
        .clone()
        .map(|g| crate::grpc::start(gate.clone(), g))
    {
        Some(Ok(g)) => Some(g),
        None => None,
        Some(Err(e)) => {
            data.stop(false).await;
            admin_h.stop(false).await;
            return Err(std::io::Error::other(format!("{e:#}")));
        }
    };
    shutdown_signal().await;
    tracing::info!(
        delay_secs = opts.shutdown_delay,
        "shutting down: readiness off, draining"
    );
    gate.start_draining();
    tokio::time::sleep(std::time::Duration::from_secs(opts.shutdown_delay)).await;
    let grpc_stopped = async {
        match grpc {
            Some(g) => g.stop().await.map_err(|e| {
                tracing::error!(error = format!("{e:#}"), "gRPC server ended with an error");
                std::io::Error::other(format!("gRPC server: {e:#}"))
            }),
            None => Ok(()),
        }
    };
    let ((), grpc_end) = tokio::join!(data.stop(true), grpc_stopped);
    admin_h.stop(true).await;
    server_ended("admin", admin_task.await)?;
    grpc_end?;
    tracing::info!("stopped");
    Ok(())
}

/// How a server task ended: its own I/O error, or its panic, is logged and returned rather than dropped.
pub(crate) fn server_ended(
    name: &str,
    ended: Result<std::io::Result<()>, tokio::task::JoinError>,
) -> std::io::Result<()> {
    let e = match ended {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => e,
        Err(e) => std::io::Error::other(format!("the task panicked or was cancelled: {e}")),
    };
    tracing::error!(server = name, error = %e, "server ended with an error");
    Err(std::io::Error::new(e.kind(), format!("{name} server: {e}")))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            (term, int) => {
                if let Some(e) = term.err().or(int.err()) {
                    tracing::error!(error = %e, "cannot watch SIGTERM/SIGINT; falling back to Ctrl-C");
                }
                ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    ctrl_c().await;
}

/// Wait for Ctrl-C. If it cannot be watched there is no signal to wait for: that is logged and shutdown begins.
async fn ctrl_c() {
    if let Err(e) = tokio::signal::ctrl_c().await {
        tracing::error!(error = %e, "cannot watch Ctrl-C; shutting down");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;
    use std::time::Duration;

    /// A burst of connections to a listener that has not accepted any yet all complete at once: the kernel holds them
    /// in the accept queue. With std's queue of 128 the connect past the queue has its SYN dropped and does not
    /// complete before the client's first retransmission, a second later; a proxy reconnecting its pool after a
    /// restart would see exactly that stall.
    #[test]
    fn data_listener_queues_a_burst_of_connections() {
        let listener = bind("127.0.0.1:0", DATA_BACKLOG).expect("bind on loopback");
        let addr = listener.local_addr().expect("local address");
        let mut held = Vec::new();
        for i in 0..1000 {
            match TcpStream::connect_timeout(&addr, Duration::from_millis(500)) {
                Ok(s) => held.push(s),
                Err(e) => panic!("connect {i} of a burst of 1000 did not complete: {e}"),
            }
        }
        assert_eq!(held.len(), 1000);
    }

    #[test]
    fn bind_names_what_failed() {
        let taken = bind("127.0.0.1:0", 16).expect("bind");
        let port = taken.local_addr().expect("addr").port();
        assert!(bind(&format!("127.0.0.1:{port}"), 16).is_err());
        assert!(bind("not an address", 16).is_err());
    }

    #[test]
    fn a_metrics_render_failure_is_a_counted_500() {
        let metrics = Metrics::new();
        let ok = metrics_response(Ok("x 1\n".into()), &metrics);
        assert_eq!(ok.status(), actix_web::http::StatusCode::OK);
        assert_eq!(
            metrics.internal_error_count(InternalError::MetricsRender),
            0
        );
        let failed = metrics_response(Err("encoder failed".into()), &metrics);
        assert_eq!(
            failed.status(),
            actix_web::http::StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            metrics.internal_error_count(InternalError::MetricsRender),
            1
        );
        let text = metrics.render().expect("the registry encodes");
        assert!(text.contains("authgate_internal_errors_total{site=\"metrics_render\"} 1"));
    }

    #[tokio::test]
    async fn a_server_task_that_failed_is_an_error() {
        assert!(server_ended("data", Ok(Ok(()))).is_ok());
        let failed = server_ended("data", Ok(Err(std::io::Error::other("boom"))))
            .expect_err("an I/O error is returned");
        assert_eq!(failed.to_string(), "data server: boom");
        let panicked = tokio::spawn(async { panic!("server task panics on purpose") }).await;
        let failed =
            server_ended("admin", panicked.map(|()| Ok(()))).expect_err("a panic is returned");
        assert!(
            failed
                .to_string()
                .starts_with("admin server: the task panicked")
        );
    }
}
