//! `authgate dev`: the whole thing on a laptop, in multi-config mode. Two AuthConfigs, `app` (the end users' API) and
//! `admin` (the staff's back office), each trusting its own in-process issuer (an RSA key made at start, its JWKS
//! served on loopback), so that a token of one is refused by the other; the gate; a ready token per issuer; and curl
//! lines through `/configs/<name>` that show, for each config, an allow and the other issuer's token refused (and for
//! `app` a deny, a role not allowed and a role switch). Loopback only; for development only.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use anyhow::{Context, bail};

use super::{gate_settings, grpc_options, load_options};
use crate::cli::DevArgs;
use crate::clock::SystemClock;
use crate::config::load_str;
use crate::dev::{DevIssuer, ENVOY_DEV_LISTEN, envoy_bootstrap};
use crate::gate::Gate;
use crate::listeners::{RunOptions, issuer_jwks_server, run, server_ended};
use crate::metrics::Metrics;

/// The end users' API: its config's name (also its issuer's) and the shell variable that holds its token.
const APP: (&str, &str) = ("app", "APP_TOKEN");
/// The staff's back office: its config's name (also its issuer's) and the shell variable that holds its token.
const ADMIN: (&str, &str) = ("admin", "ADMIN_TOKEN");

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

/// A curl line with the comment above it saying what it answers (the tests hold every line to its comment).
fn curl(comment: &str, token: Option<&str>, headers: &[&str], url: &str) {
    let mut line = String::from("curl -i");
    if let Some(var) = token {
        line.push_str(&format!(" -H \"Authorization: Bearer ${var}\""));
    }
    for h in headers {
        line.push_str(&format!(" -H \"{h}\""));
    }
    println!("# {comment}\n{line} {url}");
}

/// The curl lines of both configs at `base` (the data listener's `/configs/<name>/`, or Envoy's `/<name>/` when
/// `envoy`), then a request that names no config.
fn print_curls(base: &str, envoy: bool) {
    let (app, app_token) = APP;
    let (admin, admin_token) = ADMIN;
    let url = |name: &str| {
        if envoy {
            format!("{base}/{name}/")
        } else {
            format!("{base}/configs/{name}/")
        }
    };
    curl(
        "allowed: 200 with x-hasura-role: user and x-hasura-user-id: user_2dev",
        Some(app_token),
        &[],
        &url(app),
    );
    if !envoy {
        curl("denied: 401 missing_token, no token", None, &[], &url(app));
        curl(
            "denied: 403 role_not_allowed, role admin is not allowed for this token",
            Some(app_token),
            &["x-hasura-role: admin"],
            &url(app),
        );
        curl(
            "role switch: 200 with x-hasura-role: editor",
            Some(app_token),
            &["x-hasura-role: editor"],
            &url(app),
        );
    }
    curl(
        &format!(
            "refused: 401 unknown_kid, a token of the {admin} issuer: {app} does not hold its key"
        ),
        Some(admin_token),
        &[],
        &url(app),
    );
    curl(
        "allowed: 200 with x-hasura-role: admin and x-hasura-user-id: staff_2dev",
        Some(admin_token),
        &[],
        &url(admin),
    );
    curl(
        &format!(
            "refused: 401 unknown_kid, a token of the {app} issuer: {admin} does not hold its key"
        ),
        Some(app_token),
        &[],
        &url(admin),
    );
    let why = if envoy {
        "a route that sets no authgate-config"
    } else {
        "a path without /configs/<name>"
    };
    curl(
        &format!("no config named: 503 unknown_config, {why} (there is no default config)"),
        Some(app_token),
        &[],
        &format!("{base}/"),
    );
}

