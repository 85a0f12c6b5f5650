//! Multi-config mode: the named configs, each a slot holding its own snapshot (`Active`), swapped independently,
//! and the gate's side of a reload (`config_loaded`, `config_failed`, `config_removal_pending`, `config_removed`,
//! the methods of `reload::ConfigSink`). A request finds its slot in a table sorted by name, read without a lock
//! and replaced whole when a config appears or goes; a slot keeps its last good version when a new one fails.
//!
//! Key sets are shared: every config naming a `jwkFromUrl` uses the registry's one source (and one refresher) for
//! it, the registry keeps the union of every config's URLs, and each source reports its fetches under every config
//! using it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use arc_swap::{ArcSwap, ArcSwapOption};
use url::Url;

use super::active::{Active, Owner};
use super::{Gate, Target};
use crate::config::CompiledConfig;
use crate::config::compiled::{JwtKeySource, Mode};
use crate::observe::{ConfigObserver, Outcome, Removal};

/// Longest last error kept for `/readyz`, in bytes.
const LAST_ERROR_MAX: usize = 2048;

/// The named configs of a multi-config gate.
#[derive(Default)]
pub(super) struct Named {
    /// Sorted by name.
    table: ArcSwap<Vec<Arc<Slot>>>,
    /// Serialises changes: each builds a new table and the union of key sets from the one before.
    write: Mutex<()>,
    /// Ids of slots, process-unique within this gate; 0 is single-config mode's.
    next_id: AtomicU64,
}

/// One named config.
pub(super) struct Slot {
    pub(super) name: Arc<str>,
    id: u64,
    series: Arc<dyn ConfigObserver>,
    /// The last good version; `None` until one loads.
    active: ArcSwapOption<Active>,
    state: Mutex<SlotState>,
}

#[derive(Default, Clone)]
pub(super) struct SlotState {
    /// Gone from its source; served until the grace period ends.
    pub(super) removal_pending: bool,
    /// Why the newest version did not load (cleared by a good load).
    pub(super) last_error: Option<String>,
}

impl Slot {
    pub(super) fn state(&self) -> MutexGuard<'_, SlotState> {
        // Plain data, whole even after a panic while held.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn active(&self) -> Option<Arc<Active>> {
        self.active.load_full()
    }
}

impl Named {
    fn lock(&self) -> MutexGuard<'_, ()> {
        self.write.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The slots, sorted by name.
    pub(super) fn slots(&self) -> Arc<Vec<Arc<Slot>>> {
        self.table.load_full()
    }

    /// Where a request naming `name` goes. The table is read without taking a reference on it; only the chosen
    /// snapshot is cloned.
    pub(super) fn target(&self, name: Option<&[u8]>) -> Target {
        let Some(name) = name else {
            return Target::Unknown;
        };
        let table = self.table.load();
        match find(&table, name) {
            Ok(i) => {
                let slot = &table[i];
                match slot.active.load_full() {
                    Some(active) => Target::Active(Some(active), None),
                    None => Target::Active(None, Some(slot.series.clone())),
                }
            }
            Err(_) => Target::Unknown,
        }
    }

    pub(super) fn any_usable(&self) -> bool {
        self.table
            .load()
            .iter()
            .any(|s| s.active.load().as_ref().is_some_and(|a| a.keys_ready()))
    }

    pub(super) fn any_loaded(&self) -> bool {
        self.table.load().iter().any(|s| s.active.load().is_some())
    }
}

fn find(table: &[Arc<Slot>], name: &[u8]) -> Result<usize, usize> {
    table.binary_search_by(|s| s.name.as_bytes().cmp(name))
}

/// A config name a request gave, for a log line: at most 63 bytes (a DNS label's length), escaped.
pub(super) fn log_name(name: &[u8]) -> String {
    name[..name.len().min(63)].escape_ascii().to_string()
}

