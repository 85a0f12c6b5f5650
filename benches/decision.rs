//! Micro benchmarks of the hot path: a decision answered from the decision cache, a decision for an uncached RS256
//! token (signature verified every time), a cached denial rendered as its HTTP answer, and the bare
//! `jsonwebtoken::decode` of the same token for comparison; and (`multi_config`, issue 14) the cached decision of a
//! gate with 100 named configs loaded.
//! Run with `cargo bench --bench decision`.

#[path = "decision/ipd.rs"]
mod ipd;
#[path = "decision/multi_config.rs"]
mod multi_config;

use std::sync::Arc;

use authgate::authn::request::AuthRequest;
use authgate::clock::SystemClock;
use authgate::config::{LoadOptions, load_str_with_env};
use authgate::contracts::forward::{Framing, render};
use authgate::gate::{Gate, GateSettings};
use authgate::metrics::Metrics;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use serde_json::json;

const PRIVATE: &str = include_str!("../tests/fixtures/vectors/keys/rsa1.pem");
const PUBLIC: &str = include_str!("../tests/fixtures/vectors/keys/rsa1.pub.pem");
const ISSUER: &str = "https://clerk.example.com";

fn config() -> String {
    config_with(ISSUER, PUBLIC)
}

/// A v4 JWT AuthConfig with a fixed RS256 key (`public`, PEM) and `issuer`.
fn config_with(issuer: &str, public: &str) -> String {
    let pem: String = public
        .lines()
        .map(|l| format!("              {l}\n"))
        .collect();
    format!(
        "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        fixed:\n          algorithm: RS256\n          key:\n            value: |\n{pem}      issuer: {issuer}\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n"
    )
}

/// A Clerk-template-shaped RS256 token.
fn token() -> String {
    token_with(ISSUER, PRIVATE, "2bench")
}

/// The same shape of token from `issuer`, signed with `private` (PEM), for user and session `user_<who>`/`sess_<who>`.
fn token_with(issuer: &str, private: &str, who: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "ins_2abc"});
    let claims = json!({
        "azp": "https://app.example.com", "exp": now + 3600, "iat": now, "nbf": now - 5, "iss": issuer,
        "sid": format!("sess_{who}"), "sub": format!("user_{who}"),
        "claims.jwt.hasura.io": {"x-hasura-default-role": "user", "x-hasura-allowed-roles": ["user", "editor"],
                                  "x-hasura-user-id": format!("user_{who}"), "x-hasura-org-id": "org_9"}
    });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = EncodingKey::from_rsa_pem(private.as_bytes()).expect("committed key");
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, Algorithm::RS256).expect("sign");
    format!("{input}.{sig}")
}

/// The same token with one signature character changed (still well-formed base64url, so a signature failure).
fn tamper_signature(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let sig_start = token.rfind('.').map_or(0, |i| i + 1);
    let mid = sig_start + (token.len() - sig_start) / 2;
    bytes[mid] = if bytes[mid] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).expect("ASCII token")
}

fn gate(cache_size: usize, rt: &tokio::runtime::Runtime) -> Arc<Gate> {
    let settings = GateSettings {
        cache_size,
        ..GateSettings::default()
    };
    let gate = Arc::new(
        Gate::new(settings, Arc::new(Metrics::new()), Arc::new(SystemClock)).expect("gate"),
    );
    let loaded =
        load_str_with_env(&config(), &LoadOptions::default(), &|_| None).expect("config loads");
    rt.block_on(async { gate.apply(loaded.config) });
    gate
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let tok = token();
    let auth = format!("Bearer {tok}");
    let headers: Vec<(&str, &[u8])> = vec![
        ("host", b"auth.internal:8080"),
        ("user-agent", b"nginx/1.22"),
        ("accept", b"*/*"),
        ("authorization", auth.as_bytes()),
        ("x-original-url", b"https://app.example.com/v1/graphql"),
    ];
    let req = AuthRequest {
        method: "GET",
        uri: "/",
        headers: &headers,
    };
    ipd::run_if_asked(&rt, &tok, &req, |size| gate(size, &rt));

    // The cache key's cost on its own: SHA-256 over the token.
    c.bench_function("parts/sha256_token", |b| {
        b.iter(|| aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, tok.as_bytes()))
    });

    // The harness's own cost: entering the runtime to poll a future that is ready at once.
    c.bench_function("harness/block_on_ready", |b| {
        b.iter(|| rt.block_on(async { 1u8 }))
    });

    let cached = gate(100_000, &rt);
    let first = rt.block_on(cached.decide(&req));
    assert_eq!(first.status(), 200, "the benchmark token must be allowed");
    c.bench_function("decision/cached", |b| {
        b.iter(|| {
            let d = rt.block_on(cached.decide(&req));
            assert!(d.cache_hit);
            d
        })
    });

    // A client retrying a token with a bad signature: the denial comes from the cache and is rendered as the HTTP
    // answer (status, headers, JSON error body) every time.
    let bad_auth = format!("Bearer {}", tamper_signature(&tok));
    let bad_headers: Vec<(&str, &[u8])> = vec![
        ("host", b"auth.internal:8080"),
        ("authorization", bad_auth.as_bytes()),
    ];
    let bad_req = AuthRequest {
        method: "GET",
        uri: "/",
        headers: &bad_headers,
    };
    let first = rt.block_on(cached.decide(&bad_req));
    assert_eq!(first.status(), 401, "the tampered token must be denied");
    let mut out = Vec::with_capacity(1024);
    c.bench_function("decision/cached_denial_rendered", |b| {
        b.iter(|| {
            let d = rt.block_on(cached.decide(&bad_req));
            assert_eq!(d.status(), 401);
            out.clear();
            render(&d, Framing::default(), &mut out);
            out.len()
        })
    });

    multi_config::bench(c, &rt);

    let uncached = gate(0, &rt);
    c.bench_function("decision/uncached_rs256", |b| {
        b.iter(|| {
            let d = rt.block_on(uncached.decide(&req));
            assert_eq!(d.status(), 200);
            d
        })
    });

    let key = DecodingKey::from_rsa_pem(PUBLIC.as_bytes()).expect("public key");
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_issuer(&[ISSUER]);
    c.bench_function("jsonwebtoken/decode_rs256", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(&tok, &key, &validation).expect("valid")
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
