//! What every multi-config form must do, one function per scenario; `mod.rs` runs each against every form.

use super::stack::{A, B, Form, MultiStack, code};
use crate::stack::{assert_session, hdr};

/// A route judges with its own config: a tenant's token passes its own route with its session and is `401` on the
/// other tenant's, each decision counted under the config that made it, over the transport the form speaks.
pub fn each_route_judges_with_its_config(form: Form) {
    let Some(s) = MultiStack::start(form) else {
        return;
    };
    for (t, other) in [(A, B), (B, A)] {
        let own = format!("/{}/v1/graphql", t.name);
        let what = format!("token of {} on route /{}/", t.name, t.name);
        let got = s.passes(&own, &t.bearer(), &what);
        assert_session(
            &format!("{}: {what}", s.name()),
            &got,
            "user",
            Some(t.user),
            None,
        );
        let foreign = format!("/{}/v1/graphql", other.name);
        let what = format!("token of {} on route /{}/", t.name, other.name);
        s.stopped(&foreign, &t.bearer(), 401, &what);
    }
    s.stopped("/a/v1/graphql", &[], 401, "no token on /a/");

    let (used, unused) = match form.transport() {
        "grpc" => ("grpc", "http"),
        _ => ("http", "grpc"),
    };
    for t in [A, B] {
        let allowed = s.count(Some(t.name), "allow", "ok", used);
        let denied = s.denials(t.name, used);
        let elsewhere = s.count(Some(t.name), "allow", "ok", unused);
        assert!(
            allowed == 1.0 && denied >= 1.0 && elsewhere == 0.0,
            "{}: config {}: allows over {used} {allowed} (want 1), denials {denied} (want >= 1), allows over \
             {unused} {elsewhere} (want 0):\n{}",
            s.name(),
            t.name,
            s.request_series()
        );
    }
}

/// Nothing the client writes in its path chooses the config: `/a/configs/b/...` is judged by `a`, `/configs/b/...`
/// matches no route, and a dot segment that leaves `/a/` for `/b/` is judged by `b`, never by `a`.
pub fn the_client_path_never_selects_a_config(form: Form) {
    let Some(s) = MultiStack::start(form) else {
        return;
    };
    s.stopped(
        "/a/configs/b/graphql",
        &B.bearer(),
        401,
        "token of b on /a/configs/b/ (judged by a)",
    );
    let got = s.passes(
        "/a/configs/b/graphql",
        &A.bearer(),
        "token of a on /a/configs/b/",
    );
    assert_session(s.name(), &got, "user", Some(A.user), None);
    s.stopped(
        "/b/configs/a/graphql",
        &A.bearer(),
        401,
        "token of a on /b/configs/a/ (judged by b)",
    );

    // No route or location serves /configs/: the proxy's own 404, and authgate is not even asked.
    for t in [A, B] {
        let what = format!("token of {} on /configs/b/", t.name);
        s.stopped("/configs/b/graphql", &t.bearer(), 404, &what);
        let what = format!("token of {} on /configs/a/", t.name);
        s.stopped("/configs/a/graphql", &t.bearer(), 404, &what);
    }

    // A path that climbs out of /a/ into /b/ (dot segments, plain or escaped, doubled or escaped slashes) is
    // resolved by the proxy before it routes, or refused: a's token is then stopped by b, b's reaches the upstream
    // only at a resolved path under /b/. Unresolved, /a/../b/x matches /a/, is judged by a, and a backend that
    // resolves it serves b's /b/x to a's token; routed as /b/ but forwarded raw, a backend that routes on the raw
    // prefix serves /a/ to b's token.
    for (t, home) in [(A, "/a/"), (B, "/b/")] {
        for target in [
            "/a/../b/v1/graphql",
            "/a/%2e%2e/b/v1/graphql",
            "/a/./../b/v1/graphql",
            "/a//../b/v1/graphql",
            "/a/..%2fb/v1/graphql",
            "/a/..%2Fb/v1/graphql",
            "/a/%2E%2E%2Fb/v1/graphql",
        ] {
            let before = s.seen().len();
            let reply = s.get(target, &t.bearer());
            let reached: Vec<String> = s.seen()[before..].iter().map(|r| r.path.clone()).collect();
            // Envoy answers an escaped slash with a redirect to the resolved path: the client asks again, there.
            let again = (300..400).contains(&reply.status).then(|| {
                let location = reply.header("location").unwrap_or_default();
                let path = location
                    .split_once("://")
                    .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_owned()))
                    .unwrap_or_else(|| location.to_owned());
                assert!(
                    path.starts_with('/') && resolved(&path),
                    "{}: token of {} on {target}: redirected to {location:?}, which is not a resolved path",
                    s.name(),
                    t.name
                );
                path
            });
            let ok = match (reached.as_slice(), &again) {
                ([], None) => (400..500).contains(&reply.status),
                ([], Some(path)) => {
                    let before = s.seen().len();
                    let second = s.get(path, &t.bearer());
                    let reached: Vec<String> =
                        s.seen()[before..].iter().map(|r| r.path.clone()).collect();
                    match reached.as_slice() {
                        [] => (400..500).contains(&second.status),
                        [p] => p.starts_with(home) && resolved(p),
                        _ => false,
                    }
                }
                ([path], None) => path.starts_with(home) && resolved(path),
                _ => false,
            };
            assert!(
                ok,
                "{}: token of {} on {target}: client got {} (then {again:?}), the upstream got {reached:?} (want a 4xx \
                 and nothing upstream, or one resolved path under {home}){}",
                s.name(),
                t.name,
                reply.status,
                s.logs()
            );
        }
    }
}

