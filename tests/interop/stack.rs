//! The stack one scenario runs on: a JWKS server, the real authgate (the token in a cookie or as a Bearer; its gRPC
//! listener on for the gRPC recipe), an upstream that records what reaches it, and the proxy in front; the tokens
//! sent through it, and the checks of what the client and the upstream got.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::configs::Jwt;
use crate::common::free_port;
use crate::common::mock::{MockServer, Received, Route};
use crate::common::raw::{Reply, request};
use crate::common::service::{Service, metric, ready};
use crate::common::tail;
use crate::common::tokens::{JWKS_PATH, mint, rsa1_k1, serve_jwks};
use crate::discovery::{Installed, Kind, Recipe, require};
use crate::proxy::{Edit, Proxy, as_committed};

/// Paths the upstream answers `200` on (any query string).
const UPSTREAM_PATHS: [&str; 3] = ["/", "/v1/graphql", "/api/items"];
/// A header only the upstream sets on its answers, so the client can tell that an answer came from it.
const UPSTREAM_MARK: &str = "x-upstream";

pub const USER_ID: &str = "user_2abcDEF";
pub const ORG_ID: &str = "org_2xyzUVW";

#[derive(Debug, Clone, Copy)]
pub enum Location {
    /// Clerk's same-origin form: `Cookie: …; __session=<token>; …`.
    SessionCookie,
    /// `Authorization: Bearer <token>`.
    Bearer,
}

fn authconfig(jwks_url: &str, location: Location) -> String {
    let jwt = Jwt::jwk_from_url(jwks_url);
    match location {
        Location::SessionCookie => jwt.cookie("__session"),
        Location::Bearer => jwt,
    }
    .yaml()
}

/// A Clerk-shaped RS256 token signed by the committed key `rsa1` (kid `k1`), roles `user` (default) and `editor`,
/// with the given extra session variables.
fn token(vars: &[(&str, &str)]) -> String {
    let mut ns = json!({
        "x-hasura-allowed-roles": ["user", "editor"],
        "x-hasura-default-role": "user",
    });
    for (k, v) in vars {
        ns[*k] = Value::from(*v);
    }
    mint(&json!({
        "alg": "RS256",
        "sign_with": "rsa1",
        "kid": "k1",
        "claims": {"sub": USER_ID, "azp": "http://localhost:3000", "claims.jwt.hasura.io": ns},
        "iat_in": -5,
        "exp_in": 3600,
    }))
}

/// A token with the given session variables besides the roles.
pub fn token_with(vars: &[(&str, &str)]) -> String {
    token(vars)
}

/// A token whose session sets `x-hasura-user-id` and `x-hasura-org-id`.
pub fn full_token() -> String {
    token(&[("x-hasura-user-id", USER_ID), ("x-hasura-org-id", ORG_ID)])
}

/// A token with roles only: no `x-hasura-user-id`, no `x-hasura-org-id`.
pub fn bare_token() -> String {
    token(&[])
}

/// Everything one test needs; dropped proxy first.
pub struct Stack {
    proxy: Proxy,
    gate: Service,
    upstream: MockServer,
    jwks: MockServer,
    location: Location,
}

fn start_gate(config: &str) -> Service {
    Service::start(config, &[], &[])
}

impl Stack {
    /// A stack whose authgate has loaded its JWKS, or `None` when the proxy is not installed (outside CI).
    pub fn start(kind: Kind, location: Location) -> Option<Stack> {
        Self::start_edited(kind, location, as_committed)
    }

    /// [`Stack::start`] with the proxy running a variant of its deploy file.
    pub fn start_edited(kind: Kind, location: Location, edit: Edit) -> Option<Stack> {
        let installed = require(kind)?;
        let jwks = MockServer::start();
        serve_jwks(&jwks, &[rsa1_k1()], None);
        let gate = start_gate(&authconfig(
            &format!("{}{JWKS_PATH}", jwks.base()),
            location,
        ));
        ready(&gate);
        Some(Self::assemble(kind, edit, &installed, jwks, gate, location))
    }

