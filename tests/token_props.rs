//! The token path and the admission parser on inputs built to reach the code under test (the same properties the
//! cargo-fuzz targets in fuzz/ check for longer runs, whose committed seeds and regressions are replayed here).
//!
//! Random bytes almost never get past base64 and JSON, so a "random token never verifies" property on them says
//! nothing about the signature check. The generators here make well-formed headers with random signatures,
//! bit-flipped copies of a validly signed token, and variants re-signed with the real key whose claims are wrong.
//! Every one must be denied, and each property counts how many inputs reached signature verification (seen from
//! the denial: `invalid_signature` is only said once the signature has been checked, the claim codes only once it
//! has passed) and fails if too few did: a generator that drifts back to feeding the parser fails loudly.
//!
//! The gRPC `Check` path (the `ext_authz_check` target) is checked the same way: random client requests in both of
//! Envoy's header forms through the adapter and the gate, and the target's committed seeds replayed.

mod common;
// The ext_authz_check target's input reader, so that its committed inputs replay here exactly as it reads them.
#[path = "../fuzz/fuzz_targets/ext_authz_input.rs"]
mod ext_authz_input;

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use authgate::authn::reason::Reason;
use authgate::authn::request::AuthRequest;
use authgate::authn::{jwt, token};
use authgate::clock::SystemClock;
use authgate::config::compiled::{JwtKeySource, JwtMode, Mode, TokenLocation};
use authgate::config::{LoadOptions, Loaded, load_str_with_env};
use authgate::contracts::check_view::CheckView;
use authgate::contracts::ext_authz::{self, ExtAuthzSettings};
use authgate::gate::{Gate, GateSettings};
use authgate::metrics::Metrics;
use authgate::observe::Ignore;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::configs::{Jwt, admission_review, noauth_config};
use common::tokens::bearer;
use envoy_types::pb::envoy::config::core::v3::{HeaderMap, HeaderValue as EnvoyHeader};
use envoy_types::pb::envoy::service::auth::v3::attribute_context::{
    HttpRequest, Request as AttributeRequest,
};
use envoy_types::pb::envoy::service::auth::v3::check_response::HttpResponse;
use envoy_types::pb::envoy::service::auth::v3::{AttributeContext, CheckRequest};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{Value, json};
use tonic_prost::prost::Message;

/// The same key as fuzz/fuzz_targets/token_path.rs.
const KEY: &str = "fuzz-secret-fuzz-secret-fuzz-secret-0";
const SECRET: &[u8] = KEY.as_bytes();
const ISSUER: &str = "https://issuer.example";
const AUD: &str = "api";
const CASES: u32 = 1500;

/// The wall clock, in seconds: jsonwebtoken checks `exp` and `nbf` against it, so the `iat` check gets it too.
/// (A committed input that is signed by the target's key is expired, and stays so as time goes on.)
fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .expect("clock after 1970")
}

/// The same config as fuzz/fuzz_targets/token_path.rs, so the committed seeds and regressions of that target are
/// replayed here with the same meaning.
static LOADED: LazyLock<Loaded> = LazyLock::new(|| {
    let config = Jwt::fixed("HS256", KEY).issuer(ISSUER).audience(AUD).yaml();
    load_str_with_env(&config, &LoadOptions::default(), &|_| None).expect("config loads")
});

fn mode() -> &'static JwtMode {
    match &LOADED.config.mode {
        Mode::Jwt(mode) => mode,
        _ => panic!("the config is a jwt mode"),
    }
}

/// Where the token path stopped for one `Authorization` value.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Refused by the extractor or the header parser.
    Parser(Reason),
    /// Refused by `Verifier::verify` (signature, then claims).
    Verify(Reason),
    /// Verified: the claims.
    Allowed(Value),
}

impl Outcome {
    /// Whether the input got as far as the signature check: `invalid_signature` is said only by it, and the
    /// claim codes only after it passed. (A payload that is not JSON also passed it, but its `malformed_token`
    /// cannot be told from a header's, so it is not counted: the count is a lower bound.)
    fn reached_signature(&self) -> bool {
        match self {
            Outcome::Verify(r) => !matches!(r, Reason::MalformedToken | Reason::InvalidAlgorithm),
            Outcome::Allowed(_) => true,
            Outcome::Parser(_) => false,
        }
    }
}

fn run_token_path(auth: &[u8]) -> Outcome {
    let mode = mode();
    let headers: [(&str, &[u8]); 1] = [("authorization", auth)];
    let req = AuthRequest {
        method: "GET",
        uri: "/",
        headers: &headers,
    };
    let tok = match token::extract(&req, &TokenLocation::Bearer, 16 * 1024) {
        Ok(t) => t,
        Err(d) => return Outcome::Parser(d.reason),
    };
    let header = match jwt::parse_header(tok, false) {
        Ok(h) => h,
        Err(d) => return Outcome::Parser(d.reason),
    };
    let JwtKeySource::Fixed { algorithm, key } = &mode.key else {
        panic!("the config has a fixed key")
    };
    let verifier = jwt::Verifier::new(mode);
    match verifier.verify(tok, &header, key, std::slice::from_ref(algorithm), now()) {
        Ok(claims) => Outcome::Allowed(claims),
        Err(d) => Outcome::Verify(d.reason),
    }
}

