//! The token steps: the mode, where the token was looked for, its JOSE header, the key, the signature, the time
//! claims, the issuer and the audience, each judged by the function the gate calls for it. The claims and the
//! session follow in `session`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::keys::ExplainKeys;
use super::{Answer, Mark, Step};
use crate::authn::jwt::{self, Verifier};
use crate::authn::reason::{Deny, Reason};
use crate::authn::request::AuthRequest;
use crate::authn::token;
use crate::config::CompiledConfig;
use crate::config::compiled::{JwtKeySource, JwtMode, Mode, TokenLocation};
use crate::config::load::MAX_ALLOWED_SKEW_SECS;
use crate::gate::GateSettings;

/// What the narration is judged with.
pub(super) struct Ctx<'a> {
    pub config: &'a CompiledConfig,
    pub req: &'a AuthRequest<'a>,
    pub settings: &'a GateSettings,
    pub now: u64,
    pub keys: &'a ExplainKeys,
    /// Whether a token was given (rather than only `--header` lines).
    pub token_given: bool,
    pub offline: bool,
}

/// What the hints need beyond the steps.
#[derive(Default)]
pub struct Facts {
    /// The JWT mode judged.
    pub jwt: Option<std::sync::Arc<JwtMode>>,
    /// The token's payload, decoded for display only (never trusted).
    pub payload: Option<Value>,
}

/// The steps of a JWT mode, in order.
pub(super) const JWT_STEPS: [&str; 11] = [
    "mode",
    "token",
    "header",
    "key",
    "signature",
    "times",
    "issuer",
    "audience",
    "claims",
    "session",
    "role",
];

pub(super) fn step(name: &'static str, result: Mark, summary: String, details: Value) -> Step {
    Step {
        name,
        result,
        summary,
        reason: None,
        details: match details {
            Value::Object(m) => m,
            _ => Map::new(),
        },
    }
}

pub(super) fn failed(name: &'static str, d: &Deny, summary: String, details: Value) -> Step {
    let mut s = failed_for(name, d.reason, summary, details);
    s.details
        .insert("message".into(), Value::String(d.message.to_string()));
    s
}

/// A failed step the narration found without a denial in hand (the gate's own message is in the answer).
pub(super) fn failed_for(
    name: &'static str,
    reason: Reason,
    summary: String,
    details: Value,
) -> Step {
    let mut s = step(name, Mark::Fail, summary, details);
    s.reason = Some(reason.code());
    s
}