    /// A stack whose authgate's JWKS URL points at a port where nothing listens (never ready).
    pub fn start_jwks_down(kind: Kind) -> Option<Stack> {
        let installed = require(kind)?;
        let jwks = MockServer::start();
        let dead = free_port();
        let gate = start_gate(&authconfig(
            &format!("http://127.0.0.1:{dead}{JWKS_PATH}"),
            Location::SessionCookie,
        ));
        Some(Self::assemble(
            kind,
            as_committed,
            &installed,
            jwks,
            gate,
            Location::SessionCookie,
        ))
    }

    /// A stack whose JWKS server is down until [`Stack::jwks_up`]: authgate is not ready until then.
    pub fn start_jwks_later(kind: Kind) -> Option<Stack> {
        let installed = require(kind)?;
        let jwks = MockServer::start();
        serve_jwks(&jwks, &[rsa1_k1()], None);
        jwks.set_up(false);
        let gate = start_gate(&authconfig(
            &format!("{}{JWKS_PATH}", jwks.base()),
            Location::SessionCookie,
        ));
        Some(Self::assemble(
            kind,
            as_committed,
            &installed,
            jwks,
            gate,
            Location::SessionCookie,
        ))
    }

    fn assemble(
        kind: Kind,
        edit: Edit,
        installed: &Installed,
        jwks: MockServer,
        gate: Service,
        location: Location,
    ) -> Stack {
        let upstream = MockServer::start();
        for path in UPSTREAM_PATHS {
            let mut route = Route::raw(200, "");
            route.headers.push((UPSTREAM_MARK.into(), "reached".into()));
            upstream.set(path, route);
        }
        // The gRPC recipe calls authgate's gRPC listener (common::service gives each authgate a free port for it).
        let port = match kind.recipe() {
            Some(Recipe::Grpc) => gate.grpc,
            _ => gate.data,
        };
        let proxy = Proxy::start(kind, installed, port, upstream.port, edit);
        Stack {
            proxy,
            gate,
            upstream,
            jwks,
            location,
        }
    }

    /// The JWKS server answers from now on.
    pub fn jwks_up(&self) {
        self.jwks.set_up(true);
    }

    /// Whether authgate's `/readyz` is 200 within `timeout`.
    pub fn gate_ready(&self, timeout: Duration) -> bool {
        self.gate.wait_ready(timeout)
    }

    /// Stop authgate (SIGTERM, then wait for it to exit): the proxy is left with nothing to ask.
    pub fn stop_gate(&mut self) {
        self.gate.terminate();
        assert!(
            self.gate.wait_exit(Duration::from_secs(15)).is_some(),
            "authgate did not exit after SIGTERM{}",
            self.logs()
        );
    }

    /// authgate's allows so far came over the transport this proxy's recipe speaks (gRPC for the gRPC recipe, HTTP
    /// for every other), and none over the other: a recipe that silently used the wrong port would fail here.
    pub fn assert_transport(&self) {
        let grpc = self.proxy.kind.recipe() == Some(Recipe::Grpc);
        let series = |t: &str| {
            format!("authgate_requests_total{{decision=\"allow\",reason=\"ok\",transport=\"{t}\"}}")
        };
        let (used, unused) = if grpc {
            ("grpc", "http")
        } else {
            ("http", "grpc")
        };
        let scrape = self.gate.metrics();
        let count = |t: &str| metric(&scrape, &series(t)).unwrap_or(0.0);
        assert!(
            count(used) >= 1.0 && count(unused) == 0.0,
            "{}: allows by transport: {used} {}, {unused} {}",
            self.name(),
            count(used),
            count(unused)
        );
    }

    pub fn proxy(&self) -> &Proxy {
        &self.proxy
    }

    /// The headers that carry `token` to authgate in this stack's token location.
    pub fn credentials(&self, token: &str) -> Vec<(String, String)> {
        match self.location {
            Location::SessionCookie => vec![("Cookie".into(), format!("__session={token}"))],
            Location::Bearer => vec![("Authorization".into(), format!("Bearer {token}"))],
        }
    }

