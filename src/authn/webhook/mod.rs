//! Webhook mode, as the Hasura engine does it: which client headers go to the hook (as headers and in a POST body),
//! and how its answer becomes an identity. One shared reqwest client; concurrent calls are bounded by a semaphore so
//! a slow hook cannot make us open unbounded connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::reason::{Deny, Reason};
use super::request::{AuthRequest, visible_ascii};
use super::session::{Identity, Roles, render};
use crate::config::compiled::{Forward, HookHeaders, HookMethod, WebhookMode, never_forwarded};
use crate::observe::{HookResult, Observer};
use crate::strict_json::StrictValue;

/// Client headers never forwarded as HTTP headers under `"*"` (the Hasura engine's ignore-list).
const IGNORED: [&str; 14] = [
    "accept",
    "accept-datetime",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "connection",
    "content-length",
    "content-md5",
    "content-type",
    "dnt",
    "host",
    "origin",
    "referer",
    "user-agent",
];

/// Client headers that identify one request rather than the client: request ids and trace context, which a
/// tracing proxy (Envoy, an AWS or Google load balancer) sets anew on every request. They are forwarded as
/// configured, but left out of the answer cache's key; with them in it, no two requests behind Envoy would ever
/// share a cached answer. A hook must not decide on them and also send `max-age`.
fn identifies_one_request(name: &str) -> bool {
    matches!(
        name,
        "x-request-id"
            | "traceparent"
            | "tracestate"
            | "b3"
            | "x-amzn-trace-id"
            | "x-cloud-trace-context"
    ) || name.starts_with("x-b3-")
        || name.starts_with("x-envoy-")
}

/// Largest hook answer read.
pub const MAX_BODY: usize = 1024 * 1024;

/// What is sent to the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRequest {
    pub method: HookMethod,
    /// HTTP headers, one per name.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// The JSON body; `None` for GET.
    pub body: Option<Vec<u8>>,
    /// The POST body's `headers` object, one value per name, for the cache key.
    body_headers: Option<Vec<(String, String)>>,
}

impl HookRequest {
    /// Everything that decides the hook's answer, for the cache key: the method, the headers sorted by name, the
    /// body's headers sorted by name, each without the headers that identify one request. Header order says
    /// nothing about the client (actix's header map iterates in a different order from request to request), so
    /// two requests that differ only in it share one key.
    pub fn fingerprint(&self, out: &mut Vec<u8>) {
        fn pairs<'a>(out: &mut Vec<u8>, mut kv: Vec<(&'a str, &'a [u8])>) {
            kv.retain(|(n, _)| !identifies_one_request(n));
            // Names are unique (one value per name), so sorting by name alone is total.
            kv.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (n, v) in kv {
                out.extend_from_slice(n.as_bytes());
                out.push(0);
                out.extend_from_slice(v);
                out.push(0);
            }
        }
        out.push(u8::from(self.method == HookMethod::Post));
        pairs(
            out,
            self.headers
                .iter()
                .map(|(n, v)| (n.as_str(), v.as_bytes()))
                .collect(),
        );
        out.push(1);
        if let Some(b) = &self.body_headers {
            out.push(2);
            pairs(
                out,
                b.iter().map(|(n, v)| (n.as_str(), v.as_bytes())).collect(),
            );
        }
    }
}

