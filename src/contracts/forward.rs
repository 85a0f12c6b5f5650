//! The HTTP contract shared by NGINX `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`, HAProxy and Envoy /
//! Istio `ext_authz` (HTTP): any method, any path; the answer is 200 with the `x-hasura-*` session headers, or a
//! 401/403/503 denial with a GraphQL-style error body.
//!
//! Multi-config mode (policy §13): the request line's path must start with `/configs/<name>`, followed by `/`,
//! `?` or its end; the name is compared as raw bytes (no percent-decoding, no normalisation: `%61` is not `a`), and
//! what follows is the client's own path (Envoy appends it to its `path_prefix`), never read for selection.
//!
//! The answer is written as HTTP/1.1 bytes by [`render`]; the listener that reads requests and sends answers is
//! `crate::http1`.

use std::cell::RefCell;
use std::rc::Rc;

use super::answer;
use crate::authn::reason::Deny;
use crate::authn::request::{AuthRequest, visible_ascii};
use crate::authn::session::{RenderedVars, Session};
use crate::gate::{Decision, Gate};
use crate::observe::Transport;
use crate::telemetry::{self, HeaderSource};

/// One request as the data listener read it: the request line's method and target (as sent), and the headers in
/// arrival order, names lower-case.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// The request target's path and query (an absolute-form target already reduced to them).
    pub target: &'a str,
    pub headers: &'a [(&'a str, &'a [u8])],
}

/// The proxy's request headers carry its trace context (`traceparent`, or B3 when configured).
struct ProxyHeaders<'a>(&'a [(&'a str, &'a [u8])]);

impl HeaderSource for ProxyHeaders<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        let (_, v) = self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name))?;
        std::str::from_utf8(v).ok()
    }
}

/// The original method and URL for logs, from the headers of the proxy in use, else the request line. `Forwarded`
/// and `_`/`.` spellings are never consulted (they are other names).
fn original<'a>(req: &Request<'a>) -> (&'a str, &'a str) {
    let headers = AuthRequest {
        method: "",
        uri: "",
        headers: req.headers,
    };
    let h = |n: &str| headers.first(n).and_then(visible_ascii);
    let method = h("x-original-method")
        .or_else(|| h("x-forwarded-method"))
        .unwrap_or(req.method);
    let uri = h("x-original-url")
        .or_else(|| h("x-forwarded-uri"))
        .unwrap_or(req.target);
    (method, uri)
}

/// The decision for one request of the data listener: every request is a decision.
pub async fn decide(gate: &Gate, req: &Request<'_>) -> Decision {
    let (method, uri) = original(req);
    let areq = AuthRequest {
        method,
        uri,
        headers: req.headers,
    };
    // The request line as received: never decoded nor normalised.
    let name = if gate.is_multi_config() {
        config_from_path(req.target.as_bytes())
    } else {
        None
    };
    let span = telemetry::decision_span(Transport::Http, &ProxyHeaders(req.headers));
    tracing::Instrument::instrument(gate.decide_named(name, &areq, Transport::Http), span).await
}

