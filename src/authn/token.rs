//! Token extraction from the configured location (the `Authorization` bearer, a named header or a cookie), with
//! the Hasura engine's messages. Where it differs: the length is capped before anything is decoded, `Bearer` is
//! matched case-insensitively, a cookie is found anywhere in the `Cookie` header, and a `Header` location named
//! `Authorization` has one leading `Bearer ` removed.

use super::reason::{Deny, Reason};
use super::request::{AuthRequest, all_bytes, visible_ascii};
use crate::config::compiled::TokenLocation;

const BEARER_FORMAT: &str = "Error in parsing the Authorization header: The `Authorization` header is expected to be in the format of `Bearer <JWT>`";

/// Find the token. `max_bytes` caps its length before any decoding.
pub fn extract<'a>(
    req: &AuthRequest<'a>,
    loc: &TokenLocation,
    max_bytes: usize,
) -> Result<&'a str, Deny> {
    let token = locate(req, loc, max_bytes)?;
    if token.len() > max_bytes {
        Err(too_large(max_bytes))
    } else {
        Ok(token)
    }
}

fn locate<'a>(
    req: &AuthRequest<'a>,
    loc: &TokenLocation,
    max_bytes: usize,
) -> Result<&'a str, Deny> {
    match loc {
        TokenLocation::Bearer => {
            let raw = req.first("authorization").ok_or_else(|| {
                Deny::new(
                    Reason::MissingToken,
                    "JWT Authorization token source: Header name Authorization not found.",
                )
            })?;
            if raw.len() > max_bytes.saturating_add(64) {
                return Err(too_large(max_bytes));
            }
            if let Some(tok) = strip_bearer(raw) {
                return Ok(tok);
            }
            // Not a bearer value: bytes that are not visible ASCII are named first, then the format.
            ascii_header(raw, "Authorization", max_bytes)?;
            Err(Deny::new(Reason::MalformedToken, BEARER_FORMAT))
        }
        TokenLocation::Header(name) => {
            let raw = req.first(name).ok_or_else(|| {
                Deny::new(
                    Reason::MissingToken,
                    format!("JWT Authorization token source: Header name {name} not found."),
                )
            })?;
            let text = ascii_header(raw, name, max_bytes)?;
            if name.eq_ignore_ascii_case("authorization") {
                // Several published DDN examples configure `Header: Authorization` with a `Bearer` value.
                Ok(strip_bearer(text.as_bytes()).unwrap_or(text))
            } else {
                Ok(text)
            }
        }
        TokenLocation::Cookie(name) => {
            let mut seen = false;
            for raw in req.all("cookie") {
                seen = true;
                let text = ascii_header(raw, "Cookie", usize::MAX)?;
                if let Some(v) = find_cookie(text, name) {
                    return Ok(v);
                }
            }
            Err(Deny::new(
                Reason::MissingToken,
                if seen {
                    format!(
                        "JWT Authorization token source: cookie name {name} not found in the Cookie header"
                    )
                } else {
                    "JWT Authorization token source: Cookie header not found".to_owned()
                },
            ))
        }
    }
}

fn too_large(max: usize) -> Deny {
    Deny::new(
        Reason::TokenTooLarge,
        format!("the token is larger than {max} bytes"),
    )
}

fn ascii_header<'a>(raw: &'a [u8], name: &str, max_bytes: usize) -> Result<&'a str, Deny> {
    // The length check comes first: an oversized value is refused before it is looked at.
    if raw.len() > max_bytes.saturating_add(64) {
        return Err(too_large(max_bytes));
    }
    let text = visible_ascii(raw).ok_or_else(|| {
        Deny::new(
            Reason::InvalidHeader,
            format!("Error in parsing the {name} header: failed to convert header to a str"),
        )
    })?;
    Ok(text)
}

/// `Bearer <token>`: scheme case-insensitive, then spaces/tabs, then exactly one more word of visible ASCII. Works on
/// the raw bytes in one vectorisable pass over the token: it runs on every request, over tokens of a kilobyte or
/// more. `None` for anything else (the caller finds out what exactly is wrong); a `Some` means the whole value was
/// visible ASCII.
fn strip_bearer(raw: &[u8]) -> Option<&str> {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let start = raw.iter().position(|c| !is_ws(c))?;
    let end = raw.iter().rposition(|c| !is_ws(c))? + 1;
    let t = raw.get(start..end)?;
    if t.len() < 8 || !t[..6].eq_ignore_ascii_case(b"bearer") || !is_ws(&t[6]) {
        return None;
    }
    let tok_start = 6 + t[6..].iter().position(|c| !is_ws(c))?;
    let token = &t[tok_start..];
    if !all_bytes(token, |b| (0x21..=0x7e).contains(&b)) {
        return None;
    }
    std::str::from_utf8(token).ok()
}

/// The value of cookie `name` in one `Cookie` header (`a=1; b=2`), anywhere in it.
fn find_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (n, v) = pair.split_once('=')?;
        (n.trim_matches([' ', '\t']) == name).then(|| v.trim_matches([' ', '\t']))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req<'a>(h: &'a [(&'a str, &'a [u8])]) -> AuthRequest<'a> {
        AuthRequest {
            method: "GET",
            uri: "/",
            headers: h,
        }
    }

    #[test]
    fn bearer_forms() {
        assert_eq!(strip_bearer(b"Bearer abc"), Some("abc"));
        assert_eq!(strip_bearer(b"  bearer \t abc  "), Some("abc"));
        assert_eq!(strip_bearer(b"BEARER abc"), Some("abc"));
        assert_eq!(strip_bearer(b"Bearer"), None);
        assert_eq!(strip_bearer(b"Bearer a b"), None);
        assert_eq!(strip_bearer(b"Bearer_x"), None);
        assert_eq!(strip_bearer(b"Basic abc"), None);
    }

    #[test]
    fn cookie_anywhere() {
        let h: [(&str, &[u8]); 2] = [
            ("cookie", b"a=1; b=2"),
            ("cookie", b"x=1;  __session=tok ; y=2"),
        ];
        let loc = TokenLocation::Cookie("__session".into());
        assert_eq!(extract(&req(&h), &loc, 100), Ok("tok"));
        let loc = TokenLocation::Cookie("nope".into());
        let e = extract(&req(&h), &loc, 100).unwrap_err();
        assert_eq!(e.reason, Reason::MissingToken);
        assert!(
            e.message
                .contains("cookie name nope not found in the Cookie header")
        );
    }

    #[test]
    fn oversized_and_non_ascii() {
        let big = format!("Bearer {}", "a".repeat(500));
        let h: [(&str, &[u8]); 1] = [("authorization", big.as_bytes())];
        assert_eq!(
            extract(&req(&h), &TokenLocation::Bearer, 100)
                .unwrap_err()
                .reason,
            Reason::TokenTooLarge
        );
        let h: [(&str, &[u8]); 1] = [("authorization", "Bearer é".as_bytes())];
        assert_eq!(
            extract(&req(&h), &TokenLocation::Bearer, 100)
                .unwrap_err()
                .reason,
            Reason::InvalidHeader
        );
    }
}
