//! The active config as the request path uses it: per mode, a JWT authenticator (with its key source), a noAuth
//! identity rendered once, or a webhook mode. Built whole on each config load and swapped in.

use std::sync::Arc;

use crate::authn::authenticator::JwtAuthenticator;
use crate::authn::reason::Deny;
use crate::authn::session::{Identity, Roles, render};
use crate::config::CompiledConfig;
use crate::config::compiled::{JwtKeySource, Mode, NoAuthMode, WebhookMode};
use crate::jwks::{FixedKey, KeyProvider, KeySource};

pub(super) enum ActiveMode {
    Jwt(Box<JwtAuthenticator>),
    NoAuth(Result<Identity, Deny>),
    Webhook(Arc<WebhookMode>),
}

pub(super) struct Active {
    pub(super) generation: u64,
    pub(super) config: Arc<CompiledConfig>,
    /// Index 0 is `mode`; alternatives follow in config order.
    pub(super) modes: Vec<ActiveMode>,
}

impl Active {
    /// The snapshot of `config`, loaded as `generation`, with the keys of JWKS URLs from `keys`.
    pub(super) fn build(
        generation: u64,
        config: Arc<CompiledConfig>,
        keys: &dyn KeyProvider,
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
        }
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
