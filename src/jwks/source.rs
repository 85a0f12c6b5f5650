//! JWKS key sets: fetched with reqwest over rustls, parsed and filtered once per fetch, held in an `ArcSwap`,
//! refreshed in the background (`Cache-Control: max-age` clamped), kept on error up to a maximum staleness. A
//! request fetches only when its `kid` is unknown: one forced refresh (single-flight, at most one per
//! `forced_min_interval`), waited for at most `forced_budget`; every other request answers from the held set.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;
use url::Url;

use crate::clock::unix_now;
use crate::observe::{InternalError, Observer, Outcome};

/// Tunables of the JWKS subsystem.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    /// Refresh period when the endpoint sends no `max-age`.
    pub refresh: Duration,
    /// Lower clamp of `max-age`.
    pub min_refresh: Duration,
    /// Upper clamp of `max-age`.
    pub max_refresh: Duration,
    /// At most one forced refresh per this interval.
    pub forced_min_interval: Duration,
    /// How long a request waits for a forced refresh.
    pub forced_budget: Duration,
    /// Keys older than this (since the last good fetch) are no longer used.
    pub max_stale: Duration,
    /// Connect timeout of a fetch.
    pub connect_timeout: Duration,
    /// Total timeout of a fetch.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_body: usize,
    /// Most keys accepted in one set.
    pub max_keys: usize,
}

impl Default for JwksSettings {
    fn default() -> Self {
        Self {
            refresh: Duration::from_secs(300),
            min_refresh: Duration::from_secs(60),
            max_refresh: Duration::from_secs(3600),
            forced_min_interval: Duration::from_secs(30),
            forced_budget: Duration::from_millis(150),
            max_stale: Duration::from_secs(24 * 3600),
            connect_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(5),
            max_body: 64 * 1024,
            max_keys: 32,
        }
    }
}

/// One usable key and the algorithms it accepts.
pub struct KeyEntry {
    /// The verification key.
    pub key: DecodingKey,
    /// Accepted algorithms (the JWK's `alg` alone when present, else its key type's family).
    pub algs: Vec<Algorithm>,
    /// SHA-256 of the JWK as published: a key replaced under the same `kid` is a different key.
    pub fingerprint: [u8; 32],
}

/// A fetched, filtered key set.
pub struct KeySet {
    /// Keys by `kid`.
    pub keys: HashMap<String, Arc<KeyEntry>>,
    /// When it was fetched.
    pub fetched_at: Instant,
    /// Changes whenever a key is added, removed or replaced (cached decisions of an older epoch are re-verified).
    pub epoch: u64,
}

/// What a lookup found.
pub enum Lookup {
    /// The key, and the epoch of the set it came from.
    Found(Arc<KeyEntry>, u64),
    /// A key set is held but has no such `kid`.
    UnknownKid,
    /// No usable key set is held.
    Unavailable,
}

/// Why a fetch failed (logged and counted; the last good set stays).
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Transport.
    #[error("request failed: {0}")]
    Http(String),
    /// Non-200.
    #[error("unexpected status {0}")]
    Status(u16),
    /// Over the size limit.
    #[error("body larger than {0} bytes")]
    TooLarge(usize),
    /// Not a JWKS.
    #[error("not a JWKS document: {0}")]
    Parse(String),
    /// More keys than allowed.
    #[error("{0} keys; at most {1} are accepted")]
    TooManyKeys(usize, usize),
    /// Nothing usable.
    #[error("no usable signing key in the set")]
    NoUsableKey,
}

/// One JWKS URL: its key set and its refresher.
pub struct JwksSource {
    url: Url,
    client: reqwest::Client,
    settings: JwksSettings,
    current: ArcSwapOption<KeySet>,
    epoch: AtomicU64,
    last_forced: Mutex<Option<Instant>>,
    fetch_lock: tokio::sync::Mutex<()>,
    observer: Arc<dyn Observer>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
}

