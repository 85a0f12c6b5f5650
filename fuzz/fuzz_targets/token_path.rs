#![no_main]
//! The token path on arbitrary `Authorization` values: extraction, header parsing, and verification against a
//! fixed HS256 key. Never a panic, and never a verified token: the fuzzer cannot sign, and every committed seed
//! that carries this key's signature is expired (fuzz/seeds/token_path/README.md), so an `Ok` from `verify` is a
//! forgery. tests/token_props.rs uses the same config and replays the seeds and regressions on every `cargo test`.

use authgate::authn::request::AuthRequest;
use authgate::authn::{jwt, token};
use authgate::config::compiled::{JwtKeySource, Mode, TokenLocation};
use authgate::config::{LoadOptions, Loaded, load_str_with_env};
use libfuzzer_sys::fuzz_target;
use std::sync::LazyLock;

const CONFIG: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        fixed:\n          algorithm: HS256\n          key:\n            value: fuzz-secret-fuzz-secret-fuzz-secret-0\n      issuer: https://issuer.example\n      audience: [api]\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n";

// Loaded once: the target exercises the token path, not the loader (that is `config_load`).
static LOADED: LazyLock<Loaded> = LazyLock::new(|| {
    load_str_with_env(CONFIG, &LoadOptions::default(), &|_| None)
        .expect("the target's config loads")
});

fuzz_target!(|data: &[u8]| {
    let Mode::Jwt(mode) = &LOADED.config.mode else {
        panic!("the target's config is a jwt mode")
    };
    let JwtKeySource::Fixed { algorithm, key } = &mode.key else {
        panic!("the target's config has a fixed key")
    };
    let headers: [(&str, &[u8]); 1] = [("authorization", data)];
    let req = AuthRequest {
        method: "GET",
        uri: "/",
        headers: &headers,
    };
    // Refusals before verification are the expected answer for most inputs; only a verification may not succeed.
    let Ok(tok) = token::extract(&req, &TokenLocation::Bearer, 16 * 1024) else {
        return;
    };
    let Ok(header) = jwt::parse_header(tok, false) else {
        return;
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .expect("clock after 1970");
    let verdict =
        jwt::Verifier::new(mode).verify(tok, &header, key, std::slice::from_ref(algorithm), now);
    assert!(
        verdict.is_err(),
        "a token the fuzzer made verified: {tok:?} -> {verdict:?}"
    );
});
