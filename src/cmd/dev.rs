//! `authgate dev`: the whole thing on a laptop. An in-process issuer (an RSA key made at start, its JWKS served on
//! loopback), a Clerk-shaped AuthConfig pointing at it, the gate, and a ready token with curl lines that show an
//! allow, a deny and a role switch. Loopback only; for development only.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context, bail};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::json;

use crate::cli::DevArgs;
use crate::clock::{SystemClock, unix_now};
use crate::gate::Gate;
use crate::listeners::{RunOptions, run};
use crate::metrics::Metrics;
use crate::reload::apply_text;

const KID: &str = "authgate-dev-key";

/// The embedded issuer: a key pair and its public JWKS.
pub struct DevIssuer {
    key: KeyPair,
    /// The issuer URL (`iss`), also where the JWKS is served.
    pub issuer: String,
}

impl DevIssuer {
    /// A fresh RSA-2048 key.
    pub fn generate(issuer: String) -> anyhow::Result<Self> {
        let key = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
        Ok(Self { key, issuer })
    }

    /// The public JWKS document.
    pub fn jwks(&self) -> serde_json::Value {
        let pk = self.key.public_key();
        let n = URL_SAFE_NO_PAD.encode(pk.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(pk.exponent().big_endian_without_leading_zero());
        json!({"keys": [{"kty": "RSA", "kid": KID, "use": "sig", "alg": "RS256", "n": n, "e": e}]})
    }

    /// A Clerk-template-shaped RS256 token for `user_id` with Hasura claims, valid for `ttl` seconds.
    pub fn token(
        &self,
        user_id: &str,
        default_role: &str,
        allowed: &[&str],
        ttl: u64,
    ) -> anyhow::Result<String> {
        let now = unix_now();
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": KID});
        let claims = json!({
            "iss": self.issuer, "sub": user_id, "sid": "sess_dev", "azp": "http://localhost:3000",
            "iat": now, "nbf": now.saturating_sub(5), "exp": now + ttl,
            "claims.jwt.hasura.io": {
                "x-hasura-default-role": default_role,
                "x-hasura-allowed-roles": allowed,
                "x-hasura-user-id": user_id
            }
        });
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                input.as_bytes(),
                &mut sig,
            )
            .map_err(|_| anyhow::anyhow!("signing failed"))?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }

    /// The Clerk-shaped AuthConfig for this issuer.
    pub fn config(&self) -> String {
        format!(
            "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        jwkFromUrl: {}/.well-known/jwks.json\n      issuer: {}\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n",
            self.issuer, self.issuer
        )
    }
}

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

/// Run `dev` until Ctrl-C.
pub async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let data = loopback(&args.listen)?;
    loopback(&args.admin_listen)?;
    let jwks_l =
        TcpListener::bind("127.0.0.1:0").context("cannot bind the issuer's JWKS listener")?;
    let issuer = DevIssuer::generate(format!("http://{}", jwks_l.local_addr()?))?;
    let jwks_body = issuer.jwks().to_string();
    let jwks_server = HttpServer::new(move || {
        let body = jwks_body.clone();
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
    .listen(jwks_l)?
    .run();
    let jwks_handle = jwks_server.handle();
    let jwks_task = tokio::spawn(jwks_server);

    let metrics = Arc::new(Metrics::new());
    let gate = Arc::new(Gate::new(
        args.common.gate_settings(),
        metrics.clone(),
        Arc::new(SystemClock),
    )?);
    let config = issuer.config();
    apply_text(
        &gate,
        &config,
        &args.common.load_options(),
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

    let res = run(
        gate,
        RunOptions {
            listen: args.listen,
            admin_listen: args.admin_listen,
            workers: args.common.workers.unwrap_or(1),
            shutdown_delay: 0,
            shutdown_timeout: args.common.shutdown_timeout_secs,
            max_connections: args.common.max_connections,
            metrics,
        },
    )
    .await;
    jwks_handle.stop(true).await;
    let jwks_end = crate::listeners::server_ended("embedded JWKS", jwks_task.await);
    res?;
    Ok(jwks_end?)
}
