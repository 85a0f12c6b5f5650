//! What every Envoy recipe must do besides the scenarios all proxies share: authgate's denial reaches the client
//! whole (status, headers, JSON body); a dependency failure and a stopped authgate both fail closed with 503;
//! headers spelled with `_` are dropped. Then what only one recipe shows: how the Envoy-Gateway-shaped HTTP recipe
//! treats `x-hasura-*` names it does not list (and variants of it that list a name in the wrong place), and how the
//! gRPC recipe's health check follows authgate's readiness.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::raw::Reply;
use crate::discovery::{Kind, Recipe};
use crate::stack::{
    Location, ORG_ID, Stack, USER_ID, assert_session, bare_token, full_token, hdr, token_with,
};

/// A denial carries authgate's own answer: status, `WWW-Authenticate`, `Cache-Control: no-store`, JSON type and
/// the GraphQL-style error body with the stable reason code.
pub fn denials_carry_authgates_answer(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let mut admin = s.credentials(&full_token());
    admin.push(hdr("x-hasura-role", "admin"));
    let cases = [
        ("no token", Vec::new(), 401, Some("Bearer"), "missing_token"),
        (
            "a __session that is not a JWT",
            vec![hdr("Cookie", "__session=not-a-token")],
            401,
            Some("Bearer error=\"invalid_token\""),
            "malformed_token",
        ),
        ("x-hasura-role: admin", admin, 403, None, "role_not_allowed"),
    ];
    for (what, headers, status, www, code) in cases {
        let before = s.seen().len();
        let reply = s.get("/v1/graphql", &headers);
        s.assert_denied(before, &reply, status, what);
        if www.is_some() {
            assert_eq!(
                reply.header("www-authenticate"),
                www,
                "{}: {what}: WWW-Authenticate",
                s.name()
            );
        }
        assert_error_body(&s, &reply, code, what);
    }
}

/// authgate's error answer, as the client got it.
fn assert_error_body(s: &Stack, reply: &Reply, code: &str, what: &str) {
    let name = s.name();
    assert!(
        reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{name}: {what}: content-type {:?}",
        reply.header("content-type")
    );
    assert_eq!(
        reply.header("cache-control"),
        Some("no-store"),
        "{name}: {what}: Cache-Control"
    );
    let body: Value = serde_json::from_slice(&reply.body).unwrap_or_else(|e| {
        panic!(
            "{name}: {what}: the body is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&reply.body)
        )
    });
    assert!(body["data"].is_null(), "{name}: {what}: body {body}");
    assert_eq!(
        body["errors"][0]["extensions"]["code"], code,
        "{name}: {what}: body {body}"
    );
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{name}: {what}: body {body}"
    );
}

/// JWKS unreachable: 503 and nothing upstream. Over gRPC the 503 is authgate's own (`UNAVAILABLE` with a denied
/// response: `Retry-After` and the JSON body reach the client); over HTTP Envoy counts authgate's 5xx as an error of
/// the auth service and answers its `status_on_error` itself, without authgate's body.
pub fn jwks_down_is_503(kind: Kind) {
    let Some(s) = Stack::start_jwks_down(kind) else {
        return;
    };
    for target in ["/v1/graphql", "/api/items?page=2"] {
        let before = s.seen().len();
        let reply = s.get(target, &s.credentials(&full_token()));
        s.assert_denied(before, &reply, 503, "JWKS down");
        if kind.recipe() == Some(Recipe::Grpc) {
            assert!(
                reply.header("retry-after").is_some(),
                "{}: authgate's Retry-After should reach the client{}",
                s.name(),
                s.logs()
            );
            assert_error_body(&s, &reply, "jwks_unavailable", "JWKS down");
        } else {
            assert!(
                !String::from_utf8_lossy(&reply.body).contains("jwks_unavailable"),
                "{}: Envoy answers an HTTP auth service's 5xx with its own status_on_error",
                s.name()
            );
        }
    }
}

