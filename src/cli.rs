//! Command line: subcommands and flags, and nothing else. Every flag can also come from an `AUTHGATE_*` environment
//! variable. A flag that sets a gate or JWKS setting shows that setting's own default (from `GateSettings` and
//! `JwksSettings`), so the two cannot drift apart; turning flags into settings is `cmd`'s job.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::gate::GateSettings;
use crate::jwks::JwksSettings;

/// authgate: forward-auth for ingress proxies, driven by a Hasura DDN AuthConfig.
#[derive(Debug, Parser)]
#[command(name = "authgate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
// Parsed once at start: the size of the largest variant (serve's flags) costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load AuthConfig files exactly as the server does and report errors and warnings.
    Check(CheckArgs),
    /// Print the JSON Schema of an AuthConfig document.
    Schema,
    /// Run the auth service.
    Serve(ServeArgs),
    /// Try authgate on a laptop: an embedded issuer, a Clerk-shaped config, tokens and curl lines (loopback only).
    Dev(DevArgs),
    /// Why is this token refused? The decision `serve` would make for one request, narrated step by step.
    Explain(ExplainArgs),
}

/// Log format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON lines (the default when stderr is not a terminal).
    Json,
    /// Human-readable.
    Text,
}

/// Flags that change how a request is judged, shared by `serve`, `dev` and `explain` (so that `explain` judges a
/// token as the server it stands for would).
#[derive(Debug, Clone, Args)]
pub struct DecisionArgs {
    /// Request header that selects a v4 alternative mode.
    #[arg(
        long,
        default_value_t = header_case(&GateSettings::default().auth_mode_header),
        env = "AUTHGATE_AUTH_MODE_HEADER"
    )]
    pub auth_mode_header: String,
    /// Longest token accepted, in bytes.
    #[arg(
        long,
        default_value_t = GateSettings::default().max_token_bytes,
        env = "AUTHGATE_MAX_TOKEN_BYTES"
    )]
    pub max_token_bytes: usize,
    /// Timeout of one webhook call, in seconds.
    #[arg(
        long,
        default_value_t = GateSettings::default().webhook_timeout.as_secs_f64(),
        value_parser = not_nan,
        env = "AUTHGATE_WEBHOOK_TIMEOUT"
    )]
    pub webhook_timeout: f64,
    /// Allow http:// JWKS URLs on non-loopback hosts.
    #[arg(long, env = "AUTHGATE_INSECURE_JWKS_HTTP")]
    pub insecure_jwks_http: bool,
}

