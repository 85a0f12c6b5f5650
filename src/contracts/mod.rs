//! Thin adapters between proxies and the gate: parse the request, call `Gate::decide_via`, render the answer.
//! `answer` is what every transport says (session headers, denial status, headers and body); `forward` frames it as
//! HTTP, `ext_authz` as Envoy's gRPC `CheckResponse`.

pub mod answer;
pub mod check_view;
pub mod ext_authz;
mod ext_authz_wire;
pub mod forward;
#[cfg(test)]
mod selection_tests;
