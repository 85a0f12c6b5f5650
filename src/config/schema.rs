//! The JSON Schema of an AuthConfig document, generated from the model types. `authgate schema` prints it and
//! `schema/authconfig.schema.json` is a committed copy that a test keeps identical.

use schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::model::{DefinitionV1, DefinitionV2, DefinitionV3, DefinitionV4};

/// The schema as JSON.
pub fn authconfig_schema() -> Value {
    let mut generator = SchemaSettings::draft2020_12().into_generator();
    let defs = [
        ("v1", generator.subschema_for::<DefinitionV1>()),
        ("v2", generator.subschema_for::<DefinitionV2>()),
        ("v3", generator.subschema_for::<DefinitionV3>()),
        ("v4", generator.subschema_for::<DefinitionV4>()),
    ];
    let one_of: Vec<Value> = defs
        .into_iter()
        .map(|(v, def)| {
            json!({
                "type": "object",
                "properties": {
                    "kind": {"const": "AuthConfig"},
                    "version": {"const": v},
                    "definition": def
                },
                "required": ["version", "definition"],
                "additionalProperties": false
            })
        })
        .collect();
    let definitions: serde_json::Map<String, Value> = generator.take_definitions(true);
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://github.com/authgate/authgate/schema/authconfig.schema.json",
        "title": "AuthConfig",
        "description": "Hasura DDN-style AuthConfig (v1-v4) as read by authgate.",
        "oneOf": one_of,
        "$defs": definitions
    })
}

/// The schema as pretty-printed text with a trailing newline (the committed file's exact bytes).
pub fn authconfig_schema_text() -> Result<String, serde_json::Error> {
    let mut s = serde_json::to_string_pretty(&authconfig_schema())?;
    s.push('\n');
    Ok(s)
}
