//! The AuthConfig document as written by users (Hasura DDN `kind: AuthConfig`, versions v1–v4).
//!
//! These are the *raw* serde types: they mirror the Hasura engine's shapes exactly (field names, one-of
//! objects, `deny_unknown_fields` everywhere except the custom-claims map) and derive the JSON Schema that
//! `authgate schema` prints. Nothing here is used on the request path: `config::load` turns these into the
//! compiled form in `config::compiled`.

use std::collections::BTreeMap;
use std::fmt;

use schemars::JsonSchema;
use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

mod claims;

pub use claims::{
    JwtClaimsConfig, JwtClaimsFormat, JwtClaimsMap, JwtClaimsMappingEntry, JwtClaimsNamespace,
    JwtClaimsPath,
};

/// `definition` of a v1 AuthConfig (deprecated).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DefinitionV1 {
    /// When the token's (or webhook's) role equals this role, the client may pick any role with the
    /// `x-hasura-role` header and its own `x-hasura-*` headers become the session (role emulation).
    #[serde(default)]
    pub allow_role_emulation_by: Option<String>,
    /// The authentication mode.
    pub mode: AuthModeConfig,
}

/// `definition` of a v2 AuthConfig (deprecated).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DefinitionV2 {
    /// The authentication mode.
    pub mode: AuthModeConfig,
}

/// `definition` of a v3 AuthConfig.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DefinitionV3 {
    /// The authentication mode.
    pub mode: AuthModeConfigV3,
}

/// `definition` of a v4 AuthConfig.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DefinitionV4 {
    /// The default authentication mode.
    pub mode: AuthModeConfigV3,
    /// Further modes, selected per request by the auth-mode header (default `X-Hasura-Auth-Mode`).
    #[serde(default)]
    pub alternative_modes: Option<Vec<AlternativeMode>>,
}

/// One alternative mode of a v4 AuthConfig.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlternativeMode {
    /// The value of the auth-mode header that selects this mode (exact, case-sensitive).
    pub identifier: String,
    /// The mode used when it is selected.
    pub config: AuthModeConfigV3,
}

/// Authentication mode of v1/v2 (exactly one key).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum AuthModeConfig {
    /// Ask an auth webhook.
    Webhook(AuthHookConfig),
    /// Verify a JWT.
    Jwt(Box<JwtConfig>),
    /// No authentication: every request gets the same session.
    NoAuth(NoAuthConfig),
}

/// Authentication mode of v3/v4 (exactly one key).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum AuthModeConfigV3 {
    /// Ask an auth webhook.
    Webhook(AuthHookConfigV3),
    /// Verify a JWT.
    Jwt(Box<JwtConfig>),
    /// No authentication: every request gets the same session.
    NoAuth(NoAuthConfig),
}

/// noAuth mode.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NoAuthConfig {
    /// The role of every request.
    pub role: String,
    /// Session variables of every request (names kept as written; values any JSON).
    pub session_variables: BTreeMap<String, Value>,
}

/// Webhook of v1/v2: the method is title-case.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthHookConfig {
    /// The webhook URL.
    pub url: url::Url,
    /// `Get` or `Post`.
    pub method: AuthHookMethodV1,
}

/// v1/v2 webhook method.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum AuthHookMethodV1 {
    /// GET, client headers forwarded as headers.
    Get,
    /// POST, client headers sent in a JSON body.
    Post,
}

/// Webhook of v3/v4. The method is upper-case. Deserialised as one struct (not a serde-tagged enum) so that
/// error paths reach inside it; `customHeadersConfig.body` is refused for `GET` by the loader.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthHookConfigV3 {
    /// `GET` or `POST`.
    pub method: AuthHookMethodV3,
    /// The webhook URL.
    pub url: EnvironmentValue,
    /// Which client headers are sent to the hook (as headers and, for POST, in the body), and which are added.
    #[serde(default)]
    pub custom_headers_config: Option<PostCustomHeadersConfig>,
}

