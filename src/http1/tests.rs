//! The data listener on a real loopback socket: framing, keep-alive, pipelining, bodies, refusals, stop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::clock::SystemClock;
use crate::config::LoadOptions;
use crate::gate::GateSettings;
use crate::observe::Ignore;

/// A fixed-key HS256 config: a request without a token is a `401` with a JSON body, which makes framing visible.
fn gate() -> Arc<Gate> {
    let gate = Gate::new(
        GateSettings::default(),
        Arc::new(Ignore),
        Arc::new(SystemClock),
    )
    .expect("gate");
    let config = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        fixed:\n          algorithm: HS256\n          key:\n            value: a-secret-of-at-least-thirty-two-bytes!\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n";
    crate::reload::apply_text(&gate, config, &LoadOptions::default(), "test").expect("config");
    Arc::new(gate)
}

struct Listening {
    server: Option<DataServer>,
    addr: std::net::SocketAddr,
    gate: Arc<Gate>,
}

impl Listening {
    fn start(max_connections: usize) -> Self {
        Self::with_timeouts(max_connections, Timeouts::default())
    }

    fn with_timeouts(max_connections: usize, timeouts: Timeouts) -> Self {
        let gate = gate();
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = start(
            gate.clone(),
            l,
            DataOptions {
                workers: 1,
                max_connections,
                shutdown_timeout: Duration::from_secs(5),
                timeouts,
            },
        )
        .expect("start");
        Self {
            server: Some(server),
            addr,
            gate,
        }
    }

    fn connect(&self) -> (TcpStream, BufReader<TcpStream>) {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        let r = BufReader::new(s.try_clone().expect("clone"));
        (s, r)
    }

    fn stop(&mut self, graceful: bool) {
        if let Some(s) = self.server.take() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(s.stop(graceful));
        }
    }
}

impl Drop for Listening {
    fn drop(&mut self) {
        self.stop(false);
    }
}

#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, n: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    }
}

/// Read one answer; `head` for the answer to a `HEAD` request (no body whatever its length says).
fn answer(r: &mut BufReader<TcpStream>, head: bool) -> Answer {
    let mut line = String::new();
    r.read_line(&mut line).expect("status line");
    let status = line
        .strip_prefix("HTTP/1.1 ")
        .and_then(|l| l.get(..3))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).expect("header line");
        let l = line.trim_end_matches("\r\n");
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(": ").expect("name: value");
        headers.push((n.to_owned(), v.to_owned()));
    }
    let mut a = Answer {
        status,
        headers,
        body: String::new(),
    };
    let len: usize = a
        .header("content-length")
        .expect("every answer has a length")
        .parse()
        .expect("a number");
    if !head {
        let mut body = vec![0; len];
        r.read_exact(&mut body).expect("body");
        a.body = String::from_utf8(body).expect("UTF-8 body");
    }
    a
}

/// The peer closed: a read returns end of file (or a reset).
fn closed(r: &mut BufReader<TcpStream>) -> bool {
    let mut b = [0u8; 1];
    matches!(r.read(&mut b), Ok(0) | Err(_))
}