/// authgate stopped: every request is 503 and nothing reaches the upstream (`failure_mode_allow: false`).
pub fn stopped_authgate_fails_closed(kind: Kind) {
    let Some(mut s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let creds = s.credentials(&full_token());
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &creds);
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));

    s.stop_gate();
    for (what, headers) in [("valid token", creds), ("no token", Vec::new())] {
        for target in ["/v1/graphql", "/api/items?page=2"] {
            let before = s.seen().len();
            let reply = s.get(target, &headers);
            s.assert_denied(
                before,
                &reply,
                503,
                &format!("authgate stopped, {what}, {target}"),
            );
        }
    }
}

/// `X_Hasura_Role`-style names never get anywhere: Envoy drops them before the check (so the role they ask for is
/// not even considered) and the upstream never sees them.
pub fn underscore_headers_are_dropped(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let mut headers = s.credentials(&bare_token());
    headers.extend([
        hdr("X_Hasura_Role", "admin"),
        hdr("x_hasura_user_id", "user_attacker"),
        hdr("X_HASURA_ORG_ID", "org_attacker"),
        hdr("x-hasura_is_admin", "true"),
    ]);
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &headers);
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "user", None, None);
    let underscored: Vec<&(String, String)> = got
        .headers
        .iter()
        .filter(|(n, _)| n.contains('_'))
        .collect();
    assert!(
        underscored.is_empty(),
        "{}: headers with '_' reached the upstream: {underscored:?}",
        s.name()
    );
}

const TENANT: &str = "x-hasura-tenant-id";

/// Envoy Gateway shape: a name in none of the lists (`headersToExtAuth`, `headersToBackend`, the route's remove
/// list) reaches the upstream as the client sent it, whatever the token says, and the token's value for it is
/// dropped. The listed `x-hasura-org-id` next to it never carries the client's value.
pub fn eg_unlisted_name_passes_through(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let with_tenant = token_with(&[
        ("x-hasura-user-id", USER_ID),
        ("x-hasura-org-id", ORG_ID),
        (TENANT, "tenant_real"),
    ]);
    let cases = [
        (
            "token without it, client sends it",
            bare_token(),
            true,
            vec!["tenant_attacker"],
        ),
        (
            "token with it, client sends it",
            with_tenant.clone(),
            true,
            vec!["tenant_attacker"],
        ),
        (
            "token with it, client does not send it",
            with_tenant,
            false,
            vec![],
        ),
    ];
    for (what, token, send, expected) in cases {
        let mut headers = s.credentials(&token);
        headers.push(hdr("x-hasura-org-id", "org_attacker"));
        if send {
            headers.push(hdr(TENANT, "tenant_attacker"));
        }
        let before = s.seen().len();
        let reply = s.get("/v1/graphql", &headers);
        let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
        assert_eq!(
            got.values(TENANT),
            expected,
            "{}: unlisted {TENANT}, {what}",
            s.name()
        );
        let org: Vec<&str> = got.values("x-hasura-org-id");
        assert!(
            org.is_empty() || org == [ORG_ID],
            "{}: listed x-hasura-org-id, {what}: {org:?}",
            s.name()
        );
    }
}

/// The recipe with `x-hasura-org-id` left out of `headersToExtAuth` (kept in `headersToBackend`): authgate never
/// sees the client's copy, so cannot name it for removal, and it survives whenever the token has no org.
pub fn eg_name_only_in_headers_to_backend_is_spoofable(kind: Kind) {
    let Some(s) = Stack::start_edited(kind, Location::SessionCookie, org_not_sent_to_authgate)
    else {
        return;
    };
    let spoof = |token: &str| {
        let mut h = s.credentials(token);
        h.push(hdr("x-hasura-org-id", "org_attacker"));
        h
    };
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &spoof(&bare_token()));
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_eq!(
        got.values("x-hasura-org-id"),
        vec!["org_attacker"],
        "{}: a token without an org: the client's x-hasura-org-id survives",
        s.name()
    );
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &spoof(&full_token()));
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));
}

/// `x-hasura-org-id` out of the recipe's `allowed_headers` (the first list that names it).
fn org_not_sent_to_authgate(text: &str) -> String {
    let line = "                - {exact: x-hasura-org-id, ignore_case: true}\n";
    assert!(text.contains(line), "envoy-eg-http.yaml changed: {line:?}");
    text.replacen(line, "", 1)
}

