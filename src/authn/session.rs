//! From an authenticated identity to the session sent upstream: role selection by the `x-hasura-role` request
//! header, and the rendering of session variables as `x-hasura-*` response headers.

use std::sync::Arc;

use serde_json::Value;

use super::reason::{Deny, Reason};
use super::request::{AuthRequest, visible_ascii};
use crate::config::session_rules::{check_role, session_header, session_value};

pub use crate::config::session_rules::{HASURA_PREFIX, ROLE_HEADER};

/// Session variables rendered as header name/value pairs (lower-case `x-hasura-*` names, `x-hasura-role`
/// excluded because it is always the chosen role), sorted by name. Rendered once per identity and shared by cache
/// hits; packed into one string `name NUL value NUL name NUL value`, one allocation however many variables there are
/// (the decision cache holds 100,000 identities). Names are header names and values have no control characters, so
/// neither contains NUL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderedVars(Option<Arc<str>>);

impl RenderedVars {
    fn pack(pairs: &[(String, String)]) -> Self {
        if pairs.is_empty() {
            return Self(None);
        }
        let mut text =
            String::with_capacity(pairs.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
        for (i, (n, v)) in pairs.iter().enumerate() {
            if i > 0 {
                text.push('\0');
            }
            text.push_str(n);
            text.push('\0');
            text.push_str(v);
        }
        Self(Some(text.into()))
    }

    /// The `(name, value)` pairs, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        let mut parts = self.0.as_deref().map(|s| s.split('\0'));
        std::iter::from_fn(move || {
            let p = parts.as_mut()?;
            Some((p.next()?, p.next()?))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Whether `other` is this very rendering (the same shared string, not merely equal text): a cheap identity
    /// for caches of what is derived from it, which must hold a clone so the string cannot be freed and its address
    /// reused.
    pub fn same(&self, other: &RenderedVars) -> bool {
        match (&self.0, &other.0) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// The address of the shared string (0 without variables), to spread a cache keyed by [`Self::same`].
    pub fn addr(&self) -> usize {
        self.0
            .as_ref()
            .map_or(0, |a| Arc::as_ptr(a).cast::<u8>() as usize)
    }
}

/// The roles of an identity, packed into one string: the default role, then every allowed role, NUL-separated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Roles(Arc<str>);

impl Roles {
    /// Roles become the `x-hasura-role` header: one with a control character (NUL, a line break) can never be sent,
    /// so it is an invalid claim rather than a session without its role.
    pub fn new(default_role: &str, allowed: &[String]) -> Result<Self, Deny> {
        let all = std::iter::once(default_role).chain(allowed.iter().map(String::as_str));
        let mut text = String::new();
        for (i, r) in all.enumerate() {
            check_role(r).map_err(invalid_claims)?;
            if i > 0 {
                text.push('\0');
            }
            text.push_str(r);
        }
        Ok(Self(text.into()))
    }

    /// The role used when none is requested.
    pub fn default_role(&self) -> &str {
        self.0.split('\0').next().unwrap_or_default()
    }

    /// Whether the client may request `role`.
    pub fn allows(&self, role: &str) -> bool {
        self.0.split('\0').skip(1).any(|r| r == role)
    }
}

/// Who the request is, before role selection.
#[derive(Debug, Clone)]
pub enum Identity {
    /// A fixed set of allowed roles, all with the same session variables.
    Specific {
        /// The default role and the roles the client may request.
        roles: Roles,
        /// The session variables.
        vars: RenderedVars,
    },
    /// v1 role emulation: any requested role, the client's own `x-hasura-*` headers become the session.
    Emulation {
        /// The role used when none is requested.
        role: String,
    },
}

/// The outcome of role selection.
#[derive(Debug, Clone)]
pub struct Session {
    pub role: String,
    /// The other session headers.
    pub vars: RenderedVars,
}

impl Session {
    /// Whether the session sets header `name` (lower-case).
    pub fn sets(&self, name: &str) -> bool {
        name == ROLE_HEADER || self.vars.iter().any(|(n, _)| n == name)
    }
}

fn invalid_claims(msg: impl Into<Arc<str>>) -> Deny {
    Deny::new(Reason::InvalidClaims, msg)
}

/// Render session variables: keep `x-hasura-*` names (lower-cased), drop `x-hasura-role`, strings as they are and
/// other JSON as compact JSON. Names colliding after lower-casing and control characters are invalid claims.
pub fn render<'a>(
    vars: impl IntoIterator<Item = (&'a str, &'a Value)>,
) -> Result<RenderedVars, Deny> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in vars {
        let Some(lower) = session_header(name).map_err(invalid_claims)? else {
            continue;
        };
        if out.iter().any(|(n, _)| *n == lower) {
            return Err(invalid_claims(format!(
                "session variables collide after lower-casing: {lower}"
            )));
        }
        let text = session_value(&lower, value).map_err(invalid_claims)?;
        out.push((lower, text));
    }
    out.sort();
    Ok(RenderedVars::pack(&out))
}

/// The requested role (`x-hasura-role`, last value wins), checked to be visible ASCII.
fn requested_role<'a>(req: &AuthRequest<'a>) -> Result<Option<&'a str>, Deny> {
    match req.last(ROLE_HEADER) {
        None => Ok(None),
        Some(raw) => visible_ascii(raw).map(Some).ok_or_else(|| {
            Deny::new(
                Reason::InvalidHeader,
                "the value of the header 'x-hasura-role' isn't a valid string: 'failed to convert header to a str'",
            )
        }),
    }
}