#[test]
fn keep_alive_pipelining_and_head_requests_keep_their_framing() {
    let l = Listening::start(64);
    let (mut s, mut r) = l.connect();
    // Three requests in one write: a GET, a HEAD (its denial's body is not sent), and a GET again.
    s.write_all(
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD /b HTTP/1.1\r\nHost: x\r\n\r\nGET /c HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer not.a.token\r\n\r\n",
    )
    .expect("write");
    let a = answer(&mut r, false);
    assert_eq!(a.status, 401);
    assert_eq!(a.header("www-authenticate"), Some("Bearer"));
    assert!(a.body.contains("\"errors\""), "{}", a.body);
    assert_eq!(a.header("connection"), None);
    let b = answer(&mut r, true);
    assert_eq!(b.status, 401);
    assert_eq!(b.header("content-length"), a.header("content-length"));
    let c = answer(&mut r, false);
    assert_eq!(c.status, 401);
    assert_eq!(
        c.header("www-authenticate"),
        Some("Bearer error=\"invalid_token\"")
    );
    // The connection is still open for the next request.
    s.write_all(b"GET /d HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    assert_eq!(answer(&mut r, false).status, 401);
}

#[test]
fn a_request_split_across_writes_is_answered_once_complete() {
    let l = Listening::start(64);
    let (mut s, mut r) = l.connect();
    for part in [
        &b"GET / HT"[..],
        b"TP/1.1\r\nHost: x\r\nX-A",
        b": 1\r\n",
        b"\r\n",
    ] {
        s.write_all(part).expect("write");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(answer(&mut r, false).status, 401);
}

#[test]
fn a_small_body_is_dropped_and_the_connection_reused() {
    let l = Listening::start(64);
    let (mut s, mut r) = l.connect();
    // The body looks like a request: it must never be read as one.
    let body = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )
    .expect("write");
    assert_eq!(answer(&mut r, false).status, 401);
    assert_eq!(answer(&mut r, false).status, 401);
    // Exactly two answers: nothing more is waiting.
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut b = [0u8; 1];
    assert!(
        r.read(&mut b).is_err(),
        "a third answer: the body was read as a request"
    );
}

#[test]
fn unframed_or_unread_bodies_are_answered_and_the_connection_closed() {
    let l = Listening::start(64);
    for raw in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\nabc",
    ] {
        let (mut s, mut r) = l.connect();
        s.write_all(raw).expect("write");
        let a = answer(&mut r, false);
        assert_eq!(a.status, 401, "{}", String::from_utf8_lossy(raw));
        assert_eq!(a.header("connection"), Some("close"));
        assert!(closed(&mut r), "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn malformed_and_oversized_heads_are_refused_and_closed() {
    let l = Listening::start(64);
    let mut big = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
    big.resize(head::MAX_HEAD_BYTES + 10, b'a');
    for (raw, status) in [
        (b"GET / HTTP/1.1\r\nBad Header\r\n\r\n".to_vec(), 400),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc"
                .to_vec(),
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n".to_vec(),
            400,
        ),
        (b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), 400),
        (big, 431),
    ] {
        let (mut s, mut r) = l.connect();
        s.write_all(&raw).expect("write");
        let a = answer(&mut r, false);
        assert_eq!(a.status, status, "{}", String::from_utf8_lossy(&raw[..40]));
        assert_eq!(a.header("connection"), Some("close"));
        assert!(closed(&mut r));
    }
    // The listener still answers.
    let (mut s, mut r) = l.connect();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(answer(&mut r, false).status, 401);
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_the_connection() {
    let l = Listening::start(64);
    let (mut s, mut r) = l.connect();
    s.write_all(b"GET / HTTP/1.0\r\n\r\n").expect("write");
    let a = answer(&mut r, false);
    assert_eq!(a.header("connection"), Some("close"));
    assert!(closed(&mut r));
    let (mut s, mut r) = l.connect();
    s.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n")
        .expect("write");
    assert_eq!(
        answer(&mut r, false).header("connection"),
        Some("keep-alive")
    );
    assert_eq!(answer(&mut r, false).header("connection"), Some("close"));
    assert!(closed(&mut r));
    let (mut s, mut r) = l.connect();
    s.write_all(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
        .expect("write");
    assert_eq!(answer(&mut r, false).header("connection"), Some("close"));
    assert!(closed(&mut r));
}

#[test]
fn a_draining_gate_closes_each_connection_after_its_answer() {
    let l = Listening::start(64);
    let (mut s, mut r) = l.connect();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(answer(&mut r, false).header("connection"), None);
    l.gate.start_draining();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(answer(&mut r, false).header("connection"), Some("close"));
    assert!(closed(&mut r));
}

#[test]
fn a_graceful_stop_closes_idle_connections_and_stops_accepting() {
    let mut l = Listening::start(64);
    let (mut s, mut r) = l.connect();
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(answer(&mut r, false).status, 401);
    let started = std::time::Instant::now();
    l.stop(true);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "an idle connection held the stop for {:?}",
        started.elapsed()
    );
    assert!(closed(&mut r));
    assert!(
        TcpStream::connect(l.addr).is_err(),
        "the listener still accepts"
    );
}

#[test]
fn the_connection_cap_holds_past_connections_in_the_queue() {
    let l = Listening::start(2);
    let (mut a, mut ra) = l.connect();
    let (mut b, mut rb) = l.connect();
    for (s, r) in [(&mut a, &mut ra), (&mut b, &mut rb)] {
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
        assert_eq!(answer(r, false).status, 401);
    }
    // The third connects (the kernel's queue) but is not served while two are open.
    let (mut c, mut rc) = l.connect();
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    c.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut byte = [0u8; 1];
    assert!(rc.read(&mut byte).is_err(), "served past the cap");
    drop((a, ra));
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    assert_eq!(answer(&mut rc, false).status, 401);
}

fn short() -> Timeouts {
    Timeouts {
        head: Duration::from_millis(400),
        idle: Duration::from_millis(1200),
        write: Duration::from_secs(10),
    }
}

#[test]
fn a_new_connection_that_sends_nothing_is_closed_after_the_head_timeout_without_an_answer() {
    let l = Listening::with_timeouts(64, short());
    let (_s, mut r) = l.connect();
    let started = std::time::Instant::now();
    let mut b = [0u8; 64];
    assert!(matches!(r.read(&mut b), Ok(0)), "closed without an answer");
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_millis(1100),
        "closed after {took:?}, not the head timeout"
    );
}

