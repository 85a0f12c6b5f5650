//! The HTTP contract shared by NGINX `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`, HAProxy and Envoy /
//! Istio `ext_authz` (HTTP): any method, any path; the answer is 200 with the `x-hasura-*` session headers, or a
//! 401/403/503 denial with a GraphQL-style error body.
//!
//! Multi-config mode (policy §13): the request line's path must start with `/configs/<name>`, followed by `/`,
//! `?` or its end; the name is compared as raw bytes (no percent-decoding, no normalisation: `%61` is not `a`), and
//! what follows is the client's own path (Envoy appends it to its `path_prefix`), never read for selection.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use actix_web::http::header::{CACHE_CONTROL, HeaderMap, HeaderName, HeaderValue};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};

use super::answer;
use crate::authn::reason::Deny;
use crate::authn::request::{AuthRequest, visible_ascii};
use crate::authn::session::{RenderedVars, Session};
use crate::gate::{Decision, Gate};
use crate::observe::Transport;
use crate::telemetry::{self, HeaderSource};

/// The proxy's request headers carry its trace context (`traceparent`, or B3 when configured).
struct ProxyHeaders<'a>(&'a actix_web::http::header::HeaderMap);

impl HeaderSource for ProxyHeaders<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.to_str().ok())
    }
}

/// The original method and URL for logs, from the headers of the proxy in use (`headers`, as [`headers_of`] lists
/// them), else the request line. `Forwarded` and `_`/`.` spellings are never consulted (actix keeps them under their
/// own names). Read from the list, not actix's map: a map lookup by `&str` validates and hashes the name each time,
/// four lookups per request on the path every cached decision takes.
fn original<'a>(req: &'a HttpRequest, headers: &AuthRequest<'a>) -> (&'a str, &'a str) {
    let h = |n: &str| headers.first(n).and_then(visible_ascii);
    let method = h("x-original-method")
        .or_else(|| h("x-forwarded-method"))
        .unwrap_or(req.method().as_str());
    let uri = h("x-original-url")
        .or_else(|| h("x-forwarded-uri"))
        .unwrap_or_else(|| req.uri().path_and_query().map_or("/", |p| p.as_str()));
    (method, uri)
}

/// The headers of `req` as the gate reads them: names lower-case (actix normalises them), every value of a repeated
/// header in arrival order.
pub fn headers_of(req: &HttpRequest) -> Vec<(&str, &[u8])> {
    req.headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect()
}

