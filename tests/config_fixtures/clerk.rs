//! The Clerk examples decide Clerk-shaped tokens: each example file, with its placeholder Clerk domain swapped for a
//! loopback JWKS server, is served by the real binary and asked about the tokens Clerk issues. A default session
//! token (no Hasura namespace) in the `__session` cookie, a session token customised with public metadata, and a
//! JWT template token in the header each example names; and the wrong pairings that users make, denied.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::common::mock::MockServer;
use crate::common::raw::{Reply, request};
use crate::common::service::{Service, started};
use crate::common::tokens::{JWKS_PATH, mint, rsa1_k1, serve_jwks};

/// The Frontend API domain every Clerk example is written with.
const PLACEHOLDER: &str = "https://your-app.clerk.accounts.dev";

/// The user id Clerk would put in `sub`.
const USER: &str = "user_2xQ9clerkTestUser";

/// `examples/NAME` with the placeholder domain replaced by `mock`'s base URL (so the JWKS URL and the issuer point
/// at the mock), after checking the placeholder is where the test expects it (`jwkFromUrl`, and `issuer` when
/// `with_issuer`): an example that changed its domain or lost its issuer must fail here, not pass untested.
fn example_on(name: &str, mock: &MockServer, with_issuer: bool) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let config: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    let jwks_line = config
        .iter()
        .filter(|l| l.contains("jwkFromUrl:"))
        .collect::<Vec<_>>();
    assert_eq!(jwks_line.len(), 1, "{name}: one jwkFromUrl line");
    assert!(
        jwks_line[0].contains(&format!("{PLACEHOLDER}{JWKS_PATH}")),
        "{name}: the JWKS URL should be Clerk's shape: {}",
        jwks_line[0]
    );
    let issuer_lines = config.iter().filter(|l| l.contains("issuer:")).count();
    if with_issuer {
        assert!(
            config
                .iter()
                .any(|l| l.trim() == format!("issuer: {PLACEHOLDER}")),
            "{name}: the issuer should be the Frontend API URL, as Clerk writes `iss`"
        );
    } else {
        assert_eq!(issuer_lines, 0, "{name}: the recipe sets no issuer");
    }
    let body: String = config.iter().map(|l| format!("{l}\n")).collect();
    body.replace(PLACEHOLDER, &mock.base())
}

/// A Clerk JWKS on a fresh mock (the committed RSA key `rsa1` under kid `k1`, as Clerk signs with RS256).
fn clerk_jwks() -> MockServer {
    let mock = MockServer::start();
    serve_jwks(&mock, &[rsa1_k1()], None);
    mock
}

/// The claims of Clerk's default session token (v2) for [`USER`], issued by `iss`: no Hasura namespace.
fn session_claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "sub": USER,
        "sid": "sess_2xQ9clerkTestSession",
        "azp": "http://localhost:3000",
        "fva": [3, -1],
        "v": 2,
    })
}

/// A Clerk-shaped RS256 token (kid `k1`) with these claims; `iat`, `nbf` (Clerk backdates it by its clock skew)
/// and `exp` (Clerk's 60 s lifetime) around now.
fn clerk_token(claims: Value) -> String {
    mint(&json!({
        "alg": "RS256", "sign_with": "rsa1", "kid": "k1", "claims": claims,
        "iat_in": 0, "nbf_in": -5, "exp_in": 60,
    }))
}

/// One decision on `svc` with these request headers.
fn decide(svc: &Service, headers: &[(&str, &str)]) -> Reply {
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
    request(
        &format!("127.0.0.1:{}", svc.data),
        "GET",
        "/v1/graphql",
        &headers,
        b"",
        Duration::from_secs(10),
    )
    .unwrap_or_else(|e| panic!("decision request: {e}; log:\n{}", svc.log()))
}

