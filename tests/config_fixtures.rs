//! The config fixtures (`tests/fixtures/configs/{valid,invalid}`) and the `examples/`, run through the real
//! `authgate check` binary, plus the command-line edge cases of `check` (missing file, no arguments, JSON output,
//! a megabyte of junk). The Clerk examples also decide Clerk-shaped tokens (`config_fixtures/clerk.rs`).
//!
//! Every run clears the environment, so "valid" means "loads with no environment variables set" and
//! `valueFromEnv` fixtures cannot be satisfied by accident.

#[path = "config_fixtures/clerk.rs"]
mod clerk;
mod common;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::{combined, temp_dir};
use serde_json::Value;

/// Extensions of config files; anything else in a fixtures folder (e.g. `.expected`) is not a config.
const CONFIG_EXTENSIONS: &[&str] = &["yaml", "yml", "hml", "json"];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixtures(kind: &str) -> PathBuf {
    manifest_dir().join("tests/fixtures/configs").join(kind)
}

/// Config files in `dir`, sorted by name.
fn config_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| {
            p.extension()
                .and_then(OsStr::to_str)
                .is_some_and(|ext| CONFIG_EXTENSIONS.contains(&ext))
        })
        .collect();
    out.sort();
    out
}

/// Run `authgate ARGS…` with an empty environment.
fn authgate<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(common::service::bin())
        .args(args)
        .env_clear()
        .output()
        .expect("run the authgate binary")
}

/// The start of a long output, for assertion messages.
fn head(text: &str) -> String {
    text.chars().take(2000).collect()
}

/// Every file in `dir`, sorted by name: what a fixtures run is counted against.
fn folder_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    out.sort();
    out
}

/// Check that `ran` (how many times each file was run through `check`) names every one of `configs` (the config
/// files of the folder listing) exactly once.
fn assert_each_ran_once(dir: &Path, ran: &BTreeMap<PathBuf, usize>, configs: &[PathBuf]) {
    let twice: Vec<_> = ran.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "fixtures checked more than once: {twice:?}"
    );
    let missed: Vec<_> = configs.iter().filter(|c| !ran.contains_key(*c)).collect();
    assert!(
        missed.is_empty(),
        "{} of the {} config files in {} were not checked: {missed:?}",
        missed.len(),
        configs.len(),
        dir.display()
    );
    assert_eq!(
        ran.len(),
        configs.len(),
        "checked files outside the folder listing"
    );
}

/// `check FILE` must exit 0 and print `FILE: ok`.
fn check_loads(file: &Path) -> Result<(), String> {
    let out = authgate([OsStr::new("check"), file.as_os_str()]);
    let text = combined(&out);
    let ok_line = format!("{}: ok", file.display());
    if out.status.code() != Some(0) {
        return Err(format!(
            "{}: expected exit 0, got {:?}:\n{text}",
            file.display(),
            out.status.code()
        ));
    }
    if !String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l == ok_line)
    {
        return Err(format!(
            "{}: no `{ok_line}` line in:\n{text}",
            file.display()
        ));
    }
    Ok(())
}

