use clap::CommandFactory;

use super::*;

/// Every flag's default as `--help` shows it.
fn shown_defaults(subcommand: &str) -> Vec<(String, String)> {
    let cli = Cli::command();
    let sub = cli
        .find_subcommand(subcommand)
        .expect("the subcommand exists");
    sub.get_arguments()
        .filter_map(|a| {
            let d = a.get_default_values().first()?;
            Some((a.get_id().to_string(), d.to_string_lossy().into_owned()))
        })
        .collect()
}

/// The defaults that come from `GateSettings` and `JwksSettings` show as they did when they were literals here.
#[test]
fn help_shows_the_settings_defaults() {
    let expected = [
        ("auth_mode_header", "X-Hasura-Auth-Mode"),
        ("max_token_bytes", "16384"),
        ("decision_cache_size", "100000"),
        ("decision_cache_ttl", "60"),
        ("webhook_timeout", "5"),
        ("webhook_max_connections", "256"),
        ("jwks_refresh_secs", "300"),
        ("jwks_min_refresh_secs", "60"),
        ("jwks_max_refresh_secs", "3600"),
        ("jwks_forced_refresh_secs", "30"),
        ("jwks_forced_budget_ms", "150"),
        ("jwks_max_stale_secs", "86400"),
        ("deny_log_per_sec", "100"),
        ("max_connections", "16384"),
        ("shutdown_delay_secs", "5"),
        ("shutdown_timeout_secs", "30"),
    ];
    for sub in ["serve", "dev"] {
        let shown = shown_defaults(sub);
        for (id, value) in expected {
            let found = shown.iter().find(|(i, _)| i == id);
            assert_eq!(found.map(|(_, v)| v.as_str()), Some(value), "{sub} --{id}");
        }
    }
}

#[test]
fn header_names_are_shown_in_their_usual_case() {
    assert_eq!(header_case("x-hasura-auth-mode"), "X-Hasura-Auth-Mode");
    assert_eq!(header_case("X-HASURA-ROLE"), "X-Hasura-Role");
    assert_eq!(header_case(""), "");
}

#[test]
fn a_webhook_timeout_must_be_a_number() {
    assert_eq!(not_nan("2.5"), Ok(2.5));
    assert_eq!(not_nan("-1"), Ok(-1.0));
    assert!(not_nan("NaN").is_err());
    assert!(not_nan("five").is_err());
    let parsed = Cli::try_parse_from([
        "authgate",
        "serve",
        "--config",
        "c.yaml",
        "--webhook-timeout",
        "nan",
    ]);
    assert!(parsed.is_err());
}

#[test]
fn millis_saturates() {
    assert_eq!(millis(Duration::from_millis(150)), 150);
    assert_eq!(millis(Duration::MAX), u64::MAX);
}

#[test]
fn grpc_flags() {
    let serve = |flags: &[&str]| {
        let args = ["authgate", "serve", "--config", "c.yaml"]
            .iter()
            .chain(flags)
            .copied();
        Cli::try_parse_from(args).map(|c| match c.command {
            Command::Serve(s) => s,
            other => panic!("parsed as {other:?}"),
        })
    };
    let s = serve(&[]).expect("defaults");
    assert_eq!(s.grpc_listen, "0.0.0.0:8081");
    assert!(s.common.grpc_metadata_vars.is_empty());
    let s = serve(&["--grpc-metadata-vars", "X-Hasura-User-Id, x-hasura-org-id"]).expect("names");
    assert_eq!(
        s.common.grpc_metadata_vars,
        ["x-hasura-user-id", "x-hasura-org-id"]
    );
    assert!(serve(&["--grpc-metadata-vars", "user-id"]).is_err());
    assert!(serve(&["--grpc-metadata-vars", "x-hasura-"]).is_err());
    assert!(
        serve(&["--grpc-tls-cert", "c.pem"]).is_err(),
        "a certificate without its key"
    );
    assert!(
        serve(&["--grpc-tls-key", "k.pem"]).is_err(),
        "a key without its certificate"
    );
    assert!(
        serve(&["--grpc-client-ca", "ca.pem"]).is_err(),
        "client certificates need TLS"
    );
    let s = serve(&[
        "--grpc-tls-cert",
        "c.pem",
        "--grpc-tls-key",
        "k.pem",
        "--grpc-client-ca",
        "ca.pem",
    ])
    .expect("TLS with client certificates");
    assert!(s.grpc_client_ca.is_some());
    match Cli::try_parse_from(["authgate", "dev"])
        .expect("dev")
        .command
    {
        Command::Dev(d) => assert_eq!(d.grpc_listen, "127.0.0.1:8081"),
        other => panic!("parsed as {other:?}"),
    }
}

fn parse_serve(flags: &[&str]) -> Result<ServeArgs, clap::Error> {
    let args = ["authgate", "serve"].iter().chain(flags).copied();
    Cli::try_parse_from(args).map(|c| match c.command {
        Command::Serve(s) => s,
        other => panic!("parsed as {other:?}"),
    })
}

#[test]
fn config_sources_and_their_conflicts() {
    let s = parse_serve(&["--config", "a.yaml", "--config", "b.yaml"]).expect("repeated --config");
    assert_eq!(s.config.len(), 2);
    assert_eq!(s.config_removal_grace, 300, "the default grace");
    let s = parse_serve(&[
        "--configmap-selector",
        "authgate.io/authconfig=true",
        "--configmap-namespace",
        "tenants",
        "--config-removal-grace",
        "0",
    ])
    .expect("selector");
    assert_eq!(
        s.configmap_selector.as_deref(),
        Some("authgate.io/authconfig=true")
    );
    assert_eq!(s.configmap_namespace.as_deref(), Some("tenants"));
    assert_eq!(s.config_removal_grace, 0);
    for (flags, both) in [
        (
            &["--configmap", "a/b", "--configmap-selector", "x=y"][..],
            ["--configmap", "--configmap-selector"],
        ),
        (
            &["--config", "a.yaml", "--configmap-selector", "x=y"][..],
            ["--config", "--configmap-selector"],
        ),
        (
            &["--config", "a.yaml", "--configmap", "a/b"][..],
            ["--config", "--configmap"],
        ),
    ] {
        let e = parse_serve(flags).expect_err("two sources");
        assert_eq!(e.exit_code(), 2, "a usage error");
        let msg = e.to_string();
        assert!(
            msg.contains("cannot be used with")
                && both.iter().all(|f| msg.contains(&format!("'{f} "))),
            "{msg}"
        );
    }
    assert_eq!(parse_serve(&[]).expect_err("no source").exit_code(), 2);
    let e = parse_serve(&["--configmap-selector", " "]).expect_err("empty selector");
    assert!(e.to_string().contains("must not be empty"), "{e}");
    assert!(
        parse_serve(&["--config", "a.yaml", "--configmap-namespace", "x"]).is_err(),
        "the namespace belongs to the selector"
    );
}
