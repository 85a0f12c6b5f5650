//! A key as authn verifies with it: jsonwebtoken's `DecodingKey` (kept for the rare tokens whose exact error only
//! jsonwebtoken's own path gives) and, built once when the key is parsed or the config loaded, an aws-lc-rs
//! verification key for each algorithm the key accepts. Building the aws-lc key is a fair share of one RS256
//! verification; jsonwebtoken builds it again for every token.

use aws_lc_rs::hmac;
use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

/// A key and the algorithms a token signed with it may name.
pub struct VerifyingKey {
    pub key: DecodingKey,
    /// Accepted algorithms (a JWK's `alg` alone when present, else its key type's family; a fixed key's one).
    pub algs: Vec<Algorithm>,
    /// One check per accepted algorithm, `None` where aws-lc-rs refused the key material (every token then takes
    /// jsonwebtoken's path, which refuses it with jsonwebtoken's own error, as before).
    checks: Vec<(Algorithm, Option<SigCheck>)>,
}

/// A signature check with its key already parsed.
enum SigCheck {
    Public(ParsedPublicKey),
    Hmac(Box<hmac::Key>),
}

impl VerifyingKey {
    /// The key and its algorithms, with each algorithm's aws-lc-rs key built now.
    pub fn new(key: DecodingKey, algs: Vec<Algorithm>) -> Self {
        let checks = algs
            .iter()
            .map(|&a| (a, SigCheck::build(&key, a)))
            .collect();
        Self { key, algs, checks }
    }

    /// Check `signature` over `message` for a token naming `alg`: `None` when this key has no prepared check for
    /// `alg` (not one of its algorithms, or material aws-lc-rs refused), so the caller takes jsonwebtoken's path.
    pub fn check(&self, alg: Algorithm, message: &[u8], signature: &[u8]) -> Option<bool> {
        let (_, check) = self.checks.iter().find(|(a, _)| *a == alg)?;
        Some(check.as_ref()?.verify(message, signature))
    }
}

impl SigCheck {
    /// The aws-lc-rs key jsonwebtoken's aws-lc verifier would build for `alg` from `key`, parsed by the same
    /// aws-lc-rs function; `None` for a family mismatch or material it refuses.
    fn build(key: &DecodingKey, alg: Algorithm) -> Option<Self> {
        if key.family() != alg.family() {
            return None;
        }
        let public = |params: &'static dyn sig::VerificationAlgorithm| match key.kind() {
            DecodingKeyKind::SecretOrDer(der) => ParsedPublicKey::new(params, der).ok(),
            DecodingKeyKind::RsaModulusExponent { .. } => None,
        };
        let rsa = |params: &'static sig::RsaParameters| match key.kind() {
            DecodingKeyKind::SecretOrDer(der) => ParsedPublicKey::new(params, der).ok(),
            DecodingKeyKind::RsaModulusExponent { n, e } => RsaPublicKeyComponents { n, e }
                .to_parsed_public_key(params)
                .ok(),
        };
        let hmac = |h: hmac::Algorithm| match key.kind() {
            DecodingKeyKind::SecretOrDer(secret) => {
                Some(Self::Hmac(Box::new(hmac::Key::new(h, secret))))
            }
            DecodingKeyKind::RsaModulusExponent { .. } => None,
        };
        match alg {
            Algorithm::HS256 => hmac(hmac::HMAC_SHA256),
            Algorithm::HS384 => hmac(hmac::HMAC_SHA384),
            Algorithm::HS512 => hmac(hmac::HMAC_SHA512),
            Algorithm::RS256 => rsa(&sig::RSA_PKCS1_2048_8192_SHA256).map(Self::Public),
            Algorithm::RS384 => rsa(&sig::RSA_PKCS1_2048_8192_SHA384).map(Self::Public),
            Algorithm::RS512 => rsa(&sig::RSA_PKCS1_2048_8192_SHA512).map(Self::Public),
            Algorithm::PS256 => rsa(&sig::RSA_PSS_2048_8192_SHA256).map(Self::Public),
            Algorithm::PS384 => rsa(&sig::RSA_PSS_2048_8192_SHA384).map(Self::Public),
            Algorithm::PS512 => rsa(&sig::RSA_PSS_2048_8192_SHA512).map(Self::Public),
            Algorithm::ES256 => public(&sig::ECDSA_P256_SHA256_FIXED).map(Self::Public),
            Algorithm::ES384 => public(&sig::ECDSA_P384_SHA384_FIXED).map(Self::Public),
            Algorithm::EdDSA => public(&sig::ED25519).map(Self::Public),
            // An algorithm jsonwebtoken adds later: its own path judges it.
            _ => None,
        }
    }

    fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Public(k) => k.verify_sig(message, signature).is_ok(),
            // Constant-time comparison, as jsonwebtoken's own HMAC check.
            Self::Hmac(k) => hmac::verify(k, message, signature).is_ok(),
        }
    }
}

#[cfg(test)]
#[path = "verifying_key_tests.rs"]
mod tests;
