//! Test support shared by the black-box tests: a real local HTTP server that records what it receives (JWKS and
//! webhook mocks), token minting from the committed keys, and the real `authgate` binary started on loopback.
#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

pub const KEYS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vectors/keys");

pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

pub fn read_key(name: &str, ext: &str) -> String {
    std::fs::read_to_string(format!("{KEYS_DIR}/{name}.{ext}")).expect("committed test key")
}

pub fn public_jwk(name: &str) -> Value {
    serde_json::from_str(&read_key(name, "jwk.json")).expect("committed JWK parses")
}

/// A free loopback port (bound and released), never one this test process has handed out before. Tests run in
/// parallel, and the kernel can give a just-released port to the next caller; Caddy listens with `SO_REUSEPORT`, so
/// two proxies handed the same port would both start and share its connections between two test stacks (the likely
/// cause of a failure seen once: a Bearer request answered 401 while this stack's authgate logged a request without
/// a token, as another test's cookie-configured stack would send).
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<std::collections::BTreeSet<u16>> =
        Mutex::new(std::collections::BTreeSet::new());
    for _ in 0..1000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut seen = HANDED_OUT
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.insert(port) {
            return port;
        }
    }
    panic!("no loopback port that was not handed out before in 1000 tries");
}

// ---------------------------------------------------------------------------------------------------------------
// Mock HTTP server
// ---------------------------------------------------------------------------------------------------------------

/// What the mock answers on one path.
#[derive(Debug, Clone)]
pub struct Route {
    pub status: u16,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
    /// Delay before answering.
    pub delay: Duration,
}

impl Route {
    pub fn json(status: u16, body: &Value) -> Self {
        Route {
            status,
            body: body.to_string().into_bytes(),
            headers: vec![("Content-Type".into(), "application/json".into())],
            delay: Duration::ZERO,
        }
    }
    pub fn raw(status: u16, body: &str) -> Self {
        Route {
            status,
            body: body.as_bytes().to_vec(),
            headers: vec![],
            delay: Duration::ZERO,
        }
    }
}

/// A request the mock received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct MockState {
    routes: HashMap<String, Route>,
    received: Vec<Received>,
    up: bool,
    /// Requests still to be dropped when they arrive on a kept-alive connection ([`MockServer::drop_reused`]).
    drop_reused: usize,
}

