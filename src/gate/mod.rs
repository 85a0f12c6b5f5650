//! The gate: one decision per client request, and the hub of a request's path (listener → contract adapter →
//! gate → authn → gate → adapter). It holds the active config, selects the mode (v4 auth-mode header), answers
//! from the decision cache or hands the token to authn (which asks jwks for keys), resolves the session, and reports
//! the outcome.
//!
//! The active config lives in one `ArcSwap`: a reload builds a complete snapshot (authenticators, key sources,
//! noAuth sessions) off the request path and swaps it in; a request loads it once and uses that snapshot
//! throughout, so it never sees a mix of two configs.
//!
//! Multi-config mode (policy §13, [`Gate::with_multi_config`]) holds named configs instead, each its own snapshot
//! swapped on its own (`named`); the adapter names the config of each request ([`Gate::decide_named`]), and every
//! cache key carries the config's id and generation.
//!
//! Files: `active` (the snapshot), `identity` (a mode to an identity, through the caches), `cache` (entries, keys
//! and lifetimes of the decision and webhook-answer caches), `hot` (the per-thread hot set), `deny_log`, `named`
//! (the named configs and their reload side), `readiness` (`/readyz` of multi-config mode).

mod active;
mod cache;
mod deny_log;
mod hot;
mod identity;
mod named;
mod readiness;
#[cfg(test)]
mod tests;
mod traced;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use quick_cache::sync::Cache;

use crate::authn::reason::{Deny, Reason};
use crate::authn::request::{AuthRequest, visible_ascii};
use crate::authn::session::{self, Session};
use crate::authn::webhook::WebhookClient;
use crate::clock::Clock;
use crate::config::CompiledConfig;
use crate::jwks::{JwksRegistry, JwksSettings, KeyProvider};
use crate::observe::{ConfigObserver, Observer, Transport};
use active::{Active, ActiveMode, Owner};
use cache::{CacheEntry, HookCacheEntry};
use deny_log::DenyLogLimit;
use named::Named;
pub use readiness::{ConfigReadiness, ConfigState, Readiness};

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

/// The gate. Shared by every request handler and the reload loop.
pub struct Gate {
    settings: GateSettings,
    active: ArcSwapOption<Active>,
    keys: Arc<dyn KeyProvider>,
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
    /// Multi-config mode: the named configs (`active` stays empty). `None` in single-config mode.
    named: Option<Named>,
}

impl Gate {
    /// A gate with no config yet (every decision `503 no_config` until [`Gate::apply`]). It reports to
    /// `observer`, tells the time by `clock`, and fetches the key sets of JWKS URLs itself.
    pub fn new(
        settings: GateSettings,
        observer: Arc<dyn Observer>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, BuildError> {
        let registry = JwksRegistry::new(settings.jwks.clone(), observer.clone(), clock.clone())
            .map_err(|e| BuildError(e.to_string()))?;
        Self::with_key_provider(settings, observer, clock, Arc::new(registry))
    }

    /// A gate that takes the key sources of JWKS URLs from `keys` instead of fetching them (tests, `explain`).
    pub fn with_key_provider(
        settings: GateSettings,
        observer: Arc<dyn Observer>,
        clock: Arc<dyn Clock>,
        keys: Arc<dyn KeyProvider>,
    ) -> Result<Self, BuildError> {
        let cache = (settings.cache_size > 0).then(|| Cache::new(settings.cache_size));
        let hook_cache = (settings.cache_size > 0).then(|| Cache::new(settings.cache_size));
        let webhook = WebhookClient::new(
            settings.webhook_timeout,
            settings.webhook_max_connections,
            observer.clone(),
            clock.clone(),
        )
        .map_err(|e| BuildError(e.to_string()))?;
        Ok(Self {
            hook_cache,
            webhook,
            settings,
            active: ArcSwapOption::empty(),
            keys,
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
            named: None,
        })
    }

    /// This gate in multi-config mode: configs are named, loaded and removed one by one (`config_loaded` and the
    /// other `ConfigSink` methods), and every request must name one ([`Gate::decide_named`]). Chosen by the flags,
    /// never by how many configs there are.
    pub fn with_multi_config(mut self) -> Self {
        self.named = Some(Named::default());
        self
    }

    /// Whether this gate is in multi-config mode.
    pub fn is_multi_config(&self) -> bool {
        self.named.is_some()
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

    /// Swap in a new config (single-config mode; in multi-config mode configs are named, see `config_loaded`, and
    /// this is refused with an error log). Must run inside a tokio runtime (JWKS refreshers are spawned).
    pub fn apply(&self, config: Arc<CompiledConfig>) {
        if self.named.is_some() {
            tracing::error!("an unnamed config was applied to a multi-config gate; ignored");
            return;
        }
        self.keys.retain(&config.jwks_urls());
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let owner = Owner {
            name: None,
            id: 0,
            series: self.observer.clone(),
        };
        let active = Active::build(generation, config, self.keys.as_ref(), owner);
        self.active.store(Some(Arc::new(active)));
        if let Some(c) = &self.cache {
            c.clear();
        }
        if let Some(c) = &self.hook_cache {
            c.clear();
        }
    }

    /// Whether a config is loaded, every key set it needs is held, and no shutdown is under way. Multi-config
    /// mode: whether at least one config is usable (one tenant's typo or dead issuer must not take every tenant's
    /// pods out of their Services).
    pub fn is_ready(&self) -> bool {
        if self.is_draining() {
            return false;
        }
        if let Some(named) = &self.named {
            return named.any_usable();
        }
        self.active
            .load_full()
            .is_some_and(|active| active.keys_ready())
    }

    /// Whether a config has loaded (multi-config mode: any config).
    pub fn has_config(&self) -> bool {
        match &self.named {
            Some(named) => named.any_loaded(),
            None => self.active.load().is_some(),
        }
    }

    /// Start a graceful shutdown: readiness turns false; decisions go on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Whether a graceful shutdown has started.
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Relaxed)
    }