impl JwksSource {
    /// Create the source and start its background refresher on the current tokio runtime.
    pub fn start(
        url: Url,
        client: reqwest::Client,
        settings: JwksSettings,
        observer: Arc<dyn Observer>,
    ) -> Arc<Self> {
        let src = Arc::new(Self {
            url,
            client,
            settings,
            current: ArcSwapOption::empty(),
            epoch: AtomicU64::new(0),
            last_forced: Mutex::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            observer,
            task: Mutex::new(None),
        });
        let weak = Arc::downgrade(&src);
        let handle = tokio::spawn(async move { refresher(weak).await });
        *src.task_slot() = Some(handle.abort_handle());
        src
    }

    /// The refresher's abort handle. It is a plain `Option`, whole even after a panic while held, so a poisoned
    /// lock is logged, counted and recovered: skipping it would leave the refresher running after the source is
    /// dropped.
    fn task_slot(&self) -> std::sync::MutexGuard<'_, Option<tokio::task::AbortHandle>> {
        self.task.lock().unwrap_or_else(|poisoned| {
            tracing::error!(url = %self.url, "JWKS refresher-handle lock poisoned; recovered");
            self.observer.internal_error(InternalError::JwksLock);
            self.task.clear_poison();
            poisoned.into_inner()
        })
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Whether a usable, not-too-stale key set is held.
    pub fn is_ready(&self) -> bool {
        self.fresh_set().is_some()
    }

    fn fresh_set(&self) -> Option<Arc<KeySet>> {
        self.current
            .load_full()
            .filter(|s| s.fetched_at.elapsed() <= self.settings.max_stale)
    }

    /// Look up `kid` in the held set (no network).
    pub fn lookup(&self, kid: &str) -> Lookup {
        match self.fresh_set() {
            None => Lookup::Unavailable,
            Some(set) => match set.keys.get(kid) {
                Some(k) => Lookup::Found(k.clone(), set.epoch),
                None => Lookup::UnknownKid,
            },
        }
    }

    /// The epoch of the held set: 0 when none is held or the held one is older than the stale bound. A cached
    /// decision carries the epoch it was made under, so once the set goes stale no cached allow matches any more,
    /// exactly as after a rotation (and a set fetched after that gets a new epoch, see `fetch_and_store`).
    pub fn epoch(&self) -> u64 {
        self.fresh_set().map_or(0, |s| s.epoch)
    }

    /// Look up `kid`; when unknown, force one refresh if the rate limit allows and wait for it within the budget.
    pub async fn lookup_or_refresh(self: &Arc<Self>, kid: &str) -> Lookup {
        match self.lookup(kid) {
            Lookup::Found(k, e) => return Lookup::Found(k, e),
            Lookup::Unavailable if self.current.load().is_none() => return Lookup::Unavailable,
            _ => {}
        }
        if !self.reserve_forced_refresh() {
            return self.lookup(kid);
        }
        let me = self.clone();
        let job = tokio::spawn(async move {
            let _guard = me.fetch_lock.lock().await;
            me.fetch_and_store().await
        });
        // The fetch goes on in the background if the budget runs out; this request answers with what is held.
        // A fetch error is logged and counted by `fetch_and_store`; a panic of the job is logged here.
        if let Ok(Err(e)) = tokio::time::timeout(self.settings.forced_budget, job).await {
            tracing::error!(url = %self.url, error = %e, "forced JWKS refresh task failed");
        }
        self.lookup(kid)
    }

