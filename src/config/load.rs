//! Text in, compiled config out: parse (YAML or JSON, single or multi-document) → pick the `kind: AuthConfig`
//! document → typed deserialisation with field paths → resolve `valueFromEnv` → validate → compile.
//!
//! This is the one loading path: `authgate check`, `serve` (file and ConfigMap reloads) and the admission webhook
//! all call [`load_str`]. A config that fails here never replaces a running one.

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use url::Url;

use super::compiled::{
    ClaimsSpec, CompiledConfig, Forward, HookCustom, HookHeaders, HookMethod, JwtKeySource,
    JwtMode, Mode, NoAuthMode, TokenLocation, Version, WebhookMode, never_forwarded,
};
use crate::authn::session::{HASURA_PREFIX, Roles, render};
use crate::strict_json::StrictValue;

use super::model::{
    AllOrList, AuthHookConfig, AuthHookConfigV3, AuthHookConfigV3Headers, AuthHookMethodV1,
    AuthHookMethodV3, AuthModeConfig, AuthModeConfigV3, DefinitionV1, DefinitionV2, DefinitionV3,
    DefinitionV4, EnvironmentValue, JwtAlgorithm, JwtClaimsConfig, JwtConfig, JwtKey,
    JwtTokenLocation, NoAuthConfig,
};

/// Largest config text accepted (a Kubernetes ConfigMap cannot hold more either).
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Default leeway for `exp`/`nbf`/`iat` when `allowedSkew` is absent (the Hasura engine's default).
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// Largest `allowedSkew` accepted, in seconds. Five minutes is the most any issuer we know of asks for (Clerk's JWT
/// templates allow 0–300 s of clock skew); a larger value only widens the window in which an expired token is
/// accepted, and a huge one would overflow the time arithmetic of every request.
pub const MAX_ALLOWED_SKEW_SECS: u64 = 300;

/// Shortest HMAC secret that does not draw a warning (RFC 8725 §3.5).
const MIN_HMAC_SECRET_BYTES: usize = 32;

/// Operator options that change what loads.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Accept `http://` JWKS URLs on non-loopback hosts (`--insecure-jwks-http`).
    pub insecure_jwks_http: bool,
}

/// One load error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// Dotted path of the offending field (`definition.mode.jwt.key`), empty for document-level errors.
    pub path: String,
    /// 1-based line and column, when the parser gave them.
    pub location: Option<(usize, usize)>,
    pub message: String,
}

