//! Tokens and key sets from the committed test keys (tests/fixtures/vectors/keys): a token minted from a
//! vectors-style spec, a JWKS document from vectors-style key entries, and that document served on a mock.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

use super::mock::{MockServer, Route};
use super::now;

pub const KEYS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vectors/keys");

/// Where the tests serve a JWKS on their mock.
pub const JWKS_PATH: &str = "/.well-known/jwks.json";

pub fn read_key(name: &str, ext: &str) -> String {
    std::fs::read_to_string(format!("{KEYS_DIR}/{name}.{ext}")).expect("committed test key")
}

pub fn public_jwk(name: &str) -> Value {
    serde_json::from_str(&read_key(name, "jwk.json")).expect("committed JWK parses")
}

fn alg_of(s: &str) -> Option<Algorithm> {
    s.parse().ok()
}

/// Mint a token from a vectors-style spec (`alg`, `sign_with`, `secret`, `kid`, `header_extra`, `claims`, …).
pub fn mint(spec: &Value) -> String {
    let alg = spec["alg"].as_str().expect("token.alg");
    let mut header = json!({"alg": alg, "typ": "JWT"});
    if let Some(kid) = spec.get("kid").and_then(Value::as_str) {
        header["kid"] = kid.into();
    }
    if let Some(extra) = spec.get("header_extra").and_then(Value::as_object) {
        for (k, v) in extra {
            let v = match v
                .as_str()
                .and_then(|s| s.strip_prefix("{{jwk:"))
                .and_then(|s| s.strip_suffix("}}"))
            {
                Some(name) => public_jwk(name),
                None => v.clone(),
            };
            header[k] = v;
        }
    }
    let mut claims = spec.get("claims").cloned().unwrap_or_else(|| json!({}));
    let t = now();
    for (field, claim) in [("exp_in", "exp"), ("nbf_in", "nbf"), ("iat_in", "iat")] {
        if let Some(d) = spec.get(field).and_then(Value::as_i64) {
            claims[claim] = (t + d).into();
        }
    }
    let encode = |header: &Value, claims: &Value| {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        )
    };
    if let Some(pad_to) = spec.get("pad_to").and_then(Value::as_u64) {
        claims["pad"] = "".into();
        let base = encode(&header, &claims).len() + 90; // room for the signature
        let need = (pad_to as usize).saturating_sub(base) * 3 / 4 + 1;
        claims["pad"] = "p".repeat(need).into();
    }
    let input = encode(&header, &claims);
    let Some(algorithm) = alg_of(alg) else {
        return format!("{input}."); // alg none (any casing): empty signature
    };
    let key = if let Some(secret) = spec.get("secret").and_then(Value::as_str) {
        EncodingKey::from_secret(secret.as_bytes())
    } else if let Some(name) = spec.get("secret_from_public_pem").and_then(Value::as_str) {
        EncodingKey::from_secret(read_key(name, "pub.pem").as_bytes())
    } else {
        let name = spec["sign_with"].as_str().expect("token.sign_with");
        let pem = read_key(name, "pem");
        match algorithm {
            Algorithm::ES256 | Algorithm::ES384 => EncodingKey::from_ec_pem(pem.as_bytes()),
            Algorithm::EdDSA => EncodingKey::from_ed_pem(pem.as_bytes()),
            _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
        }
        .expect("committed private key parses")
    };
    let sig = jsonwebtoken::crypto::sign(input.as_bytes(), &key, algorithm).expect("sign");
    format!("{input}.{sig}")
}

/// A JWKS document from vectors-style key entries.
pub fn jwks_doc(keys: &[Value]) -> Value {
    let mut out = Vec::new();
    for k in keys {
        if let Some(secret) = k.get("oct").and_then(Value::as_str) {
            let mut j = json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(secret), "use": "sig"});
            for f in ["kid", "alg", "use", "key_ops"] {
                if let Some(v) = k.get(f) {
                    j[f] = v.clone();
                }
            }
            out.push(j);
            continue;
        }
        let name = k["key"].as_str().expect("jwks key name");
        let mut j = public_jwk(name);
        let default_alg = match j["kty"].as_str() {
            Some("EC") => "ES256",
            Some("OKP") => "EdDSA",
            _ => "RS256",
        };
        j["use"] = "sig".into();
        j["alg"] = default_alg.into();
        if let Some(obj) = j.as_object_mut() {
            for (f, v) in k.as_object().into_iter().flatten() {
                if f == "key" {
                    continue;
                }
                if v.is_null() {
                    obj.remove(f);
                } else {
                    obj.insert(f.clone(), v.clone());
                }
            }
        }
        out.push(j);
    }
    json!({"keys": out})
}

/// `token` as the bytes of an `Authorization: Bearer` value.
pub fn bearer(token: &str) -> Vec<u8> {
    format!("Bearer {token}").into_bytes()
}

/// The key entry most tests trust: the committed `rsa1` under kid `k1`.
pub fn rsa1_k1() -> Value {
    json!({"key": "rsa1", "kid": "k1"})
}

/// Serve the JWKS of `keys` (see [`jwks_doc`]) on `mock`'s [`JWKS_PATH`], with a `Cache-Control` if given.
pub fn serve_jwks(mock: &MockServer, keys: &[Value], cache_control: Option<&str>) {
    let mut route = Route::json(200, &jwks_doc(keys));
    if let Some(cc) = cache_control {
        route.headers.push(("Cache-Control".into(), cc.into()));
    }
    mock.set(JWKS_PATH, route);
}