/// Say how to try the gRPC listener at `grpc`: write the minimal Envoy bootstrap (a route per config) into a fresh
/// temp directory, print its path, and the curl lines to send through it once it runs.
fn print_grpc(grpc: SocketAddr) -> anyhow::Result<()> {
    let dir = std::env::temp_dir().join(format!("authgate-dev-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join("envoy.yaml");
    let bootstrap = envoy_bootstrap(&grpc.ip().to_string(), grpc.port(), &[APP.0, ADMIN.0]);
    std::fs::write(&path, bootstrap).with_context(|| format!("cannot write {}", path.display()))?;
    let (host, port) = ENVOY_DEV_LISTEN;
    println!(
        "# gRPC ext_authz on {grpc}: envoy.service.auth.v3.Authorization/Check and grpc.health.v1.Health (HTTP/2)"
    );
    println!(
        "# Envoy in front of it: /{app}/ is judged by config {app} and /{admin}/ by {admin}, each route naming its\n\
         # config in the check's context extensions (authgate-config). Envoy answers an allowed request itself,\n\
         # echoing the session headers. Start it, then send the curl lines below it:",
        app = APP.0,
        admin = ADMIN.0
    );
    println!("#   envoy -c {}", path.display());
    print_curls(&format!("http://{host}:{port}"), true);
    println!();
    Ok(())
}

/// An embedded issuer with its JWKS server running.
struct Running {
    issuer: DevIssuer,
    jwks: actix_web::dev::ServerHandle,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    async fn stop(self, what: &str) -> std::io::Result<()> {
        self.jwks.stop(true).await;
        server_ended(what, self.task.await)
    }
}

/// Start the issuer of config `name` on a loopback port of its own: its own URL, key and kid.
fn start_issuer(name: &str) -> anyhow::Result<Running> {
    let l = TcpListener::bind("127.0.0.1:0")
        .with_context(|| format!("cannot bind the JWKS listener of issuer {name}"))?;
    let issuer = DevIssuer::generate(
        format!("http://{}", l.local_addr()?),
        format!("authgate-dev-{name}"),
    )?;
    let server = issuer_jwks_server(issuer.jwks().to_string(), l)?;
    Ok(Running {
        issuer,
        jwks: server.handle(),
        task: tokio::spawn(server),
    })
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
    let app = start_issuer(APP.0)?;
    let admin = start_issuer(ADMIN.0)?;
    let (app_issuer, admin_issuer) = (&app.issuer, &admin.issuer);

    // Multi-config mode, as `serve --config DIR` runs it: the config label on the metrics, no default config.
    let metrics = Arc::new(Metrics::multi_config());
    let settings = gate_settings(&args.common);
    let workers = args.common.workers.unwrap_or(1);
    let grpc = grpc_options(&args.grpc_listen, None, workers, &args.common, &settings);
    let gate =
        Arc::new(Gate::new(settings, metrics.clone(), Arc::new(SystemClock))?.with_multi_config());
    let opts = load_options(&args.common);
    let configs = [
        (APP.0, app_issuer.config()),
        (ADMIN.0, admin_issuer.config()),
    ];
    for (name, text) in &configs {
        match load_str(text, &opts) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!(config = name, warning = %w, "AuthConfig warning");
                }
                gate.config_loaded(name, loaded.config);
            }
            Err(e) => {
                gate.config_failed(name, &e.to_string());
                bail!("embedded config {name} failed to load: {e}");
            }
        }
    }

    let app_token = app_issuer.token("user_2dev", "user", &["user", "editor"], 3600)?;
    let admin_token = admin_issuer.token("staff_2dev", "admin", &["admin"], 3600)?;
    let base = format!("http://{data}");
    println!(
        "authgate dev: FOR DEVELOPMENT ONLY (embedded issuers, throw-away keys, loopback listeners)\n"
    );
    println!(
        "Multi-config mode: two AuthConfigs, each trusting its own issuer (its own key), so a token of one is\n\
         refused by the other. The proxy names the config: over HTTP the path starts with /configs/<name>, over\n\
         gRPC the context extension authgate-config names it. There is no default config.\n"
    );
    println!(
        "AuthConfig {} (the end users' API), issuer {}:\n{}",
        APP.0, app_issuer.issuer, configs[0].1
    );
    println!(
        "AuthConfig {} (the staff's back office), issuer {}:\n{}",
        ADMIN.0, admin_issuer.issuer, configs[1].1
    );
    println!(
        "A token of issuer {} for user_2dev (roles user, editor; valid 1 h):\n",
        APP.0
    );
    println!("export {}={app_token}\n", APP.1);
    println!(
        "A token of issuer {} for staff_2dev (role admin; valid 1 h):\n",
        ADMIN.0
    );
    println!("export {}={admin_token}\n", ADMIN.1);
    print_curls(&base, false);
    println!(
        "# metrics and readiness (one entry per config): http://{}/metrics  http://{}/readyz\n",
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
    let app_end = app.stop("embedded JWKS of app").await;
    let admin_end = admin.stop("embedded JWKS of admin").await;
    res?;
    app_end?;
    Ok(admin_end?)
}
