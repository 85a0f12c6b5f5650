//! Multi-config mode (issue 14, policy §13) behind the real proxies, each run from its multi-config file in
//! `deploy/proxies/` (`nginx-multi.conf`, `envoy-multi-http.yaml`, `envoy-multi-grpc.yaml`): the real
//! `authgate serve --config DIR` with two configs, `a` and `b`, of different issuers and keys (each with its own
//! loopback JWKS server), and one upstream behind the proxy's `/a/` and `/b/` routes that records what reaches it.
//!
//! What must hold for each form: a route judges with its own config only; nothing the client writes in its path
//! (`/configs/b/...`, `/a/configs/b/...`, dot segments) chooses another config; a check that names no config is
//! `503 unknown_config`; client `x-hasura-*` headers never reach the upstream as the client wrote them.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::configs::Jwt;
use crate::common::mock::{MockServer, Received, Route};
use crate::common::raw::{Reply, http_get, request};
use crate::common::service::{Service, metric};
use crate::common::tokens::{JWKS_PATH, mint, serve_jwks};
use crate::common::{tail, temp_dir};
use crate::discovery::{Kind, Recipe, require};
use crate::proxy::{Edit, Proxy, as_committed};
use crate::stack::hdr;

/// One multi-config file and the proxy that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    Nginx,
    EnvoyHttp,
    EnvoyGrpc,
}

impl Form {
    fn kind(self) -> Kind {
        match self {
            Form::Nginx => Kind::Nginx,
            Form::EnvoyHttp => Kind::Envoy(Recipe::Http),
            Form::EnvoyGrpc => Kind::Envoy(Recipe::Grpc),
        }
    }

    pub fn file(self) -> &'static str {
        match self {
            Form::Nginx => "deploy/proxies/nginx-multi.conf",
            Form::EnvoyHttp => "deploy/proxies/envoy-multi-http.yaml",
            Form::EnvoyGrpc => "deploy/proxies/envoy-multi-grpc.yaml",
        }
    }

    /// The transport authgate is asked over, as its metrics name it.
    pub fn transport(self) -> &'static str {
        match self {
            Form::EnvoyGrpc => "grpc",
            Form::Nginx | Form::EnvoyHttp => "http",
        }
    }
}

/// One of the two configs: its name (the file stem), its issuer, the committed key its tokens are signed with and
/// the kid its JWKS lists that key under, and the user its tokens carry.
#[derive(Debug, Clone, Copy)]
pub struct Tenant {
    pub name: &'static str,
    issuer: &'static str,
    key: &'static str,
    kid: &'static str,
    pub user: &'static str,
}

pub const A: Tenant = Tenant {
    name: "a",
    issuer: "https://a.tenants.test",
    key: "rsa1",
    kid: "key-a",
    user: "user_a",
};

pub const B: Tenant = Tenant {
    name: "b",
    issuer: "https://b.tenants.test",
    key: "rsa2",
    kid: "key-b",
    user: "user_b",
};

impl Tenant {
    /// A token of this tenant's issuer, signed by its key: roles `user` (default) and `editor`, its user id.
    pub fn token(self) -> String {
        mint(&json!({
            "alg": "RS256",
            "sign_with": self.key,
            "kid": self.kid,
            "claims": {
                "sub": self.user,
                "iss": self.issuer,
                "claims.jwt.hasura.io": {
                    "x-hasura-allowed-roles": ["user", "editor"],
                    "x-hasura-default-role": "user",
                    "x-hasura-user-id": self.user,
                },
            },
            "iat_in": -5,
            "exp_in": 3600,
        }))
    }

    pub fn bearer(self) -> Vec<(String, String)> {
        vec![hdr("Authorization", &format!("Bearer {}", self.token()))]
    }
}

