//! Asking the service through an HTTP client library: clients that never use a proxy and always time out, and the
//! [`Answer`] a decision gives a test (status, headers, body, how long it took).

use std::time::{Duration, Instant};

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::service::Service;

/// A client that never uses a proxy and gives up after `timeout`, to be built further (TLS, name overrides).
pub fn client_builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder().no_proxy().timeout(timeout)
}

pub fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    client_builder(timeout).build().expect("client")
}

/// The usual client: no proxy, a 10 s timeout.
pub fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(10))
}

/// What the client got.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
    /// From sending the request to having read the whole body.
    pub elapsed: Duration,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `errors[0].extensions.code` of a JSON error body.
    pub fn code(&self) -> Option<String> {
        let v: Value = serde_json::from_str(&self.body).ok()?;
        v.pointer("/errors/0/extensions/code")
            .and_then(Value::as_str)
            .map(str::to_owned)
    }

    /// (message, extensions.code) of a deny/error body, asserting the shape.
    pub fn error(&self) -> (String, String) {
        let b: Value = serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("error body not JSON ({e}): {}", self.body));
        assert!(b["data"].is_null(), "data must be null: {}", self.body);
        let msg = b
            .pointer("/errors/0/message")
            .and_then(Value::as_str)
            .expect("errors[0].message")
            .to_owned();
        let code = b
            .pointer("/errors/0/extensions/code")
            .and_then(Value::as_str)
            .expect("errors[0].extensions.code");
        (msg, code.to_owned())
    }

    /// The session headers (`x-hasura-*`) of an allow, sorted.
    pub fn session(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(n, _)| n.as_str().starts_with("x-hasura-"))
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        v.sort();
        v
    }

    /// The `max-age` of the `Cache-Control` header.
    pub fn max_age(&self) -> Option<u64> {
        let cc = self.header("cache-control")?;
        cc.split(',')
            .find_map(|d| d.trim().strip_prefix("max-age="))
            .and_then(|n| n.parse().ok())
    }
}

/// `request` with these headers added, in this order.
pub fn with_headers(
    mut request: reqwest::RequestBuilder,
    headers: &[(&str, &str)],
) -> reqwest::RequestBuilder {
    for (n, v) in headers {
        request = request.header(*n, *v);
    }
    request
}

/// GET `url` with `headers`; a request that fails, or a body that cannot be read, fails the test.
pub async fn ask(client: &reqwest::Client, url: &str, headers: &[(&str, &str)]) -> Answer {
    send(with_headers(client.get(url), headers)).await
}

/// Send `request`; a request that fails, or a body that cannot be read, fails the test.
pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    exchange(request, false).await
}

/// [`send`] for a caller that judges the body itself: a body that cannot be read is taken as empty.
pub async fn send_tolerant(request: reqwest::RequestBuilder) -> Answer {
    exchange(request, true).await
}

async fn exchange(request: reqwest::RequestBuilder, unreadable_is_empty: bool) -> Answer {
    let started = Instant::now();
    let resp = request.send().await.expect("request to authgate");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = match resp.text().await {
        Ok(body) => body,
        Err(_) if unreadable_is_empty => String::new(),
        Err(e) => panic!("answer body: {e}"),
    };
    Answer {
        status,
        headers,
        body,
        elapsed: started.elapsed(),
    }
}

/// One decision on the data listener: status and the `x-hasura-role` / `x-hasura-user-id` headers; a request that
/// fails is an `Err` (for load tests that count failures).
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

/// The scrape of the service's `/metrics`, through `client`.
pub async fn scrape(client: &reqwest::Client, svc: &Service) -> String {
    let resp = client
        .get(svc.admin_url("/metrics"))
        .send()
        .await
        .expect("scrape /metrics");
    resp.text().await.expect("metrics body")
}

/// A series of the service's scrape; missing fails the test.
pub async fn counter(client: &reqwest::Client, svc: &Service, series: &str) -> f64 {
    super::service::metric(&scrape(client, svc).await, series)
        .unwrap_or_else(|| panic!("{series} missing from the scrape"))
}
