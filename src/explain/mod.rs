//! `authgate explain`: the decision `serve` would make for one request, narrated step by step.
//!
//! The verdict is the gate's own: a [`Gate`] built as `serve` builds it (the config loaded by the same loader, the
//! same settings, the decision cache off), its clock stopped at `--at`, its JWKS keys from `--jwks` or the config's
//! own URL, and its decision rendered by the HTTP adapter's `render`. The narration beside it calls the same
//! library functions the gate calls (token extraction, the JOSE header check, the key lookup, the verifier, the
//! claims mapping, role selection) only to show what each step saw; the first failing step's reason must equal the
//! gate's, and when it does not, the output says so and the gate's answer stands.
//!
//! Files: `input` (the config and the request), `keys` (the key sources handed to the gate), `narrate` (the token
//! steps), `session` (claims, session and role steps, webhook and noAuth), `hints`, `render` (text and JSON),
//! `time` (RFC 3339).

pub mod hints;
pub mod input;
pub mod keys;
mod narrate;
pub mod render;
mod session;
pub mod time;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::clock::{Clock, ManualClock, unix_now};
use crate::config::LoadOptions;
use crate::config::compiled::Mode;
use crate::contracts::forward;
use crate::gate::{Gate, GateSettings};
use crate::observe::Ignore;
pub use input::UsageError;
use keys::JwksOverride;

/// What one run of `explain` is asked.
#[derive(Debug, Clone)]
pub struct Input {
    /// `--config` paths.
    pub config: Vec<PathBuf>,
    pub config_name: Option<String>,
    /// The token, placed where the selected mode reads it.
    pub token: Option<String>,
    /// `--header` lines, names lower-case.
    pub headers: Vec<(String, String)>,
    pub role: Option<String>,
    /// `--jwks FILE|URL`.
    pub jwks: Option<String>,
    /// Unix seconds to judge times at (default: now).
    pub at: Option<u64>,
    pub offline: bool,
    /// The gate settings `serve`'s flags would give (the decision cache is turned off whatever they say).
    pub settings: GateSettings,
    pub load: LoadOptions,
    /// Values for `valueFromEnv` that take precedence over the process environment (tests; the command passes
    /// none).
    pub env: Vec<(String, String)>,
}

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Pass,
    Fail,
    /// An earlier step failed.
    NotReached,
    /// Not judged (`--offline`).
    NotJudged,
}

/// One step of the decision.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: &'static str,
    pub result: Mark,
    /// One line: what the step saw and decided.
    pub summary: String,
    /// The reason code of a failed step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// The values that decided.
    pub details: Map<String, Value>,
}

/// The answer `serve` would send.
#[derive(Debug, Clone, Serialize)]
pub struct Answer {
    pub status: u16,
    /// The reason code (`None` for an allow).
    pub reason: Option<String>,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Everything `explain` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The config, as shown.
    pub config: String,
    /// The instant judged, Unix seconds.
    pub at: u64,
    pub steps: Vec<Step>,
    /// `None` when the decision could not be judged (`--offline`).
    pub answer: Option<Answer>,
    pub hint: Option<String>,
    /// Said when the narration and the gate disagree (the gate's answer stands) or the run was incomplete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// The loader's warnings about the config (deprecations, weak secrets), as `check` prints them.
    pub warnings: Vec<String>,
}

impl Report {
    /// 0 allowed, 1 denied, 2 not judged, 3 a dependency was unavailable (a 503, or anything else that is not an
    /// answer about the token).
    pub fn exit_code(&self) -> i32 {
        match &self.answer {
            None => 2,
            Some(a) if a.status == 200 => 0,
            Some(a) if a.status == 401 || a.status == 403 => 1,
            Some(_) => 3,
        }
    }

    /// The first failed step.
    pub fn first_failure(&self) -> Option<&Step> {
        self.steps.iter().find(|s| s.result == Mark::Fail)
    }
}