impl LoadError {
    fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            location: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((l, c)) = self.location {
            write!(f, "line {l} column {c}: ")?;
        }
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Every error found in one document (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

impl From<LoadError> for LoadErrors {
    fn from(e: LoadError) -> Self {
        Self(vec![e])
    }
}

/// A successfully loaded config and the warnings it drew.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub config: Arc<CompiledConfig>,
    /// Human-readable warnings (deprecations, weak secrets).
    pub warnings: Vec<String>,
}

/// Load from text with the process environment.
pub fn load_str(text: &str, opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    load_str_with_env(text, opts, &|name| std::env::var(name).ok())
}

/// Load from text, resolving `valueFromEnv` with `env`.
pub fn load_str_with_env(
    text: &str,
    opts: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, LoadErrors> {
    let doc = parse_document(text)?;
    let mut cx = Compiler {
        opts,
        env,
        warnings: Vec::new(),
        errors: Vec::new(),
    };
    let config = cx.envelope(doc)?;
    if !cx.errors.is_empty() {
        return Err(LoadErrors(cx.errors));
    }
    Ok(Loaded {
        config: Arc::new(config),
        warnings: cx.warnings,
    })
}

/// Parse text into the single AuthConfig document as a JSON value.
fn parse_document(text: &str) -> Result<Value, LoadError> {
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
fn typed<T: DeserializeOwned>(value: Value, prefix: &str) -> Result<T, LoadError> {
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

struct Compiler<'a> {
    opts: &'a LoadOptions,
    env: &'a dyn Fn(&str) -> Option<String>,
    warnings: Vec<String>,
    errors: Vec<LoadError>,
}

impl Compiler<'_> {
    fn envelope(&mut self, doc: Value) -> Result<CompiledConfig, LoadError> {
        let Value::Object(mut obj) = doc else {
            return Err(LoadError::at(
                "",
                "expected a mapping with `kind`, `version` and `definition`",
            ));
        };
        check_envelope_keys(&obj)?;
        if let Some(kind) = obj.remove("kind")
            && kind.as_str() != Some("AuthConfig")
        {
            return Err(LoadError::at(
                "kind",
                format!("expected `AuthConfig`, found {kind}"),
            ));
        }
        let version = match obj.remove("version") {
            None => return Err(LoadError::at("", "missing field `version`")),
            Some(Value::String(v)) => v,
            Some(other) => {
                return Err(LoadError::at(
                    "version",
                    format!("expected a string, found {other}"),
                ));
            }
        };
        let Some(definition) = obj.remove("definition") else {
            return Err(LoadError::at("", "missing field `definition`"));
        };
        const P: &str = "definition";
        match version.as_str() {
            "v1" => {
                let d: DefinitionV1 = typed(definition, P)?;
                self.warnings.push(deprecation("v1", "PleaseUpgradeV1ToV4"));
                let mode = self.mode_v1(d.mode, "definition.mode");
                Ok(CompiledConfig {
                    version: Version::V1,
                    role_emulation_by: d.allow_role_emulation_by,
                    mode,
                    alternative_modes: None,
                })
            }
            "v2" => {
                let d: DefinitionV2 = typed(definition, P)?;
                self.warnings.push(deprecation("v2", "PleaseUpgradeV2ToV4"));
                let mode = self.mode_v1(d.mode, "definition.mode");
                Ok(CompiledConfig {
                    version: Version::V2,
                    role_emulation_by: None,
                    mode,
                    alternative_modes: None,
                })
            }
            "v3" => {
                let d: DefinitionV3 = typed(definition, P)?;
                let mode = self.mode_v3(d.mode, "definition.mode");
                Ok(CompiledConfig {
                    version: Version::V3,
                    role_emulation_by: None,
                    mode,
                    alternative_modes: None,
                })
            }
            "v4" => {
                let d: DefinitionV4 = typed(definition, P)?;
                let mode = self.mode_v3(d.mode, "definition.mode");
                let alternative_modes = d.alternative_modes.map(|alts| {
                    let mut out: Vec<(String, Mode)> = Vec::with_capacity(alts.len());
                    for (i, alt) in alts.into_iter().enumerate() {
                        if out.iter().any(|(id, _)| *id == alt.identifier) {
                            self.errors.push(LoadError::at(
                                format!("definition.alternativeModes[{i}].identifier"),
                                format!(
                                    "Duplicate alternative mode identifier: '{}'",
                                    alt.identifier
                                ),
                            ));
                            continue;
                        }
                        let m = self.mode_v3(
                            alt.config,
                            &format!("definition.alternativeModes[{i}].config"),
                        );
                        out.push((alt.identifier, m));
                    }
                    out
                });
                Ok(CompiledConfig {
                    version: Version::V4,
                    role_emulation_by: None,
                    mode,
                    alternative_modes,
                })
            }
            other => Err(LoadError::at(
                "version",
                format!("unknown variant `{other}`, expected one of `v1`, `v2`, `v3`, `v4`"),
            )),
        }
    }

    fn mode_v1(&mut self, m: AuthModeConfig, path: &str) -> Mode {
        match m {
            AuthModeConfig::Webhook(h) => {
                Mode::Webhook(Arc::new(self.webhook_v1(h, &format!("{path}.webhook"))))
            }
            AuthModeConfig::Jwt(j) => self.jwt(*j, &format!("{path}.jwt")),
            AuthModeConfig::NoAuth(n) => self.no_auth(n, &format!("{path}.noAuth")),
        }
    }

    fn mode_v3(&mut self, m: AuthModeConfigV3, path: &str) -> Mode {
        match m {
            AuthModeConfigV3::Webhook(h) => {
                Mode::Webhook(Arc::new(self.webhook_v3(h, &format!("{path}.webhook"))))
            }
            AuthModeConfigV3::Jwt(j) => self.jwt(*j, &format!("{path}.jwt")),
            AuthModeConfigV3::NoAuth(n) => self.no_auth(n, &format!("{path}.noAuth")),
        }
    }

    fn webhook_v1(&mut self, h: AuthHookConfig, path: &str) -> WebhookMode {
        if !is_hook_url(&h.url) {
            self.errors
                .push(LoadError::at(format!("{path}.url"), HOOK_URL_REQUIRED));
        }
        let method = match h.method {
            AuthHookMethodV1::Get => HookMethod::Get,
            AuthHookMethodV1::Post => HookMethod::Post,
        };
        WebhookMode {
            method,
            url: h.url,
            custom: None,
        }
    }

    fn webhook_v3(&mut self, h: AuthHookConfigV3, path: &str) -> WebhookMode {
        let method = match h.method {
            AuthHookMethodV3::Get => HookMethod::Get,
            AuthHookMethodV3::Post => HookMethod::Post,
        };
        let custom = h.custom_headers_config.map(|c| {
            if method == HookMethod::Get && c.body.is_some() {
                self.errors.push(LoadError::at(
                    format!("{path}.customHeadersConfig.body"),
                    "unknown field `body`: only a POST webhook has a body",
                ));
            }
            HookCustom {
                headers: c.headers.map(|h| {
                    self.hook_headers(h, &format!("{path}.customHeadersConfig.headers"), true)
                }),
                body_headers: c.body.and_then(|b| b.headers).map(|h| {
                    self.hook_headers(
                        h,
                        &format!("{path}.customHeadersConfig.body.headers"),
                        false,
                    )
                }),
            }
        });
        let url_path = format!("{path}.url");
        let url = match self.env_value(h.url, &url_path) {
            Some(Resolved { text, env: None }) => match Url::parse(&text) {
                Ok(u) if is_hook_url(&u) => u,
                Ok(_) => {
                    self.errors
                        .push(LoadError::at(&url_path, HOOK_URL_REQUIRED));
                    placeholder_url()
                }
                // The parser's reason is one of a fixed set of texts ("invalid port number", ...) and never
                // holds the input; the URL itself is not repeated (it may carry credentials).
                Err(e) => {
                    self.errors.push(LoadError::at(
                        &url_path,
                        format!("Invalid URL for auth webhook: {e}"),
                    ));
                    placeholder_url()
                }
            },
            // From the environment: one verdict, whatever went wrong, so that a review or a log line can never
            // tell more about the variable than that it does not hold a webhook URL.
            Some(Resolved {
                text,
                env: Some(var),
            }) => match Url::parse(&text) {
                Ok(u) if is_hook_url(&u) => u,
                _ => {
                    self.errors.push(LoadError::at(
                        format!("{url_path}.valueFromEnv"),
                        format!(
                            "Invalid URL for auth webhook: environment variable {var} does not hold an http:// or \
                             https:// URL with a host (its value is not shown)"
                        ),
                    ));
                    placeholder_url()
                }
            },
            None => placeholder_url(),
        };
        WebhookMode {
            method,
            url,
            custom,
        }
    }

    /// `as_http`: these become HTTP headers of the hook call (not entries of the POST body's `headers` object), so
    /// a hop-by-hop or framing name in them is never sent, and a warning says so.
    fn hook_headers(
        &mut self,
        h: AuthHookConfigV3Headers,
        path: &str,
        as_http: bool,
    ) -> HookHeaders {
        let mut msgs = Vec::new();
        let forward = match h.forward.unwrap_or(AllOrList::All) {
            AllOrList::All => Forward::All,
            AllOrList::List(names) => Forward::List(
                names
                    .iter()
                    .filter_map(|n| match http::HeaderName::from_bytes(n.as_bytes()) {
                        Ok(h) => Some(h),
                        Err(_) => {
                            msgs.push(invalid_header_name(n));
                            None
                        }
                    })
                    .collect(),
            ),
        };
        let mut additional = Vec::new();
        for (name, value) in h.additional.unwrap_or_default() {
            let n = http::HeaderName::from_bytes(name.as_bytes());
            let v = http::HeaderValue::from_str(&value);
            match (n, v) {
                (Ok(n), Ok(v)) => additional.push((n, v)),
                (n, v) => {
                    if n.is_err() {
                        msgs.push(invalid_header_name(&name));
                    }
                    if v.is_err() {
                        let (value, name) = (value.escape_debug(), name.escape_debug());
                        msgs.push(format!(
                            "Header value '{value}' is not a valid header value for header '{name}' in the auth config"
                        ));
                    }
                }
            }
        }
        if !msgs.is_empty() {
            self.errors.push(LoadError::at(path, msgs.join("\n")));
        }
        if as_http {
            let listed = match &forward {
                Forward::All => Vec::new(),
                Forward::List(names) => names.iter().map(|n| ("forward", n)).collect(),
            };
            for (field, name) in listed
                .into_iter()
                .chain(additional.iter().map(|(n, _)| ("additional", n)))
            {
                if never_forwarded(name.as_str()) {
                    self.warnings.push(format!(
                        "{path}.{field}: {name} is a hop-by-hop or framing header and is never sent to the webhook"
                    ));
                }
            }
        }
        HookHeaders {
            forward,
            additional,
        }
    }

    fn jwt(&mut self, j: JwtConfig, path: &str) -> Mode {
        let key = match j.key {
            JwtKey::JwkFromUrl(u) => {
                self.check_jwks_url(&u, &format!("{path}.key.jwkFromUrl"));
                JwtKeySource::JwksUrl(u)
            }
            JwtKey::Fixed(f) => {
                let kpath = format!("{path}.key.fixed.key");
                let algorithm = algorithm(f.algorithm);
                // A missing environment variable was already reported by `env_value`.
                let material = self.env_value(f.key, &kpath);
                let parsed = match &material {
                    Some(m) => fixed_key(algorithm, &m.text),
                    None => Ok(DecodingKey::from_secret(
                        b"placeholder for a config that is rejected",
                    )),
                };
                // Where a message about the key goes, and how it names the value: a literal key by its field, a key
                // from the environment by its variable too. No message holds the key, a part of it or its length.
                let (at, from) = match material.as_ref().and_then(|m| m.env.as_deref()) {
                    Some(var) => (
                        format!("{kpath}.valueFromEnv"),
                        format!(" (environment variable {var})"),
                    ),
                    None => (kpath.clone(), String::new()),
                };
                match parsed {
                    Ok(key) => {
                        if is_hmac(algorithm)
                            && material
                                .as_ref()
                                .is_some_and(|m| m.text.len() < MIN_HMAC_SECRET_BYTES)
                        {
                            self.warnings.push(format!(
                                "{at}: the {algorithm:?} secret{from} is shorter than the recommended \
                                 {MIN_HMAC_SECRET_BYTES} bytes; use at least {MIN_HMAC_SECRET_BYTES} random bytes \
                                 (RFC 8725 §3.5)"
                            ));
                        }
                        JwtKeySource::Fixed { algorithm, key }
                    }
                    Err(problem) => {
                        let msg = match (problem, material.as_ref().and_then(|m| m.env.as_deref()))
                        {
                            (KeyProblem::EmptySecret, _) => {
                                format!("the {algorithm:?} secret{from} is empty")
                            }
                            // From the environment: one verdict for every way a PEM can be wrong.
                            (KeyProblem::Pem(_), Some(_)) => format!(
                                "not a valid public key PEM for {algorithm:?}{from}: the variable does not hold \
                                 one (its value is not shown)"
                            ),
                            (KeyProblem::Pem(why), None) => {
                                format!("not a valid public key PEM for {algorithm:?}: {why}")
                            }
                        };
                        self.errors.push(LoadError::at(at, msg));
                        JwtKeySource::Fixed {
                            algorithm,
                            key: DecodingKey::from_secret(b""),
                        }
                    }
                }
            }
        };
        let token_location = match j.token_location {
            JwtTokenLocation::BearerAuthorization(_) => TokenLocation::Bearer,
            JwtTokenLocation::Cookie(n) => {
                let bad = n.name.is_empty()
                    || n.name
                        .bytes()
                        .any(|b| b <= b' ' || b >= 0x7f || b"=;,\"".contains(&b));
                if bad {
                    self.errors.push(LoadError::at(
                        format!("{path}.tokenLocation.name"),
                        format!("{:?} is not a valid cookie name", n.name),
                    ));
                }
                TokenLocation::Cookie(n.name)
            }
            JwtTokenLocation::Header(n) => {
                if http::HeaderName::from_bytes(n.name.as_bytes()).is_err() {
                    self.errors.push(LoadError::at(
                        format!("{path}.tokenLocation.name"),
                        invalid_header_name(&n.name),
                    ));
                }
                TokenLocation::Header(n.name)
            }
        };
        let claims = match j.claims_config {
            JwtClaimsConfig::Namespace(ns) => ClaimsSpec::Namespace {
                format: ns.claims_format,
                location: ns.location,
            },
            JwtClaimsConfig::Locations(map) => {
                // Two custom claims that differ only in case would collide as headers on every token.
                let mut seen: Vec<String> = Vec::new();
                for (name, _) in &map.custom {
                    let lower = name.to_lowercase();
                    if lower.starts_with("x-hasura-") && seen.contains(&lower) {
                        self.errors.push(LoadError::at(
                            format!("{path}.claimsConfig.locations.{name}"),
                            format!("claim {name} collides with another claim after lower-casing"),
                        ));
                    }
                    seen.push(lower);
                }
                ClaimsSpec::Locations(map)
            }
        };
        Mode::Jwt(Arc::new(JwtMode {
            key,
            token_location,
            claims,
            audience: j.audience,
            issuer: j.issuer,
            leeway: self.leeway(j.allowed_skew, &format!("{path}.allowedSkew")),
        }))
    }

    /// `allowedSkew`, bounded: it is added to and subtracted from the clock on every request.
    fn leeway(&mut self, allowed_skew: Option<u64>, path: &str) -> u64 {
        match allowed_skew {
            None => DEFAULT_LEEWAY_SECS,
            Some(s) if s <= MAX_ALLOWED_SKEW_SECS => s,
            Some(s) => {
                self.errors.push(LoadError::at(
                    path,
                    format!(
                        "{s} seconds is too much clock skew; at most {MAX_ALLOWED_SKEW_SECS} are accepted (a larger \
                         skew only widens the window in which an expired token is still accepted)"
                    ),
                ));
                DEFAULT_LEEWAY_SECS
            }
        }
    }

    /// noAuth: the role and the session variables become response headers on every request, so whatever could not
    /// be sent (a control character, a name that is not a header name, two names equal after lower-casing) is a
    /// load error here rather than the same denial stored for every request.
    fn no_auth(&mut self, n: NoAuthConfig, path: &str) -> Mode {
        if let Err(d) = Roles::new(&n.role, std::slice::from_ref(&n.role)) {
            self.errors
                .push(LoadError::at(format!("{path}.role"), d.message.to_string()));
        }
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in &n.session_variables {
            let vpath = format!("{path}.sessionVariables.{name}");
            if let Err(d) = render(std::iter::once((name.as_str(), value))) {
                self.errors
                    .push(LoadError::at(vpath, d.message.to_string()));
                continue;
            }
            let lower = name.to_lowercase();
            if lower.starts_with(HASURA_PREFIX) && seen.contains(&lower) {
                self.errors.push(LoadError::at(
                    vpath,
                    format!("session variable {name} collides with another one after lower-casing"),
                ));
            }
            seen.push(lower);
        }
        Mode::NoAuth(Arc::new(NoAuthMode {
            role: n.role,
            session_variables: n.session_variables,
        }))
    }

    fn check_jwks_url(&mut self, u: &Url, path: &str) {
        match u.scheme() {
            "https" => {}
            "http" if self.opts.insecure_jwks_http || is_loopback(u) => {}
            "http" => self.errors.push(LoadError::at(
                path,
                format!(
                    "{u} uses plain http; a JWKS must be fetched over https:// (http:// is allowed for loopback \
                     hosts, or for any host with --insecure-jwks-http)"
                ),
            )),
            other => self.errors.push(LoadError::at(path, format!("unsupported URL scheme `{other}` for a JWKS"))),
        }
        if u.host().is_none() {
            self.errors
                .push(LoadError::at(path, format!("{u} has no host")));
        }
    }

    /// Resolve an `EnvironmentValue`; a missing variable is recorded as an error (naming the variable only).
    fn env_value(&mut self, v: EnvironmentValue, path: &str) -> Option<Resolved> {
        match v {
            EnvironmentValue::Value(text) => Some(Resolved { text, env: None }),
            EnvironmentValue::ValueFromEnv(name) => match (self.env)(&name) {
                Some(text) => Some(Resolved {
                    text,
                    env: Some(name),
                }),
                None => {
                    self.errors.push(LoadError::at(
                        format!("{path}.valueFromEnv"),
                        format!("environment variable {name} is not set"),
                    ));
                    None
                }
            },
        }
    }
}

/// A resolved `EnvironmentValue`. A value read from the environment (a pod's secrets, in a cluster) must never be
/// repeated, in part or in length, by a load error or warning: `check`, the `serve` logs and the admission webhook's
/// answers all carry them, and whoever can reach the admission port can write a config that names any variable.
/// Messages about it name the field and the variable, and say at most one verdict (not set, not a URL, not a PEM,
/// shorter than recommended).
struct Resolved {
    /// The value.
    text: String,
    /// The variable it came from; `None` for a literal `value`.
    env: Option<String>,
}

/// The error for a webhook URL that parses but is not usable. The URL is not repeated: it may carry credentials.
const HOOK_URL_REQUIRED: &str =
    "Invalid URL for auth webhook: an http:// or https:// URL with a host is required";

fn is_hook_url(u: &Url) -> bool {
    matches!(u.scheme(), "http" | "https") && u.host().is_some()
}

fn check_envelope_keys(obj: &Map<String, Value>) -> Result<(), LoadError> {
    for k in obj.keys() {
        if !matches!(k.as_str(), "kind" | "version" | "definition") {
            return Err(LoadError::at(
                "",
                format!("unknown field `{k}`, expected one of `kind`, `version`, `definition`"),
            ));
        }
    }
    Ok(())
}

fn deprecation(v: &str, code: &str) -> String {
    format!("AuthConfig {v} is deprecated; please upgrade to v4 ({code})")
}

fn invalid_header_name(n: &str) -> String {
    let n = n.escape_debug();
    format!("Header '{n}', used in the auth config, is not a valid header name")
}

/// Never served: stands in for a URL that failed to load, in a config that is rejected anyway.
fn placeholder_url() -> Url {
    Url::parse("http://invalid.invalid/").expect("a constant URL parses")
}

fn is_loopback(u: &Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

fn algorithm(a: JwtAlgorithm) -> Algorithm {
    match a {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::HS384 => Algorithm::HS384,
        JwtAlgorithm::HS512 => Algorithm::HS512,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::ES384 => Algorithm::ES384,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::RS384 => Algorithm::RS384,
        JwtAlgorithm::RS512 => Algorithm::RS512,
        JwtAlgorithm::PS256 => Algorithm::PS256,
        JwtAlgorithm::PS384 => Algorithm::PS384,
        JwtAlgorithm::PS512 => Algorithm::PS512,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

fn is_hmac(a: Algorithm) -> bool {
    matches!(a, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Why a fixed key was refused. The texts are constants: none repeats the key or anything read from it.
#[derive(Debug, PartialEq, Eq)]
enum KeyProblem {
    EmptySecret,
    /// Not a public key PEM for the algorithm, and why.
    Pem(&'static str),
}

/// Parse a fixed key for its algorithm. PEM whose line breaks were removed is re-flowed first.
fn fixed_key(alg: Algorithm, material: &str) -> Result<DecodingKey, KeyProblem> {
    if is_hmac(alg) {
        if material.is_empty() {
            return Err(KeyProblem::EmptySecret);
        }
        return Ok(DecodingKey::from_secret(material.as_bytes()));
    }
    let pem = reflow_pem(material);
    // A private key here would verify nothing and leak a secret into the config.
    let label_ok = pem.starts_with("-----BEGIN PUBLIC KEY-----")
        || pem.starts_with("-----BEGIN RSA PUBLIC KEY-----");
    if !label_ok {
        return Err(KeyProblem::Pem("expected -----BEGIN PUBLIC KEY-----"));
    }
    if let Some(want) = ec_curve_oid(alg)
        && !pem_der(&pem).is_some_and(|der| der.windows(want.len()).any(|w| w == want))
    {
        return Err(KeyProblem::Pem("the key is on another curve"));
    }
    let res = match alg {
        Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem.as_bytes()),
        Algorithm::EdDSA => DecodingKey::from_ed_pem(pem.as_bytes()),
        _ => DecodingKey::from_rsa_pem(pem.as_bytes()),
    };
    // The decoder's error is left out: a PEM or base64 error can quote the input (a label, an offending byte).
    res.map_err(|_| KeyProblem::Pem("the key does not parse"))
}

/// The DER OID of the curve an ECDSA algorithm requires.
fn ec_curve_oid(alg: Algorithm) -> Option<&'static [u8]> {
    match alg {
        // 1.2.840.10045.3.1.7 (P-256) and 1.3.132.0.34 (P-384).
        Algorithm::ES256 => Some(&[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07]),
        Algorithm::ES384 => Some(&[0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22]),
        _ => None,
    }
}

/// The DER bytes of a (re-flowed) PEM.
fn pem_der(pem: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// Put a PEM back into lines: `-----BEGIN X-----`, base64 body in 64-character lines, `-----END X-----`.
fn reflow_pem(text: &str) -> String {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("-----BEGIN ") else {
        return t.to_owned();
    };
    let Some(hdr_end) = rest.find("-----") else {
        return t.to_owned();
    };
    let label = &rest[..hdr_end];
    let after = &rest[hdr_end + 5..];
    let footer = format!("-----END {label}-----");
    let Some(body_end) = after.find(&footer) else {
        return t.to_owned();
    };
    let body: String = after[..body_end]
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&footer);
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Loaded, LoadErrors> {
        load_str_with_env(text, &LoadOptions::default(), &|_| None)
    }

    const NOAUTH: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    noAuth:\n      role: admin\n      sessionVariables: {}\n";

    #[test]
    fn error_paths_name_the_field() {
        let text = NOAUTH.replace("role: admin", "role: admin\n      extra: 1");
        let e = load(&text).unwrap_err().to_string();
        assert!(
            e.starts_with("definition.mode.noAuth.extra: unknown field `extra`"),
            "{e}"
        );
        let e = load(&NOAUTH.replace("version: v4", "version: v9"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("version: unknown variant `v9`"), "{e}");
    }

    #[test]
    fn multi_document_streams() {
        let other = "kind: Model\nversion: v1\ndefinition: {}\n";
        let ok = format!("{other}---\n{NOAUTH}---\n{other}");
        assert!(load(&ok).is_ok());
        let none = format!("{other}---\n{other}");
        assert!(
            load(&none)
                .unwrap_err()
                .to_string()
                .contains("none of the 2 documents")
        );
        let two = format!("{NOAUTH}---\n{NOAUTH}");
        assert!(
            load(&two)
                .unwrap_err()
                .to_string()
                .contains("2 documents have `kind: AuthConfig`")
        );
    }

    #[test]
    fn yaml_syntax_errors_carry_a_location() {
        let e = load("kind: AuthConfig\nversion: [v4\n").unwrap_err();
        assert!(e.0[0].location.is_some(), "{e:?}");
    }

    /// Item 1: what a config may learn about a variable of the environment (the admission port lets anyone write
    /// one): that it is missing, or not a URL, not a PEM, short; never its value, a part of it or its length.
    #[test]
    fn item1_messages_never_hold_a_value_from_env() {
        const DSN: &str = "postgres://dbadmin7:s3cr3tpass@pgprimary.internal:5432/x";
        let env = |name: &str| match name {
            "DSN" => Some(DSN.to_owned()),
            "SHORT" => Some("hunter2-xq9-secret".to_owned()),
            "BADPORT" => {
                Some("https://dbadmin7:s3cr3tpass@pgprimary.internal:99999999/".to_owned())
            }
            "BADV6" => Some("https://[s3cr3tpass".to_owned()),
            "PEMISH" => Some(
                "-----BEGIN PUBLIC KEY-----\ns3cr3tpass$$\n-----END PRIVATE s3cr3tpass-----"
                    .to_owned(),
            ),
            _ => None,
        };
        let hook = |url: &str| {
            format!(
                "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    webhook:\n      method: GET\n      url:\n        {url}\n"
            )
        };
        let fixed = |alg: &str, key: &str| {
            format!(
                "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        fixed:\n          algorithm: {alg}\n          key:\n            {key}\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /claims.jwt.hasura.io\n"
            )
        };
        let v1_hook = |url: &str| {
            format!(
                "kind: AuthConfig\nversion: v1\ndefinition:\n  mode:\n    webhook:\n      url: '{url}'\n      method: Get\n"
            )
        };
        let mut texts = Vec::new();
        for var in ["DSN", "SHORT", "BADPORT", "BADV6", "PEMISH"] {
            let from_env = format!("valueFromEnv: {var}");
            for config in [
                hook(&from_env),
                fixed("RS256", &from_env),
                fixed("ES256", &from_env),
                fixed("EdDSA", &from_env),
                fixed("HS256", &from_env),
            ] {
                let text = match load_str_with_env(&config, &LoadOptions::default(), &env) {
                    Ok(l) => l.warnings.join("\n"),
                    Err(e) => e.to_string(),
                };
                if !text.is_empty() {
                    assert!(text.contains(var), "names the variable {var}: {text}");
                }
                texts.push(text);
            }
        }
        // Literal values are not repeated either (they may carry credentials too).
        for config in [
            hook(&format!("value: '{DSN}'")),
            hook("value: 'https://dbadmin7:s3cr3tpass@pgprimary.internal:99999999/'"),
            v1_hook(DSN),
            v1_hook("https://dbadmin7:s3cr3tpass@pgprimary.internal:99999999/"),
            fixed("HS256", "value: hunter2-xq9-secret"),
        ] {
            let text = match load(&config) {
                Ok(l) => l.warnings.join("\n"),
                Err(e) => e.to_string(),
            };
            assert!(!text.is_empty(), "{config}");
            texts.push(text);
        }
        for text in &texts {
            for part in [
                "postgres",
                "dbadmin7",
                "s3cr3tpass",
                "pgprimary",
                "5432",
                "99999999",
                "hunter2",
                "$$",
            ] {
                assert!(!text.contains(part), "{part:?} in: {text}");
            }
            for len in [DSN.len(), "hunter2-xq9-secret".len()] {
                assert!(
                    !text.contains(&format!("{len} bytes")),
                    "a length in: {text}"
                );
            }
        }
        let all = texts.join("\n");
        assert!(
            all.contains("shorter than the recommended 32 bytes"),
            "{all}"
        );
        assert!(
            all.contains("environment variable DSN does not hold an http:// or https:// URL"),
            "{all}"
        );
        assert!(
            all.contains("invalid port number"),
            "a literal URL keeps the parser's reason: {all}"
        );
    }

    const JWT: &str = "kind: AuthConfig\nversion: v4\ndefinition:\n  mode:\n    jwt:\n      key:\n        jwkFromUrl: https://x.example/jwks.json\n      allowedSkew: SKEW\n      tokenLocation:\n        type: BearerAuthorization\n      claimsConfig:\n        namespace:\n          claimsFormat: Json\n          location: /c\n";

    #[test]
    fn item10_allowed_skew_is_bounded_at_load() {
        for ok in ["0", "60", "300"] {
            let l = load(&JWT.replace("SKEW", ok)).unwrap_or_else(|e| panic!("{ok}: {e}"));
            let Mode::Jwt(j) = &l.config.mode else {
                panic!("not a jwt mode")
            };
            assert_eq!(j.leeway.to_string(), ok);
        }
        for bad in ["301", "86400", "18446744073709551615"] {
            let e = load(&JWT.replace("SKEW", bad)).expect_err(bad);
            assert_eq!(e.0.len(), 1, "{e}");
            assert_eq!(e.0[0].path, "definition.mode.jwt.allowedSkew", "{e}");
            assert!(e.0[0].message.contains("at most 300"), "{e}");
        }
        // In an alternative mode, the path says which one.
        let alt = format!(
            "{NOAUTH}  alternativeModes:\n  - identifier: a\n    config:\n      jwt:\n        key:\n          jwkFromUrl: https://x.example/jwks.json\n        allowedSkew: 999999\n        tokenLocation:\n          type: BearerAuthorization\n        claimsConfig:\n          namespace:\n            claimsFormat: Json\n            location: /c\n"
        );
        let e = load(&alt).expect_err("alternative");
        assert_eq!(
            e.0[0].path, "definition.alternativeModes[0].config.jwt.allowedSkew",
            "{e}"
        );
    }

    #[test]
    fn item11_no_auth_role_or_session_value_with_a_control_character_is_a_load_error() {
        for (role, vars, path) in [
            ("\"ad\\nmin\"", "{}", "definition.mode.noAuth.role"),
            ("\"ad\\u0000min\"", "{}", "definition.mode.noAuth.role"),
            ("\"ad\\tmin\"", "{}", "definition.mode.noAuth.role"),
            (
                "admin",
                "{x-hasura-user-id: \"1\\r\\nx-evil: 1\"}",
                "definition.mode.noAuth.sessionVariables.x-hasura-user-id",
            ),
            (
                "admin",
                "{x-hasura-a: \"1\", X-Hasura-A: \"2\"}",
                "definition.mode.noAuth.sessionVariables.x-hasura-a",
            ),
        ] {
            let text = NOAUTH
                .replace("role: admin", &format!("role: {role}"))
                .replace("sessionVariables: {}", &format!("sessionVariables: {vars}"));
            let e = load(&text).expect_err(&text);
            assert!(
                e.0.iter().any(|e| e.path.eq_ignore_ascii_case(path)),
                "{text}\n=> {e}"
            );
        }
        // Control: a tab in a session value is allowed (as in a token's claims).
        let text = NOAUTH.replace(
            "sessionVariables: {}",
            "sessionVariables: {x-hasura-a: \"a\\tb\"}",
        );
        assert!(load(&text).is_ok());
    }

    #[test]
    fn reflows_single_line_pem() {
        let pem = "-----BEGIN PUBLIC KEY-----MCowBQYDK2VwAyEAcULrEu6VR05/G7wT+KW6CDKV7yZMwiEE5nnnFwsV+7o=-----END PUBLIC KEY-----";
        assert!(fixed_key(Algorithm::EdDSA, pem).is_ok());
    }

    #[test]
    fn framing_headers_named_for_the_hook_are_a_warning() {
        let text = "kind: AuthConfig\nversion: v3\ndefinition:\n  mode:\n    webhook:\n      method: POST\n      url:\n        value: https://hook.example/auth\n      customHeadersConfig:\n        headers:\n          forward: [Host, x-tenant]\n          additional:\n            content-length: \"1\"\n            x-extra: e\n        body:\n          headers:\n            forward: [host]\n            additional:\n              expect: 100-continue\n";
        let l = load(text).unwrap_or_else(|e| panic!("{e}"));
        let path = "definition.mode.webhook.customHeadersConfig.headers";
        assert_eq!(
            l.warnings,
            vec![
                format!(
                    "{path}.forward: host is a hop-by-hop or framing header and is never sent to the webhook"
                ),
                format!(
                    "{path}.additional: content-length is a hop-by-hop or framing header and is never sent to the webhook"
                ),
            ],
            "only the HTTP headers of the call warn; the POST body's headers object may name anything"
        );
    }
}
