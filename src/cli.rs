//! Command line: subcommands and flags. Every flag can also come from an `AUTHGATE_*` environment variable.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;

use crate::config::load::MAX_CONFIG_BYTES;
use crate::config::{LoadError, LoadErrors, LoadOptions, Loaded, load_str};

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

/// Read a config file, refusing oversized ones without reading them whole.
pub fn read_config_file(path: &Path) -> Result<String, LoadErrors> {
    let fail = |msg: String| LoadErrors(vec![LoadError { path: String::new(), location: None, message: msg }]);
    let file = std::fs::File::open(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    let mut buf = Vec::new();
    file.take(MAX_CONFIG_BYTES as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    if buf.len() > MAX_CONFIG_BYTES {
        return Err(fail(format!("{} is larger than {MAX_CONFIG_BYTES} bytes", path.display())));
    }
    String::from_utf8(buf).map_err(|e| fail(format!("{} is not UTF-8: {e}", path.display())))
}

/// Load one file exactly as `serve` does.
pub fn load_file(path: &Path, opts: &LoadOptions) -> Result<Loaded, LoadErrors> {
    load_str(&read_config_file(path)?, opts)
}

/// Run `check`; returns the exit code (0 all loaded, 1 otherwise).
pub fn check(args: &CheckArgs, out: &mut dyn Write) -> std::io::Result<i32> {
    let opts = LoadOptions { insecure_jwks_http: args.insecure_jwks_http };
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
        writeln!(out, "{}", serde_json::to_string_pretty(&doc).unwrap_or_default())?;
    }
    Ok(if all_ok { 0 } else { 1 })
}
