//! What a failed load reports: each error with the path of the field it is about, and the texts shared by more
//! than one part of the loader.

use std::fmt;

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
    pub(super) fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
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

/// A header name the config gives (a webhook's headers, a JWT's token header) that HTTP does not accept.
pub(super) fn invalid_header_name(n: &str) -> String {
    let n = n.escape_debug();
    format!("Header '{n}', used in the auth config, is not a valid header name")
}
