//! `authgate check`: load AuthConfig files exactly as the server does and report each one's errors and warnings,
//! as text lines or one JSON document.
//!
//! The mode follows the arguments as `serve`'s follows its flags: one file is checked alone, as single-config mode
//! loads it; a directory or several files are checked as multi-config mode takes them, so each file is also judged
//! as a config name (a DNS label from its stem, claimed once, within the 256-config limit).

use std::io::Write;
use std::path::PathBuf;

use serde_json::json;

use crate::cli::{CheckArgs, Format};
use crate::config::file::load_file;
use crate::config::name::reported;
use crate::config::{LoadError, LoadOptions, load_str};
use crate::reload::files::{EXTENSIONS, Root, scan_all};
use crate::reload::{Found, Source, assign_sources};

/// What `check` says about one file (or about a directory it could not take).
struct Report {
    file: String,
    /// The config name, in multi-config mode.
    config: Option<String>,
    warnings: Vec<String>,
    errors: Vec<LoadError>,
}

fn plain(message: String) -> LoadError {
    LoadError {
        path: String::new(),
        location: None,
        message,
    }
}

/// Run `check`; returns the exit code (0 all loaded, 1 otherwise).
pub fn check(args: &CheckArgs, out: &mut dyn Write) -> std::io::Result<i32> {
    let opts = LoadOptions {
        insecure_jwks_http: args.insecure_jwks_http,
    };
    let reports = match args.files.as_slice() {
        [one] if !one.is_dir() => vec![single(one, &opts)],
        many => multi(many, &opts),
    };
    let all_ok = reports.iter().all(|r| r.errors.is_empty());
    match args.format {
        Format::Text => {
            for r in &reports {
                let head = match &r.config {
                    Some(name) => format!("{} (config {name})", r.file),
                    None => r.file.clone(),
                };
                for w in &r.warnings {
                    writeln!(out, "{head}: warning: {w}")?;
                }
                for e in &r.errors {
                    for line in e.to_string().lines() {
                        writeln!(out, "{head}: error: {line}")?;
                    }
                }
                if r.errors.is_empty() {
                    writeln!(out, "{head}: ok")?;
                }
            }
        }
        Format::Json => {
            let files: Vec<_> = reports
                .iter()
                .map(|r| {
                    let mut v = json!({
                        "file": r.file,
                        "ok": r.errors.is_empty(),
                        "errors": r.errors.iter().map(|e| json!({
                            "path": e.path,
                            "line": e.location.map(|l| l.0),
                            "column": e.location.map(|l| l.1),
                            "message": e.message,
                        })).collect::<Vec<_>>(),
                        // As before: a file that fails lists only its errors.
                        "warnings": if r.errors.is_empty() { r.warnings.clone() } else { Vec::new() },
                    });
                    if let Some(name) = &r.config {
                        v["config"] = json!(name);
                    }
                    v
                })
                .collect();
            let doc = json!({"ok": all_ok, "files": files});
            writeln!(
                out,
                "{}",
                serde_json::to_string_pretty(&doc).map_err(std::io::Error::other)?
            )?;
        }
    }
    Ok(if all_ok { 0 } else { 1 })
}

fn single(file: &std::path::Path, opts: &LoadOptions) -> Report {
    let (warnings, errors) = match load_file(file, opts) {
        Ok(l) => (l.warnings, Vec::new()),
        Err(e) => (Vec::new(), e.0),
    };
    Report {
        file: file.display().to_string(),
        config: None,
        warnings,
        errors,
    }
}

fn multi(paths: &[PathBuf], opts: &LoadOptions) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut sources: Vec<Source> = Vec::new();
    for p in paths {
        let root = Root::of(p);
        match scan_all(std::slice::from_ref(&root)) {
            Ok(found) if found.is_empty() => reports.push(Report {
                file: p.display().to_string(),
                config: None,
                warnings: Vec::new(),
                errors: vec![plain(format!(
                    "no config files ({}) in this directory",
                    EXTENSIONS.map(|e| format!("*.{e}")).join(", ")
                ))],
            }),
            Ok(found) => sources.extend(found),
            Err(e) => reports.push(Report {
                file: p.display().to_string(),
                config: None,
                warnings: Vec::new(),
                errors: vec![plain(e)],
            }),
        }
    }
    let verdicts = assign_sources(&sources);
    for s in sources {
        let name = reported(&s.name);
        let mut errors = Vec::new();
        if let Some(Err(e)) = verdicts.get(&name) {
            errors.push(plain(e.clone()));
        }
        // The content is judged too, so that one run shows every problem of the file.
        let mut warnings = Vec::new();
        match &s.found {
            Found::Text(t) => match load_str(t, opts) {
                Ok(l) => warnings = l.warnings,
                Err(e) => errors.extend(e.0),
            },
            Found::Failed(e) => errors.push(plain(e.clone())),
        }
        reports.push(Report {
            file: s.origin,
            config: Some(name),
            warnings,
            errors,
        });
    }
    reports
}
