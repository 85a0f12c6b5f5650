//! One plain line on a failure where a common cause fits: a default session token where a JWT template's was
//! expected, the token in another header or cookie than the config reads, a development instance's issuer, an
//! expired token, the wrong audience, a `kid` the key set does not hold.

use serde_json::Value;

use super::Report;
use super::narrate::{Ctx, Facts, location_text};
use crate::config::compiled::{ClaimsSpec, TokenLocation};

/// The hint for the first failed step, if one fits.
pub(super) fn hint(r: &Report, facts: &Facts, ctx: &Ctx<'_>) -> Option<String> {
    let failed = r.first_failure()?;
    let mode = facts.jwt.as_deref()?;
    let payload = facts.payload.as_ref().unwrap_or(&Value::Null);
    match failed.reason? {
        "missing_token" => elsewhere(ctx, &mode.token_location).or_else(|| {
            (!ctx.token_given && ctx.req.headers.is_empty()).then(|| {
                "no token was given: pass it as an argument, as `-` (standard input) or with --token-file".to_owned()
            })
        }),
        "invalid_claims" => match &mode.claims {
            ClaimsSpec::Namespace { location, .. } if location.resolve(payload).is_none() => Some(format!(
                "the claims namespace {} is missing: this looks like a default Clerk session token, not one from \
                 the JWT template (getToken({{ template: \"…\" }}))",
                location.as_str()
            )),
            _ => None,
        },
        "invalid_issuer" => {
            let found = payload.get("iss").and_then(Value::as_str)?;
            let want = mode.issuer.as_deref().unwrap_or_default();
            let dev = |s: &str| host(s).ends_with(".clerk.accounts.dev");
            if dev(found) && !dev(want) {
                Some(format!(
                    "iss {found} is a Clerk development instance's domain, while the config expects {want}: \
                     a development token sent to a production config"
                ))
            } else {
                Some(format!("the token was issued by {found}, the config expects {want}"))
            }
        }
        "expired" => {
            let exp = payload.get("exp").and_then(Value::as_f64)?;
            let ago = ctx.now as i64 - exp.round() as i64;
            let skew = mode.leeway;
            Some(format!(
                "the token expired {ago} s ago, beyond the allowed skew of {skew} s: get a fresh token (or judge it \
                 --at an earlier time)"
            ))
        }
        "not_yet_valid" | "issued_in_future" => Some(format!(
            "the token is dated after now (± {} s of skew): check this machine's clock and the issuer's",
            mode.leeway
        )),
        "invalid_audience" => {
            let found = payload.get("aud").cloned().unwrap_or(Value::Null);
            Some(match &mode.audience {
                Some(want) if found.is_null() => {
                    format!("the token has no aud; the config requires one of {want:?}")
                }
                Some(want) => format!("wrong audience: the token is for {found}, the config accepts {want:?}"),
                None => format!(
                    "the token carries aud {found} but the config sets no audience: add it to `audience`"
                ),
            })
        }
        "unknown_kid" => {
            let kid = failed.details.get("kid").and_then(Value::as_str).unwrap_or_default();
            Some(format!(
                "kid {kid:?} is not in the key set: a stale JWKS (a file saved before the issuer rotated its keys) \
                 or a token from another issuer or instance"
            ))
        }
        _ => None,
    }
}

/// The host of an issuer URL (or the text itself when it is no URL).
fn host(s: &str) -> String {
    url::Url::parse(s)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_else(|| s.to_owned())
}

/// Whether `v` looks like a JWS compact token.
fn jwt_like(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3 && v.starts_with("eyJ") && parts[..2].iter().all(|p| !p.is_empty())
}

/// Where the request carries a token, when not where the config reads it.
fn elsewhere(ctx: &Ctx<'_>, reads: &TokenLocation) -> Option<String> {
    let want = location_text(reads);
    for (name, raw) in ctx.req.headers {
        let Ok(text) = std::str::from_utf8(raw) else {
            continue;
        };
        let found = match *name {
            "authorization" => {
                let t = text.trim();
                let t = t
                    .get(..7)
                    .filter(|p| p.eq_ignore_ascii_case("bearer "))
                    .map_or(t, |_| t[7..].trim());
                jwt_like(t).then(|| location_text(&TokenLocation::Bearer))
            }
            "cookie" => text.split(';').find_map(|pair| {
                let (n, v) = pair.split_once('=')?;
                jwt_like(v.trim())
                    .then(|| location_text(&TokenLocation::Cookie(n.trim().to_owned())))
            }),
            other => jwt_like(text.trim())
                .then(|| location_text(&TokenLocation::Header(other.to_owned()))),
        };
        if let Some(found) = found
            && !found.eq_ignore_ascii_case(&want)
        {
            return Some(format!(
                "the token sits in {found} but the config reads {want}: move the token or change tokenLocation"
            ));
        }
    }
    None
}
