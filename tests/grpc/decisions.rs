//! Decisions over gRPC: the allow's headers, flags, removals and metadata; denials that carry exactly the HTTP
//! answer's status, headers and body; the bounds (431, token_too_large, the message cap); INVALID_ARGUMENT only for
//! a check without an HTTP request; and the `transport` label of the metrics.

use envoy_types::pb::envoy::service::auth::v3::attribute_context::Request;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};

use crate::common::configs::hs256_config;
use crate::common::service::{metric, started};
use crate::support::{
    OVERWRITE_IF_EXISTS_OR_ADD, ask, authz, check_map, check_raw, hs_token, http_answer,
};

const OK: i32 = 0;
const PERMISSION_DENIED: i32 = 7;

/// A denial case: its name, the client headers, the status and the error code.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str);

fn series(decision: &str, reason: &str, transport: &str) -> String {
    format!(
        "authgate_requests_total{{decision=\"{decision}\",reason=\"{reason}\",transport=\"{transport}\"}}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_and_deny_over_grpc_as_over_http() {
    let svc = started(
        &hs256_config("grpc-secret"),
        &["--grpc-metadata-vars", "x-hasura-user-id,x-hasura-absent"],
    );
    let mut client = authz(&svc).await;
    let bearer = format!("Bearer {}", hs_token("grpc-secret", "42", 3600));

    // Allow, with a spoofed user id, a stray x-hasura-* header and the auth-mode header from the client.
    let sent = [
        ("authorization", bearer.as_str()),
        ("x-hasura-user-id", "spoofed"),
        ("X-Hasura-Org", "evil"),
        ("x-hasura-auth-mode", "jwt"),
    ];
    let raw: Vec<(&str, &[u8])> = sent.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    let a = ask(&mut client, check_map(&sent)).await;
    assert_eq!(a.code, OK, "{a:?}");
    assert_eq!(a.status, 200);
    assert_eq!(
        a.headers,
        [
            ("x-hasura-role".to_owned(), "user".to_owned()),
            ("x-hasura-user-id".to_owned(), "42".to_owned())
        ]
    );
    assert_eq!(
        a.flags,
        [(OVERWRITE_IF_EXISTS_OR_ADD, Some(false)); 2],
        "every session header overwrites, under the append action and the deprecated append flag"
    );
    assert_eq!(
        a.headers_to_remove,
        ["x-hasura-org"],
        "client x-hasura-* the session does not set; not the auth-mode header"
    );
    assert_eq!(
        a.metadata,
        [
            ("config", "default"),
            ("role", "user"),
            ("x-hasura-user-id", "42")
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into(),
        "the role, the config and only the variables named by --grpc-metadata-vars"
    );
    // The raw header form gives the same answer.
    assert_eq!(ask(&mut client, check_raw(&raw)).await, a);

    // Denials: the same status, headers and body as the HTTP listener gives for the same client headers.
    let expired = format!("Bearer {}", hs_token("grpc-secret", "42", -3600));
    let forged = format!("Bearer {}", hs_token("other-secret", "42", 3600));
    let cases: [Case; 5] = [
        ("no token", vec![], 401, "missing_token"),
        ("expired", vec![("authorization", &expired)], 401, "expired"),
        (
            "forged",
            vec![("authorization", &forged)],
            401,
            "invalid_signature",
        ),
        (
            "not bearer",
            vec![("authorization", "Basic dXNlcjpwdw==")],
            401,
            "malformed_token",
        ),
        (
            "role not allowed",
            vec![("authorization", &bearer), ("x-hasura-role", "admin")],
            403,
            "role_not_allowed",
        ),
    ];
    for (name, headers, status, code) in &cases {
        let g = ask(&mut client, check_map(headers)).await;
        assert_eq!(g.code, PERMISSION_DENIED, "{name}: {g:?}");
        assert_eq!(g.status, *status, "{name}");
        assert_eq!(g.error_code().as_deref(), Some(*code), "{name}: {}", g.body);
        assert!(
            g.metadata.is_empty() && g.headers_to_remove.is_empty(),
            "{name}"
        );
        let (h_status, h_headers, h_body) = http_answer(&svc, headers).await;
        assert_eq!(h_status, *status, "{name} over HTTP");
        assert_eq!(
            g.headers, h_headers,
            "{name}: the denial's headers are the HTTP answer's"
        );
        assert_eq!(g.body, h_body, "{name}: the body is the HTTP answer's");
        if *status == 401 {
            assert!(g.header("www-authenticate").is_some(), "{name}");
        }
    }

    // Repeated headers, as Envoy joins them in the map and sends them raw: the first Authorization and the last
    // x-hasura-role count, as over HTTP.
    let repeated = [
        ("authorization", bearer.as_str()),
        ("authorization", "Bearer second"),
        ("x-hasura-role", "admin"),
        ("x-hasura-role", "user"),
    ];
    let raw: Vec<(&str, &[u8])> = repeated.iter().map(|(n, v)| (*n, v.as_bytes())).collect();
    let joined = ask(&mut client, check_map(&repeated)).await;
    assert_eq!((joined.code, joined.status), (OK, 200), "{joined:?}");
    assert_eq!(joined.header("x-hasura-role"), Some("user"));
    assert_eq!(ask(&mut client, check_raw(&raw)).await, joined);

    // Bounds: too many headers, or a head too large, is a 431 inside a CheckResponse; a long token is 401
    // token_too_large; past the message cap tonic refuses the call.
    let many: Vec<(String, String)> = (0..200)
        .map(|i| (format!("x-filler-{i}"), "v".into()))
        .collect();
    let many: Vec<(&str, &str)> = many.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let big = "a".repeat(140 * 1024);
    for (name, headers) in [
        ("200 headers", many),
        ("a 140 KiB header", vec![("x-big", big.as_str())]),
    ] {
        let g = ask(&mut client, check_map(&headers)).await;
        assert_eq!(
            (g.code, g.status),
            (PERMISSION_DENIED, 431),
            "{name}: {g:?}"
        );
        assert_eq!(g.header("cache-control"), Some("no-store"), "{name}");
    }
    let long = format!("Bearer {}", "a".repeat(20 * 1024));
    let g = ask(&mut client, check_map(&[("authorization", &long)])).await;
    assert_eq!(
        (g.status, g.error_code().as_deref()),
        (401, Some("token_too_large"))
    );
    let huge = "a".repeat(300 * 1024);
    let refused = client.check(check_map(&[("x-huge", &huge)])).await;
    assert!(
        refused.is_err(),
        "a check past the 256 KiB message cap is refused by the RPC layer"
    );

    // INVALID_ARGUMENT only when there is no HTTP request to judge; an empty one is judged.
    for empty in [
        CheckRequest { attributes: None },
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(Request {
                    time: None,
                    http: None,
                }),
                ..AttributeContext::default()
            }),
        },
    ] {
        let e = client
            .check(empty)
            .await
            .expect_err("no HTTP request: an RPC error");
        assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    }
    let g = ask(&mut client, check_map(&[])).await;
    assert_eq!(
        (g.status, g.error_code().as_deref()),
        (401, Some("missing_token"))
    );

    // Metrics: every decision counted once, under the transport it came through.
    let scrape = svc.metrics();
    let m = |s: &str| metric(&scrape, s).unwrap_or_else(|| panic!("{s} missing:\n{scrape}"));
    assert_eq!(m(&series("allow", "ok", "grpc")), 4.0);
    assert_eq!(m(&series("deny", "missing_token", "grpc")), 2.0);
    assert_eq!(m(&series("deny", "missing_token", "http")), 1.0);
    assert_eq!(m(&series("deny", "role_not_allowed", "grpc")), 1.0);
    assert_eq!(m(&series("deny", "role_not_allowed", "http")), 1.0);
    assert_eq!(m(&series("deny", "token_too_large", "grpc")), 1.0);
    assert_eq!(m(&series("allow", "ok", "http")), 0.0);
    assert_eq!(m(&series("error", "jwks_unavailable", "grpc")), 0.0);
}
