//! A fixed JWT key from its material: an HMAC secret as bytes, or a public key PEM checked against its algorithm
//! (label, EC curve) and parsed. PEM whose line breaks were lost (a one-line environment variable) is re-flowed.

use jsonwebtoken::{Algorithm, DecodingKey};

/// Why a fixed key was refused. The texts are constants: none repeats the key or anything read from it.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum KeyProblem {
    EmptySecret,
    /// Not a public key PEM for the algorithm, and why.
    Pem(&'static str),
}

/// Parse a fixed key for its algorithm.
pub(super) fn fixed_key(alg: Algorithm, material: &str) -> Result<DecodingKey, KeyProblem> {
    if crate::alg::is_hmac(alg) {
        if material.is_empty() {
            return Err(KeyProblem::EmptySecret);
        }
        return Ok(DecodingKey::from_secret(material.as_bytes()));
    }
    let pem = reflow_pem(material);
    // A private key here would verify nothing and leak a secret into the config.
    let label_ok = pem.starts_with("-----BEGIN PUBLIC KEY-----")
        || pem.starts_with("-----BEGIN RSA PUBLIC KEY-----");
    if !label_ok {
        return Err(KeyProblem::Pem("expected -----BEGIN PUBLIC KEY-----"));
    }
    if let Some(want) = ec_curve_oid(alg)
        && !pem_der(&pem).is_some_and(|der| der.windows(want.len()).any(|w| w == want))
    {
        return Err(KeyProblem::Pem("the key is on another curve"));
    }
    let res = match alg {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
        _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
    };
    // The decoder's error is left out: a PEM or base64 error can quote the input (a label, an offending byte).
    res.map_err(|_| KeyProblem::Pem("the key does not parse"))
}

/// The DER OID of the curve an ECDSA algorithm requires.
fn ec_curve_oid(alg: Algorithm) -> Option<&'static [u8]> {
    match alg {
        // 1.2.840.10045.3.1.7 (P-256) and 1.3.132.0.34 (P-384).
        Algorithm::ES256 => Some(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
        Algorithm::ES384 => Some(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
        _ => None,
    }
}

/// The DER bytes of a (re-flowed) PEM.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Put a PEM back into lines: `-----BEGIN X-----`, base64 body in 64-character lines, `-----END X-----`.
fn reflow_pem(text: &str) -> String {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("-----BEGIN ") else {
        return t.to_owned();
    };
    let Some(hdr_end) = rest.find("-----") else {
        return t.to_owned();
    };
    let label = &rest[..hdr_end];
    let after = &rest[hdr_end + 5..];
    let footer = format!("-----END {label}-----");
    let Some(body_end) = after.find(&footer) else {
        return t.to_owned();
    };
    let body: String = after[..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&footer);
    out.push('\n');
    out
}