/// Requests being handled right now (read, not yet answered), and the most seen at once.
#[derive(Default)]
struct InFlight {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl InFlight {
    fn enter(&self) {
        let n = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A real HTTP/1.1 server on 127.0.0.1 (one thread per connection). By default every answer says
/// `Connection: close` and the connection ends with it; [`MockServer::start_keep_alive`] keeps connections open.
pub struct MockServer {
    pub port: u16,
    state: Arc<Mutex<MockState>>,
    stop: Arc<AtomicBool>,
    in_flight: Arc<InFlight>,
    accepts: Arc<AtomicUsize>,
}

/// How long the server waits between requests on one connection: `None` answers `Connection: close` after the
/// first; `Some(idle)` keeps the connection for the next request and closes it once idle that long.
type KeepAlive = Option<Duration>;

impl MockServer {
    /// A server that closes every connection after its first answer (`Connection: close`).
    pub fn start() -> Self {
        Self::start_with(None)
    }

    /// A keep-alive server: answers carry no `Connection: close`, and a connection serves request after request
    /// until the client closes it, a request says `Connection: close`, an answer is close-delimited, or no new
    /// request arrives within `idle` (then the server closes it, as servers with an idle timeout do).
    pub fn start_keep_alive(idle: Duration) -> Self {
        Self::start_with(Some(idle))
    }

    fn start_with(keep_alive: KeepAlive) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind mock");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(Mutex::new(MockState {
            up: true,
            ..MockState::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let in_flight = Arc::new(InFlight::default());
        let accepts = Arc::new(AtomicUsize::new(0));
        let (st, sp, inf, acc) = (
            state.clone(),
            stop.clone(),
            in_flight.clone(),
            accepts.clone(),
        );
        listener.set_nonblocking(true).expect("nonblocking");
        std::thread::spawn(move || {
            while !sp.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        acc.fetch_add(1, Ordering::SeqCst);
                        let (st, inf) = (st.clone(), inf.clone());
                        // The accepted socket must block (it may inherit non-blocking mode from the listener). A
                        // socket that cannot is closed at once: the client sees a reset, never a silent hang.
                        if stream.set_nonblocking(false).is_err() {
                            continue;
                        }
                        std::thread::spawn(move || handle(stream, &st, &inf, keep_alive));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        MockServer {
            port,
            state,
            stop,
            in_flight,
            accepts,
        }
    }

    /// TCP connections accepted since start (compare with the requests served to see connection reuse).
    pub fn accepts(&self) -> usize {
        self.accepts.load(Ordering::SeqCst)
    }

    /// Requests read and not yet answered, right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.now.load(Ordering::SeqCst)
    }

    /// The most requests in flight at once since start (or the last [`MockServer::reset_max_in_flight`]).
    pub fn max_in_flight(&self) -> usize {
        self.in_flight.max.load(Ordering::SeqCst)
    }

    pub fn reset_max_in_flight(&self) {
        self.in_flight
            .max
            .store(self.in_flight.now.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, path: &str, route: Route) {
        self.state
            .lock()
            .expect("mock lock")
            .routes
            .insert(path.to_owned(), route);
    }

    /// Keep-alive mode: the next `n` requests that arrive on a connection which already served one are read,
    /// recorded, and answered by closing the connection. This is what a client sees when a server's idle timer
    /// fires just as a request on an idle kept-alive connection reaches it: the request was sent, no answer comes.
    pub fn drop_reused(&self, n: usize) {
        self.state.lock().expect("mock lock").drop_reused = n;
    }

    /// Simulate the endpoint being down (connections are reset without an answer).
    pub fn set_up(&self, up: bool) {
        self.state.lock().expect("mock lock").up = up;
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("mock lock").received.clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.received()
            .iter()
            .filter(|r| r.path.split('?').next() == Some(path))
            .count()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Route header marker: answer without `Content-Length` (body delimited by closing the connection).
pub const NO_CONTENT_LENGTH: &str = "x-mock-no-content-length";

/// Serve one connection: one request, or (keep-alive) requests until the connection should end.
fn handle(
    stream: TcpStream,
    state: &Arc<Mutex<MockState>>,
    in_flight: &InFlight,
    keep_alive: KeepAlive,
) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut stream = stream;
    let mut reused = false;
    loop {
        // The first request is expected at once; a later one within the idle time, else the server closes.
        let wait = match (reused, keep_alive) {
            (true, Some(idle)) => idle,
            _ => Duration::from_secs(5),
        };
        if stream.set_read_timeout(Some(wait)).is_err() {
            return;
        }
        let served = serve_one(
            &mut reader,
            &mut stream,
            state,
            in_flight,
            keep_alive.is_some(),
            reused,
        );
        reused = true;
        match served {
            Served::KeepOpen => {}
            // Returning drops both handles of the socket, which closes it.
            Served::Close => return,
        }
    }
}

/// What the connection does after one request.
enum Served {
    KeepOpen,
    Close,
}

fn serve_one(
    reader: &mut BufReader<TcpStream>,
    stream: &mut TcpStream,
    state: &Arc<Mutex<MockState>>,
    in_flight: &InFlight,
    keep_alive: bool,
    reused: bool,
) -> Served {
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() || line.is_empty() {
        return Served::Close;
    }
    // Read timeouts for the rest of the request are the usual 5 s, whatever the idle wait was.
    if stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .is_err()
    {
        return Served::Close;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() {
            return Served::Close;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((n, v)) = h.split_once(':') {
            headers.push((n.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let len: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let client_closes = headers
        .iter()
        .any(|(n, v)| n == "connection" && v.eq_ignore_ascii_case("close"));
    let mut body = vec![0u8; len.min(10 << 20)];
    if reader.read_exact(&mut body).is_err() {
        return Served::Close;
    }
    in_flight.enter();
    let (route, up, drop) = {
        let mut s = state.lock().expect("mock lock");
        s.received.push(Received {
            method,
            path: path.clone(),
            headers,
            body,
        });
        let key = path.split('?').next().unwrap_or_default();
        let drop = reused && s.drop_reused > 0;
        if drop {
            s.drop_reused -= 1;
        }
        (s.routes.get(key).cloned(), s.up, drop)
    };
    if drop {
        in_flight.leave();
        return Served::Close;
    }
    if !up {
        in_flight.leave();
        // Reset without an answer. A failed shutdown leaves the close to the drop, which ends the connection too.
        let _ = stream.shutdown(std::net::Shutdown::Both);
        return Served::Close;
    }
    let route = route.unwrap_or_else(|| Route::raw(404, "not found"));
    if !route.delay.is_zero() {
        std::thread::sleep(route.delay);
    }
    // Counted as answered before the answer is written: the client can only start its next request after reading
    // this one, so the count never includes a request whose answer is already on its way.
    in_flight.leave();
    // A route header `X-Mock-No-Content-Length` (any value) makes the answer close-delimited: no Content-Length,
    // the body ends when the connection closes. The marker itself is not sent.
    let close_delimited = route
        .headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(NO_CONTENT_LENGTH));
    let keep_open = keep_alive && !close_delimited && !client_closes;
    let mut out = format!("HTTP/1.1 {} X\r\n", route.status);
    if !keep_open {
        out.push_str("Connection: close\r\n");
    }
    if !close_delimited {
        out.push_str(&format!("Content-Length: {}\r\n", route.body.len()));
    }
    for (n, v) in &route.headers {
        if !n.eq_ignore_ascii_case(NO_CONTENT_LENGTH) {
            out.push_str(&format!("{n}: {v}\r\n"));
        }
    }
    out.push_str("\r\n");
    let written = stream
        .write_all(out.as_bytes())
        .and_then(|()| stream.write_all(&route.body))
        .and_then(|()| stream.flush());
    if keep_open && written.is_ok() {
        Served::KeepOpen
    } else {
        Served::Close
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Tokens
// ---------------------------------------------------------------------------------------------------------------

fn alg_of(s: &str) -> Option<Algorithm> {
    s.parse().ok()
}

/// Mint a token from a vectors-style spec (`alg`, `sign_with`, `secret`, `kid`, `header_extra`, `claims`, …).
pub fn mint(spec: &Value) -> String {
    let alg = spec["alg"].as_str().expect("token.alg");
    let mut header = json!({"alg": alg, "typ": "JWT"});
    if let Some(kid) = spec.get("kid").and_then(Value::as_str) {
        header["kid"] = kid.into();
    }
    if let Some(extra) = spec.get("header_extra").and_then(Value::as_object) {
        for (k, v) in extra {
            let v = match v
                .as_str()
                .and_then(|s| s.strip_prefix("{{jwk:"))
                .and_then(|s| s.strip_suffix("}}"))
            {
                Some(name) => public_jwk(name),
                None => v.clone(),
            };
            header[k] = v;
        }
    }
    let mut claims = spec.get("claims").cloned().unwrap_or_else(|| json!({}));
    let t = now();
    for (field, claim) in [("exp_in", "exp"), ("nbf_in", "nbf"), ("iat_in", "iat")] {
        if let Some(d) = spec.get(field).and_then(Value::as_i64) {
            claims[claim] = (t + d).into();
        }
    }
    let encode = |header: &Value, claims: &Value| {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    };
    if let Some(pad_to) = spec.get("pad_to").and_then(Value::as_u64) {
        claims["pad"] = "".into();
        let base = encode(&header, &claims).len() + 90; // room for the signature
        let need = (pad_to as usize).saturating_sub(base) * 3 / 4 + 1;
        claims["pad"] = "p".repeat(need).into();
    }
    let input = encode(&header, &claims);
    let Some(algorithm) = alg_of(alg) else {
        return format!("{input}."); // alg none (any casing): empty signature
    };
    let key = if let Some(secret) = spec.get("secret").and_then(Value::as_str) {
        EncodingKey::from_secret(secret.as_bytes())
    } else if let Some(name) = spec.get("secret_from_public_pem").and_then(Value::as_str) {
        EncodingKey::from_secret(read_key(name, "pub.pem").as_bytes())
    } else {
        let name = spec["sign_with"].as_str().expect("token.sign_with");
        let pem = read_key(name, "pem");
        match algorithm {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .expect("committed private key parses")
    };
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, algorithm).expect("sign");
    format!("{input}.{sig}")
}

/// Where the tests serve a JWKS on their mock.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

/// A v4 AuthConfig whose only mode is JWT with `jwkFromUrl` pointing at `mock`'s [`JWKS_PATH`] and the Hasura
/// claims under `/claims.jwt.hasura.io`.
pub fn jwk_from_url_config(mock: &MockServer) -> String {
    format!(
        r#"kind: AuthConfig
version: v4
definition:
  mode:
    jwt:
      key:
        jwkFromUrl: '{}{JWKS_PATH}'
      tokenLocation:
        type: BearerAuthorization
      claimsConfig:
        namespace:
          claimsFormat: Json
          location: /claims.jwt.hasura.io
"#,
        mock.base()
    )
}

/// A JWKS document from vectors-style key entries.
pub fn jwks_doc(keys: &[Value]) -> Value {
    let mut out = Vec::new();
    for k in keys {
        if let Some(secret) = k.get("oct").and_then(Value::as_str) {
            let mut j = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(secret), "use": "sig"});
            for f in ["kid", "alg", "use", "key_ops"] {
                if let Some(v) = k.get(f) {
                    j[f] = v.clone();
                }
            }
            out.push(j);
            continue;
        }
        let name = k["key"].as_str().expect("jwks key name");
        let mut j = public_jwk(name);
        let default_alg = match j["kty"].as_str() {
            Some("EC") => "ES256",
            Some("OKP") => "EdDSA",
            _ => "RS256",
        };
        j["use"] = "sig".into();
        j["alg"] = default_alg.into();
        if let Some(obj) = j.as_object_mut() {
            for (f, v) in k.as_object().into_iter().flatten() {
                if f == "key" {
                    continue;
                }
                if v.is_null() {
                    obj.remove(f);
                } else {
                    obj.insert(f.clone(), v.clone());
                }
            }
        }
        out.push(j);
    }
    json!({"keys": out})
}

// ---------------------------------------------------------------------------------------------------------------
// The service under test
// ---------------------------------------------------------------------------------------------------------------

/// A running `authgate serve` process.
pub struct Service {
    child: Child,
    pub data: u16,
    pub admin: u16,
    pub config_path: PathBuf,
    pub log_path: PathBuf,
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_authgate")
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "authgate-test-{}-{tag}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

impl Service {
    /// The process id of the running service.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Start `authgate serve` on the config text, with extra flags and env.
    pub fn start(config: &str, extra: &[&str], env: &[(String, String)]) -> Service {
        let dir = temp_dir("svc");
        let config_path = dir.join("authconfig.yaml");
        std::fs::write(&config_path, config).expect("write config");
        Self::start_at(&config_path, extra, env)
    }

    pub fn start_at(config_path: &Path, extra: &[&str], env: &[(String, String)]) -> Service {
        let source = ["--config".to_owned(), config_path.display().to_string()];
        Self::start_with(&source, config_path, extra, env)
    }

    /// Start with an explicit config source (`--config F` or `--configmap NS/NAME`); the log goes beside
    /// `log_base`.
    pub fn start_with(
        source: &[String],
        log_base: &Path,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Service {
        // A port picked free can be taken by a parallel test before the service binds it; the service then exits
        // with "cannot listen". Start again on other ports (a few times) rather than fail for a reason not ours.
        for attempt in 1..=4 {
            let mut svc = Self::spawn(source, log_base, extra, env);
            match svc.wait_healthy() {
                Ok(()) => return svc,
                Err(exited) if exited && attempt < 4 && svc.log().contains("cannot listen") => {
                    continue;
                }
                Err(_) => panic!("authgate did not become healthy; log:\n{}", svc.log()),
            }
        }
        unreachable!("the last attempt returns or panics")
    }

    fn spawn(
        source: &[String],
        log_base: &Path,
        extra: &[&str],
        env: &[(String, String)],
    ) -> Service {
        let config_path = log_base;
        let (data, admin) = (free_port(), free_port());
        let log_path = log_base.with_extension("log");
        let log = std::fs::File::create(&log_path).expect("log file");
        let mut cmd = Command::new(bin());
        cmd.arg("serve")
            .args(source)
            .arg("--listen")
            .arg(format!("127.0.0.1:{data}"))
            .arg("--admin-listen")
            .arg(format!("127.0.0.1:{admin}"))
            .args(["--log-format", "json", "--workers", "2"])
            .args(extra)
            .args(if extra.contains(&"--shutdown-delay-secs") {
                &[][..]
            } else {
                &["--shutdown-delay-secs", "0"][..]
            })
            .env("RUST_LOG", "info,authgate=debug")
            .stdout(Stdio::null())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn authgate");
        Service {
            child,
            data,
            admin,
            config_path: config_path.to_owned(),
            log_path,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.data)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.admin)
    }

    /// Wait until `/healthz` answers; `Err(true)` when the process exited first, `Err(false)` on timeout.
    fn wait_healthy(&mut self) -> Result<(), bool> {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if http_get_status(&self.admin_url("/healthz")) == Some(200) {
                return Ok(());
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return Err(true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(false)
    }

    /// Wait until `/readyz` is 200; false on timeout.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if http_get_status(&self.admin_url("/readyz")) == Some(200) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    pub fn metrics(&self) -> String {
        http_get(&self.admin_url("/metrics"))
            .map(|(_, b)| b)
            .unwrap_or_default()
    }

    /// Send SIGTERM.
    pub fn terminate(&self) {
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
    }

    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(s)) = self.child.try_wait() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A metric's value from a Prometheus text scrape (`name{labels}` exactly as rendered, or a bare name).
pub fn metric(scrape: &str, series: &str) -> Option<f64> {
    scrape.lines().find_map(|l| {
        let (name, value) = l.rsplit_once(' ')?;
        (name == series).then(|| value.parse().ok()).flatten()
    })
}

/// Minimal blocking HTTP GET (status and body), for probes.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    let mut s = TcpStream::connect(host).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = String::new();
    s.read_to_string(&mut buf).ok()?;
    let status = buf.split_whitespace().nth(1)?.parse().ok()?;
    let body = buf
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

pub fn http_get_status(url: &str) -> Option<u16> {
    http_get(url).map(|(s, _)| s)
}

/// An async HTTP client that never uses a proxy.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

// ---------------------------------------------------------------------------------------------------------------
// Process probes (/proc)
// ---------------------------------------------------------------------------------------------------------------

/// Whether the test runs under CI (`CI` set, and not `false` or `0`): there a check that cannot run is a failure.
pub fn under_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Whether the `/proc` probes below can read `pid` (its descriptors and its TCP table). When they cannot, `what`
/// (the checks that need them) cannot run: under CI that fails the test here, since a check skipped in silence
/// passes whatever the code does; elsewhere (a sandbox without `/proc`) the skip is announced and `false` returned.
pub fn proc_probes(pid: u32, what: &str) -> bool {
    proc_probes_with(pid, what, under_ci())
}

/// [`proc_probes`] with the CI verdict given (so that both behaviours can be tested in one run).
pub fn proc_probes_with(pid: u32, what: &str, ci: bool) -> bool {
    if fd_count(pid).is_some() && sockets_to(pid, 1).is_some() {
        return true;
    }
    let why =
        format!("/proc/{pid}/fd or /proc/{pid}/net/tcp is not readable, so {what} cannot run");
    assert!(!ci, "{why} (CI is set: a skipped check is a failure)");
    eprintln!("SKIPPED: {why}");
    false
}

/// Open descriptors of `pid`.
pub fn fd_count(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(|d| d.count())
}

/// Sockets of `pid` whose remote end is 127.0.0.1:`port`.
pub fn sockets_to(pid: u32, port: u16) -> Option<usize> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(str::to_owned)
        })
        .collect();
    let table = std::fs::read_to_string(format!("/proc/{pid}/net/tcp")).ok()?;
    let remote = format!("0100007F:{port:04X}");
    Some(
        table
            .lines()
            .skip(1)
            .filter(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                f.len() > 9 && f[2] == remote && inodes.contains(f[9])
            })
            .count(),
    )
}

/// A `/proc/PID/status` field in KiB (`VmRSS`, `VmHWM`).
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Replace `path` the way careful tools do: write a sibling temp file, then rename it over the path.
pub fn write_atomic(path: &Path, text: &str) {
    let tmp = path.with_extension("yaml.tmp");
    std::fs::write(&tmp, text).expect("write temp config");
    std::fs::rename(&tmp, path).expect("rename config into place");
}

/// One decision on the data listener: status and the `x-hasura-role` / `x-hasura-user-id` headers.
pub async fn decide_session(
    client: &reqwest::Client,
    svc: &Service,
    token: Option<&str>,
) -> Result<(u16, Option<String>, Option<String>), String> {
    let mut rb = client.get(svc.url("/"));
    if let Some(t) = token {
        rb = rb.header("authorization", format!("Bearer {t}"));
    }
    let resp = rb
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let h = |n: &str| {
        resp.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Ok((
        resp.status().as_u16(),
        h("x-hasura-role"),
        h("x-hasura-user-id"),
    ))
}

// ---------------------------------------------------------------------------------------------------------------
// The shared vectors file
// ---------------------------------------------------------------------------------------------------------------

pub const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/vectors/public.yaml"
);

/// Lines of the vectors file that start with `prefix`: a count taken from the text, beside the parser's.
pub fn vector_lines_starting(prefix: &str) -> usize {
    let text = std::fs::read_to_string(VECTORS).expect("vectors file is committed");
    text.lines().filter(|l| l.starts_with(prefix)).count()
}

/// The cases of the vectors file, after checking that the parser saw every case the text holds: one `- id:` line
/// per case (the file's layout, see its README), each id once.
pub fn vector_cases() -> Vec<Value> {
    let text = std::fs::read_to_string(VECTORS).expect("vectors file is committed");
    let doc: Value = serde_saphyr::from_str(&text).expect("vectors parse");
    let cases = doc["cases"].as_array().expect("cases list").clone();
    let in_text = vector_lines_starting("- id:");
    assert_eq!(
        cases.len(),
        in_text,
        "{VECTORS} has {in_text} `- id:` lines but {} parsed cases",
        cases.len()
    );
    let ids: std::collections::BTreeSet<&str> = cases
        .iter()
        .map(|c| c["id"].as_str().expect("every case has a string id"))
        .collect();
    assert_eq!(
        ids.len(),
        cases.len(),
        "case ids in {VECTORS} are not unique"
    );
    cases
}

// ---------------------------------------------------------------------------------------------------------------
// A noAuth service for the fault and timing tests
// ---------------------------------------------------------------------------------------------------------------

/// A noAuth config (role `guest`): every request is allowed, so a test measures the listener, not a check.
pub const NOAUTH_GUEST: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      role: guest\n      sessionVariables: {}\n";

/// Wait (10 s at most) for `/readyz`, failing the test with the service's log.
pub fn ready(svc: &Service) {
    assert!(
        svc.wait_ready(Duration::from_secs(10)),
        "authgate never became ready; log:\n{}",
        svc.log()
    );
}

/// One request on a fresh connection; its status and how long it took.
pub fn timed_get(url: &str) -> (Option<u16>, Duration) {
    let t0 = Instant::now();
    let status = http_get_status(url);
    (status, t0.elapsed())
}
