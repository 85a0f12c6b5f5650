//! `/readyz` of multi-config mode (policy §13): ready while at least one config is usable and no shutdown is under
//! way; the body lists every config with its state and last error, so one tenant's broken config is visible
//! without taking every tenant's pods out of their Services. The last error is the loader's message, never the
//! config's contents.

use serde::Serialize;

use super::Gate;

/// The state of one named config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConfigState {
    /// A version serves and every key set it needs is held.
    Ready,
    /// A version serves but a key set it needs is not held yet (or is too stale to use).
    NotReady,
    /// No version ever loaded: requests naming it answer `503 no_config`.
    Failed,
    /// Gone from its source; still served until the grace period ends.
    RemovalPending,
}

/// One config in the `/readyz` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConfigReadiness {
    pub name: String,
    pub state: ConfigState,
    /// Whether it counts towards readiness: a version serves and its key sets are held.
    pub usable: bool,
    /// Why the newest version did not load; with a version serving, that is the last good one.
    pub last_error: Option<String>,
}

/// The readiness of a multi-config gate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub draining: bool,
    /// Sorted by name.
    pub configs: Vec<ConfigReadiness>,
}

impl Gate {
    /// Multi-config mode: each config's state, and whether the gate is ready. `None` in single-config mode, whose
    /// `/readyz` is [`Gate::is_ready`] alone.
    pub fn readiness(&self) -> Option<Readiness> {
        let named = self.named.as_ref()?;
        let configs: Vec<ConfigReadiness> = named
            .slots()
            .iter()
            .map(|slot| {
                let st = slot.state().clone();
                let (loaded, usable) = slot
                    .active()
                    .map_or((false, false), |a| (true, a.keys_ready()));
                let state = match (loaded, usable, st.removal_pending) {
                    (false, _, _) => ConfigState::Failed,
                    (true, _, true) => ConfigState::RemovalPending,
                    (true, true, false) => ConfigState::Ready,
                    (true, false, false) => ConfigState::NotReady,
                };
                ConfigReadiness {
                    name: slot.name.to_string(),
                    state,
                    usable,
                    last_error: st.last_error,
                }
            })
            .collect();
        let draining = self.is_draining();
        Some(Readiness {
            ready: !draining && configs.iter().any(|c| c.usable),
            draining,
            configs,
        })
    }
}
