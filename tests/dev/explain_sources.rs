//! `authgate explain` with keys from elsewhere (a JWKS file offline, a live `--jwks` URL, the config's own URL
//! unreachable), a webhook called or not, and a config chosen by name in a directory.

use serde_json::json;

use super::{BEARER, claims, explain, jwt_config, write};
use crate::common::mock::{MockServer, Route};
use crate::common::temp_dir;
use crate::common::tokens::{jwks_doc, mint, rsa1_k1};

fn rs_token(kid: &str) -> String {
    mint(
        &json!({"alg": "RS256", "sign_with": "rsa1", "kid": kid, "claims": claims(), "exp_in": 600}),
    )
}

#[test]
fn explain_with_an_offline_jwks_file_and_an_unknown_kid() {
    let dir = temp_dir("explain-jwks");
    // The config's URL is never fetched: nothing listens there.
    let dead = format!("http://127.0.0.1:{}/jwks.json", crate::common::free_port());
    let config = write(
        &dir,
        "auth.yaml",
        &jwt_config(&format!("jwkFromUrl: {dead}"), BEARER, ""),
    );
    let jwks = write(&dir, "jwks.json", &jwks_doc(&[rsa1_k1()]).to_string());
    let r = explain(
        &["--config", &config, "--jwks", &jwks, "--offline", "-"],
        &rs_token("k1"),
    );
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("kid \"k1\" from JWKS file"), "{}", r.out);
    let r = explain(
        &["--config", &config, "--jwks", &jwks, "--offline", "-"],
        &rs_token("k9"),
    );
    assert_eq!(r.code, 1, "{}{}", r.out, r.err);
    assert!(r.out.contains("FAIL key"), "{}", r.out);
    assert!(r.out.contains("it holds: k1"), "{}", r.out);
    assert!(
        r.out
            .contains("hint: kid \"k9\" is not in the key set: a stale JWKS"),
        "{}",
        r.out
    );
    // Offline without a file: not judged (exit 2); online, the dead URL is serve's 503 (exit 3).
    let r = explain(&["--config", &config, "--offline", "-"], &rs_token("k1"));
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.out.contains("answer: not judged"), "{}", r.out);
    let r = explain(&["--config", &config, "-"], &rs_token("k1"));
    assert_eq!(r.code, 3, "{}{}", r.out, r.err);
    assert!(
        r.out.contains("answer: 503 denied (jwks_unavailable)"),
        "{}",
        r.out
    );
    // A live --jwks URL in place of the config's.
    let mock = MockServer::start();
    mock.set("/keys", Route::json(200, &jwks_doc(&[rsa1_k1()])));
    let url = format!("{}/keys", mock.base());
    let r = explain(&["--config", &config, "--jwks", &url, "-"], &rs_token("k1"));
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(mock.count("/keys") >= 1);
}

#[test]
fn explain_calls_the_webhook_unless_offline_and_names_configs() {
    let dir = temp_dir("explain-hook");
    let mock = MockServer::start();
    mock.set(
        "/hook",
        Route::json(
            200,
            &json!({"X-Hasura-Role": "user", "X-Hasura-User-Id": "42"}),
        ),
    );
    let hook = |path: &str| {
        format!(
            "kind: AuthConfig\nversion: v3\ndefinition:\n  mode:\n    webhook:\n      url:\n        value: {}{path}\n      method: GET\n      customHeadersConfig:\n        headers:\n          forward: [Authorization]\n",
            mock.base()
        )
    };
    let configs = temp_dir("explain-hook-dir");
    let ok = write(&configs, "tenant-a.yaml", &hook("/hook"));
    write(&configs, "tenant-b.yaml", &hook("/down"));
    mock.set("/down", Route::raw(500, "boom"));
    let r = explain(&["--config", &ok, "-"], "opaque-session-token");
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    assert!(r.out.contains("x-hasura-user-id: 42"), "{}", r.out);
    assert!(
        r.out.contains("authorization"),
        "the forwarded header is named:\n{}",
        r.out
    );
    assert!(!r.out.contains("opaque-session-token"), "{}", r.out);
    assert_eq!(mock.count("/hook"), 1);
    let r = explain(&["--config", &ok, "--offline", "-"], "opaque-session-token");
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.out.contains("not called: --offline"), "{}", r.out);
    assert_eq!(mock.count("/hook"), 1, "--offline called the hook");
    // A directory: --config-name chooses, as `check` names the files.
    let d = configs.display().to_string();
    let r = explain(&["--config", &d, "-"], "t");
    assert_eq!(r.code, 2, "{}{}", r.out, r.err);
    assert!(r.err.contains("tenant-a, tenant-b"), "{}", r.err);
    let r = explain(&["--config", &d, "--config-name", "tenant-a", "-"], "t");
    assert_eq!(r.code, 0, "{}{}", r.out, r.err);
    let r = explain(&["--config", &d, "--config-name", "tenant-b", "-"], "t");
    assert_eq!(
        r.code, 3,
        "a hook answering 500 is serve's 503:\n{}{}",
        r.out, r.err
    );
    assert!(r.out.contains("webhook_unavailable"), "{}", r.out);
    let _ = std::fs::remove_dir_all(&dir);
}
