//! RFC 6901 JSON pointers, parsed once when the config loads and walked without allocation per request.
//! Error texts are those of the Hasura engine (which uses `jsonptr` 0.4).

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, de};
use serde_json::Value;

/// A parsed JSON pointer: its reference tokens, unescaped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPointer {
    text: String,
    tokens: Vec<String>,
}

/// Why a pointer string is not a JSON pointer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PointerError {
    /// The Hasura engine's message for a pointer without a leading `/`.
    #[error("json pointer {0:?} is malformed due to missing starting slash")]
    MissingSlash(String),
    /// The Hasura engine's message for a `~` not followed by `0` or `1`.
    #[error("json pointer {0:?} is improperly encoded")]
    BadEscape(String),
}

impl JsonPointer {
    /// Parse a pointer: `""` (the whole document) or `/`-separated tokens with `~0`/`~1` escapes.
    pub fn parse(text: &str) -> Result<Self, PointerError> {
        if text.is_empty() {
            return Ok(Self {
                text: String::new(),
                tokens: Vec::new(),
            });
        }
        let Some(rest) = text.strip_prefix('/') else {
            return Err(PointerError::MissingSlash(text.to_owned()));
        };
        let mut tokens = Vec::new();
        for raw in rest.split('/') {
            let mut tok = String::with_capacity(raw.len());
            let mut chars = raw.chars();
            while let Some(c) = chars.next() {
                if c == '~' {
                    match chars.next() {
                        Some('0') => tok.push('~'),
                        Some('1') => tok.push('/'),
                        _ => return Err(PointerError::BadEscape(text.to_owned())),
                    }
                } else {
                    tok.push(c);
                }
            }
            tokens.push(tok);
        }
        Ok(Self {
            text: text.to_owned(),
            tokens,
        })
    }

    /// The pointer as written in the config.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Resolve the pointer in `doc` (same semantics as `serde_json::Value::pointer`).
    pub fn resolve<'a>(&self, doc: &'a Value) -> Option<&'a Value> {
        let mut cur = doc;
        for tok in &self.tokens {
            cur = match cur {
                Value::Object(m) => m.get(tok.as_str())?,
                Value::Array(a) => a.get(parse_index(tok)?)?,
                _ => return None,
            };
        }
        Some(cur)
    }
}

/// Array indices per RFC 6901: decimal without leading zeros (`0` itself is fine).
fn parse_index(tok: &str) -> Option<usize> {
    if tok.is_empty()
        || (tok.len() > 1 && tok.starts_with('0'))
        || !tok.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    tok.parse().ok()
}

impl fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for JsonPointer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        JsonPointer::parse(&s).map_err(de::Error::custom)
    }
}

impl JsonSchema for JsonPointer {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "JsonPointer".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A JSON pointer (RFC 6901): empty, or starting with '/'.",
            "type": "string",
            "pattern": "^(/([^~]|~[01])*)*$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reference_messages() {
        assert_eq!(
            JsonPointer::parse("custom_claims/user_id")
                .unwrap_err()
                .to_string(),
            "json pointer \"custom_claims/user_id\" is malformed due to missing starting slash"
        );
        assert_eq!(
            JsonPointer::parse("/a~2b").unwrap_err().to_string(),
            "json pointer \"/a~2b\" is improperly encoded"
        );
    }

    #[test]
    fn resolves_like_serde_json() {
        let doc = json!({"https://hasura.io/jwt/claims": {"a": [1, {"b": 2}]}, "": 7, "~": 8});
        for p in [
            "",
            "/",
            "/~0",
            "/https:~1~1hasura.io~1jwt~1claims/a/1/b",
            "/https:~1~1hasura.io~1jwt~1claims/a/01",
            "/x",
        ] {
            let ours = JsonPointer::parse(p).expect("every pointer of this list is well-formed");
            assert_eq!(ours.resolve(&doc), doc.pointer(p), "pointer {p:?}");
        }
    }
}
