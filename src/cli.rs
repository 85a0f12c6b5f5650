//! Command line: subcommands and flags. Every flag can also come from an `AUTHGATE_*` environment variable.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::config::LoadOptions;
use crate::config::file::load_file;

/// authgate: forward-auth for ingress proxies, driven by a Hasura DDN AuthConfig.
#[derive(Debug, Parser)]
#[command(name = "authgate", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
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
}

/// Log format.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON lines (the default when stderr is not a terminal).
    Json,
    /// Human-readable.
    Text,
}

/// Flags shared by `serve` and `dev`.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Log format (default: json when stderr is not a terminal, text otherwise).
    #[arg(long, value_enum, env = "AUTHGATE_LOG_FORMAT")]
    pub log_format: Option<LogFormat>,
    /// Request header that selects a v4 alternative mode.
    #[arg(
        long,
        default_value = "X-Hasura-Auth-Mode",
        env = "AUTHGATE_AUTH_MODE_HEADER"
    )]
    pub auth_mode_header: String,
    /// Longest token accepted, in bytes.
    #[arg(long, default_value_t = 16384, env = "AUTHGATE_MAX_TOKEN_BYTES")]
    pub max_token_bytes: usize,
    /// Decision-cache capacity in entries (0 turns the cache off).
    #[arg(long, default_value_t = 100_000, env = "AUTHGATE_DECISION_CACHE_SIZE")]
    pub decision_cache_size: usize,
    /// Longest life of a cached decision, in seconds (never past the token's exp).
    #[arg(long, default_value_t = 60, env = "AUTHGATE_DECISION_CACHE_TTL")]
    pub decision_cache_ttl: u64,
    /// Timeout of one webhook call, in seconds.
    #[arg(long, default_value_t = 5.0, env = "AUTHGATE_WEBHOOK_TIMEOUT")]
    pub webhook_timeout: f64,
    /// Most concurrent calls to the auth webhook (bounds its connection pool).
    #[arg(long, default_value_t = 256, env = "AUTHGATE_WEBHOOK_MAX_CONNECTIONS")]
    pub webhook_max_connections: usize,
    /// Allow http:// JWKS URLs on non-loopback hosts.
    #[arg(long, env = "AUTHGATE_INSECURE_JWKS_HTTP")]
    pub insecure_jwks_http: bool,
    /// JWKS refresh period when the endpoint sends no max-age, in seconds.
    #[arg(long, default_value_t = 300, env = "AUTHGATE_JWKS_REFRESH_SECS")]
    pub jwks_refresh_secs: u64,
    /// Lower clamp of the JWKS endpoint's max-age, in seconds.
    #[arg(long, default_value_t = 60, env = "AUTHGATE_JWKS_MIN_REFRESH_SECS")]
    pub jwks_min_refresh_secs: u64,
    /// Upper clamp of the JWKS endpoint's max-age, in seconds.
    #[arg(long, default_value_t = 3600, env = "AUTHGATE_JWKS_MAX_REFRESH_SECS")]
    pub jwks_max_refresh_secs: u64,
    /// At most one forced JWKS refresh (unknown kid) per this many seconds, per URL.
    #[arg(long, default_value_t = 30, env = "AUTHGATE_JWKS_FORCED_REFRESH_SECS")]
    pub jwks_forced_refresh_secs: u64,
    /// How long a request waits for a forced JWKS refresh, in milliseconds.
    #[arg(long, default_value_t = 150, env = "AUTHGATE_JWKS_FORCED_BUDGET_MS")]
    pub jwks_forced_budget_ms: u64,
    /// Keys are dropped this many seconds after the last good JWKS fetch.
    #[arg(long, default_value_t = 86_400, env = "AUTHGATE_JWKS_MAX_STALE_SECS")]
    pub jwks_max_stale_secs: u64,
    /// Data-listener worker threads (default: one per CPU).
    #[arg(long, env = "AUTHGATE_WORKERS")]
    pub workers: Option<usize>,
    /// Most denial log lines per second (0: no limit). A flood of bad tokens is counted in the metrics, not written
    /// line by line; the next line written says how many were suppressed.
    #[arg(long, default_value_t = 100, env = "AUTHGATE_DENY_LOG_PER_SEC")]
    pub deny_log_per_sec: u32,
    /// Most open connections on the data listener. Each costs about 10 KiB (actix-http's read and write buffers), so
    /// the default bounds them to about 160 MiB; connections past it wait in the accept backlog.
    #[arg(long, default_value_t = 16_384, env = "AUTHGATE_MAX_CONNECTIONS")]
    pub max_connections: usize,
    /// On SIGTERM, seconds during which /readyz fails before the listeners stop accepting.
    #[arg(long, default_value_t = 5, env = "AUTHGATE_SHUTDOWN_DELAY_SECS")]
    pub shutdown_delay_secs: u64,
    /// On SIGTERM, seconds given to in-flight decisions to finish.
    #[arg(long, default_value_t = 30, env = "AUTHGATE_SHUTDOWN_TIMEOUT_SECS")]
    pub shutdown_timeout_secs: u64,
}

