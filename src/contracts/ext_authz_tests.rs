use std::sync::Arc;

use envoy_types::pb::envoy::config::core::v3::HeaderMap;
use envoy_types::pb::envoy::service::auth::v3::AttributeContext;
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{HttpRequest, Request};
use jsonwebtoken::{EncodingKey, Header};
use serde_json::json;

use super::*;
use crate::authn::reason::Reason;
use crate::authn::session::{RenderedVars, Session};
use crate::clock::{SystemClock, unix_now};
use crate::config::LoadOptions;
use crate::gate::GateSettings;
use crate::observe::Ignore;

const SECRET: &str = "a-secret-of-at-least-thirty-two-bytes!";

fn token(roles: &[&str], exp_in: i64) -> String {
    let claims = json!({
        "exp": unix_now() as i64 + exp_in,
        "claims.jwt.hasura.io": {
            "x-hasura-allowed-roles": roles,
            "x-hasura-default-role": roles[0],
            "x-hasura-user-id": "u-7",
        }
    });
    jsonwebtoken::encode(
        &Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

fn http(headers: HashMap<String, String>, raw: Option<Vec<(&str, &[u8])>>) -> CheckRequest {
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(Request {
                time: None,
                http: Some(HttpRequest {
                    method: "POST".into(),
                    path: "/v1/graphql?x=1".into(),
                    host: "api.example.com".into(),
                    headers,
                    header_map: raw.map(|r| HeaderMap {
                        headers: r
                            .into_iter()
                            .map(|(k, v)| HeaderValue {
                                key: k.into(),
                                value: String::new(),
                                raw_value: v.to_vec(),
                            })
                            .collect(),
                    }),
                    ..HttpRequest::default()
                }),
            }),
            ..AttributeContext::default()
        }),
    }
}

/// One client request as Envoy sends it raw (pseudo-headers first, each header line as it came) and as a map
/// (pseudo-headers included, repeated values joined with `,`).
fn both_forms(lines: &[(&str, &str)]) -> (CheckRequest, CheckRequest) {
    let pseudo = [
        (":authority", "api.example.com"),
        (":method", "POST"),
        (":path", "/v1/graphql?x=1"),
        (":scheme", "https"),
    ];
    let raw: Vec<(&str, &[u8])> = pseudo
        .iter()
        .chain(lines)
        .map(|(n, v)| (*n, v.as_bytes()))
        .collect();
    let mut map: HashMap<String, String> = HashMap::new();
    for (n, v) in pseudo.iter().chain(lines) {
        map.entry(n.to_ascii_lowercase())
            .and_modify(|e| {
                e.push(',');
                e.push_str(v);
            })
            .or_insert_with(|| (*v).to_owned());
    }
    (http(HashMap::new(), Some(raw)), http(map, None))
}

/// Headers sorted by name, keeping the order of a name's values: what the gate reads (first, last, all of a name)
/// does not depend on the order across names, and actix's header map does not keep it.
fn normalised(h: Vec<(&str, &[u8])>) -> Vec<(String, Vec<u8>)> {
    let mut h: Vec<(String, Vec<u8>)> = h
        .into_iter()
        .map(|(n, v)| (n.to_owned(), v.to_vec()))
        .collect();
    h.sort_by(|a, b| a.0.cmp(&b.0));
    h
}

async fn gate() -> Gate {
    let gate = Gate::new(
        GateSettings::default(),
        Arc::new(Ignore),
        Arc::new(SystemClock),
    )
    .expect("gate");
    let config = format!(
        "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        fixed:\n          algorithm: HS256\n          key:\n            value: {SECRET}\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n"
    );
    crate::reload::apply_text(&gate, &config, &LoadOptions::default(), "test").expect("config");
    gate
}

/// What a decision says: status, role and variables, headers to remove, the denial's message.
type Summary = (
    u16,
    Option<(String, Vec<(String, String)>)>,
    Vec<String>,
    Option<String>,
);

async fn decide(gate: &Gate, headers: &[(&str, &[u8])]) -> Summary {
    let areq = AuthRequest {
        method: "POST",
        uri: "/v1/graphql?x=1",
        headers,
    };
    summary(&gate.decide_via(&areq, Transport::Grpc).await)
}

fn summary(d: &Decision) -> Summary {
    (
        d.status(),
        d.result.as_ref().ok().map(|a| {
            let vars = a
                .session
                .vars
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect();
            (a.session.role.clone(), vars)
        }),
        d.headers_to_remove.clone(),
        d.result.as_ref().err().map(|e| e.message.to_string()),
    )
}

