//! What `explain` judges: the config (one file, or one named config of a directory or several files, named as
//! `serve` and `check` name them), and the request the proxy would send: the `--header` lines, the requested role,
//! and the token placed where the selected mode reads it.

use std::path::PathBuf;
use std::sync::Arc;

use crate::authn::request::{AuthRequest, visible_ascii};
use crate::config::compiled::{Mode, TokenLocation};
use crate::config::file::read_config_file;
use crate::config::name::reported;
use crate::config::{CompiledConfig, LoadOptions, load_str_with_env};
use crate::reload::files::{Root, scan_all};
use crate::reload::{Found, assign_sources};

/// A usage or config error: exit status 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The config chosen, with the name it is shown under.
pub struct Chosen {
    pub config: Arc<CompiledConfig>,
    /// The file (single-config) or `name (file)` (multi-config).
    pub label: String,
    pub warnings: Vec<String>,
}

/// Load the config `paths` and `name` designate, exactly as `serve` would load it (`env` resolves `valueFromEnv`).
pub fn choose_config(
    paths: &[PathBuf],
    name: Option<&str>,
    opts: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Chosen, UsageError> {
    let load = |text: &str, label: String| {
        load_str_with_env(text, opts, env)
            .map(|l| Chosen {
                config: l.config,
                label: label.clone(),
                warnings: l.warnings,
            })
            .map_err(|e| UsageError(format!("{label}: the config does not load:\n{e}")))
    };
    if let [one] = paths
        && !one.is_dir()
    {
        if name.is_some() {
            return Err(UsageError(
                "--config-name chooses among several configs: give a directory or several --config files".into(),
            ));
        }
        let label = one.display().to_string();
        let text = read_config_file(one).map_err(|e| UsageError(e.to_string()))?;
        return load(&text, label);
    }
    let roots: Vec<Root> = paths.iter().map(|p| Root::of(p)).collect();
    let sources = scan_all(&roots).map_err(UsageError)?;
    let verdicts = assign_sources(&sources);
    let names: Vec<String> = sources.iter().map(|s| reported(&s.name)).collect();
    let Some(name) = name else {
        return Err(UsageError(format!(
            "several configs ({}): choose one with --config-name",
            names.join(", ")
        )));
    };
    let Some(i) = names.iter().position(|n| n == name) else {
        return Err(UsageError(format!(
            "no config named {name:?} (found: {})",
            names.join(", ")
        )));
    };
    let s = &sources[i];
    if let Some(Err(e)) = verdicts.get(name) {
        return Err(UsageError(format!("{}: {e}", s.origin)));
    }
    match &s.found {
        Found::Text(t) => load(t, format!("{name} ({})", s.origin)),
        Found::Failed(e) => Err(UsageError(format!("{}: {e}", s.origin))),
    }
}

/// The request headers `explain` judges: lower-case names, values as given.
#[derive(Debug, Clone, Default)]
pub struct Headers(pub Vec<(String, Vec<u8>)>);

impl Headers {
    /// The `--header` lines and `--role`.
    pub fn from_flags(lines: &[(String, String)], role: Option<&str>) -> Self {
        let mut h: Vec<(String, Vec<u8>)> = lines
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.as_bytes().to_vec()))
            .collect();
        if let Some(r) = role {
            h.retain(|(n, _)| n != "x-hasura-role");
            h.push(("x-hasura-role".into(), r.as_bytes().to_vec()));
        }
        Self(h)
    }

    /// The gate's view of these headers.
    pub fn pairs(&self) -> Vec<(&str, &[u8])> {
        self.0
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_slice()))
            .collect()
    }

    /// Put `token` where `loc` reads it: it replaces any value given for that header with `--header`; a cookie is
    /// added in a `Cookie` header of its own, before the others.
    pub fn place_token(&mut self, token: &str, loc: &TokenLocation) {
        match loc {
            TokenLocation::Bearer => {
                self.0.retain(|(n, _)| n != "authorization");
                self.0.push((
                    "authorization".into(),
                    format!("Bearer {token}").into_bytes(),
                ));
            }
            TokenLocation::Header(name) => {
                let name = name.to_ascii_lowercase();
                self.0.retain(|(n, _)| *n != name);
                self.0.push((name, token.as_bytes().to_vec()));
            }
            TokenLocation::Cookie(name) => {
                self.0
                    .insert(0, ("cookie".into(), format!("{name}={token}").into_bytes()));
            }
        }
    }
}

