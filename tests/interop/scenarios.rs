//! What each proxy must do in front of authgate, one function per scenario; `main.rs` runs each against every
//! proxy.

use crate::discovery::Kind;
use crate::stack::{Location, ORG_ID, Stack, USER_ID, assert_session, bare_token, full_token, hdr};

/// A valid token: the upstream gets the token's session headers, the client the upstream's answer.
pub fn valid_token(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &s.credentials(&full_token()));
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));

    let before = s.seen().len();
    let reply = s.get("/", &s.credentials(&bare_token()));
    let got = s.forwarded(before, "GET", "/", &reply);
    assert_session(s.name(), &got, "user", None, None);
    s.assert_transport();
}

/// The same through `Authorization: Bearer` (Clerk's cross-origin form).
pub fn bearer_token(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::Bearer) else {
        return;
    };
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &s.credentials(&full_token()));
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));

    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &[]);
    s.assert_denied(before, &reply, 401, "no bearer token");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
}

/// No token (or a broken one): `401` with `WWW-Authenticate` at the client, nothing upstream.
pub fn no_token(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let cases = [
        ("no cookie", Vec::new(), "Bearer"),
        (
            "cookies without __session",
            vec![hdr("Cookie", "theme=dark; __client_uat=1700000000")],
            "Bearer",
        ),
        (
            "a __session that is not a JWT",
            vec![hdr("Cookie", "__session=not-a-token")],
            "Bearer error=\"invalid_token\"",
        ),
    ];
    for (what, headers, www) in cases {
        let before = s.seen().len();
        let reply = s.get("/v1/graphql", &headers);
        s.assert_denied(before, &reply, 401, what);
        assert_eq!(
            reply.header("www-authenticate"),
            Some(www),
            "{}: {what}: WWW-Authenticate at the client",
            s.name()
        );
    }
}

/// `x-hasura-role` chooses among the token's roles: an allowed one reaches the upstream, any other is `403`.
pub fn role_choice(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let mut headers = s.credentials(&full_token());
    headers.push(hdr("x-hasura-role", "admin"));
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &headers);
    s.assert_denied(before, &reply, 403, "x-hasura-role: admin");

    let mut headers = s.credentials(&full_token());
    headers.push(hdr("X-Hasura-Role", "USER"));
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &headers);
    s.assert_denied(
        before,
        &reply,
        403,
        "X-Hasura-Role: USER (roles are case-sensitive)",
    );

    let mut headers = s.credentials(&full_token());
    headers.push(hdr("x-hasura-role", "editor"));
    let before = s.seen().len();
    let reply = s.get("/v1/graphql", &headers);
    let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
    assert_session(s.name(), &got, "editor", Some(USER_ID), Some(ORG_ID));
}

/// JWKS unreachable since start: a 5xx at the client (which one depends on the proxy) and nothing upstream.
pub fn jwks_down(kind: Kind) {
    let Some(s) = Stack::start_jwks_down(kind) else {
        return;
    };
    for target in ["/v1/graphql", "/api/items?page=2"] {
        let before = s.seen().len();
        let reply = s.get(target, &s.credentials(&full_token()));
        assert!(
            (500..600).contains(&reply.status),
            "{}: JWKS down: expected a 5xx at the client, got {}{}",
            s.name(),
            reply.status,
            s.logs()
        );
        // authgate answers 503; NGINX's auth_request turns every status but 401/403 into 500, Caddy passes the
        // answer on, and Envoy answers its `status_on_error` (503 in the file, 403 by default).
        let expected = match kind {
            Kind::Nginx => 500,
            Kind::Caddy | Kind::Envoy(_) | Kind::Envoy136(_) => 503,
        };
        s.assert_denied(before, &reply, expected, "JWKS down");
    }
}

/// Clerk's `__session` among other cookies, not first.
pub fn clerk_cookie(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let token = full_token();
    for cookie in [
        format!("__client_uat=1795743471; theme=dark; __session={token}"),
        format!("_ga=GA1.1.12345.67890; __session={token}; __client_uat=1795743471; theme=dark"),
    ] {
        let before = s.seen().len();
        let reply = s.get("/v1/graphql", &[hdr("Cookie", &cookie)]);
        let got = s.forwarded(before, "GET", "/v1/graphql", &reply);
        assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));
    }
}

