//! What the gRPC tests share: a tonic client for the service, checks in both header forms, a `CheckResponse` taken
//! apart, and the HTTP answer for the same request to compare it with.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::authorization_client::AuthorizationClient;
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest, CheckResponse};
use envoy_types::pb::google::protobuf::value::Kind;
use serde_json::json;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::common::service::Service;
use crate::common::tokens::mint;

/// The `append_action` value `OVERWRITE_IF_EXISTS_OR_ADD`.
pub const OVERWRITE_IF_EXISTS_OR_ADD: i32 = 2;

/// An HS256 token signed with `secret` for `user`, role `user` only, expiring in `exp_in` seconds.
pub fn hs_token(secret: &str, user: &str, exp_in: i64) -> String {
    let claims = json!({"claims.jwt.hasura.io": {
        "x-hasura-allowed-roles": ["user"],
        "x-hasura-default-role": "user",
        "x-hasura-user-id": user
    }});
    mint(&json!({"alg": "HS256", "secret": secret, "claims": claims, "exp_in": exp_in}))
}

/// A channel to `port` on loopback (cleartext HTTP/2), connected within 5 s.
pub async fn channel(port: u16) -> Channel {
    Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(15))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to the gRPC listener on {port}: {e}"))
}

pub async fn authz(svc: &Service) -> AuthorizationClient<Channel> {
    AuthorizationClient::new(channel(svc.grpc).await)
}

fn http_request(method: &str, path: &str) -> HttpRequest {
    HttpRequest {
        method: method.into(),
        path: path.into(),
        host: "api.example.com".into(),
        scheme: "https".into(),
        protocol: "HTTP/1.1".into(),
        ..HttpRequest::default()
    }
}

fn wrap(http: HttpRequest) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                time: None,
                http: Some(http),
            }),
            ..AttributeContext::default()
        }),
    }
}

/// A check in the `headers` form, as Envoy sends it by default: one entry per name, repeated values joined with `,`,
/// the pseudo-headers included.
pub fn check_map(headers: &[(&str, &str)]) -> CheckRequest {
    let mut http = http_request("GET", "/graphql?q=1");
    http.headers
        .insert(":authority".into(), "api.example.com".into());
    http.headers.insert(":method".into(), "GET".into());
    http.headers.insert(":path".into(), "/graphql?q=1".into());
    for (n, v) in headers {
        http.headers
            .entry((*n).to_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(v);
            })
            .or_insert_with(|| (*v).to_owned());
    }
    wrap(http)
}

/// A check in the `header_map` form (`encode_raw_headers: true`): each header once per value, values as bytes.
pub fn check_raw(headers: &[(&str, &[u8])]) -> CheckRequest {
    let mut http = http_request("GET", "/graphql?q=1");
    let pseudo: [(&str, &[u8]); 3] = [
        (":authority", b"api.example.com"),
        (":method", b"GET"),
        (":path", b"/graphql?q=1"),
    ];
    http.header_map = Some(HeaderMap {
        headers: pseudo
            .iter()
            .chain(headers)
            .map(|(n, v)| HeaderValue {
                key: (*n).to_owned(),
                value: String::new(),
                raw_value: v.to_vec(),
            })
            .collect(),
    });
    wrap(http)
}

/// A `CheckResponse` taken apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// `google.rpc.Status.code`.
    pub code: i32,
    /// The HTTP status of a denial (200 for an allow).
    pub status: u16,
    /// Headers to set (allow) or of the denial, names as sent.
    pub headers: Vec<(String, String)>,
    /// `(append_action, append)` of each header, in order.
    pub flags: Vec<(i32, Option<bool>)>,
    pub headers_to_remove: Vec<String>,
    pub body: String,
    /// The dynamic metadata's string fields.
    pub metadata: BTreeMap<String, String>,
}

impl Outcome {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The error body's `extensions.code`.
    pub fn error_code(&self) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(&self.body).ok()?;
        v.pointer("/errors/0/extensions/code")?
            .as_str()
            .map(str::to_owned)
    }
}

#[allow(deprecated)]
pub fn outcome(r: CheckResponse) -> Outcome {
    let code = r.status.as_ref().map_or(-1, |s| s.code);
    let metadata = r
        .dynamic_metadata
        .map(|m| {
            m.fields
                .into_iter()
                .filter_map(|(k, v)| match v.kind {
                    Some(Kind::StringValue(s)) => Some((k, s)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    let (status, options, headers_to_remove, body) = match r.http_response {
        Some(HttpResponse::OkResponse(ok)) => {
            (200, ok.headers, ok.headers_to_remove, String::new())
        }
        Some(HttpResponse::DeniedResponse(d)) => (
            d.status.map_or(0, |s| u16::try_from(s.code).unwrap_or(0)),
            d.headers,
            Vec::new(),
            d.body,
        ),
        other => panic!("a CheckResponse without an OK or denied response: {other:?}"),
    };
    let headers = options
        .iter()
        .map(|o| {
            let h = o.header.clone().expect("a header in the option");
            (h.key, h.value)
        })
        .collect();
    let flags = options
        .iter()
        .map(|o| (o.append_action, o.append.map(|a| a.value)))
        .collect();
    Outcome {
        code,
        status,
        headers,
        flags,
        headers_to_remove,
        body,
        metadata,
    }
}

/// Ask `svc` over gRPC; a transport or RPC error fails the test.
pub async fn ask(client: &mut AuthorizationClient<Channel>, req: CheckRequest) -> Outcome {
    let resp = client
        .check(req)
        .await
        .unwrap_or_else(|s| panic!("the check was an RPC error: {s:?}"));
    outcome(resp.into_inner())
}

/// The HTTP listener's answer to the same client headers: status, the denial headers that both transports send,
/// and the body.
pub async fn http_answer(
    svc: &Service,
    headers: &[(&str, &str)],
) -> (u16, Vec<(String, String)>, String) {
    let mut req = crate::common::http::client().get(svc.url("/graphql?q=1"));
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    let resp = req.send().await.expect("HTTP request");
    let status = resp.status().as_u16();
    let mut denial_headers = Vec::new();
    for n in [
        "cache-control",
        "www-authenticate",
        "retry-after",
        "content-type",
    ] {
        if let Some(v) = resp.headers().get(n) {
            denial_headers.push((n.to_owned(), v.to_str().unwrap_or_default().to_owned()));
        }
    }
    let body = resp.text().await.unwrap_or_default();
    (status, denial_headers, body)
}

/// The health status of `service` on `port`, or the RPC error's code.
pub async fn health(port: u16, service: &str) -> Result<ServingStatus, tonic::Code> {
    let mut client = HealthClient::new(channel(port).await);
    client
        .check(HealthCheckRequest {
            service: service.into(),
        })
        .await
        .map(|r| ServingStatus::try_from(r.into_inner().status).unwrap_or(ServingStatus::Unknown))
        .map_err(|s| s.code())
}

/// Poll the overall health on `port` until it is `want` (at most `limit`). A listener not bound yet (a process
/// that prints its addresses before it starts serving) counts as "not yet", like any other answer.
pub async fn wait_health(port: u16, want: ServingStatus, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        let connected = Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(1))
            .timeout(Duration::from_secs(5))
            .connect()
            .await;
        if let Ok(ch) = connected {
            let answer = HealthClient::new(ch)
                .check(HealthCheckRequest { service: "".into() })
                .await
                .map(|r| {
                    ServingStatus::try_from(r.into_inner().status).unwrap_or(ServingStatus::Unknown)
                });
            if answer.is_ok_and(|s| s == want) {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
