//! The JWS algorithms authgate verifies, in one table: their exact names (case-sensitive, so `none` and its
//! spellings are unknown), the RSA family a JWK of type `RSA` accepts, and which are symmetric.

use jsonwebtoken::Algorithm;

/// Every algorithm a token or a config may name, with its JOSE name.
const TABLE: [(Algorithm, &str); 12] = [
    (Algorithm::HS256, "HS256"),
    (Algorithm::HS384, "HS384"),
    (Algorithm::HS512, "HS512"),
    (Algorithm::ES256, "ES256"),
    (Algorithm::ES384, "ES384"),
    (Algorithm::RS256, "RS256"),
    (Algorithm::RS384, "RS384"),
    (Algorithm::RS512, "RS512"),
    (Algorithm::PS256, "PS256"),
    (Algorithm::PS384, "PS384"),
    (Algorithm::PS512, "PS512"),
    (Algorithm::EdDSA, "EdDSA"),
];

/// Every algorithm a token or a config may name.
pub const ALL: [Algorithm; TABLE.len()] = {
    let mut out = [Algorithm::HS256; TABLE.len()];
    let mut i = 0;
    while i < TABLE.len() {
        out[i] = TABLE[i].0;
        i += 1;
    }
    out
};

/// What an RSA key verifies (PKCS#1 v1.5 and PSS).
pub const RSA: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// The JOSE name (`None` for an algorithm authgate does not verify).
pub fn name(a: Algorithm) -> Option<&'static str> {
    TABLE.iter().find(|(x, _)| *x == a).map(|(_, n)| *n)
}

/// The algorithm of an exact JOSE name.
pub fn by_name(s: &str) -> Option<Algorithm> {
    TABLE.iter().find(|(_, n)| *n == s).map(|(a, _)| *a)
}

/// HMAC: a shared secret, never a published key.
pub fn is_hmac(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_exact() {
        for a in ALL {
            assert_eq!(name(a).and_then(by_name), Some(a));
        }
        for bad in ["none", "None", "NONE", "nOnE", "rs256", "HS256 ", ""] {
            assert_eq!(by_name(bad), None, "{bad:?}");
        }
        assert!(RSA.iter().all(|a| ALL.contains(a) && !is_hmac(*a)));
        assert_eq!(ALL.iter().filter(|a| is_hmac(**a)).count(), 3);
    }
}