/// `s` cut to at most `max` bytes, at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Gate {
    fn named(&self, what: &str) -> Option<&Named> {
        if self.named.is_none() {
            tracing::error!(
                call = what,
                "a named config change reached a single-config gate; ignored"
            );
        }
        self.named.as_ref()
    }

    /// The slot of `name`, created (with no version loaded) when it is new. Called with the write lock held.
    fn slot(&self, named: &Named, name: &str) -> Arc<Slot> {
        let table = named.table.load_full();
        match find(&table, name.as_bytes()) {
            Ok(i) => table[i].clone(),
            Err(at) => {
                let slot = Arc::new(Slot {
                    name: name.into(),
                    id: named.next_id.fetch_add(1, Ordering::Relaxed) + 1,
                    series: self.observer.config(name),
                    active: ArcSwapOption::empty(),
                    state: Mutex::default(),
                });
                let mut next = Vec::clone(&table);
                next.insert(at, slot.clone());
                named.table.store(Arc::new(next));
                slot
            }
        }
    }

    /// A version of config `name` loaded: it replaces that config's snapshot (and only that one: the caches of
    /// the others stay). Must run inside a tokio runtime (JWKS refreshers are spawned).
    pub fn config_loaded(&self, name: &str, config: Arc<CompiledConfig>) {
        let Some(named) = self.named("config_loaded") else {
            return;
        };
        let _w = named.lock();
        let slot = self.slot(named, name);
        // Key sets first: a source this version starts reports its first fetch under every config using it.
        self.sync_key_sets(named, Some((&slot, &config)));
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let owner = Owner {
            name: Some(slot.name.clone()),
            id: slot.id,
            series: slot.series.clone(),
        };
        let active = Active::build(generation, config, self.keys.as_ref(), owner);
        slot.active.store(Some(Arc::new(active)));
        let pending = {
            let mut st = slot.state();
            st.last_error = None;
            std::mem::take(&mut st.removal_pending)
        };
        self.warn_open_shared_key_sets(named, &slot);
        slot.series.config_load(Outcome::Success, self.clock.unix());
        tracing::info!(
            config = name,
            generation,
            removal_cancelled = pending,
            "AuthConfig loaded"
        );
    }

    /// A version of config `name` failed to load: its last good version keeps serving; one that never loaded
    /// answers `503 no_config`. `error` is the loader's message (shown in `/readyz`).
    pub fn config_failed(&self, name: &str, error: &str) {
        let Some(named) = self.named("config_failed") else {
            return;
        };
        let _w = named.lock();
        let slot = self.slot(named, name);
        slot.state().last_error = Some(cut(error, LAST_ERROR_MAX).to_owned());
        slot.series.config_load(Outcome::Error, self.clock.unix());
        if slot.active.load().is_some() {
            tracing::error!(
                config = name,
                error,
                "AuthConfig rejected; its last good version keeps serving"
            );
        } else {
            tracing::error!(
                config = name,
                error,
                "AuthConfig rejected; requests naming it answer 503 no_config"
            );
        }
    }

    /// Config `name` is gone from its source: it keeps serving (grace period) until [`Gate::config_removed`].
    pub fn config_removal_pending(&self, name: &str) {
        let Some(named) = self.named("config_removal_pending") else {
            return;
        };
        let _w = named.lock();
        let table = named.table.load();
        let Ok(i) = find(&table, name.as_bytes()) else {
            tracing::warn!(
                config = name,
                "removal of a config that is not held; ignored"
            );
            return;
        };
        table[i].state().removal_pending = true;
        table[i].series.config_removal(Removal::Pending);
        tracing::warn!(
            config = name,
            "AuthConfig removed from its source; still served until the grace period ends"
        );
    }

    /// The grace period of config `name` is over: requests naming it answer `503 unknown_config`, and key sets no
    /// other config uses are dropped.
    pub fn config_removed(&self, name: &str) {
        let Some(named) = self.named("config_removed") else {
            return;
        };
        let _w = named.lock();
        let table = named.table.load_full();
        let Ok(i) = find(&table, name.as_bytes()) else {
            tracing::warn!(
                config = name,
                "removal of a config that is not held; ignored"
            );
            return;
        };
        let mut next = Vec::clone(&table);
        let slot = next.remove(i);
        named.table.store(Arc::new(next));
        self.sync_key_sets(named, None);
        slot.series.config_removal(Removal::Removed);
        tracing::warn!(
            config = name,
            "AuthConfig removed; requests naming it answer 503 unknown_config"
        );
    }

    /// Keep the key sets of every served version (the union, not only the last loaded config's) and report each
    /// under every config using it; `loading` is a version about to replace its slot's. Called with the write lock
    /// held.
    fn sync_key_sets(&self, named: &Named, loading: Option<(&Slot, &CompiledConfig)>) {
        let mut users: BTreeMap<Url, Vec<Arc<dyn ConfigObserver>>> = BTreeMap::new();
        for slot in named.table.load().iter() {
            let urls = match loading {
                Some((l, config)) if l.id == slot.id => config.jwks_urls(),
                _ => slot
                    .active
                    .load()
                    .as_ref()
                    .map_or_else(Vec::new, |a| a.config.jwks_urls()),
            };
            for url in urls {
                users.entry(url).or_default().push(slot.series.clone());
            }
        }
        let urls: Vec<Url> = users.keys().cloned().collect();
        self.keys.retain(&urls);
        for (url, to) in users {
            self.keys.report(&url, to);
        }
    }

    /// Two configs that share a key set and neither of which checks `issuer` or `audience` accept each other's
    /// tokens: a load warning naming both.
    fn warn_open_shared_key_sets(&self, named: &Named, loaded: &Slot) {
        for (other, url) in open_shared_key_sets(named, loaded) {
            tracing::warn!(
                config = &*loaded.name,
                other = &*other,
                jwks_url = %url,
                "two configs share a key set and neither checks issuer nor audience: each accepts the other's tokens"
            );
        }
    }
}

/// The other configs sharing a key set with `loaded` where neither checks `issuer` or `audience`, with that key
/// set's URL.
pub(super) fn open_shared_key_sets(named: &Named, loaded: &Slot) -> Vec<(Arc<str>, Url)> {
    let mut out = Vec::new();
    let Some(active) = loaded.active.load_full() else {
        return out;
    };
    let mine = open_jwks_urls(&active.config);
    if mine.is_empty() {
        return out;
    }
    for other in named.table.load().iter() {
        if other.id == loaded.id {
            continue;
        }
        let Some(theirs) = other.active.load_full() else {
            continue;
        };
        for url in open_jwks_urls(&theirs.config) {
            if mine.contains(&url) {
                out.push((other.name.clone(), url));
            }
        }
    }
    out
}

/// The JWKS URLs of `config`'s JWT modes that check neither `issuer` nor `audience`.
fn open_jwks_urls(config: &CompiledConfig) -> Vec<Url> {
    let alts = config.alternative_modes.iter().flatten().map(|(_, m)| m);
    let mut out = Vec::new();
    for m in std::iter::once(&config.mode).chain(alts) {
        if let Mode::Jwt(j) = m
            && let JwtKeySource::JwksUrl(u) = &j.key
            && j.issuer.is_none()
            && j.audience.is_none()
            && !out.contains(u)
        {
            out.push(u.clone());
        }
    }
    out
}