/// Flags shared by `serve` and `dev`.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Log format (default: json when stderr is not a terminal, text otherwise).
    #[arg(long, value_enum, env = "AUTHGATE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// How a request is judged: the flags `explain` shares.
    #[command(flatten)]
    pub decision: DecisionArgs,
    /// Decision-cache capacity in entries (0 turns the cache off).
    #[arg(
        long,
        default_value_t = GateSettings::default().cache_size,
        env = "AUTHGATE_DECISION_CACHE_SIZE"
    )]
    pub decision_cache_size: usize,
    /// Longest life of a cached decision, in seconds (never past the token's exp).
    #[arg(
        long,
        default_value_t = GateSettings::default().cache_ttl,
        env = "AUTHGATE_DECISION_CACHE_TTL"
    )]
    pub decision_cache_ttl: u64,
    /// Most concurrent calls to the auth webhook (bounds its connection pool).
    #[arg(
        long,
        default_value_t = GateSettings::default().webhook_max_connections,
        env = "AUTHGATE_WEBHOOK_MAX_CONNECTIONS"
    )]
    pub webhook_max_connections: usize,
    /// JWKS refresh period when the endpoint sends no max-age, in seconds.
    #[arg(
        long,
        default_value_t = JwksSettings::default().refresh.as_secs(),
        env = "AUTHGATE_JWKS_REFRESH_SECS"
    )]
    pub jwks_refresh_secs: u64,
    /// Lower clamp of the JWKS endpoint's max-age, in seconds.
    #[arg(
        long,
        default_value_t = JwksSettings::default().min_refresh.as_secs(),
        env = "AUTHGATE_JWKS_MIN_REFRESH_SECS"
    )]
    pub jwks_min_refresh_secs: u64,
    /// Upper clamp of the JWKS endpoint's max-age, in seconds.
    #[arg(
        long,
        default_value_t = JwksSettings::default().max_refresh.as_secs(),
        env = "AUTHGATE_JWKS_MAX_REFRESH_SECS"
    )]
    pub jwks_max_refresh_secs: u64,
    /// At most one forced JWKS refresh (unknown kid) per this many seconds, per URL.
    #[arg(
        long,
        default_value_t = JwksSettings::default().forced_min_interval.as_secs(),
        env = "AUTHGATE_JWKS_FORCED_REFRESH_SECS"
    )]
    pub jwks_forced_refresh_secs: u64,
    /// How long a request waits for a forced JWKS refresh, in milliseconds.
    #[arg(
        long,
        default_value_t = millis(JwksSettings::default().forced_budget),
        env = "AUTHGATE_JWKS_FORCED_BUDGET_MS"
    )]
    pub jwks_forced_budget_ms: u64,
    /// Keys are dropped this many seconds after the last good JWKS fetch.
    #[arg(
        long,
        default_value_t = JwksSettings::default().max_stale.as_secs(),
        env = "AUTHGATE_JWKS_MAX_STALE_SECS"
    )]
    pub jwks_max_stale_secs: u64,
    /// Data-listener worker threads (default: one per CPU).
    #[arg(long, env = "AUTHGATE_WORKERS")]
    pub workers: Option<usize>,
    /// Most denial log lines per second (0: no limit). A flood of bad tokens is counted in the metrics, not written
    /// line by line; the next line written says how many were suppressed.
    #[arg(
        long,
        default_value_t = GateSettings::default().deny_log_per_sec,
        env = "AUTHGATE_DENY_LOG_PER_SEC"
    )]
    pub deny_log_per_sec: u32,
    /// Most open connections on the data listener. Each costs about 10 KiB (actix-http's read and write buffers), so
    /// the default bounds them to about 160 MiB; connections past it wait in the accept backlog.
    #[arg(long, default_value_t = 16_384, env = "AUTHGATE_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// Session variables (`x-hasura-*` names, comma-separated) copied into the gRPC answer's dynamic metadata beside
    /// the role and the config name (default none: user ids are personal data, and access logs, rate limiters and
    /// tracers read that metadata). Each value is cut to 256 bytes.
    #[arg(
        long,
        value_delimiter = ',',
        value_parser = metadata_var,
        env = "AUTHGATE_GRPC_METADATA_VARS"
    )]
    pub grpc_metadata_vars: Vec<String>,
    /// On SIGTERM, seconds during which /readyz fails before the listeners stop accepting.
    #[arg(long, default_value_t = 5, env = "AUTHGATE_SHUTDOWN_DELAY_SECS")]
    pub shutdown_delay_secs: u64,
    /// On SIGTERM, seconds given to in-flight decisions to finish.
    #[arg(long, default_value_t = 30, env = "AUTHGATE_SHUTDOWN_TIMEOUT_SECS")]
    pub shutdown_timeout_secs: u64,
}

