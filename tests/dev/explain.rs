//! `authgate explain`, run as a user would: the real binary, its exit status, standard input, `--token-file`,
//! `--header`, `--at`, `--jwks` (a file offline, or a live URL on a loopback mock), `--config-name`, a webhook
//! called or not (`--offline`), the JSON form, each hint, and what it must never print. The key sources, the webhook
//! and config names are in `sources`.

#[path = "explain_sources.rs"]
mod sources;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::common::service::bin;
use crate::common::temp_dir;
use crate::common::tokens::mint;

const NS: &str = "https://hasura.io/jwt/claims";
const SECRET: &str = "a-very-long-secret-of-at-least-32-bytes!!";

struct Run {
    code: i32,
    out: String,
    err: String,
}

/// Run `authgate explain ARGS` with `stdin`, for at most 30 s.
fn explain(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(bin())
        .arg("explain")
        .args(args)
        .env_remove("AUTHGATE_AUTH_MODE_HEADER")
        .env_remove("AUTHGATE_MAX_TOKEN_BYTES")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start authgate explain");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    let started = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("authgate explain {args:?} ran for over 30 s");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    Run {
        code: out.status.code().unwrap_or(-1),
        out: String::from_utf8_lossy(&out.stdout).into_owned(),
        err: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p: PathBuf = dir.join(name);
    std::fs::write(&p, text).expect("write a test file");
    p.display().to_string()
}

/// A JWT config: `key` is the `key:` block, `location` the `tokenLocation:` block, `extra` more `jwt:` members.
fn jwt_config(key: &str, location: &str, extra: &str) -> String {
    format!(
        "kind: AuthConfig\nversion: v3\ndefinition:\n  mode:\n    jwt:\n      key:\n        {key}\n      tokenLocation:\n        {location}\n{extra}      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /https:~1~1hasura.io~1jwt~1claims\n"
    )
}

fn hs_config(location: &str, extra: &str) -> String {
    jwt_config(
        &format!("fixed:\n          algorithm: HS256\n          key:\n            value: {SECRET}"),
        location,
        extra,
    )
}

const BEARER: &str = "type: BearerAuthorization";
const AUTH_TOKEN: &str = "type: Header\n        name: Auth-Token";

fn claims() -> Value {
    json!({NS: {"x-hasura-default-role": "user", "x-hasura-allowed-roles": ["user", "editor"], "x-hasura-user-id": "user_1"}})
}

/// An HS256 token of the test secret with `claims` and `extra` claims, expiring in `exp_in` seconds.
fn hs_token(claims: Value, exp_in: i64) -> String {
    mint(&json!({"alg": "HS256", "secret": SECRET, "claims": claims, "exp_in": exp_in}))
}

fn with(mut base: Value, extra: Value) -> Value {
    for (k, v) in extra.as_object().expect("object") {
        base[k] = v.clone();
    }
    base
}

/// Nothing secret or whole: no signature, no full token, no HMAC key.
fn assert_discreet(r: &Run, token: &str) {
    let sig = token.rsplit('.').next().expect("a signature");
    for (what, s) in [
        ("the token", token),
        ("its signature", sig),
        ("the HMAC key", SECRET),
    ] {
        assert!(
            !r.out.contains(s) && !r.err.contains(s),
            "{what} printed:\n{}",
            r.out
        );
    }
}

