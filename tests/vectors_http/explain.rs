//! The request cases of the vectors replayed through `explain` (the library function the subcommand runs),
//! in-process, against the same mock JWKS and webhook servers, with `--at` the instant the case's token was minted:
//! its answer must be the one `serve` gave the same request (status, reason code, body, session headers), and its
//! narration must agree with it (the first failed step's reason is the answer's; no step fails on an allow).

use std::time::Duration;

use authgate::explain::{Input, Mark, explain};
use authgate::gate::GateSettings;
use serde_json::Value;

use crate::common::http::Answer;

/// What one replay asks `explain`.
pub struct Asked<'a> {
    /// The config text, its mock URLs filled in.
    pub config: &'a str,
    /// The request's headers, the token in place.
    pub headers: Vec<(String, String)>,
    /// When the token was minted (its `exp_in`, `nbf_in`, `iat_in` are relative to this).
    pub at: i64,
    /// The case's environment (`valueFromEnv`).
    pub env: Vec<(String, String)>,
}

fn hasura(headers: impl Iterator<Item = (String, String)>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = headers
        .filter(|(n, _)| {
            n.starts_with("x-hasura-")
                || n == "x-envoy-auth-headers-to-remove"
                || n == "www-authenticate"
        })
        .collect();
    v.sort();
    v
}

/// Replay one request; the problems found.
pub async fn replay(label: &str, asked: Asked<'_>, req: &Value, served: &Answer) -> Vec<String> {
    let dir = crate::common::temp_dir("explain-replay");
    let path = dir.join("authconfig.yaml");
    std::fs::write(&path, asked.config).expect("write the config");
    let input = Input {
        config: vec![path],
        config_name: None,
        token: None,
        headers: asked.headers,
        role: None,
        jwks: None,
        at: Some(u64::try_from(asked.at).expect("a time after 1970")),
        offline: false,
        settings: GateSettings {
            webhook_timeout: Duration::from_secs(5),
            ..GateSettings::default()
        },
        load: Default::default(),
        env: asked.env,
    };
    let report = match tokio::time::timeout(Duration::from_secs(30), explain(&input)).await {
        Ok(Ok(r)) => r,
        // A config that does not load: serve answers `503 no_config`, explain refuses with the loader's error.
        Ok(Err(e))
            if served.code().as_deref() == Some("no_config")
                && e.to_string().contains("does not load") =>
        {
            return Vec::new();
        }
        Ok(Err(e)) => return vec![format!("{label}: explain refused: {e}")],
        Err(_) => return vec![format!("{label}: explain took over 30 s")],
    };
    let _ = std::fs::remove_dir_all(&dir);
    let mut p = Vec::new();
    let Some(a) = &report.answer else {
        return vec![format!("{label}: explain judged nothing")];
    };
    if a.status != served.status {
        p.push(format!(
            "{label}: explain says {}, serve said {}",
            a.status, served.status
        ));
    }
    if a.reason != served.code() {
        p.push(format!(
            "{label}: explain's reason {:?}, serve's {:?}",
            a.reason,
            served.code()
        ));
    }
    let method = req.get("method").and_then(Value::as_str).unwrap_or("GET");
    if method != "HEAD" && a.body != served.body {
        p.push(format!(
            "{label}: explain's body {}, serve's {}",
            a.body, served.body
        ));
    }
    let from_serve = hasura(served.headers.iter().map(|(n, v)| {
        (
            n.as_str().to_owned(),
            String::from_utf8_lossy(v.as_bytes()).into_owned(),
        )
    }));
    let from_explain = hasura(a.headers.iter().cloned());
    if from_serve != from_explain {
        p.push(format!(
            "{label}: explain's headers {from_explain:?}, serve's {from_serve:?}"
        ));
    }
    // The narration agrees with the gate.
    if let Some(n) = &report.note {
        p.push(format!("{label}: {n}"));
    }
    let first = report.first_failure();
    match (a.status, first) {
        (200, Some(s)) => p.push(format!("{label}: step {} failed on an allow", s.name)),
        (200, None) => {}
        (_, Some(s)) if s.reason == a.reason.as_deref() => {}
        (_, s) => p.push(format!(
            "{label}: first failed step {:?}, answer {:?}",
            s.map(|s| (s.name, s.reason)),
            a.reason
        )),
    }
    if report.steps.iter().any(|s| s.result == Mark::NotJudged) {
        p.push(format!("{label}: a step was not judged"));
    }
    p
}
