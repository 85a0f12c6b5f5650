//! The AuthConfig texts the tests start the service on (noAuth, JWT, webhook), each with the knobs the tests vary,
//! and the AdmissionReview that carries one to the admission webhook.

use serde_json::{Value, json};

use super::mock::MockServer;
use super::tokens::JWKS_PATH;

const HEAD: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n";

/// noAuth: every request is allowed as `role`, with these session variables (none: `sessionVariables: {}`).
pub fn noauth_config(role: &str, session: &[(&str, &str)]) -> String {
    let mut out = format!("{HEAD}    noAuth:\n      role: {role}\n");
    if session.is_empty() {
        out.push_str("      sessionVariables: {}\n");
    } else {
        out.push_str("      sessionVariables:\n");
        for (name, value) in session {
            out.push_str(&format!("        {name}: '{value}'\n"));
        }
    }
    out
}

/// HS256 with a fixed secret, the token as a Bearer, the session from its `/claims.jwt.hasura.io` claim.
pub fn hs256_config(secret: &str) -> String {
    Jwt::fixed("HS256", secret).yaml()
}

/// JWT with `jwkFromUrl` pointing at `mock`'s [`JWKS_PATH`], the token as a Bearer, the session from its
/// `/claims.jwt.hasura.io` claim.
pub fn jwk_from_url_config(mock: &MockServer) -> String {
    let url = format!("{}{JWKS_PATH}", mock.base());
    Jwt::jwk_from_url(&url).yaml()
}

enum Key<'a> {
    Fixed { algorithm: &'a str, key: &'a str },
    FixedFromEnv { algorithm: &'a str, var: &'a str },
    Url(&'a str),
}

/// A JWT mode. Unless told otherwise: no issuer or audience check, the token as a Bearer, the session from the
/// token's `/claims.jwt.hasura.io` claim (JSON).
pub struct Jwt<'a> {
    key: Key<'a>,
    issuer: Option<&'a str>,
    audience: Option<&'a str>,
    cookie: Option<&'a str>,
    literal_session: Option<(&'a str, &'a str)>,
}

impl<'a> Jwt<'a> {
    fn with(key: Key<'a>) -> Self {
        Jwt {
            key,
            issuer: None,
            audience: None,
            cookie: None,
            literal_session: None,
        }
    }

    /// A fixed key: an HMAC secret or a PEM (written as a block scalar).
    pub fn fixed(algorithm: &'a str, key: &'a str) -> Self {
        Self::with(Key::Fixed { algorithm, key })
    }

    /// A fixed key read from the environment variable `var`.
    pub fn fixed_from_env(algorithm: &'a str, var: &'a str) -> Self {
        Self::with(Key::FixedFromEnv { algorithm, var })
    }

    pub fn jwk_from_url(url: &'a str) -> Self {
        Self::with(Key::Url(url))
    }

    pub fn issuer(mut self, issuer: &'a str) -> Self {
        self.issuer = Some(issuer);
        self
    }

    /// The one audience accepted.
    pub fn audience(mut self, audience: &'a str) -> Self {
        self.audience = Some(audience);
        self
    }

    /// The token comes in this cookie instead of the `Authorization` header.
    pub fn cookie(mut self, name: &'a str) -> Self {
        self.cookie = Some(name);
        self
    }

    /// The session is given by the config (default and only allowed role, user id) instead of read from the token.
    pub fn literal_session(mut self, role: &'a str, user_id: &'a str) -> Self {
        self.literal_session = Some((role, user_id));
        self
    }

    pub fn yaml(&self) -> String {
        let mut out = format!("{HEAD}    jwt:\n      key:\n");
        match self.key {
            Key::Fixed { algorithm, key } => {
                // A PEM goes in a block scalar; an HMAC secret inline (a block scalar would add a newline to it).
                let value = if key.contains('\n') {
                    let lines: String = key
                        .lines()
                        .map(|l| format!("              {l}\n"))
                        .collect();
                    format!("|\n{lines}")
                } else {
                    format!("{key}\n")
                };
                out.push_str(&format!(
                    "        fixed:\n          algorithm: {algorithm}\n          key:\n            value: {value}"
                ));
            }
            Key::FixedFromEnv { algorithm, var } => out.push_str(&format!(
                "        fixed:\n          algorithm: {algorithm}\n          key:\n            valueFromEnv: {var}\n"
            )),
            Key::Url(url) => out.push_str(&format!("        jwkFromUrl: '{url}'\n")),
        }
        if let Some(issuer) = self.issuer {
            out.push_str(&format!("      issuer: {issuer}\n"));
        }
        if let Some(audience) = self.audience {
            out.push_str(&format!("      audience: [{audience}]\n"));
        }
        match self.cookie {
            Some(name) => out.push_str(&format!(
                "      tokenLocation:\n        type: Cookie\n        name: {name}\n"
            )),
            None => out.push_str("      tokenLocation:\n        type: BearerAuthorization\n"),
        }
        match self.literal_session {
            Some((role, user_id)) => out.push_str(&format!(
                "      claimsConfig:\n        locations:\n          x-hasura-default-role:\n            literal: {role}\n          x-hasura-allowed-roles:\n            literal:\n            - {role}\n          x-hasura-user-id:\n            literal: '{user_id}'\n"
            )),
            None => out.push_str(
                "      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n",
            ),
        }
        out
    }
}

/// A webhook mode calling `url` with `method`, with a `customHeadersConfig` if given (written as JSON, which is
/// YAML).
pub fn webhook_config(method: &str, url: &str, custom: Option<Value>) -> String {
    webhook(method, &format!("value: {url}"), custom)
}

/// A webhook mode whose URL is read from the environment variable `var`.
pub fn webhook_config_from_env(method: &str, var: &str) -> String {
    webhook(method, &format!("valueFromEnv: {var}"), None)
}

fn webhook(method: &str, url: &str, custom: Option<Value>) -> String {
    let mut out =
        format!("{HEAD}    webhook:\n      method: {method}\n      url:\n        {url}\n");
    if let Some(custom) = custom {
        out.push_str(&format!("      customHeadersConfig: {custom}\n"));
    }
    out
}

/// An AdmissionReview of the ConfigMap `auth/authgate-config` holding `text` as `authconfig.yaml` (or no such key),
/// labelled as an AuthConfig or not.
pub fn admission_review(uid: &str, text: Option<&str>, labelled: bool) -> Value {
    let mut labels = json!({});
    if labelled {
        labels["authgate.io/authconfig"] = "true".into();
    }
    let mut data = json!({});
    if let Some(t) = text {
        data["authconfig.yaml"] = t.into();
    }
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "name": "authgate-config", "namespace": "auth", "operation": "CREATE",
            "userInfo": {"username": "alice"},
            "object": {"apiVersion": "v1", "kind": "ConfigMap",
                       "metadata": {"name": "authgate-config", "namespace": "auth", "labels": labels},
                       "data": data},
            "dryRun": false
        }
    })
}
