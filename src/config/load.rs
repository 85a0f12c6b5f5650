//! Text in, compiled config out: parse (YAML or JSON, single or multi-document) → pick the `kind: AuthConfig`
//! document → typed deserialisation with field paths → resolve `valueFromEnv` → validate → compile.
//!
//! This is the one loading path: `authgate check`, `serve` (file and ConfigMap reloads) and the admission webhook
//! all call [`load_str`]. A config that fails here never replaces a running one.
//!
//! By job: `parse` (text to the document, typed decoding), `envelope` (kind, version, the compile of a definition's
//! modes), `normalize` (every version's definition in one shape, so each mode kind compiles once), `jwt` and `key`
//! (JWT mode, fixed key material), `hook` (webhook mode), `no_auth`, `env` (`valueFromEnv`), `error`.

use std::sync::Arc;

use super::compiled::CompiledConfig;

mod env;
mod envelope;
mod error;
mod hook;
mod jwt;
mod key;
mod no_auth;
mod normalize;
mod parse;
#[cfg(test)]
mod tests;

pub use error::{LoadError, LoadErrors};

/// Largest config text accepted (a Kubernetes ConfigMap cannot hold more either).
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// Default leeway for `exp`/`nbf`/`iat` when `allowedSkew` is absent (the Hasura engine's default).
pub const DEFAULT_LEEWAY_SECS: u64 = 60;

/// Largest `allowedSkew` accepted, in seconds. Five minutes is the most any issuer we know of asks for (Clerk's JWT
/// templates allow 0–300 s of clock skew); a larger value only widens the window in which an expired token is
/// accepted, and a huge one would overflow the time arithmetic of every request.
pub const MAX_ALLOWED_SKEW_SECS: u64 = 300;

/// Operator options that change what loads.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Accept `http://` JWKS URLs on non-loopback hosts (`--insecure-jwks-http`).
    pub insecure_jwks_http: bool,
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
    let doc = parse::parse_document(text)?;
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

/// One load in progress. Compiling goes on past an error so that one run reports every error of the document;
/// the parts of the loader add their `impl` blocks (one per mode kind).
struct Compiler<'a> {
    opts: &'a LoadOptions,
    env: &'a dyn Fn(&str) -> Option<String>,
    warnings: Vec<String>,
    errors: Vec<LoadError>,
}
