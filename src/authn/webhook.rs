//! Webhook mode (reference §4): which client headers go to the hook (as headers and in a POST body), and how its
//! answer becomes an identity. One shared reqwest client; concurrent calls are bounded by a semaphore so a slow
//! hook cannot make us open unbounded connections.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use super::reason::{Deny, Reason};
use super::request::{AuthRequest, visible_ascii};
use super::session::{Identity, Roles, render};
use crate::config::compiled::{Forward, HookHeaders, HookMethod, WebhookMode};
use crate::metrics::Metrics;

/// Client headers never forwarded as HTTP headers under `"*"` (the reference's ignore-list).
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

/// Hop-by-hop headers: never sent to the hook as HTTP headers whatever the config says (they describe our
/// connection with the proxy, not the client's request).
const HOP_BY_HOP: [&str; 7] = [
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "connection",
];

/// Largest hook answer read.
pub const MAX_BODY: usize = 1024 * 1024;

/// What is sent to the hook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookRequest {
    /// GET or POST.
    pub method: HookMethod,
    /// HTTP headers.
    pub headers: Vec<(HeaderName, HeaderValue)>,
    /// POST body.
    pub body: Option<Vec<u8>>,
}

impl HookRequest {
    /// Everything that decides the hook's answer, for the cache key.
    pub fn fingerprint(&self, out: &mut Vec<u8>) {
        out.push(u8::from(self.method == HookMethod::Post));
        // Trace context differs on every request and never changes the hook's answer: leaving it out of the key
        // is what makes the cache useful behind tracing proxies.
        for (n, v) in self
            .headers
            .iter()
            .filter(|(n, _)| n != "traceparent" && n != "tracestate")
        {
            out.extend_from_slice(n.as_str().as_bytes());
            out.push(0);
            out.extend_from_slice(v.as_bytes());
            out.push(0);
        }
        out.push(1);
        if let Some(b) = &self.body {
            out.extend_from_slice(b);
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
        .filter(|(n, _)| !HOP_BY_HOP.contains(&n.as_str()))
        .filter_map(|(n, v)| {
            Some((
                HeaderName::from_bytes(n.as_bytes()).ok()?,
                HeaderValue::from_bytes(v).ok()?,
            ))
        })
        .collect();
    for (n, v) in additional {
        out.retain(|(k, _)| k != n);
        out.push((n.clone(), v.clone()));
    }
    out
}

fn as_body(pairs: Vec<(String, &[u8])>, additional: &[(HeaderName, HeaderValue)]) -> Vec<u8> {
    let mut map = Map::new();
    for (n, v) in pairs {
        // A value that is not visible ASCII is sent as "" (the reference's newest behaviour).
        map.insert(
            n,
            Value::String(visible_ascii(v).unwrap_or_default().to_owned()),
        );
    }
    for (n, v) in additional {
        map.insert(
            n.as_str().to_owned(),
            Value::String(v.to_str().unwrap_or_default().to_owned()),
        );
    }
    serde_json::json!({ "headers": map })
        .to_string()
        .into_bytes()
}

/// Build the request to the hook (reference §4.1).
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
    let mut headers = headers;
    // Trace context goes through even when the forward list does not name it.
    if let Some(tp) = req.last("traceparent")
        && !headers.iter().any(|(n, _)| n == "traceparent")
        && let Ok(v) = HeaderValue::from_bytes(tp)
    {
        headers.push((HeaderName::from_static("traceparent"), v));
    }
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
        body,
    }
}

/// A usable hook answer.
#[derive(Debug, Clone)]
pub struct HookAnswer {
    /// The identity.
    pub identity: Identity,
    /// The hook's `Cache-Control: max-age`, when it sent one.
    pub max_age: Option<u64>,
}

/// The shared webhook client.
pub struct WebhookClient {
    http: reqwest::Client,
    permits: Arc<Semaphore>,
    timeout: Duration,
    metrics: Arc<Metrics>,
}

fn unavailable(msg: impl Into<Arc<str>>) -> Deny {
    Deny::new(Reason::WebhookUnavailable, msg)
}

impl WebhookClient {
    /// One client with at most `max_connections` concurrent calls, each bounded by `timeout` (waiting included).
    pub fn new(
        timeout: Duration,
        max_connections: usize,
        metrics: Arc<Metrics>,
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
            metrics,
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
            Ok(_) => "allow",
            Err(d) if d.reason == Reason::WebhookDenied => "deny",
            Err(_) => "error",
        };
        self.metrics
            .webhook_requests
            .with_label_values(&[result])
            .inc();
        self.metrics
            .webhook_duration
            .observe(started.elapsed().as_secs_f64());
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
        // `without_url`: reqwest's message would quote the URL, which can come from the environment and carry
        // credentials; this text reaches the client's 503 body and the logs.
        let mut resp = rb.send().await.map_err(|e| {
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

/// The hook's 200 body → identity (reference §4.2).
pub fn identity_from_answer(body: &[u8], emulation_by: Option<&str>) -> Result<Identity, Deny> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| unavailable(format!("Reqwest error: {e}")))?;
    let Value::Object(obj) = v else {
        return Err(unavailable(
            "Reqwest error: the webhook response is not a JSON object",
        ));
    };
    let mut vars: Vec<(String, Value)> = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        let key = k.trim().to_lowercase();
        if vars.iter().any(|(n, _)| *n == key) {
            return Err(unavailable(format!(
                "the webhook response repeats the session variable {key}"
            )));
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
    if emulation_by == Some(role.as_str()) {
        return Ok(Identity::Emulation { role });
    }
    let rendered =
        render(vars.iter().map(|(k, v)| (k.as_str(), v))).map_err(|d| unavailable(d.message))?;
    let roles =
        Roles::new(&role, std::slice::from_ref(&role)).map_err(|d| unavailable(d.message))?;
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
}
