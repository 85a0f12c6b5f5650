//! What a decision tells the proxy, written once for every transport: the session headers of an allow, and the
//! status, headers and JSON body of a denial. `forward` (HTTP) and `ext_authz` (gRPC) each put these into their own
//! framing, so a denial over gRPC carries exactly the status, headers and body of the HTTP one.

use serde::Serialize;

use crate::authn::reason::{Deny, Reason};
use crate::authn::session::{ROLE_HEADER, Session};

/// A denial as every transport renders it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial<'a> {
    /// The HTTP status (`401`, `403`, `503`, …).
    pub status: u16,
    /// `WWW-Authenticate` (401 only).
    www_authenticate: Option<&'a str>,
    /// `Retry-After` (503 only).
    retry_after: bool,
    /// The GraphQL-style JSON error body.
    pub body: String,
}

impl Denial<'_> {
    /// The headers, in the order the HTTP answer has always sent them.
    pub fn headers(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            Some(("cache-control", "no-store")),
            self.www_authenticate.map(|w| ("www-authenticate", w)),
            self.retry_after.then_some(("retry-after", "5")),
            Some(("content-type", "application/json")),
        ]
        .into_iter()
        .flatten()
    }
}

/// The denial for `e`.
pub fn denial(e: &Deny) -> Denial<'_> {
    let www_authenticate = (e.status == 401).then(|| match &e.www_authenticate {
        // A webhook's challenge is passed on when it can be sent as a header; otherwise a bare one.
        Some(w) if header_value_ok(w.as_bytes()) => w.as_str(),
        Some(_) => "Bearer",
        None if matches!(e.reason, Reason::MissingToken | Reason::WebhookDenied) => "Bearer",
        None => "Bearer error=\"invalid_token\"",
    });
    Denial {
        status: e.status,
        www_authenticate,
        retry_after: e.status == 503,
        body: error_body(e),
    }
}

/// The session headers of an allow: `x-hasura-role` first, then every variable whose name and value can be sent
/// as a header (variables that cannot are left out, as they always were). Roles with control characters are refused
/// when the identity is built; should one get here, the answer is this denial, never an allow without its role.
pub fn session_headers(s: &Session) -> Result<impl Iterator<Item = (&str, &str)>, Deny> {
    if !header_value_ok(s.role.as_bytes()) {
        return Err(Deny::new(
            Reason::InvalidClaims,
            "the chosen role cannot be sent as a header",
        ));
    }
    let vars = s
        .vars
        .iter()
        .filter(|(n, v)| header_name_ok(n) && header_value_ok(v.as_bytes()));
    Ok(std::iter::once((ROLE_HEADER, s.role.as_str())).chain(vars))
}

/// Whether `v` can be a header value: no control character but TAB, no DEL (bytes from 0x80 up are allowed), the
/// rule of the `http` crate's `HeaderValue`.
pub fn header_value_ok(v: &[u8]) -> bool {
    v.iter().all(|&b| (b >= 0x20 && b != 0x7f) || b == b'\t')
}

/// Whether `n` is a non-empty HTTP token (RFC 9110): a header name.
pub fn header_name_ok(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(is_tchar)
}

/// An RFC 9110 `tchar`.
pub fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The GraphQL-style error body, `{"data":null,"errors":[{"message":…,"extensions":{"code":…}}]}`, serialised from
/// borrowed fields: a denial is the hot path of a client spraying bad tokens, so no `serde_json::Value` tree is built
/// and the message is not copied before it is written.
#[derive(Serialize)]
struct ErrorBody<'a> {
    data: (),
    errors: [ErrorEntry<'a>; 1],
}

#[derive(Serialize)]
struct ErrorEntry<'a> {
    message: &'a str,
    extensions: ErrorExtensions<'a>,
}

#[derive(Serialize)]
struct ErrorExtensions<'a> {
    code: &'a str,
}

/// The error body of a denial.
pub fn error_body(e: &Deny) -> String {
    body(&e.message, e.reason.code())
}

/// An error body with this message and code.
pub fn body(message: &str, code: &str) -> String {
    let body = ErrorBody {
        data: (),
        errors: [ErrorEntry {
            message,
            extensions: ErrorExtensions { code },
        }],
    };
    // Serialising strings into memory does not fail; should it ever, the answer is still a well-formed denial.
    serde_json::to_string(&body)
        .unwrap_or_else(|_| r#"{"data":null,"errors":[{"message":"internal error"}]}"#.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_is_json_with_the_message_and_code_verbatim() {
        let messages = [
            "Could not verify JWT: JWSError JWSInvalidSignature",
            "",
            "quote \" backslash \\ slash / done",
            "lines\nand\r\ttabs",
            "controls \u{0}\u{1}\u{1f} and del \u{7f}",
            "unicode é ✓ 𝄞 and \u{2028} separators",
        ];
        for m in messages {
            let d = Deny::new(Reason::InvalidSignature, m);
            let body = error_body(&d);
            let v: serde_json::Value =
                serde_json::from_str(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
            assert_eq!(
                v,
                serde_json::json!({"data": null, "errors": [{"message": m, "extensions": {"code": Reason::InvalidSignature.code()}}]}),
                "{body}"
            );
            assert!(
                !body.bytes().any(|b| b < 0x20),
                "a raw control character in {body:?}"
            );
        }
    }

    #[test]
    fn denial_headers_by_status() {
        let names = |d: &Denial<'_>| {
            d.headers()
                .map(|(n, v)| format!("{n}: {v}"))
                .collect::<Vec<_>>()
        };
        let missing = Deny::new(Reason::MissingToken, "no token");
        assert_eq!(
            names(&denial(&missing)),
            [
                "cache-control: no-store",
                "www-authenticate: Bearer",
                "content-type: application/json"
            ]
        );
        let expired = Deny::new(Reason::Expired, "expired");
        assert!(
            names(&denial(&expired))
                .contains(&"www-authenticate: Bearer error=\"invalid_token\"".to_owned())
        );
        let mut hook = Deny::new(Reason::WebhookDenied, "no");
        hook.www_authenticate = Some("Basic realm=\"x\"".into());
        assert!(names(&denial(&hook)).contains(&"www-authenticate: Basic realm=\"x\"".to_owned()));
        hook.www_authenticate = Some("bad\nvalue".into());
        assert!(names(&denial(&hook)).contains(&"www-authenticate: Bearer".to_owned()));
        let role = Deny::new(Reason::RoleNotAllowed, "role");
        assert_eq!(
            names(&denial(&role)),
            ["cache-control: no-store", "content-type: application/json"]
        );
        let down = Deny::new(Reason::JwksUnavailable, "down");
        let d = denial(&down);
        assert_eq!(d.status, 503);
        assert_eq!(
            names(&d),
            [
                "cache-control: no-store",
                "retry-after: 5",
                "content-type: application/json"
            ]
        );
    }

    #[test]
    fn header_validity() {
        assert!(header_value_ok(b"a\tb c\x80\xff"));
        assert!(!header_value_ok(b"a\nb") && !header_value_ok(b"\x7f") && !header_value_ok(b"\0"));
        assert!(header_name_ok("x-hasura-user-id") && header_name_ok("a.b_c~"));
        assert!(
            !header_name_ok("")
                && !header_name_ok("a b")
                && !header_name_ok("a:b")
                && !header_name_ok("é")
        );
    }
}
