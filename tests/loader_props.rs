//! The loader never panics, whatever it is fed; configs that load keep loading under edits that do not change
//! their meaning; and the committed JSON Schema matches the types.
//!
//! The seeds are the configs the rest of the suite already trusts: every config of the conformance vectors
//! (tests/fixtures/vectors/public.yaml, with its `load.ok` verdict or, for runtime cases, "loads"), the
//! fixtures (tests/fixtures/configs/{valid,invalid}) and the committed inputs of the `config_load` fuzz target.

use std::sync::LazyLock;

use authgate::config::{LoadErrors, LoadOptions, Loaded, load_str_with_env};
use proptest::prelude::*;
use serde_json::Value;

/// One seed config: where it comes from, its text, its environment, and whether it must load.
#[derive(Debug, Clone)]
struct Seed {
    name: String,
    text: String,
    env: Vec<(String, String)>,
    /// `Some(true)`: must load; `Some(false)`: must be refused; `None`: either (fuzz inputs).
    loads: Option<bool>,
}

fn manifest_path(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Files of a directory, sorted, leaving out `.expected` files and READMEs.
fn files(rel: &str) -> Vec<std::path::PathBuf> {
    let dir = manifest_path(rel);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !name.ends_with(".expected") && name != "README.md"
        })
        .collect();
    out.sort();
    out
}

/// A runtime vector's config with the runner's placeholders (tests/vectors_http.rs) set to loopback URLs.
fn fill(config: &str) -> String {
    let base = "http://127.0.0.1:9";
    config
        .replace("{{jwks_url}}", &format!("{base}/.well-known/jwks.json"))
        .replace("{{webhook_url}}", &format!("{base}/hook"))
        .replace("{{dead_url}}", &format!("{base}/dead"))
        .replace("{{mock_base}}", base)
}

static SEEDS: LazyLock<Vec<Seed>> = LazyLock::new(|| {
    let mut seeds = Vec::new();
    let text = std::fs::read_to_string(manifest_path("tests/fixtures/vectors/public.yaml"))
        .expect("vectors file is committed");
    let doc: Value = serde_saphyr::from_str(&text).expect("vectors parse");
    for case in doc["cases"].as_array().expect("cases list") {
        let id = case["id"].as_str().expect("case id");
        let Some(config) = case["config"].as_str() else {
            continue;
        };
        let env = case["env"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().expect("env values are strings").to_owned(),
                )
            })
            .collect();
        // A runtime case (request or steps) runs its config, so the config loads; unless the case expects the
        // service never to get ready (a config that does not load, or keys that never come: either way).
        let loads = match case.pointer("/load/ok") {
            Some(ok) => Some(ok.as_bool().expect("load.ok is a bool")),
            None if case["ready"] == Value::Bool(false) => None,
            None => Some(true),
        };
        seeds.push(Seed {
            name: format!("vector {id}"),
            text: fill(config),
            env,
            loads,
        });
    }
    for (dir, loads) in [
        ("tests/fixtures/configs/valid", Some(true)),
        ("tests/fixtures/configs/invalid", Some(false)),
        ("fuzz/seeds/config_load", None),
        ("fuzz/regressions/config_load", None),
    ] {
        for path in files(dir) {
            let bytes = std::fs::read(&path).expect("read seed");
            seeds.push(Seed {
                name: path.display().to_string(),
                text: String::from_utf8_lossy(&bytes).into_owned(),
                env: Vec::new(),
                loads,
            });
        }
    }
    seeds
});

/// The seeds that must load.
static VALID: LazyLock<Vec<Seed>> = LazyLock::new(|| {
    SEEDS
        .iter()
        .filter(|s| s.loads == Some(true))
        .cloned()
        .collect()
});

fn load_with(text: &str, env: &[(String, String)]) -> Result<Loaded, LoadErrors> {
    load_str_with_env(text, &LoadOptions::default(), &|name| {
        env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    })
}

/// Only Ok or Err (a panic fails the property), and an Err names at least one error.
fn load(text: &str) -> Result<(), TestCaseError> {
    let result = load_str_with_env(text, &LoadOptions::default(), &|_| {
        Some("an-environment-value".into())
    });
    if let Err(errors) = result {
        prop_assert!(!errors.0.is_empty(), "an Err without an error for {text:?}");
    }
    Ok(())
}