/// Mark every step of `names` not yet in `steps` as not reached (or not judged).
pub(super) fn fill(steps: &mut Vec<Step>, names: &[&'static str], mark: Mark) {
    for n in names {
        if !steps.iter().any(|s| s.name == *n) {
            steps.push(step(n, mark, String::new(), Value::Null));
        }
    }
}

/// Whether judging `mode` needs the network that `--offline` forbids: a webhook, or a JWKS URL with no file.
pub(super) fn needs_network(mode: &Mode, keys: &ExplainKeys) -> bool {
    match mode {
        Mode::Webhook(_) => true,
        Mode::Jwt(j) => match &j.key {
            JwtKeySource::JwksUrl(u) => keys.by_url.get(u).is_none_or(|k| k.held.is_err()),
            JwtKeySource::Fixed { .. } => false,
        },
        Mode::NoAuth(_) => false,
    }
}

/// Narrate the whole decision into `steps`; returns what the hints need.
pub(super) async fn narrate(
    ctx: &Ctx<'_>,
    answer: Option<&Answer>,
    steps: &mut Vec<Step>,
) -> Facts {
    let mut facts = Facts::default();
    let mode_header = ctx.settings.auth_mode_header.as_str();
    let (mode, alt) = match super::input::selected_mode(ctx.config, ctx.req, mode_header) {
        Ok(m) => m,
        Err(_) => {
            steps.push(failed_for(
                "mode",
                Reason::InvalidHeader,
                format!("the {mode_header} header is not visible ASCII"),
                json!({"header": mode_header}),
            ));
            fill(steps, &JWT_STEPS, Mark::NotReached);
            return facts;
        }
    };
    let kind = match mode {
        Mode::Jwt(_) => "jwt",
        Mode::Webhook(_) => "webhook",
        Mode::NoAuth(_) => "noAuth",
    };
    let chosen = match (alt, &ctx.config.alternative_modes) {
        (Some(id), _) => {
            format!("alternative mode {id:?} ({kind}), chosen by the {mode_header} header")
        }
        (None, Some(_)) if ctx.req.first(mode_header).is_some() => {
            format!("default mode ({kind}): the {mode_header} header names no alternative mode")
        }
        (None, _) => format!("default mode ({kind})"),
    };
    steps.push(step(
        "mode",
        Mark::Pass,
        format!("{chosen}; config {}", ctx.config.version.as_str()),
        json!({"mode": kind, "alternative": alt, "version": ctx.config.version.as_str()}),
    ));
    match mode {
        Mode::Jwt(j) => {
            facts.jwt = Some(j.clone());
            if let Some(payload) = jwt_steps(ctx, j, steps, &mut facts).await {
                super::session::claims_steps(ctx, j, &payload, steps);
            }
            fill(steps, &JWT_STEPS, Mark::NotReached);
        }
        Mode::Webhook(w) => super::session::webhook_steps(ctx, w, answer, steps),
        Mode::NoAuth(_) => super::session::no_auth_steps(answer, steps),
    }
    facts
}

/// Where the token is read, for display.
pub fn location_text(loc: &TokenLocation) -> String {
    match loc {
        TokenLocation::Bearer => "the Authorization header (Bearer)".into(),
        TokenLocation::Header(n) => format!("the {n} header"),
        TokenLocation::Cookie(n) => format!("the {n} cookie"),
    }
}

/// The token steps up to the audience; the verified payload when they all pass.
async fn jwt_steps(
    ctx: &Ctx<'_>,
    mode: &JwtMode,
    steps: &mut Vec<Step>,
    facts: &mut Facts,
) -> Option<Value> {
    let loc = location_text(&mode.token_location);
    let token = match token::extract(ctx.req, &mode.token_location, ctx.settings.max_token_bytes) {
        Ok(t) => t,
        Err(d) => {
            steps.push(failed(
                "token",
                &d,
                format!("looked for in {loc}: {}", d.message),
                json!({"location": loc}),
            ));
            return None;
        }
    };
    let head = token.split('.').next().unwrap_or_default();
    // At most the first characters of the JOSE header segment (which is no secret), and only of a token that has
    // segments and is longer than the prefix: an opaque or short value is never echoed.
    let prefix: String = if token.contains('.') && head.len() > 16 {
        head.chars().take(10).collect()
    } else {
        String::new()
    };
    let shown_prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}… ")
    };
    steps.push(step(
        "token",
        Mark::Pass,
        format!("found in {loc}: {shown_prefix}({} bytes)", token.len()),
        json!({"location": loc, "bytes": token.len(), "prefix": prefix}),
    ));
    facts.payload = display_payload(token);
    let by_kid = matches!(mode.key, JwtKeySource::JwksUrl(_));
    let raw_header = segment_json(head);
    let typ = raw_header
        .as_ref()
        .and_then(|h| h.get("typ"))
        .cloned()
        .unwrap_or(Value::Null);
    // The gate's own reading (`parse_header_full`) and, below, its own check (`verify_prepared`).
    let parsed = match jwt::parse_header_full(token, by_kid) {
        Ok(h) => h,
        Err(d) => {
            steps.push(failed(
                "header",
                &d,
                d.message.to_string(),
                json!({"header": raw_header}),
            ));
            return None;
        }
    };
    let header = &parsed.header;
    let alg = alg_name(header.alg);
    let kid = header.kid.as_deref();
    let header_details = json!({"alg": alg, "kid": kid, "typ": typ});
    if by_kid && kid.is_none() {
        steps.push(failed_for(
            "header",
            Reason::MalformedToken,
            format!("alg {alg}, no kid: a JWKS key is chosen by kid"),
            header_details,
        ));
        return None;
    }
    steps.push(step(
        "header",
        Mark::Pass,
        format!("alg {alg}, kid {}, typ {}", shown(kid), typ),
        header_details,
    ));
    let key = super::keys::key_step(ctx, mode, kid, steps).await?;
    let key_algs: Vec<&str> = key.algs.iter().map(|a| alg_name(*a)).collect();
    let verified = Verifier::new(mode).verify_prepared(token, &parsed, &key, ctx.now);
    let payload = facts.payload.clone().unwrap_or(Value::Null);
    let at = verified.as_ref().err().map(|d| step_of(d));
    let order = ["key", "signature", "times", "issuer", "audience"];
    let failed_at = at.map_or(order.len(), |n| {
        order.iter().position(|o| *o == n).unwrap_or(0)
    });
    if failed_at == 0 {
        // The algorithm does not fit the key: the key step fails after all.
        if let (Some(last), Err(d)) = (steps.last_mut(), &verified) {
            last.result = Mark::Fail;
            last.reason = Some(d.reason.code());
            last.summary = format!(
                "{}; the token's alg {alg} is not one it accepts ({})",
                last.summary,
                key_algs.join(", ")
            );
            last.details
                .insert("message".into(), Value::String(d.message.to_string()));
        }
        return None;
    }
    for (i, name) in order.iter().enumerate().skip(1) {
        let (summary, details) = describe(name, ctx, mode, &payload, alg);
        match i.cmp(&failed_at) {
            std::cmp::Ordering::Less => steps.push(step(name, Mark::Pass, summary, details)),
            std::cmp::Ordering::Equal => {
                if let Err(d) = &verified {
                    steps.push(failed(name, d, summary, details));
                }
                return None;
            }
            std::cmp::Ordering::Greater => return None,
        }
    }
    verified.ok()
}

