//! Envoy's gRPC `ext_authz` contract (`envoy.service.auth.v3.Authorization/Check`, policy §12): a `CheckRequest`
//! becomes the same `AuthRequest` the HTTP adapter builds for the same client request, and the gate's `Decision`
//! becomes a `CheckResponse`. Every decidable case is answered inside a `CheckResponse`: an RPC error is what a proxy
//! configured to fail open lets through, so the only one is `INVALID_ARGUMENT` for a check that carries no HTTP
//! request at all.
//!
//! Headers come from `attributes.request.http.header_map` when Envoy sends raw headers (`encode_raw_headers`:
//! values are bytes, a repeated header is repeated) and from the `headers` map otherwise. The map is lossy: Envoy
//! joins a repeated header's values with `,` and replaces bytes that are not UTF-8 with `!`. The values the decision
//! chooses between when a header repeats (`x-hasura-role`, the last; `authorization` and the auth-mode header, the
//! first) are split back at `,`, since no valid value of theirs holds one (`authorization` only when every piece is
//! `scheme credentials`, so a `Digest` or `AWS4-HMAC-SHA256` value with its comma-separated parameters stays whole);
//! every other header is kept as Envoy joined it. Pseudo-headers are not client headers: `:authority` is the
//! `host` an HTTP/1.1 request carries, and the others (`:method`, `:path`, `:scheme`) are dropped.

use std::borrow::Cow;
use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::header_value_option::HeaderAppendAction;
use envoy_types::pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse,
};
use envoy_types::pb::envoy::r#type::v3::HttpStatus;
use envoy_types::pb::google::protobuf::{BoolValue, Struct, Value, value::Kind};
use envoy_types::pb::google::rpc;

use prost::Message;

use super::answer::{self, header_name_ok, is_tchar};
use super::check_view::{CheckView, Fallback};
use super::ext_authz_wire;
use crate::authn::reason::Deny;
use crate::authn::request::AuthRequest;
use crate::authn::session::ROLE_HEADER;
use crate::gate::{Allowed, Decision, Gate};
use crate::observe::Transport;

/// The name of the one config of single-config mode, in the dynamic metadata.
pub const CONFIG_NAME: &str = "default";
/// The context extension that names the config in multi-config mode (policy §13); the path never does.
pub const CONFIG_EXTENSION: &str = "authgate-config";
/// Longest dynamic-metadata value, in bytes; longer ones are cut at a character boundary.
pub const METADATA_VALUE_MAX: usize = 256;
/// Most client headers judged; more is `431`. Envoy's default `max_request_headers_count` is 100 with the
/// pseudo-headers, and Envoy adds a few of its own (`x-request-id`, `x-forwarded-proto`) before the check.
pub const MAX_HEADERS: usize = 128;
/// Largest request head judged, in bytes (the request line and `name: value\r\n` for each header), as the HTTP
/// listener's 128 KiB; more is `431`. Envoy's default header limit is 60 KiB.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;

/// What the gRPC adapter needs besides the gate.
#[derive(Debug, Clone, Default)]
pub struct ExtAuthzSettings {
    /// Session variables (lower-case `x-hasura-*` names) copied into the dynamic metadata.
    pub metadata_vars: Vec<String>,
    /// The v4 auth-mode header, lower-case.
    pub auth_mode_header: String,
}

/// A check the gate does not decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `attributes.request.http`: nothing to judge (`INVALID_ARGUMENT`).
    NoHttpRequest,
    /// More headers, or a larger head, than is judged (`431` inside a `CheckResponse`).
    TooLarge,
}

/// The client request a check describes, borrowed from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRequest<'a> {
    pub method: &'a str,
    pub uri: &'a str,
    /// Names lower-case, every value of a repeated header in order.
    pub headers: Vec<(Cow<'a, str>, &'a [u8])>,
}

impl ClientRequest<'_> {
    /// The headers as `AuthRequest` takes them.
    pub fn header_refs(&self) -> Vec<(&str, &[u8])> {
        self.headers.iter().map(|(n, v)| (n.as_ref(), *v)).collect()
    }
}

