//! The gate: one decision per client request. Mode selection (v4 auth-mode header), the decision cache,
//! authentication (JWT, noAuth; webhook), role selection, and the per-request parts of the answer.
//!
//! The active config lives in one `ArcSwap`: a reload builds a complete `Active` (verifiers, key sources, noAuth
//! sessions) off the request path and swaps it in; a request loads it once and uses that snapshot throughout, so
//! it never sees a mix of two configs.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;
use aws_lc_rs::digest;
use quick_cache::sync::Cache;

use crate::authn::claims::{self, check_duplicate_roles};
use crate::authn::jwt::{self, Verifier};
use crate::authn::reason::{Deny, Reason};
use crate::authn::request::{AuthRequest, visible_ascii};
use crate::authn::session::{self, Identity, Roles, Session, render};
use crate::authn::token;
use crate::authn::webhook::{self, WebhookClient};
use crate::clock::Clock;
use crate::config::CompiledConfig;
use crate::config::compiled::{JwtKeySource, JwtMode, Mode, WebhookMode};
use crate::jwks::{JwksRegistry, JwksSettings, JwksSource, Lookup};
use crate::observe::{CacheLookup, Observer};

/// The gate could not be built (its HTTP clients).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the HTTP client: {0}")]
pub struct BuildError(String);

/// Operator settings of the gate (from the command line).
#[derive(Debug, Clone)]
pub struct GateSettings {
    /// Longest token accepted.
    pub max_token_bytes: usize,
    /// The v4 auth-mode header (matched case-insensitively).
    pub auth_mode_header: String,
    /// Decision-cache capacity in entries (0 turns the cache off).
    pub cache_size: usize,
    /// Longest life of a cached allow, in seconds (also the noAuth `max-age`).
    pub cache_ttl: u64,
    /// Shortest life of a cached permanent denial, in seconds; each lives up to half as long again (spread by token).
    pub deny_cache_ttl: u64,
    pub jwks: JwksSettings,
    /// Timeout of one webhook call (waiting for a connection slot included).
    pub webhook_timeout: Duration,
    /// Most concurrent webhook calls (the connection pool bound).
    pub webhook_max_connections: usize,
    /// Most denial log lines per second (0: no limit); the rest are counted in the next line's `suppressed`.
    pub deny_log_per_sec: u32,
}

impl Default for GateSettings {
    fn default() -> Self {
        Self {
            max_token_bytes: 16 * 1024,
            auth_mode_header: "x-hasura-auth-mode".into(),
            cache_size: 100_000,
            cache_ttl: 60,
            deny_cache_ttl: 10,
            jwks: JwksSettings::default(),
            webhook_timeout: Duration::from_secs(5),
            webhook_max_connections: 256,
            deny_log_per_sec: 100,
        }
    }
}

/// Bounds the denial log lines per second: a flood of bad tokens must not turn into a flood of log lines (the
/// metrics count every denial). Lines past the limit are counted and reported as `suppressed` by the next line
/// written.
#[derive(Debug, Default)]
struct DenyLogLimit {
    second: AtomicU64,
    written: AtomicU64,
    suppressed: AtomicU64,
}

