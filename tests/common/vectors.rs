//! The conformance vectors file (tests/fixtures/vectors/public.yaml): its cases, counted against its text so that a
//! case the parser misses fails instead of shrinking a run, and what kind each case is.

use serde_json::Value;

pub const VECTORS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/vectors/public.yaml"
);

/// Lines of the vectors file that start with `prefix`: a count taken from the text, beside the parser's.
pub fn lines_starting(prefix: &str) -> usize {
    let text = std::fs::read_to_string(VECTORS).expect("vectors file is committed");
    text.lines().filter(|l| l.starts_with(prefix)).count()
}

/// The cases of the vectors file, after checking that the parser saw every case the text holds: one `- id:` line
/// per case (the file's layout, see its README), each id once.
pub fn cases() -> Vec<Value> {
    let text = std::fs::read_to_string(VECTORS).expect("vectors file is committed");
    let doc: Value = serde_saphyr::from_str(&text).expect("vectors parse");
    let cases = doc["cases"].as_array().expect("cases list").clone();
    let in_text = lines_starting("- id:");
    assert_eq!(
        cases.len(),
        in_text,
        "{VECTORS} has {in_text} `- id:` lines but {} parsed cases",
        cases.len()
    );
    let ids: std::collections::BTreeSet<&str> = cases
        .iter()
        .map(|c| c["id"].as_str().expect("every case has a string id"))
        .collect();
    assert_eq!(
        ids.len(),
        cases.len(),
        "case ids in {VECTORS} are not unique"
    );
    cases
}

/// What a case is: exactly one of these (the file's layout, see its README).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaseKind {
    /// `load`: a config run through `authgate check`.
    Load,
    /// `request` + `expect`: one request to the running service.
    Request,
    /// `steps`: requests (and changes to the mocks) in order.
    Steps,
}

/// The kind of `case`, failing the test when it is not exactly one.
pub fn kind_of(case: &Value) -> CaseKind {
    let id = case["id"].as_str().unwrap_or("?");
    let kinds = [
        case.get("load").is_some(),
        case.get("request").is_some() && case.get("expect").is_some(),
        case.get("steps").is_some(),
    ];
    assert_eq!(
        kinds.iter().filter(|k| **k).count(),
        1,
        "{id}: a case is exactly one of load / request+expect / steps"
    );
    match kinds {
        [true, _, _] => CaseKind::Load,
        [_, true, _] => CaseKind::Request,
        _ => CaseKind::Steps,
    }
}