    /// Send one request through the proxy.
    pub fn send(
        &self,
        method: &str,
        target: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Reply {
        let host = format!("127.0.0.1:{}", self.proxy.port);
        request(
            &host,
            method,
            target,
            headers,
            body,
            Duration::from_secs(20),
        )
        .unwrap_or_else(|e| {
            panic!(
                "{method} {target} through {}: {e}{}",
                self.name(),
                self.logs()
            )
        })
    }

    pub fn get(&self, target: &str, headers: &[(String, String)]) -> Reply {
        self.send("GET", target, headers, b"")
    }

    /// Requests the upstream received so far.
    pub fn seen(&self) -> Vec<Received> {
        self.upstream.received()
    }

    pub fn name(&self) -> &'static str {
        self.proxy.kind.name()
    }

    /// Recent logs of the proxy and of authgate, for failure messages.
    pub fn logs(&self) -> String {
        format!(
            "\n--- {} log:\n{}\n--- authgate log:\n{}",
            self.name(),
            self.proxy.log(),
            tail(&self.gate.log(), 20)
        )
    }

    /// The one request the upstream received since `before` requests, checked against what the client sent.
    pub fn forwarded(&self, before: usize, method: &str, target: &str, reply: &Reply) -> Received {
        let seen = self.seen();
        assert_eq!(
            seen.len(),
            before + 1,
            "{}: {method} {target} should reach the upstream exactly once (client got {}){}",
            self.name(),
            reply.status,
            self.logs()
        );
        assert_eq!(
            reply.status,
            200,
            "{}: {method} {target}: the client should get the upstream's 200{}",
            self.name(),
            self.logs()
        );
        assert_eq!(
            reply.header(UPSTREAM_MARK),
            Some("reached"),
            "{}: the answer should come from the upstream",
            self.name()
        );
        let got = seen[before].clone();
        assert_eq!(
            got.method,
            method,
            "{}: method at the upstream",
            self.name()
        );
        assert_eq!(
            got.path,
            target,
            "{}: path and query at the upstream",
            self.name()
        );
        got
    }

    /// A denial: the client gets `status` and nothing new reached the upstream.
    pub fn assert_denied(&self, before: usize, reply: &Reply, status: u16, what: &str) {
        assert_eq!(
            reply.status,
            status,
            "{}: {what}: status at the client{}",
            self.name(),
            self.logs()
        );
        assert!(
            reply.header(UPSTREAM_MARK).is_none(),
            "{}: {what}: the answer must not come from the upstream",
            self.name()
        );
        assert_eq!(
            self.seen().len(),
            before,
            "{}: {what}: nothing may reach the upstream{}",
            self.name(),
            self.logs()
        );
    }
}

/// The upstream received exactly this session: `x-hasura-role` = `role`, `x-hasura-user-id` and `x-hasura-org-id`
/// once with the token's value or not at all, and no other `x-hasura-*` header.
pub fn assert_session(
    proxy: &str,
    r: &Received,
    role: &str,
    user_id: Option<&str>,
    org_id: Option<&str>,
) {
    let hasura: Vec<&(String, String)> = r
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-hasura-"))
        .collect();
    let msg = || format!("{proxy}: x-hasura-* headers at the upstream: {hasura:?}");
    assert_eq!(r.values("x-hasura-role"), vec![role], "{}", msg());
    assert_eq!(
        r.values("x-hasura-user-id"),
        user_id.into_iter().collect::<Vec<_>>(),
        "{}",
        msg()
    );
    assert_eq!(
        r.values("x-hasura-org-id"),
        org_id.into_iter().collect::<Vec<_>>(),
        "{}",
        msg()
    );
    let expected = 1 + usize::from(user_id.is_some()) + usize::from(org_id.is_some());
    assert_eq!(hasura.len(), expected, "{}", msg());
    assert!(
        r.values("x-envoy-auth-headers-to-remove").is_empty(),
        "{proxy}: authgate's removal list must not reach the upstream"
    );
}

pub fn hdr(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}
