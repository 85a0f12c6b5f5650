use clap::Parser;

use super::*;
use crate::cli::{Cli, Command};

fn common(flags: &[&str]) -> CommonArgs {
    let args = ["authgate", "serve", "--config", "c.yaml"]
        .iter()
        .chain(flags)
        .copied();
    match Cli::try_parse_from(args).expect("the flags parse").command {
        Command::Serve(serve) => serve.common,
        other => panic!("parsed as {other:?}"),
    }
}

/// With no flags given, the settings are the gate's and the JWKS cache's own defaults, whatever fields they gain.
#[test]
fn no_flags_means_the_default_settings() {
    let from_flags = gate_settings(&common(&[]));
    assert_eq!(
        format!("{from_flags:?}"),
        format!("{:?}", GateSettings::default())
    );
    assert!(!load_options(&common(&[])).insecure_jwks_http);
}

#[test]
fn flags_set_their_settings() {
    let s = gate_settings(&common(&[
        "--auth-mode-header",
        "X-Mode",
        "--max-token-bytes",
        "100",
        "--decision-cache-size",
        "7",
        "--decision-cache-ttl",
        "8",
        "--webhook-timeout",
        "0.25",
        "--webhook-max-connections",
        "3",
        "--jwks-refresh-secs",
        "11",
        "--jwks-min-refresh-secs",
        "12",
        "--jwks-max-refresh-secs",
        "13",
        "--jwks-forced-refresh-secs",
        "14",
        "--jwks-forced-budget-ms",
        "15",
        "--jwks-max-stale-secs",
        "16",
        "--deny-log-per-sec",
        "17",
    ]));
    assert_eq!(s.auth_mode_header, "x-mode");
    assert_eq!((s.max_token_bytes, s.cache_size, s.cache_ttl), (100, 7, 8));
    assert_eq!(s.webhook_timeout, Duration::from_millis(250));
    assert_eq!(s.webhook_max_connections, 3);
    assert_eq!(s.deny_log_per_sec, 17);
    assert_eq!(s.deny_cache_ttl, GateSettings::default().deny_cache_ttl);
    let j = &s.jwks;
    assert_eq!(
        [
            j.refresh,
            j.min_refresh,
            j.max_refresh,
            j.forced_min_interval,
            j.max_stale
        ],
        [11, 12, 13, 14, 16].map(Duration::from_secs)
    );
    assert_eq!(j.forced_budget, Duration::from_millis(15));
    assert!(load_options(&common(&["--insecure-jwks-http"])).insecure_jwks_http);
}

#[test]
fn out_of_range_flags_are_clamped() {
    let s = gate_settings(&common(&[
        "--jwks-refresh-secs",
        "0",
        "--jwks-min-refresh-secs",
        "0",
        "--jwks-max-refresh-secs",
        "0",
        "--webhook-timeout",
        "0",
        "--webhook-max-connections",
        "0",
    ]));
    let one = Duration::from_secs(1);
    assert_eq!(
        [s.jwks.refresh, s.jwks.min_refresh, s.jwks.max_refresh],
        [one; 3]
    );
    assert_eq!(s.webhook_timeout, Duration::from_millis(1));
    assert_eq!(s.webhook_max_connections, 1);

    let s = gate_settings(&common(&[
        "--jwks-min-refresh-secs",
        "600",
        "--jwks-max-refresh-secs",
        "60",
        "--webhook-timeout",
        "1e9",
    ]));
    assert_eq!(s.jwks.max_refresh, Duration::from_secs(600));
    assert_eq!(s.webhook_timeout, Duration::from_secs(3600));
    let s = gate_settings(&common(&["--webhook-timeout=-5"]));
    assert_eq!(s.webhook_timeout, Duration::from_millis(1));
}

#[test]
fn grpc_options_follow_the_flags() {
    let c = common(&[
        "--grpc-metadata-vars",
        "x-hasura-user-id",
        "--auth-mode-header",
        "X-Mode",
    ]);
    let settings = gate_settings(&c);
    assert!(grpc_options("off", None, 2, &c, &settings).is_none());
    assert!(grpc_options("OFF", None, 2, &c, &settings).is_none());
    let g = grpc_options("127.0.0.1:1", None, 3, &c, &settings).expect("on");
    assert_eq!((g.listen.as_str(), g.workers), ("127.0.0.1:1", 3));
    assert_eq!(g.ext_authz.metadata_vars, ["x-hasura-user-id"]);
    assert_eq!(g.ext_authz.auth_mode_header, "x-mode");
    assert!(
        g.call_timeout > settings.webhook_timeout + settings.jwks.forced_budget,
        "a call outlasts the longest decision"
    );
}
