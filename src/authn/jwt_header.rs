//! The JOSE header of a token: decoded and checked before any key is looked up (header features refused, the
//! algorithm a known one, the `kid` bounded, duplicate members rejected), and whether it has the plain shape that
//! lets [`super::Verifier::verify_prepared`] skip jsonwebtoken's own reading of it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::Value;

use crate::authn::reason::{Deny, Reason};

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

/// A header of the usual shape: `alg`, and `kid` and `typ` strings or null, nothing else, no escapes, no member
/// twice. jsonwebtoken's `Header` reads every such header, so its `decode_header` (a third of the cost of the
/// claims) need not run to learn that.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlainHeader<'a> {
    alg: &'a str,
    #[serde(default, borrow)]
    kid: Option<&'a str>,
    // Read only to be checked for shape.
    #[serde(default, borrow, rename = "typ")]
    _typ: Option<&'a str>,
}

/// A decoded, checked token header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHeader {
    /// The algorithm named by the token (to be matched against the key's, never trusted alone).
    pub alg: Algorithm,
    pub kid: Option<String>,
}

/// A checked header, and whether it is a [`PlainHeader`] (jsonwebtoken's header reader need not run for it).
pub struct ParsedHeader {
    pub header: TokenHeader,
    pub(super) plain: bool,
}

/// Decode and check the header. `jwks` selects the Hasura engine's message family for undecodable headers.
pub fn parse_header(token: &str, jwks: bool) -> Result<TokenHeader, Deny> {
    parse_header_full(token, jwks).map(|p| p.header)
}

/// [`parse_header`], also telling whether the header has the plain shape, for [`super::Verifier::verify_prepared`].
pub fn parse_header_full(token: &str, jwks: bool) -> Result<ParsedHeader, Deny> {
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
    // The plain shape carries none of the members refused below: only the algorithm and the `kid` are checked, as
    // below and in the same order.
    if let Ok(p) = serde_json::from_slice::<PlainHeader>(&bytes) {
        let alg = known_alg(p.alg)?;
        check_kid(p.kid)?;
        let header = TokenHeader {
            alg,
            kid: p.kid.map(str::to_owned),
        };
        return Ok(ParsedHeader {
            header,
            plain: true,
        });
    }
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
    let alg = known_alg(&raw.alg)?;
    check_kid(raw.kid.as_deref())?;
    Ok(ParsedHeader {
        header: TokenHeader { alg, kid: raw.kid },
        plain: false,
    })
}

/// Exact, case-sensitive names: `none`, `None`, `NONE`, `nOnE` are all unknown.
fn known_alg(name: &str) -> Result<Algorithm, Deny> {
    crate::alg::by_name(name).ok_or_else(|| {
        Deny::new(
            Reason::InvalidAlgorithm,
            format!("Error while decoding the JWT: unsupported algorithm {name:?}"),
        )
    })
}

fn check_kid(kid: Option<&str>) -> Result<(), Deny> {
    if kid.is_some_and(|k| k.len() > MAX_KID) {
        return Err(Deny::new(
            Reason::MalformedToken,
            format!("the token's `kid` is longer than {MAX_KID} bytes"),
        ));
    }
    Ok(())
}
