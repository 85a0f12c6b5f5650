//! What a role and a session variable must be to become an `x-hasura-*` response header. Config applies these rules
//! to a noAuth session when it loads (so a session that could never be sent is a load error); authn applies them to
//! every token's and webhook's claims. Both report the same messages because they come from here.

use serde_json::Value;

/// Prefix of every header we emit or strip.
pub const HASURA_PREFIX: &str = "x-hasura-";
pub const ROLE_HEADER: &str = "x-hasura-role";

/// A role becomes the `x-hasura-role` header: one with a control character (NUL, a line break) can never be sent.
pub fn check_role(role: &str) -> Result<(), String> {
    if role.chars().any(|c| c.is_ascii_control()) {
        return Err(format!("role {role:?} contains a control character"));
    }
    Ok(())
}

/// The header a session variable named `name` becomes (lower-cased), or `None` when it is not sent: a name outside
/// `x-hasura-*`, or `x-hasura-role`, which is always the chosen role.
pub fn session_header(name: &str) -> Result<Option<String>, String> {
    let lower = name.to_lowercase();
    if !lower.starts_with(HASURA_PREFIX) || lower == ROLE_HEADER {
        return Ok(None);
    }
    if http::HeaderName::from_bytes(lower.as_bytes()).is_err() {
        return Err(format!(
            "session variable {name:?} is not a valid header name"
        ));
    }
    Ok(Some(lower))
}

/// The header value of session variable `header`: a string as it is, other JSON as compact JSON. A control
/// character other than a tab cannot be sent in a header value.
pub fn session_value(header: &str, value: &Value) -> Result<String, String> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().any(|c| c != '\t' && c.is_ascii_control()) {
        return Err(format!(
            "session variable {header} contains a control character"
        ));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_outside_the_prefix_and_the_role_are_not_sent() {
        assert_eq!(session_header("foo"), Ok(None));
        assert_eq!(session_header("X-Hasura-Role"), Ok(None));
        assert_eq!(
            session_header("X-Hasura-User-Id"),
            Ok(Some("x-hasura-user-id".to_owned()))
        );
        assert!(session_header("x-hasura-a b").is_err());
    }

    #[test]
    fn values_render_as_text_and_refuse_control_characters_but_tab() {
        assert_eq!(session_value("x-hasura-a", &json!(12)), Ok("12".to_owned()));
        assert_eq!(
            session_value("x-hasura-a", &json!("a\tb")),
            Ok("a\tb".to_owned())
        );
        assert_eq!(
            session_value("x-hasura-a", &json!("a\nb")),
            Err("session variable x-hasura-a contains a control character".to_owned())
        );
        assert!(check_role("a\tb").is_err() && check_role("usér").is_ok());
    }
}