impl DenyLogLimit {
    /// `Some(lines suppressed since the last written one)` when this denial may be logged.
    fn admit(&self, per_sec: u32, now_secs: u64) -> Option<u64> {
        if per_sec == 0 {
            return Some(0);
        }
        let second = self.second.load(Ordering::Relaxed);
        if second != now_secs
            && self
                .second
                .compare_exchange(second, now_secs, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.written.store(0, Ordering::Relaxed);
        }
        if self.written.fetch_add(1, Ordering::Relaxed) < u64::from(per_sec) {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// An allowed request.
#[derive(Debug, Clone)]
pub struct Allowed {
    /// The session to send upstream.
    pub session: Session,
    /// `Cache-Control: private, max-age=N`.
    pub max_age: u64,
}

/// The answer for one request.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Allow or deny.
    pub result: Result<Allowed, Deny>,
    /// Client `x-hasura-*` headers the session does not set (allow only).
    pub headers_to_remove: Vec<String>,
    /// Whether an allow came from the decision cache. Always `false` for a denial, cached or not; the
    /// `authgate_decision_cache_hits_total` counter counts both.
    pub cache_hit: bool,
}

impl Decision {
    pub fn status(&self) -> u16 {
        match &self.result {
            Ok(_) => 200,
            Err(d) => d.status,
        }
    }
}

struct JwtActive {
    mode: Arc<JwtMode>,
    verifier: Verifier,
    jwks: Option<Arc<JwksSource>>,
}

enum ActiveMode {
    Jwt(Box<JwtActive>),
    NoAuth(Result<Identity, Deny>),
    Webhook(Arc<WebhookMode>),
}

struct Active {
    generation: u64,
    config: Arc<CompiledConfig>,
    /// Index 0 is `mode`; alternatives follow in config order.
    modes: Vec<ActiveMode>,
}

struct HookCacheEntry {
    identity: Identity,
    valid_until: u64,
}

struct CacheEntry {
    result: Result<Identity, Deny>,
    exp: Option<u64>,
    valid_until: u64,
    epoch: u64,
}

/// The gate. Shared by every request handler and the reload loop.
pub struct Gate {
    settings: GateSettings,
    active: ArcSwapOption<Active>,
    jwks: JwksRegistry,
    http: reqwest::Client,
    cache: Option<Cache<[u8; 32], Arc<CacheEntry>>>,
    hook_cache: Option<Cache<[u8; 32], Arc<HookCacheEntry>>>,
    webhook: WebhookClient,
    observer: Arc<dyn Observer>,
    clock: Arc<dyn Clock>,
    generation: AtomicU64,
    draining: AtomicBool,
    deny_log: DenyLogLimit,
    /// Process-unique id, so that the per-thread hot set never mixes two gates (tests run several).
    id: u64,
}

/// A small per-thread set of the tokens decided most recently, compared byte for byte: a token that repeats (one
/// user's burst, a service token) skips the SHA-256 of the shared cache's key. Entries are the shared cache's own
/// entries, checked for generation, mode, expiry and key-set epoch exactly like them.
mod hot {
    use std::cell::RefCell;
    use std::sync::Arc;

    use super::CacheEntry;

    const SLOTS: usize = 64;

    type Scope = (u64, u64, usize);
    type Slot = Option<(Scope, Box<str>, Arc<CacheEntry>)>;

    thread_local! {
        static HOT: RefCell<Vec<Slot>> = RefCell::new(vec![None; SLOTS]);
    }

    /// The slot of a token: its last bytes (signature bytes, spread well); collisions only evict.
    fn slot(token: &str) -> usize {
        let b = token.as_bytes();
        let tail = &b[b.len().saturating_sub(8)..];
        let mut h: u64 = b.len() as u64;
        for &x in tail {
            h = h.wrapping_mul(0x100_0000_01b3) ^ u64::from(x);
        }
        (h % SLOTS as u64) as usize
    }

    pub(super) fn get(scope: Scope, token: &str) -> Option<Arc<CacheEntry>> {
        HOT.with(|h| match &h.borrow()[slot(token)] {
            Some((s, t, e)) if *s == scope && **t == *token => Some(e.clone()),
            _ => None,
        })
    }

    pub(super) fn put(scope: Scope, token: &str, entry: &Arc<CacheEntry>) {
        HOT.with(|h| h.borrow_mut()[slot(token)] = Some((scope, token.into(), entry.clone())));
    }
}

impl Gate {
    /// A gate with no config yet (every decision `503 no_config` until [`Gate::apply`]). It reports to
    /// `observer` and tells the time by `clock`.
    pub fn new(
        settings: GateSettings,
        observer: Arc<dyn Observer>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, BuildError> {
        let http = reqwest::Client::builder()
            .connect_timeout(settings.jwks.connect_timeout)
            .timeout(settings.jwks.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("authgate/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| BuildError(e.to_string()))?;
        let cache = (settings.cache_size > 0).then(|| Cache::new(settings.cache_size));
        let hook_cache = (settings.cache_size > 0).then(|| Cache::new(settings.cache_size));
        let webhook = WebhookClient::new(
            settings.webhook_timeout,
            settings.webhook_max_connections,
            observer.clone(),
        )
        .map_err(|e| BuildError(e.to_string()))?;
        Ok(Self {
            hook_cache,
            webhook,
            settings,
            active: ArcSwapOption::empty(),
            jwks: JwksRegistry::default(),
            http,
            cache,
            observer,
            clock,
            generation: AtomicU64::new(0),
            draining: AtomicBool::new(false),
            deny_log: DenyLogLimit::default(),
            id: {
                static NEXT: AtomicU64 = AtomicU64::new(1);
                NEXT.fetch_add(1, Ordering::Relaxed)
            },
        })
    }

    /// Where the gate and everything it owns report outcomes (reloads report here too).
    pub fn observer(&self) -> &Arc<dyn Observer> {
        &self.observer
    }

    /// The clock decisions are judged by.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    pub fn settings(&self) -> &GateSettings {
        &self.settings
    }

    /// Swap in a new config. Must run inside a tokio runtime (JWKS refreshers are spawned).
    pub fn apply(&self, config: Arc<CompiledConfig>) {
        let urls = config.jwks_urls();
        let sources = self
            .jwks
            .sync(&urls, &self.http, &self.settings.jwks, &self.observer);
        let build = |m: &Mode| match m {
            Mode::Jwt(j) => {
                let jwks = match &j.key {
                    JwtKeySource::JwksUrl(u) => sources.get(u).cloned(),
                    JwtKeySource::Fixed { .. } => None,
                };
                ActiveMode::Jwt(Box::new(JwtActive {
                    mode: j.clone(),
                    verifier: Verifier::new(j),
                    jwks,
                }))
            }
            Mode::NoAuth(n) => ActiveMode::NoAuth(
                render(n.session_variables.iter().map(|(k, v)| (k.as_str(), v))).and_then(|vars| {
                    Ok(Identity::Specific {
                        roles: Roles::new(&n.role, std::slice::from_ref(&n.role))?,
                        vars,
                    })
                }),
            ),
            Mode::Webhook(w) => ActiveMode::Webhook(w.clone()),
        };
        let mut modes = vec![build(&config.mode)];
        for (_, m) in config.alternative_modes.iter().flatten() {
            modes.push(build(m));
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        self.active.store(Some(Arc::new(Active {
            generation,
            config,
            modes,
        })));
        if let Some(c) = &self.cache {
            c.clear();
        }
        if let Some(c) = &self.hook_cache {
            c.clear();
        }
    }

    /// Whether a config is loaded, every key set it needs is held, and no shutdown is under way.
    pub fn is_ready(&self) -> bool {
        if self.is_draining() {
            return false;
        }
        let Some(active) = self.active.load_full() else {
            return false;
        };
        active.modes.iter().all(|m| match m {
            ActiveMode::Jwt(j) => j.jwks.as_ref().is_none_or(|s| s.is_ready()),
            _ => true,
        })
    }

    /// Whether a config has loaded.
    pub fn has_config(&self) -> bool {
        self.active.load().is_some()
    }

    /// Start a graceful shutdown: readiness turns false; decisions go on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether a graceful shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Decide one request, and count it.
    pub async fn decide(&self, req: &AuthRequest<'_>) -> Decision {
        let started = Instant::now();
        let d = self.decide_uncounted(req).await;
        let reason = d.result.as_ref().err().map(|e| e.reason);
        self.observer
            .decision(d.status(), reason, started.elapsed().as_secs_f64());
        if let Err(e) = &d.result
            && let Some(suppressed) = self
                .deny_log
                .admit(self.settings.deny_log_per_sec, self.clock.unix())
        {
            tracing::info!(
                status = e.status,
                reason = e.reason.code(),
                method = req.method,
                uri = req.uri,
                suppressed,
                "denied"
            );
        }
        d
    }

    async fn decide_uncounted(&self, req: &AuthRequest<'_>) -> Decision {
        let deny = |e: Deny| Decision {
            result: Err(e),
            headers_to_remove: Vec::new(),
            cache_hit: false,
        };
        let Some(active) = self.active.load_full() else {
            return deny(Deny::new(
                Reason::NoConfig,
                "no valid AuthConfig has been loaded",
            ));
        };
        let idx = match self.select_mode(&active, req) {
            Ok(i) => i,
            Err(e) => return deny(e),
        };
        let now = self.clock.unix();
        let mut cache_hit = false;
        let (identity, exp) = match &active.modes[idx] {
            ActiveMode::NoAuth(identity) => match identity {
                Ok(i) => (i.clone(), None),
                Err(e) => return deny(e.clone()),
            },
            ActiveMode::Jwt(j) => match self.jwt_identity(&active, idx, j, req, now).await {
                Ok((i, exp, hit)) => {
                    cache_hit = hit;
                    (i, exp)
                }
                Err(e) => return deny(e),
            },
            ActiveMode::Webhook(w) => {
                match self.webhook_identity(&active, idx, w, req, now).await {
                    Ok((i, exp, hit)) => {
                        cache_hit = hit;
                        (i, Some(exp))
                    }
                    Err(e) => return deny(e),
                }
            }
        };
        let mode_header = self.settings.auth_mode_header.as_str();
        match session::resolve(&identity, req, mode_header) {
            Ok(session) => {
                let headers_to_remove = session::headers_to_remove(&session, req, mode_header);
                let ttl = self.settings.cache_ttl;
                let max_age = exp.map_or(ttl, |e| e.saturating_sub(now).min(ttl));
                Decision {
                    result: Ok(Allowed { session, max_age }),
                    headers_to_remove,
                    cache_hit,
                }
            }
            Err(e) => Decision {
                result: Err(e),
                headers_to_remove: Vec::new(),
                cache_hit,
            },
        }
    }

    /// v4: the auth-mode header picks an alternative by exact identifier; anything unknown falls back to `mode`.
    fn select_mode(&self, active: &Active, req: &AuthRequest<'_>) -> Result<usize, Deny> {
        let Some(alts) = &active.config.alternative_modes else {
            return Ok(0);
        };
        let Some(raw) = req.first(&self.settings.auth_mode_header) else {
            return Ok(0);
        };
        let value = visible_ascii(raw).ok_or_else(|| {
            let mut d = Deny::new(
                Reason::InvalidHeader,
                "Invalid auth mode header: failed to convert header to a str",
            );
            d.www_authenticate = Some("Bearer".into());
            d
        })?;
        Ok(alts
            .iter()
            .position(|(id, _)| id == value)
            .map_or(0, |i| i + 1))
    }

    async fn jwt_identity(
        &self,
        active: &Active,
        idx: usize,
        j: &JwtActive,
        req: &AuthRequest<'_>,
        now: u64,
    ) -> Result<(Identity, Option<u64>, bool), Deny> {
        let token = token::extract(req, &j.mode.token_location, self.settings.max_token_bytes)?;
        let epoch_now = j.jwks.as_ref().map_or(0, |s| s.epoch());
        let scope = (self.id, active.generation, idx);
        if self.cache.is_some()
            && let Some(e) = hot::get(scope, token)
            && e.valid_until > now
            && e.epoch == epoch_now
        {
            self.observer.cache(CacheLookup::Hit);
            return e.result.clone().map(|i| (i, e.exp, true));
        }
        // The key is only computed when there is a cache to use it.
        let key = self
            .cache
            .as_ref()
            .map(|_| cache_key(active.generation, idx, token));
        if let (Some(cache), Some(key)) = (&self.cache, &key) {
            if let Some(e) = cache.get(key)
                && e.valid_until > now
                && e.epoch == epoch_now
            {
                hot::put(scope, token, &e);
                self.observer.cache(CacheLookup::Hit);
                return e.result.clone().map(|i| (i, e.exp, true));
            }
            self.observer.cache(CacheLookup::Miss);
        }
        let (result, exp, epoch) = self.verify_jwt(active, j, token, now, epoch_now).await;
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            let valid_until = match &result {
                Ok(_) => {
                    let ttl_end = now.saturating_add(self.settings.cache_ttl);
                    exp.map_or(ttl_end, |e| e.min(ttl_end))
                }
                Err(d) if d.reason.is_permanent() => {
                    deny_valid_until(now, self.settings.deny_cache_ttl, &key)
                }
                Err(_) => 0,
            };
            if valid_until > now {
                let entry = Arc::new(CacheEntry {
                    result: result.clone(),
                    exp,
                    valid_until,
                    epoch,
                });
                hot::put(scope, token, &entry);
                cache.insert(key, entry);
            }
        }
        result.map(|i| (i, exp, false))
    }

    /// Ask the webhook (or the cache, when the hook allowed caching with `max-age`). Returns the identity, the time
    /// until which the answer may be reused (now when the hook sent no `max-age`), and whether it was a cache hit.
    async fn webhook_identity(
        &self,
        active: &Active,
        idx: usize,
        mode: &WebhookMode,
        req: &AuthRequest<'_>,
        now: u64,
    ) -> Result<(Identity, u64, bool), Deny> {
        let hook = webhook::build_request(mode, req);
        let key = {
            let mut fp = Vec::with_capacity(256);
            hook.fingerprint(&mut fp);
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(&active.generation.to_le_bytes());
            ctx.update(&(idx as u64).to_le_bytes());
            ctx.update(&fp);
            let mut out = [0u8; 32];
            out.copy_from_slice(ctx.finish().as_ref());
            out
        };
        if let Some(cache) = &self.hook_cache {
            if let Some(e) = cache.get(&key)
                && e.valid_until > now
            {
                self.observer.cache(CacheLookup::Hit);
                return Ok((e.identity.clone(), e.valid_until, true));
            }
            self.observer.cache(CacheLookup::Miss);
        }
        let answer = self
            .webhook
            .call(mode, &hook, active.config.role_emulation_by.as_deref())
            .await?;
        let until = now.saturating_add(answer.max_age.unwrap_or(0).min(self.settings.cache_ttl));
        if let Some(cache) = &self.hook_cache
            && until > now
        {
            cache.insert(
                key,
                Arc::new(HookCacheEntry {
                    identity: answer.identity.clone(),
                    valid_until: until,
                }),
            );
        }
        Ok((answer.identity, until, false))
    }

    /// Verify a token and build its identity. Returns the result, the token's `exp`, and the key-set epoch to
    /// cache it under: the epoch of the key used, or, for a denial decided before any key was looked up (the token
    /// header), `epoch_now`, the epoch the cache lookup was made under, so that the next identical request finds it.
    async fn verify_jwt(
        &self,
        active: &Active,
        j: &JwtActive,
        token: &str,
        now: u64,
        epoch_now: u64,
    ) -> (Result<Identity, Deny>, Option<u64>, u64) {
        let header = match jwt::parse_header(token, j.jwks.is_some()) {
            Ok(h) => h,
            Err(e) => return (Err(e), None, epoch_now),
        };
        let found;
        let (key, algs, epoch) = match (&j.mode.key, &j.jwks) {
            (JwtKeySource::Fixed { algorithm, key }, _) => {
                (key, std::slice::from_ref(algorithm), 0)
            }
            (JwtKeySource::JwksUrl(_), Some(src)) => {
                let Some(kid) = header.kid.as_deref() else {
                    let d = Deny::new(
                        Reason::MalformedToken,
                        "`kid` (Key ID) header claim not found in the header",
                    );
                    return (Err(d), None, epoch_now);
                };
                match src.lookup_or_refresh(kid).await {
                    Lookup::Found(k, e) => {
                        found = k;
                        (&found.key, found.algs.as_slice(), e)
                    }
                    Lookup::UnknownKid => {
                        let d = Deny::new(
                            Reason::UnknownKid,
                            format!("No matching JWK found for the given kid: {kid}"),
                        );
                        return (Err(d), None, 0);
                    }
                    Lookup::Unavailable => {
                        let d = Deny::new(
                            Reason::JwksUnavailable,
                            "Error while fetching the JWKSet: no key set is available",
                        );
                        return (Err(d), None, 0);
                    }
                }
            }
            (JwtKeySource::JwksUrl(_), None) => {
                return (
                    Err(Deny::new(Reason::Internal, "JWKS source missing")),
                    None,
                    0,
                );
            }
        };
        let payload = match j.verifier.verify(token, &header, key, algs, now) {
            Ok(p) => p,
            Err(e) => return (Err(e), None, epoch),
        };
        let exp = jwt::exp_of(&payload);
        (
            identity_from_claims(
                &j.mode,
                &payload,
                active.config.role_emulation_by.as_deref(),
            ),
            exp,
            epoch,
        )
    }
}

fn identity_from_claims(
    mode: &JwtMode,
    payload: &serde_json::Value,
    emulation_by: Option<&str>,
) -> Result<Identity, Deny> {
    let c = claims::extract(&mode.claims, payload)?;
    if let Some(admin) = emulation_by
        && let Some((_, v)) = c.custom.iter().find(|(k, _)| k == session::ROLE_HEADER)
    {
        let role = v.as_str().ok_or_else(|| {
            Deny::new(
                Reason::InvalidClaims,
                "Expected string value for claim x-hasura-role",
            )
        })?;
        if role == admin {
            return Ok(Identity::Emulation {
                role: role.to_owned(),
            });
        }
    }
    check_duplicate_roles(&c.allowed_roles)?;
    let vars = render(c.custom.iter().map(|(k, v)| (k.as_str(), v)))?;
    Ok(Identity::Specific {
        roles: Roles::new(&c.default_role, &c.allowed_roles)?,
        vars,
    })
}

/// Until when a permanent denial stays cached: `ttl` plus up to half of it again, spread by the token's cache key.
/// A client spraying many bad tokens at once would otherwise have all of them expire, and be verified again, in the
/// same second; spread over half a TTL, the re-verifications no longer arrive as one burst that stalls a worker.
fn deny_valid_until(now: u64, ttl: u64, key: &[u8; 32]) -> u64 {
    let spread = u64::from(key[0]).saturating_mul(ttl / 2) / 255;
    now.saturating_add(ttl).saturating_add(spread)
}

/// SHA-256 over everything that decides a JWT identity: config generation, mode, token.
fn cache_key(generation: u64, mode: usize, token: &str) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(&generation.to_le_bytes());
    ctx.update(&(mode as u64).to_le_bytes());
    ctx.update(token.as_bytes());
    let d = ctx.finish();
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use super::{DenyLogLimit, cache_key, deny_valid_until};

    #[test]
    fn cached_denials_expire_spread_over_half_a_ttl() {
        let now = 1_000;
        let ends: Vec<u64> = (0..10_000)
            .map(|i| deny_valid_until(now, 10, &cache_key(1, 0, &format!("bad-token-{i}"))))
            .collect();
        assert!(ends.iter().all(|&e| (now + 10..=now + 15).contains(&e)));
        // Every second of the window gets a share; none gets most of them.
        for second in now + 10..=now + 14 {
            let n = ends.iter().filter(|&&e| e == second).count();
            assert!((1_000..=3_000).contains(&n), "{n} expire at {second}");
        }
        assert_eq!(deny_valid_until(now, 1, &[255; 32]), now + 1);
        assert_eq!(deny_valid_until(now, 0, &[255; 32]), now);
    }

    #[test]
    fn item10_huge_cache_ttls_saturate_instead_of_overflowing() {
        // `--decision-cache-ttl` is an operator number that reaches this arithmetic on every request.
        assert_eq!(deny_valid_until(1_000, u64::MAX, &[255; 32]), u64::MAX);
        assert_eq!(deny_valid_until(u64::MAX - 5, 10, &[0; 32]), u64::MAX);
    }

    #[test]
    fn denial_lines_are_limited_per_second_and_the_rest_reported() {
        let limit = DenyLogLimit::default();
        let first: Vec<_> = (0..5).map(|_| limit.admit(3, 100)).collect();
        assert_eq!(first, [Some(0), Some(0), Some(0), None, None]);
        // The next second: the first line written reports the two suppressed ones.
        assert_eq!(limit.admit(3, 101), Some(2));
        assert_eq!(limit.admit(3, 101), Some(0));
    }

    #[test]
    fn zero_means_no_limit() {
        let limit = DenyLogLimit::default();
        assert!((0..1000).all(|_| limit.admit(0, 7) == Some(0)));
    }
}