/// Choose the role and build the session. `mode_header` is excluded from emulated sessions.
pub fn resolve(
    identity: &Identity,
    req: &AuthRequest<'_>,
    mode_header: &str,
) -> Result<Session, Deny> {
    let requested = requested_role(req)?;
    match identity {
        Identity::Specific { roles, vars } => {
            let role = match requested {
                Some(r) if roles.allows(r) => r.to_owned(),
                Some(r) => {
                    return Err(Deny::new(
                        Reason::RoleNotAllowed,
                        format!("cannot be authorized as role: {r}"),
                    ));
                }
                None => roles.default_role().to_owned(),
            };
            Ok(Session {
                role,
                vars: vars.clone(),
            })
        }
        Identity::Emulation { role } => {
            let mut client: Vec<(&str, Value)> = Vec::new();
            for (name, raw) in req.headers {
                if !name.to_ascii_lowercase().starts_with(HASURA_PREFIX)
                    || name.eq_ignore_ascii_case(mode_header)
                {
                    continue;
                }
                let text = visible_ascii(raw).ok_or_else(|| {
                    Deny::new(
                        Reason::InvalidHeader,
                        format!("the value of the header '{name}' isn't a valid string: 'failed to convert header to a str'"),
                    )
                })?;
                // A repeated header: the last value wins, as in the Hasura engine.
                client.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
                client.push((name, Value::String(text.to_owned())));
            }
            let vars = render(client.iter().map(|(n, v)| (*n, v)))?;
            Ok(Session {
                role: requested.unwrap_or(role).to_owned(),
                vars,
            })
        }
    }
}

/// Client-sent `x-hasura-*` headers that the session does not set (never the auth-mode header), lower-case,
/// without duplicates: what Envoy must delete (`x-envoy-auth-headers-to-remove`).
pub fn headers_to_remove(
    session: &Session,
    req: &AuthRequest<'_>,
    mode_header: &str,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, _) in req.headers {
        let is_hasura = name.len() > HASURA_PREFIX.len()
            && name.as_bytes()[..HASURA_PREFIX.len()]
                .eq_ignore_ascii_case(HASURA_PREFIX.as_bytes());
        if !is_hasura || name.eq_ignore_ascii_case(mode_header) {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if !session.sets(&lower) && !out.contains(&lower) {
            out.push(lower);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_values_and_filters_names() {
        let claims = json!({"x-hasura-user-id": 1234, "X-Hasura-Mixed": "M", "foo": "bar", "x-hasura-org-ids": ["a","b"],
                            "x-hasura-is-admin": false, "x-hasura-n": null, "x-hasura-role": "ignored"});
        let r = render(
            claims
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.as_str(), v)),
        )
        .unwrap();
        let got: Vec<(&str, &str)> = r.iter().collect();
        assert_eq!(
            got,
            vec![
                ("x-hasura-is-admin", "false"),
                ("x-hasura-mixed", "M"),
                ("x-hasura-n", "null"),
                ("x-hasura-org-ids", "[\"a\",\"b\"]"),
                ("x-hasura-user-id", "1234")
            ]
        );
    }

    #[test]
    fn collisions_and_control_characters_are_invalid() {
        let c = json!({"x-hasura-a": "1", "X-Hasura-A": "2"});
        assert!(render(c.as_object().unwrap().iter().map(|(k, v)| (k.as_str(), v))).is_err());
        let c = json!({"x-hasura-a": "line\nbreak"});
        assert!(render(c.as_object().unwrap().iter().map(|(k, v)| (k.as_str(), v))).is_err());
        let c = json!({"x-hasura-a": "tab\tok"});
        assert!(render(c.as_object().unwrap().iter().map(|(k, v)| (k.as_str(), v))).is_ok());
    }

    #[test]
    fn packed_vars_keep_empty_values_and_order() {
        let c = json!({"x-hasura-b": "", "x-hasura-a": "tab\tok", "x-hasura-c": "3"});
        let r = render(c.as_object().unwrap().iter().map(|(k, v)| (k.as_str(), v))).unwrap();
        let got: Vec<(&str, &str)> = r.iter().collect();
        assert_eq!(
            got,
            vec![
                ("x-hasura-a", "tab\tok"),
                ("x-hasura-b", ""),
                ("x-hasura-c", "3")
            ]
        );
        let none = render(std::iter::empty()).unwrap();
        assert!(none.is_empty());
        assert_eq!(none.iter().count(), 0);
    }

    #[test]
    fn roles_pack_default_and_allowed_and_refuse_control_characters() {
        let roles = Roles::new("user", &["user".into(), "viewer".into(), "".into()]).unwrap();
        assert_eq!(roles.default_role(), "user");
        assert!(roles.allows("viewer") && roles.allows("user") && roles.allows(""));
        assert!(!roles.allows("admin") && !roles.allows("user\0viewer"));
        for bad in ["us\0er", "user\n", "\u{7f}x", "a\tb"] {
            let e = Roles::new(bad, &[bad.to_owned()]).unwrap_err();
            assert_eq!(e.reason, Reason::InvalidClaims, "{bad:?}");
            assert!(Roles::new("user", &["user".into(), bad.to_owned()]).is_err());
        }
        // Non-ASCII roles are fine: they are sent as header bytes.
        assert_eq!(
            Roles::new("usér", &["usér".into()]).unwrap().default_role(),
            "usér"
        );
    }
}
