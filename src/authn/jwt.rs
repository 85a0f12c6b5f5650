//! JWT verification: the signature with the key's aws-lc-rs key built at load (jsonwebtoken's path for what that
//! cannot judge exactly as jsonwebtoken would) and the presence of the required claims; the registered claims
//! checked here against the caller's `now`, plus stricter checks (header features refused, in `header`; `nbf` and
//! `iat` enforced, `iss`/`aud` required when configured, duplicate JSON keys rejected). Pure and synchronous: the key
//! has already been chosen by the caller.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

use super::reason::{Deny, Reason};
use crate::config::compiled::JwtMode;
use crate::config::load::MAX_ALLOWED_SKEW_SECS;
use crate::jwks::VerifyingKey;
use crate::strict_json::StrictValue;

#[path = "jwt_header.rs"]
mod header;

pub use header::{ParsedHeader, TokenHeader, parse_header, parse_header_full};

/// Per-mode verification settings, built once per config load (never per request).
pub struct Verifier {
    validations: HashMap<Algorithm, Validation>,
    leeway: u64,
    issuer: Option<String>,
    audience: Option<Vec<String>>,
}

impl Verifier {
    /// Build the `Validation` of every algorithm for this mode: jsonwebtoken checks the signature and that the
    /// required claims are there; the times, `iss` and `aud` are checked here, where `now` is the caller's (its
    /// own checks would read the system clock).
    pub fn new(mode: &JwtMode) -> Self {
        let mut required = vec!["exp"];
        if mode.issuer.is_some() {
            required.push("iss");
        }
        if mode.audience.is_some() {
            required.push("aud");
        }
        let mut validations = HashMap::new();
        for alg in crate::alg::ALL {
            let mut v = Validation::new(alg);
            v.validate_exp = false;
            v.validate_nbf = false;
            v.validate_aud = false;
            v.set_required_spec_claims(&required);
            validations.insert(alg, v);
        }
        Self {
            validations,
            // The loader bounds `allowedSkew`; this holds a `JwtMode` built any other way to the same bound.
            leeway: mode.leeway.min(MAX_ALLOWED_SKEW_SECS),
            issuer: mode.issuer.clone(),
            audience: mode.audience.clone(),
        }
    }

