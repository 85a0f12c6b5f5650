//! One JWKS URL: the key set held for it, the background refresher, and the forced refresh an unknown `kid`
//! triggers. Every time (set age and staleness, the forced-refresh rate limit, the fetch's Unix time) comes from
//! the clock the source was given; only the refresher's sleeps and the forced refresh's budget are tokio timers.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use arc_swap::{ArcSwap, ArcSwapOption};
use url::Url;

use super::JwksSettings;
use super::fetch::{FetchError, JwksClient};
use super::key_source::{KeyFuture, KeyLookup, KeySource};
use super::parse::JwkEntry;
use crate::clock::Clock;
use crate::observe::{ConfigObserver, InternalError, Observer, Outcome};

/// A fetched, filtered key set.
pub struct KeySet {
    /// Keys by `kid`.
    pub keys: HashMap<String, JwkEntry>,
    /// When it was fetched, by the source's clock.
    pub fetched_at: Instant,
    /// Changes whenever a key is added, removed or replaced (cached decisions of an older epoch are re-verified).
    pub epoch: u64,
}

/// One JWKS URL: its key set and its refresher.
pub struct JwksSource {
    url: Url,
    client: JwksClient,
    settings: JwksSettings,
    current: ArcSwapOption<KeySet>,
    epoch: AtomicU64,
    last_forced: Mutex<Option<Instant>>,
    fetch_lock: tokio::sync::Mutex<()>,
    observer: Arc<dyn Observer>,
    /// Multi-config mode: the series of every config using this key set, each of which reports its fetches (a
    /// shared set reports under each). Empty in single-config mode: the fetches go to `observer`.
    reporters: ArcSwap<Vec<Arc<dyn ConfigObserver>>>,
    /// Unix time of the last good fetch, for a config that starts using a set already held.
    last_success_unix: AtomicU64,
    clock: Arc<dyn Clock>,
    task: Mutex<Option<tokio::task::AbortHandle>>,
    /// This source, for the forced refresh's task, which goes on after the request that started it gave up.
    me: Weak<JwksSource>,
}

impl JwksSource {
    /// Create the source and start its background refresher on the current tokio runtime.
    pub fn start(
        url: Url,
        client: JwksClient,
        settings: JwksSettings,
        observer: Arc<dyn Observer>,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Self::start_reporting(url, client, settings, observer, clock, Vec::new())
    }

