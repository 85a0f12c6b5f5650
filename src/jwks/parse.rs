//! A JWKS document to the keys authgate will verify with: only asymmetric signing keys of accepted sizes and
//! curves, each with a `kid` and an `alg` (when given) that fits its type.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use super::fetch::FetchError;
use super::key_source::VerifyingKey;

/// One usable key of a set.
#[derive(Clone)]
pub struct JwkEntry {
    pub key: Arc<VerifyingKey>,
    /// SHA-256 of the JWK as published: a key replaced under the same `kid` is a different key.
    pub fingerprint: [u8; 32],
}

/// Parse a JWKS body and keep only usable signing keys: at most `max_keys`, each with a `kid`, meant for
/// signatures (`use`/`key_ops`), asymmetric (RSA of 2048–4096 bits, P-256, P-384, Ed25519) and with an `alg` that
/// fits its type; the first key of a `kid` wins.
pub fn parse_jwks(body: &[u8], max_keys: usize) -> Result<HashMap<String, JwkEntry>, FetchError> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| FetchError::Parse(e.to_string()))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| FetchError::Parse("no `keys` array".into()))?;
    if keys.len() > max_keys {
        return Err(FetchError::TooManyKeys(keys.len(), max_keys));
    }
    let mut out: HashMap<String, JwkEntry> = HashMap::new();
    for k in keys {
        match usable_key(k) {
            Ok((kid, entry)) => {
                // The first key with a given kid wins, as in the Hasura engine.
                out.entry(kid).or_insert(entry);
            }
            Err(why) => {
                let kid = k.get("kid").and_then(Value::as_str).unwrap_or("");
                tracing::debug!(kid, why, "JWK skipped");
            }
        }
    }
    if out.is_empty() {
        return Err(FetchError::NoUsableKey);
    }
    Ok(out)
}

fn usable_key(k: &Value) -> Result<(String, JwkEntry), &'static str> {
    let s = |name: &str| k.get(name).and_then(Value::as_str);
    let kid = s("kid").ok_or("no kid")?;
    if s("use").is_some_and(|u| u != "sig") || k.get("use").is_some_and(|u| !u.is_string()) {
        return Err("use is not sig");
    }
    if let Some(ops) = k.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
        if !verify {
            return Err("key_ops without verify");
        }
    }
    let family: Vec<Algorithm> = match (s("kty"), s("crv")) {
        (Some("RSA"), _) => {
            let n = URL_SAFE_NO_PAD
                .decode(s("n").ok_or("no n")?)
                .map_err(|_| "bad n")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if !(2048..=4096).contains(&bits) {
                return Err("RSA modulus outside 2048..4096 bits");
            }
            crate::alg::RSA.to_vec()
        }
        (Some("EC"), Some("P-256")) => vec![Algorithm::ES256],
        (Some("EC"), Some("P-384")) => vec![Algorithm::ES384],
        (Some("OKP"), Some("Ed25519")) => vec![Algorithm::EdDSA],
        (Some("oct"), _) => return Err("symmetric key"),
        _ => return Err("unsupported key type"),
    };
    let algs = match s("alg") {
        None => family,
        Some(a) => {
            let alg = crate::alg::by_name(a).ok_or("unknown alg")?;
            if !family.contains(&alg) {
                return Err("alg does not fit the key type");
            }
            vec![alg]
        }
    };
    let jwk: Jwk = serde_json::from_value(k.clone()).map_err(|_| "not a JWK")?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "unusable JWK")?;
    let fingerprint = crate::hash::sha256(&[k.to_string().as_bytes()]);
    Ok((
        kid.to_owned(),
        JwkEntry {
            key: Arc::new(VerifyingKey::new(key, algs)),
            fingerprint,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_unusable_keys() {
        let rsa: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/vectors/keys/rsa1.jwk.json"
        ))
        .unwrap();
        let mut enc = rsa.clone();
        enc["kid"] = "enc".into();
        enc["use"] = "enc".into();
        let mut good = rsa.clone();
        good["kid"] = "good".into();
        let oct = serde_json::json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0", "alg": "HS256"});
        let doc = serde_json::json!({"keys": [enc, good, oct]});
        let set = parse_jwks(doc.to_string().as_bytes(), 32).unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), vec!["good"]);
        let only_bad = serde_json::json!({"keys": [serde_json::json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0"})]});
        assert!(matches!(
            parse_jwks(only_bad.to_string().as_bytes(), 32),
            Err(FetchError::NoUsableKey)
        ));
    }

    #[test]
    fn item19_rsa_keys_under_2048_bits_are_dropped() {
        let weak: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/rsa1024/rsa1024.jwk.json"
        ))
        .expect("weak JWK");
        let n = URL_SAFE_NO_PAD
            .decode(weak["n"].as_str().expect("n"))
            .expect("n is base64url");
        assert_eq!(n.len() * 8, 1024, "the fixture is an RSA-1024 key");
        let mut good: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/vectors/keys/rsa1.jwk.json"
        ))
        .expect("rsa1 JWK");
        good["kid"] = "good".into();
        // Also without `alg`: the filter looks at the modulus, not at what the JWK claims.
        let mut weak_no_alg = weak.clone();
        weak_no_alg["kid"] = "weak-no-alg".into();
        if let Some(o) = weak_no_alg.as_object_mut() {
            o.remove("alg");
        }
        let doc = serde_json::json!({"keys": [weak, good, weak_no_alg]});
        let set = parse_jwks(doc.to_string().as_bytes(), 32).expect("the RSA-2048 key is usable");
        assert_eq!(set.keys().collect::<Vec<_>>(), vec!["good"]);
        let only_weak = serde_json::json!({"keys": [doc["keys"][0].clone()]});
        assert!(matches!(
            parse_jwks(only_weak.to_string().as_bytes(), 32),
            Err(FetchError::NoUsableKey)
        ));
    }
}
