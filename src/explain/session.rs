//! The steps after the token: the Hasura claims (the namespace or each `locations` entry), the session variables
//! and the role chosen; and the steps of the webhook and noAuth modes, read from the gate's own decision (a webhook
//! is called once, by the gate).

use serde_json::{Value, json};

use super::narrate::{Ctx, failed, fill, step};
use super::{Answer, Mark, Step};
use crate::authn::claims::identity_from_claims;
use crate::authn::session::{self, Identity, ROLE_HEADER};
use crate::config::compiled::{ClaimsSpec, JwtMode, WebhookMode};
use crate::config::model::JwtClaimsMappingEntry;

/// The claims, session and role steps of a JWT mode, from the verified `payload`.
pub(super) fn claims_steps(ctx: &Ctx<'_>, mode: &JwtMode, payload: &Value, steps: &mut Vec<Step>) {
    let (where_, found, text) = match &mode.claims {
        ClaimsSpec::Namespace { format, location } => {
            let at = location.as_str();
            let found = location.resolve(payload).cloned();
            let text = found
                .as_ref()
                .map_or_else(|| "absent".to_owned(), Value::to_string);
            (
                format!("namespace {at} ({format:?})"),
                json!({"namespace": at, "found": found}),
                text,
            )
        }
        ClaimsSpec::Locations(map) => {
            let mut entries = serde_json::Map::new();
            let mut texts = Vec::new();
            let mut add = |name: &str, (v, t): (Value, String)| {
                texts.push(format!("{name} {t}"));
                entries.insert(name.to_owned(), v);
            };
            add("x-hasura-default-role", entry(&map.default_role, payload));
            add("x-hasura-allowed-roles", entry(&map.allowed_roles, payload));
            for (name, e) in &map.custom {
                add(name, entry(e, payload));
            }
            (
                "each `locations` entry".into(),
                json!({"locations": entries}),
                texts.join("; "),
            )
        }
    };
    let identity = match identity_from_claims(
        &mode.claims,
        payload,
        ctx.config.role_emulation_by.as_deref(),
    ) {
        Ok(i) => i,
        Err(d) => {
            steps.push(failed(
                "claims",
                &d,
                format!("{where_}: {} (found: {})", d.message, cut(&text)),
                found,
            ));
            return;
        }
    };
    steps.push(step(
        "claims",
        Mark::Pass,
        format!("{where_} resolved: {}", cut(&text)),
        found,
    ));
    identity_steps(ctx, &identity, steps);
}

/// One `locations` entry as resolved: its pointer and what was found there (or its default), or its literal value;
/// as JSON and as text.
fn entry<T: serde::Serialize>(e: &JwtClaimsMappingEntry<T>, payload: &Value) -> (Value, String) {
    match e {
        JwtClaimsMappingEntry::Literal(v) => {
            let v = json!(v);
            let text = format!("= {v} (literal)");
            (json!({"literal": v}), text)
        }
        JwtClaimsMappingEntry::Path(p) => {
            let found = p.path.resolve(payload);
            let default = json!(p.default);
            let text = match found {
                Some(v) => format!("<- {} = {v}", p.path.as_str()),
                None if default.is_null() => format!("<- {}: absent", p.path.as_str()),
                None => format!("<- {}: absent, default {default}", p.path.as_str()),
            };
            (
                json!({"path": p.path.as_str(), "found": found, "default": default}),
                text,
            )
        }
    }
}

/// The session and role steps of an identity, by the gate's role selection.
fn identity_steps(ctx: &Ctx<'_>, identity: &Identity, steps: &mut Vec<Step>) {
    let requested = ctx
        .req
        .last(ROLE_HEADER)
        .map(|r| String::from_utf8_lossy(r).into_owned());
    match identity {
        Identity::Specific { vars, .. } => {
            let v: serde_json::Map<String, Value> = vars.iter().map(|(n, v)| (n.to_owned(), json!(v))).collect();
            steps.push(step("session", Mark::Pass, variables_text(&v), json!({"variables": v})));
        }
        Identity::Emulation { role } => steps.push(step(
            "session",
            Mark::Pass,
            format!("role emulation ({role:?} is the config's admin role): the client's x-hasura-* headers become the session"),
            json!({"emulation": role}),
        )),
    }
    match session::resolve(identity, ctx.req, &ctx.settings.auth_mode_header) {
        Ok(s) => steps.push(role_step(&s.role, requested.as_deref())),
        Err(d) => steps.push(failed(
            "role",
            &d,
            format!(
                "requested {}: {}",
                requested.as_deref().unwrap_or("(none)"),
                d.message
            ),
            json!({"requested": requested}),
        )),
    }
}