#[test]
fn explain_allows_from_stdin_and_token_file_and_never_prints_the_token() {
    let dir = temp_dir("explain-allow");
    let config = write(&dir, "auth.yaml", &hs_config(BEARER, ""));
    let token = hs_token(claims(), 600);
    let r = explain(&["--config", &config, "-"], &format!("{token}\n"));
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("answer: 200 allowed"), "{}", r.out);
    assert!(r.out.contains("x-hasura-user-id: user_1"), "{}", r.out);
    assert!(r.out.contains("\"user\": the default role"), "{}", r.out);
    assert_discreet(&r, &token);
    let file = write(&dir, "token.txt", &format!("  {token}\n"));
    let r = explain(
        &[
            "--config",
            &config,
            "--token-file",
            &file,
            "--role",
            "editor",
        ],
        "",
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("x-hasura-role: editor"), "{}", r.out);
    // A role the token does not allow: 403, exit 1.
    let r = explain(
        &[
            "--config",
            &config,
            "--token-file",
            &file,
            "--role",
            "admin",
        ],
        "",
    );
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(
        r.out.contains("answer: 403 denied (role_not_allowed)"),
        "{}",
        r.out
    );
    assert_discreet(&r, &token);
    // An opaque value where a JWT is expected: judged, never echoed.
    let r = explain(
        &[
            "--config",
            &config,
            "--header",
            "Authorization: Bearer opaque-xyz",
        ],
        "",
    );
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("FAIL header"), "{}", r.out);
    assert!(!r.out.contains("opaque-xyz"), "{}", r.out);
    // No config that loads: a usage error, with the loader's message.
    let bad = write(&dir, "bad.yaml", "kind: AuthConfig\nversion: v9\n");
    let r = explain(&["--config", &bad, "-"], &token);
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.err.contains("does not load"), "{}", r.err);
}

#[test]
fn explain_at_judges_times_at_another_instant_and_hints_at_expiry() {
    let dir = temp_dir("explain-at");
    let config = write(
        &dir,
        "auth.yaml",
        &hs_config(BEARER, "      allowedSkew: 30\n"),
    );
    let token = hs_token(claims(), -120);
    let r = explain(&["--config", &config, &token], "");
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("FAIL times"), "{}", r.out);
    assert!(r.out.contains("answer: 401 denied (expired)"), "{}", r.out);
    assert!(r.out.contains("± 30 s"), "{}", r.out);
    assert!(r.out.contains("hint: the token expired 12"), "{}", r.out);
    assert!(
        r.out.contains("beyond the allowed skew of 30 s"),
        "{}",
        r.out
    );
    // Judged ten minutes earlier (Unix seconds, then RFC 3339), the same token passes.
    let earlier = common_now() - 600;
    let r = explain(
        &["--config", &config, "--at", &earlier.to_string(), &token],
        "",
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let rfc = rfc3339(earlier);
    let r = explain(&["--config", &config, "--at", &rfc, &token], "");
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains(&rfc), "{}", r.out);
    let r = explain(&["--config", &config, "--at", "yesterday", &token], "");
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
}

fn common_now() -> i64 {
    crate::common::now()
}

fn rfc3339(unix: i64) -> String {
    authgate::explain::time::format_rfc3339(u64::try_from(unix).expect("after 1970"))
}

#[test]
fn explain_hints_at_a_token_in_the_wrong_place() {
    let dir = temp_dir("explain-where");
    let token = hs_token(claims(), 600);
    let header_config = write(&dir, "header.yaml", &hs_config(AUTH_TOKEN, ""));
    let bearer_config = write(&dir, "bearer.yaml", &hs_config(BEARER, ""));
    let cookie_config = write(
        &dir,
        "cookie.yaml",
        &hs_config("type: Cookie\n        name: __session", ""),
    );
    let bearer = format!("Authorization: Bearer {token}");
    for (config, header, want) in [
        (
            &header_config,
            bearer.as_str(),
            "the token sits in the Authorization header (Bearer) but the config reads the Auth-Token header",
        ),
        (
            &bearer_config,
            &format!("Auth-Token: {token}"),
            "the token sits in the auth-token header but the config reads the Authorization header (Bearer)",
        ),
        (
            &cookie_config,
            bearer.as_str(),
            "the token sits in the Authorization header (Bearer) but the config reads the __session cookie",
        ),
        (
            &header_config,
            &format!("Cookie: theme=dark; __session={token}"),
            "the token sits in the __session cookie but the config reads the Auth-Token header",
        ),
    ] {
        let r = explain(&["--config", config, "--header", header], "");
        assert_eq!(r.code, 1, "{}{}", r.out, r.err);
        assert!(r.out.contains("FAIL token"), "{}", r.out);
        assert!(
            r.out.contains(&format!("hint: {want}")),
            "{header} with {config}:\n{}",
            r.out
        );
        assert_discreet(&r, &token);
        assert!(
            !r.out.contains("theme=dark"),
            "another cookie printed:\n{}",
            r.out
        );
    }
    // The same token given as an argument is placed where each config reads it.
    for config in [&header_config, &bearer_config, &cookie_config] {
        let r = explain(&["--config", config, "-"], &token);
        assert_eq!(r.code, 0, "{config}: {}{}", r.out, r.err);
    }
}

