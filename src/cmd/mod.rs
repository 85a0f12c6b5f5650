//! Command wiring: one module per subcommand.

pub mod dev;
pub mod serve;
