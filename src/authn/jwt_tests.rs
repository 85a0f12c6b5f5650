//! Unit tests of `jwt.rs`: header checks, and the claim checks jsonwebtoken leaves to us.

use super::*;

fn b64(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

#[test]
fn header_checks() {
    let tok = |h: &str| format!("{}.e30.sig", b64(h));
    assert_eq!(
        parse_header(&tok(r#"{"alg":"RS256","kid":"k"}"#), true)
            .unwrap()
            .kid
            .as_deref(),
        Some("k")
    );
    for none in ["none", "None", "NONE", "nOnE"] {
        let e = parse_header(&tok(&format!(r#"{{"alg":"{none}"}}"#)), true).unwrap_err();
        assert_eq!(e.reason, Reason::InvalidAlgorithm);
    }
    for extra in [
        r#""crit":["exp"]"#,
        r#""jku":"http://x""#,
        r#""x5u":"http://x""#,
        r#""jwk":{}"#,
        r#""x5c":[]"#,
    ] {
        let e = parse_header(&tok(&format!(r#"{{"alg":"RS256",{extra}}}"#)), true).unwrap_err();
        assert_eq!(e.reason, Reason::UnsupportedHeader, "{extra}");
    }
    let dup = parse_header(&tok(r#"{"alg":"RS256","alg":"none"}"#), false).unwrap_err();
    assert_eq!(dup.reason, Reason::MalformedToken);
    assert_eq!(
        &*parse_header("abc", false).unwrap_err().message,
        "JWT validation error: InvalidToken"
    );
}

#[test]
fn item6_null_crit_jku_x5u_jwk_x5c_are_present_and_refused() {
    let tok = |h: &str| format!("{}.e30.sig", b64(h));
    for name in ["crit", "jku", "x5u", "jwk", "x5c"] {
        let header = format!(r#"{{"alg":"RS256","kid":"k","{name}":null}}"#);
        let e = parse_header(&tok(&header), true).expect_err(&header);
        assert_eq!(e.reason, Reason::UnsupportedHeader, "{header}");
        assert!(e.message.contains(name), "{header}: {}", e.message);
    }
    // `cty: null` is not `cty: JWT`: it stays accepted.
    assert!(parse_header(&tok(r#"{"alg":"RS256","cty":null}"#), true).is_ok());
}

const SECRET: &[u8] = b"a-secret-of-at-least-thirty-two-bytes!";

fn mode(issuer: Option<&str>, audience: Option<&[&str]>, leeway: u64) -> JwtMode {
    use crate::config::compiled::{ClaimsSpec, JwtKeySource, TokenLocation};
    use crate::config::model::JwtClaimsFormat;
    use crate::config::pointer::JsonPointer;
    JwtMode {
        key: JwtKeySource::Fixed {
            algorithm: Algorithm::HS256,
            key: DecodingKey::from_secret(SECRET),
        },
        token_location: TokenLocation::Bearer,
        claims: ClaimsSpec::Namespace {
            format: JwtClaimsFormat::Json,
            location: JsonPointer::parse("/hasura").expect("pointer"),
        },
        audience: audience.map(|a| a.iter().map(|s| (*s).to_owned()).collect()),
        issuer: issuer.map(str::to_owned),
        leeway,
    }
}

/// Verify an HS256 token over `claims` (signed with the right key) under `mode`.
fn verify_claims(mode: &JwtMode, claims: &Value) -> Result<Value, Deny> {
    verify_claims_at(mode, claims, now())
}

/// [`verify_claims`] at Unix time `at`.
fn verify_claims_at(mode: &JwtMode, claims: &Value, at: u64) -> Result<Value, Deny> {
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("sign");
    both_paths(
        mode,
        &token,
        &DecodingKey::from_secret(SECRET),
        Algorithm::HS256,
        at,
    )
}

/// Verify `token` with jsonwebtoken's path and with the prepared aws-lc-rs key; they must give the same answer,
/// which is returned.
fn both_paths(
    mode: &JwtMode,
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    at: u64,
) -> Result<Value, Deny> {
    let parsed = parse_header_full(token, false)?;
    assert_eq!(parsed.header, parse_header(token, false)?);
    let v = Verifier::new(mode);
    let slow = v.verify(token, &parsed.header, key, &[alg], at);
    let prepared = VerifyingKey::new(key.clone(), vec![alg]);
    let fast = v.verify_prepared(token, &parsed, &prepared, at);
    assert_eq!(fast, slow, "{token}");
    fast
}

/// Tokens over raw header and payload text, signed or not, through both paths: every error jsonwebtoken's path
/// gives (and in its order) the prepared path gives word for word.
#[test]
fn prepared_key_path_answers_as_jsonwebtoken_path() {
    let rsa_pem = include_bytes!("../../tests/fixtures/vectors/keys/rsa1.pem");
    let rsa_pub = include_bytes!("../../tests/fixtures/vectors/keys/rsa1.pub.pem");
    let keys = [
        (
            Algorithm::HS256,
            jsonwebtoken::EncodingKey::from_secret(SECRET),
            DecodingKey::from_secret(SECRET),
        ),
        (
            Algorithm::RS256,
            jsonwebtoken::EncodingKey::from_rsa_pem(rsa_pem).expect("rsa1"),
            DecodingKey::from_rsa_pem(rsa_pub).expect("rsa1 pub"),
        ),
    ];
    let exp = now() + 600;
    let payloads = [
        format!(r#"{{"exp":{exp},"iss":"i","aud":"a"}}"#),
        format!(r#"{{"exp":{exp}.4,"iss":["i"],"aud":["a","b"]}}"#),
        r#"{"iss":"i","aud":"a"}"#.to_owned(),
        r#"{"exp":null,"iss":"i","aud":"a"}"#.to_owned(),
        r#"{"exp":-5,"iss":"i","aud":"a"}"#.to_owned(),
        r#"{"exp":"soon","iss":"i","aud":"a"}"#.to_owned(),
        format!(r#"{{"exp":{exp},"aud":"a"}}"#),
        format!(r#"{{"exp":{exp},"iss":5,"aud":"a"}}"#),
        format!(r#"{{"exp":{exp},"iss":null,"aud":"a"}}"#),
        format!(r#"{{"exp":{exp},"iss":"i"}}"#),
        format!(r#"{{"exp":{exp},"iss":"i","aud":[1]}}"#),
        format!(r#"{{"exp":{exp},"iss":"i","aud":"a","exp":1}}"#),
        format!(r#"[{exp}]"#),
        format!(r#"[{exp},null,"s","i","a"]"#),
        r#""a string""#.to_owned(),
        "5".to_owned(),
        "not json".to_owned(),
        format!(r#"{{"exp":{exp},"iss":"i","aud":"a","iat":"x"}}"#),
        // Values jsonwebtoken's claim reader stops inside of (its error is then about the JSON text).
        format!(r#"{{"exp":[{exp}],"iss":"i","aud":"a"}}"#),
        format!(r#"{{"exp":{exp},"nbf":{{"a":1}},"iss":"i","aud":"a"}}"#),
        format!(r#"{{"exp":{exp},"sub":[1],"iss":"i","aud":"a"}}"#),
        format!(r#"{{"exp":{exp},"sub":5,"iss":{{"x":1}},"aud":"a"}}"#),
        format!(r#"{{"exp":{exp},"sub":true,"nbf":null,"iss":"i","aud":"a"}}"#),
        r#"{"exp":true,"nbf":"x","iss":"i","aud":"a"}"#.to_owned(),
    ];
    let headers = [
        r#"{"alg":"ALG","typ":"JWT"}"#,
        r#"{"alg":"ALG","typ":5}"#,
        r#"{"alg":"ALG","x5t":[]}"#,
        r#"{"alg":"ALG","kid":"k","typ":"JWT"}"#,
        r#"{"alg":"ALG","kid":null,"typ":null}"#,
        r#"{"alg":"ALG","typ":"JWT","typ":"x"}"#,
        r#"{"alg":"ALG","typ":"J\u0057T"}"#,
        r#"{"alg":"ALG","foo":5}"#,
        r#"{"alg":"ALG","foo":"bar"}"#,
    ];
    for (alg, enc, dec) in &keys {
        let name = crate::alg::name(*alg).expect("named");
        for m in [mode(Some("i"), Some(&["a"]), 0), mode(None, None, 0)] {
            for (i, h) in headers.iter().enumerate() {
                let h = b64(&h.replace("ALG", name));
                for p in &payloads {
                    let input = format!("{h}.{}", b64(p));
                    let sig =
                        jsonwebtoken::crypto::sign(input.as_bytes(), enc, *alg).expect("sign");
                    let _ = both_paths(&m, &format!("{input}.{sig}"), dec, *alg, now());
                    // A bad signature, a signature that is not base64url, a payload that is not base64url.
                    let bad = format!("{input}.{}", b64("not the signature"));
                    let bad = both_paths(&m, &bad, dec, *alg, now()).map_err(|d| d.reason);
                    // Behind a header jsonwebtoken refuses, the header's error comes first.
                    if i == 0 {
                        assert_eq!(bad, Err(Reason::InvalidSignature));
                    }
                    let _ = both_paths(&m, &format!("{input}.@@"), dec, *alg, now());
                    let _ = both_paths(&m, &format!("{h}.@@.{sig}"), dec, *alg, now());
                }
            }
        }
        // The key's algorithms decide: a token naming another is refused the same way by both.
        let other = if *alg == Algorithm::HS256 {
            Algorithm::HS384
        } else {
            Algorithm::PS256
        };
        let input = format!(
            "{}.{}",
            b64(&format!(
                r#"{{"alg":"{}"}}"#,
                crate::alg::name(other).expect("named")
            )),
            b64(&format!(r#"{{"exp":{exp}}}"#))
        );
        let parsed = parse_header_full(&format!("{input}.sig"), false).expect("header");
        let v = Verifier::new(&mode(None, None, 0));
        let prepared = VerifyingKey::new(dec.clone(), vec![*alg]);
        assert_eq!(
            v.verify_prepared(&format!("{input}.sig"), &parsed, &prepared, now()),
            v.verify(&format!("{input}.sig"), &parsed.header, dec, &[*alg], now())
        );
    }
}

fn now() -> u64 {
    crate::clock::unix_now()
}

#[test]
fn item4_non_string_aud_is_invalid_audience_without_a_configured_audience() {
    let m = mode(None, None, 60);
    let exp = now() + 600;
    // Control: no `aud` at all passes.
    assert!(verify_claims(&m, &serde_json::json!({"exp": exp})).is_ok());
    for aud in [
        serde_json::json!(5),
        serde_json::json!([1, 2]),
        serde_json::json!({"a": 1}),
        serde_json::json!(null),
        serde_json::json!(true),
        serde_json::json!([]),
        serde_json::json!("api"),
    ] {
        let e = verify_claims(&m, &serde_json::json!({"exp": exp, "aud": aud}))
            .expect_err(&format!("aud {aud} without a configured audience"));
        assert_eq!(
            e.reason,
            Reason::InvalidAudience,
            "aud {aud}: {}",
            e.message
        );
    }
}

#[test]
fn item4_malformed_aud_is_invalid_audience_with_a_configured_audience() {
    let m = mode(None, Some(&["api"]), 60);
    let exp = now() + 600;
    assert!(verify_claims(&m, &serde_json::json!({"exp": exp, "aud": "api"})).is_ok());
    assert!(verify_claims(&m, &serde_json::json!({"exp": exp, "aud": ["x", "api"]})).is_ok());
    for aud in [
        serde_json::json!(5),
        serde_json::json!(["api", 1]),
        serde_json::json!({"api": 1}),
        serde_json::json!(null),
    ] {
        let e = verify_claims(&m, &serde_json::json!({"exp": exp, "aud": aud}))
            .expect_err(&format!("aud {aud}"));
        assert_eq!(
            e.reason,
            Reason::InvalidAudience,
            "aud {aud}: {}",
            e.message
        );
    }
}

#[test]
fn item5_iss_must_be_the_configured_string_not_an_array() {
    let iss = "https://issuer.example";
    let m = mode(Some(iss), None, 60);
    let exp = now() + 600;
    assert!(verify_claims(&m, &serde_json::json!({"exp": exp, "iss": iss})).is_ok());
    for bad in [
        serde_json::json!([iss]),
        serde_json::json!(["https://evil.example", iss]),
        serde_json::json!({"iss": iss}),
        serde_json::json!(5),
        serde_json::json!(null),
        serde_json::json!("https://evil.example"),
    ] {
        let e = verify_claims(&m, &serde_json::json!({"exp": exp, "iss": bad}))
            .expect_err(&format!("iss {bad}"));
        assert_eq!(e.reason, Reason::InvalidIssuer, "iss {bad}: {}", e.message);
    }
}

#[test]
fn item11_wrongly_typed_exp_nbf_iat_are_malformed_not_invalid_signature() {
    let m = mode(None, None, 60);
    let exp = now() + 600;
    for claims in [
        serde_json::json!({"exp": "soon"}),
        serde_json::json!({"exp": -5}),
        serde_json::json!({"exp": [exp]}),
        serde_json::json!({"exp": null}),
        serde_json::json!({"exp": exp, "nbf": "now"}),
        serde_json::json!({"exp": exp, "nbf": {"t": 1}}),
        serde_json::json!({"exp": exp, "iat": "then"}),
        serde_json::json!({"exp": exp, "iat": true}),
    ] {
        let e = verify_claims(&m, &claims).expect_err(&claims.to_string());
        assert_eq!(e.reason, Reason::MalformedToken, "{claims}: {}", e.message);
        assert_eq!(e.reason.code(), "malformed_token");
    }
}

#[test]
fn item10_the_largest_allowed_skew_does_not_overflow() {
    let leeway = crate::config::load::MAX_ALLOWED_SKEW_SECS;
    let m = mode(None, None, leeway);
    let t = now();
    // Within the leeway on every side: accepted; past it: refused, never a panic or a wrap.
    let ok =
        serde_json::json!({"exp": t - leeway + 5, "nbf": t + leeway - 5, "iat": t + leeway - 5});
    assert!(verify_claims(&m, &ok).is_ok());
    let late = serde_json::json!({"exp": t - leeway - 5});
    assert_eq!(
        verify_claims(&m, &late).unwrap_err().reason,
        Reason::Expired
    );
    let early = serde_json::json!({"exp": t + 600, "iat": t + leeway + 5});
    assert_eq!(
        verify_claims(&m, &early).unwrap_err().reason,
        Reason::IssuedInFuture
    );
    // A `JwtMode` not from the loader: a huge leeway is held to the same bound.
    let huge = mode(None, None, u64::MAX);
    let old = serde_json::json!({"exp": t - leeway - 5});
    assert_eq!(
        verify_claims(&huge, &old).unwrap_err().reason,
        Reason::Expired
    );
    let future = serde_json::json!({"exp": t + 600, "nbf": t + leeway + 5});
    assert_eq!(
        verify_claims(&huge, &future).unwrap_err().reason,
        Reason::NotYetValid
    );
}

#[test]
fn exp_and_nbf_are_judged_at_the_given_time_not_the_system_clock() {
    let m = mode(None, None, 0);
    let t = 1_000_000_000;
    let claims = serde_json::json!({"exp": t + 100, "nbf": t - 100});
    assert!(verify_claims_at(&m, &claims, t).is_ok());
    let late = verify_claims_at(&m, &claims, t + 101).unwrap_err();
    assert_eq!(
        (late.reason, &*late.message),
        (Reason::Expired, "JWT validation error: ExpiredSignature")
    );
    let early = verify_claims_at(&m, &claims, t - 101).unwrap_err();
    assert_eq!(
        (early.reason, &*early.message),
        (Reason::NotYetValid, "token is not valid yet (nbf)")
    );
    // A clock near zero: `now - leeway` saturates instead of wrapping.
    let lenient = mode(None, None, 60);
    assert!(verify_claims_at(&lenient, &serde_json::json!({"exp": 30}), 10).is_ok());
}

#[test]
fn times_are_checked_before_issuer_and_audience_as_jsonwebtoken_did() {
    let iss = "https://issuer.example";
    let m = mode(Some(iss), Some(&["api"]), 0);
    let t = now();
    let e = verify_claims(
        &m,
        &serde_json::json!({"exp": t - 10, "iss": "https://evil.example", "aud": "other"}),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::Expired);
    let e = verify_claims(
        &m,
        &serde_json::json!({"exp": t + 600, "nbf": "soon", "iss": "https://evil.example", "aud": "api"}),
    )
    .unwrap_err();
    assert_eq!(
        (e.reason, &*e.message),
        (
            Reason::MalformedToken,
            "JWT validation error: `nbf` is not a number"
        )
    );
    // An issuer array holding the issuer passes the registered-claim check, so a wrong audience is named first.
    let e = verify_claims(
        &m,
        &serde_json::json!({"exp": t + 600, "iss": [iss], "aud": ["other"]}),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::InvalidAudience);
    let e = verify_claims(
        &m,
        &serde_json::json!({"exp": t + 600, "iss": [iss], "aud": "api"}),
    )
    .unwrap_err();
    assert_eq!(e.reason, Reason::InvalidIssuer);
}
