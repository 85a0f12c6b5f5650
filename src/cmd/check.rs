//! `authgate check`: load AuthConfig files exactly as the server does and report each one's errors and warnings,
//! as text lines or one JSON document.

use std::io::Write;

use serde_json::json;

use crate::cli::{CheckArgs, Format};
use crate::config::LoadOptions;
use crate::config::file::load_file;

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