/// Whether `path` has nothing left for a backend to resolve: no `.` or `..` segment, no empty segment, no escaped
/// dot or slash.
fn resolved(path: &str) -> bool {
    let lower = path
        .split('?')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    !lower.contains("%2e")
        && !lower.contains("%2f")
        && !lower.contains("%5c")
        && lower
            .split('/')
            .skip(1)
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
}

/// A check that names no config is `503 unknown_config` at authgate, whatever its path or token; a name that is not
/// a config's byte for byte (`%61` for `a`) names none.
pub fn a_check_without_a_config_name_is_unknown_config(form: Form) {
    let Some(s) = MultiStack::start(form) else {
        return;
    };
    let before = s.count(None, "error", "unknown_config", "http");
    for target in [
        "/v1/graphql",
        "/a/v1/graphql",
        "/configs/c/v1/graphql",
        "/configs/%61/v1/graphql",
        "/configs",
        "/configsa/v1/graphql",
    ] {
        let reply = s.get_gate(target, &A.bearer());
        assert_eq!(
            (reply.status, code(&reply).as_deref()),
            (503, Some("unknown_config")),
            "{}: authgate asked at {target}{}",
            s.name(),
            s.logs()
        );
    }
    let after = s.count(None, "error", "unknown_config", "http");
    assert_eq!(after - before, 6.0, "{}", s.request_series());
    // The same token, asked about under a's name, is allowed: the 503s above are the missing name, nothing else.
    let reply = s.get_gate("/configs/a/v1/graphql", &A.bearer());
    assert_eq!(reply.status, 200, "{}", s.logs());
}

/// The Envoy files with one route added that was not given its config (a catch-all `/` after `/a/` and `/b/`).
fn add_route_without_config(text: &str) -> String {
    const ANCHOR: &str = "          http_filters:\n";
    assert!(text.contains(ANCHOR), "the Envoy file lists http_filters");
    text.replacen(
        ANCHOR,
        "              - match: {prefix: \"/\"}\n                route: {cluster: backend}\n          http_filters:\n",
        1,
    )
}

/// A route added without its config setting fails closed: over HTTP it passes through every config's filter (no
/// token passes both), over gRPC the check carries no config name (`503 unknown_config`).
pub fn a_route_without_its_setting_fails_closed(form: Form) {
    let Some(s) = MultiStack::start_edited(form, add_route_without_config) else {
        return;
    };
    // The configured routes still work in the edited file.
    let got = s.passes("/a/v1/graphql", &A.bearer(), "token of a on /a/");
    assert_session(s.name(), &got, "user", Some(A.user), None);
    match form {
        Form::EnvoyHttp => {
            for t in [A, B] {
                let what = format!("token of {} on a route that turns off no filter", t.name);
                s.stopped("/c/v1/graphql", &t.bearer(), 401, &what);
            }
        }
        Form::EnvoyGrpc => {
            let before = s.count(None, "error", "unknown_config", "grpc");
            for t in [A, B] {
                let what = format!("token of {} on a route without context extensions", t.name);
                let reply = s.stopped("/c/v1/graphql", &t.bearer(), 503, &what);
                assert_eq!(
                    code(&reply).as_deref(),
                    Some("unknown_config"),
                    "{}: {what}: authgate's body at the client: {:?}",
                    s.name(),
                    String::from_utf8_lossy(&reply.body)
                );
            }
            let after = s.count(None, "error", "unknown_config", "grpc");
            assert_eq!(after - before, 2.0, "{}", s.request_series());
        }
        Form::Nginx => unreachable!("the NGINX form has no route list to add to"),
    }
}

/// Client `x-hasura-*` headers never reach the upstream as the client wrote them: a role the token does not
/// allow is `403`, one it allows is the role the upstream sees, and every other session header is the token's or
/// absent.
pub fn client_hasura_headers_never_reach_the_upstream(form: Form) {
    let Some(s) = MultiStack::start(form) else {
        return;
    };
    let spoofed = [
        hdr("x-hasura-user-id", "user_attacker"),
        hdr("X-Hasura-Org-Id", "org_attacker"),
        hdr("x-hasura-admin-secret", "guess"),
        hdr("x-hasura-auth-mode", "admin"),
    ];
    for t in [A, B] {
        let route = format!("/{}/v1/graphql", t.name);
        let with = |role: Option<&str>| {
            let mut h = t.bearer();
            h.extend(spoofed.iter().cloned());
            h.extend(role.map(|r| hdr("X-Hasura-Role", r)));
            h
        };
        for role in ["admin", "user_attacker"] {
            let what = format!("token of {}, spoofed x-hasura-role: {role}", t.name);
            s.stopped(&route, &with(Some(role)), 403, &what);
        }
        for (role, seen) in [(None, "user"), (Some("editor"), "editor")] {
            let what = format!("token of {}, role {role:?}, spoofed headers", t.name);
            let got = s.passes(&route, &with(role), &what);
            assert_session(
                &format!("{}: {what}", s.name()),
                &got,
                seen,
                Some(t.user),
                None,
            );
        }
    }
    // Without a token the spoofed headers get nowhere either.
    let mut headers = spoofed.to_vec();
    headers.push(hdr("x-hasura-role", "user"));
    s.stopped("/a/v1/graphql", &headers, 401, "spoofed headers, no token");
}