/// `authgate serve`.
///
/// The config source decides the mode (policy §13): one `--config FILE` or `--configmap NS/NAME` is single-config
/// mode; `--config DIR`, `--config` given more than once, or `--configmap-selector` is multi-config mode, whatever
/// the number of configs found. The three source flags exclude each other (a usage error).
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("source")
        .required(true)
        .args(["config", "configmap", "configmap_selector"])
))]
pub struct ServeArgs {
    /// AuthConfig file (reloaded when its content changes), or a directory of them (`*.yaml`, `*.yml`, `*.json`,
    /// `*.hml`, each named by its file stem). Given more than once: several configs, each file named by its stem.
    #[arg(long, env = "AUTHGATE_CONFIG")]
    pub config: Vec<PathBuf>,
    /// AuthConfig from a Kubernetes ConfigMap, `NAMESPACE/NAME`, watched with kube-rs.
    #[arg(long, env = "AUTHGATE_CONFIGMAP", value_parser = parse_configmap)]
    pub configmap: Option<(String, String)>,
    /// Several AuthConfigs: every ConfigMap matching this label selector (e.g. `authgate.io/authconfig=true`) in
    /// --configmap-namespace, one config each, named by its `authgate.io/config-name` annotation, else its name.
    #[arg(
        long,
        value_name = "LABELS",
        env = "AUTHGATE_CONFIGMAP_SELECTOR",
        value_parser = parse_selector
    )]
    pub configmap_selector: Option<String>,
    /// Namespace watched by --configmap-selector (default: the pod's own namespace).
    #[arg(
        long,
        value_name = "NAMESPACE",
        env = "AUTHGATE_CONFIGMAP_NAMESPACE",
        conflicts_with_all = ["config", "configmap"]
    )]
    pub configmap_namespace: Option<String>,
    /// Multi-config mode: seconds a config removed from its source (file deleted, ConfigMap deleted or unlabelled)
    /// keeps serving its last good version before requests naming it become `unknown_config` (0: at once).
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 300,
        env = "AUTHGATE_CONFIG_REMOVAL_GRACE"
    )]
    pub config_removal_grace: u64,
    /// The ConfigMap key holding the AuthConfig.
    #[arg(
        long,
        default_value = "authconfig.yaml",
        env = "AUTHGATE_CONFIGMAP_KEY"
    )]
    pub configmap_key: String,
    /// Admission webhook listener (TLS), serving `POST /validate`.
    #[arg(long, env = "AUTHGATE_ADMISSION_LISTEN", requires_all = ["tls_cert", "tls_key"])]
    pub admission_listen: Option<String>,
    /// Certificate chain (PEM) of the admission listener; reloaded when the file changes.
    #[arg(long, env = "AUTHGATE_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,
    /// Private key (PEM) of the admission listener; reloaded when the file changes.
    #[arg(long, env = "AUTHGATE_TLS_KEY")]
    pub tls_key: Option<PathBuf>,
    /// Data listener (the proxies' auth endpoint).
    #[arg(long, default_value = "0.0.0.0:8080", env = "AUTHGATE_LISTEN")]
    pub listen: String,
    /// Admin listener (/healthz, /readyz, /metrics).
    #[arg(long, default_value = "0.0.0.0:9090", env = "AUTHGATE_ADMIN_LISTEN")]
    pub admin_listen: String,
    /// gRPC listener (Envoy ext_authz `envoy.service.auth.v3.Authorization/Check` and `grpc.health.v1.Health`),
    /// HTTP/2; `off` disables it.
    #[arg(long, default_value = "0.0.0.0:8081", env = "AUTHGATE_GRPC_LISTEN")]
    pub grpc_listen: String,
    /// Certificate chain (PEM) of the gRPC listener, which then speaks TLS only; reloaded when the file changes.
    #[arg(long, env = "AUTHGATE_GRPC_TLS_CERT", requires = "grpc_tls_key")]
    pub grpc_tls_cert: Option<PathBuf>,
    /// Private key (PEM) of the gRPC listener; reloaded when the file changes.
    #[arg(long, env = "AUTHGATE_GRPC_TLS_KEY", requires = "grpc_tls_cert")]
    pub grpc_tls_key: Option<PathBuf>,
    /// CA certificates (PEM): the gRPC listener then requires a client certificate issued by one of them; reloaded
    /// when the file changes. Needs --grpc-tls-cert.
    #[arg(long, env = "AUTHGATE_GRPC_CLIENT_CA", requires = "grpc_tls_cert")]
    pub grpc_client_ca: Option<PathBuf>,
    /// How often the config files are checked for changes, in milliseconds.
    #[arg(long, default_value_t = 250, env = "AUTHGATE_RELOAD_INTERVAL_MS")]
    pub reload_interval_ms: u64,
    /// OTLP collector endpoint for traces (wins over OTEL_EXPORTER_OTLP_ENDPOINT and its _TRACES_ variant; the
    /// protocol is OTEL_EXPORTER_OTLP_PROTOCOL's, http/protobuf by default). Unset with no OTEL endpoint: no tracing.
    #[arg(long, value_name = "URL", env = "AUTHGATE_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,
    /// Flags shared with `dev`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// `authgate dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Data listener (loopback only).
    #[arg(long, default_value = "127.0.0.1:8080", env = "AUTHGATE_LISTEN")]
    pub listen: String,
    /// Admin listener (loopback only).
    #[arg(long, default_value = "127.0.0.1:9090", env = "AUTHGATE_ADMIN_LISTEN")]
    pub admin_listen: String,
    /// gRPC ext_authz listener (loopback only; `off` disables it).
    #[arg(long, default_value = "127.0.0.1:8081", env = "AUTHGATE_GRPC_LISTEN")]
    pub grpc_listen: String,
    /// Flags shared with `serve`.
    #[command(flatten)]
    pub common: CommonArgs,
}

/// Output format of `check`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Format {
    /// One line per finding.
    Text,
    /// One JSON document (for CI pipelines).
    Json,
}

