//! Instructions per decision (issue 18): with `AUTHGATE_IPD=<case>:<n>` the bench binary runs `n` iterations of one
//! case and exits instead of benchmarking, for `valgrind --tool=callgrind` (scripts/bench/ipd.sh). Two runs of the
//! same case with different `n` differ by `n` iterations and nothing else, so the setup (runtime, gate, config load,
//! token signing, the first decision that fills the cache) cancels out of the difference.
//!
//! - `cached`: `Gate::decide` of a token the decision cache holds (token to `Decision`).
//! - `cached_render`: the same, plus `render` of the decision as the HTTP answer.
//! - `uncached`: `Gate::decide` with the cache off: header, key, RS256 signature, claims, session.
//! - `bare`: aws-lc-rs's RS256 check of the same token's signature with a key parsed once (the floor).

use std::hint::black_box;
use std::sync::Arc;

use authgate::authn::request::AuthRequest;
use authgate::contracts::forward::{Framing, render};
use authgate::gate::Gate;
use aws_lc_rs::signature::{ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Run the case named by `AUTHGATE_IPD`, if set, and exit.
pub fn run_if_asked(
    rt: &tokio::runtime::Runtime,
    token: &str,
    req: &AuthRequest<'_>,
    gate: impl Fn(usize) -> Arc<Gate>,
) {
    let Ok(spec) = std::env::var("AUTHGATE_IPD") else {
        return;
    };
    let (case, n) = spec.split_once(':').expect("AUTHGATE_IPD=<case>:<n>");
    let n: usize = n.parse().expect("a count");
    match case {
        "cached" | "cached_render" => {
            let g = gate(100_000);
            assert_eq!(rt.block_on(g.decide(req)).status(), 200);
            let render_too = case == "cached_render";
            let mut out = Vec::with_capacity(1024);
            for _ in 0..n {
                let d = rt.block_on(g.decide(req));
                assert!(d.cache_hit);
                if render_too {
                    out.clear();
                    render(&d, Framing::default(), &mut out);
                    black_box(&out);
                } else {
                    black_box(d);
                }
            }
        }
        "uncached" => {
            let g = gate(0);
            for _ in 0..n {
                let d = rt.block_on(g.decide(req));
                assert_eq!(d.status(), 200);
                black_box(d);
            }
        }
        "bare" => {
            let (message, sig) = token.rsplit_once('.').expect("a JWS");
            let sig = URL_SAFE_NO_PAD.decode(sig).expect("base64url signature");
            let (n_bytes, e_bytes) = rsa1_components();
            let key = RsaPublicKeyComponents {
                n: &n_bytes[..],
                e: &e_bytes[..],
            }
            .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
            .expect("rsa1");
            let key: &ParsedPublicKey = &key;
            for _ in 0..n {
                key.verify_sig(black_box(message.as_bytes()), black_box(&sig))
                    .expect("valid signature");
            }
        }
        other => panic!("unknown case {other}"),
    }
    std::process::exit(0);
}

/// The modulus and exponent of the committed `rsa1` key, from its JWK.
fn rsa1_components() -> (Vec<u8>, Vec<u8>) {
    let jwk: serde_json::Value = serde_json::from_str(include_str!(
        "../../tests/fixtures/vectors/keys/rsa1.jwk.json"
    ))
    .expect("rsa1 JWK");
    let part = |name: &str| {
        URL_SAFE_NO_PAD
            .decode(jwk[name].as_str().expect("n and e"))
            .expect("base64url")
    };
    (part("n"), part("e"))
}