/// HEAD, POST with a body, and query strings are decided like GET and reach the upstream unchanged.
pub fn methods_and_queries(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let creds = s.credentials(&full_token());

    let target = "/api/items?page=2&sort=name%20asc";
    let before = s.seen().len();
    let reply = s.get(target, &creds);
    let got = s.forwarded(before, "GET", target, &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));

    let before = s.seen().len();
    let reply = s.send("HEAD", target, &creds, b"");
    let got = s.forwarded(before, "HEAD", target, &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));

    let target = "/v1/graphql?operationName=Items";
    let body = br#"{"query":"query Items { items { id } }"}"#;
    let mut headers = creds.clone();
    headers.push(hdr("Content-Type", "application/json"));
    let before = s.seen().len();
    let reply = s.send("POST", target, &headers, body);
    let got = s.forwarded(before, "POST", target, &reply);
    assert_session(s.name(), &got, "user", Some(USER_ID), Some(ORG_ID));
    assert_eq!(
        got.body,
        body.to_vec(),
        "{}: the POST body must reach the upstream unchanged",
        s.name()
    );

    for (method, body) in [("HEAD", &b""[..]), ("POST", &body[..]), ("GET", &b""[..])] {
        let before = s.seen().len();
        let reply = s.send(
            method,
            target,
            &[hdr("Content-Type", "application/json")],
            body,
        );
        s.assert_denied(before, &reply, 401, &format!("{method} without a token"));
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Bearer"),
            "{}: {method} without a token: WWW-Authenticate",
            s.name()
        );
        if method == "HEAD" {
            assert!(
                reply.body.is_empty(),
                "{}: a HEAD answer has no body",
                s.name()
            );
        }
    }
}

/// Client-sent `x-hasura-*` headers never reach the upstream with the client's value: the upstream gets the token's
/// value or no header at all, also when the token lacks the claim.
pub fn no_spoofing(kind: Kind) {
    let Some(s) = Stack::start(kind, Location::SessionCookie) else {
        return;
    };
    let spoofed = [
        hdr("x-hasura-user-id", "user_attacker"),
        hdr("X-HASURA-USER-ID", "user_attacker_2"),
        hdr("X-Hasura-Org-Id", "org_attacker"),
        hdr("x-hasura-admin-secret", "guess"),
        hdr("x-hasura-is-admin", "true"),
        hdr("x-hasura-auth-mode", "admin"),
    ];
    let with = |token: &str, role: Option<&str>| {
        let mut h = s.credentials(token);
        h.extend(spoofed.iter().cloned());
        if let Some(role) = role {
            h.push(hdr("x-hasura-role", role));
        }
        h
    };
    for (what, token, role, user_id, org_id) in [
        (
            "token with user and org",
            full_token(),
            None,
            Some(USER_ID),
            Some(ORG_ID),
        ),
        ("token without user or org", bare_token(), None, None, None),
        (
            "token with user and org, role chosen",
            full_token(),
            Some("editor"),
            Some(USER_ID),
            Some(ORG_ID),
        ),
        (
            "token without user or org, role chosen",
            bare_token(),
            Some("editor"),
            None,
            None,
        ),
    ] {
        let before = s.seen().len();
        let reply = s.get("/v1/graphql?spoof=1", &with(&token, role));
        let got = s.forwarded(before, "GET", "/v1/graphql?spoof=1", &reply);
        let proxy = format!("{} ({what})", s.name());
        assert_session(&proxy, &got, role.unwrap_or("user"), user_id, org_id);
    }

    for role in ["admin", "user_attacker"] {
        let before = s.seen().len();
        let reply = s.get("/v1/graphql", &with(&bare_token(), Some(role)));
        s.assert_denied(
            before,
            &reply,
            403,
            &format!("spoofed x-hasura-role: {role}"),
        );
    }

    // Without a token the spoofed headers get nowhere either.
    let before = s.seen().len();
    let mut headers = spoofed.to_vec();
    headers.push(hdr("x-hasura-role", "user"));
    let reply = s.get("/v1/graphql", &headers);
    s.assert_denied(before, &reply, 401, "spoofed headers without a token");
}
