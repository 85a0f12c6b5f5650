//! Every `load:` case of the conformance vectors, run through the real `authgate check` binary.

use std::process::Command;

use serde_json::Value;

fn vectors() -> Vec<Value> {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/vectors/public.yaml"
    ))
    .expect("vectors file is committed");
    let doc: Value = serde_saphyr::from_str(&text).expect("vectors parse");
    doc["cases"].as_array().expect("cases list").clone()
}

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
    let dir = tempdir();
    let mut ran = 0;
    let mut failures = Vec::new();
    for case in vectors() {
        let Some(load) = case.get("load") else {
            continue;
        };
        let id = case["id"].as_str().unwrap_or("?");
        let path = dir.join(format!("{id}.yaml"));
        std::fs::write(&path, case["config"].as_str().expect("config text")).expect("write config");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_authgate"));
        cmd.arg("check").arg(&path);
        if let Some(env) = case.get("env").and_then(Value::as_object) {
            for (k, v) in env {
                cmd.env(k, v.as_str().unwrap_or_default());
            }
        }
        let out = cmd.output().expect("run authgate check");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
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
        ran += 1;
    }
    assert!(ran >= 27, "only {ran} load cases found");
    assert!(
        failures.is_empty(),
        "{} failing load cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("authgate-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
