//! Hasura claims from a verified payload: the namespace form (`Json` or `StringifiedJson`) or the `locations` form,
//! with the checks and messages of the Hasura engine, and the identity they make. Messages that the engine marks
//! `Internal Error - ` lose the prefix: we deny them with `401`, they are the token's fault.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::reason::{Deny, Reason};
use super::session::{self, Identity, Roles, render};
use crate::config::compiled::ClaimsSpec;
use crate::config::model::{JwtClaimsFormat, JwtClaimsMappingEntry};
use crate::strict_json::StrictValue;

/// The Hasura claims of a token.
#[derive(Debug, Clone, PartialEq)]
pub struct HasuraClaims {
    /// `x-hasura-default-role`.
    pub default_role: String,
    /// `x-hasura-allowed-roles`, in token order.
    pub allowed_roles: Vec<String>,
    /// Every other claim (names as written in the token or config).
    pub custom: Vec<(String, Value)>,
}

#[derive(Deserialize)]
struct NamespaceClaims {
    #[serde(rename = "x-hasura-default-role")]
    default_role: String,
    #[serde(rename = "x-hasura-allowed-roles")]
    allowed_roles: Vec<String>,
    #[serde(flatten)]
    custom: BTreeMap<String, Value>,
}

/// The namespace object of the usual shape (the default role a string, the allowed roles an array of strings) read
/// without serde's `flatten`, which copies the whole object into an intermediate form first; the result is the one
/// `NamespaceClaims::deserialize` gives. `None` for any other shape: serde then reads it, with its own errors.
fn plain_namespace(found: &Value) -> Option<NamespaceClaims> {
    const DEFAULT: &str = "x-hasura-default-role";
    const ALLOWED: &str = "x-hasura-allowed-roles";
    let obj = found.as_object()?;
    let default_role = obj.get(DEFAULT)?.as_str()?.to_owned();
    let allowed_roles = obj
        .get(ALLOWED)?
        .as_array()?
        .iter()
        .map(|r| r.as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()?;
    let custom = obj
        .iter()
        .filter(|(k, _)| *k != DEFAULT && *k != ALLOWED)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(NamespaceClaims {
        default_role,
        allowed_roles,
        custom,
    })
}

fn invalid(msg: impl Into<Arc<str>>) -> Deny {
    Deny::new(Reason::InvalidClaims, msg)
}

/// Read the claims per `spec` and apply the Hasura engine's role checks.
pub fn extract(spec: &ClaimsSpec, payload: &Value) -> Result<HasuraClaims, Deny> {
    let claims = match spec {
        ClaimsSpec::Namespace { format, location } => {
            let found = location.resolve(payload).ok_or_else(|| {
                invalid(format!("Hasura claims not found in the JWT at {location}"))
            })?;
            let parsed = match format {
                JwtClaimsFormat::Json => match plain_namespace(found) {
                    Some(c) => Ok(c),
                    None => NamespaceClaims::deserialize(found),
                },
                JwtClaimsFormat::StringifiedJson => {
                    let text = found.as_str().ok_or_else(|| {
                        invalid("Expected the Hasura claims to be a String when `claimsFormat` is `stringifiedJson`")
                    })?;
                    // The same strict parser as the token itself: a key given twice inside the string would
                    // otherwise be resolved last-wins, and mean something else to another parser.
                    serde_json::from_str::<StrictValue>(text)
                        .and_then(|StrictValue(v)| NamespaceClaims::deserialize(v))
                }
            }
            .map_err(|e| invalid(format!("Error in parsing the Hasura claims map: {e}")))?;
            HasuraClaims {
                default_role: parsed.default_role,
                allowed_roles: parsed.allowed_roles,
                custom: parsed.custom.into_iter().collect(),
            }
        }
        ClaimsSpec::Locations(map) => {
            let default_role: String = entry(&map.default_role, payload, "x-hasura-default-role")?
                .ok_or_else(|| invalid("Required claim x-hasura-default-role not found"))?;
            let allowed_roles: Vec<String> =
                entry(&map.allowed_roles, payload, "x-hasura-allowed-roles")?
                    .ok_or_else(|| invalid("Required claim x-hasura-allowed-roles not found"))?;
            let mut custom = Vec::with_capacity(map.custom.len());
            for (name, e) in &map.custom {
                if let Some(v) = entry(e, payload, name)? {
                    custom.push((name.clone(), v));
                }
            }
            HasuraClaims {
                default_role,
                allowed_roles,
                custom,
            }
        }
    };
    if !claims.allowed_roles.contains(&claims.default_role) {
        return Err(invalid(
            "The default role is not present in the allowed roles",
        ));
    }
    Ok(claims)
}

/// One `locations` entry: a literal, or the value at a pointer (parsed into `T`), or the default.
fn entry<T>(e: &JwtClaimsMappingEntry<T>, payload: &Value, name: &str) -> Result<Option<T>, Deny>
where
    T: Clone + for<'de> Deserialize<'de>,
{
    match e {
        JwtClaimsMappingEntry::Literal(v) => Ok(Some(v.clone())),
        JwtClaimsMappingEntry::Path(p) => match p.path.resolve(payload) {
            Some(found) => T::deserialize(found).map(Some).map_err(|err| {
                invalid(format!(
                    "Error while parsing the claims map entry: {name} - {err}"
                ))
            }),
            None => Ok(p.default.clone()),
        },
    }
}

/// The Hasura engine's duplicate-role check (done when the identity is built).
pub fn check_duplicate_roles(roles: &[String]) -> Result<(), Deny> {
    for (i, r) in roles.iter().enumerate() {
        if roles[..i].contains(r) {
            return Err(invalid("Duplicate allowed role found in the JWT claims"));
        }
    }
    Ok(())
}

/// The identity a verified payload stands for: v1 role emulation when the token's `x-hasura-role` is the
/// configured admin role (`emulation_by`), otherwise its roles and session variables.
pub fn identity_from_claims(
    spec: &ClaimsSpec,
    payload: &Value,
    emulation_by: Option<&str>,
) -> Result<Identity, Deny> {
    let c = extract(spec, payload)?;
    if let Some(admin) = emulation_by
        && let Some((_, v)) = c.custom.iter().find(|(k, _)| k == session::ROLE_HEADER)
    {
        let role = v
            .as_str()
            .ok_or_else(|| invalid("Expected string value for claim x-hasura-role"))?;
        if role == admin {
            return Ok(Identity::Emulation {
                role: role.to_owned(),
            });
        }
    }
    check_duplicate_roles(&c.allowed_roles)?;
    let vars = render(c.custom.iter().map(|(k, v)| (k.as_str(), v)))?;
    Ok(Identity::Specific {
        roles: Roles::new(&c.default_role, &c.allowed_roles)?,
        vars,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::pointer::JsonPointer;
    use serde_json::json;

    #[test]
    fn plain_namespace_reads_as_serde_does() {
        let shapes = [
            json!({"x-hasura-default-role": "u", "x-hasura-allowed-roles": ["u", "e"], "x-hasura-user-id": "1",
                   "b": 2.5, "a": {"n": [1, null]}}),
            json!({"x-hasura-default-role": "u", "x-hasura-allowed-roles": []}),
            json!({"x-hasura-default-role": "u", "x-hasura-allowed-roles": ["u", 5]}),
            json!({"x-hasura-default-role": 1, "x-hasura-allowed-roles": ["u"]}),
            json!({"x-hasura-allowed-roles": ["u"]}),
            json!(["u"]),
        ];
        for v in shapes {
            let serde = NamespaceClaims::deserialize(&v).ok();
            let plain = plain_namespace(&v);
            assert_eq!(plain.is_some(), serde.is_some(), "{v}");
            if let (Some(p), Some(s)) = (plain, serde) {
                assert_eq!(
                    (p.default_role, p.allowed_roles, p.custom),
                    (s.default_role, s.allowed_roles, s.custom),
                    "{v}"
                );
            }
        }
    }

    fn stringified() -> ClaimsSpec {
        ClaimsSpec::Namespace {
            format: JwtClaimsFormat::StringifiedJson,
            location: JsonPointer::parse("/hasura").expect("pointer"),
        }
    }

    #[test]
    fn item7_stringified_claims_refuse_duplicate_keys() {
        let ok = r#"{"x-hasura-default-role":"user","x-hasura-allowed-roles":["user"],"x-hasura-user-id":"1"}"#;
        let c = extract(&stringified(), &json!({ "hasura": ok })).expect("control");
        assert_eq!(c.custom, vec![("x-hasura-user-id".to_owned(), json!("1"))]);
        for dup in [
            // A session variable given twice: last-wins would make it "2".
            r#"{"x-hasura-default-role":"user","x-hasura-allowed-roles":["user"],"x-hasura-user-id":"1","x-hasura-user-id":"2"}"#,
            // The default role given twice.
            r#"{"x-hasura-default-role":"user","x-hasura-allowed-roles":["user","admin"],"x-hasura-default-role":"admin"}"#,
            // A duplicate deeper down, inside a session variable's value.
            r#"{"x-hasura-default-role":"user","x-hasura-allowed-roles":["user"],"x-hasura-org":{"id":1,"id":2}}"#,
        ] {
            let e = extract(&stringified(), &json!({ "hasura": dup })).expect_err(dup);
            assert_eq!(e.reason, Reason::InvalidClaims, "{dup}: {}", e.message);
            assert!(e.message.contains("duplicate key"), "{dup}: {}", e.message);
        }
    }
}