/// A denial (exit 1) whose first failed step is `step`, with `hint` in its output.
fn assert_refused(r: &Run, step: &str, hint: &str) {
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains(&format!("FAIL {step}")), "{}", r.out);
    assert!(r.out.contains(hint), "no {hint:?} in:\n{}", r.out);
}

#[test]
fn explain_hints_at_a_session_token_a_dev_issuer_and_a_wrong_audience() {
    let dir = temp_dir("explain-claims");
    let cases = [
        // A default Clerk session token: no namespace.
        (
            "",
            json!({"sub": "user_1", "sid": "sess_1", "azp": "http://localhost:3000"}),
            "claims",
            "looks like a default Clerk session token, not one from the JWT template",
        ),
        // A development instance's issuer against a production config.
        (
            "      issuer: https://clerk.example.com\n",
            with(
                claims(),
                json!({"iss": "https://happy-cat-12.clerk.accounts.dev"}),
            ),
            "issuer",
            "is a Clerk development instance's domain",
        ),
        // The wrong audience.
        (
            "      audience: [\"api.example.com\"]\n",
            with(claims(), json!({"aud": "other.example.com"})),
            "audience",
            "hint: wrong audience: the token is for \"other.example.com\"",
        ),
    ];
    for (i, (extra, token_claims, step, hint)) in cases.into_iter().enumerate() {
        let config = write(&dir, &format!("auth{i}.yaml"), &hs_config(BEARER, extra));
        let r = explain(&["--config", &config, "-"], &hs_token(token_claims, 600));
        assert_refused(&r, step, hint);
    }
}

#[test]
fn explain_json_names_every_step() {
    let dir = temp_dir("explain-json");
    let config = write(&dir, "auth.yaml", &hs_config(BEARER, ""));
    let token = hs_token(claims(), -600);
    let r = explain(&["--config", &config, "--format", "json", "-"], &token);
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    let v: Value =
        serde_json::from_str(&r.out).expect("explain --format json prints one JSON document");
    let names: Vec<&str> = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["name"].as_str().expect("a step name"))
        .collect();
    assert_eq!(
        names,
        [
            "mode",
            "token",
            "header",
            "key",
            "signature",
            "times",
            "issuer",
            "audience",
            "claims",
            "session",
            "role"
        ]
    );
    let results: Vec<&str> = v["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| s["result"].as_str().expect("result"))
        .collect();
    assert_eq!(
        results[..6],
        ["pass", "pass", "pass", "pass", "pass", "fail"]
    );
    assert!(
        results[6..].iter().all(|r| *r == "not_reached"),
        "{results:?}"
    );
    assert_eq!(v["steps"][5]["reason"], "expired");
    assert!(
        v["steps"][5]["details"]["exp"]["seconds_from_now"]
            .as_i64()
            .expect("a difference")
            <= -600
    );
    assert_eq!(v["answer"]["status"], 401);
    assert_eq!(v["answer"]["reason"], "expired");
    assert_eq!(v["answer"]["headers"]["cache-control"], "no-store");
    assert!(
        v["answer"]["body"]
            .as_str()
            .expect("body")
            .contains("\"code\":\"expired\"")
    );
    assert!(v["hint"].as_str().expect("a hint").contains("expired"));
    assert_discreet(&r, &token);
}