/// The data-listener handler: every request is a decision.
pub async fn decide(req: HttpRequest, gate: web::Data<Gate>) -> HttpResponse {
    let headers = headers_of(&req);
    let mut areq = AuthRequest {
        method: "",
        uri: "",
        headers: &headers,
    };
    (areq.method, areq.uri) = original(&req, &areq);
    // The request line as received: actix neither decodes nor normalises `Uri`.
    let name = if gate.is_multi_config() {
        config_from_path(
            req.uri()
                .path_and_query()
                .map_or(b"", |p| p.as_str().as_bytes()),
        )
    } else {
        None
    };
    let span = telemetry::decision_span(Transport::Http, &ProxyHeaders(req.headers()));
    let decision =
        tracing::Instrument::instrument(gate.decide_named(name, &areq, Transport::Http), span)
            .await;
    let mut resp = render(&decision);
    if gate.is_draining() {
        // Shutting down: close each keep-alive connection after its answer, so the peer (a proxy's upstream pool,
        // often pinned to this pod by kube-proxy's conntrack) reconnects while the listener is still open and
        // lands on a ready replica, instead of racing the listener's close with its next request.
        resp.head_mut().set_connection_type(ConnectionType::Close);
    }
    resp
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

/// Render a decision as the HTTP answer.
pub fn render(d: &Decision) -> HttpResponse {
    match &d.result {
        Ok(allowed) => {
            // Straight into the response's map: the builder re-checks every pair and carries an error slot.
            let mut r = HttpResponse::new(StatusCode::OK);
            let map = r.headers_mut();
            map.insert(CACHE_CONTROL, cache_control(allowed.max_age));
            if let Err(e) = insert_session_headers(map, &allowed.session, d.cache_hit) {
                return render_denial(&e);
            }
            if !d.headers_to_remove.is_empty()
                && let Ok(v) = HeaderValue::try_from(d.headers_to_remove.join(", "))
            {
                map.insert(HeaderName::from_static("x-envoy-auth-headers-to-remove"), v);
            }
            r
        }
        Err(e) => render_denial(e),
    }
}

/// Put the session headers of `s` into `map`. A cached identity comes again, so its pairs are reused (or kept for
/// next time); a fresh one (the cache off, or a token's first answer) writes them straight in, as it may never come
/// again.
fn insert_session_headers(map: &mut HeaderMap, s: &Session, cached: bool) -> Result<(), Deny> {
    if cached {
        for (n, v) in session_header_map(s)?.iter() {
            map.insert(n.clone(), v.clone());
        }
    } else {
        for (n, v) in answer::session_headers(s)?.filter_map(|(n, v)| header_pair(n, v)) {
            map.insert(n, v);
        }
    }
    Ok(())
}

/// The session headers of a cached answer of `s` as actix header pairs (`answer::session_headers`, with any pair
/// actix would refuse left out). The decision cache hands every hit the same session variables (one shared string
/// per identity), so each thread keeps the pairs it built for the last sessions it answered from the cache, keyed
/// by that string's identity and the role: a hit then costs a lookup and a reference count per header instead of
/// validating, unpacking, looking up the names and copying the values again.
fn session_header_map(s: &Session) -> Result<Rc<[(HeaderName, HeaderValue)]>, Deny> {
    let slot = (s.vars.addr() >> 4 ^ s.role.len()) % RENDERED_SLOTS;
    let hit = RENDERED.with(|r| match &r.borrow()[slot] {
        Some((vars, role, pairs)) if vars.same(&s.vars) && **role == *s.role => Some(pairs.clone()),
        _ => None,
    });
    if let Some(pairs) = hit {
        return Ok(pairs);
    }
    let pairs: Rc<[(HeaderName, HeaderValue)]> = answer::session_headers(s)?
        .filter_map(|(n, v)| header_pair(n, v))
        .collect();
    RENDERED.with(|r| {
        r.borrow_mut()[slot] = Some((s.vars.clone(), s.role.as_str().into(), pairs.clone()));
    });
    Ok(pairs)
}

/// A session header as actix sends it; `None` for a pair actix would refuse (left out, as it always was).
fn header_pair(n: &str, v: &str) -> Option<(HeaderName, HeaderValue)> {
    Some((header_name(n)?, HeaderValue::from_bytes(v.as_bytes()).ok()?))
}

/// Sessions whose header pairs a thread keeps (direct-mapped; a collision only evicts).
const RENDERED_SLOTS: usize = 64;

/// A session's variables (held, so their address stays theirs), its role, and its header pairs.
type RenderedSlot = Option<(RenderedVars, Box<str>, Rc<[(HeaderName, HeaderValue)]>)>;

/// Most names a thread keeps in [`NAMES`]; session variables are named by tokens, so the set is bounded.
const MAX_NAMES: usize = 256;

thread_local! {
    /// Session-variable header names this thread has built: a custom `HeaderName` is validated and copied each time
    /// it is made, a clone of one made before costs a reference count.
    static NAMES: RefCell<HashMap<Box<str>, HeaderName>> = RefCell::new(HashMap::new());
    /// The header pairs of the sessions this thread answered last (see [`session_header_map`]).
    static RENDERED: RefCell<Vec<RenderedSlot>> = RefCell::new(vec![None; RENDERED_SLOTS]);
    /// The last `Cache-Control` value and its `max-age` (cached answers mostly share one: the cache TTL).
    static LAST_CACHE_CONTROL: RefCell<Option<(u64, HeaderValue)>> = const { RefCell::new(None) };
}

fn header_name(n: &str) -> Option<HeaderName> {
    NAMES.with(|names| {
        let mut names = names.borrow_mut();
        if let Some(h) = names.get(n) {
            return Some(h.clone());
        }
        let h = HeaderName::try_from(n).ok()?;
        if names.len() < MAX_NAMES {
            names.insert(n.into(), h.clone());
        }
        Some(h)
    })
}

fn cache_control(max_age: u64) -> HeaderValue {
    LAST_CACHE_CONTROL.with(|last| {
        let mut last = last.borrow_mut();
        match &*last {
            Some((age, v)) if *age == max_age => v.clone(),
            _ => {
                // Digits and ASCII: always a valid header value.
                let v = HeaderValue::try_from(format!("private, max-age={max_age}"))
                    .unwrap_or_else(|_| HeaderValue::from_static("private, max-age=0"));
                *last = Some((max_age, v.clone()));
                v
            }
        }
    })
}

fn render_denial(e: &Deny) -> HttpResponse {
    let denial = answer::denial(e);
    let status = StatusCode::from_u16(denial.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = HttpResponse::build(status);
    for (n, v) in denial.headers() {
        r.insert_header((n, v));
    }
    r.body(denial.body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn logged(req: &HttpRequest) -> (String, String) {
        let headers = headers_of(req);
        let areq = AuthRequest {
            method: "",
            uri: "",
            headers: &headers,
        };
        let (m, u) = original(req, &areq);
        (m.to_owned(), u.to_owned())
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
        let r = render(&d);
        assert_eq!(r.status(), StatusCode::OK);
        let mut h: Vec<(String, String)> = r
            .headers()
            .iter()
            .filter(|(n, _)| *n != CACHE_CONTROL)
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
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
            assert_eq!(render(&d).status(), StatusCode::UNAUTHORIZED);
        }
    }

    #[test]
    fn the_logged_method_and_url_come_from_the_proxy_headers_then_the_request_line() {
        // NGINX's names win over Traefik's and Caddy's; the first value of a repeated header is the one logged.
        let req = TestRequest::with_uri("/auth?x=1")
            .insert_header(("X-Forwarded-Method", "PUT"))
            .insert_header(("X-Original-Method", "POST"))
            .append_header(("X-Original-URL", "https://api.example/graphql?q=1"))
            .append_header(("X-Original-URL", "https://other.example/"))
            .insert_header(("X-Forwarded-Uri", "/ignored"))
            .to_http_request();
        assert_eq!(
            logged(&req),
            ("POST".into(), "https://api.example/graphql?q=1".into())
        );
        let req = TestRequest::with_uri("/auth")
            .insert_header(("X-Forwarded-Method", "DELETE"))
            .insert_header(("X-Forwarded-Uri", "/v1/graphql"))
            .to_http_request();
        assert_eq!(logged(&req), ("DELETE".into(), "/v1/graphql".into()));
        // Nothing from the proxy, or a value that is not visible ASCII: the request line.
        let req = TestRequest::with_uri("/auth?x=1")
            .insert_header((
                "X-Original-URL",
                HeaderValue::from_bytes(b"/caf\xc3\xa9").expect("obs-text is a valid header value"),
            ))
            .to_http_request();
        assert_eq!(logged(&req), ("GET".into(), "/auth?x=1".into()));
    }
}