/// The client request of `req`, or why it is not judged.
pub fn client_request<'a>(
    req: &'a CheckRequest,
    auth_mode_header: &str,
) -> Result<ClientRequest<'a>, Refusal> {
    client_request_of(&CheckView::of_message(req), auth_mode_header)
}

/// The client request a check's view describes, or why it is not judged.
pub fn client_request_of<'a>(
    view: &CheckView<'a>,
    auth_mode_header: &str,
) -> Result<ClientRequest<'a>, Refusal> {
    let http = view.http.as_ref().ok_or(Refusal::NoHttpRequest)?;
    let mut headers: Vec<(Cow<'a, str>, &'a [u8])> = Vec::new();
    let mut authority: Option<&'a [u8]> = None;
    let mut push = |name: &'a str, value: &'a [u8], joined: bool| {
        if let Some(pseudo) = name.strip_prefix(':') {
            if pseudo.eq_ignore_ascii_case("authority") && authority.is_none() {
                authority = Some(value);
            }
            return;
        }
        if !header_name_ok(name) {
            // An HTTP listener never receives such a name; Envoy never sends one.
            return;
        }
        let name = lower(name);
        if joined && splits(&name, value, auth_mode_header) {
            for piece in value.split(|&b| b == b',') {
                headers.push((name.clone(), piece));
            }
        } else {
            headers.push((name, value));
        }
    };
    match http.header_map.as_deref().filter(|h| !h.is_empty()) {
        Some(raw) => {
            for h in raw {
                let value = if h.raw_value.is_empty() {
                    h.value.as_bytes()
                } else {
                    h.raw_value
                };
                push(h.key, value, false);
            }
        }
        None => {
            for (n, v) in &http.headers {
                push(n, v.as_bytes(), true);
            }
        }
    }
    if let Some(a) = authority
        && !headers.iter().any(|(n, _)| n == "host")
    {
        headers.push((Cow::Borrowed("host"), a));
    }
    let head = http.method.len()
        + http.path.len()
        + 12
        + headers
            .iter()
            .map(|(n, v)| n.len() + v.len() + 4)
            .sum::<usize>();
    if headers.len() > MAX_HEADERS || head > MAX_HEAD_BYTES {
        return Err(Refusal::TooLarge);
    }
    Ok(ClientRequest {
        method: http.method,
        uri: if http.path.is_empty() { "/" } else { http.path },
        headers,
    })
}

fn lower(name: &str) -> Cow<'_, str> {
    if name.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    }
}

/// Whether a map entry holds values Envoy joined with `,` that can be told apart again (see the module doc).
fn splits(name: &str, value: &[u8], auth_mode_header: &str) -> bool {
    value.contains(&b',')
        && (name == ROLE_HEADER
            || name == auth_mode_header
            || (name == "authorization" && value.split(|&b| b == b',').all(scheme_and_credentials)))
}

/// `token 1*SP credentials`: the start of an `Authorization` value, never an auth-param that follows a comma.
fn scheme_and_credentials(piece: &[u8]) -> bool {
    let scheme = piece.iter().take_while(|&&b| is_tchar(b)).count();
    let rest = &piece[scheme..];
    scheme > 0 && rest.first() == Some(&b' ') && rest.iter().any(|&b| b != b' ')
}

/// Decide one check, given as the bytes of an encoded `CheckRequest`. Read with [`CheckView`], or with prost when
/// the view cannot say; bytes prost cannot decode either are an RPC error, as for any gRPC server.
pub async fn check_encoded(
    gate: &Gate,
    bytes: &[u8],
    settings: &ExtAuthzSettings,
) -> Result<CheckResponse, tonic::Status> {
    match CheckView::decode(bytes) {
        Ok(view) => check_view(gate, &view, settings).await,
        Err(Fallback) => match CheckRequest::decode(bytes) {
            Ok(req) => check(gate, &req, settings).await,
            Err(e) => Err(tonic::Status::internal(format!(
                "cannot decode the CheckRequest: {e}"
            ))),
        },
    }
}

