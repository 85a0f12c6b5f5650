//! `valueFromEnv`: an `EnvironmentValue` resolved against the environment the loader was given.

use super::Compiler;
use super::error::LoadError;
use crate::config::model::EnvironmentValue;

/// A resolved `EnvironmentValue`. A value read from the environment (a pod's secrets, in a cluster) must never be
/// repeated, in part or in length, by a load error or warning: `check`, the `serve` logs and the admission webhook's
/// answers all carry them, and whoever can reach the admission port can write a config that names any variable.
/// Messages about it name the field and the variable, and say at most one verdict (not set, not a URL, not a PEM,
/// shorter than recommended).
pub(super) struct Resolved {
    pub(super) text: String,
    /// The variable it came from; `None` for a literal `value`.
    pub(super) env: Option<String>,
}

impl Compiler<'_> {
    /// Resolve an `EnvironmentValue`; a missing variable is recorded as an error (naming the variable only).
    pub(super) fn env_value(&mut self, v: EnvironmentValue, path: &str) -> Option<Resolved> {
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