/// v3/v4 webhook method.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema, PartialEq, Eq)]
pub enum AuthHookMethodV3 {
    /// GET, client headers forwarded as headers.
    #[serde(rename = "GET")]
    Get,
    /// POST, client headers sent as headers and/or in a JSON body.
    #[serde(rename = "POST")]
    Post,
}

/// `customHeadersConfig` (`body` only with POST).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostCustomHeadersConfig {
    /// Headers of the request to the hook.
    #[serde(default)]
    pub headers: Option<AuthHookConfigV3Headers>,
    /// The JSON body of the request to the hook.
    #[serde(default)]
    pub body: Option<AuthHookConfigV3Body>,
}

/// `customHeadersConfig.body` of a POST webhook.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthHookConfigV3Body {
    /// The `headers` object of the body.
    #[serde(default)]
    pub headers: Option<AuthHookConfigV3Headers>,
}

/// Forwarded and additional headers.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthHookConfigV3Headers {
    /// Client headers to forward: `"*"` (the default) or a list of names.
    #[serde(default)]
    pub forward: Option<AllOrList>,
    /// Headers added to (and overriding) the forwarded ones.
    #[serde(default)]
    pub additional: Option<BTreeMap<String, String>>,
}

/// `"*"` or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllOrList {
    /// Every header.
    All,
    /// Only these headers.
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for AllOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AllOrList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("the string \"*\" or a list of header names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AllOrList, E> {
                if v == "*" {
                    Ok(AllOrList::All)
                } else {
                    Err(E::invalid_value(de::Unexpected::Str(v), &self))
                }
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<AllOrList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(AllOrList::List(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for AllOrList {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AllOrList".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "The string \"*\" (all headers) or a list of header names.",
            "oneOf": [
                {"type": "string", "const": "*"},
                {"type": "array", "items": {"type": "string"}}
            ]
        })
    }
}

/// A literal value or the name of an environment variable holding it (exactly one key).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum EnvironmentValue {
    /// The value itself.
    Value(String),
    /// The name of an environment variable read when the config loads.
    ValueFromEnv(String),
}

/// JWT mode.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct JwtConfig {
    /// Where the verification key comes from.
    pub key: JwtKey,
    /// Where the token is read from.
    pub token_location: JwtTokenLocation,
    /// Where the Hasura claims are in the token.
    pub claims_config: JwtClaimsConfig,
    /// Accepted audiences (a list); when set the token must carry a matching `aud`.
    #[serde(default)]
    pub audience: Option<Vec<String>>,
    /// Required issuer; when set the token must carry this `iss`.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Clock skew tolerated on `exp`, `nbf` and `iat`, in seconds (default 60, at most 300).
    #[serde(default)]
    #[schemars(range(max = 300))]
    pub allowed_skew: Option<u64>,
}

/// The verification key (exactly one key).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub enum JwtKey {
    /// A fixed key and its algorithm.
    Fixed(JwtKeyConfig),
    /// A JWKS URL (`https://`, or `http://` to a loopback host).
    JwkFromUrl(url::Url),
}

/// A fixed key.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// The only algorithm accepted.
    pub algorithm: JwtAlgorithm,
    /// The HMAC secret (UTF-8 bytes) or the public key PEM.
    pub key: EnvironmentValue,
}

/// Signature algorithms (exact spelling).
#[derive(Debug, Clone, Copy, Deserialize, Serialize, JsonSchema, PartialEq, Eq)]
#[allow(clippy::upper_case_acronyms, missing_docs)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
    ES256,
    ES384,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    EdDSA,
}

/// Where the token is read from, tagged by `type`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(tag = "type")]
pub enum JwtTokenLocation {
    /// `Authorization: Bearer <token>`.
    BearerAuthorization(NoFields),
    /// A named cookie.
    Cookie(NamedLocation),
    /// A named header, whose whole value is the token.
    Header(NamedLocation),
}

/// An object with no other members (unknown members are errors).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NoFields {}

/// The name of a cookie or header.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NamedLocation {
    /// Cookie or header name.
    pub name: String,
}
