//! `authgate dev`: the whole thing on a laptop. An in-process issuer (an RSA key made at start, its JWKS served on
//! loopback), a Clerk-shaped AuthConfig pointing at it, the gate, and a ready token with curl lines that show an
//! allow, a deny and a role switch. Loopback only; for development only.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use anyhow::{Context, bail};

use super::{gate_settings, grpc_options, load_options};
use crate::cli::DevArgs;
use crate::clock::SystemClock;
use crate::dev::{DevIssuer, ENVOY_DEV_LISTEN, envoy_bootstrap};
use crate::gate::Gate;
use crate::listeners::{RunOptions, issuer_jwks_server, run, server_ended};
use crate::metrics::Metrics;
use crate::reload::apply_text;

/// Resolve `addr` (`127.0.0.1:8080`, `localhost:8080`, `[::1]:8080`), insist on loopback, and check that it can be
/// bound now, so that the printed curl lines never name an address the service then fails to take.
fn loopback(addr: &str) -> anyhow::Result<SocketAddr> {
    use std::net::ToSocketAddrs;
    let all: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .with_context(|| format!("{addr} is not a host:port address"))?
        .collect();
    if all.is_empty() || all.iter().any(|a| !a.ip().is_loopback()) {
        bail!("authgate dev listens on loopback only; {addr} is not a loopback address");
    }
    let a = all[0];
    if a.port() == 0 {
        bail!(
            "authgate dev needs a fixed port (the printed curl lines name it); {addr} has port 0"
        );
    }
    TcpListener::bind(a).with_context(|| format!("cannot listen on {addr}"))?;
    Ok(a)
}

/// Say how to try the gRPC listener at `grpc`: write the minimal Envoy bootstrap into a fresh temp directory and
/// print its path and how to use it. The lines are comments, so that every `curl` line `dev` prints still targets the
/// data listener.
fn print_grpc(grpc: SocketAddr) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("authgate-dev-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("envoy.yaml");
    std::fs::write(&path, envoy_bootstrap(&grpc.ip().to_string(), grpc.port()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    let (host, port) = ENVOY_DEV_LISTEN;
    println!(
        "# gRPC ext_authz on {grpc}: envoy.service.auth.v3.Authorization/Check and grpc.health.v1.Health (HTTP/2)"
    );
    println!(
        "# Envoy in front of it (ext_authz over gRPC, then a direct answer that echoes the session headers):"
    );
    println!("#   envoy -c {}", path.display());
    println!(
        "#   curl -i -H \"Authorization: Bearer $TOKEN\" http://{host}:{port}/   (the curl lines above work there too)\n"
    );
    Ok(())
}

/// Run `dev` until Ctrl-C.
pub async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let data = loopback(&args.listen)?;
    loopback(&args.admin_listen)?;
    let grpc_addr = if args.grpc_listen.eq_ignore_ascii_case("off") {
        None
    } else {
        Some(loopback(&args.grpc_listen)?)
    };
    let jwks_l =
        TcpListener::bind("127.0.0.1:0").context("cannot bind the issuer's JWKS listener")?;
    let issuer = DevIssuer::generate(format!("http://{}", jwks_l.local_addr()?))?;
    let jwks_server = issuer_jwks_server(issuer.jwks().to_string(), jwks_l)?;
    let jwks_handle = jwks_server.handle();
    let jwks_task = tokio::spawn(jwks_server);

    let metrics = Arc::new(Metrics::new());
    let settings = gate_settings(&args.common);
    let workers = args.common.workers.unwrap_or(1);
    let grpc = grpc_options(&args.grpc_listen, None, workers, &args.common, &settings);
    let gate = Arc::new(Gate::new(settings, metrics.clone(), Arc::new(SystemClock))?);
    let config = issuer.config();
    apply_text(
        &gate,
        &config,
        &load_options(&args.common),
        "authgate dev (embedded)",
    )
    .map_err(|e| anyhow::anyhow!("embedded config failed to load: {e}"))?;

    let token = issuer.token("user_2dev", "user", &["user", "editor"], 3600)?;
    let base = format!("http://{data}");
    println!(
        "authgate dev: FOR DEVELOPMENT ONLY (embedded issuer, throw-away key, loopback listeners)\n"
    );
    println!("AuthConfig in use:\n{config}");
    println!("A token for user_2dev (roles user, editor; valid 1 h):\n");
    println!("export TOKEN={token}\n");
    println!("# allowed: 200 with x-hasura-role: user and x-hasura-user-id: user_2dev");
    println!("curl -i -H \"Authorization: Bearer $TOKEN\" {base}/");
    println!("# denied: 401, no token");
    println!("curl -i {base}/");
    println!("# denied: 403, role admin is not allowed for this token");
    println!("curl -i -H \"Authorization: Bearer $TOKEN\" -H \"x-hasura-role: admin\" {base}/");
    println!("# role switch: 200 with x-hasura-role: editor");
    println!("curl -i -H \"Authorization: Bearer $TOKEN\" -H \"x-hasura-role: editor\" {base}/");
    println!(
        "# metrics and readiness: http://{}/metrics  http://{}/readyz\n",
        args.admin_listen, args.admin_listen
    );
    if let Some(g) = grpc_addr {
        print_grpc(g)?;
    }

    let res = run(
        gate,
        RunOptions {
            listen: args.listen,
            admin_listen: args.admin_listen,
            workers,
            shutdown_delay: 0,
            shutdown_timeout: args.common.shutdown_timeout_secs,
            max_connections: args.common.max_connections,
            metrics,
            grpc,
        },
    )
    .await;
    jwks_handle.stop(true).await;
    let jwks_end = server_ended("embedded JWKS", jwks_task.await);
    res?;
    Ok(jwks_end?)
}
