//! The prepared checks answer as jsonwebtoken's own verification does, for every family and both outcomes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};

use super::VerifyingKey;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vectors/keys/");

fn read(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DIR}{name}")).expect("committed key")
}

/// Sign `message` with `enc` under `alg`, then check the signature and a tampered one with the prepared key and
/// with jsonwebtoken; both must agree, and accept only the untampered one.
fn agree(enc: &EncodingKey, dec: DecodingKey, algs: &[Algorithm]) {
    let key = VerifyingKey::new(dec.clone(), algs.to_vec());
    let message = b"eyJhbGciOiJ4In0.eyJzdWIiOiIxIn0";
    for &alg in algs {
        let sig_b64 = jsonwebtoken::crypto::sign(message, enc, alg).expect("sign");
        let sig = URL_SAFE_NO_PAD.decode(&sig_b64).expect("base64url");
        let mut bad = sig.clone();
        bad[0] ^= 1;
        for (s, want) in [(&sig, true), (&bad, false)] {
            let theirs =
                jsonwebtoken::crypto::verify(&URL_SAFE_NO_PAD.encode(s), message, &dec, alg)
                    .unwrap_or(false);
            assert_eq!(theirs, want, "{alg:?}: jsonwebtoken");
            assert_eq!(key.check(alg, message, s), Some(want), "{alg:?}: prepared");
        }
    }
}

#[test]
fn prepared_checks_agree_with_jsonwebtoken() {
    let rsa_enc = EncodingKey::from_rsa_pem(&read("rsa1.pem")).expect("rsa1");
    let rsa_pem = DecodingKey::from_rsa_pem(&read("rsa1.pub.pem")).expect("rsa1 pub");
    agree(&rsa_enc, rsa_pem, &crate::alg::RSA);
    let jwk: jsonwebtoken::jwk::Jwk =
        serde_json::from_slice(&read("rsa1.jwk.json")).expect("rsa1 JWK");
    agree(
        &rsa_enc,
        DecodingKey::from_jwk(&jwk).expect("JWK"),
        &crate::alg::RSA,
    );
    let ec = EncodingKey::from_ec_pem(&read("p256.pem")).expect("p256");
    agree(
        &ec,
        DecodingKey::from_ec_pem(&read("p256.pub.pem")).expect("p256 pub"),
        &[Algorithm::ES256],
    );
    let ed = EncodingKey::from_ed_pem(&read("ed25519.pem")).expect("ed25519");
    agree(
        &ed,
        DecodingKey::from_ed_pem(&read("ed25519.pub.pem")).expect("ed pub"),
        &[Algorithm::EdDSA],
    );
    let secret = b"a secret of thirty-two bytes!!!!";
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        agree(
            &EncodingKey::from_secret(secret),
            DecodingKey::from_secret(secret),
            &[alg],
        );
    }
}

#[test]
fn no_prepared_check_outside_the_keys_algorithms_or_for_refused_material() {
    let rsa = DecodingKey::from_rsa_pem(&read("rsa1.pub.pem")).expect("rsa1 pub");
    let key = VerifyingKey::new(rsa, vec![Algorithm::RS256]);
    assert_eq!(key.check(Algorithm::PS256, b"m", b"s"), None);
    // An RSA algorithm over a secret: jsonwebtoken refuses the pair, so the prepared path must not judge it.
    let odd = VerifyingKey::new(DecodingKey::from_secret(b"k"), vec![Algorithm::RS256]);
    assert_eq!(odd.check(Algorithm::RS256, b"m", b"s"), None);
    let junk = VerifyingKey::new(
        DecodingKey::from_rsa_raw_components(&[0], &[1]),
        vec![Algorithm::RS256],
    );
    assert_eq!(junk.check(Algorithm::RS256, b"m", b"s"), None);
}