/// Decide one check.
pub async fn check(
    gate: &Gate,
    req: &CheckRequest,
    settings: &ExtAuthzSettings,
) -> Result<CheckResponse, tonic::Status> {
    check_view(gate, &CheckView::of_message(req), settings).await
}

/// Decide one check, as the adapter reads it.
pub async fn check_view(
    gate: &Gate,
    view: &CheckView<'_>,
    settings: &ExtAuthzSettings,
) -> Result<CheckResponse, tonic::Status> {
    Ok(match decide_view(gate, view, settings).await? {
        Checked::Decided(d, config) => respond(&d, settings, config),
        Checked::Answered(r) => r,
    })
}

/// Decide one check given as encoded bytes, and answer it as one gRPC message (the 5-byte prefix and the encoded
/// `CheckResponse`). An allow is written straight to bytes ([`super::ext_authz_wire`]); anything else is the
/// `CheckResponse` [`check_encoded`] gives, encoded.
pub async fn check_framed(
    gate: &Gate,
    bytes: &[u8],
    settings: &ExtAuthzSettings,
) -> Result<Vec<u8>, tonic::Status> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&[0; 5]);
    let checked = match CheckView::decode(bytes) {
        Ok(view) => decide_view(gate, &view, settings).await?,
        Err(Fallback) => match CheckRequest::decode(bytes) {
            Ok(req) => Checked::Answered(check(gate, &req, settings).await?),
            Err(e) => {
                return Err(tonic::Status::internal(format!(
                    "cannot decode the CheckRequest: {e}"
                )));
            }
        },
    };
    let other = match checked {
        Checked::Decided(d, config) => match &d.result {
            Ok(allowed) => ext_authz_wire::encode_allowed(&d, allowed, settings, config, &mut out)
                .err()
                .map(|e| deny(&e)),
            Err(e) => Some(deny(e)),
        },
        Checked::Answered(r) => Some(r),
    };
    if let Some(resp) = other {
        // Nothing of an allow that could not be written stays before its denial.
        out.truncate(5);
        resp.encode(&mut out)
            .map_err(|_| tonic::Status::internal("cannot encode the answer"))?;
    }
    let len =
        u32::try_from(out.len() - 5).map_err(|_| tonic::Status::internal("answer too large"))?;
    out[1..5].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// What a check came to: the gate's decision and the config to name in the metadata, or an answer made without
/// the gate (a request too large to judge).
enum Checked<'a> {
    Decided(Decision, &'a str),
    Answered(CheckResponse),
}

async fn decide_view<'a>(
    gate: &Gate,
    view: &CheckView<'a>,
    settings: &ExtAuthzSettings,
) -> Result<Checked<'a>, tonic::Status> {
    let client = match client_request_of(view, &settings.auth_mode_header) {
        Ok(c) => c,
        Err(Refusal::NoHttpRequest) => {
            return Err(tonic::Status::invalid_argument(
                "the check carries no attributes.request.http",
            ));
        }
        Err(Refusal::TooLarge) => return Ok(Checked::Answered(too_large())),
    };
    let headers = client.header_refs();
    let areq = AuthRequest {
        method: client.method,
        uri: client.uri,
        headers: &headers,
    };
    let named = config_name(view);
    let decision = gate
        .decide_named(named.map(str::as_bytes), &areq, Transport::Grpc)
        .await;
    // The metadata names the config that decided: the one named in multi-config mode, else the one config.
    let config = named
        .filter(|_| gate.is_multi_config())
        .unwrap_or(CONFIG_NAME);
    Ok(Checked::Decided(decision, config))
}

/// The config a check names: `attributes.context_extensions["authgate-config"]` only (read by the gate in
/// multi-config mode alone).
pub fn config_name<'a>(view: &CheckView<'a>) -> Option<&'a str> {
    view.context_extension(CONFIG_EXTENSION)
}

