//! The active config as the request path uses it: per mode, a JWT authenticator (with its key source), a noAuth
//! identity rendered once, or a webhook mode. Built whole on each config load and swapped in.

use std::sync::Arc;

use crate::authn::authenticator::JwtAuthenticator;
use crate::authn::reason::Deny;
use crate::authn::session::{Identity, Roles, render};
use crate::config::CompiledConfig;
use crate::config::compiled::{JwtKeySource, Mode, NoAuthMode, WebhookMode};
use crate::jwks::{FixedKey, KeyProvider, KeySource};
use crate::observe::ConfigObserver;

pub(super) enum ActiveMode {
    Jwt(Box<JwtAuthenticator>),
    NoAuth(Result<Identity, Deny>),
    Webhook(Arc<WebhookMode>),
}

/// Which config a snapshot is a version of, and where that config's outcomes are counted.
pub(super) struct Owner {
    /// The config's name (multi-config mode), for logs.
    pub(super) name: Option<Arc<str>>,
    /// Process-unique id of the named config (0 in single-config mode), mixed into every cache key with the
    /// generation: a decision cached for one config never answers for another.
    pub(super) id: u64,
    /// The config's series (the gate's observer itself in single-config mode).
    pub(super) series: Arc<dyn ConfigObserver>,
}

pub(super) struct Active {
    pub(super) generation: u64,
    pub(super) config: Arc<CompiledConfig>,
    /// Index 0 is `mode`; alternatives follow in config order.
    pub(super) modes: Vec<ActiveMode>,
    pub(super) owner: Owner,
}

impl Active {
    /// The snapshot of `config`, loaded as `generation` of `owner`, with the keys of JWKS URLs from `keys`.
    pub(super) fn build(
        generation: u64,
        config: Arc<CompiledConfig>,
        keys: &dyn KeyProvider,
        owner: Owner,
    ) -> Self {
        let emulation_by = config.role_emulation_by.as_deref();
        let build = |m: &Mode| match m {
            Mode::Jwt(j) => {
                let source: Arc<dyn KeySource> = match &j.key {
                    JwtKeySource::JwksUrl(u) => keys.source(u),
                    JwtKeySource::Fixed { algorithm, key } => {
                        Arc::new(FixedKey::new(*algorithm, key.clone()))
                    }
                };
                ActiveMode::Jwt(Box::new(JwtAuthenticator::new(
                    j.clone(),
                    source,
                    emulation_by,
                )))
            }
            Mode::NoAuth(n) => ActiveMode::NoAuth(noauth_identity(n)),
            Mode::Webhook(w) => ActiveMode::Webhook(w.clone()),
        };
        let mut modes = vec![build(&config.mode)];
        for (_, m) in config.alternative_modes.iter().flatten() {
            modes.push(build(m));
        }
        Self {
            generation,
            config,
            modes,
            owner,
        }
    }

    /// Whether every key set this version needs is held.
    pub(super) fn keys_ready(&self) -> bool {
        self.modes.iter().all(|m| match m {
            ActiveMode::Jwt(j) => j.is_ready(),
            _ => true,
        })
    }
}

/// The fixed identity of a noAuth mode; a role or variable that cannot be sent denies every request.
fn noauth_identity(n: &NoAuthMode) -> Result<Identity, Deny> {
    let vars = render(n.session_variables.iter().map(|(k, v)| (k.as_str(), v)))?;
    Ok(Identity::Specific {
        roles: Roles::new(&n.role, std::slice::from_ref(&n.role))?,
        vars,
    })
}