/// `authgate check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// AuthConfig files (YAML, JSON, or multi-document `.hml`), or directories of them. One file is checked as
    /// `serve --config FILE` loads it; a directory or several files as multi-config mode does, names included.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, env = "AUTHGATE_FORMAT")]
    pub format: Format,
    /// Allow `http://` JWKS URLs on non-loopback hosts.
    #[arg(long, env = "AUTHGATE_INSECURE_JWKS_HTTP")]
    pub insecure_jwks_http: bool,
}

/// `authgate explain`. Exit status: 0 allowed, 1 denied (401/403), 2 usage or config error (and a webhook config
/// with `--offline`), 3 a dependency was unavailable (the `503` of `serve`).
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// AuthConfig file, as `serve --config` takes it; a directory or several files need --config-name.
    #[arg(long, required = true)]
    pub config: Vec<PathBuf>,
    /// The config to use when --config is a directory or given more than once (its file stem, as `check` names it).
    #[arg(long, value_name = "NAME")]
    pub config_name: Option<String>,
    /// The token, or `-` to read it from standard input (an argument shows in `ps`: prefer `-` or --token-file).
    /// It is placed where the config reads it (Authorization bearer, its header or its cookie).
    #[arg(value_name = "TOKEN", conflicts_with = "token_file")]
    pub token: Option<String>,
    /// Read the token from this file (surrounding whitespace is ignored).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Keys for JWKS-URL modes: a JWKS file (offline) or an http(s) URL, instead of the config's own URL.
    #[arg(long, value_name = "FILE|URL")]
    pub jwks: Option<String>,
    /// Judge exp / nbf / iat at this instant: RFC 3339 (`2026-01-31T12:00:00Z`) or Unix seconds (default: now).
    #[arg(long, value_name = "TIME", value_parser = crate::explain::input::parse_instant)]
    pub at: Option<u64>,
    /// Request this role (sent as the `x-hasura-role` header).
    #[arg(long, value_name = "ROLE")]
    pub role: Option<String>,
    /// A request header as the proxy would send it, `Name: value` (repeatable): cookies, the auth-mode header, a
    /// token somewhere else than the config reads it.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = crate::explain::input::parse_header_line)]
    pub headers: Vec<(String, String)>,
    /// Never use the network: a webhook is not called (that step is not judged, exit 2) and a JWKS URL is not
    /// fetched (give --jwks FILE).
    #[arg(long)]
    pub offline: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// How the request is judged, as `serve` judges it.
    #[command(flatten)]
    pub decision: DecisionArgs,
}

/// `NAMESPACE/NAME`.
fn parse_configmap(s: &str) -> Result<(String, String), String> {
    match s.split_once('/') {
        Some((ns, name)) if !ns.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok((ns.to_owned(), name.to_owned()))
        }
        _ => Err(format!("expected NAMESPACE/NAME, got {s:?}")),
    }
}

/// A label selector: not empty, since an empty one would take every ConfigMap of the namespace for an AuthConfig.
/// Its syntax is the API server's to judge (a refused selector is logged by the watch, which retries).
fn parse_selector(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err(
            "a label selector must not be empty (it would select every ConfigMap in the namespace)"
                .into(),
        );
    }
    Ok(s.to_owned())
}

/// A session variable named for the gRPC dynamic metadata: an `x-hasura-*` header name, kept lower-case.
fn metadata_var(s: &str) -> Result<String, String> {
    let name = s.trim().to_ascii_lowercase();
    let valid = name.len() > "x-hasura-".len()
        && name.starts_with("x-hasura-")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if valid {
        Ok(name)
    } else {
        Err(format!(
            "expected a session variable name such as x-hasura-user-id, got {s:?}"
        ))
    }
}

/// A header name as it is usually written (`x-hasura-auth-mode` → `X-Hasura-Auth-Mode`), for `--help`: the gate
/// keeps the name lower-cased, since it matches headers case-insensitively.
fn header_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut word_start = true;
    for c in name.chars() {
        out.push(if word_start {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        word_start = c == '-';
    }
    out
}

/// A duration in whole milliseconds, as the `*-ms` flags take it.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A number of seconds that can become a `Duration` once clamped: any number but NaN, which no clamp turns into
/// one (`Duration::from_secs_f64` would panic on it).
fn not_nan(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_nan() => Err("not a number".into()),
        Ok(v) => Ok(v),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
