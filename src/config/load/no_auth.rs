//! noAuth mode: the role and the session variables become response headers on every request, so whatever could not
//! be sent (a control character, a name that is not a header name, two names equal after lower-casing) is a load
//! error here rather than the same denial stored for every request.

use std::sync::Arc;

use super::Compiler;
use super::error::LoadError;
use crate::config::compiled::{Mode, NoAuthMode};
use crate::config::model::NoAuthConfig;
use crate::config::session_rules::{HASURA_PREFIX, check_role, session_header, session_value};

impl Compiler<'_> {
    pub(super) fn no_auth(&mut self, n: NoAuthConfig, path: &str) -> Mode {
        if let Err(message) = check_role(&n.role) {
            self.errors
                .push(LoadError::at(format!("{path}.role"), message));
        }
        let mut seen: Vec<String> = Vec::new();
        for (name, value) in &n.session_variables {
            let vpath = format!("{path}.sessionVariables.{name}");
            let sendable = session_header(name)
                .and_then(|header| header.map_or(Ok(()), |h| session_value(&h, value).map(drop)));
            if let Err(message) = sendable {
                self.errors.push(LoadError::at(vpath, message));
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
}