/// The request as the gate takes it.
pub fn request<'a>(pairs: &'a [(&'a str, &'a [u8])]) -> AuthRequest<'a> {
    AuthRequest {
        method: "GET",
        uri: "/",
        headers: pairs,
    }
}

/// Which mode of `config` the request selects, as the gate selects it: `Err` with the gate's message when the
/// auth-mode header is not visible ASCII; also the identifier used (`None`: the default mode).
pub fn selected_mode<'c>(
    config: &'c CompiledConfig,
    req: &AuthRequest<'_>,
    mode_header: &str,
) -> Result<(&'c Mode, Option<&'c str>), Option<String>> {
    let Some(alts) = &config.alternative_modes else {
        return Ok((&config.mode, None));
    };
    let Some(raw) = req.first(mode_header) else {
        return Ok((&config.mode, None));
    };
    let value = visible_ascii(raw).ok_or(None)?;
    Ok(alts
        .iter()
        .find(|(id, _)| id == value)
        .map_or((&config.mode, None), |(id, m)| (m, Some(id.as_str()))))
}

/// The most bytes read from standard input or a token file (well above any `--max-token-bytes` in use).
const MAX_TOKEN_INPUT: u64 = 1024 * 1024;

/// At most [`MAX_TOKEN_INPUT`] bytes of `r`: a token is kilobytes, and a mistaken pipe (a log, a binary) must not
/// be read whole.
fn read_bounded(r: impl std::io::Read) -> std::io::Result<String> {
    let mut s = String::new();
    std::io::Read::read_to_string(&mut r.take(MAX_TOKEN_INPUT), &mut s)?;
    Ok(s)
}

/// The token: the argument (`-` reads standard input) or the file, trimmed. `None` when none is given.
pub fn read_token(
    arg: Option<&str>,
    file: Option<&std::path::Path>,
) -> Result<Option<String>, UsageError> {
    let text = match (arg, file) {
        (Some("-"), _) => read_bounded(std::io::stdin().lock())
            .map_err(|e| UsageError(format!("cannot read the token from standard input: {e}")))?,
        (Some(t), _) => t.to_owned(),
        (None, Some(p)) => std::fs::File::open(p)
            .and_then(read_bounded)
            .map_err(|e| UsageError(format!("--token-file {}: {e}", p.display())))?,
        (None, None) => return Ok(None),
    };
    let t = text.trim();
    if t.is_empty() {
        return Err(UsageError("the token is empty".into()));
    }
    Ok(Some(t.to_owned()))
}

/// An instant: Unix seconds, or an RFC 3339 date-time (any offset).
pub fn parse_instant(s: &str) -> Result<u64, String> {
    let s = s.trim();
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    super::time::parse_rfc3339(s).ok_or_else(|| {
        format!("expected Unix seconds or an RFC 3339 time such as 2026-01-31T12:00:00Z, got {s:?}")
    })
}

/// `Name: value`, as curl's `-H` takes it.
pub fn parse_header_line(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((n, v))
            if !n.trim().is_empty() && n.trim().bytes().all(crate::contracts::answer::is_tchar) =>
        {
            Ok((
                n.trim().to_ascii_lowercase(),
                v.trim_matches([' ', '\t']).to_owned(),
            ))
        }
        _ => Err(format!("expected `Name: value`, got {s:?}")),
    }
}
