//! The compiled AuthConfig: everything the request path needs, already parsed and typed (keys, pointers, URLs,
//! header names, environment values). Built once per load by `config::load`; shared read-only behind an `Arc`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use url::Url;

use super::model::{JwtClaimsFormat, JwtClaimsMap};
use super::pointer::JsonPointer;

/// The AuthConfig version the document declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    /// v1 (deprecated; the only one with role emulation).
    V1,
    /// v2 (deprecated).
    V2,
    /// v3.
    V3,
    /// v4 (alternative modes).
    V4,
}

impl Version {
    /// `v1` … `v4`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1 => "v1",
            Version::V2 => "v2",
            Version::V3 => "v3",
            Version::V4 => "v4",
        }
    }
}

/// A loaded, validated AuthConfig.
#[derive(Debug, Clone)]
pub struct CompiledConfig {
    /// The declared version.
    pub version: Version,
    /// v1 `allowRoleEmulationBy`.
    pub role_emulation_by: Option<String>,
    /// The default mode.
    pub mode: Mode,
    /// v4 alternative modes (`None` when absent or null; `Some(vec![])` still enables the auth-mode header).
    pub alternative_modes: Option<Vec<(String, Mode)>>,
}

impl CompiledConfig {
    /// Every distinct JWKS URL the config uses (default and alternative modes).
    pub fn jwks_urls(&self) -> Vec<Url> {
        let mut out: Vec<Url> = Vec::new();
        let alts = self.alternative_modes.iter().flatten().map(|(_, m)| m);
        for m in std::iter::once(&self.mode).chain(alts) {
            if let Mode::Jwt(j) = m
                && let JwtKeySource::JwksUrl(u) = &j.key
                && !out.contains(u)
            {
                out.push(u.clone());
            }
        }
        out
    }
}

/// One authentication mode.
#[derive(Debug, Clone)]
pub enum Mode {
    Jwt(Arc<JwtMode>),
    Webhook(Arc<WebhookMode>),
    /// Fixed session.
    NoAuth(Arc<NoAuthMode>),
}

/// JWT mode, compiled.
#[derive(Debug)]
pub struct JwtMode {
    /// Where keys come from.
    pub key: JwtKeySource,
    /// Where the token is read.
    pub token_location: TokenLocation,
    /// Where the claims are.
    pub claims: ClaimsSpec,
    /// Accepted audiences.
    pub audience: Option<Vec<String>>,
    /// Required issuer.
    pub issuer: Option<String>,
    /// Leeway in seconds for `exp`, `nbf`, `iat`.
    pub leeway: u64,
}

/// Where keys come from.
pub enum JwtKeySource {
    /// A fixed key and its single algorithm.
    Fixed {
        algorithm: Algorithm,
        key: DecodingKey,
    },
    JwksUrl(Url),
}

impl fmt::Debug for JwtKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JwtKeySource::Fixed { algorithm, .. } => write!(f, "Fixed({algorithm:?})"),
            JwtKeySource::JwksUrl(u) => write!(f, "JwksUrl({u})"),
        }
    }
}

/// Where the token is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenLocation {
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// A named cookie (anywhere in the `Cookie` header).
    Cookie(String),
    Header(String),
}

/// Where the claims are.
#[derive(Debug)]
pub enum ClaimsSpec {
    /// One object at a pointer.
    Namespace {
        format: JwtClaimsFormat,
        location: JsonPointer,
    },
    /// Each claim from its own place.
    Locations(JwtClaimsMap),
}

/// Webhook mode, compiled.
#[derive(Debug)]
pub struct WebhookMode {
    pub method: HookMethod,
    pub url: Url,
    /// v3/v4 `customHeadersConfig`; `None` means the v1/v2 behaviour.
    pub custom: Option<HookCustom>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookMethod {
    Get,
    Post,
}

/// `customHeadersConfig`, compiled.
#[derive(Debug, Clone, Default)]
pub struct HookCustom {
    /// Headers of the request to the hook (`None`: no client headers at all).
    pub headers: Option<HookHeaders>,
    /// POST only: the body's `headers` object (`None`: `{}`).
    pub body_headers: Option<HookHeaders>,
}

/// Hop-by-hop and framing headers: never sent to the hook as HTTP headers, whatever the config says, not even when
/// an explicit `forward` list or `additional` names them. They describe our connection with the proxy and the
/// client's body, not the client: a client's `content-length: 9` on a GET would make the hook wait for a body that
/// never comes, `host` would address another virtual host, `expect` asks for an interim answer. The client for the
/// hook sets the ones its own request needs. Every `proxy-*` header is in this set too ([`never_forwarded`]; the loader warns when a config names one).
const NEVER_FORWARDED: [&str; 9] = [
    "connection",
    "content-length",
    "expect",
    "host",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether `name` (lower-case) is a hop-by-hop or framing header ([`NEVER_FORWARDED`], or `proxy-*`).
pub fn never_forwarded(name: &str) -> bool {
    NEVER_FORWARDED.contains(&name) || name.starts_with("proxy-")
}

/// Forwarded and additional headers, with names already validated.
#[derive(Debug, Clone)]
pub struct HookHeaders {
    /// Which client headers are forwarded.
    pub forward: Forward,
    /// Added headers, overriding forwarded ones.
    pub additional: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// Forwarded client headers.
#[derive(Debug, Clone)]
pub enum Forward {
    /// All of them.
    All,
    /// Only these.
    List(Vec<http::HeaderName>),
}

#[derive(Debug)]
pub struct NoAuthMode {
    pub role: String,
    pub session_variables: BTreeMap<String, Value>,
}