/// The `CheckResponse` of a decision.
pub fn respond(d: &Decision, settings: &ExtAuthzSettings, config: &str) -> CheckResponse {
    let Ok(allowed) = &d.result else {
        return d.result.as_ref().err().map(deny).unwrap_or_default();
    };
    let headers = match answer::session_headers(&allowed.session) {
        Ok(h) => h.map(|(n, v)| overwrite(n, v)).collect(),
        Err(e) => return deny(&e),
    };
    CheckResponse {
        status: Some(rpc::Status {
            code: tonic::Code::Ok as i32,
            message: String::new(),
            details: Vec::new(),
        }),
        dynamic_metadata: Some(metadata(allowed, settings, config)),
        http_response: Some(HttpResponse::OkResponse(OkHttpResponse {
            headers,
            headers_to_remove: d.headers_to_remove.clone(),
            ..OkHttpResponse::default()
        })),
    }
}

/// A header to set, replacing any value the client sent: the append action newer Envoys read, and the deprecated
/// `append: false` older ones read instead. Either way a client-sent value does not survive beside it.
fn overwrite(name: &str, value: &str) -> HeaderValueOption {
    #[allow(deprecated)]
    HeaderValueOption {
        header: Some(HeaderValue {
            key: name.to_owned(),
            value: value.to_owned(),
            raw_value: Vec::new(),
        }),
        append: Some(BoolValue { value: false }),
        append_action: HeaderAppendAction::OverwriteIfExistsOrAdd as i32,
        keep_empty_value: true,
    }
}

/// The chosen role, the config name, and the session variables `--grpc-metadata-vars` names, each capped.
fn metadata(allowed: &Allowed, settings: &ExtAuthzSettings, config: &str) -> Struct {
    let text = |s: &str| Value {
        kind: Some(Kind::StringValue(cap(s, METADATA_VALUE_MAX).to_owned())),
    };
    let mut fields = HashMap::new();
    fields.insert("role".to_owned(), text(&allowed.session.role));
    fields.insert("config".to_owned(), text(config));
    for (n, v) in allowed.session.vars.iter() {
        if settings.metadata_vars.iter().any(|m| m == n) {
            fields.insert(n.to_owned(), text(v));
        }
    }
    Struct { fields }
}

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn cap(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A denial: the HTTP answer's status, headers and body, under `PERMISSION_DENIED`, or `UNAVAILABLE` when a
/// dependency failed (503).
pub(crate) fn deny(e: &Deny) -> CheckResponse {
    let code = match e.status {
        503 => tonic::Code::Unavailable,
        s if s >= 500 => tonic::Code::Internal,
        _ => tonic::Code::PermissionDenied,
    };
    let denial = answer::denial(e);
    let headers = denial.headers().map(|(n, v)| overwrite(n, v)).collect();
    denied(code, e.reason.code(), denial.status, headers, denial.body)
}

fn denied(
    code: tonic::Code,
    message: &str,
    status: u16,
    headers: Vec<HeaderValueOption>,
    body: String,
) -> CheckResponse {
    CheckResponse {
        status: Some(rpc::Status {
            code: code as i32,
            message: message.to_owned(),
            details: Vec::new(),
        }),
        dynamic_metadata: None,
        http_response: Some(HttpResponse::DeniedResponse(DeniedHttpResponse {
            status: Some(HttpStatus {
                code: i32::from(status),
            }),
            headers,
            body,
        })),
    }
}

/// `431`: more headers, or a larger head, than is judged.
pub fn too_large() -> CheckResponse {
    let body = answer::body(
        "the request headers are too large to judge",
        "headers_too_large",
    );
    denied(
        tonic::Code::PermissionDenied,
        "headers_too_large",
        431,
        vec![
            overwrite("cache-control", "no-store"),
            overwrite("content-type", "application/json"),
        ],
        body,
    )
}

#[cfg(test)]
#[path = "ext_authz_tests.rs"]
mod tests;
