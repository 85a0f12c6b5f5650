//! The HTTP contract shared by NGINX `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`, HAProxy and Envoy /
//! Istio `ext_authz` (HTTP): any method, any path; the answer is the status and headers of policy §6.

use actix_web::http::StatusCode;
use actix_web::http::header::{
    CACHE_CONTROL, CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE,
};
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

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
    render(&decision)
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
                let www = e.www_authenticate.clone().unwrap_or_else(|| {
                    if matches!(e.reason, Reason::MissingToken | Reason::WebhookDenied) {
                        "Bearer".to_owned()
                    } else {
                        "Bearer error=\"invalid_token\"".to_owned()
                    }
                });
                r.insert_header((WWW_AUTHENTICATE, www));
            }
            if e.status == 503 {
                r.insert_header((RETRY_AFTER, "5"));
            }
            r.insert_header((CONTENT_TYPE, "application/json"));
            let body = json!({"data": null, "errors": [{"message": e.message, "extensions": {"code": e.reason.code()}}]});
            r.body(body.to_string())
        }
    }
}
