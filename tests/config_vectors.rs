//! Every `load:` case of the conformance vectors, run through the real `authgate check` binary, each exactly once:
//! the run is checked against the case ids counted from the file, so a case the runner skips (or runs twice) fails
//! the test instead of shrinking it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

mod common;
use common::vectors::{CaseKind, VECTORS, cases as vectors, kind_of, lines_starting};

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => vec![],
    }
}

#[test]
fn load_cases_of_the_vectors() {
    let dir = common::temp_dir("vectors");
    let cases = vectors();
    let want: BTreeSet<String> = cases
        .iter()
        .filter(|c| kind_of(c) == CaseKind::Load)
        .map(|c| c["id"].as_str().unwrap_or("?").to_owned())
        .collect();
    assert_eq!(
        want.len(),
        lines_starting("  load:"),
        "load cases parsed vs `  load:` lines in {VECTORS}"
    );
    // How many times each case was run through `authgate check`.
    let mut ran: BTreeMap<String, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in &cases {
        let Some(load) = case.get("load") else {
            continue;
        };
        let id = case["id"].as_str().unwrap_or("?");
        let path = dir.join(format!("{id}.yaml"));
        std::fs::write(&path, case["config"].as_str().expect("config text")).expect("write config");
        let mut cmd = Command::new(common::service::bin());
        cmd.arg("check").arg(&path);
        if let Some(env) = case.get("env").and_then(Value::as_object) {
            for (k, v) in env {
                cmd.env(k, v.as_str().unwrap_or_default());
            }
        }
        let out = cmd.output().expect("run authgate check");
        *ran.entry(id.to_owned()).or_default() += 1;
        let text = common::combined(&out);
        let want_ok = load["ok"].as_bool().expect("load.ok");
        if out.status.success() != want_ok {
            failures.push(format!(
                "{id}: expected ok={want_ok}, exit {:?}: {text}",
                out.status.code()
            ));
        }
        if !want_ok && out.status.code() != Some(1) {
            failures.push(format!(
                "{id}: a config that does not load must exit 1, got {:?}",
                out.status.code()
            ));
        }
        for key in ["error_contains", "output_contains"] {
            for needle in load.get(key).map(strings).unwrap_or_default() {
                if !text.contains(&needle) {
                    failures.push(format!("{id}: output lacks {needle:?}: {text}"));
                }
            }
        }
    }
    let twice: Vec<_> = ran.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "cases run more than once: {twice:?}");
    let missed: Vec<_> = want.iter().filter(|id| !ran.contains_key(*id)).collect();
    assert!(
        missed.is_empty(),
        "{} of the {} load cases in the file were not run: {missed:?}",
        missed.len(),
        want.len()
    );
    assert_eq!(
        ran.len(),
        want.len(),
        "ran {} load cases, the file has {}",
        ran.len(),
        want.len()
    );
    assert!(
        failures.is_empty(),
        "{} failing load cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