fn role_step(role: &str, requested: Option<&str>) -> Step {
    let how = match requested {
        Some(r) => format!("requested {r:?} with x-hasura-role"),
        None => "the default role (no x-hasura-role header)".into(),
    };
    step(
        "role",
        Mark::Pass,
        format!("{role:?}: {how}"),
        json!({"role": role, "requested": requested}),
    )
}

/// Webhook mode: what is sent to the hook (header names only), and the hook's verdict as the gate got it.
pub(super) fn webhook_steps(
    ctx: &Ctx<'_>,
    mode: &WebhookMode,
    answer: Option<&Answer>,
    steps: &mut Vec<Step>,
) {
    let names = ["webhook", "session", "role"];
    let hook = crate::authn::webhook::build_request(mode, ctx.req);
    let sent: Vec<&str> = hook.headers.iter().map(|(n, _)| n.as_str()).collect();
    let method = format!("{:?}", mode.method).to_uppercase();
    let url = format!("{method} {}", super::keys::shown_url(&mode.url));
    let sent_text = if sent.is_empty() {
        "no client headers".to_owned()
    } else {
        format!("headers {}", sent.join(", "))
    };
    let details =
        json!({"method": method, "url": super::keys::shown_url(&mode.url), "headers_sent": sent});
    let Some(a) = answer else {
        let mut s = step(
            "webhook",
            Mark::NotJudged,
            format!("{url} not called: --offline (it would be sent {sent_text})"),
            details,
        );
        s.result = Mark::NotJudged;
        steps.push(s);
        fill(steps, &names, Mark::NotJudged);
        return;
    };
    match a.reason.as_deref() {
        Some(code @ ("webhook_denied" | "webhook_unavailable" | "invalid_claims" | "internal")) => {
            let mut s = step(
                "webhook",
                Mark::Fail,
                format!("{url}, sent {sent_text}, answered: {}", message_of(a)),
                details,
            );
            s.reason = Some(static_code(code));
            steps.push(s);
        }
        _ => steps.push(step(
            "webhook",
            Mark::Pass,
            format!("{url}, sent {sent_text}, accepted the request"),
            details,
        )),
    }
    answer_steps(a, steps);
    fill(steps, &names, Mark::NotReached);
}

/// noAuth mode: the fixed session.
pub(super) fn no_auth_steps(answer: Option<&Answer>, steps: &mut Vec<Step>) {
    if let Some(a) = answer {
        answer_steps(a, steps);
    }
    fill(steps, &["session", "role"], Mark::NotReached);
}

/// The session and role steps of a mode whose identity only the gate computes, from its answer.
fn answer_steps(a: &Answer, steps: &mut Vec<Step>) {
    if steps.iter().any(|s| s.result == Mark::Fail) {
        return;
    }
    let vars: serde_json::Map<String, Value> = a
        .headers
        .iter()
        .filter(|(n, _)| n.starts_with("x-hasura-") && n != ROLE_HEADER)
        .map(|(n, v)| (n.clone(), json!(v)))
        .collect();
    let role = a
        .headers
        .iter()
        .find(|(n, _)| n == ROLE_HEADER)
        .map(|(_, v)| v.clone());
    if a.status == 200 {
        steps.push(step(
            "session",
            Mark::Pass,
            variables_text(&vars),
            json!({"variables": vars}),
        ));
        steps.push(step(
            "role",
            Mark::Pass,
            format!("{:?}", role.unwrap_or_default()),
            json!({}),
        ));
    } else {
        let name = if a.reason.as_deref() == Some("role_not_allowed")
            || a.reason.as_deref() == Some("invalid_header")
        {
            "role"
        } else {
            "session"
        };
        if name == "role" {
            steps.push(step("session", Mark::Pass, String::new(), json!({})));
        }
        let mut s = step(name, Mark::Fail, message_of(a), json!({}));
        s.reason = a.reason.as_deref().map(static_code);
        steps.push(s);
    }
}

fn message_of(a: &Answer) -> String {
    serde_json::from_str::<Value>(&a.body)
        .ok()
        .and_then(|b| {
            b.pointer("/errors/0/message")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default()
}

/// The `'static` code of a reason code the gate answered.
fn static_code(code: &str) -> &'static str {
    crate::authn::reason::Reason::ALL
        .iter()
        .map(|r| r.code())
        .find(|c| *c == code)
        .unwrap_or("internal")
}

/// Session variables on one line: `x-hasura-user-id = "user_1", …` (claim values are the user's own).
fn variables_text(vars: &serde_json::Map<String, Value>) -> String {
    if vars.is_empty() {
        return "no session variables besides the role".into();
    }
    let all: Vec<String> = vars.iter().map(|(n, v)| format!("{n} = {v}")).collect();
    format!("session variables: {}", all.join(", "))
}

/// `text` cut to about 240 characters, for one line of output.
fn cut(text: &str) -> String {
    match text.char_indices().nth(240) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_owned(),
    }
}