    /// Take the forced-refresh slot if none was taken within the rate-limit window.
    fn reserve_forced_refresh(&self) -> bool {
        let mut last = match self.last_forced.lock() {
            Ok(last) => last,
            Err(_) => {
                // A panic while the slot was held: this refresh fails (logged and counted); the slot holds only
                // an instant, so clearing the poison lets the next unknown kid try again.
                tracing::error!(url = %self.url, "JWKS forced-refresh lock poisoned; refresh not attempted");
                self.observer.internal_error(InternalError::JwksLock);
                self.last_forced.clear_poison();
                return false;
            }
        };
        let now = Instant::now();
        match *last {
            Some(t) if now.duration_since(t) < self.settings.forced_min_interval => false,
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    /// Fetch, parse, filter and store. Returns the `max-age` the endpoint asked for, if any.
    pub async fn fetch_and_store(&self) -> Result<Option<Duration>, FetchError> {
        let res = self.fetch().await;
        match &res {
            Ok((set, _)) => {
                // Same keys as a set that is still fresh: same epoch, cached decisions stay. After a stale set
                // (whose cached decisions stopped matching) the epoch moves on even for the same keys, so the
                // decisions cached before the outage are not served again: a stale set counts as a rotation.
                let prev = self.fresh_set();
                let same = prev.as_ref().is_some_and(|p| {
                    p.keys.len() == set.len()
                        && set.iter().all(|(kid, e)| {
                            p.keys
                                .get(kid)
                                .is_some_and(|old| old.fingerprint == e.fingerprint)
                        })
                });
                let epoch = if same {
                    self.epoch.load(Ordering::Relaxed)
                } else {
                    self.epoch.fetch_add(1, Ordering::Relaxed) + 1
                };
                self.observer
                    .jwks_fetch(Outcome::Success, set.len(), unix_now());
                tracing::debug!(url = %self.url, keys = set.len(), "JWKS fetched");
                self.current.store(Some(Arc::new(KeySet {
                    keys: set.clone(),
                    fetched_at: Instant::now(),
                    epoch,
                })));
            }
            Err(e) => {
                self.observer.jwks_fetch(Outcome::Error, 0, unix_now());
                tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed; keeping the last good key set");
            }
        }
        res.map(|(_, max_age)| max_age)
    }

    async fn fetch(
        &self,
    ) -> Result<(HashMap<String, Arc<KeyEntry>>, Option<Duration>), FetchError> {
        let send = || {
            self.client
                .get(self.url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .timeout(self.settings.timeout)
                .send()
        };
        let mut resp = match send().await {
            // Sent on a pooled connection that closed before any answer: most likely the server's idle timer closed
            // it as the request arrived (no pool can rule that race out). A GET of a key set is safe to send again,
            // once, on a new connection; a refused connect or a timeout is a real failure and is not retried.
            Err(e) if e.is_request() && !e.is_connect() && !e.is_timeout() => {
                tracing::debug!(url = %self.url, error = %e, "JWKS connection closed before an answer; fetching again");
                send().await
            }
            sent => sent,
        }
        .map_err(|e| FetchError::Http(e.to_string()))?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(FetchError::Status(resp.status().as_u16()));
        }
        let max = self.settings.max_body;
        if resp.content_length().is_some_and(|l| l > max as u64) {
            return Err(FetchError::TooLarge(max));
        }
        let max_age = resp
            .headers()
            .get(reqwest::header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_max_age);
        let mut body = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| FetchError::Http(e.to_string()))?
        {
            if body.len() + chunk.len() > max {
                return Err(FetchError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        let set = parse_jwks(&body, self.settings.max_keys)?;
        Ok((set, max_age))
    }

    /// The wait before the next background refresh after a good fetch.
    fn next_refresh(&self, max_age: Option<Duration>) -> Duration {
        let base = max_age
            .map(|m| m.clamp(self.settings.min_refresh, self.settings.max_refresh))
            .unwrap_or(self.settings.refresh);
        jitter(base)
    }
}

impl Drop for JwksSource {
    fn drop(&mut self) {
        if let Some(h) = self.task_slot().take() {
            h.abort();
        }
    }
}

/// ±10 % so that replicas do not fetch in lockstep.
fn jitter(d: Duration) -> Duration {
    scale(d, rand::random_range(0.9..1.1))
}

/// `d × f`. `Duration::mul_f64` panics past `Duration::MAX`, which a huge `--jwks-refresh-secs` reaches: such a
/// period is kept as it is.
fn scale(d: Duration, f: f64) -> Duration {
    Duration::try_from_secs_f64(d.as_secs_f64() * f).unwrap_or(d)
}

async fn refresher(weak: std::sync::Weak<JwksSource>) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let Some(src) = weak.upgrade() else { return };
        let res = {
            let _guard = src.fetch_lock.lock().await;
            src.fetch_and_store().await
        };
        let wait = match res {
            Ok(max_age) => {
                backoff = Duration::from_secs(1);
                src.next_refresh(max_age)
            }
            Err(_) => {
                let w = jitter(backoff).min(src.settings.refresh);
                backoff = (backoff * 2).min(Duration::from_secs(60));
                w
            }
        };
        drop(src);
        tokio::time::sleep(wait).await;
    }
}

/// `max-age=N` from a `Cache-Control` value (`no-store`/`no-cache` mean "as soon as allowed": the lower clamp).
fn parse_max_age(v: &str) -> Option<Duration> {
    let cc = crate::cache_control::parse(v);
    if cc.no_store {
        Some(Duration::ZERO)
    } else {
        cc.max_age.map(Duration::from_secs)
    }
}

const RSA_ALGS: [Algorithm; 6] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
];

/// Parse a JWKS body and keep only usable signing keys: at most `max_keys`, each with a `kid`, meant for
/// signatures (`use`/`key_ops`), asymmetric (RSA of 2048–4096 bits, P-256, P-384, Ed25519) and with an `alg` that
/// fits its type; the first key of a `kid` wins.
pub fn parse_jwks(
    body: &[u8],
    max_keys: usize,
) -> Result<HashMap<String, Arc<KeyEntry>>, FetchError> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| FetchError::Parse(e.to_string()))?;
    let keys = doc
        .get("keys")
        .and_then(Value::as_array)
        .ok_or_else(|| FetchError::Parse("no `keys` array".into()))?;
    if keys.len() > max_keys {
        return Err(FetchError::TooManyKeys(keys.len(), max_keys));
    }
    let mut out: HashMap<String, Arc<KeyEntry>> = HashMap::new();
    for k in keys {
        match usable_key(k) {
            Ok((kid, entry)) => {
                // The first key with a given kid wins, as in the Hasura engine.
                out.entry(kid).or_insert_with(|| Arc::new(entry));
            }
            Err(why) => {
                let kid = k.get("kid").and_then(Value::as_str).unwrap_or("");
                tracing::debug!(kid, why, "JWK skipped");
            }
        }
    }
    if out.is_empty() {
        return Err(FetchError::NoUsableKey);
    }
    Ok(out)
}