/// Paths the upstream answers `200` on: every path a scenario sends, so that a request that should have been
/// stopped and was not shows up as a `200` from the upstream, not as the upstream's `404`.
const UPSTREAM_PATHS: [&str; 9] = [
    "/a/v1/graphql",
    "/b/v1/graphql",
    "/a/configs/b/graphql",
    "/configs/b/graphql",
    "/configs/a/graphql",
    "/v1/graphql",
    "/c/v1/graphql",
    "/b/configs/a/graphql",
    "/a/b/v1/graphql",
];
const UPSTREAM_MARK: &str = "x-upstream";

/// authgate on a directory with configs `a` and `b`, their JWKS servers, the upstream and the proxy.
pub struct MultiStack {
    pub form: Form,
    proxy: Proxy,
    gate: Service,
    upstream: MockServer,
    _jwks: Vec<MockServer>,
    dir: PathBuf,
}

impl MultiStack {
    /// A stack whose configs are both usable, or `None` when the proxy is not installed (outside CI).
    pub fn start(form: Form) -> Option<MultiStack> {
        Self::start_edited(form, as_committed)
    }

    /// [`MultiStack::start`] with the proxy running a variant of its file.
    pub fn start_edited(form: Form, edit: Edit) -> Option<MultiStack> {
        let installed = require(form.kind())?;
        let dir = temp_dir("multi");
        let configs = dir.join("configs");
        std::fs::create_dir_all(&configs).expect("configs dir");
        let mut jwks = Vec::new();
        for t in [A, B] {
            let server = MockServer::start();
            serve_jwks(&server, &[json!({"key": t.key, "kid": t.kid})], None);
            let url = format!("{}{JWKS_PATH}", server.base());
            let text = Jwt::jwk_from_url(&url).issuer(t.issuer).yaml();
            std::fs::write(configs.join(format!("{}.yaml", t.name)), text).expect("write config");
            jwks.push(server);
        }
        let source = ["--config".to_owned(), configs.display().to_string()];
        let gate = Service::start_with(&source, &dir.join("authgate"), &[], &[]);
        wait_usable(&gate, &["a", "b"]);
        let upstream = MockServer::start();
        for path in UPSTREAM_PATHS {
            let mut route = Route::raw(200, "");
            route.headers.push((UPSTREAM_MARK.into(), "reached".into()));
            upstream.set(path, route);
        }
        let port = match form {
            Form::EnvoyGrpc => gate.grpc,
            Form::Nginx | Form::EnvoyHttp => gate.data,
        };
        let proxy = Proxy::start_file(
            form.kind(),
            form.file(),
            &installed,
            port,
            upstream.port,
            edit,
        );
        Some(MultiStack {
            form,
            proxy,
            gate,
            upstream,
            _jwks: jwks,
            dir,
        })
    }