/// The same client request, repeats included, through the HTTP adapter, the raw `header_map` and the `headers` map:
/// the same `AuthRequest` and the same decision.
#[tokio::test]
async fn every_form_of_one_request_gives_the_same_auth_request_and_decision() {
    let good = format!("Bearer {}", token(&["user", "editor"], 3600));
    let other = format!("Bearer {}", token(&["user"], 3600));
    let requests: Vec<Vec<(&str, &str)>> = vec![
        vec![("authorization", &good)],
        // Repeated Authorization (the first counts) and x-hasura-role (the last counts), a stray client header.
        vec![
            ("Authorization", &good),
            ("x-hasura-role", "admin"),
            ("authorization", &other),
            ("X-Hasura-Role", "editor"),
            ("x-hasura-org-id", "o-1"),
            ("cookie", "a=1; b=2"),
            ("accept", "text/html, application/json"),
        ],
        // The first Authorization is not a token; a role that is not allowed.
        vec![
            ("authorization", "Basic dXNlcg=="),
            ("authorization", &good),
        ],
        vec![
            ("authorization", &good),
            ("x-hasura-role", "editor"),
            ("x-hasura-role", "admin"),
        ],
        vec![
            ("x-hasura-auth-mode", "other"),
            ("x-hasura-auth-mode", "jwt"),
        ],
        vec![],
    ];
    let gate = gate().await;
    for lines in &requests {
        // The HTTP listener's reading of the same request, from its bytes on the wire.
        let mut wire = b"POST /v1/graphql?x=1 HTTP/1.1\r\nHost: api.example.com\r\n".to_vec();
        for (n, v) in lines {
            wire.extend_from_slice(format!("{n}: {v}\r\n").as_bytes());
        }
        wire.extend_from_slice(b"\r\n");
        let crate::http1::head::Parsed::Complete(h) = crate::http1::head::parse(&mut wire) else {
            panic!("the request parses");
        };
        let text = |(o, l): (usize, usize)| std::str::from_utf8(&wire[o..o + l]).expect("ASCII");
        let via_http: Vec<(&str, &[u8])> = h
            .headers
            .iter()
            .map(|&(n, (v, vl))| (text(n), &wire[v..v + vl]))
            .collect();
        let (raw, map) = both_forms(lines);
        let raw = client_request(&raw, "x-hasura-auth-mode").expect("judged");
        let map = client_request(&map, "x-hasura-auth-mode").expect("judged");
        let want = normalised(via_http.clone());
        assert_eq!(normalised(raw.header_refs()), want, "raw form of {lines:?}");
        assert_eq!(normalised(map.header_refs()), want, "map form of {lines:?}");
        assert_eq!((raw.method, raw.uri), ("POST", "/v1/graphql?x=1"));

        let d_http = decide(&gate, &via_http).await;
        assert_eq!(
            decide(&gate, &raw.header_refs()).await,
            d_http,
            "raw form of {lines:?}"
        );
        assert_eq!(
            decide(&gate, &map.header_refs()).await,
            d_http,
            "map form of {lines:?}"
        );
    }
}

#[test]
fn joined_values_are_split_only_where_the_decision_chooses_between_them() {
    let split = |name, value: &'static str| -> Vec<&'static str> {
        if splits(name, value.as_bytes(), "x-hasura-auth-mode") {
            value.split(',').collect()
        } else {
            vec![value]
        }
    };
    assert_eq!(
        split("authorization", "Bearer a,Bearer b"),
        ["Bearer a", "Bearer b"]
    );
    assert_eq!(split("authorization", "Bearer a"), ["Bearer a"]);
    // Auth-params after a comma are not a second value.
    assert_eq!(
        split("authorization", "Digest a=1, b=2"),
        ["Digest a=1, b=2"]
    );
    assert_eq!(split("authorization", "Digest a=1,b=2"), ["Digest a=1,b=2"]);
    assert_eq!(split("authorization", "Bearer a,"), ["Bearer a,"]);
    assert_eq!(split("x-hasura-role", "user,editor"), ["user", "editor"]);
    assert_eq!(split("x-hasura-auth-mode", "a,b"), ["a", "b"]);
    // Everything else stays as Envoy joined it.
    for name in ["cookie", "x-hasura-org-ids", "accept"] {
        assert_eq!(split(name, "a,b"), ["a,b"], "{name}");
    }
}

#[test]
fn names_pseudo_headers_and_limits() {
    let mut map = HashMap::new();
    map.insert("X-Upper".to_owned(), "1".to_owned());
    map.insert("bad name".to_owned(), "2".to_owned());
    map.insert(":authority".to_owned(), "h.example".to_owned());
    map.insert(":path".to_owned(), "/p".to_owned());
    let req = http(map, None);
    let c = client_request(&req, "x-hasura-auth-mode").expect("judged");
    assert_eq!(
        normalised(c.header_refs()),
        [
            ("host".to_owned(), b"h.example".to_vec()),
            ("x-upper".to_owned(), b"1".to_vec())
        ]
    );
    // An explicit host wins over :authority.
    let req = http(
        HashMap::new(),
        Some(vec![(":authority", b"a"), ("host", b"b")]),
    );
    let c = client_request(&req, "").expect("judged");
    assert_eq!(c.header_refs(), [("host", &b"b"[..])]);
    // Raw values are bytes, not text.
    let req = http(
        HashMap::new(),
        Some(vec![("authorization", b"Bearer \xff")]),
    );
    let c = client_request(&req, "").expect("judged");
    assert_eq!(c.header_refs(), [("authorization", &b"Bearer \xff"[..])]);

    assert_eq!(
        client_request(&CheckRequest { attributes: None }, ""),
        Err(Refusal::NoHttpRequest)
    );
    let many: HashMap<String, String> = (0..=MAX_HEADERS)
        .map(|i| (format!("x-{i}"), "v".to_owned()))
        .collect();
    assert_eq!(
        client_request(&http(many, None), ""),
        Err(Refusal::TooLarge)
    );
    let fits: HashMap<String, String> = (0..MAX_HEADERS)
        .map(|i| (format!("x-{i}"), "v".to_owned()))
        .collect();
    assert!(client_request(&http(fits, None), "").is_ok());
    let big = HashMap::from([("x-big".to_owned(), "a".repeat(MAX_HEAD_BYTES))]);
    assert_eq!(client_request(&http(big, None), ""), Err(Refusal::TooLarge));
}