fn usable_key(k: &Value) -> Result<(String, KeyEntry), &'static str> {
    let s = |name: &str| k.get(name).and_then(Value::as_str);
    let kid = s("kid").ok_or("no kid")?;
    if s("use").is_some_and(|u| u != "sig") || k.get("use").is_some_and(|u| !u.is_string()) {
        return Err("use is not sig");
    }
    if let Some(ops) = k.get("key_ops") {
        let verify = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
        if !verify {
            return Err("key_ops without verify");
        }
    }
    let family: Vec<Algorithm> = match (s("kty"), s("crv")) {
        (Some("RSA"), _) => {
            let n = URL_SAFE_NO_PAD
                .decode(s("n").ok_or("no n")?)
                .map_err(|_| "bad n")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if !(2048..=4096).contains(&bits) {
                return Err("RSA modulus outside 2048..4096 bits");
            }
            RSA_ALGS.to_vec()
        }
        (Some("EC"), Some("P-256")) => vec![Algorithm::ES256],
        (Some("EC"), Some("P-384")) => vec![Algorithm::ES384],
        (Some("OKP"), Some("Ed25519")) => vec![Algorithm::EdDSA],
        (Some("oct"), _) => return Err("symmetric key"),
        _ => return Err("unsupported key type"),
    };
    let algs = match s("alg") {
        None => family,
        Some(a) => {
            let alg: Algorithm = a.parse().map_err(|_| "unknown alg")?;
            if !family.contains(&alg) {
                return Err("alg does not fit the key type");
            }
            vec![alg]
        }
    };
    let jwk: Jwk = serde_json::from_value(k.clone()).map_err(|_| "not a JWK")?;
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| "unusable JWK")?;
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, k.to_string().as_bytes());
    let mut fingerprint = [0u8; 32];
    fingerprint.copy_from_slice(digest.as_ref());
    Ok((
        kid.to_owned(),
        KeyEntry {
            key,
            algs,
            fingerprint,
        },
    ))
}