#[test]
fn a_head_not_finished_in_time_is_answered_408() {
    let l = Listening::with_timeouts(64, short());
    let (mut s, mut r) = l.connect();
    // An answered request first: the next head's deadline counts from its own first byte, not the idle timeout.
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(answer(&mut r, false).status, 401);
    s.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").expect("write");
    let started = std::time::Instant::now();
    // Trickling bytes does not extend the deadline.
    for _ in 0..3 {
        std::thread::sleep(Duration::from_millis(100));
        let _ = s.write_all(b"a");
    }
    let a = answer(&mut r, false);
    assert_eq!(a.status, 408);
    assert_eq!(a.header("connection"), Some("close"));
    let took = started.elapsed();
    assert!(took < Duration::from_millis(1100), "408 after {took:?}");
    assert!(closed(&mut r));
}

#[test]
fn a_kept_connection_lives_while_used_and_closes_after_the_idle_timeout() {
    let l = Listening::with_timeouts(64, short());
    let (mut s, mut r) = l.connect();
    // Requests 700 ms apart: past the head timeout, within the idle one; the connection stays.
    for _ in 0..3 {
        s.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
        assert_eq!(answer(&mut r, false).status, 401);
        std::thread::sleep(Duration::from_millis(700));
    }
    s.write_all(b"GET / HTTP/1.1\r\n\r\n").expect("write");
    assert_eq!(answer(&mut r, false).status, 401);
    let started = std::time::Instant::now();
    assert!(closed(&mut r));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(1000) && took < Duration::from_millis(2500),
        "an idle connection closed after {took:?}, not the idle timeout"
    );
}

/// A connection's task is its memory while idle (it holds no read buffer then): the future of `serve`, the decision
/// future inside it included, stays a few KiB. (An 8 KiB array in it once tripled it.)
#[test]
fn a_connection_task_stays_small() {
    let l = Listening::start(4);
    let s = TcpStream::connect(l.addr).expect("connect");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        s.set_nonblocking(true).expect("nonblocking");
        let stream = tokio::net::TcpStream::from_std(s).expect("tokio stream");
        let shared = Arc::new(Shared {
            gate: l.gate.clone(),
            stopping: AtomicBool::new(false),
            timeouts: Timeouts::default(),
        });
        let task = conn::serve(stream, shared, Arc::new(Live::default()));
        let size = std::mem::size_of_val(&task);
        eprintln!("a connection's task: {size} bytes");
        assert!(size <= 6 * 1024, "a connection's task is {size} bytes");
    });
}
