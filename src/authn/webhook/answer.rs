//! The hook's answer, read as the Hasura engine reads it: its status and headers decide whether the body is read
//! and for how long the answer may be reused; the body's session variables become an identity. Pure: the client
//! hands in what arrived.

use http::{HeaderMap, StatusCode, header};
use serde_json::Value;

use super::unavailable;
use crate::authn::reason::{Deny, Reason};
use crate::authn::session::{Identity, Roles, render};
use crate::strict_json::StrictValue;

/// A usable hook answer.
#[derive(Debug, Clone)]
pub struct HookAnswer {
    pub identity: Identity,
    /// The hook's `Cache-Control: max-age`, when it sent one.
    pub max_age: Option<u64>,
}

/// The answer's status and headers: for a 200, `Ok` with the `max-age` it allows, and the body is to be read; a
/// 401 or 403 is the hook's denial (keeping its status and `WWW-Authenticate`); any other status is an unusable
/// answer.
pub(super) fn judge_head(status: StatusCode, headers: &HeaderMap) -> Result<Option<u64>, Deny> {
    match status.as_u16() {
        200 => Ok(headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(cache_max_age)),
        code @ (401 | 403) => {
            let mut d = Deny::new(
                Reason::WebhookDenied,
                "The Authentication hook has denied to execute the request.",
            );
            d.status = code;
            d.www_authenticate = headers
                .get(header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Err(d)
        }
        _ => Err(unavailable(format!(
            "The authentication hook has returned the status {status}. Only 200 and 401 response status are recognized."
        ))),
    }
}

/// `max-age=N` (N > 0) from the hook's `Cache-Control`; `no-store`/`no-cache`/`private`-less answers still only
/// count when they carry a positive max-age.
fn cache_max_age(v: &str) -> Option<u64> {
    let cc = crate::cache_control::parse(v);
    if cc.no_store {
        None
    } else {
        cc.max_age.filter(|n| *n > 0)
    }
}

/// The hook's 200 body → identity. A body that is not a JSON object, or has no string
/// `x-hasura-role`, is an unusable answer (`503`); an object whose session variables cannot be sent — two keys that
/// collide once trimmed and lower-cased (an exact repeat included), a control character in a value or the role — is
/// invalid claims (`401`), as it is in a token: the hook answered, and what it said is malformed.
pub fn identity_from_answer(body: &[u8], emulation_by: Option<&str>) -> Result<Identity, Deny> {
    // serde_json's own `Value` keeps the last of two equal keys; the strict parser refuses them, at any depth (a
    // value rendered as JSON must not mean two things either). A repeated key is the only data error it raises;
    // anything else is text that is not JSON.
    let v = match serde_json::from_slice::<StrictValue>(body) {
        Ok(StrictValue(v)) => v,
        Err(e) if e.classify() == serde_json::error::Category::Data => {
            return Err(Deny::new(
                Reason::InvalidClaims,
                format!("the webhook response repeats a key: {e}"),
            ));
        }
        Err(e) => return Err(unavailable(format!("Reqwest error: {e}"))),
    };
    let Value::Object(obj) = v else {
        return Err(unavailable(
            "Reqwest error: the webhook response is not a JSON object",
        ));
    };
    let mut vars: Vec<(String, Value)> = Vec::with_capacity(obj.len());
    for (k, v) in obj {
        let key = k.trim().to_lowercase();
        if vars.iter().any(|(n, _)| *n == key) {
            return Err(Deny::new(
                Reason::InvalidClaims,
                format!(
                    "session variables in the webhook response collide after lower-casing: {key}"
                ),
            ));
        }
        vars.push((key, v));
    }
    let role = match vars.iter().find(|(k, _)| k == "x-hasura-role") {
        None => {
            return Err(unavailable(
                "'x-hasura-role' session variable not found in the webhook response.",
            ));
        }
        Some((_, Value::String(r))) => r.clone(),
        Some(_) => {
            return Err(unavailable(
                "'x-hasura-role' session variable in the webhook response was not a string.",
            ));
        }
    };
    // Checked before emulation: the role is sent as `x-hasura-role` either way.
    let roles = Roles::new(&role, std::slice::from_ref(&role))?;
    if emulation_by == Some(role.as_str()) {
        return Ok(Identity::Emulation { role });
    }
    let rendered = render(vars.iter().map(|(k, v)| (k.as_str(), v)))?;
    Ok(Identity::Specific {
        roles,
        vars: rendered,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers() {
        assert!(
            identity_from_answer(br#"{"X-Hasura-Role":"user","X-Hasura-User-Id":25}"#, None)
                .is_ok()
        );
        let e = identity_from_answer(br#"{"x-hasura-user-id":"1"}"#, None).unwrap_err();
        assert_eq!(e.status, 503);
        assert!(
            e.message
                .contains("'x-hasura-role' session variable not found")
        );
        assert_eq!(
            identity_from_answer(br#"{"x-hasura-role":1}"#, None)
                .unwrap_err()
                .status,
            503
        );
        assert_eq!(identity_from_answer(b"[1]", None).unwrap_err().status, 503);
        assert_eq!(identity_from_answer(b"nope", None).unwrap_err().status, 503);
        assert_eq!(cache_max_age("public, max-age=60"), Some(60));
        assert_eq!(cache_max_age("no-store, max-age=60"), None);
        assert_eq!(cache_max_age("max-age=0"), None);
    }

    #[test]
    fn item11_answer_with_a_control_character_or_colliding_keys_is_invalid_claims() {
        let cases: [&[u8]; 8] = [
            br#"{"x-hasura-role":"user","x-hasura-user-id":"4\n2"}"#,
            br#"{"x-hasura-role":"user","x-hasura-org":"a\u007fb"}"#,
            br#"{"x-hasura-role":"us\u0000er"}"#,
            br#"{"x-hasura-role":"us\ter"}"#,
            br#"{"x-hasura-role":"user","X-Hasura-User-Id":"1","x-hasura-user-id":"2"}"#,
            br#"{"x-hasura-role":"user","X-Hasura-Role":"admin"}"#,
            br#"{"x-hasura-role":"user"," x-hasura-role":"admin"}"#,
            br#"{"x-hasura-role":"user","x-hasura-role":"admin"}"#,
        ];
        for body in cases {
            let e = identity_from_answer(body, None).expect_err("must be refused");
            assert_eq!(
                (e.reason, e.status),
                (Reason::InvalidClaims, 401),
                "{}: {}",
                String::from_utf8_lossy(body),
                e.message
            );
        }
        // TAB is allowed in a value (not in a role).
        assert!(
            identity_from_answer(br#"{"x-hasura-role":"user","x-hasura-org":"a\tb"}"#, None)
                .is_ok()
        );
    }

    fn head(status: u16, headers: &[(&'static str, &'static str)]) -> Result<Option<u64>, Deny> {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.insert(*n, http::HeaderValue::from_static(v));
        }
        judge_head(StatusCode::from_u16(status).expect("status"), &map)
    }

    #[test]
    fn the_status_decides_whether_the_body_is_read() {
        assert_eq!(head(200, &[]).expect("read on"), None);
        assert_eq!(
            head(200, &[("cache-control", "public, max-age=60")]).expect("read on"),
            Some(60)
        );
        for status in [401, 403] {
            let d =
                head(status, &[("www-authenticate", "Bearer realm=\"x\"")]).expect_err("a denial");
            assert_eq!(
                (d.reason, d.status, d.www_authenticate.as_deref()),
                (Reason::WebhookDenied, status, Some("Bearer realm=\"x\""))
            );
            assert_eq!(
                &*d.message,
                "The Authentication hook has denied to execute the request."
            );
        }
        let d = head(404, &[("cache-control", "max-age=60")]).expect_err("unusable");
        assert_eq!((d.reason, d.status), (Reason::WebhookUnavailable, 503));
        assert_eq!(
            &*d.message,
            "The authentication hook has returned the status 404 Not Found. Only 200 and 401 response status are recognized."
        );
    }
}
