//! From text to the one AuthConfig document: YAML or JSON, a single document or a multi-document stream (an `.hml`
//! file holds many kinds), then typed decoding that reports the failing field's path. The YAML crate is named only
//! here, so that it can be replaced.

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::MAX_CONFIG_BYTES;
use super::error::LoadError;
use crate::strict_json::StrictValue;

/// Parse text into the single AuthConfig document as a JSON value.
pub(super) fn parse_document(text: &str) -> Result<Value, LoadError> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(LoadError::at(
            "",
            format!(
                "config is {} bytes; the limit is {MAX_CONFIG_BYTES}",
                text.len()
            ),
        ));
    }
    let body = text.strip_prefix('\u{feff}').unwrap_or(text);
    let docs: Vec<Value> = if body.trim_start().starts_with('{') {
        // Duplicate keys are an error in JSON as in YAML (serde_json alone would keep the last one).
        let v = serde_json::from_str::<StrictValue>(body)
            .map(|v| v.0)
            .map_err(|e| LoadError {
                path: String::new(),
                location: Some((e.line(), e.column())),
                message: format!("invalid JSON: {e}"),
            })?;
        vec![v]
    } else {
        let mut options = serde_saphyr::Options::default();
        // YAML 1.2 booleans only: `role: y` is the string "y", not `true`.
        options.strict_booleans = true;
        options.with_snippet = false;
        serde_saphyr::from_multiple_with_options::<Value>(body, options).map_err(yaml_error)?
    };
    select_auth_config(docs)
}

fn yaml_error(e: serde_saphyr::Error) -> LoadError {
    let location = e
        .location()
        .map(|l| (l.line() as usize, l.column() as usize));
    // The crate's Display repeats the location; keep the first line, which carries the reason.
    let text = e.to_string();
    let message = text.lines().next().unwrap_or("invalid YAML").to_owned();
    LoadError {
        path: String::new(),
        location,
        message: format!("invalid YAML: {message}"),
    }
}

/// From a stream of documents take the one `kind: AuthConfig` (or a lone document without `kind`).
fn select_auth_config(docs: Vec<Value>) -> Result<Value, LoadError> {
    let docs: Vec<Value> = docs.into_iter().filter(|d| !d.is_null()).collect();
    match docs.len() {
        0 => {
            return Err(LoadError::at(
                "",
                "no AuthConfig document found (the input is empty)",
            ));
        }
        1 => return Ok(docs.into_iter().next().unwrap_or(Value::Null)),
        _ => {}
    }
    let n = docs.len();
    let mut found: Vec<Value> = docs
        .into_iter()
        .filter(|d| d.get("kind").and_then(Value::as_str) == Some("AuthConfig"))
        .collect();
    match found.len() {
        1 => Ok(found.pop().unwrap_or(Value::Null)),
        0 => Err(LoadError::at(
            "",
            format!("none of the {n} documents has `kind: AuthConfig`"),
        )),
        k => Err(LoadError::at(
            "",
            format!("{k} documents have `kind: AuthConfig`; expected exactly one"),
        )),
    }
}

/// Deserialise `value` into `T`, reporting the failing field as `prefix.path`.
pub(super) fn typed<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, LoadError> {
    serde_path_to_error::deserialize::<_, T>(value).map_err(|e| {
        let inner = e.path().to_string();
        let path = if inner == "." || inner.is_empty() {
            prefix.to_owned()
        } else {
            format!("{prefix}.{inner}")
        };
        let mut message = e.into_inner().to_string();
        // A v1/v2 webhook `url` is decoded as a URL here, and the url crate's message quotes the text
        // (`invalid port number: "…"`); keep only the parser's reason (the URL may carry credentials, see
        // `Resolved`), and nothing at all from a message of another shape that quotes something.
        if path.ends_with(".webhook.url") && message.contains('"') {
            message = match message.split_once(": \"") {
                Some((reason, _)) if !reason.contains(':') => {
                    format!("Invalid URL for auth webhook: {reason}")
                }
                _ => "Invalid URL for auth webhook".to_owned(),
            };
        }
        LoadError::at(path, message)
    })
}
