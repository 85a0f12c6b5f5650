//! The input of the `ext_authz_check` fuzz target, shared with tests/token_props.rs (which includes this file) so
//! that the stable suite replays a committed input exactly as the target reads it.
//!
//! Bytes that decode as a `CheckRequest` are that request (the committed seeds are encoded requests, so libFuzzer
//! mutates real protobuf). Other bytes are read as a client request in a line format that mutation reaches easily:
//! the first byte chooses the form (odd: the raw `header_map` that `encode_raw_headers` sends, one entry per header,
//! values as bytes; even: the `headers` map, repeated names joined with `,` and values made text as Envoy does), the
//! first line is the path, and each further line is `name:value` (split at the first `:` after the name's first
//! byte, so `:authority:api` is the pseudo-header). A value of exactly `@expired` stands for [`EXPIRED`], so that the
//! fuzzer reaches past the signature check without having to spell a signed token. Bytes that start with 0 or 1
//! never decode (protobuf has no field 0), so a line-format input starts with one of them.

use std::collections::HashMap;

use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};

/// Signed with the target's key (fuzz/seeds/token_path/signed-expired): claims otherwise valid, `exp` 1600000000.
/// It passes the signature check and is refused as expired; it can never verify.
pub const EXPIRED: &str = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlIiwiYXVkIjoiYXBpIiwic3ViIjoidXNlcl8xIiwiZXhwIjoxNjAwMDAwMDAwLCJpYXQiOjE1OTk5OTAwMDAsImNsYWltcy5qd3QuaGFzdXJhLmlvIjp7IngtaGFzdXJhLWRlZmF1bHQtcm9sZSI6InVzZXIiLCJ4LWhhc3VyYS1hbGxvd2VkLXJvbGVzIjpbInVzZXIiXSwieC1oYXN1cmEtdXNlci1pZCI6InVzZXJfMSJ9fQ.4IwDMo4_t2Su6c-daO11vV3iiMHGCQbYEfRuy7c63DY";

/// The check that bytes which are not an encoded `CheckRequest` describe (see the module doc).
pub fn built(data: &[u8]) -> CheckRequest {
    let Some((&form, rest)) = data.split_first() else {
        return CheckRequest::default();
    };
    let mut lines = rest.split(|&b| b == b'\n');
    let path = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
    let pairs: Vec<(String, &[u8])> = lines
        .map(|line| {
            let cut = line
                .iter()
                .skip(1)
                .position(|&b| b == b':')
                .map_or(line.len(), |i| i + 1);
            let value = line.get(cut + 1..).unwrap_or_default();
            let value = if value == b"@expired" {
                EXPIRED.as_bytes()
            } else {
                value
            };
            (String::from_utf8_lossy(&line[..cut]).into_owned(), value)
        })
        .collect();
    let mut http = HttpRequest {
        method: "GET".to_owned(),
        path,
        ..HttpRequest::default()
    };
    if form & 1 == 1 {
        http.header_map = Some(HeaderMap {
            headers: pairs
                .into_iter()
                .map(|(key, value)| HeaderValue {
                    key,
                    raw_value: value.to_vec(),
                    ..HeaderValue::default()
                })
                .collect(),
        });
    } else {
        let mut map: HashMap<String, String> = HashMap::new();
        for (name, value) in pairs {
            let value = String::from_utf8_lossy(value);
            map.entry(name)
                .and_modify(|joined| {
                    joined.push(',');
                    joined.push_str(&value);
                })
                .or_insert_with(|| value.into_owned());
        }
        http.headers = map;
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                http: Some(http),
                ..Request::default()
            }),
            ..AttributeContext::default()
        }),
    }
}
