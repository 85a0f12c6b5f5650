//! What is sent to the hook, built from the client request and the mode alone: the method, the forwarded and
//! additional headers, the JSON body, and the fingerprint of it all that keys the answer cache.

use http::{HeaderName, HeaderValue};
use serde_json::{Map, Value};

use crate::authn::request::{AuthRequest, visible_ascii};
use crate::config::compiled::{Forward, HookHeaders, HookMethod, WebhookMode, never_forwarded};

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
        // A client's `baggage` is its own (it may carry user data) and never goes to the hook.
        Forward::All => client
            .iter()
            .filter(|(n, _)| n != "baggage")
            .filter(|(n, _)| !apply_ignore_list || !IGNORED.contains(&n.as_str()))
            .cloned()
            .collect(),
        Forward::List(names) => client
            .iter()
            .filter(|(n, _)| n != "baggage" && names.iter().any(|h| h.as_str() == n))
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

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
