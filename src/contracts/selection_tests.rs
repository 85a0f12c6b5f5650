//! Config selection in both transports (policy §13): over gRPC only `context_extensions["authgate-config"]` names
//! the config, never the path; over HTTP only the `/configs/<name>` prefix of the request line, as raw bytes.
//! Single-config mode reads neither.

use std::collections::HashMap;
use std::sync::Arc;

use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};

use super::ext_authz::{self, CONFIG_EXTENSION, ExtAuthzSettings};
use super::forward::config_from_path;
use crate::clock::SystemClock;
use crate::config::{LoadOptions, load_str};
use crate::gate::{Gate, GateSettings};
use crate::observe::Ignore;

const OPEN: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      role: guest\n      sessionVariables: {}\n";

fn check(path: &str, extension: Option<&str>) -> CheckRequest {
    let context_extensions: HashMap<String, String> = extension
        .map(|e| HashMap::from([(CONFIG_EXTENSION.to_owned(), e.to_owned())]))
        .unwrap_or_default();
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                time: None,
                http: Some(HttpRequest {
                    method: "GET".into(),
                    path: path.into(),
                    host: "api.example.com".into(),
                    ..HttpRequest::default()
                }),
            }),
            context_extensions,
            ..AttributeContext::default()
        }),
    }
}

fn gate(multi: bool) -> Gate {
    let gate = Gate::new(
        GateSettings::default(),
        Arc::new(Ignore),
        Arc::new(SystemClock),
    )
    .expect("gate");
    let config = load_str(OPEN, &LoadOptions::default())
        .expect("loads")
        .config;
    if multi {
        let gate = gate.with_multi_config();
        gate.config_loaded("a", config);
        gate
    } else {
        gate.apply(config);
        gate
    }
}

/// The HTTP status inside the `CheckResponse` (200 for an allow).
async fn status(gate: &Gate, req: &CheckRequest) -> u16 {
    let r = ext_authz::check(gate, req, &ExtAuthzSettings::default())
        .await
        .expect("a CheckResponse");
    match r.status.as_ref().map(|s| s.code) {
        Some(0) => 200,
        _ => match r.http_response {
            Some(HttpResponse::DeniedResponse(d)) => d.status.map_or(0, |s| s.code as u16),
            _ => 0,
        },
    }
}

#[tokio::test]
async fn grpc_selects_by_the_context_extension_only() {
    let multi = gate(true);
    for (path, ext, want) in [
        ("/graphql", Some("a"), 200),
        ("/configs/nope/graphql", Some("a"), 200),
        ("/configs/a/graphql", None, 503),
        ("/configs/a/graphql", Some("b"), 503),
        ("/graphql", Some("%61"), 503),
        ("/graphql", Some(""), 503),
    ] {
        assert_eq!(
            status(&multi, &check(path, ext)).await,
            want,
            "{path} {ext:?}"
        );
    }
    let single = gate(false);
    for ext in [None, Some("nope")] {
        assert_eq!(
            status(&single, &check("/configs/x", ext)).await,
            200,
            "{ext:?}"
        );
    }
}

#[test]
fn the_http_prefix_is_read_as_raw_bytes() {
    let rows: [(&[u8], Option<&[u8]>); 9] = [
        (b"/configs/a", Some(b"a")),
        (b"/configs/a/", Some(b"a")),
        (b"/configs/a?x=/configs/b", Some(b"a")),
        (b"/configs/a/configs/b", Some(b"a")),
        (b"/configs/%61/x", Some(b"%61")),
        (b"/configs/", Some(b"")),
        (b"/configs", None),
        (b"/Configs/a", None),
        (b"/x/configs/a", None),
    ];
    for (path, want) in rows {
        assert_eq!(config_from_path(path), want, "{}", path.escape_ascii());
    }
}