    /// Decide one request that came through the HTTP listener, and count it.
    pub async fn decide(&self, req: &AuthRequest<'_>) -> Decision {
        self.decide_via(req, Transport::Http).await
    }

    /// Decide one request that came through `transport`, and count it under that transport: one decision and one
    /// cache whatever the listener. In multi-config mode this names no config: `503 unknown_config`.
    pub async fn decide_via(&self, req: &AuthRequest<'_>, transport: Transport) -> Decision {
        self.decide_named(None, req, transport).await
    }

    /// Decide one request for the config it names (`name`, raw bytes from the adapter's selector), and count it.
    /// Single-config mode never looks at `name`. Multi-config mode: no name, or one not served, is
    /// `503 unknown_config`; a config named but never loaded is `503 no_config`.
    pub async fn decide_named(
        &self,
        name: Option<&[u8]>,
        req: &AuthRequest<'_>,
        transport: Transport,
    ) -> Decision {
        let started = self.clock.instant();
        let target = match &self.named {
            None => Target::Active(self.active.load_full(), None),
            Some(named) => named.target(name),
        };
        let (d, series): (Decision, &dyn ConfigObserver) = match &target {
            Target::Active(Some(active), _) => {
                (self.decide_in(active, req).await, &*active.owner.series)
            }
            Target::Active(None, series) => (
                deny(Deny::new(
                    Reason::NoConfig,
                    "no valid AuthConfig has been loaded",
                )),
                series.as_deref().unwrap_or(&*self.observer),
            ),
            Target::Unknown => (
                deny(Deny::new(
                    Reason::UnknownConfig,
                    if name.is_some() {
                        "the request names an AuthConfig that is not served here"
                    } else {
                        "the request names no AuthConfig"
                    },
                )),
                &*self.observer,
            ),
        };
        let reason = d.result.as_ref().err().map(|e| e.reason);
        let seconds = self
            .clock
            .instant()
            .saturating_duration_since(started)
            .as_secs_f64();
        series.decision(transport, d.status(), reason, seconds);
        if crate::telemetry::enabled() {
            self.record_span(&target, req, &d);
        }
        if let Err(e) = &d.result
            && let Some(suppressed) = self
                .deny_log
                .admit(self.settings.deny_log_per_sec, self.clock.unix())
        {
            // Single-config mode logs no `config`; a name no config has is escaped and cut: a client may choose it.
            let config = match (&self.named, &target) {
                (None, _) => None,
                (Some(_), Target::Active(Some(a), _)) => a.owner.name.as_deref().map(str::to_owned),
                (Some(_), _) => name.map(named::log_name),
            };
            tracing::info!(
                status = e.status,
                reason = e.reason.code(),
                config,
                method = req.method,
                uri = req.uri,
                suppressed,
                trace_id = crate::telemetry::current_trace_id(),
                "denied"
            );
        }
        d
    }

    async fn decide_in(&self, active: &Active, req: &AuthRequest<'_>) -> Decision {
        let idx = match self.select_mode(active, req) {
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
            ActiveMode::Jwt(j) => match self.jwt_identity(active, idx, j, req, now).await {
                Ok((i, exp, hit)) => {
                    cache_hit = hit;
                    (i, exp)
                }
                Err(e) => return deny(e),
            },
            ActiveMode::Webhook(w) => match self.webhook_identity(active, idx, w, req, now).await {
                Ok((i, exp, hit)) => {
                    cache_hit = hit;
                    (i, Some(exp))
                }
                Err(e) => return deny(e),
            },
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
}

/// Where a request goes: a config's snapshot (none loaded yet: `no_config`, counted under the config's series when
/// it has one), or no config at all (`unknown_config`).
enum Target {
    Active(Option<Arc<Active>>, Option<Arc<dyn ConfigObserver>>),
    Unknown,
}

fn deny(e: Deny) -> Decision {
    Decision {
        result: Err(e),
        headers_to_remove: Vec::new(),
        cache_hit: false,
    }
}
