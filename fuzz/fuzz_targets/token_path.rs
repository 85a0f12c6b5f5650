#![no_main]
//! The token path on arbitrary `Authorization` values: extraction, header parsing, and verification against a
//! fixed HS256 key. Only allow/deny may come out; never a panic.

use authgate::authn::request::AuthRequest;
use authgate::authn::{jwt, token};
use authgate::config::compiled::{JwtKeySource, Mode, TokenLocation};
use authgate::config::{LoadOptions, Loaded, load_str_with_env};
use std::sync::LazyLock;
use libfuzzer_sys::fuzz_target;

const CONFIG: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        fixed:\n          algorithm: HS256\n          key:\n            value: fuzz-secret-fuzz-secret-fuzz-secret-0\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n";

// Loaded once: the target exercises the token path, not the loader (that is `config_load`).
static LOADED: LazyLock<Option<Loaded>> =
    LazyLock::new(|| load_str_with_env(CONFIG, &LoadOptions::default(), &|_| None).ok());

fuzz_target!(|data: &[u8]| {
    let Some(loaded) = LOADED.as_ref() else { return };
    let Mode::Jwt(mode) = &loaded.config.mode else { return };
    let headers: [(&str, &[u8]); 1] = [("authorization", data)];
    let req = AuthRequest { method: "GET", uri: "/", headers: &headers };
    let Ok(tok) = token::extract(&req, &TokenLocation::Bearer, 16 * 1024) else { return };
    let Ok(header) = jwt::parse_header(tok, false) else { return };
    if let JwtKeySource::Fixed { algorithm, key } = &mode.key {
        let verifier = jwt::Verifier::new(mode);
        let _ = verifier.verify(tok, &header, key, std::slice::from_ref(algorithm), 1_800_000_000);
    }
});
