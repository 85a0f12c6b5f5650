//! AuthConfig: the user-facing model (`model`), the loader (`load`) and the compiled form (`compiled`).
//! Pure: text in, validated value out. No HTTP framework, no Kubernetes client.

pub mod compiled;
pub mod file;
pub mod load;
pub mod model;
pub mod name;
pub mod pointer;
pub mod schema;
pub mod session_rules;

pub use compiled::CompiledConfig;
pub use load::{LoadError, LoadErrors, LoadOptions, Loaded, load_str, load_str_with_env};