/// Explain one request. Must run inside a tokio runtime.
pub async fn explain(input: &Input) -> Result<Report, UsageError> {
    let env = |name: &str| {
        input
            .env
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var(name).ok())
    };
    let chosen = input::choose_config(
        &input.config,
        input.config_name.as_deref(),
        &input.load,
        &env,
    )?;
    let now = input.at.unwrap_or_else(unix_now);
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::at(now));
    let mut settings = input.settings.clone();
    settings.cache_size = 0;
    let over = input.jwks.as_deref().map(JwksOverride::of);
    if input.offline && matches!(over, Some(JwksOverride::Url(_))) {
        return Err(UsageError(
            "--offline cannot fetch the --jwks URL; give a file".into(),
        ));
    }

    // The request: the flags' headers, then the token where the selected mode reads it.
    let mut headers = input::Headers::from_flags(&input.headers, input.role.as_deref());
    let flag_pairs = headers.pairs();
    let mode = input::selected_mode(
        &chosen.config,
        &input::request(&flag_pairs),
        &settings.auth_mode_header,
    )
    .map_or(&chosen.config.mode, |(m, _)| m);
    if let Some(t) = &input.token {
        match mode {
            Mode::Jwt(j) => headers.place_token(t, &j.token_location),
            Mode::Webhook(_) => {
                headers.place_token(t, &crate::config::compiled::TokenLocation::Bearer)
            }
            Mode::NoAuth(_) => {}
        }
    }
    // Keys only for the mode judged: the other modes' key sets play no part in this decision, and fetching them
    // would only add waits (the gate gets no source for them and would answer `jwks_unavailable` if asked).
    let urls: Vec<url::Url> = match mode {
        Mode::Jwt(j) => match &j.key {
            crate::config::compiled::JwtKeySource::JwksUrl(u) => vec![u.clone()],
            crate::config::compiled::JwtKeySource::Fixed { .. } => Vec::new(),
        },
        _ => Vec::new(),
    };
    let keys = keys::build(
        &urls,
        over.as_ref(),
        input.offline,
        &settings.jwks,
        clock.clone(),
    )
    .await
    .map_err(|e| UsageError(e.to_string()))?;
    let keys = Arc::new(keys);
    let pairs = headers.pairs();
    let req = input::request(&pairs);

    let not_judged = input.offline && narrate::needs_network(mode, &keys);
    let answer = if not_judged {
        None
    } else {
        let gate = Gate::with_key_provider(settings.clone(), Arc::new(Ignore), clock, keys.clone())
            .map_err(|e| UsageError(e.to_string()))?;
        gate.apply(chosen.config.clone());
        let decision = gate.decide(&req).await;
        Some(answer_of(&decision).await)
    };
    let ctx = narrate::Ctx {
        config: &chosen.config,
        req: &req,
        settings: &settings,
        now,
        keys: &keys,
        token_given: input.token.is_some(),
        offline: input.offline,
    };
    let mut steps = Vec::new();
    let facts = narrate::narrate(&ctx, answer.as_ref(), &mut steps).await;
    let mut report = Report {
        config: chosen.label,
        at: now,
        steps,
        answer,
        hint: None,
        note: None,
        warnings: chosen.warnings,
    };
    report.note = agreement(&report);
    report.hint = hints::hint(&report, &facts, &ctx);
    Ok(report)
}

/// The HTTP adapter's rendering of `decision`: the status, headers and body `serve` sends.
async fn answer_of(decision: &crate::gate::Decision) -> Answer {
    let mut bytes = Vec::new();
    forward::render(decision, forward::Framing::default(), &mut bytes);
    let Some(written) = forward::parse_answer(&bytes) else {
        // `render` always writes a complete answer; should it not, say so rather than invent one.
        return Answer {
            status: 500,
            reason: None,
            headers: Vec::new(),
            body: String::from_utf8_lossy(&bytes).into_owned(),
        };
    };
    let status = written.status;
    // Sorted by name; the framing headers (length, date) are the listener's, not the decision's.
    let mut headers: Vec<(String, String)> = written
        .headers
        .into_iter()
        .filter(|(n, _)| !matches!(n.as_str(), "content-length" | "date" | "connection"))
        .collect();
    headers.sort();
    let body = written.body;
    let reason = (status != 200)
        .then(|| {
            serde_json::from_str::<Value>(&body)
                .ok()?
                .pointer("/errors/0/extensions/code")?
                .as_str()
                .map(str::to_owned)
        })
        .flatten();
    Answer {
        status,
        reason,
        headers,
        body,
    }
}

/// `None` when the narration agrees with the gate: an allow with no failed step, or a denial whose reason is the
/// first failed step's. Otherwise a note saying the gate's answer stands.
fn agreement(r: &Report) -> Option<String> {
    let a = r.answer.as_ref()?;
    let first = r.first_failure();
    match (a.status, first) {
        (200, None) => None,
        (200, Some(s)) => Some(format!(
            "the narration's step `{}` failed ({}), but the gate allowed the request; the gate's answer stands",
            s.name,
            s.reason.unwrap_or("?")
        )),
        (_, Some(s)) if s.reason == a.reason.as_deref() => None,
        (_, s) => Some(format!(
            "the gate denied with `{}`, which the narration {}; the gate's answer stands",
            a.reason.as_deref().unwrap_or("?"),
            match s {
                Some(s) => format!("puts at step `{}` as `{}`", s.name, s.reason.unwrap_or("?")),
                None => "did not find".to_owned(),
            }
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(status: u16, reason: Option<&str>, failed: Option<&'static str>) -> Report {
        let step = |name: &'static str, result: Mark, reason: Option<&'static str>| Step {
            name,
            result,
            summary: String::new(),
            reason,
            details: Map::new(),
        };
        let mut steps = vec![step("token", Mark::Pass, None)];
        if let Some(code) = failed {
            steps.push(step("claims", Mark::Fail, Some(code)));
        }
        Report {
            config: "c".into(),
            at: 0,
            steps,
            answer: Some(Answer {
                status,
                reason: reason.map(str::to_owned),
                headers: Vec::new(),
                body: String::new(),
            }),
            hint: None,
            note: None,
            warnings: Vec::new(),
        }
    }

    #[test]
    fn the_gate_wins_when_the_narration_disagrees() {
        assert_eq!(agreement(&report(200, None, None)), None);
        let agreed = report(401, Some("invalid_claims"), Some("invalid_claims"));
        assert_eq!(agreement(&agreed), None);
        assert_eq!(agreed.exit_code(), 1);
        for r in [
            report(401, Some("expired"), None),
            report(401, Some("expired"), Some("invalid_claims")),
            report(200, None, Some("invalid_claims")),
        ] {
            let note = agreement(&r).expect("a disagreement is said");
            assert!(note.contains("the gate's answer stands"), "{note}");
        }
        assert_eq!(report(503, Some("jwks_unavailable"), None).exit_code(), 3);
        assert_eq!(report(403, Some("role_not_allowed"), None).exit_code(), 1);
        let mut not_judged = report(200, None, None);
        not_judged.answer = None;
        assert_eq!(not_judged.exit_code(), 2);
    }
}
