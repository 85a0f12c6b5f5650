//! JWT verification: jsonwebtoken for the signature and the registered claims, plus stricter checks (header
//! features refused, `nbf` and `iat` enforced, `iss`/`aud` required when configured, duplicate JSON keys
//! rejected). Pure and synchronous: the key has already been chosen by the caller.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::reason::{Deny, Reason};
use crate::config::compiled::JwtMode;
use crate::config::load::MAX_ALLOWED_SKEW_SECS;
use crate::strict_json::StrictValue;

/// Largest encoded JOSE header accepted (a Clerk header is under 100 bytes).
const MAX_HEADER_B64: usize = 2048;
/// Longest `kid` accepted; it is only ever a map key.
const MAX_KID: usize = 256;

/// The parts of a token header we act on. Unknown members are ignored; duplicate members are an error.
#[derive(Debug, Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default)]
    cty: Option<Value>,
    // Presence decides, whatever the value: `"crit": null` names `crit` as much as `"crit": ["exp"]` does (an
    // `Option` would read null as absent).
    #[serde(default, deserialize_with = "present")]
    crit: bool,
    #[serde(default, deserialize_with = "present")]
    jku: bool,
    #[serde(default, deserialize_with = "present")]
    x5u: bool,
    #[serde(default, deserialize_with = "present")]
    jwk: bool,
    #[serde(default, deserialize_with = "present")]
    x5c: bool,
}

/// Called only for a member that is in the header (an absent one takes the `false` default): any value, `null`
/// included, means present.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    IgnoredAny::deserialize(d).map(|_| true)
}

/// A decoded, checked token header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// The algorithm named by the token (to be matched against the key's, never trusted alone).
    pub alg: Algorithm,
    pub kid: Option<String>,
}

/// Decode and check the header. `jwks` selects the Hasura engine's message family for undecodable headers.
pub fn parse_header(token: &str, jwks: bool) -> Result<TokenHeader, Deny> {
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Deny::new(
            Reason::MalformedToken,
            "JWT validation error: InvalidToken",
        ));
    };
    let undecodable = |e: String| {
        let msg = if jwks {
            format!("Error decoding the `Authorization` header - {e}")
        } else {
            format!("Error while decoding the JWT: {e}")
        };
        Deny::new(Reason::MalformedToken, msg)
    };
    if h.len() > MAX_HEADER_B64 {
        return Err(undecodable(format!(
            "the token header is longer than {MAX_HEADER_B64} bytes"
        )));
    }
    let bytes = URL_SAFE_NO_PAD
        .decode(h)
        .map_err(|e| undecodable(format!("Base64 error: {e}")))?;
    let raw: RawHeader =
        serde_json::from_slice(&bytes).map_err(|e| undecodable(format!("JSON error: {e}")))?;
    if raw.crit {
        return Err(Deny::new(
            Reason::UnsupportedHeader,
            "the token header carries `crit`, which is not supported",
        ));
    }
    for (present, name) in [
        (raw.jku, "jku"),
        (raw.x5u, "x5u"),
        (raw.jwk, "jwk"),
        (raw.x5c, "x5c"),
    ] {
        if present {
            return Err(Deny::new(
                Reason::UnsupportedHeader,
                format!(
                    "the token header carries `{name}`; embedded or remote keys are never used"
                ),
            ));
        }
    }
    if let Some(cty) = &raw.cty
        && cty.as_str().is_some_and(|c| c.eq_ignore_ascii_case("JWT"))
    {
        return Err(Deny::new(
            Reason::UnsupportedHeader,
            "nested tokens (`cty: JWT`) are not supported",
        ));
    }
    let alg = parse_alg(&raw.alg).ok_or_else(|| {
        Deny::new(
            Reason::InvalidAlgorithm,
            format!(
                "Error while decoding the JWT: unsupported algorithm {:?}",
                raw.alg
            ),
        )
    })?;
    if raw.kid.as_ref().is_some_and(|k| k.len() > MAX_KID) {
        return Err(Deny::new(
            Reason::MalformedToken,
            format!("the token's `kid` is longer than {MAX_KID} bytes"),
        ));
    }
    Ok(TokenHeader { alg, kid: raw.kid })
}