    /// Verify `token` (whose header is `header`) with `key`, which accepts `key_algs`, at Unix time `now`; return
    /// the payload.
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
        self.check_claims(claims, now)
    }

    /// [`Self::verify`] with the aws-lc-rs key `key` built when it was loaded: the same checks in jsonwebtoken's
    /// order (the header as jsonwebtoken reads it, the signature's base64, the signature, the payload's base64 and
    /// JSON, the required claims), each failing with jsonwebtoken's error, then ours. A token this path cannot
    /// judge exactly as jsonwebtoken does (no prepared check for its algorithm, a payload that is not a JSON object)
    /// takes [`Self::verify`].
    pub fn verify_prepared(
        &self,
        token: &str,
        parsed: &ParsedHeader,
        key: &VerifyingKey,
        now: u64,
    ) -> Result<Value, Deny> {
        let header = &parsed.header;
        let slow = || self.verify(token, header, &key.key, &key.algs, now);
        if !key.algs.contains(&header.alg) {
            return slow();
        }
        // `parse_header` saw exactly three parts.
        let (Some(first), Some(last)) = (token.find('.'), token.rfind('.')) else {
            return slow();
        };
        if first >= last {
            return slow();
        }
        let (message, signature) = (&token[..last], &token[last + 1..]);
        let payload = token.get(first + 1..last).unwrap_or_default();
        if !parsed.plain {
            let theirs = jsonwebtoken::decode_header(token).map_err(|e| map_error(e.kind()))?;
            if theirs.alg != header.alg {
                return slow();
            }
        }
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|e| map_error(&ErrorKind::Base64(e)))?;
        match key.check(header.alg, message.as_bytes(), &signature) {
            None => return slow(),
            Some(false) => return Err(map_error(&ErrorKind::InvalidSignature)),
            Some(true) => {}
        }
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|e| map_error(&ErrorKind::Base64(e)))?;
        let StrictValue(claims) = serde_json::from_slice(&payload)
            .map_err(|e| map_error(&ErrorKind::Json(std::sync::Arc::new(e))))?;
        // jsonwebtoken reads an array as its claims struct, field by field, and gives up inside an array or object
        // under `exp`, `nbf` or `sub` without skipping it, failing on the JSON text after it: its own errors.
        let nested = |c: &str| claims.get(c).is_some_and(|v| v.is_array() || v.is_object());
        if !claims.is_object() || nested("exp") || nested("nbf") || nested("sub") {
            return slow();
        }
        // jsonwebtoken's required claims: present and readable (`exp` a number it reads, `iss`/`aud` a string or
        // an array of strings).
        let missing = if !matches!(numeric_date(claims.get("exp")), NumericDate::Secs(_)) {
            Some("exp")
        } else if self.issuer.is_some() && any_string(claims.get("iss"), |_| true).is_none() {
            Some("iss")
        } else if self.audience.is_some() && any_string(claims.get("aud"), |_| true).is_none() {
            Some("aud")
        } else {
            None
        };
        if let Some(c) = missing {
            return Err(map_error(&ErrorKind::MissingRequiredClaim(c.to_owned())));
        }
        self.check_claims(claims, now)
    }

    /// The checks after jsonwebtoken's: times, `iss`, `aud`, `iat`.
    fn check_claims(&self, claims: Value, now: u64) -> Result<Value, Deny> {
        self.check_times(&claims, now)?;
        self.check_registered_iss_and_aud(&claims)?;
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

    /// `exp` and `nbf` against `now` and the leeway, with jsonwebtoken's reading of them (see [`numeric_date`])
    /// and in its order. Saturating: `now - leeway` must not wrap for a clock near zero.
    fn check_times(&self, claims: &Value, now: u64) -> Result<(), Deny> {
        let exp = numeric_date(claims.get("exp"));
        let nbf = numeric_date(claims.get("nbf"));
        if exp == NumericDate::Unreadable {
            return Err(map_error(&ErrorKind::InvalidClaimFormat("exp".into())));
        }
        if nbf == NumericDate::Unreadable {
            return Err(map_error(&ErrorKind::InvalidClaimFormat("nbf".into())));
        }
        if let NumericDate::Secs(exp) = exp
            && exp < now.saturating_sub(self.leeway)
        {
            return Err(map_error(&ErrorKind::ExpiredSignature));
        }
        if let NumericDate::Secs(nbf) = nbf
            && nbf > now.saturating_add(self.leeway)
        {
            return Err(map_error(&ErrorKind::ImmatureSignature));
        }
        Ok(())
    }

    /// jsonwebtoken's `iss` and `aud` checks, which it would run after the times: an `iss` (a string, or an
    /// array of strings) must contain the configured issuer; an `aud` (same shapes) must share a value with the
    /// configured audience, and is refused when none is configured. Other shapes and `null` are left to
    /// [`Self::check_iss_and_aud`].
    fn check_registered_iss_and_aud(&self, claims: &Value) -> Result<(), Deny> {
        if let Some(want) = &self.issuer
            && any_string(claims.get("iss"), |i| i == want) == Some(false)
        {
            return Err(map_error(&ErrorKind::InvalidIssuer));
        }
        let wanted = |a: &str| self.audience.iter().flatten().any(|w| w == a);
        if any_string(claims.get("aud"), wanted) == Some(false) {
            return Err(map_error(&ErrorKind::InvalidAudience));
        }
        Ok(())
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
            if self.audience.is_none() || !well_formed {
                return Err(Deny::new(
                    Reason::InvalidAudience,
                    "JWT validation error: InvalidAudience",
                ));
            }
        }
        Ok(())
    }
}

/// A registered time claim as jsonwebtoken reads it.
#[derive(Debug, PartialEq, Eq)]
enum NumericDate {
    Absent,
    /// Present but not a non-negative number that fits in a `u64` (`null`, a string, `-5`).
    Unreadable,
    /// Whole seconds (a fraction is rounded).
    Secs(u64),
}

fn numeric_date(v: Option<&Value>) -> NumericDate {
    let Some(v) = v else {
        return NumericDate::Absent;
    };
    let Some(n) = v.as_number() else {
        return NumericDate::Unreadable;
    };
    if let Some(u) = n.as_u64() {
        return NumericDate::Secs(u);
    }
    match n.as_f64() {
        Some(f) if n.is_f64() && f.is_finite() && f >= 0.0 && f < u64::MAX as f64 => {
            NumericDate::Secs(f.round() as u64)
        }
        _ => NumericDate::Unreadable,
    }
}

/// For a claim that is a string or an array of strings: whether any of its strings passes `f`. `None` for an
/// absent claim, `null` or any other shape.
fn any_string(v: Option<&Value>, f: impl Fn(&str) -> bool) -> Option<bool> {
    match v? {
        Value::String(s) => Some(f(s)),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            Some(items.iter().filter_map(Value::as_str).any(f))
        }
        _ => None,
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
#[path = "jwt_tests.rs"]
mod tests;
