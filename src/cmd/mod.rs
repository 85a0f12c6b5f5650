//! Command wiring: one module per subcommand. Each turns its flags into the settings of the parts it starts, starts
//! them, and ends in an exit code or an error for `main` to print. This is where flags meet the domain's settings
//! types, and the only place that maps one onto the other.

pub mod check;
pub mod dev;
pub mod explain;
pub mod schema;
pub mod serve;

use std::time::Duration;

use crate::cli::{CommonArgs, DecisionArgs};
use crate::config::LoadOptions;
use crate::contracts::ext_authz::ExtAuthzSettings;
use crate::gate::GateSettings;
use crate::grpc::{GrpcOptions, GrpcTls};
use crate::jwks::JwksSettings;

/// The gate settings the flags shared by `serve` and `dev` describe; what no flag sets keeps its default.
/// Out-of-range values are clamped rather than refused: a zero JWKS refresh period would refetch without pause, a
/// zero webhook pool would admit no call, `max-refresh` below `min-refresh` would be an empty range, and the webhook
/// timeout is kept between 1 ms and an hour.
pub fn gate_settings(common: &CommonArgs) -> GateSettings {
    GateSettings {
        cache_size: common.decision_cache_size,
        cache_ttl: common.decision_cache_ttl,
        jwks: JwksSettings {
            refresh: Duration::from_secs(common.jwks_refresh_secs.max(1)),
            min_refresh: Duration::from_secs(common.jwks_min_refresh_secs.max(1)),
            max_refresh: Duration::from_secs(
                common
                    .jwks_max_refresh_secs
                    .max(common.jwks_min_refresh_secs)
                    .max(1),
            ),
            forced_min_interval: Duration::from_secs(common.jwks_forced_refresh_secs),
            forced_budget: Duration::from_millis(common.jwks_forced_budget_ms),
            max_stale: Duration::from_secs(common.jwks_max_stale_secs),
            ..JwksSettings::default()
        },
        webhook_max_connections: common.webhook_max_connections.max(1),
        deny_log_per_sec: common.deny_log_per_sec,
        ..decision_settings(&common.decision)
    }
}

/// The gate settings of the flags every judging command shares (`serve`, `dev`, `explain`); the rest default.
pub fn decision_settings(d: &DecisionArgs) -> GateSettings {
    GateSettings {
        max_token_bytes: d.max_token_bytes,
        auth_mode_header: d.auth_mode_header.to_ascii_lowercase(),
        webhook_timeout: Duration::from_secs_f64(d.webhook_timeout.clamp(0.001, 3600.0)),
        ..GateSettings::default()
    }
}

/// The gRPC listener of `listen` (`None` when it is `off`), on `workers` threads like the data listener. Its call
/// timeout outlasts the longest decision the settings allow (a webhook call, then a forced JWKS refresh), so a slow
/// dependency is answered as a `503` inside a `CheckResponse`, never as an RPC error.
pub fn grpc_options(
    listen: &str,
    tls: Option<GrpcTls>,
    workers: usize,
    common: &CommonArgs,
    gate: &GateSettings,
) -> Option<GrpcOptions> {
    if listen.eq_ignore_ascii_case("off") {
        return None;
    }
    Some(GrpcOptions {
        listen: listen.to_owned(),
        workers,
        tls,
        ext_authz: ExtAuthzSettings {
            metadata_vars: common.grpc_metadata_vars.clone(),
            auth_mode_header: gate.auth_mode_header.clone(),
        },
        call_timeout: gate.webhook_timeout + gate.jwks.forced_budget + Duration::from_secs(30),
        shutdown_timeout: Duration::from_secs(common.shutdown_timeout_secs),
    })
}

/// Loader options the flags shared by `serve` and `dev` describe.
pub fn load_options(common: &CommonArgs) -> LoadOptions {
    LoadOptions {
        insecure_jwks_http: common.decision.insecure_jwks_http,
    }
}

#[cfg(test)]
#[path = "settings_tests.rs"]
mod tests;
