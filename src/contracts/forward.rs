//! The HTTP contract shared by NGINX `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`, HAProxy and Envoy /
//! Istio `ext_authz` (HTTP): any method, any path; the answer is 200 with the `x-hasura-*` session headers, or a
//! 401/403/503 denial with a GraphQL-style error body.

use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use actix_web::http::{ConnectionType, StatusCode};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use crate::authn::reason::{Deny, Reason};
use crate::authn::request::{AuthRequest, visible_ascii};
use crate::gate::{Decision, Gate};

/// The original method and URL for logs, from the headers of the proxy in use, else the request line.
/// `Forwarded` and `_`/`.` spellings are never consulted (actix keeps them under their own names).
fn original(req: &HttpRequest) -> (&str, &str) {
    let h = |n: &str| {
        req.headers()
            .get(n)
            .and_then(|v| visible_ascii(v.as_bytes()))
    };
    let method = h("x-original-method")
        .or_else(|| h("x-forwarded-method"))
        .unwrap_or(req.method().as_str());
    let uri = h("x-original-url")
        .or_else(|| h("x-forwarded-uri"))
        .unwrap_or_else(|| req.uri().path_and_query().map_or("/", |p| p.as_str()));
    (method, uri)
}

/// The data-listener handler: every request is a decision.
pub async fn decide(req: HttpRequest, gate: web::Data<Gate>) -> HttpResponse {
    let headers: Vec<(&str, &[u8])> = req
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_bytes()))
        .collect();
    let (method, uri) = original(&req);
    let areq = AuthRequest {
        method,
        uri,
        headers: &headers,
    };
    let decision = gate.decide(&areq).await;
    let mut resp = render(&decision);
    if gate.is_draining() {
        // Shutting down: close each keep-alive connection after its answer, so the peer (a proxy's upstream pool,
        // often pinned to this pod by kube-proxy's conntrack) reconnects while the listener is still open and
        // lands on a ready replica, instead of racing the listener's close with its next request.
        resp.head_mut().set_connection_type(ConnectionType::Close);
    }
    resp
}

/// Render a decision as the HTTP answer.
pub fn render(d: &Decision) -> HttpResponse {
    match &d.result {
        Ok(allowed) => {
            let mut r = HttpResponse::Ok();
            r.insert_header((
                CACHE_CONTROL,
                format!("private, max-age={}", allowed.max_age),
            ));
            let s = &allowed.session;
            // Roles with control characters are refused when the identity is built; should one get here, the
            // answer is a denial, never an allow without its role.
            let Ok(role) = HeaderValue::from_bytes(s.role.as_bytes()) else {
                return render(&Decision {
                    result: Err(Deny::new(
                        Reason::InvalidClaims,
                        "the chosen role cannot be sent as a header",
                    )),
                    headers_to_remove: Vec::new(),
                    cache_hit: false,
                });
            };
            r.insert_header((HeaderName::from_static("x-hasura-role"), role));
            for (n, v) in s.vars.iter() {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::try_from(n),
                    HeaderValue::from_bytes(v.as_bytes()),
                ) {
                    r.insert_header((n, v));
                }
            }
            if !d.headers_to_remove.is_empty() {
                r.insert_header((
                    "x-envoy-auth-headers-to-remove",
                    d.headers_to_remove.join(", "),
                ));
            }
            r.finish()
        }
        Err(e) => {
            let status =
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = HttpResponse::build(status);
            r.insert_header((CACHE_CONTROL, "no-store"));
            if e.status == 401 {
                let www = match &e.www_authenticate {
                    Some(w) => {
                        HeaderValue::from_str(w).unwrap_or(HeaderValue::from_static("Bearer"))
                    }
                    None if matches!(e.reason, Reason::MissingToken | Reason::WebhookDenied) => {
                        HeaderValue::from_static("Bearer")
                    }
                    None => HeaderValue::from_static("Bearer error=\"invalid_token\""),
                };
                r.insert_header((WWW_AUTHENTICATE, www));
            }
            if e.status == 503 {
                r.insert_header((RETRY_AFTER, "5"));
            }
            r.insert_header((CONTENT_TYPE, "application/json"));
            r.body(error_body(e))
        }
    }
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
    extensions: ErrorExtensions,
}

#[derive(Serialize)]
struct ErrorExtensions {
    code: &'static str,
}

fn error_body(e: &Deny) -> String {
    let body = ErrorBody {
        data: (),
        errors: [ErrorEntry {
            message: &e.message,
            extensions: ErrorExtensions {
                code: e.reason.code(),
            },
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
}
