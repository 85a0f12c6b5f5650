//! The keys `explain` hands the gate in place of the JWKS registry: for every JWKS URL of the config, a key set from
//! `--jwks FILE` (parsed as a fetched body is), from `--jwks URL` or the config's own URL (a real [`JwksSource`],
//! fetched once before the decision), or none under `--offline`; and the `key` step, which asks the same sources.

use std::collections::HashMap;
use std::sync::Arc;

use url::Url;

use super::Mark;
use super::Step;
use super::narrate::{Ctx, alg_name, failed_for, shown, step};
use crate::authn::reason::Reason;
use crate::clock::Clock;
use crate::config::compiled::{JwtKeySource, JwtMode};
use crate::jwks::{FixedKey, VerifyingKey};
use crate::jwks::{
    JwkEntry, JwksClient, JwksSettings, JwksSource, KeyFuture, KeyLookup, KeyProvider, KeySource,
    parse_jwks,
};
use crate::observe::Ignore;
use serde_json::{Value, json};

/// Where `--jwks` points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksOverride {
    File(std::path::PathBuf),
    Url(Url),
}

impl JwksOverride {
    /// An `http(s)://` URL, else a file path.
    pub fn of(arg: &str) -> Self {
        match Url::parse(arg) {
            Ok(u) if matches!(u.scheme(), "http" | "https") => Self::Url(u),
            _ => Self::File(arg.into()),
        }
    }
}

/// A key set read from a file: fixed for the run.
struct FileKeys {
    keys: HashMap<String, JwkEntry>,
}

impl KeySource for FileKeys {
    fn key<'a>(&'a self, kid: Option<&'a str>) -> KeyFuture<'a> {
        let found = match kid.and_then(|k| self.keys.get(k)) {
            Some(e) => KeyLookup::Found(e.key.clone(), 1),
            None => KeyLookup::UnknownKid,
        };
        Box::pin(std::future::ready(found))
    }

    fn epoch(&self) -> u64 {
        1
    }

    fn is_ready(&self) -> bool {
        true
    }
}

/// No key set (`--offline` without `--jwks FILE`).
struct NoKeys;

impl KeySource for NoKeys {
    fn key<'a>(&'a self, _kid: Option<&'a str>) -> KeyFuture<'a> {
        Box::pin(std::future::ready(KeyLookup::Unavailable))
    }

    fn epoch(&self) -> u64 {
        0
    }

    fn is_ready(&self) -> bool {
        false
    }
}

/// One config URL's keys and how they were had.
pub struct UrlKeys {
    pub source: Arc<dyn KeySource>,
    /// Where they came from, for display (`JWKS file keys.json`, `JWKS https://…`).
    pub origin: String,
    /// The `kid`s held after the fetch (sorted), or why none are.
    pub held: Result<Vec<String>, String>,
    /// The live source, whose held set is read again after the decision (a forced refresh may have changed it).
    live: Option<Arc<JwksSource>>,
}

impl UrlKeys {
    /// The `kid`s held now.
    pub fn kids_now(&self) -> Result<Vec<String>, String> {
        match &self.live {
            Some(src) => match src.held() {
                Some(set) => Ok(sorted(set.keys.keys())),
                None => self.held.clone(),
            },
            None => self.held.clone(),
        }
    }
}

fn sorted<'a>(kids: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut v: Vec<String> = kids.cloned().collect();
    v.sort();
    v
}

/// The key sources of every JWKS URL of one config.
pub struct ExplainKeys {
    pub by_url: HashMap<Url, UrlKeys>,
}

impl KeyProvider for ExplainKeys {
    fn source(&self, url: &Url) -> Arc<dyn KeySource> {
        self.by_url.get(url).map_or_else(
            || Arc::new(NoKeys) as Arc<dyn KeySource>,
            |k| k.source.clone(),
        )
    }

    fn retain(&self, _urls: &[Url]) {}
}

/// Why `--jwks FILE` could not be used.
#[derive(Debug, thiserror::Error)]
#[error("--jwks {path}: {why}")]
pub struct KeysError {
    path: String,
    why: String,
}