/// Claims that pass every check now.
fn valid_claims() -> Value {
    let now = now();
    json!({"iss": ISSUER, "aud": AUD, "sub": "user_1", "exp": now + 3600, "iat": now - 60,
           "claims.jwt.hasura.io": {"x-hasura-default-role": "user", "x-hasura-allowed-roles": ["user"]}})
}

fn hs(alg: jsonwebtoken::Algorithm, secret: &[u8], header: &str, payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let key = jsonwebtoken::EncodingKey::from_secret(secret);
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, alg).expect("sign");
    format!("{input}.{sig}")
}

fn signed(payload: &Value) -> String {
    hs(
        jsonwebtoken::Algorithm::HS256,
        SECRET,
        r#"{"alg":"HS256","typ":"JWT"}"#,
        payload.to_string().as_bytes(),
    )
}

/// Run `strategy` for `CASES` cases; `check` returns whether the input reached signature verification. Fails when
/// fewer than `min_share` of the cases did.
fn property<S: Strategy>(
    name: &str,
    strategy: S,
    min_share: f64,
    check: impl Fn(S::Value) -> Result<bool, TestCaseError>,
) {
    let reached = Cell::new(0u32);
    let ran = Cell::new(0u32);
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let result = runner.run(&strategy, |v| {
        ran.set(ran.get() + 1);
        if check(v)? {
            reached.set(reached.get() + 1);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
    let (reached, ran) = (reached.get(), ran.get());
    eprintln!("{name}: {reached} of {ran} inputs reached signature verification");
    assert!(ran >= CASES, "{name}: only {ran} cases ran");
    assert!(
        f64::from(reached) >= min_share * f64::from(ran),
        "{name}: only {reached} of {ran} inputs reached signature verification (want {:.0} %)",
        min_share * 100.0
    );
}

#[test]
fn the_valid_token_of_the_generators_verifies() {
    // The control: without it every property below could pass on a config that refuses everything.
    let outcome = run_token_path(&bearer(&signed(&valid_claims())));
    assert!(
        matches!(&outcome, Outcome::Allowed(c) if c["sub"] == "user_1"),
        "{outcome:?}"
    );
}

/// A well-formed JOSE header (HS256 mostly: the key's algorithm) with random members, a random claim set and a
/// random signature: never verifies, and most inputs reach the signature check.
#[test]
fn item16_well_formed_headers_with_random_signatures_are_denied_at_the_signature() {
    let alg = prop_oneof![
        6 => Just("HS256"),
        1 => prop::sample::select(vec!["HS384", "HS512", "RS256", "ES256", "PS256", "EdDSA", "none"]),
    ];
    let header = (
        alg,
        proptest::option::of("[ -~]{0,40}"),
        proptest::option::of(Just("JWT")),
        proptest::option::of(("[a-z]{1,8}", "[ -~]{0,20}")),
    )
        .prop_map(|(alg, kid, typ, extra)| {
            let mut h = json!({"alg": alg});
            if let Some(k) = kid {
                h["kid"] = k.into();
            }
            if let Some(t) = typ {
                h["typ"] = t.into();
            }
            if let Some((k, v)) = extra {
                h[k] = v.into();
            }
            h.to_string()
        });
    let claims = (
        prop::sample::select(vec![ISSUER.to_owned(), "https://evil.example".into()]),
        prop::sample::select(vec![json!(AUD), json!([AUD, "other"]), json!("other")]),
        (now() - 7200)..(now() + 7200),
        proptest::collection::btree_map("[a-z.-]{1,12}", "[ -~]{0,24}", 0..4),
    )
        .prop_map(|(iss, aud, exp, extra)| {
            let mut c = valid_claims();
            c["iss"] = iss.into();
            c["aud"] = aud;
            c["exp"] = exp.into();
            for (k, v) in extra {
                c[k] = v.into();
            }
            c.to_string()
        });
    let sig = proptest::collection::vec(any::<u8>(), 0..80);
    property(
        "well-formed headers",
        (header, claims, sig),
        0.6,
        |(h, c, s)| {
            let t = format!(
                "{}.{}.{}",
                URL_SAFE_NO_PAD.encode(&h),
                URL_SAFE_NO_PAD.encode(&c),
                URL_SAFE_NO_PAD.encode(&s)
            );
            let outcome = run_token_path(&bearer(&t));
            prop_assert!(
                !matches!(outcome, Outcome::Allowed(_)),
                "a random signature verified: {t}"
            );
            if let Outcome::Verify(r) = &outcome {
                // A random signature can only fail at the signature (or at the algorithm, before it).
                prop_assert!(
                    matches!(
                        r,
                        Reason::InvalidSignature
                            | Reason::InvalidAlgorithm
                            | Reason::MalformedToken
                    ),
                    "{r:?} for {t}: a check after the signature ran on an unverified token"
                );
            }
            Ok(outcome.reached_signature())
        },
    );
}

/// A validly signed token with 1 to 3 bits flipped anywhere in its decoded bytes (header, payload, signature,
/// re-encoded), or, one time in four, in its text: never verifies. Most flips land in the payload or the
/// signature and so reach the signature check.
#[test]
fn item16_bit_flipped_signed_tokens_are_denied() {
    let valid = signed(&valid_claims());
    let segments: Vec<Vec<u8>> = valid
        .split('.')
        .map(|s| URL_SAFE_NO_PAD.decode(s).expect("own encoding"))
        .collect();
    let total: usize = segments.iter().map(Vec::len).sum();
    let flips = proptest::collection::vec((0..total, 0u8..8), 1..4);
    property(
        "bit-flipped tokens",
        (prop::bool::weighted(0.25), flips),
        0.6,
        |(in_text, flips)| {
            let t = if in_text {
                let mut b = valid.clone().into_bytes();
                for (pos, bit) in &flips {
                    let i = pos % b.len();
                    b[i] ^= 1 << bit;
                }
                b
            } else {
                let mut segs = segments.clone();
                for (pos, bit) in &flips {
                    let (mut seg, mut i) = (0, *pos);
                    while i >= segs[seg].len() {
                        i -= segs[seg].len();
                        seg += 1;
                    }
                    segs[seg][i] ^= 1 << bit;
                }
                segs.iter()
                    .map(|s| URL_SAFE_NO_PAD.encode(s))
                    .collect::<Vec<_>>()
                    .join(".")
                    .into_bytes()
            };
            if t == valid.as_bytes() {
                // Flips that cancel out: the token itself, not a mutation.
                return Ok(true);
            }
            let mut auth = b"Bearer ".to_vec();
            auth.extend_from_slice(&t);
            let outcome = run_token_path(&auth);
            prop_assert!(
                !matches!(outcome, Outcome::Allowed(_)),
                "a mutated token verified: {}",
                String::from_utf8_lossy(&t)
            );
            Ok(outcome.reached_signature())
        },
    );
}

/// One way to spoil the valid claim set, and the code that must refuse the token once it is re-signed with the
/// real key (so the signature passes and the claim check alone must catch it).
fn spoiled_claims() -> impl Strategy<Value = (String, Reason)> {
    let leeway = mode().leeway;
    let now = now();
    let past = 1..1_000_000u64;
    prop_oneof![
        past.clone().prop_map(move |d| {
            let mut c = valid_claims();
            c["exp"] = (now - leeway - d).into();
            (c.to_string(), Reason::Expired)
        }),
        past.clone().prop_map(move |d| {
            let mut c = valid_claims();
            c["nbf"] = (now + leeway + d).into();
            (c.to_string(), Reason::NotYetValid)
        }),
        past.prop_map(move |d| {
            let mut c = valid_claims();
            c["iat"] = (now + leeway + d).into();
            (c.to_string(), Reason::IssuedInFuture)
        }),
        "[ -~]{0,30}"
            .prop_filter("not the issuer", |s| s != ISSUER)
            .prop_map(|iss| {
                let mut c = valid_claims();
                c["iss"] = iss.into();
                (c.to_string(), Reason::InvalidIssuer)
            }),
        "[ -~]{0,30}"
            .prop_filter("not the audience", |s| s != AUD)
            .prop_map(|aud| {
                let mut c = valid_claims();
                c["aud"] = aud.into();
                (c.to_string(), Reason::InvalidAudience)
            }),
        prop::sample::select(vec!["iss", "aud"]).prop_map(|k| {
            let mut c = valid_claims();
            assert!(
                c.as_object_mut().and_then(|o| o.remove(k)).is_some(),
                "no {k} to remove"
            );
            let reason = if k == "iss" {
                Reason::InvalidIssuer
            } else {
                Reason::InvalidAudience
            };
            (c.to_string(), reason)
        }),
        // A key said twice (an ambiguity two parsers could read differently): the strict parser, after the
        // signature.
        prop::sample::select(vec!["iss", "aud", "exp", "sub", "claims.jwt.hasura.io"]).prop_map(
            |k| {
                let c = valid_claims();
                let text = c.to_string();
                let member = format!("\"{k}\":{}", c[k]);
                let body = text.strip_suffix('}').expect("object");
                (format!("{body},{member}}}"), Reason::MalformedToken)
            }
        ),
    ]
}

/// Variants re-signed with the real key whose claims are wrong are denied by the claim check they break (they all
/// pass the signature); variants signed with a near-miss secret or another HMAC algorithm are denied at the
/// signature or the algorithm.
#[test]
fn item16_resigned_variants_are_denied_by_the_check_they_break() {
    let near_miss_secret = (any::<usize>(), 0u8..8).prop_map(|(pos, bit)| {
        let mut s = SECRET.to_vec();
        let i = pos % s.len();
        s[i] ^= 1 << bit;
        s
    });
    let variant = prop_oneof![
        3 => spoiled_claims().prop_map(|(payload, reason)| {
            (hs(jsonwebtoken::Algorithm::HS256, SECRET, r#"{"alg":"HS256","typ":"JWT"}"#, payload.as_bytes()), reason)
        }),
        1 => near_miss_secret.prop_map(|secret| {
            (hs(jsonwebtoken::Algorithm::HS256, &secret, r#"{"alg":"HS256","typ":"JWT"}"#, valid_claims().to_string().as_bytes()), Reason::InvalidSignature)
        }),
        1 => prop::sample::select(vec![
            (jsonwebtoken::Algorithm::HS384, r#"{"alg":"HS384","typ":"JWT"}"#),
            (jsonwebtoken::Algorithm::HS512, r#"{"alg":"HS512","typ":"JWT"}"#),
        ]).prop_map(|(alg, header)| {
            (hs(alg, SECRET, header, valid_claims().to_string().as_bytes()), Reason::InvalidAlgorithm)
        }),
    ];
    property("re-signed variants", variant, 0.6, |(t, reason)| {
        let outcome = run_token_path(&bearer(&t));
        prop_assert_eq!(&outcome, &Outcome::Verify(reason), "{}", t);
        Ok(outcome.reached_signature())
    });
}

#[test]
fn random_authorization_values_never_verify() {
    property(
        "random bytes",
        proptest::collection::vec(any::<u8>(), 0..600),
        0.0,
        |bytes| {
            let outcome = run_token_path(&bytes);
            prop_assert!(!matches!(outcome, Outcome::Allowed(_)));
            Ok(outcome.reached_signature())
        },
    );
}

/// The committed seeds and regressions of the `token_path` fuzz target, replayed on every `cargo test` (the fuzz
/// runs need nightly): none verifies, and the seeds that are meant to reach the signature check do.
#[test]
fn item17_committed_token_path_inputs_replay() {
    let inputs = fuzz_inputs("token_path");
    assert!(
        inputs.len() >= 10,
        "only {} seeds for token_path",
        inputs.len()
    );
    let mut reached = 0;
    for (name, data) in &inputs {
        let outcome = run_token_path(data);
        assert!(
            !matches!(outcome, Outcome::Allowed(_)),
            "{name} verifies: a committed input must never be a valid token for the target's key and clock"
        );
        reached += usize::from(outcome.reached_signature());
    }
    assert!(
        reached >= 3,
        "only {reached} committed token_path inputs reach signature verification"
    );
}

/// Every file under fuzz/seeds/TARGET and fuzz/regressions/TARGET (but their README), by name.
fn fuzz_inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for kind in ["seeds", "regressions"] {
        let dir = format!("{}/fuzz/{kind}/{target}", env!("CARGO_MANIFEST_DIR"));
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}"));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.file_name().is_some_and(|n| n == "README.md") {
                continue;
            }
            let data = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            out.push((path.display().to_string(), data));
        }
    }
    out.sort();
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Admission
// ---------------------------------------------------------------------------------------------------------------

/// Review `body`; return the answer's `allowed` after checking the answer is well formed, and that an allow only
/// ever answers a body that is a review: a JSON object whose `request.uid` is a string, echoed in the answer.
fn review(body: &[u8]) -> bool {
    let answer = authgate::admission::review(
        body,
        &LoadOptions::default(),
        "authconfig.yaml",
        &Metrics::new(),
    );
    let allowed = answer
        .pointer("/response/allowed")
        .and_then(Value::as_bool)
        .unwrap_or_else(|| panic!("no response.allowed in {answer}"));
    if allowed {
        let uid = serde_json::from_slice::<Value>(body).ok().and_then(|b| {
            b.pointer("/request/uid")
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
        assert!(
            uid.is_some()
                && answer.pointer("/response/uid").and_then(Value::as_str) == uid.as_deref(),
            "allowed a body that is not a review: {}",
            String::from_utf8_lossy(body)
        );
    }
    allowed
}

/// A review of a labelled ConfigMap holding a valid AuthConfig: allowed.
fn valid_review() -> Value {
    admission_review("u-1", Some(&noauth_config("anonymous", &[])), true)
}

#[test]
fn the_valid_review_of_the_generators_is_allowed() {
    assert!(review(valid_review().to_string().as_bytes()));
}

/// Random bytes are not a review: never allowed (not only answered).
#[test]
fn item16_random_admission_bodies_are_not_allowed() {
    property(
        "random admission bodies",
        proptest::collection::vec(any::<u8>(), 0..1200),
        0.0,
        |bytes| {
            prop_assert!(
                !review(&bytes),
                "allowed {:?}",
                String::from_utf8_lossy(&bytes)
            );
            Ok(false)
        },
    );
}

/// The valid review with one required part broken (no `request`, a `request` that is not an object, no or a
/// non-string `uid`, an unknown `operation`, a body that is not an object, a cut body): never allowed.
#[test]
fn item16_broken_reviews_are_not_allowed() {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[ -~]{0,20}".prop_map(Value::from),
        Just(json!([])),
    ];
    let broken = prop_oneof![
        Just(("no request", {
            let mut r = valid_review();
            assert!(
                r.as_object_mut()
                    .and_then(|o| o.remove("request"))
                    .is_some()
            );
            r.to_string().into_bytes()
        })),
        scalar.clone().prop_map(|v| {
            let mut r = valid_review();
            r["request"] = v;
            ("request not an object", r.to_string().into_bytes())
        }),
        scalar.clone().prop_map(|v| {
            let mut r = valid_review();
            if v.is_null() {
                assert!(
                    r["request"]
                        .as_object_mut()
                        .and_then(|o| o.remove("uid"))
                        .is_some()
                );
            } else if !v.is_string() {
                r["request"]["uid"] = v;
            } else {
                r["request"]["uid"] = json!({"id": v});
            }
            ("uid missing or not a string", r.to_string().into_bytes())
        }),
        "[A-Za-z]{0,12}"
            .prop_filter("not an operation", |s| ![
                "CREATE", "UPDATE", "DELETE", "CONNECT"
            ]
            .contains(&s.as_str()))
            .prop_map(|op| {
                let mut r = valid_review();
                r["request"]["operation"] = op.into();
                ("unknown operation", r.to_string().into_bytes())
            }),
        scalar.prop_map(|v| ("not an object", v.to_string().into_bytes())),
        (0usize..100_000).prop_map(|cut| {
            let text = valid_review().to_string().into_bytes();
            ("cut short", text[..cut % text.len()].to_vec())
        }),
    ];
    property("broken reviews", broken, 0.0, |(what, body)| {
        prop_assert!(
            !review(&body),
            "{}: allowed {}",
            what,
            String::from_utf8_lossy(&body)
        );
        Ok(false)
    });
}

/// The committed seeds and regressions of the `admission_review` fuzz target: each answered, an allow only for a
/// review.
#[test]
fn item17_committed_admission_inputs_replay() {
    let inputs = fuzz_inputs("admission_review");
    assert!(
        inputs.len() >= 4,
        "only {} seeds for admission_review",
        inputs.len()
    );
    let allowed = inputs.iter().filter(|(_, body)| review(body)).count();
    assert!(
        allowed >= 1 && allowed < inputs.len(),
        "the admission seeds should hold both allowed and refused reviews ({allowed} of {} allowed)",
        inputs.len()
    );
}

// ---------------------------------------------------------------------------------------------------------------
// ext_authz Check (gRPC)
// ---------------------------------------------------------------------------------------------------------------

/// The gate of fuzz/fuzz_targets/ext_authz_check.rs: the token path's config and key, the decision cache off (every
/// check judged afresh), the wall clock.
static EXT_GATE: LazyLock<Gate> = LazyLock::new(|| {
    let settings = GateSettings {
        cache_size: 0,
        ..GateSettings::default()
    };
    let gate = Gate::new(settings, Arc::new(Ignore), Arc::new(SystemClock)).expect("gate");
    gate.apply(LOADED.config.clone());
    gate
});

/// The target's adapter settings.
fn ext_settings() -> ExtAuthzSettings {
    ExtAuthzSettings {
        metadata_vars: vec!["x-hasura-user-id".to_owned()],
        auth_mode_header: "x-hasura-auth-mode".to_owned(),
    }
}

/// Decide `req` through the gRPC adapter and check the target's properties: an RPC error only for a check without
/// `attributes.request.http` (and then `INVALID_ARGUMENT`), otherwise a `CheckResponse` that is a denial (nothing
/// given here verifies) whose gRPC code goes with its HTTP status. Returns the outcome: `invalid_argument`, or the
/// denial's reason code (the status message).
fn judge_check(req: &CheckRequest) -> Result<String, TestCaseError> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let has_http = req
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .is_some_and(|r| r.http.is_some());
    match rt.block_on(ext_authz::check(&EXT_GATE, req, &ext_settings())) {
        Err(status) => {
            prop_assert!(
                !has_http,
                "an RPC error for a check with an HTTP request: {status:?}"
            );
            prop_assert_eq!(status.code(), tonic::Code::InvalidArgument);
            Ok("invalid_argument".to_owned())
        }
        Ok(resp) => {
            prop_assert!(
                has_http,
                "a CheckResponse for a check without an HTTP request"
            );
            let Some(HttpResponse::DeniedResponse(denied)) = &resp.http_response else {
                return Err(TestCaseError::fail(format!("not a denial: {resp:?}")));
            };
            let http = denied.status.as_ref().map_or(0, |s| s.code);
            let expected = match http {
                401 | 403 | 431 => tonic::Code::PermissionDenied,
                503 => tonic::Code::Unavailable,
                other => {
                    return Err(TestCaseError::fail(format!(
                        "HTTP status {other}: {resp:?}"
                    )));
                }
            };
            let status = resp.status.as_ref().expect("a status");
            prop_assert_eq!(status.code, expected as i32, "{:?}", resp);
            prop_assert!(resp.dynamic_metadata.is_none(), "metadata on a denial");
            Ok(status.message.clone())
        }
    }
}

/// Reason codes said only once the signature has been checked (the claim codes only once it passed).
fn past_signature(outcome: &str) -> bool {
    [
        "invalid_signature",
        "expired",
        "not_yet_valid",
        "issued_in_future",
        "invalid_issuer",
        "invalid_audience",
        "invalid_claims",
        "role_not_allowed",
    ]
    .contains(&outcome)
}

/// A check of a client request with `headers`, in Envoy's map form (repeated names joined with `,`) or, with
/// `raw`, in the `header_map` form `encode_raw_headers` sends (one entry per header, values as bytes).
fn check_request(raw: bool, path: &str, headers: &[(&str, &[u8])]) -> CheckRequest {
    let mut http = HttpRequest {
        id: "1".to_owned(),
        method: "GET".to_owned(),
        path: path.to_owned(),
        host: "api.example".to_owned(),
        scheme: "https".to_owned(),
        protocol: "HTTP/1.1".to_owned(),
        ..HttpRequest::default()
    };
    if raw {
        http.header_map = Some(HeaderMap {
            headers: headers
                .iter()
                .map(|(k, v)| EnvoyHeader {
                    key: (*k).to_owned(),
                    raw_value: v.to_vec(),
                    ..EnvoyHeader::default()
                })
                .collect(),
        });
    } else {
        for (k, v) in headers {
            let v = String::from_utf8_lossy(v);
            http.headers
                .entry((*k).to_owned())
                .and_modify(|joined| {
                    joined.push(',');
                    joined.push_str(&v);
                })
                .or_insert_with(|| v.into_owned());
        }
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(AttributeRequest {
                http: Some(http),
                ..AttributeRequest::default()
            }),
            ..AttributeContext::default()
        }),
    }
}

/// A committed ext_authz_check seed: an encoded request, or the target's line format (ext_authz_input.rs).
enum Seed {
    Encoded(Box<CheckRequest>),
    Lines(Vec<u8>),
}

/// fuzz/seeds/ext_authz_check, by file name: what each is, and the outcome the replay expects of it.
fn ext_authz_seeds() -> Vec<(&'static str, Seed, &'static str)> {
    let expired = ext_authz_input::EXPIRED.as_bytes();
    let client: Vec<(&str, &[u8])> = vec![
        (":authority", b"api.example"),
        (":method", b"GET"),
        (":path", b"/graphql"),
        (":scheme", b"https"),
        ("authorization", expired),
        ("x-hasura-role", b"user"),
        ("x-hasura-user-id", b"spoofed"),
        ("user-agent", b"curl/8.5.0"),
    ];
    let duplicates: Vec<(&str, &[u8])> = vec![
        (":authority", b"api.example"),
        ("authorization", expired),
        ("authorization", b"Bearer a.b.c"),
        ("x-hasura-role", b"admin"),
        ("x-hasura-role", b"user"),
        ("cookie", b"a=1"),
        ("cookie", b"__session=x"),
    ];
    let big_token = [b"Bearer ".as_slice(), &[b'a'; 17 * 1024]].concat();
    let many: Vec<(String, Vec<u8>)> = (0..200)
        .map(|i| (format!("x-filler-{i}"), b"v".to_vec()))
        .chain([("authorization".to_owned(), expired.to_vec())])
        .collect();
    let many: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    let mut other_config = check_request(
        false,
        "/configs/other/graphql",
        &[("x-hasura-role", b"admin")],
    );
    if let Some(a) = other_config.attributes.as_mut() {
        a.context_extensions
            .insert("authgate-config".to_owned(), "other".to_owned());
    }
    let no_http = CheckRequest {
        attributes: Some(AttributeContext {
            request: Some(AttributeRequest::default()),
            ..AttributeContext::default()
        }),
    };
    let encoded = |raw, path, headers: &[(&str, &[u8])]| {
        Seed::Encoded(Box::new(check_request(raw, path, headers)))
    };
    vec![
        ("headers-form-expired", encoded(false, "/graphql", &client), "expired"),
        ("header-map-form-expired", encoded(true, "/graphql", &client), "expired"),
        ("headers-form-duplicates", encoded(false, "/graphql", &duplicates), ""),
        ("header-map-form-duplicates", encoded(true, "/graphql", &duplicates), ""),
        (
            "header-map-non-utf8-token",
            encoded(true, "/", &[("authorization", b"Bearer \xff\xfe.a.b")]),
            "",
        ),
        (
            "oversized-token",
            encoded(true, "/graphql", &[("authorization", &big_token)]),
            "token_too_large",
        ),
        ("oversized-header-count", encoded(true, "/graphql", &many), "headers_too_large"),
        ("no-token-other-config-path", Seed::Encoded(Box::new(other_config)), "missing_token"),
        ("no-http-request", Seed::Encoded(Box::new(no_http)), "invalid_argument"),
        ("empty", Seed::Encoded(Box::default()), "invalid_argument"),
        (
            "lines-headers-expired",
            Seed::Lines(b"\x00/graphql\n:authority:api.example\nauthorization:@expired\nx-hasura-role:user".to_vec()),
            "expired",
        ),
        (
            "lines-raw-duplicates",
            Seed::Lines(
                b"\x01/graphql\nauthorization:@expired\nAuthorization:Bearer a.b.c\nx-hasura-role:admin\nx-hasura-role:user"
                    .to_vec(),
            ),
            "",
        ),
    ]
}

/// What the target makes of one input (ext_authz_check.rs does exactly this).
fn target_request(data: &[u8]) -> CheckRequest {
    CheckRequest::decode(data).unwrap_or_else(|_| ext_authz_input::built(data))
}

/// The committed ext_authz_check seeds are the ones `ext_authz_seeds` builds: an encoded request compared decoded
/// (prost writes a map in the order of a `HashMap`, so its bytes differ from one encoding to the next), a line-format
/// one byte for byte. `AUTHGATE_WRITE_FUZZ_SEEDS=1 cargo test --test token_props ext_authz` writes them.
#[test]
fn committed_ext_authz_seeds_are_the_built_requests() {
    let dir = format!("{}/fuzz/seeds/ext_authz_check", env!("CARGO_MANIFEST_DIR"));
    let write = std::env::var_os("AUTHGATE_WRITE_FUZZ_SEEDS").is_some();
    for (name, seed, _) in ext_authz_seeds() {
        let path = format!("{dir}/{name}");
        if write {
            let bytes = match &seed {
                Seed::Encoded(req) => req.encode_to_vec(),
                Seed::Lines(bytes) => bytes.clone(),
            };
            std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        match seed {
            Seed::Encoded(req) => {
                let committed = CheckRequest::decode(bytes.as_slice())
                    .unwrap_or_else(|e| panic!("{path} is not an encoded CheckRequest: {e}"));
                assert_eq!(committed, *req, "{path} is not the request the test builds");
            }
            Seed::Lines(want) => {
                assert_eq!(bytes, want, "{path} is not the input the test builds");
                assert!(
                    CheckRequest::decode(bytes.as_slice()).is_err(),
                    "{path} decodes as a CheckRequest, so the target never reads its lines"
                );
            }
        }
    }
    // The target's signed token is token_path's expired seed, so both stay expired together.
    let token_seed = std::fs::read(format!(
        "{}/fuzz/seeds/token_path/signed-expired",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("the token_path seed signed-expired");
    assert_eq!(token_seed.trim_ascii(), ext_authz_input::EXPIRED.as_bytes());
}

/// The committed seeds and regressions of the `ext_authz_check` fuzz target, read and judged as the target does:
/// every one meets the target's properties, and each seed has the outcome it was written for.
#[test]
fn committed_ext_authz_inputs_replay() {
    let expected: HashMap<String, &str> = ext_authz_seeds()
        .into_iter()
        .map(|(name, _, outcome)| (name.to_owned(), outcome))
        .collect();
    let inputs = fuzz_inputs("ext_authz_check");
    assert!(
        inputs.len() >= expected.len(),
        "only {} inputs for ext_authz_check",
        inputs.len()
    );
    let mut reached = 0;
    for (path, data) in &inputs {
        if let (Ok(view), Ok(msg)) = (
            CheckView::decode(data),
            CheckRequest::decode(data.as_slice()),
        ) {
            assert_eq!(
                view.sorted_maps(),
                CheckView::of_message(&msg).sorted_maps(),
                "{path}: the wire view and prost disagree"
            );
        }
        let outcome = judge_check(&target_request(data)).unwrap_or_else(|e| panic!("{path}: {e}"));
        reached += usize::from(past_signature(&outcome));
        let name = path.rsplit('/').next().unwrap_or_default();
        if let Some(want) = expected.get(name).filter(|w| !w.is_empty()) {
            assert_eq!(&outcome, want, "{path}");
        }
    }
    assert!(
        reached >= 3,
        "only {reached} ext_authz_check inputs get past the signature check"
    );
}

/// Random client requests, in both forms: never an allow, always a `CheckResponse` (the fuzz target's property,
/// on stable). Most carry an `Authorization` near the signature check (the expired token signed with the key, its
/// signature spoiled, or it followed by a second credential); the other headers' names come mostly from the ones the
/// adapter treats specially. At least a fifth must get past the signature check, or the generator has drifted back
/// to feeding the parser.
#[test]
fn random_checks_in_both_forms_are_denied_in_a_check_response() {
    let expired = ext_authz_input::EXPIRED.to_owned();
    let spoiled = format!("{}A", &expired[..expired.len() - 1]);
    let auth = proptest::option::weighted(
        0.7,
        proptest::sample::select(vec![
            expired.clone(),
            spoiled,
            format!("{expired}, Bearer x.y.z"),
            "Bearer a.b.c".to_owned(),
        ]),
    );
    let name = prop_oneof![
        3 => proptest::sample::select(vec![
            "authorization", "Authorization", "x-hasura-role", "x-hasura-user-id", "x-hasura-auth-mode",
            "cookie", "host", ":authority", ":path", "x_hasura_role", "x-hasura-",
        ])
        .prop_map(str::to_owned),
        1 => "[ -~]{0,12}",
    ];
    let value = prop_oneof![
        2 => proptest::sample::select(vec![
            expired, "Bearer ".to_owned(), "user".to_owned(), "admin".to_owned(), "jwt".to_owned(),
        ])
        .prop_map(String::into_bytes),
        1 => proptest::collection::vec(any::<u8>(), 0..64),
    ];
    let headers = proptest::collection::vec((name, value), 0..8);
    property(
        "random checks",
        (any::<bool>(), auth, headers, "/[ -~]{0,20}"),
        0.2,
        |(raw, auth, headers, path)| {
            let mut refs: Vec<(&str, &[u8])> = auth
                .iter()
                .map(|a| ("authorization", a.as_bytes()))
                .collect();
            refs.extend(headers.iter().map(|(n, v)| (n.as_str(), v.as_slice())));
            let outcome = judge_check(&check_request(raw, &path, &refs))?;
            Ok(past_signature(&outcome))
        },
    );
}

/// The control of the properties above: a valid token through the same adapter and gate is allowed, in both forms,
/// with the session's role and the spoofed `x-hasura-user-id` named for removal.
#[test]
fn a_valid_token_through_the_check_path_is_allowed() {
    let token = bearer(&signed(&valid_claims()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for raw in [false, true] {
        let req = check_request(
            raw,
            "/graphql",
            &[("authorization", &token), ("x-hasura-user-id", b"spoofed")],
        );
        let resp = rt
            .block_on(ext_authz::check(&EXT_GATE, &req, &ext_settings()))
            .expect("a CheckResponse");
        assert_eq!(resp.status.as_ref().map(|s| s.code), Some(0), "{resp:?}");
        let Some(HttpResponse::OkResponse(ok)) = &resp.http_response else {
            panic!("not an allow: {resp:?}")
        };
        let role = ok
            .headers
            .iter()
            .filter_map(|h| h.header.as_ref())
            .find(|h| h.key == "x-hasura-role")
            .map(|h| h.value.as_str());
        assert_eq!(role, Some("user"), "raw {raw}: {resp:?}");
        assert_eq!(ok.headers_to_remove, ["x-hasura-user-id"], "raw {raw}");
    }
}

/// Random bytes read as the target reads them (mostly the line format, since random bytes seldom decode), judged by
/// the target's properties.
#[test]
fn random_bytes_through_the_target_reader_are_denied_in_a_check_response() {
    let line = prop_oneof![
        Just("authorization:@expired".to_owned()),
        Just("x-hasura-role:admin".to_owned()),
        Just(":authority:api.example".to_owned()),
        "[ -~]{0,40}",
    ];
    let input = (0u8..2, "[ -~]{0,16}", proptest::collection::vec(line, 0..8)).prop_map(
        |(form, path, lines)| {
            let mut bytes = vec![form];
            bytes.extend_from_slice(path.as_bytes());
            for l in lines {
                bytes.push(b'\n');
                bytes.extend_from_slice(l.as_bytes());
            }
            bytes
        },
    );
    let any_bytes = proptest::collection::vec(any::<u8>(), 0..256);
    property(
        "random target inputs",
        prop_oneof![input, any_bytes],
        0.05,
        |data| Ok(past_signature(&judge_check(&target_request(&data))?)),
    );
}