/// The live JWKS sources, one per URL, kept across config reloads when the URL stays.
#[derive(Default)]
pub struct JwksRegistry {
    sources: Mutex<HashMap<Url, Arc<JwksSource>>>,
}

impl JwksRegistry {
    /// Make the registry hold exactly `urls`: keep existing sources, start new ones, drop the rest.
    pub fn sync(
        &self,
        urls: &[Url],
        client: &reqwest::Client,
        settings: &JwksSettings,
        observer: &Arc<dyn Observer>,
    ) -> HashMap<Url, Arc<JwksSource>> {
        let mut map = self.sources.lock().unwrap_or_else(|poisoned| {
            // A panic while the map was held (starting a source outside a runtime, say). The map itself is whole
            // (a panic in `or_insert_with` inserts nothing), so it is kept: an empty one would silently leave every
            // JWKS mode without keys. Logged and counted.
            tracing::error!("JWKS registry lock poisoned; keeping the sources it holds");
            observer.internal_error(InternalError::JwksLock);
            self.sources.clear_poison();
            poisoned.into_inner()
        });
        map.retain(|u, _| urls.contains(u));
        for u in urls {
            map.entry(u.clone()).or_insert_with(|| {
                JwksSource::start(
                    u.clone(),
                    client.clone(),
                    settings.clone(),
                    observer.clone(),
                )
            });
        }
        map.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;

    /// Poison `m` by panicking while it is held.
    fn poison<T>(m: &Mutex<T>) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = m.lock();
            panic!("poisoning the lock on purpose");
        }));
        assert!(r.is_err());
        assert!(m.is_poisoned());
    }

    fn unreachable_url() -> Url {
        Url::parse("http://127.0.0.1:9/jwks.json").expect("static URL")
    }

    #[tokio::test]
    async fn a_poisoned_registry_keeps_its_sources_and_is_counted() {
        let metrics = Arc::new(Metrics::new());
        let client = reqwest::Client::new();
        let settings = JwksSettings::default();
        let registry = JwksRegistry::default();
        let url = unreachable_url();
        let observer: Arc<dyn Observer> = metrics.clone();
        let first = registry.sync(std::slice::from_ref(&url), &client, &settings, &observer);
        poison(&registry.sources);
        let second = registry.sync(std::slice::from_ref(&url), &client, &settings, &observer);
        assert_eq!(second.len(), 1);
        assert!(Arc::ptr_eq(&first[&url], &second[&url]));
        assert_eq!(metrics.internal_error_count(InternalError::JwksLock), 1);
        assert!(!registry.sources.is_poisoned());
    }

    #[tokio::test]
    async fn a_poisoned_forced_refresh_slot_fails_that_refresh_and_is_counted() {
        let metrics = Arc::new(Metrics::new());
        let src = JwksSource::start(
            unreachable_url(),
            reqwest::Client::new(),
            JwksSettings::default(),
            metrics.clone(),
        );
        poison(&src.last_forced);
        assert!(!src.reserve_forced_refresh());
        assert_eq!(metrics.internal_error_count(InternalError::JwksLock), 1);
        assert!(src.reserve_forced_refresh());
    }

    #[tokio::test]
    async fn a_poisoned_task_slot_still_stops_the_refresher() {
        let metrics = Arc::new(Metrics::new());
        let src = JwksSource::start(
            unreachable_url(),
            reqwest::Client::new(),
            JwksSettings::default(),
            metrics.clone(),
        );
        poison(&src.task);
        let handle = src.task_slot().clone();
        drop(src);
        assert_eq!(metrics.internal_error_count(InternalError::JwksLock), 1);
        let handle = handle.expect("the refresher's handle is held");
        for _ in 0..100 {
            if handle.is_finished() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the refresher was not stopped");
    }

    #[test]
    fn max_age_parsing() {
        assert_eq!(
            parse_max_age("public, max-age=600"),
            Some(Duration::from_secs(600))
        );
        assert_eq!(parse_max_age("no-store"), Some(Duration::ZERO));
        assert_eq!(parse_max_age("public"), None);
    }

    #[test]
    fn item10_jitter_of_a_huge_refresh_period_does_not_panic() {
        // `--jwks-refresh-secs 18446744073709551615`: ±10 % of it is past `Duration::MAX`.
        let huge = Duration::from_secs(u64::MAX);
        assert_eq!(scale(huge, 1.1), huge);
        assert!(jitter(huge) >= huge.mul_f64(0.5));
        assert_eq!(
            scale(Duration::from_secs(100), 1.1),
            Duration::from_secs(110)
        );
        let d = jitter(Duration::from_secs(100));
        assert!(
            (Duration::from_secs(90)..=Duration::from_secs(110)).contains(&d),
            "{d:?}"
        );
    }

    #[test]
    fn filters_unusable_keys() {
        let rsa: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/vectors/keys/rsa1.jwk.json"
        ))
        .unwrap();
        let mut enc = rsa.clone();
        enc["kid"] = "enc".into();
        enc["use"] = "enc".into();
        let mut good = rsa.clone();
        good["kid"] = "good".into();
        let oct = serde_json::json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0", "alg": "HS256"});
        let doc = serde_json::json!({"keys": [enc, good, oct]});
        let set = parse_jwks(doc.to_string().as_bytes(), 32).unwrap();
        assert_eq!(set.keys().collect::<Vec<_>>(), vec!["good"]);
        let only_bad = serde_json::json!({"keys": [serde_json::json!({"kty": "oct", "kid": "hs", "k": "c2VjcmV0"})]});
        assert!(matches!(
            parse_jwks(only_bad.to_string().as_bytes(), 32),
            Err(FetchError::NoUsableKey)
        ));
    }

    #[test]
    fn item19_rsa_keys_under_2048_bits_are_dropped() {
        let weak: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/rsa1024/rsa1024.jwk.json"
        ))
        .expect("weak JWK");
        let n = URL_SAFE_NO_PAD
            .decode(weak["n"].as_str().expect("n"))
            .expect("n is base64url");
        assert_eq!(n.len() * 8, 1024, "the fixture is an RSA-1024 key");
        let mut good: Value = serde_json::from_str(include_str!(
            "../../tests/fixtures/vectors/keys/rsa1.jwk.json"
        ))
        .expect("rsa1 JWK");
        good["kid"] = "good".into();
        // Also without `alg`: the filter looks at the modulus, not at what the JWK claims.
        let mut weak_no_alg = weak.clone();
        weak_no_alg["kid"] = "weak-no-alg".into();
        if let Some(o) = weak_no_alg.as_object_mut() {
            o.remove("alg");
        }
        let doc = serde_json::json!({"keys": [weak, good, weak_no_alg]});
        let set = parse_jwks(doc.to_string().as_bytes(), 32).expect("the RSA-2048 key is usable");
        assert_eq!(set.keys().collect::<Vec<_>>(), vec!["good"]);
        let only_weak = serde_json::json!({"keys": [doc["keys"][0].clone()]});
        assert!(matches!(
            parse_jwks(only_weak.to_string().as_bytes(), 32),
            Err(FetchError::NoUsableKey)
        ));
    }
}
