//! actix-web apps: the data listener (every method and path is a decision) and the admin listener
//! (`/healthz`, `/readyz`, `/metrics`). `main` and the tests build them through these same factories.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::{App, HttpResponse, HttpServer, web};

use crate::contracts::forward;
use crate::gate::Gate;

/// Start the data listener on `listener` with the workers, connection cap and shutdown timeout of `opts`.
pub fn data_server(
    gate: Arc<Gate>,
    listener: TcpListener,
    opts: &RunOptions,
) -> std::io::Result<Server> {
    let data = web::Data::from(gate);
    let workers = opts.workers.max(1);
    // actix counts connections per worker; the flag is for the whole process.
    let per_worker = opts.max_connections.max(1).div_ceil(workers);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .default_service(web::to(forward::decide))
    })
    .workers(workers)
    .max_connections(per_worker)
    .max_connection_rate(1024)
    .backlog(4096)
    .client_request_timeout(std::time::Duration::from_secs(10))
    .shutdown_timeout(opts.shutdown_timeout)
    .disable_signals()
    .listen(listener)?
    .run())
}

/// Start the admin listener.
pub fn admin_server(gate: Arc<Gate>, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::from(gate);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route(
                "/healthz",
                web::get().to(|| async { HttpResponse::Ok().body("ok\n") }),
            )
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run())
}

async fn readyz(gate: web::Data<Gate>) -> HttpResponse {
    if gate.is_ready() {
        HttpResponse::Ok().body("ready\n")
    } else if !gate.has_config() {
        HttpResponse::ServiceUnavailable().body("not ready: no valid AuthConfig loaded\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .body("not ready: key sets not loaded, or shutting down\n")
    }
}

async fn metrics(gate: web::Data<Gate>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(gate.metrics().render())
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
}

/// Bind both listeners, serve until SIGTERM/SIGINT, then shut down gracefully: readiness turns false first,
/// then the listeners stop accepting and in-flight decisions finish.
pub async fn run(gate: Arc<Gate>, opts: RunOptions) -> std::io::Result<()> {
    let data_l = TcpListener::bind(&opts.listen).map_err(|e| {
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
    let admin = admin_server(gate.clone(), admin_l)?;
    let (data_h, admin_h) = (data.handle(), admin.handle());
    let data_task = tokio::spawn(data);
    let admin_task = tokio::spawn(admin);
    shutdown_signal().await;
    tracing::info!(
        delay_secs = opts.shutdown_delay,
        "shutting down: readiness off, draining"
    );
    gate.start_draining();
    tokio::time::sleep(std::time::Duration::from_secs(opts.shutdown_delay)).await;
    data_h.stop(true).await;
    admin_h.stop(true).await;
    let _ = data_task.await;
    let _ = admin_task.await;
    tracing::info!("stopped");
    Ok(())
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
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
