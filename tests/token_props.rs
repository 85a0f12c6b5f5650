//! The token path and the admission parser never panic on arbitrary input (the same properties the cargo-fuzz
//! targets in fuzz/ check for longer runs).

use authgate::authn::request::AuthRequest;
use authgate::authn::{jwt, token};
use authgate::config::compiled::{JwtKeySource, Mode, TokenLocation};
use authgate::config::{LoadOptions, load_str_with_env};
use authgate::metrics::Metrics;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use proptest::prelude::*;

const CONFIG: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        fixed:\n          algorithm: HS256\n          key:\n            value: prop-secret-prop-secret-prop-secret-0\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n";

fn run_token_path(auth: &[u8]) {
    let loaded =
        load_str_with_env(CONFIG, &LoadOptions::default(), &|_| None).expect("config loads");
    let Mode::Jwt(mode) = &loaded.config.mode else {
        panic!("jwt mode")
    };
    let headers: [(&str, &[u8]); 1] = [("authorization", auth)];
    let req = AuthRequest {
        method: "GET",
        uri: "/",
        headers: &headers,
    };
    let Ok(tok) = token::extract(&req, &TokenLocation::Bearer, 16 * 1024) else {
        return;
    };
    let Ok(header) = jwt::parse_header(tok, false) else {
        return;
    };
    if let JwtKeySource::Fixed { algorithm, key } = &mode.key {
        let verifier = jwt::Verifier::new(mode);
        let r = verifier.verify(
            tok,
            &header,
            key,
            std::slice::from_ref(algorithm),
            1_800_000_000,
        );
        assert!(r.is_err(), "a random token verified");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn random_authorization_values(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        run_token_path(&bytes);
    }

    #[test]
    fn random_token_shaped_values(h in "[ -~]{0,80}", p in "[ -~]{0,200}", s in "[A-Za-z0-9_-]{0,90}") {
        let t = format!("Bearer {}.{}.{s}", URL_SAFE_NO_PAD.encode(h), URL_SAFE_NO_PAD.encode(p));
        run_token_path(t.as_bytes());
    }

    #[test]
    fn random_admission_bodies(bytes in proptest::collection::vec(any::<u8>(), 0..1200)) {
        let answer = authgate::admission::review(&bytes, &LoadOptions::default(), "authconfig.yaml", &Metrics::new());
        prop_assert!(answer.get("response").is_some());
    }
}
