//! The envelope (`kind`, `version`, `definition`) and the compile of a decoded definition: its mode and, in v4,
//! its alternative modes, each by the one compile function of its kind.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Compiler;
use super::error::LoadError;
use super::normalize::{Definition, ModeSpec, definition};
use crate::config::compiled::{CompiledConfig, Mode};

impl Compiler<'_> {
    pub(super) fn envelope(&mut self, doc: Value) -> Result<CompiledConfig, LoadError> {
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
        let Some(body) = obj.remove("definition") else {
            return Err(LoadError::at("", "missing field `definition`"));
        };
        let d = definition(&version, body, &mut self.warnings)?;
        Ok(self.compile(d))
    }

    fn compile(&mut self, d: Definition) -> CompiledConfig {
        let mode = self.mode(d.mode, "definition.mode");
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
                let m = self.mode(
                    alt.config.into(),
                    &format!("definition.alternativeModes[{i}].config"),
                );
                out.push((alt.identifier, m));
            }
            out
        });
        CompiledConfig {
            version: d.version,
            role_emulation_by: d.role_emulation_by,
            mode,
            alternative_modes,
        }
    }

    fn mode(&mut self, m: ModeSpec, path: &str) -> Mode {
        match m {
            ModeSpec::Webhook(h) => {
                Mode::Webhook(Arc::new(self.webhook(h, &format!("{path}.webhook"))))
            }
            ModeSpec::Jwt(j) => self.jwt(*j, &format!("{path}.jwt")),
            ModeSpec::NoAuth(n) => self.no_auth(n, &format!("{path}.noAuth")),
        }
    }
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