fn assert_allowed(reply: &Reply, role: &str, what: &str) {
    assert_eq!(
        reply.status,
        200,
        "{what}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert_eq!(reply.header("x-hasura-role"), Some(role), "{what}");
    assert_eq!(reply.header("x-hasura-user-id"), Some(USER), "{what}");
}

fn assert_denied(reply: &Reply, status: u16, code: &str, what: &str) {
    let body = String::from_utf8_lossy(&reply.body);
    assert_eq!(reply.status, status, "{what}: {body}");
    let doc: Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{what}: {e}: {body}"));
    assert_eq!(
        doc.pointer("/errors/0/extensions/code")
            .and_then(Value::as_str),
        Some(code),
        "{what}: {body}"
    );
    assert_eq!(reply.header("x-hasura-role"), None, "{what}");
}

#[test]
fn clerk_session_token_example_decides_the_session_cookie() {
    let mock = clerk_jwks();
    let svc = started(&example_on("clerk-session-token.yaml", &mock, true), &[]);
    let iss = mock.base();

    // Clerk's default session token, as the browser sends it: `__session` among the app's other cookies.
    let plain = clerk_token(session_claims(&iss));
    let cookie = format!("theme=dark; __session={plain}; __client_uat=1700000000");
    assert_allowed(
        &decide(&svc, &[("cookie", &cookie)]),
        "user",
        "default session token",
    );

    // Customised with `{"metadata": "{{user.public_metadata}}"}`: the role comes from public metadata, and the
    // client may pick another role the metadata allows.
    let mut claims = session_claims(&iss);
    claims["metadata"] = json!({"role": "editor", "roles": ["user", "editor"]});
    let cookie = format!("__session={}", clerk_token(claims));
    assert_allowed(
        &decide(&svc, &[("cookie", &cookie)]),
        "editor",
        "metadata role",
    );
    assert_allowed(
        &decide(&svc, &[("cookie", &cookie), ("x-hasura-role", "user")]),
        "user",
        "metadata role, user picked",
    );
    assert_denied(
        &decide(&svc, &[("cookie", &cookie), ("x-hasura-role", "admin")]),
        403,
        "role_not_allowed",
        "a role the metadata does not list",
    );

    // Metadata naming a role it does not allow is refused, not silently widened.
    let mut claims = session_claims(&iss);
    claims["metadata"] = json!({"role": "admin"});
    let cookie = format!("__session={}", clerk_token(claims));
    assert_denied(
        &decide(&svc, &[("cookie", &cookie)]),
        401,
        "invalid_claims",
        "metadata role outside the allowed roles",
    );

    // The example reads the cookie only: the same token as a Bearer is no token at all.
    let bearer = format!("Bearer {plain}");
    assert_denied(
        &decide(&svc, &[("authorization", &bearer)]),
        401,
        "missing_token",
        "session token as a Bearer",
    );

    // Another Clerk instance's token (another issuer) with a key this JWKS holds is still refused.
    let cookie = format!(
        "__session={}",
        clerk_token(session_claims("https://other-app.clerk.accounts.dev"))
    );
    assert_denied(
        &decide(&svc, &[("cookie", &cookie)]),
        401,
        "invalid_issuer",
        "another issuer",
    );
}

/// The claims of a token from a Clerk JWT template named `hasura` holding the Hasura namespace, as the DDN recipe
/// and examples/clerk.yaml describe it.
fn template_claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "sub": USER,
        "azp": "http://localhost:3000",
        "jti": "3f2a9c1d0e8b7a6c5d4e",
        "claims.jwt.hasura.io": {
            "x-hasura-user-id": USER,
            "x-hasura-default-role": "user",
            "x-hasura-allowed-roles": ["user"],
        },
    })
}

#[test]
fn clerk_ddn_recipe_example_decides_a_template_token_in_auth_token() {
    let mock = clerk_jwks();
    let svc = started(&example_on("clerk-ddn-recipe.yaml", &mock, false), &[]);
    let iss = mock.base();

    let template = clerk_token(template_claims(&iss));
    assert_allowed(
        &decide(&svc, &[("auth-token", &template)]),
        "user",
        "template token in Auth-Token",
    );

    // The recipe reads `Auth-Token` only.
    let bearer = format!("Bearer {template}");
    assert_denied(
        &decide(&svc, &[("authorization", &bearer)]),
        401,
        "missing_token",
        "template token as a Bearer",
    );
    // The common mistake: the default session token (what `getToken()` returns without a template) has no Hasura
    // namespace.
    let plain = clerk_token(session_claims(&iss));
    assert_denied(
        &decide(&svc, &[("auth-token", &plain)]),
        401,
        "invalid_claims",
        "session token without the template",
    );
}

#[test]
fn clerk_template_example_decides_a_bearer_template_token() {
    let mock = clerk_jwks();
    let svc = started(&example_on("clerk.yaml", &mock, true), &[]);
    let iss = mock.base();

    let template = clerk_token(template_claims(&iss));
    let bearer = format!("Bearer {template}");
    assert_allowed(
        &decide(&svc, &[("authorization", &bearer)]),
        "user",
        "template token as a Bearer",
    );
    // A `__session` cookie is not where this example looks, and its token would lack the namespace anyway.
    let cookie = format!("__session={}", clerk_token(session_claims(&iss)));
    assert_denied(
        &decide(&svc, &[("cookie", &cookie)]),
        401,
        "missing_token",
        "session cookie",
    );
    let plain = format!("Bearer {}", clerk_token(session_claims(&iss)));
    assert_denied(
        &decide(&svc, &[("authorization", &plain)]),
        401,
        "invalid_claims",
        "session token as a Bearer",
    );
}