/// The step a verifier denial belongs to (see `Verifier::verify`: the signature and the payload's shape, then the
/// times, then `iss` and `aud`, then `iat`).
fn step_of(d: &Deny) -> &'static str {
    match d.reason {
        Reason::InvalidAlgorithm => "key",
        Reason::Expired | Reason::NotYetValid | Reason::IssuedInFuture => "times",
        Reason::InvalidIssuer => "issuer",
        Reason::InvalidAudience => "audience",
        // A registered claim missing or of the wrong type: the signature was fine.
        Reason::MalformedToken
            if d.message.contains("claim") || d.message.contains("is not a number") =>
        {
            "times"
        }
        _ => "signature",
    }
}

fn describe(
    name: &str,
    ctx: &Ctx<'_>,
    mode: &JwtMode,
    payload: &Value,
    alg: &str,
) -> (String, Value) {
    match name {
        "signature" => (format!("{alg} signature verified"), json!({"alg": alg})),
        "times" => times(ctx.now, mode.leeway.min(MAX_ALLOWED_SKEW_SECS), payload),
        "issuer" => {
            let found = payload.get("iss").cloned().unwrap_or(Value::Null);
            let summary = match &mode.issuer {
                Some(want) => format!("expected {want:?}, found {found}"),
                None => format!("no issuer configured (found {found})"),
            };
            (summary, json!({"expected": mode.issuer, "found": found}))
        }
        _ => {
            let found = payload.get("aud").cloned().unwrap_or(Value::Null);
            let summary = match &mode.audience {
                Some(want) => format!("expected one of {want:?}, found {found}"),
                None if found.is_null() => "no audience configured, none in the token".into(),
                None => format!("no audience configured, but the token has {found}"),
            };
            (summary, json!({"expected": mode.audience, "found": found}))
        }
    }
}

/// `exp`, `nbf` and `iat` against `now` ± `skew`, with the differences in seconds.
fn times(now: u64, skew: u64, payload: &Value) -> (String, Value) {
    let mut parts = Vec::new();
    let mut details = Map::new();
    details.insert("now".into(), json!(now));
    details.insert("skew".into(), json!(skew));
    for claim in ["exp", "nbf", "iat"] {
        let Some(v) = payload.get(claim) else {
            parts.push(format!("{claim} absent"));
            continue;
        };
        let Some(t) = v.as_f64() else {
            parts.push(format!("{claim} {v} is not a number"));
            continue;
        };
        let diff = t.round() as i64 - now as i64;
        let when = if diff >= 0 {
            format!("in {diff} s")
        } else {
            format!("{} s ago", -diff)
        };
        parts.push(format!(
            "{claim} {} ({when})",
            super::time::format_rfc3339(t.max(0.0) as u64)
        ));
        details.insert(claim.into(), json!({"value": v, "seconds_from_now": diff}));
    }
    (
        format!(
            "at {} ± {skew} s: {}",
            super::time::format_rfc3339(now),
            parts.join(", ")
        ),
        Value::Object(details),
    )
}

pub(super) fn shown(kid: Option<&str>) -> String {
    kid.map_or_else(|| "(none)".into(), |k| format!("{k:?}"))
}

fn segment_json(seg: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(seg.trim_end_matches('=')).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The payload of `token` decoded for display: never trusted, only shown and read by the hints.
fn display_payload(token: &str) -> Option<Value> {
    segment_json(token.split('.').nth(1)?)
}

pub(super) fn alg_name(a: jsonwebtoken::Algorithm) -> &'static str {
    crate::alg::name(a).unwrap_or("?")
}