    pub fn name(&self) -> &'static str {
        self.form.file()
    }

    pub fn get(&self, target: &str, headers: &[(String, String)]) -> Reply {
        let host = format!("127.0.0.1:{}", self.proxy.port);
        request(&host, "GET", target, headers, b"", Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("GET {target} through {}: {e}{}", self.name(), self.logs()))
    }

    /// A request to authgate's data listener itself, as a proxy that names no config would send it.
    pub fn get_gate(&self, target: &str, headers: &[(String, String)]) -> Reply {
        let host = format!("127.0.0.1:{}", self.gate.data);
        request(&host, "GET", target, headers, b"", Duration::from_secs(10))
            .unwrap_or_else(|e| panic!("GET {target} at authgate: {e}{}", self.logs()))
    }

    pub fn seen(&self) -> Vec<Received> {
        self.upstream.received()
    }

    pub fn logs(&self) -> String {
        format!(
            "\n--- {} log:\n{}\n--- authgate log:\n{}",
            self.name(),
            self.proxy.log(),
            tail(&self.gate.log(), 30)
        )
    }

    /// `target` with `headers` reaches the upstream exactly once, as sent, and its answer reaches the client.
    pub fn passes(&self, target: &str, headers: &[(String, String)], what: &str) -> Received {
        let before = self.seen().len();
        let reply = self.get(target, headers);
        let seen = self.seen();
        assert!(
            reply.status == 200 && seen.len() == before + 1,
            "{}: {what}: GET {target} should reach the upstream once; client got {}, upstream got {} request(s){}",
            self.name(),
            reply.status,
            seen.len() - before,
            self.logs()
        );
        assert_eq!(
            reply.header(UPSTREAM_MARK),
            Some("reached"),
            "{}: {what}: the answer should come from the upstream",
            self.name()
        );
        let got = seen[before].clone();
        assert_eq!(
            got.path,
            target,
            "{}: {what}: path at the upstream",
            self.name()
        );
        got
    }

    /// `target` with `headers` gets `status` at the client, and nothing reaches the upstream.
    pub fn stopped(
        &self,
        target: &str,
        headers: &[(String, String)],
        status: u16,
        what: &str,
    ) -> Reply {
        let before = self.seen().len();
        let reply = self.get(target, headers);
        let reached: Vec<String> = self.seen()[before..]
            .iter()
            .map(|r| r.path.clone())
            .collect();
        assert!(
            reply.status == status && reached.is_empty() && reply.header(UPSTREAM_MARK).is_none(),
            "{}: {what}: GET {target}: want {status} at the client and nothing upstream; client got {}, the \
             upstream got {reached:?}{}",
            self.name(),
            reply.status,
            self.logs()
        );
        reply
    }

    /// authgate's `requests_total` series for `config` (or for requests naming none, when `None`).
    pub fn count(
        &self,
        config: Option<&str>,
        decision: &str,
        reason: &str,
        transport: &str,
    ) -> f64 {
        let series = match config {
            Some(c) => format!(
                "authgate_requests_total{{config=\"{c}\",decision=\"{decision}\",reason=\"{reason}\",transport=\"{transport}\"}}"
            ),
            // Requests that name no known config are counted under the empty name (never under the name asked for).
            None => format!(
                "authgate_requests_total{{config=\"\",decision=\"{decision}\",reason=\"{reason}\",transport=\"{transport}\"}}"
            ),
        };
        metric(&self.gate.metrics(), &series).unwrap_or(0.0)
    }

    /// authgate's denials (401 and 403, any reason) by `config` over `transport`.
    pub fn denials(&self, config: &str, transport: &str) -> f64 {
        let head = format!("authgate_requests_total{{config=\"{config}\",decision=\"deny\",");
        let tail = format!(",transport=\"{transport}\"}}");
        self.gate
            .metrics()
            .lines()
            .filter_map(|l| l.rsplit_once(' '))
            .filter(|(name, _)| name.starts_with(&head) && name.ends_with(&tail))
            .filter_map(|(_, v)| v.parse::<f64>().ok())
            .sum()
    }

    /// All of authgate's `requests_total` lines, for failure messages.
    pub fn request_series(&self) -> String {
        self.gate
            .metrics()
            .lines()
            .filter(|l| l.starts_with("authgate_requests_total{"))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for MultiStack {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Wait (15 s at most) until `/readyz` lists every config of `names` as usable.
fn wait_usable(gate: &Service, names: &[&str]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Some((_, body)) = http_get(&gate.admin_url("/readyz")) {
            let usable = serde_json::from_str::<Value>(&body).ok().is_some_and(|v| {
                names.iter().all(|n| {
                    v["configs"]
                        .as_array()
                        .is_some_and(|cs| cs.iter().any(|c| c["name"] == *n && c["usable"] == true))
                })
            });
            if usable {
                return;
            }
            last = body;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!(
        "configs {names:?} never all usable; last /readyz: {last}\nlog:\n{}",
        tail(&gate.log(), 30)
    );
}

/// The error code of an authgate denial body (`errors[0].extensions.code`).
pub fn code(reply: &Reply) -> Option<String> {
    let v: Value = serde_json::from_slice(&reply.body).ok()?;
    v.pointer("/errors/0/extensions/code")?
        .as_str()
        .map(str::to_owned)
}