/// Every seed gets the verdict its source gives it; enough of them exist that the properties below mean something.
#[test]
fn item16_loader_seeds_load_as_their_sources_say() {
    let mut wrong = Vec::new();
    for seed in SEEDS.iter() {
        let result = load_with(&seed.text, &seed.env);
        if let Some(must) = seed.loads
            && result.is_ok() != must
        {
            wrong.push(format!(
                "{}: expected loads={must}, got {:?}",
                seed.name,
                result.err()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "seeds with the wrong verdict:\n{}",
        wrong.join("\n")
    );
    let valid = VALID.len();
    let invalid = SEEDS.iter().filter(|s| s.loads == Some(false)).count();
    assert!(
        valid >= 100 && invalid >= 50,
        "too few seeds: {valid} valid, {invalid} invalid"
    );
}

/// `text` with a comment line before its `n`-th top-level line (a zero-indent line ends any block scalar, so
/// this never lands inside a PEM) and trailing blank lines: the same YAML document.
fn with_comments(text: &str, n: usize, comment: &str) -> String {
    let starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .filter(|&i| {
            text[i..]
                .chars()
                .next()
                .is_some_and(|c| !c.is_whitespace() && c != '-')
        })
        .collect();
    let at = starts.get(n % starts.len().max(1)).copied().unwrap_or(0);
    format!("{}# {comment}\n{}\n\n", &text[..at], &text[at..])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        load(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn truncated_seeds(seed in 0..SEEDS.len(), cut in any::<usize>()) {
        let s = &SEEDS[seed].text;
        let mut end = cut % (s.len() + 1);
        while !s.is_char_boundary(end) { end -= 1; }
        load(&s[..end])?;
    }

    #[test]
    fn mutated_seeds(seed in 0..SEEDS.len(), edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8)) {
        let mut b = SEEDS[seed].text.as_bytes().to_vec();
        for (pos, byte) in edits {
            if b.is_empty() { break; }
            let i = pos % b.len();
            b[i] = byte;
        }
        load(&String::from_utf8_lossy(&b))?;
    }

    /// Lines dropped, doubled or swapped with the next: YAML structure errors of every kind.
    #[test]
    fn line_edits_of_seeds(seed in 0..SEEDS.len(), edits in proptest::collection::vec((any::<usize>(), 0u8..3), 1..5)) {
        let mut lines: Vec<&str> = SEEDS[seed].text.lines().collect();
        for (pos, op) in edits {
            if lines.len() < 2 { break; }
            let i = pos % (lines.len() - 1);
            match op {
                0 => { lines.remove(i); }
                1 => { let l = lines[i]; lines.insert(i, l); }
                _ => lines.swap(i, i + 1),
            }
        }
        load(&lines.join("\n"))?;
    }

    /// A config that loads still loads, to the same warnings, with comments and blank lines added.
    #[test]
    fn item16_valid_seeds_still_load_with_comments(seed in 0..VALID.len(), n in any::<usize>(), comment in "[ -~]{0,40}") {
        let s = &VALID[seed];
        prop_assume!(!s.text.trim_start().starts_with('{'), "JSON has no comments");
        let before = load_with(&s.text, &s.env).map(|l| l.warnings);
        let edited = with_comments(&s.text, n, &comment);
        let after = load_with(&edited, &s.env).map(|l| l.warnings);
        prop_assert!(after.is_ok(), "{} no longer loads with a comment:\n{edited}\n{:?}", s.name, after.err());
        prop_assert_eq!(before.ok(), after.ok(), "{}: other warnings", &s.name);
    }

    #[test]
    fn random_yaml_shapes(keys in proptest::collection::vec("[a-zA-Z:~/*-]{0,12}", 1..10), nest in 0usize..40) {
        let mut text = String::from("kind: AuthConfig\nversion: v4\ndefinition:\n");
        for (i, k) in keys.iter().enumerate() {
            text.push_str(&"  ".repeat(1 + i % 6));
            text.push_str(k);
            text.push_str(": ");
            text.push_str(&"[".repeat(nest));
            text.push('\n');
        }
        load(&text)?;
    }
}

#[test]
fn committed_schema_matches_the_types() {
    let committed = include_str!("../schema/authconfig.schema.json");
    let generated = authgate::config::schema::authconfig_schema_text().expect("the schema renders");
    assert!(
        committed == generated,
        "schema/authconfig.schema.json is stale: run `cargo run -- schema > schema/authconfig.schema.json`"
    );
}