/// Build the keys of `urls`. Must run inside a tokio runtime (a live source starts its refresher).
pub async fn build(
    urls: &[Url],
    over: Option<&JwksOverride>,
    offline: bool,
    settings: &JwksSettings,
    clock: Arc<dyn Clock>,
) -> Result<ExplainKeys, KeysError> {
    let mut by_url = HashMap::new();
    let file = match over {
        Some(JwksOverride::File(p)) => {
            let fail = |why: String| KeysError {
                path: p.display().to_string(),
                why,
            };
            let body = std::fs::read(p).map_err(|e| fail(e.to_string()))?;
            if body.len() > settings.max_body {
                return Err(fail(format!("larger than {} bytes", settings.max_body)));
            }
            let keys = parse_jwks(&body, settings.max_keys).map_err(|e| fail(e.to_string()))?;
            Some((p.display().to_string(), keys))
        }
        _ => None,
    };
    for url in urls {
        let keys = match (&file, over) {
            (Some((name, keys)), _) => UrlKeys {
                held: Ok(sorted(keys.keys())),
                source: Arc::new(FileKeys { keys: keys.clone() }),
                origin: format!("JWKS file {name} (in place of {})", shown_url(url)),
                live: None,
            },
            (None, _) if offline => UrlKeys {
                source: Arc::new(NoKeys),
                origin: format!("JWKS {} (not fetched: --offline)", shown_url(url)),
                held: Err("not fetched: --offline (give --jwks FILE)".into()),
                live: None,
            },
            (None, Some(JwksOverride::Url(u))) => live(u, settings, &clock, Some(url)).await,
            (None, _) => live(url, settings, &clock, None).await,
        };
        by_url.insert(url.clone(), keys);
    }
    Ok(ExplainKeys { by_url })
}

async fn live(
    url: &Url,
    settings: &JwksSettings,
    clock: &Arc<dyn Clock>,
    instead_of: Option<&Url>,
) -> UrlKeys {
    let origin = match instead_of {
        Some(o) => format!("JWKS {} (in place of {})", shown_url(url), shown_url(o)),
        None => format!("JWKS {}", shown_url(url)),
    };
    let client = match JwksClient::new(settings) {
        Ok(c) => c,
        Err(e) => {
            return UrlKeys {
                source: Arc::new(NoKeys),
                origin,
                held: Err(e.to_string()),
                live: None,
            };
        }
    };
    let src = JwksSource::start(
        url.clone(),
        client,
        settings.clone(),
        Arc::new(Ignore),
        clock.clone(),
    );
    let held = match src.fetch_and_store().await {
        Ok(_) => src.held().map_or_else(
            || Err("the set fetched is not usable".to_owned()),
            |s| Ok(sorted(s.keys.keys())),
        ),
        Err(e) => Err(format!("fetch failed: {e}")),
    };
    UrlKeys {
        source: src.clone(),
        origin,
        held,
        live: Some(src),
    }
}

/// A URL without its query, fragment or credentials: what the output may show of a config's URL.
pub fn shown_url(u: &Url) -> String {
    format!("{}{}", u.origin().ascii_serialization(), u.path())
}

/// The key step: the key the gate's source gives for `kid`.
pub(super) async fn key_step(
    ctx: &Ctx<'_>,
    mode: &JwtMode,
    kid: Option<&str>,
    steps: &mut Vec<Step>,
) -> Option<std::sync::Arc<VerifyingKey>> {
    let (lookup, origin, held) = match &mode.key {
        JwtKeySource::Fixed { algorithm, key } => {
            let fixed = FixedKey::new(*algorithm, key.clone());
            (
                fixed.key(kid).await,
                format!(
                    "the config's fixed {} key (not shown)",
                    alg_name(*algorithm)
                ),
                None,
            )
        }
        JwtKeySource::JwksUrl(u) => match ctx.keys.by_url.get(u) {
            Some(k) => (
                k.source.key(kid).await,
                k.origin.clone(),
                Some(k.kids_now()),
            ),
            None => (
                KeyLookup::Unavailable,
                format!("JWKS {}", shown_url(u)),
                None,
            ),
        },
    };
    let held_json = match &held {
        Some(Ok(kids)) => json!(kids),
        Some(Err(e)) => json!(e),
        None => Value::Null,
    };
    let details = json!({"source": origin, "kid": kid, "held": held_json});
    match lookup {
        KeyLookup::Found(k, _) => {
            let algs: Vec<&str> = k.algs.iter().map(|a| alg_name(*a)).collect();
            steps.push(step(
                "key",
                Mark::Pass,
                format!(
                    "kid {} from {origin}, accepts {}",
                    shown(kid),
                    algs.join(", ")
                ),
                details,
            ));
            Some(k)
        }
        KeyLookup::UnknownKid => {
            let kids = match &held {
                Some(Ok(k)) => k.join(", "),
                _ => String::new(),
            };
            steps.push(failed_for(
                "key",
                Reason::UnknownKid,
                format!("kid {} is not in {origin} (it holds: {kids})", shown(kid)),
                details,
            ));
            None
        }
        KeyLookup::Unavailable => {
            let why = match &held {
                Some(Err(e)) => e.clone(),
                _ => "no key set is held".into(),
            };
            let mut s = failed_for(
                "key",
                Reason::JwksUnavailable,
                format!("no keys from {origin}: {why}"),
                details,
            );
            if ctx.offline {
                s.result = Mark::NotJudged;
            }
            steps.push(s);
            None
        }
    }
}