fn allowed(role: &str, vars: &[(&str, &str)]) -> Decision {
    let claims: serde_json::Map<String, serde_json::Value> = vars
        .iter()
        .map(|(n, v)| ((*n).to_owned(), json!(v)))
        .collect();
    let vars: RenderedVars =
        crate::authn::session::render(claims.iter().map(|(k, v)| (k.as_str(), v))).expect("vars");
    Decision {
        result: Ok(Allowed {
            session: Session {
                role: role.to_owned(),
                vars,
            },
            max_age: 60,
        }),
        headers_to_remove: vec!["x-hasura-org".into()],
        cache_hit: false,
    }
}

#[test]
fn metadata_holds_the_role_the_config_and_only_the_named_variables_capped() {
    let long = "é".repeat(200); // 400 bytes of two-byte characters
    let d = allowed(
        "user",
        &[("x-hasura-user-id", &long), ("x-hasura-email", "a@b")],
    );
    let settings = ExtAuthzSettings {
        metadata_vars: vec!["x-hasura-user-id".into(), "x-hasura-missing".into()],
        auth_mode_header: String::new(),
    };
    let r = respond(&d, &settings, CONFIG_NAME);
    assert_eq!(r.status.as_ref().map(|s| s.code), Some(0));
    let fields = r.dynamic_metadata.expect("metadata").fields;
    let text = |k: &str| match fields.get(k).and_then(|v| v.kind.clone()) {
        Some(Kind::StringValue(s)) => Some(s),
        _ => None,
    };
    assert_eq!(text("role").as_deref(), Some("user"));
    assert_eq!(text("config").as_deref(), Some(CONFIG_NAME));
    assert_eq!(text("x-hasura-user-id"), Some("é".repeat(128)));
    assert_eq!(
        fields.len(),
        3,
        "no variable that was not named: {fields:?}"
    );
    let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
        panic!("an allow");
    };
    let names: Vec<&str> = ok
        .headers
        .iter()
        .filter_map(|h| h.header.as_ref())
        .map(|h| h.key.as_str())
        .collect();
    assert_eq!(
        names,
        ["x-hasura-role", "x-hasura-email", "x-hasura-user-id"]
    );
    #[allow(deprecated)]
    for h in &ok.headers {
        assert_eq!(
            h.append_action,
            HeaderAppendAction::OverwriteIfExistsOrAdd as i32
        );
        assert_eq!(h.append, Some(BoolValue { value: false }));
    }
    assert_eq!(ok.headers_to_remove, ["x-hasura-org"]);
}

#[test]
fn denials_map_to_their_rpc_codes_and_an_unsendable_role_is_denied() {
    let deny = |reason| Decision {
        result: Err(Deny::new(reason, "m")),
        headers_to_remove: Vec::new(),
        cache_hit: false,
    };
    let code = |d: &Decision| {
        let r = respond(d, &ExtAuthzSettings::default(), CONFIG_NAME);
        let status = match r.http_response {
            Some(HttpResponse::DeniedResponse(d)) => d.status.map(|s| s.code),
            _ => None,
        };
        (
            r.status.map(|s| s.code),
            status,
            r.dynamic_metadata.is_some(),
        )
    };
    use tonic::Code;
    assert_eq!(
        code(&deny(Reason::MissingToken)),
        (Some(Code::PermissionDenied as i32), Some(401), false)
    );
    assert_eq!(
        code(&deny(Reason::RoleNotAllowed)),
        (Some(Code::PermissionDenied as i32), Some(403), false)
    );
    assert_eq!(
        code(&deny(Reason::JwksUnavailable)),
        (Some(Code::Unavailable as i32), Some(503), false)
    );
    assert_eq!(
        code(&deny(Reason::Internal)),
        (Some(Code::Internal as i32), Some(500), false)
    );
    assert_eq!(
        code(&allowed("bad\nrole", &[])),
        (Some(Code::PermissionDenied as i32), Some(401), false)
    );
    let r = too_large();
    assert_eq!(
        r.status.map(|s| s.code),
        Some(Code::PermissionDenied as i32)
    );
    assert!(
        matches!(r.http_response, Some(HttpResponse::DeniedResponse(d)) if d.status.map(|s| s.code) == Some(431))
    );
}