    /// [`JwksSource::start`], reporting fetches under `reporters` (see [`JwksSource::report_to`]) from the first.
    pub fn start_reporting(
        url: Url,
        client: JwksClient,
        settings: JwksSettings,
        observer: Arc<dyn Observer>,
        clock: Arc<dyn Clock>,
        reporters: Vec<Arc<dyn ConfigObserver>>,
    ) -> Arc<Self> {
        let src = Arc::new_cyclic(|me| Self {
            url,
            client,
            settings,
            current: ArcSwapOption::empty(),
            epoch: AtomicU64::new(0),
            last_forced: Mutex::new(None),
            fetch_lock: tokio::sync::Mutex::new(()),
            observer,
            reporters: ArcSwap::from_pointee(reporters),
            last_success_unix: AtomicU64::new(0),
            clock,
            task: Mutex::new(None),
            me: me.clone(),
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

    /// Report fetches under each of `reporters` from now on (multi-config mode: the configs using this set). A
    /// config that joins while a set is held sees its keys at once, not at the next refresh.
    pub fn report_to(&self, reporters: Vec<Arc<dyn ConfigObserver>>) {
        if let Some(set) = self.current.load_full() {
            let unix = self.last_success_unix.load(Ordering::Relaxed);
            for r in &reporters {
                r.jwks_held(set.keys.len(), unix);
            }
        }
        self.reporters.store(Arc::new(reporters));
    }

    /// Count a fetch under every config using this set, or under the observer when none is named.
    fn report_fetch(&self, outcome: Outcome, keys: usize) {
        let unix = self.clock.unix();
        let reporters = self.reporters.load();
        if reporters.is_empty() {
            self.observer.jwks_fetch(outcome, keys, unix);
        }
        for r in reporters.iter() {
            r.jwks_fetch(outcome, keys, unix);
        }
    }

    fn is_fresh(&self, set: &KeySet) -> bool {
        self.clock
            .instant()
            .saturating_duration_since(set.fetched_at)
            <= self.settings.max_stale
    }

    fn fresh_set(&self) -> Option<Arc<KeySet>> {
        self.current.load_full().filter(|s| self.is_fresh(s))
    }

    /// The usable set held now, if any (`explain` lists its `kid`s).
    pub fn held(&self) -> Option<Arc<KeySet>> {
        self.fresh_set()
    }

    /// Look up `kid` in the held set (no network).
    pub fn lookup(&self, kid: &str) -> KeyLookup {
        match self.fresh_set() {
            None => KeyLookup::Unavailable,
            Some(set) => match set.keys.get(kid) {
                Some(k) => KeyLookup::Found(k.key.clone(), set.epoch),
                None => KeyLookup::UnknownKid,
            },
        }
    }

    /// Look up `kid`; when unknown, force one refresh if the rate limit allows and wait for it within the budget.
    pub async fn lookup_or_refresh(&self, kid: &str) -> KeyLookup {
        match self.lookup(kid) {
            found @ KeyLookup::Found(..) => return found,
            KeyLookup::Unavailable if self.current.load().is_none() => {
                return KeyLookup::Unavailable;
            }
            _ => {}
        }
        if !self.reserve_forced_refresh() {
            return self.lookup(kid);
        }
        // Always there while `self` is borrowed: sources live in an `Arc` from `start` on.
        let Some(me) = self.me.upgrade() else {
            return self.lookup(kid);
        };
        // In the decision's span: the fetch it forces is traced as the decision's child.
        let job = tokio::spawn(tracing::Instrument::in_current_span(async move {
            let _guard = me.fetch_lock.lock().await;
            me.fetch_and_store().await
        }));
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
        let now = self.clock.instant();
        match *last {
            Some(t) if now.saturating_duration_since(t) < self.settings.forced_min_interval => {
                false
            }
            _ => {
                *last = Some(now);
                true
            }
        }
    }

    /// Fetch, parse, filter and store. Returns the `max-age` the endpoint asked for, if any.
    pub async fn fetch_and_store(&self) -> Result<Option<Duration>, FetchError> {
        match self.client.fetch(&self.url, &self.settings).await {
            Ok((keys, max_age)) => {
                // Same keys as a set that is still fresh: same epoch, cached decisions stay. After a stale set
                // (whose cached decisions stopped matching) the epoch moves on even for the same keys, so the
                // decisions cached before the outage are not served again: a stale set counts as a rotation.
                let prev = self.fresh_set();
                let same = prev.as_ref().is_some_and(|p| {
                    p.keys.len() == keys.len()
                        && keys.iter().all(|(kid, e)| {
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
                self.last_success_unix
                    .store(self.clock.unix(), Ordering::Relaxed);
                self.report_fetch(Outcome::Success, keys.len());
                tracing::debug!(url = %self.url, keys = keys.len(), "JWKS fetched");
                self.current.store(Some(Arc::new(KeySet {
                    keys,
                    fetched_at: self.clock.instant(),
                    epoch,
                })));
                Ok(max_age)
            }
            Err(e) => {
                self.report_fetch(Outcome::Error, 0);
                tracing::warn!(url = %self.url, error = %e, "JWKS fetch failed; keeping the last good key set");
                Err(e)
            }
        }
    }

    /// The wait before the next background refresh after a good fetch.
    fn next_refresh(&self, max_age: Option<Duration>) -> Duration {
        let base = max_age
            .map(|m| m.clamp(self.settings.min_refresh, self.settings.max_refresh))
            .unwrap_or(self.settings.refresh);
        jitter(base)
    }
}

impl KeySource for JwksSource {
    fn key<'a>(&'a self, kid: Option<&'a str>) -> KeyFuture<'a> {
        match kid {
            Some(kid) => Box::pin(self.lookup_or_refresh(kid)),
            None => Box::pin(std::future::ready(KeyLookup::UnknownKid)),
        }
    }

    /// 0 when no set is held or the held one is older than the stale bound. A cached decision carries the epoch it
    /// was made under, so once the set goes stale no cached allow matches any more, exactly as after a rotation
    /// (and a set fetched after that gets a new epoch, see `fetch_and_store`).
    fn epoch(&self) -> u64 {
        let held = self.current.load();
        held.as_deref()
            .filter(|s| self.is_fresh(s))
            .map_or(0, |s| s.epoch)
    }

    /// Whether a usable, not-too-stale key set is held.
    fn is_ready(&self) -> bool {
        self.fresh_set().is_some()
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

async fn refresher(weak: Weak<JwksSource>) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::jwks::testing::{poison, unreachable_url};
    use crate::metrics::Metrics;

    fn start(metrics: &Arc<Metrics>) -> Arc<JwksSource> {
        let settings = JwksSettings::default();
        let client = JwksClient::new(&settings).expect("client");
        JwksSource::start(
            unreachable_url(),
            client,
            settings,
            metrics.clone(),
            Arc::new(SystemClock),
        )
    }

    #[tokio::test]
    async fn a_poisoned_forced_refresh_slot_fails_that_refresh_and_is_counted() {
        let metrics = Arc::new(Metrics::new());
        let src = start(&metrics);
        poison(&src.last_forced);
        assert!(!src.reserve_forced_refresh());
        assert_eq!(metrics.internal_error_count(InternalError::JwksLock), 1);
        assert!(src.reserve_forced_refresh());
    }

    #[tokio::test]
    async fn a_poisoned_task_slot_still_stops_the_refresher() {
        let metrics = Arc::new(Metrics::new());
        let src = start(&metrics);
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
}