/// `authgate serve`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["config", "configmap"])))]
pub struct ServeArgs {
    /// AuthConfig file (reloaded when its content changes).
    #[arg(long, env = "AUTHGATE_CONFIG")]
    pub config: Option<PathBuf>,
    /// AuthConfig from a Kubernetes ConfigMap, `NAMESPACE/NAME`, watched with kube-rs.
    #[arg(long, env = "AUTHGATE_CONFIGMAP", value_parser = parse_configmap)]
    pub configmap: Option<(String, String)>,
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
    /// How often the config file is checked for changes, in milliseconds.
    #[arg(long, default_value_t = 250, env = "AUTHGATE_RELOAD_INTERVAL_MS")]
    pub reload_interval_ms: u64,
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
    /// Flags shared with `serve`.
    #[command(flatten)]
    pub common: CommonArgs,
}

impl CommonArgs {
    /// The gate settings these flags describe.
    pub fn gate_settings(&self) -> crate::gate::GateSettings {
        use std::time::Duration;
        crate::gate::GateSettings {
            max_token_bytes: self.max_token_bytes,
            auth_mode_header: self.auth_mode_header.to_ascii_lowercase(),
            cache_size: self.decision_cache_size,
            cache_ttl: self.decision_cache_ttl,
            deny_cache_ttl: 10,
            jwks: crate::jwks::JwksSettings {
                refresh: Duration::from_secs(self.jwks_refresh_secs.max(1)),
                min_refresh: Duration::from_secs(self.jwks_min_refresh_secs.max(1)),
                max_refresh: Duration::from_secs(
                    self.jwks_max_refresh_secs
                        .max(self.jwks_min_refresh_secs)
                        .max(1),
                ),
                forced_min_interval: Duration::from_secs(self.jwks_forced_refresh_secs),
                forced_budget: Duration::from_millis(self.jwks_forced_budget_ms),
                max_stale: Duration::from_secs(self.jwks_max_stale_secs),
                ..crate::jwks::JwksSettings::default()
            },
            webhook_timeout: Duration::from_secs_f64(self.webhook_timeout.clamp(0.001, 3600.0)),
            webhook_max_connections: self.webhook_max_connections.max(1),
            deny_log_per_sec: self.deny_log_per_sec,
        }
    }

    /// Loader options these flags describe.
    pub fn load_options(&self) -> LoadOptions {
        LoadOptions {
            insecure_jwks_http: self.insecure_jwks_http,
        }
    }
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
    /// AuthConfig files (YAML, JSON, or multi-document `.hml`).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text, env = "AUTHGATE_FORMAT")]
    pub format: Format,
    /// Allow `http://` JWKS URLs on non-loopback hosts.
    #[arg(long, env = "AUTHGATE_INSECURE_JWKS_HTTP")]
    pub insecure_jwks_http: bool,
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

/// Run `check`; returns the exit code (0 all loaded, 1 otherwise).
pub fn check(args: &CheckArgs, out: &mut dyn Write) -> std::io::Result<i32> {
    let opts = LoadOptions {
        insecure_jwks_http: args.insecure_jwks_http,
    };
    let mut all_ok = true;
    let mut reports = Vec::new();
    for f in &args.files {
        let name = f.display().to_string();
        let res = load_file(f, &opts);
        all_ok &= res.is_ok();
        match args.format {
            Format::Text => match &res {
                Ok(l) => {
                    for w in &l.warnings {
                        writeln!(out, "{name}: warning: {w}")?;
                    }
                    writeln!(out, "{name}: ok")?;
                }
                Err(errs) => {
                    for e in &errs.0 {
                        for line in e.to_string().lines() {
                            writeln!(out, "{name}: error: {line}")?;
                        }
                    }
                }
            },
            Format::Json => reports.push(match &res {
                Ok(l) => json!({"file": name, "ok": true, "errors": [], "warnings": l.warnings}),
                Err(errs) => json!({
                    "file": name,
                    "ok": false,
                    "errors": errs.0.iter().map(|e| json!({
                        "path": e.path,
                        "line": e.location.map(|l| l.0),
                        "column": e.location.map(|l| l.1),
                        "message": e.message,
                    })).collect::<Vec<_>>(),
                    "warnings": [],
                }),
            }),
        }
    }
    if args.format == Format::Json {
        let doc = json!({"ok": all_ok, "files": reports});
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?
        )?;
    }
    Ok(if all_ok { 0 } else { 1 })
}

/// `authgate schema`: write the rendered schema to `out` and return 0, or, when it could not be rendered or
/// written, say why on `err` and return 1.
pub fn schema(
    rendered: Result<String, serde_json::Error>,
    out: &mut impl Write,
    err: &mut impl Write,
) -> i32 {
    let result = rendered
        .map_err(|e| format!("cannot render the schema: {e}"))
        .and_then(|text| {
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|e| format!("cannot write output: {e}"))
        });
    match result {
        Ok(()) => 0,
        Err(message) => {
            // Nothing is left to report to if stderr itself fails; the exit code still says it.
            let _ = writeln!(err, "authgate: {message}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schema_that_cannot_be_rendered_is_an_error_exit() {
        let err = serde_json::from_str::<serde_json::Value>("not json")
            .expect_err("not JSON does not parse");
        let (mut out, mut errout) = (Vec::new(), Vec::new());
        assert_eq!(schema(Err(err), &mut out, &mut errout), 1);
        assert!(out.is_empty());
        let message = String::from_utf8(errout).expect("UTF-8");
        assert!(
            message.starts_with("authgate: cannot render the schema"),
            "{message}"
        );

        let (mut out, mut errout) = (Vec::new(), Vec::new());
        assert_eq!(schema(Ok("{}\n".into()), &mut out, &mut errout), 0);
        assert_eq!(out, b"{}\n");
        assert!(errout.is_empty());
    }
}