/// The config a request path names: the bytes after `/configs/` up to the next `/` or `?` (or the end). `None`
/// when the path does not start with `/configs/`.
pub fn config_from_path(path_and_query: &[u8]) -> Option<&[u8]> {
    let rest = path_and_query.strip_prefix(b"/configs/")?;
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// How an answer is framed on its connection.
#[derive(Debug, Clone, Copy, Default)]
pub struct Framing {
    /// The request was `HEAD`: the body's length is sent, the body is not.
    pub head_only: bool,
    /// The connection closes after this answer (`Connection: close`).
    pub close: bool,
    /// An HTTP/1.0 request that asked to keep the connection (`Connection: keep-alive` is answered).
    pub keep_alive_10: bool,
}

/// Write the HTTP/1.1 answer of a decision to `out`: `200` with `Cache-Control` and the session headers, or the
/// denial's status, headers and JSON body.
pub fn render(d: &Decision, framing: Framing, out: &mut Vec<u8>) {
    match &d.result {
        Ok(allowed) => {
            let mark = out.len();
            out.extend_from_slice(b"HTTP/1.1 200 OK\r\ncache-control: ");
            cache_control(allowed.max_age, out);
            if let Err(e) = session_header_lines(&allowed.session, d.cache_hit, out) {
                out.truncate(mark);
                return render_denial(&e, framing, out);
            }
            if !d.headers_to_remove.is_empty() {
                let names = d.headers_to_remove.join(", ");
                if answer::header_value_ok(names.as_bytes()) {
                    line(out, "x-envoy-auth-headers-to-remove", names.as_bytes());
                }
            }
            end_head(out, 0, framing);
        }
        Err(e) => render_denial(e, framing, out),
    }
}

/// The answer to a request that is not answered by a decision (malformed, too large, too slow): its status, an empty
/// body, and the connection closed.
pub fn render_refusal(status: u16, out: &mut Vec<u8>) {
    status_line(status, out);
    out.extend_from_slice(b"cache-control: no-store\r\n");
    end_head(
        out,
        0,
        Framing {
            close: true,
            ..Framing::default()
        },
    );
}

fn status_line(status: u16, out: &mut Vec<u8>) {
    let reason = http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(itoa3(status).as_slice());
    out.push(b' ');
    out.extend_from_slice(reason.as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// A status as its three digits (statuses out of 100..=999 are never produced; they would print as `500`).
fn itoa3(status: u16) -> [u8; 3] {
    let s = if (100..1000).contains(&status) {
        status
    } else {
        500
    };
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

fn line(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `content-length`, `date`, the connection header the framing needs, and the blank line.
fn end_head(out: &mut Vec<u8>, body_len: usize, framing: Framing) {
    out.extend_from_slice(b"content-length: ");
    let mut digits = [0u8; 20];
    let mut n = body_len;
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
    out.extend_from_slice(b"\r\ndate: ");
    date(out);
    if framing.close {
        out.extend_from_slice(b"\r\nconnection: close");
    } else if framing.keep_alive_10 {
        out.extend_from_slice(b"\r\nconnection: keep-alive");
    }
    out.extend_from_slice(b"\r\n\r\n");
}

/// Put the session header lines of `s` into `out`. A cached identity comes again, so its lines are reused (or kept
/// for next time); a fresh one (the cache off, or a token's first answer) writes them straight in, as it may never
/// come again.
fn session_header_lines(s: &Session, cached: bool, out: &mut Vec<u8>) -> Result<(), Deny> {
    if cached {
        out.extend_from_slice(&session_lines(s)?);
    } else {
        for (n, v) in answer::session_headers(s)? {
            line(out, n, v.as_bytes());
        }
    }
    Ok(())
}

/// The session header lines of a cached answer of `s` (`answer::session_headers`, which leaves out any pair that
/// cannot be sent). The decision cache hands every hit the same session variables (one shared string per identity),
/// so each thread keeps the lines it wrote for the last sessions it answered from the cache, keyed by that string's
/// identity and the role: a hit then costs a lookup and one copy instead of validating and unpacking them again.
fn session_lines(s: &Session) -> Result<Rc<[u8]>, Deny> {
    let slot = (s.vars.addr() >> 4 ^ s.role.len()) % RENDERED_SLOTS;
    let hit = RENDERED.with(|r| match &r.borrow()[slot] {
        Some((vars, role, lines)) if vars.same(&s.vars) && **role == *s.role => Some(lines.clone()),
        _ => None,
    });
    if let Some(lines) = hit {
        return Ok(lines);
    }
    let mut written = Vec::new();
    for (n, v) in answer::session_headers(s)? {
        line(&mut written, n, v.as_bytes());
    }
    let lines: Rc<[u8]> = written.into();
    RENDERED.with(|r| {
        r.borrow_mut()[slot] = Some((s.vars.clone(), s.role.as_str().into(), lines.clone()));
    });
    Ok(lines)
}

/// Sessions whose header lines a thread keeps (direct-mapped; a collision only evicts).
const RENDERED_SLOTS: usize = 64;

/// A session's variables (held, so their address stays theirs), its role, and its header lines.
type RenderedSlot = Option<(RenderedVars, Box<str>, Rc<[u8]>)>;

thread_local! {
    /// The header lines of the sessions this thread answered last (see [`session_lines`]).
    static RENDERED: RefCell<Vec<RenderedSlot>> = RefCell::new(vec![None; RENDERED_SLOTS]);
    /// The last `Cache-Control` value's `max-age` and its text (cached answers mostly share one: the cache TTL).
    static LAST_CACHE_CONTROL: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    /// The `Date` of the current second, as `(unix seconds, text)`.
    static DATE: RefCell<(u64, [u8; 29])> = const { RefCell::new((u64::MAX, [b' '; 29])) };
}

fn cache_control(max_age: u64, out: &mut Vec<u8>) {
    LAST_CACHE_CONTROL.with(|last| {
        let mut last = last.borrow_mut();
        if last.0 != max_age {
            *last = (max_age, format!("private, max-age={max_age}\r\n"));
        }
        out.extend_from_slice(last.1.as_bytes());
    });
}

/// The `Date` header's value (RFC 9110 IMF-fixdate, formatted once a second per thread).
fn date(out: &mut Vec<u8>) {
    let now = std::time::SystemTime::now();
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            let text = httpdate::HttpDate::from(now).to_string();
            if text.len() == 29 {
                d.1.copy_from_slice(text.as_bytes());
                d.0 = secs;
            }
        }
        out.extend_from_slice(&d.1);
    });
}

fn render_denial(e: &Deny, framing: Framing, out: &mut Vec<u8>) {
    let denial = answer::denial(e);
    status_line(denial.status, out);
    for (n, v) in denial.headers() {
        line(out, n, v.as_bytes());
    }
    end_head(out, denial.body.len(), framing);
    if !framing.head_only {
        out.extend_from_slice(denial.body.as_bytes());
    }
}

/// An answer written by [`render`], read back: status, headers in order, body. For `explain` (which shows the answer
/// `serve` would send) and tests; `None` when `bytes` is not one complete answer.
pub fn parse_answer(bytes: &[u8]) -> Option<WrittenAnswer> {
    let text = std::str::from_utf8(bytes).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.split("\r\n");
    let status = lines
        .next()?
        .strip_prefix("HTTP/1.1 ")?
        .get(..3)?
        .parse()
        .ok()?;
    let headers = lines
        .map(|l| {
            l.split_once(": ")
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(WrittenAnswer {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// An answer as [`parse_answer`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl WrittenAnswer {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn logged(target: &str, headers: &[(&str, &[u8])]) -> (String, String) {
        let (m, u) = original(&Request {
            method: "GET",
            target,
            headers,
        });
        (m.to_owned(), u.to_owned())
    }

    fn written(d: &Decision, framing: Framing) -> WrittenAnswer {
        let mut out = Vec::new();
        render(d, framing, &mut out);
        parse_answer(&out).expect("render writes one complete answer")
    }

    fn session(role: &str, vars: &[(&str, &str)]) -> Session {
        let values: Vec<(&str, serde_json::Value)> = vars
            .iter()
            .map(|(n, v)| (*n, serde_json::Value::String((*v).to_owned())))
            .collect();
        Session {
            role: role.to_owned(),
            vars: crate::authn::session::render(values.iter().map(|(n, v)| (*n, v)))
                .expect("valid session variables"),
        }
    }

    /// The headers of `render` for a cached answer of `s`, in a comparable form (cache-control left out).
    fn sent(s: &Session) -> Vec<(String, String)> {
        sent_as(s, true)
    }

    fn sent_as(s: &Session, cache_hit: bool) -> Vec<(String, String)> {
        let d = Decision {
            result: Ok(crate::gate::Allowed {
                session: s.clone(),
                max_age: 60,
            }),
            headers_to_remove: Vec::new(),
            cache_hit,
        };
        let r = written(&d, Framing::default());
        assert_eq!(r.status, 200);
        assert_eq!(r.header("cache-control"), Some("private, max-age=60"));
        let mut h: Vec<(String, String)> = r
            .headers
            .into_iter()
            .filter(|(n, _)| !matches!(n.as_str(), "cache-control" | "content-length" | "date"))
            .collect();
        h.sort();
        h
    }

    /// What the session says, built directly from `answer::session_headers` (no per-thread reuse).
    fn expected(s: &Session) -> Vec<(String, String)> {
        let mut h: Vec<(String, String)> = answer::session_headers(s)
            .expect("a valid role")
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        h.sort();
        h
    }

    #[test]
    fn reused_session_headers_always_match_the_session_answered() {
        let alice = session(
            "user",
            &[("x-hasura-user-id", "alice"), ("x-hasura-org", "7")],
        );
        // The same shared variables under another role (a requested role): the role header follows the request,
        // also for a role of the same length as the first.
        let alice_admin = Session {
            role: "admin".into(),
            vars: alice.vars.clone(),
        };
        let alice_team = Session {
            role: "team".into(),
            vars: alice.vars.clone(),
        };
        // Equal text in another allocation, and another user.
        let alice_again = session(
            "user",
            &[("x-hasura-user-id", "alice"), ("x-hasura-org", "7")],
        );
        let bob = session("user", &[("x-hasura-user-id", "bob")]);
        let nobody = session("guest", &[]);
        for _ in 0..3 {
            for s in [
                &alice,
                &alice_admin,
                &alice_team,
                &alice_again,
                &bob,
                &nobody,
                &alice,
            ] {
                assert_eq!(sent(s), expected(s), "role {} vars {:?}", s.role, s.vars);
            }
        }
        assert!(sent(&alice_admin).contains(&("x-hasura-role".into(), "admin".into())));
        assert!(sent(&alice_team).contains(&("x-hasura-role".into(), "team".into())));
        assert!(sent(&bob).contains(&("x-hasura-user-id".into(), "bob".into())));
        assert_eq!(
            sent(&nobody),
            vec![("x-hasura-role".into(), "guest".into())]
        );
        // Emulated sessions (v1) are built per request from client headers: a new value is never answered with an
        // old one, however many come through one thread.
        for i in 0..200 {
            let v = format!("u{i}");
            let s = session("user", &[("x-hasura-user-id", v.as_str())]);
            assert!(sent(&s).contains(&("x-hasura-user-id".into(), v.clone())));
        }
    }

    #[test]
    fn a_role_that_cannot_be_sent_is_a_denial_not_an_allow_without_it() {
        let s = Session {
            role: "bad\nrole".into(),
            vars: session("x", &[("x-hasura-user-id", "alice")]).vars,
        };
        let d = Decision {
            result: Ok(crate::gate::Allowed {
                session: s,
                max_age: 60,
            }),
            headers_to_remove: Vec::new(),
            cache_hit: false,
        };
        for cache_hit in [false, true, true] {
            let d = Decision {
                cache_hit,
                ..d.clone()
            };
            let r = written(&d, Framing::default());
            assert_eq!(r.status, 401);
            assert_eq!(r.header("x-hasura-role"), None);
        }
    }

    #[test]
    fn the_logged_method_and_url_come_from_the_proxy_headers_then_the_request_line() {
        // NGINX's names win over Traefik's and Caddy's; the first value of a repeated header is the one logged.
        let headers: &[(&str, &[u8])] = &[
            ("x-forwarded-method", b"PUT"),
            ("x-original-method", b"POST"),
            ("x-original-url", b"https://api.example/graphql?q=1"),
            ("x-original-url", b"https://other.example/"),
            ("x-forwarded-uri", b"/ignored"),
        ];
        assert_eq!(
            logged("/auth?x=1", headers),
            ("POST".into(), "https://api.example/graphql?q=1".into())
        );
        let headers: &[(&str, &[u8])] = &[
            ("x-forwarded-method", b"DELETE"),
            ("x-forwarded-uri", b"/v1/graphql"),
        ];
        assert_eq!(
            logged("/auth", headers),
            ("DELETE".into(), "/v1/graphql".into())
        );
        // Nothing from the proxy, or a value that is not visible ASCII: the request line.
        let headers: &[(&str, &[u8])] = &[("x-original-url", b"/caf\xc3\xa9")];
        assert_eq!(
            logged("/auth?x=1", headers),
            ("GET".into(), "/auth?x=1".into())
        );
    }

    fn denied(status: u16, reason: crate::authn::reason::Reason) -> Decision {
        Decision {
            result: Err(Deny {
                status,
                ..Deny::new(reason, "the message")
            }),
            headers_to_remove: Vec::new(),
            cache_hit: false,
        }
    }

    #[test]
    fn a_denial_is_framed_with_its_length_and_a_head_request_gets_no_body() {
        use crate::authn::reason::Reason;
        let d = denied(401, Reason::InvalidSignature);
        let full = written(&d, Framing::default());
        assert_eq!(full.status, 401);
        assert_eq!(full.header("content-type"), Some("application/json"));
        assert_eq!(full.header("cache-control"), Some("no-store"));
        assert!(full.header("www-authenticate").is_some());
        assert_eq!(
            full.header("content-length"),
            Some(full.body.len().to_string().as_str())
        );
        assert!(
            full.body.contains("invalid_signature") || full.body.contains("the message"),
            "{}",
            full.body
        );
        assert_eq!(full.header("connection"), None);
        let head = written(
            &d,
            Framing {
                head_only: true,
                close: true,
                ..Framing::default()
            },
        );
        assert_eq!(head.body, "");
        assert_eq!(head.header("content-length"), full.header("content-length"));
        assert_eq!(head.header("connection"), Some("close"));
        let unavailable = written(&denied(503, Reason::JwksUnavailable), Framing::default());
        assert_eq!(
            (unavailable.status, unavailable.header("retry-after")),
            (503, Some("5"))
        );
        let kept = written(
            &d,
            Framing {
                keep_alive_10: true,
                ..Framing::default()
            },
        );
        assert_eq!(kept.header("connection"), Some("keep-alive"));
    }

    #[test]
    fn every_answer_has_a_date_and_a_status_line_with_its_reason() {
        for (status, line) in [
            (400, "HTTP/1.1 400 Bad Request"),
            (408, "HTTP/1.1 408 Request Timeout"),
            (431, "HTTP/1.1 431 Request Header Fields Too Large"),
        ] {
            let mut out = Vec::new();
            render_refusal(status, &mut out);
            let text = String::from_utf8(out.clone()).expect("ASCII");
            assert!(text.starts_with(&format!("{line}\r\n")), "{text}");
            let r = parse_answer(&out).expect("complete");
            assert_eq!(r.header("connection"), Some("close"));
            assert_eq!(r.header("content-length"), Some("0"));
            let date = r.header("date").expect("a date");
            assert!(httpdate::parse_http_date(date).is_ok(), "{date}");
        }
    }
}
