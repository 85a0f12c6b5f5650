//! JWT verification: jsonwebtoken for the signature and the registered claims, plus the stricter checks of
//! policy §4 (header features refused, `nbf` and `iat` enforced, `iss`/`aud` required when configured, duplicate
//! JSON keys rejected). Pure and synchronous: the key has already been chosen by the caller.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use super::reason::{Deny, Reason};
use super::strict_json::StrictValue;
use crate::config::compiled::JwtMode;

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
    #[serde(default)]
    crit: Option<IgnoredAny>,
    #[serde(default)]
    jku: Option<IgnoredAny>,
    #[serde(default)]
    x5u: Option<IgnoredAny>,
    #[serde(default)]
    jwk: Option<IgnoredAny>,
    #[serde(default)]
    x5c: Option<IgnoredAny>,
}

/// A decoded, checked token header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// The algorithm named by the token (to be matched against the key's, never trusted alone).
    pub alg: Algorithm,
    /// Key id.
    pub kid: Option<String>,
}

/// Decode and check the header. `jwks` selects the reference's message family for undecodable headers.
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
    if raw.crit.is_some() {
        return Err(Deny::new(
            Reason::UnsupportedHeader,
            "the token header carries `crit`, which is not supported",
        ));
    }
    for (present, name) in [
        (raw.jku.is_some(), "jku"),
        (raw.x5u.is_some(), "x5u"),
        (raw.jwk.is_some(), "jwk"),
        (raw.x5c.is_some(), "x5c"),
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
}

impl Verifier {
    /// Build the `Validation` of every algorithm for this mode's issuer, audience and leeway.
    pub fn new(mode: &JwtMode) -> Self {
        let mut validations = HashMap::new();
        for alg in ALL_ALGS {
            let mut v = Validation::new(alg);
            v.leeway = mode.leeway;
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
            leeway: mode.leeway,
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
        if let Some(iat) = claims.get("iat") {
            let Some(iat) = iat.as_f64() else {
                return Err(Deny::new(
                    Reason::MalformedToken,
                    "JWT validation error: `iat` is not a number",
                ));
            };
            if iat > (now + self.leeway) as f64 {
                return Err(Deny::new(
                    Reason::IssuedInFuture,
                    "the token was issued in the future (iat)",
                ));
            }
        }
        Ok(claims)
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
}