/// Exact, case-sensitive algorithm names (so `none`, `None`, `NONE`, `nOnE` are all unknown).
fn parse_alg(s: &str) -> Option<Algorithm> {
    Some(match s {
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "EdDSA" => Algorithm::EdDSA,
        _ => return None,
    })
}

const ALL_ALGS: [Algorithm; 12] = [
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

/// Per-mode verification settings, built once per config load (never per request).
pub struct Verifier {
    validations: HashMap<Algorithm, Validation>,
    leeway: u64,
    issuer: Option<String>,
    audience_configured: bool,
}

impl Verifier {
    /// Build the `Validation` of every algorithm for this mode's issuer, audience and leeway.
    pub fn new(mode: &JwtMode) -> Self {
        let mut validations = HashMap::new();
        for alg in ALL_ALGS {
            let mut v = Validation::new(alg);
            // jsonwebtoken computes `now - leeway` and `now + leeway` unchecked; the loader bounds `allowedSkew`, and
            // this keeps a `JwtMode` built any other way from wrapping (or panicking) on every request.
            v.leeway = mode.leeway.min(MAX_ALLOWED_SKEW_SECS);
            v.validate_nbf = true;
            v.validate_exp = true;
            let mut required = vec!["exp"];
            if let Some(iss) = &mode.issuer {
                v.set_issuer(&[iss]);
                required.push("iss");
            }
            match &mode.audience {
                Some(aud) => {
                    v.set_audience(aud);
                    required.push("aud");
                }
                // No audience configured: jsonwebtoken then rejects any token carrying `aud`.
                None => v.validate_aud = true,
            }
            v.set_required_spec_claims(&required);
            validations.insert(alg, v);
        }
        Self {
            validations,
            leeway: mode.leeway.min(MAX_ALLOWED_SKEW_SECS),
            issuer: mode.issuer.clone(),
            audience_configured: mode.audience.is_some(),
        }
    }

    /// Verify `token` (whose header is `header`) with `key`, which accepts `key_algs`; return the payload.
    pub fn verify(
        &self,
        token: &str,
        header: &TokenHeader,
        key: &DecodingKey,
        key_algs: &[Algorithm],
        now: u64,
    ) -> Result<Value, Deny> {
        if !key_algs.contains(&header.alg) {
            return Err(Deny::new(
                Reason::InvalidAlgorithm,
                "Error while decoding the JWT: InvalidAlgorithm",
            ));
        }
        let validation = self
            .validations
            .get(&header.alg)
            .ok_or_else(|| Deny::new(Reason::Internal, "no validation for the algorithm"))?;
        let data = jsonwebtoken::decode::<StrictValue>(token, key, validation)
            .map_err(|e| map_error(e.kind()))?;
        let claims = data.claims.0;
        if !claims.is_object() {
            return Err(Deny::new(
                Reason::MalformedToken,
                "Error while decoding the JWT: the payload is not an object",
            ));
        }
        self.check_iss_and_aud(&claims)?;
        if let Some(iat) = claims.get("iat") {
            let Some(iat) = iat.as_f64() else {
                return Err(Deny::new(
                    Reason::MalformedToken,
                    "JWT validation error: `iat` is not a number",
                ));
            };
            if iat > now.saturating_add(self.leeway) as f64 {
                return Err(Deny::new(
                    Reason::IssuedInFuture,
                    "the token was issued in the future (iat)",
                ));
            }
        }
        Ok(claims)
    }

    /// What jsonwebtoken lets through and we do not. Its `iss` may be an array with one matching element;
    /// its `aud` that parses as neither a string nor an array of strings counts as absent, so `aud: 5` passed when
    /// no audience is configured. Here `iss` must be the configured string, and an `aud` of any other shape (or any
    /// `aud` at all without a configured audience) is refused.
    fn check_iss_and_aud(&self, claims: &Value) -> Result<(), Deny> {
        if let Some(want) = &self.issuer
            && claims.get("iss").and_then(Value::as_str) != Some(want.as_str())
        {
            return Err(Deny::new(
                Reason::InvalidIssuer,
                "JWT validation error: InvalidIssuer",
            ));
        }
        if let Some(aud) = claims.get("aud") {
            let well_formed = match aud {
                Value::String(_) => true,
                Value::Array(items) => items.iter().all(Value::is_string),
                _ => false,
            };
            if !self.audience_configured || !well_formed {
                return Err(Deny::new(
                    Reason::InvalidAudience,
                    "JWT validation error: InvalidAudience",
                ));
            }
        }
        Ok(())
    }
}

fn map_error(kind: &ErrorKind) -> Deny {
    let (reason, msg) = match kind {
        ErrorKind::InvalidToken => (
            Reason::MalformedToken,
            "JWT validation error: InvalidToken".to_owned(),
        ),
        ErrorKind::InvalidSignature => (
            Reason::InvalidSignature,
            "JWT validation error: InvalidSignature".to_owned(),
        ),
        ErrorKind::ExpiredSignature => (
            Reason::Expired,
            "JWT validation error: ExpiredSignature".to_owned(),
        ),
        ErrorKind::ImmatureSignature => (
            Reason::NotYetValid,
            "token is not valid yet (nbf)".to_owned(),
        ),
        ErrorKind::InvalidIssuer => (
            Reason::InvalidIssuer,
            "JWT validation error: InvalidIssuer".to_owned(),
        ),
        ErrorKind::InvalidAudience => (
            Reason::InvalidAudience,
            "JWT validation error: InvalidAudience".to_owned(),
        ),
        ErrorKind::MissingRequiredClaim(c) => {
            let reason = match c.as_str() {
                "iss" => Reason::InvalidIssuer,
                "aud" => Reason::InvalidAudience,
                _ => Reason::MalformedToken,
            };
            (
                reason,
                format!("JWT validation error: Missing required claim: {c}"),
            )
        }
        // A registered claim of the wrong type (`exp: "soon"`, `nbf: null`): the token is malformed, its signature
        // was fine (jsonwebtoken checks the signature first).
        ErrorKind::InvalidClaimFormat(c) => (
            Reason::MalformedToken,
            format!("JWT validation error: `{c}` is not a number"),
        ),
        ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => (
            Reason::InvalidAlgorithm,
            "Error while decoding the JWT: InvalidAlgorithm".to_owned(),
        ),
        ErrorKind::Base64(e) => (
            Reason::MalformedToken,
            format!("Error while decoding the JWT: Base64 error: {e}"),
        ),
        ErrorKind::Json(e) => (
            Reason::MalformedToken,
            format!("Error while decoding the JWT: JSON error: {e}"),
        ),
        ErrorKind::Utf8(e) => (
            Reason::MalformedToken,
            format!("Error while decoding the JWT: UTF-8 error: {e}"),
        ),
        other => (
            Reason::InvalidSignature,
            format!("Error while decoding the JWT: {other:?}"),
        ),
    };
    Deny::new(reason, msg)
}

/// The token's `exp` as whole seconds, when present and numeric.
pub fn exp_of(claims: &Value) -> Option<u64> {
    claims
        .get("exp")
        .and_then(Value::as_f64)
        .filter(|e| *e >= 0.0)
        .map(|e| e.round() as u64)
}

#[cfg(test)]
mod tests {
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
        let token = jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .expect("sign");
        let header = parse_header(&token, false).expect("header");
        Verifier::new(mode).verify(
            &token,
            &header,
            &DecodingKey::from_secret(SECRET),
            &[Algorithm::HS256],
            now(),
        )
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
        let ok = serde_json::json!({"exp": t - leeway + 5, "nbf": t + leeway - 5, "iat": t + leeway - 5});
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
}
