//! The report as text (one line per step, then the answer and the hint) or as one JSON object.

use std::fmt::Write;

use serde_json::json;

use super::{Mark, Report};

/// The text form.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "authgate explain: {} at {} ({})",
        r.config,
        super::time::format_rfc3339(r.at),
        r.at
    );
    let width = r.steps.iter().map(|s| s.name.len()).max().unwrap_or(0);
    for s in &r.steps {
        let mark = match s.result {
            Mark::Pass => "ok  ",
            Mark::Fail => "FAIL",
            Mark::NotReached => " -  ",
            Mark::NotJudged => " ?  ",
        };
        let summary = match (s.result, s.summary.is_empty()) {
            (Mark::NotReached, true) => "not reached",
            (Mark::NotJudged, true) => "not judged (--offline)",
            _ => s.summary.as_str(),
        };
        let reason = s.reason.map(|r| format!(" [{r}]")).unwrap_or_default();
        let _ = writeln!(out, "  {mark} {:width$}  {summary}{reason}", s.name);
    }
    match &r.answer {
        Some(a) => {
            let verdict = if a.status == 200 { "allowed" } else { "denied" };
            let _ = writeln!(
                out,
                "answer: {} {verdict}{}",
                a.status,
                a.reason
                    .as_deref()
                    .map(|c| format!(" ({c})"))
                    .unwrap_or_default()
            );
            for (n, v) in &a.headers {
                let _ = writeln!(out, "  {n}: {v}");
            }
            if !a.body.is_empty() {
                let _ = writeln!(out, "  body: {}", a.body);
            }
        }
        None => {
            let _ = writeln!(
                out,
                "answer: not judged (--offline): serve's answer depends on the network"
            );
        }
    }
    if let Some(h) = &r.hint {
        let _ = writeln!(out, "hint: {h}");
    }
    for w in &r.warnings {
        let _ = writeln!(out, "config warning: {w}");
    }
    if let Some(n) = &r.note {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// The JSON form: `{config, at, steps: [{name, result, summary, reason?, details}], answer: {status, reason,
/// headers, body} | null, hint, note?, warnings}`.
pub fn json(r: &Report) -> String {
    let mut v = serde_json::to_value(r).unwrap_or_else(|e| json!({"error": e.to_string()}));
    if let (Some(a), Some(slot)) = (&r.answer, v.get_mut("answer")) {
        // Headers as an object: the answer never repeats a header.
        let headers: serde_json::Map<String, serde_json::Value> = a
            .headers
            .iter()
            .map(|(n, h)| (n.clone(), json!(h)))
            .collect();
        slot["headers"] = serde_json::Value::Object(headers);
    }
    serde_json::to_string_pretty(&v).unwrap_or_default()
}
