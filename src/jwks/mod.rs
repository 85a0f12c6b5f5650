//! JWKS key sets (being split by job: the source moves first).

mod source;

pub use source::*;