/// The recipe with the session header `x-hasura-user-id` on the route's remove list: the router applies it after
/// ext_authz, so authgate's value goes too and the upstream gets no user id at all.
pub fn eg_route_removal_deletes_the_session_header(kind: Kind) {
    let Some(s) = Stack::start_edited(kind, Location::SessionCookie, user_id_removed_on_route)
    else {
        return;
    };
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &s.credentials(&full_token()));
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "user", None, Some(ORG_ID));
}

fn user_id_removed_on_route(text: &str) -> String {
    let list = "request_headers_to_remove: [x-hasura-auth-mode, ";
    assert!(text.contains(list), "envoy-eg-http.yaml changed: {list:?}");
    text.replacen(list, &format!("{list}x-hasura-user-id, "), 1)
}

/// The health flags of authgate's host on Envoy's admin `/clusters` page (`healthy`, `/failed_active_hc`, …).
fn health_flags(s: &Stack) -> Option<String> {
    let page = s.proxy().admin_page("/clusters")?;
    page.lines()
        .find(|l| l.starts_with("authgate::") && l.contains("::health_flags::"))
        .and_then(|l| l.rsplit("::").next())
        .map(str::to_owned)
}

/// One `cluster.authgate.health_check.*` counter from Envoy's admin `/stats`.
fn health_stat(s: &Stack, name: &str) -> Option<u64> {
    let page = s
        .proxy()
        .admin_page("/stats?filter=cluster.authgate.health_check")?;
    let key = format!("cluster.authgate.health_check.{name}: ");
    page.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
}

/// Wait (bounded) until `done` holds; the last observation for the failure message.
fn wait_for(limit: Duration, mut done: impl FnMut() -> Result<(), String>) -> Result<(), String> {
    let deadline = Instant::now() + limit;
    loop {
        match done() {
            Ok(()) => return Ok(()),
            Err(last) if Instant::now() >= deadline => return Err(last),
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}

/// gRPC recipe: while authgate is not ready (its JWKS unreachable), Envoy's gRPC health check fails and the host
/// is flagged `/failed_active_hc`; requests are 503. Once the JWKS answers and authgate is ready, the host turns
/// healthy and requests pass.
pub fn grpc_health_check_follows_readiness(kind: Kind) {
    let Some(s) = Stack::start_jwks_later(kind) else {
        return;
    };
    let not_ready = wait_for(Duration::from_secs(40), || {
        let flags = health_flags(&s);
        let failures = health_stat(&s, "failure").unwrap_or(0);
        match flags.as_deref() {
            Some(f) if f.contains("/failed_active_hc") && failures >= 2 => Ok(()),
            _ => Err(format!("flags {flags:?}, failed checks {failures}")),
        }
    });
    if let Err(last) = not_ready {
        panic!(
            "{}: Envoy did not mark authgate unhealthy while it was not ready: {last}{}",
            s.name(),
            s.logs()
        );
    }
    assert!(
        !s.gate_ready(Duration::ZERO),
        "{}: authgate became ready without its JWKS",
        s.name()
    );
    assert_eq!(
        health_stat(&s, "network_failure"),
        Some(0),
        "{}: the checks must reach authgate and be told NOT_SERVING, not fail to connect",
        s.name()
    );
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &s.credentials(&full_token()));
    s.assert_denied(before, &reply, 503, "authgate not ready");

    s.jwks_up();
    assert!(
        s.gate_ready(Duration::from_secs(40)),
        "{}: authgate did not become ready once its JWKS answered{}",
        s.name(),
        s.logs()
    );
    let healthy = wait_for(Duration::from_secs(30), || {
        let flags = health_flags(&s);
        match flags.as_deref() {
            Some("healthy") => Ok(()),
            _ => Err(format!("flags {flags:?}")),
        }
    });
    if let Err(last) = healthy {
        panic!(
            "{}: Envoy did not mark authgate healthy once it was ready: {last}{}",
            s.name(),
            s.logs()
        );
    }
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &s.credentials(&full_token()));
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));
}
