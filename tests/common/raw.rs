//! A hand-written HTTP/1.1 client over a `TcpStream`, one request per connection, so that a test controls every
//! byte it sends (headers a client library would refuse or rewrite, a GET with a body) and sees every header it
//! gets back; and the blocking probes (`/healthz`, `/readyz`, `/metrics`) built on it.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// An answer as it came over the wire: header names lower-cased, every value kept (repeats too).
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Send one request to `host` (`IP:PORT`, also sent as `Host`) with `Connection: close`, and read the answer
/// until it is complete, the peer closes, or `limit` passes. A `Content-Length` is added for a body (and for any
/// POST).
pub fn request(
    host: &str,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
    limit: Duration,
) -> Result<Reply, String> {
    let addr = host
        .to_socket_addrs()
        .map_err(|e| format!("address {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("address {host}: none"))?;
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .map_err(|e| format!("connect: {e}"))?;
    let deadline = Instant::now() + limit;
    s.set_write_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: {host}\r\n");
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
        if let Some(reply) = parse(&buf, method == "HEAD", false) {
            return Ok(reply);
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "no complete answer within {limit:?}; got {:?}",
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

/// Write `request` as it is to 127.0.0.1:`port` and read until the peer closes or `limit` passes: for requests no
/// client would send.
pub fn exchange(port: u16, request: &[u8], limit: Duration) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to authgate");
    s.set_read_timeout(Some(limit)).expect("read timeout");
    s.write_all(request).expect("write the request");
    let mut buf = Vec::new();
    // A timeout ends the read with what arrived so far; the caller checks the status.
    if let Err(e) = s.read_to_end(&mut buf) {
        eprintln!(
            "reading the answer ended with {e} after {} bytes",
            buf.len()
        );
    }
    String::from_utf8_lossy(&buf).into_owned()
}

/// The status of the last answer in a raw exchange (after any `100 Continue`).
pub fn final_status(raw: &str) -> Option<u16> {
    raw.split("\r\n")
        .filter(|l| l.starts_with("HTTP/1.1 "))
        .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u16>().ok())
        .filter(|s| *s >= 200)
        .last()
}

/// GET an `http://HOST:PORT/PATH` URL, for probes: `None` when no complete answer came within 5 s.
pub fn get(url: &str) -> Option<Reply> {
    let rest = url.strip_prefix("http://")?;
    let (host, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_owned()), |(h, p)| (h, format!("/{p}")));
    request(host, "GET", &path, &[], b"", Duration::from_secs(5)).ok()
}

/// Status and body of a GET, for probes.
pub fn http_get(url: &str) -> Option<(u16, String)> {
    get(url).map(|r| (r.status, String::from_utf8_lossy(&r.body).into_owned()))
}

pub fn http_get_status(url: &str) -> Option<u16> {
    get(url).map(|r| r.status)
}

/// One GET on a fresh connection; its status and how long it took.
pub fn timed_get(url: &str) -> (Option<u16>, Duration) {
    let t0 = Instant::now();
    let status = http_get_status(url);
    (status, t0.elapsed())
}
