//! A mock HTTP/1.1 server on loopback that answers set routes and records what it receives: the JWKS endpoint,
//! the webhook, the upstream behind a proxy. It can be taken down, delay answers, keep connections alive and drop a
//! request that arrives on a reused connection.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

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

    /// Every value received for `name`, in order (to catch repeats). Names are recorded lower-case.
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
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

/// A webhook at `/hook` that allows (role `user`, user id `9`) only after `delay`: a decision still running when a
/// shutdown starts.
pub fn slow_hook(delay: Duration) -> MockServer {
    let hook = MockServer::start();
    let mut slow = Route::json(
        200,
        &serde_json::json!({"x-hasura-role": "user", "x-hasura-user-id": "9"}),
    );
    slow.delay = delay;
    hook.set("/hook", slow);
    hook
}
