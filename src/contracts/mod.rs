//! Thin adapters between proxies and the gate: parse the request, call `Gate::decide`, render the answer.

pub mod forward;