/// Client headers with repeats collapsed to their last value, names lower-case, in first-seen order.
fn collapsed<'a>(req: &AuthRequest<'a>) -> Vec<(String, &'a [u8])> {
    let mut out: Vec<(String, &'a [u8])> = Vec::with_capacity(req.headers.len());
    for (n, v) in req.headers {
        let lower = n.to_ascii_lowercase();
        match out.iter_mut().find(|(k, _)| *k == lower) {
            Some(slot) => slot.1 = v,
            None => out.push((lower, v)),
        }
    }
    out
}

fn pick<'a>(
    client: &[(String, &'a [u8])],
    forward: &Forward,
    apply_ignore_list: bool,
) -> Vec<(String, &'a [u8])> {
    match forward {
        Forward::All => client
            .iter()
            .filter(|(n, _)| !apply_ignore_list || !IGNORED.contains(&n.as_str()))
            .cloned()
            .collect(),
        Forward::List(names) => client
            .iter()
            .filter(|(n, _)| names.iter().any(|h| h.as_str() == n))
            .cloned()
            .collect(),
    }
}

fn as_http_headers(
    pairs: Vec<(String, &[u8])>,
    additional: &[(HeaderName, HeaderValue)],
) -> Vec<(HeaderName, HeaderValue)> {
    let mut out: Vec<(HeaderName, HeaderValue)> = pairs
        .into_iter()
        .filter(|(n, _)| !never_forwarded(n))
        .filter_map(|(n, v)| {
            Some((
                HeaderName::from_bytes(n.as_bytes()).ok()?,
                HeaderValue::from_bytes(v).ok()?,
            ))
        })
        .collect();
    for (n, v) in additional {
        if never_forwarded(n.as_str()) {
            continue;
        }
        out.retain(|(k, _)| k != n);
        out.push((n.clone(), v.clone()));
    }
    out
}

/// The POST body's `headers` object, one value per name (additional overriding).
fn as_body(
    pairs: Vec<(String, &[u8])>,
    additional: &[(HeaderName, HeaderValue)],
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(pairs.len() + additional.len());
    // A value that is not visible ASCII is sent as "" (the Hasura engine's newest behaviour).
    for (n, v) in pairs {
        out.push((n, visible_ascii(v).unwrap_or_default().to_owned()));
    }
    for (n, v) in additional {
        out.retain(|(k, _)| k != n.as_str());
        out.push((
            n.as_str().to_owned(),
            v.to_str().unwrap_or_default().to_owned(),
        ));
    }
    out
}

/// `{"headers": {...}}`.
fn body_bytes(headers: &[(String, String)]) -> Vec<u8> {
    let map: Map<String, Value> = headers
        .iter()
        .map(|(n, v)| (n.clone(), Value::String(v.clone())))
        .collect();
    serde_json::json!({ "headers": map })
        .to_string()
        .into_bytes()
}

/// Build the request to the hook: its headers and, for POST, its JSON body.
pub fn build_request(mode: &WebhookMode, req: &AuthRequest<'_>) -> HookRequest {
    let client = collapsed(req);
    let (headers, body) = match &mode.custom {
        None => match mode.method {
            HookMethod::Get => (
                as_http_headers(pick(&client, &Forward::All, true), &[]),
                None,
            ),
            HookMethod::Post => (
                Vec::new(),
                Some(as_body(pick(&client, &Forward::All, false), &[])),
            ),
        },
        Some(custom) => {
            let headers = custom
                .headers
                .as_ref()
                .map(|h: &HookHeaders| {
                    as_http_headers(pick(&client, &h.forward, true), &h.additional)
                })
                .unwrap_or_default();
            let body = (mode.method == HookMethod::Post).then(|| match &custom.body_headers {
                Some(h) => as_body(pick(&client, &h.forward, false), &h.additional),
                None => as_body(Vec::new(), &[]),
            });
            (headers, body)
        }
    };
    // No client header goes to the hook unless the config forwards it, trace context included: a client's
    // `traceparent` is the client's, not ours to pass on past an explicit list.
    let mut headers = headers;
    if body.is_some() {
        headers.retain(|(n, _)| n != http::header::CONTENT_TYPE);
        headers.push((
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ));
    }
    HookRequest {
        method: mode.method,
        headers,
        body: body.as_deref().map(body_bytes),
        body_headers: body,
    }
}

/// A usable hook answer.
#[derive(Debug, Clone)]
pub struct HookAnswer {
    pub identity: Identity,
    /// The hook's `Cache-Control: max-age`, when it sent one.
    pub max_age: Option<u64>,
}

/// The shared webhook client.
pub struct WebhookClient {
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    timeout: Duration,
    observer: Arc<dyn Observer>,
}

fn unavailable(msg: impl Into<Arc<str>>) -> Deny {
    Deny::new(Reason::WebhookUnavailable, msg)
}

impl WebhookClient {
    /// One client with at most `max_connections` concurrent calls, each bounded by `timeout` (waiting included).
    pub fn new(
        timeout: Duration,
        max_connections: usize,
        observer: Arc<dyn Observer>,
    ) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(2)))
            .timeout(timeout)
            .pool_max_idle_per_host(max_connections)
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        Ok(Self {
            http,
            permits: Arc::new(Semaphore::new(max_connections.max(1))),
            timeout,
            observer,
        })
    }

    /// Call the hook and read its answer. `emulation_by` is v1's `allowRoleEmulationBy`.
    pub async fn call(
        &self,
        mode: &WebhookMode,
        hook: &HookRequest,
        emulation_by: Option<&str>,
    ) -> Result<HookAnswer, Deny> {
        let started = Instant::now();
        let res = tokio::time::timeout(self.timeout, self.call_inner(mode, hook, emulation_by)).await.unwrap_or_else(|_| {
            Err(unavailable(format!(
                "Error while making the authentication HTTP request to the webhook - timed out after {:?}",
                self.timeout
            )))
        });
        let result = match &res {
            Ok(_) => HookResult::Allow,
            Err(d) if d.reason == Reason::WebhookDenied => HookResult::Deny,
            Err(_) => HookResult::Error,
        };
        self.observer
            .webhook_call(result, started.elapsed().as_secs_f64());
        res
    }

    async fn call_inner(
        &self,
        mode: &WebhookMode,
        hook: &HookRequest,
        emulation_by: Option<&str>,
    ) -> Result<HookAnswer, Deny> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| unavailable("webhook client closed"))?;
        let sent = match self.send(mode, hook).await {
            // The request went out on a connection that closed before any answer: most likely a kept-alive one the
            // hook's idle timer closed as the request reached it (a race no pool can rule out). Send it once more,
            // on a new connection, within the same timeout; the hook only decides, so a repeat is harmless. A
            // refused connect or a timeout is not retried.
            Err(e) if e.is_request() && !e.is_connect() && !e.is_timeout() => {
                let e = e.without_url();
                tracing::debug!(error = %e, "webhook connection closed before an answer; sending again");
                self.send(mode, hook).await
            }
            sent => sent,
        };
        // `without_url`: reqwest's message would quote the URL, which can come from the environment and carry
        // credentials; this text reaches the client's 503 body and the logs.
        let mut resp = sent.map_err(|e| {
            unavailable(format!(
                "Error while making the authentication HTTP request to the webhook - {}",
                e.without_url()
            ))
        })?;
        let status = resp.status().as_u16();
        match status {
            200 => {}
            401 | 403 => {
                let mut d = Deny::new(
                    Reason::WebhookDenied,
                    "The Authentication hook has denied to execute the request.",
                );
                d.status = status;
                d.www_authenticate = resp
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                return Err(d);
            }
            _ => {
                return Err(unavailable(format!(
                    "The authentication hook has returned the status {}. Only 200 and 401 response status are recognized.",
                    resp.status()
                )));
            }
        }
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(cache_max_age);
        if resp.content_length().is_some_and(|l| l > MAX_BODY as u64) {
            return Err(unavailable(format!(
                "Reqwest error: the webhook response is larger than {MAX_BODY} bytes"
            )));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| unavailable(format!("Reqwest error: {}", e.without_url())))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(unavailable(format!(
                    "Reqwest error: the webhook response is larger than {MAX_BODY} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        let identity = identity_from_answer(&body, emulation_by)?;
        Ok(HookAnswer { identity, max_age })
    }
}

impl WebhookClient {
    /// Send the request once and wait for the answer's head.
    async fn send(
        &self,
        mode: &WebhookMode,
        hook: &HookRequest,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let method = match hook.method {
            HookMethod::Get => reqwest::Method::GET,
            HookMethod::Post => reqwest::Method::POST,
        };
        let mut rb = self.http.request(method, mode.url.clone());
        for (n, v) in &hook.headers {
            rb = rb.header(n.as_str(), v.as_bytes());
        }
        if let Some(b) = &hook.body {
            rb = rb.body(b.clone());
        }
        rb.send().await
    }
}

/// `max-age=N` (N > 0) from the hook's `Cache-Control`; `no-store`/`no-cache`/`private`-less answers still only
/// count when they carry a positive max-age.
fn cache_max_age(v: &str) -> Option<u64> {
    let cc = crate::cache_control::parse(v);
    if cc.no_store {
        None
    } else {
        cc.max_age.filter(|n| *n > 0)
    }
}

/// The hook's 200 body → identity. A body that is not a JSON object, or has no string
/// `x-hasura-role`, is an unusable answer (`503`); an object whose session variables cannot be sent — two keys that
/// collide once trimmed and lower-cased (an exact repeat included), a control character in a value or the role — is
/// invalid claims (`401`), as it is in a token: the hook answered, and what it said is malformed.
pub fn identity_from_answer(body: &[u8], emulation_by: Option<&str>) -> Result<Identity, Deny> {
    // serde_json's own `Value` keeps the last of two equal keys; the strict parser refuses them, at any depth (a
    // value rendered as JSON must not mean two things either). A repeated key is the only data error it raises;
    // anything else is text that is not JSON.
    let v = match serde_json::from_slice::<StrictValue>(body) {
        Ok(StrictValue(v)) => v,
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            return Err(Deny::new(
                Reason::InvalidClaims,
                format!("the webhook response repeats a key: {e}"),
            ));
        }
        Err(e) => return Err(unavailable(format!("Reqwest error: {e}"))),
    };
    let Value::Object(obj) = v else {
        return Err(unavailable(
            "Reqwest error: the webhook response is not a JSON object",
        ));
    };
    let mut vars: Vec<(String, Value)> = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        let key = k.trim().to_lowercase();
        if vars.iter().any(|(n, _)| *n == key) {
            return Err(Deny::new(
                Reason::InvalidClaims,
                format!(
                    "session variables in the webhook response collide after lower-casing: {key}"
                ),
            ));
        }
        vars.push((key, v));
    }
    let role = match vars.iter().find(|(k, _)| k == "x-hasura-role") {
        None => {
            return Err(unavailable(
                "'x-hasura-role' session variable not found in the webhook response.",
            ));
        }
        Some((_, Value::String(r))) => r.clone(),
        Some(_) => {
            return Err(unavailable(
                "'x-hasura-role' session variable in the webhook response was not a string.",
            ));
        }
    };
    // Checked before emulation: the role is sent as `x-hasura-role` either way.
    let roles = Roles::new(&role, std::slice::from_ref(&role))?;
    if emulation_by == Some(role.as_str()) {
        return Ok(Identity::Emulation { role });
    }
    let rendered = render(vars.iter().map(|(k, v)| (k.as_str(), v)))?;
    Ok(Identity::Specific {
        roles,
        vars: rendered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::compiled::HookCustom;

    fn mode(method: HookMethod, custom: Option<HookCustom>) -> WebhookMode {
        WebhookMode {
            method,
            url: url::Url::parse("http://127.0.0.1:1/x").expect("url"),
            custom,
        }
    }

    fn names(h: &HookRequest) -> Vec<&str> {
        h.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    const HEADERS: [(&str, &[u8]); 5] = [
        ("authorization", b"Bearer t"),
        ("user-agent", b"ua"),
        ("x-custom", b"1"),
        ("x-custom", b"2"),
        ("content-type", b"text/plain"),
    ];

    fn req() -> AuthRequest<'static> {
        AuthRequest {
            method: "GET",
            uri: "/",
            headers: &HEADERS,
        }
    }

    #[test]
    fn legacy_get_forwards_all_but_the_ignore_list_last_value_wins() {
        let h = build_request(&mode(HookMethod::Get, None), &req());
        assert_eq!(names(&h), vec!["authorization", "x-custom"]);
        assert_eq!(h.headers[1].1, "2");
        assert!(h.body.is_none());
    }

    #[test]
    fn legacy_post_sends_every_header_in_the_body_only() {
        let h = build_request(&mode(HookMethod::Post, None), &req());
        assert_eq!(names(&h), vec!["content-type"]);
        let body: Value = serde_json::from_slice(h.body.as_deref().expect("body")).expect("json");
        assert_eq!(body["headers"]["user-agent"], "ua");
        assert_eq!(body["headers"]["content-type"], "text/plain");
        assert_eq!(body["headers"]["x-custom"], "2");
    }

    #[test]
    fn explicit_list_and_additional_override() {
        let hh = HookHeaders {
            forward: Forward::List(vec![
                HeaderName::from_static("user-agent"),
                HeaderName::from_static("x-custom"),
            ]),
            additional: vec![(
                HeaderName::from_static("x-custom"),
                HeaderValue::from_static("added"),
            )],
        };
        let custom = HookCustom {
            headers: Some(hh),
            body_headers: None,
        };
        let h = build_request(&mode(HookMethod::Post, Some(custom)), &req());
        // An explicit list skips the ignore-list; additional overrides; no body.headers config -> {"headers":{}}.
        assert_eq!(names(&h), vec!["user-agent", "x-custom", "content-type"]);
        assert_eq!(h.headers[1].1, "added");
        assert_eq!(h.body.as_deref(), Some(br#"{"headers":{}}"#.as_slice()));
    }

    #[test]
    fn answers() {
        assert!(
            identity_from_answer(br#"{"X-Hasura-Role":"user","X-Hasura-User-Id":25}"#, None)
                .is_ok()
        );
        let e = identity_from_answer(br#"{"x-hasura-user-id":"1"}"#, None).unwrap_err();
        assert_eq!(e.status, 503);
        assert!(
            e.message
                .contains("'x-hasura-role' session variable not found")
        );
        assert_eq!(
            identity_from_answer(br#"{"x-hasura-role":1}"#, None)
                .unwrap_err()
                .status,
            503
        );
        assert_eq!(identity_from_answer(b"[1]", None).unwrap_err().status, 503);
        assert_eq!(identity_from_answer(b"nope", None).unwrap_err().status, 503);
        assert_eq!(cache_max_age("public, max-age=60"), Some(60));
        assert_eq!(cache_max_age("no-store, max-age=60"), None);
        assert_eq!(cache_max_age("max-age=0"), None);
    }

    fn fp(h: &HookRequest) -> Vec<u8> {
        let mut out = Vec::new();
        h.fingerprint(&mut out);
        out
    }

    fn request<'a>(headers: &'a [(&'a str, &'a [u8])]) -> AuthRequest<'a> {
        AuthRequest {
            method: "GET",
            uri: "/",
            headers,
        }
    }

    fn list(names: &[&'static str]) -> HookCustom {
        HookCustom {
            headers: Some(HookHeaders {
                forward: Forward::List(names.iter().map(|n| HeaderName::from_static(n)).collect()),
                additional: Vec::new(),
            }),
            body_headers: None,
        }
    }

    /// GET forwarding `*`, POST with every header in the body, and both at once.
    fn every_kind_of_mode() -> Vec<WebhookMode> {
        let star = || HookHeaders {
            forward: Forward::All,
            additional: Vec::new(),
        };
        vec![
            mode(HookMethod::Get, None),
            mode(HookMethod::Post, None),
            mode(
                HookMethod::Post,
                Some(HookCustom {
                    headers: Some(star()),
                    body_headers: Some(star()),
                }),
            ),
        ]
    }

    #[test]
    fn item2_header_order_alone_does_not_change_the_cache_key() {
        let forward: Vec<(&str, &[u8])> = vec![
            ("authorization", b"Bearer t"),
            ("x-a", b"1"),
            ("x-multi", b"first"),
            ("cookie", b"c=1"),
            ("x-multi", b"last"),
            ("x-b", b"2"),
            ("x-c", b"3"),
        ];
        // Other orders that keep the two x-multi values in arrival order: every rotation of the other headers,
        // forwards and backwards, with the first x-multi at a different place each time.
        let others: Vec<_> = forward
            .iter()
            .filter(|(n, _)| *n != "x-multi")
            .copied()
            .collect();
        let mut orders: Vec<Vec<(&str, &[u8])>> = Vec::new();
        for shift in 0..others.len() {
            for backwards in [false, true] {
                let mut o = others.clone();
                if backwards {
                    o.reverse();
                }
                o.rotate_left(shift);
                o.insert(shift, ("x-multi", b"first"));
                o.push(("x-multi", b"last"));
                orders.push(o);
            }
        }
        for m in every_kind_of_mode() {
            let want = fp(&build_request(&m, &request(&forward)));
            for o in &orders {
                assert_eq!(
                    fp(&build_request(&m, &request(o))),
                    want,
                    "{:?} {o:?}",
                    m.method
                );
            }
            // The last value of a repeated header is part of the key: the order of one name's values counts.
            let swapped: Vec<(&str, &[u8])> = forward
                .iter()
                .map(|&(n, v)| match v {
                    b"first" => (n, b"last".as_slice()),
                    b"last" => (n, b"first".as_slice()),
                    _ => (n, v),
                })
                .collect();
            assert_ne!(fp(&build_request(&m, &request(&swapped))), want);
        }
    }

    #[test]
    fn item2_per_request_ids_are_forwarded_but_left_out_of_the_cache_key() {
        let per_request = [
            "x-request-id",
            "traceparent",
            "tracestate",
            "b3",
            "x-b3-traceid",
            "x-b3-spanid",
            "x-envoy-attempt-count",
            "x-envoy-external-address",
            "x-amzn-trace-id",
            "x-cloud-trace-context",
        ];
        for m in every_kind_of_mode() {
            for name in per_request {
                let one = [("authorization", b"Bearer t".as_slice()), (name, b"one")];
                let two = [(name, b"two".as_slice()), ("authorization", b"Bearer t")];
                let (h1, h2) = (
                    build_request(&m, &request(&one)),
                    build_request(&m, &request(&two)),
                );
                assert_eq!(fp(&h1), fp(&h2), "{name} is in the key ({:?})", m.method);
                assert_ne!(h1, h2, "{name} must still be sent ({:?})", m.method);
            }
            // A header that is not one of them is in the key.
            let a = [
                ("authorization", b"Bearer t".as_slice()),
                ("x-tenant", b"a"),
            ];
            let b = [
                ("authorization", b"Bearer t".as_slice()),
                ("x-tenant", b"b"),
            ];
            assert_ne!(
                fp(&build_request(&m, &request(&a))),
                fp(&build_request(&m, &request(&b))),
                "{:?}",
                m.method
            );
        }
    }

    #[test]
    fn item9_hop_by_hop_and_framing_headers_are_never_forwarded() {
        let framing = [
            "connection",
            "content-length",
            "expect",
            "host",
            "keep-alive",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "proxy-authorization",
            "proxy-connection",
            "proxy-authenticate",
        ];
        let mut client: Vec<(&str, &[u8])> =
            framing.iter().map(|n| (*n, b"9".as_slice())).collect();
        client.push(("authorization", b"Bearer t"));
        let mut names: Vec<&'static str> = framing.to_vec();
        names.push("authorization");
        for method in [HookMethod::Get, HookMethod::Post] {
            let mut custom = list(&names);
            if let Some(h) = custom.headers.as_mut() {
                h.additional = vec![
                    (
                        HeaderName::from_static("content-length"),
                        HeaderValue::from_static("9"),
                    ),
                    (
                        HeaderName::from_static("host"),
                        HeaderValue::from_static("elsewhere"),
                    ),
                ];
            }
            let h = build_request(&mode(method, Some(custom)), &request(&client));
            let sent = names_of(&h);
            for n in framing {
                assert!(
                    !sent.contains(&n),
                    "{n} was forwarded ({method:?}): {sent:?}"
                );
            }
            assert!(sent.contains(&"authorization"), "{sent:?}");
        }
    }

    fn names_of(h: &HookRequest) -> Vec<&str> {
        h.headers.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn item11_an_explicit_forward_list_is_honoured_exactly() {
        let client: [(&str, &[u8]); 4] = [
            ("authorization", b"Bearer t"),
            (
                "traceparent",
                b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            ),
            ("tracestate", b"k=v"),
            ("x-custom", b"c"),
        ];
        let h = build_request(
            &mode(HookMethod::Get, Some(list(&["authorization"]))),
            &request(&client),
        );
        assert_eq!(names_of(&h), vec!["authorization"]);
        // A config without `headers` forwards no client header at all.
        let none = HookCustom {
            headers: None,
            body_headers: None,
        };
        let h = build_request(&mode(HookMethod::Post, Some(none)), &request(&client));
        assert_eq!(names_of(&h), vec!["content-type"]);
        // The legacy POST sends the client's headers in the body, not as headers.
        let h = build_request(&mode(HookMethod::Post, None), &request(&client));
        assert_eq!(names_of(&h), vec!["content-type"]);
        // Listed, it is forwarded, once.
        let h = build_request(
            &mode(
                HookMethod::Get,
                Some(list(&["authorization", "traceparent"])),
            ),
            &request(&client),
        );
        assert_eq!(names_of(&h), vec!["authorization", "traceparent"]);
    }

    #[test]
    fn item11_answer_with_a_control_character_or_colliding_keys_is_invalid_claims() {
        let cases: [&[u8]; 8] = [
            br#"{"x-hasura-role":"user","x-hasura-user-id":"4\n2"}"#,
            br#"{"x-hasura-role":"user","x-hasura-org":"a\u007fb"}"#,
            br#"{"x-hasura-role":"us\u0000er"}"#,
            br#"{"x-hasura-role":"us\ter"}"#,
            br#"{"x-hasura-role":"user","X-Hasura-User-Id":"1","x-hasura-user-id":"2"}"#,
            br#"{"x-hasura-role":"user","X-Hasura-Role":"admin"}"#,
            br#"{"x-hasura-role":"user"," x-hasura-role":"admin"}"#,
            br#"{"x-hasura-role":"user","x-hasura-role":"admin"}"#,
        ];
        for body in cases {
            let e = identity_from_answer(body, None).expect_err("must be refused");
            assert_eq!(
                (e.reason, e.status),
                (Reason::InvalidClaims, 401),
                "{}: {}",
                String::from_utf8_lossy(body),
                e.message
            );
        }
        // TAB is allowed in a value (not in a role).
        assert!(
            identity_from_answer(br#"{"x-hasura-role":"user","x-hasura-org":"a\tb"}"#, None)
                .is_ok()
        );
    }
}