#[test]
fn valid_configs_load() {
    let dir = fixtures("valid");
    // The folder holds configs only: every file in it is one to load.
    let all = folder_files(&dir);
    let files = config_files(&dir);
    assert_eq!(
        files,
        all,
        "{} holds files that are not configs",
        dir.display()
    );
    let mut ran = BTreeMap::new();
    let mut failures = Vec::new();
    for file in &files {
        *ran.entry(file.clone()).or_default() += 1;
        if let Err(e) = check_loads(file) {
            failures.push(e);
        }
    }
    assert_each_ran_once(&dir, &ran, &all);
    assert!(
        failures.is_empty(),
        "{} valid fixtures failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn invalid_configs_are_rejected_with_the_expected_messages() {
    let dir = fixtures("invalid");
    // The folder holds pairs: a config and its `.expected` (checked both ways here and in
    // `every_expected_file_belongs_to_a_config`), so half its files are configs to check.
    let all = folder_files(&dir);
    let files = config_files(&dir);
    assert_eq!(
        all.len(),
        2 * files.len(),
        "{} must hold one `.expected` per config and nothing else: {all:?}",
        dir.display()
    );
    let mut ran = BTreeMap::new();
    let mut failures = Vec::new();
    for file in &files {
        let expected_path = file.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_else(|e| {
            panic!("{} needs {}: {e}", file.display(), expected_path.display())
        });
        let needles: Vec<&str> = expected.lines().filter(|l| !l.trim().is_empty()).collect();
        assert!(!needles.is_empty(), "{} is empty", expected_path.display());

        let out = authgate([OsStr::new("check"), file.as_os_str()]);
        *ran.entry(file.clone()).or_default() += 1;
        let text = combined(&out);
        if out.status.code() != Some(1) {
            failures.push(format!(
                "{}: expected exit 1, got {:?}:\n{text}",
                file.display(),
                out.status.code()
            ));
            continue;
        }
        for needle in needles {
            if !text.contains(needle) {
                failures.push(format!(
                    "{}: output lacks {needle:?}:\n{text}",
                    file.display()
                ));
            }
        }
    }
    assert_each_ran_once(&dir, &ran, &files);
    assert!(
        failures.is_empty(),
        "{} invalid-fixture checks failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn every_expected_file_belongs_to_a_config() {
    let dir = fixtures("invalid");
    let configs = config_files(&dir);
    for entry in std::fs::read_dir(&dir).expect("list the invalid fixtures") {
        let path = entry.expect("directory entry").path();
        if path.extension() == Some(OsStr::new("expected")) {
            let stem = path.file_stem().expect("a file name");
            assert!(
                configs.iter().any(|c| c.file_stem() == Some(stem)),
                "{} has no config file beside it",
                path.display()
            );
        }
    }
}

#[test]
fn examples_load() {
    let dir = manifest_dir().join("examples");
    let files = config_files(&dir);
    for name in [
        "clerk.yaml",
        "clerk-session-token.yaml",
        "clerk-ddn-recipe.yaml",
        "fixed-key.yaml",
        "webhook.yaml",
        "alternative-modes.yaml",
    ] {
        assert!(
            files
                .iter()
                .any(|f| f.file_name() == Some(OsStr::new(name))),
            "examples/{name} is missing"
        );
    }
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read an example");
        if !text.starts_with('#') {
            failures.push(format!(
                "{}: should start with a `#` comment saying what it is",
                file.display()
            ));
        }
        if !text.lines().any(|l| l == "kind: AuthConfig") {
            failures.push(format!(
                "{}: should be a `kind: AuthConfig` document",
                file.display()
            ));
        }
        if let Err(e) = check_loads(file) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} example checks failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn check_of_a_missing_file_prints_one_line() {
    let dir = temp_dir("missing-file");
    let missing = dir.join("does-not-exist.yaml");
    let out = authgate([OsStr::new("check"), missing.as_os_str()]);
    let text = combined(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit code for a missing file:\n{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one line of output, got:\n{text}"
    );
    assert!(
        lines[0].contains("does-not-exist.yaml"),
        "the line should name the file: {text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_without_arguments_is_a_usage_error() {
    let out = authgate(["check"]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "usage errors exit 2:\n{}",
        combined(&out)
    );
}

#[test]
fn check_json_format_reports_each_file() {
    let valid = fixtures("valid").join("v3-noauth.yaml");
    let invalid = fixtures("invalid").join("unknown-version.yaml");
    let out = authgate([
        OsStr::new("check"),
        OsStr::new("--format"),
        OsStr::new("json"),
        valid.as_os_str(),
        invalid.as_os_str(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "one file fails, so exit 1:\n{}",
        combined(&out)
    );
    let doc: Value =
        serde_json::from_str(&stdout).expect("stdout of --format json is one JSON document");
    assert_eq!(doc["ok"], Value::Bool(false), "top-level ok: {doc}");
    let files = doc["files"].as_array().expect("a `files` array");
    assert_eq!(files.len(), 2, "one entry per file: {doc}");

    let first = &files[0];
    assert_eq!(
        first["file"].as_str(),
        Some(valid.display().to_string().as_str()),
        "{first}"
    );
    assert_eq!(first["ok"], Value::Bool(true), "{first}");
    assert_eq!(first["errors"].as_array().map(Vec::len), Some(0), "{first}");

    let second = &files[1];
    assert_eq!(
        second["file"].as_str(),
        Some(invalid.display().to_string().as_str()),
        "{second}"
    );
    assert_eq!(second["ok"], Value::Bool(false), "{second}");
    let errors = second["errors"].as_array().expect("an `errors` array");
    assert!(
        !errors.is_empty(),
        "a failing file lists its errors: {second}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e["path"] == "version"
                && e["message"].as_str().is_some_and(|m| m.contains("v5"))),
        "the error names the field and the value: {second}"
    );
}

#[test]
fn check_rejects_a_megabyte_of_junk() {
    let dir = temp_dir("junk");
    let path = dir.join("junk.yaml");
    // Printable ASCII from a 64-bit LCG (Knuth's MMIX constants), with a newline now and then.
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let junk: Vec<u8> = (0..1_000_000)
        .map(|i| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            if i % 97 == 96 {
                b'\n'
            } else {
                b' ' + ((state >> 33) % 95) as u8
            }
        })
        .collect();
    assert_eq!(junk.len(), 1_000_000);
    std::fs::write(&path, &junk).expect("write the junk file");
    let out = authgate([OsStr::new("check"), path.as_os_str()]);
    let text = combined(&out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "junk must be rejected with exit 1:\n{}",
        head(&text)
    );
    assert!(
        text.contains("junk.yaml: error:"),
        "an error line names the file: {}",
        head(&text)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `check --format json DIR`: one entry per file with the config name it gives, name errors among its errors.
#[test]
fn check_json_of_a_directory_names_each_config() {
    let dir = temp_dir("json-dir");
    let valid = std::fs::read_to_string(fixtures("valid").join("v3-noauth.yaml")).expect("fixture");
    std::fs::write(dir.join("good.yaml"), &valid).expect("write");
    std::fs::write(dir.join("Bad.yaml"), &valid).expect("write");
    let out = authgate([
        OsStr::new("check"),
        OsStr::new("--format"),
        OsStr::new("json"),
        dir.as_os_str(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", combined(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    let files = doc["files"].as_array().expect("files");
    assert_eq!(files.len(), 2, "{doc}");
    let by_config = |name: &str| {
        files
            .iter()
            .find(|f| f["config"] == name)
            .unwrap_or_else(|| panic!("no entry for config {name}: {doc}"))
    };
    assert_eq!(by_config("good")["ok"], Value::Bool(true), "{doc}");
    let bad = by_config("Bad");
    assert_eq!(bad["ok"], Value::Bool(false), "{doc}");
    assert!(
        bad["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("not a valid config name")),
        "{doc}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
