//! The `claimsConfig` of a JWT mode: where the Hasura claims are in the token (one namespace object, or each
//! claim from its own place). Part of the model, re-exported from it.

use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::config::pointer::JsonPointer;

/// Where the Hasura claims are (exactly one key).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum JwtClaimsConfig {
    /// All claims in one object at a JSON pointer.
    Namespace(JwtClaimsNamespace),
    /// Each claim mapped from its own place.
    Locations(JwtClaimsMap),
}

/// The claims namespace.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JwtClaimsNamespace {
    /// `Json` (an object) or `StringifiedJson` (a string holding the object).
    pub claims_format: JwtClaimsFormat,
    /// JSON pointer (RFC 6901) to the claims object in the token payload.
    pub location: JsonPointer,
}

/// Format of the claims namespace.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum JwtClaimsFormat {
    /// A JSON object.
    Json,
    /// A string containing a JSON object.
    StringifiedJson,
}

/// The `locations` form: the two required role entries plus custom claims.
#[derive(Debug, Clone)]
pub struct JwtClaimsMap {
    /// `x-hasura-default-role`.
    pub default_role: JwtClaimsMappingEntry<String>,
    /// `x-hasura-allowed-roles`.
    pub allowed_roles: JwtClaimsMappingEntry<Vec<String>>,
    /// Every other key: a custom session variable (name kept as written).
    pub custom: Vec<(String, JwtClaimsMappingEntry<Value>)>,
}

const DEFAULT_ROLE: &str = "x-hasura-default-role";
const ALLOWED_ROLES: &str = "x-hasura-allowed-roles";

impl<'de> Deserialize<'de> for JwtClaimsMap {
    // Hand-written so that the error path names the offending entry (serde's `flatten` would lose it).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = JwtClaimsMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of claim names to {literal} or {path} entries")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JwtClaimsMap, A::Error> {
                let mut default_role = None;
                let mut allowed_roles = None;
                let mut custom: Vec<(String, JwtClaimsMappingEntry<Value>)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        DEFAULT_ROLE => {
                            if default_role.is_some() {
                                return Err(de::Error::duplicate_field(DEFAULT_ROLE));
                            }
                            default_role = Some(map.next_value()?);
                        }
                        ALLOWED_ROLES => {
                            if allowed_roles.is_some() {
                                return Err(de::Error::duplicate_field(ALLOWED_ROLES));
                            }
                            allowed_roles = Some(map.next_value()?);
                        }
                        _ => {
                            if custom.iter().any(|(k, _)| *k == key) {
                                return Err(de::Error::custom(format_args!(
                                    "duplicate claim `{key}`"
                                )));
                            }
                            let v = map.next_value()?;
                            custom.push((key, v));
                        }
                    }
                }
                Ok(JwtClaimsMap {
                    default_role: default_role
                        .ok_or_else(|| de::Error::missing_field(DEFAULT_ROLE))?,
                    allowed_roles: allowed_roles
                        .ok_or_else(|| de::Error::missing_field(ALLOWED_ROLES))?,
                    custom,
                })
            }
        }
        d.deserialize_map(V)
    }
}

impl JsonSchema for JwtClaimsMap {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "JwtClaimsMap".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let role = g.subschema_for::<JwtClaimsMappingEntry<String>>();
        let roles = g.subschema_for::<JwtClaimsMappingEntry<Vec<String>>>();
        let any = g.subschema_for::<JwtClaimsMappingEntry<Value>>();
        schemars::json_schema!({
            "description": "Each Hasura claim mapped from its own place in the token. Keys other than the two \
                            required ones are custom session variables.",
            "type": "object",
            "properties": {
                "x-hasura-default-role": role,
                "x-hasura-allowed-roles": roles
            },
            "required": ["x-hasura-default-role", "x-hasura-allowed-roles"],
            "additionalProperties": any
        })
    }
}

/// A literal value or a JSON pointer into the token payload (exactly one key).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum JwtClaimsMappingEntry<T> {
    /// A fixed value.
    Literal(T),
    /// A value read from the token.
    Path(JwtClaimsPath<T>),
}

/// A JSON pointer into the token payload, with an optional default.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtClaimsPath<T> {
    /// JSON pointer (RFC 6901) into the whole token payload.
    pub path: JsonPointer,
    /// Used when nothing is found at `path`.
    #[serde(default = "Option::<T>::default")]
    pub default: Option<T>,
}
