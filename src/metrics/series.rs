//! The series of one config: its request counters resolved once (the request path never hashes a label), and the
//! cache, key-set and reload series under its `config` label. In single-config mode the one `Series` has no
//! `config` label, so the exposition is what it was before configs had names.

use std::sync::Arc;

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGaugeVec};

use super::decision_label;
use crate::authn::reason::Reason;
use crate::observe::{CacheLookup, ConfigObserver, Outcome, Removal, Transport};

/// The families whose label set gains `config` in multi-config mode (always its first label).
pub(super) struct Families {
    pub(super) requests: IntCounterVec,
    pub(super) duration: Histogram,
    pub(super) cache_hits: IntCounterVec,
    pub(super) cache_misses: IntCounterVec,
    pub(super) jwks_refresh: IntCounterVec,
    pub(super) jwks_keys: IntGaugeVec,
    pub(super) jwks_last_success: IntGaugeVec,
    pub(super) config_reloads: IntCounterVec,
    pub(super) config_last_success: IntGaugeVec,
}

/// Which series exist from the start (dashboards see zeros, not gaps).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Preset {
    /// A config's: every outcome of a request, a load and a cache lookup; never `unknown_config`, which a request
    /// that reached a config cannot end in.
    Config,
    /// Multi-config mode's requests that name no known config: only `unknown_config`.
    Unnamed,
}

/// One config's series.
pub(super) struct Series {
    families: Arc<Families>,
    /// The `config` label value; `None` in single-config mode.
    config: Option<Box<str>>,
    /// `requests_total{decision="allow",reason="ok"}` per transport (at `Transport::index`).
    allowed: [Option<IntCounter>; 2],
    /// `requests_total` of each reason at its default status, at `[Transport::index][Reason::index]`.
    denied: [Vec<Option<IntCounter>>; 2],
    /// The cache counters (none for the requests that name no known config: they never reach a cache).
    cache: Option<(IntCounter, IntCounter)>,
}

impl Series {
    pub(super) fn new(families: Arc<Families>, config: Option<&str>, preset: Preset) -> Self {
        let config: Option<Box<str>> = config.map(Into::into);
        let with = |rest: &[&str]| -> Vec<String> {
            config
                .iter()
                .map(|c| c.to_string())
                .chain(rest.iter().map(|s| (*s).to_owned()))
                .collect()
        };
        let counter = |vec: &IntCounterVec, rest: &[&str]| {
            let labels = with(rest);
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            vec.with_label_values(&refs)
        };
        let allowed = Transport::ALL.map(|t| {
            (preset == Preset::Config)
                .then(|| counter(&families.requests, &["allow", "ok", t.as_str()]))
        });
        let denied = Transport::ALL.map(|t| {
            Reason::ALL
                .iter()
                .map(|&r| {
                    let wanted = match preset {
                        Preset::Config => r != Reason::UnknownConfig,
                        Preset::Unnamed => r == Reason::UnknownConfig,
                    };
                    wanted.then(|| {
                        counter(
                            &families.requests,
                            &[decision_label(r.status()), r.code(), t.as_str()],
                        )
                    })
                })
                .collect()
        });
        let cache = (preset == Preset::Config).then(|| {
            (
                counter(&families.cache_hits, &[]),
                counter(&families.cache_misses, &[]),
            )
        });
        if preset == Preset::Config {
            for o in Outcome::ALL {
                counter(&families.config_reloads, &[o.as_str()]);
            }
            let labels = with(&[]);
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            families.config_last_success.with_label_values(&refs);
        }
        Self {
            allowed,
            denied,
            cache,
            config,
            families,
        }
    }

    /// The label values of a series of this config: `config` first (multi-config mode), then `rest`.
    fn labels<'a>(&'a self, rest: &[&'a str]) -> Vec<&'a str> {
        self.config
            .as_deref()
            .into_iter()
            .chain(rest.iter().copied())
            .collect()
    }

    /// The key-set series exist once this config uses a key set.
    pub(super) fn preset_jwks(&self) {
        for o in Outcome::ALL {
            self.families
                .jwks_refresh
                .with_label_values(&self.labels(&[o.as_str()]));
        }
        self.families.jwks_keys.with_label_values(&self.labels(&[]));
        self.families
            .jwks_last_success
            .with_label_values(&self.labels(&[]));
    }

    fn set_jwks(&self, keys: usize, unix: u64) {
        let l = self.labels(&[]);
        self.families
            .jwks_keys
            .with_label_values(&l)
            .set(i64::try_from(keys).unwrap_or(i64::MAX));
        self.families
            .jwks_last_success
            .with_label_values(&l)
            .set(i64::try_from(unix).unwrap_or(i64::MAX));
    }
}

impl ConfigObserver for Series {
    fn decision(&self, transport: Transport, status: u16, reason: Option<Reason>, seconds: f64) {
        let t = transport.index();
        let held = match reason {
            None => self.allowed[t].as_ref(),
            Some(r) if r.status() == status => self.denied[t][r.index()].as_ref(),
            // A webhook denial carries the hook's own 401/403.
            Some(_) => None,
        };
        match held {
            Some(c) => c.inc(),
            None => {
                let (decision, code) =
                    reason.map_or(("allow", "ok"), |r| (decision_label(status), r.code()));
                self.families
                    .requests
                    .with_label_values(&self.labels(&[decision, code, transport.as_str()]))
                    .inc();
            }
        }
        self.families.duration.observe(seconds);
    }

    fn cache(&self, lookup: CacheLookup) {
        match (&self.cache, lookup) {
            (Some((hits, _)), CacheLookup::Hit) => hits.inc(),
            (Some((_, misses)), CacheLookup::Miss) => misses.inc(),
            (None, _) => {
                let vec = match lookup {
                    CacheLookup::Hit => &self.families.cache_hits,
                    CacheLookup::Miss => &self.families.cache_misses,
                };
                vec.with_label_values(&self.labels(&[])).inc();
            }
        }
    }

    fn jwks_fetch(&self, outcome: Outcome, keys: usize, unix: u64) {
        // A config's key-set series appear with its first fetch, every outcome at once.
        self.preset_jwks();
        self.families
            .jwks_refresh
            .with_label_values(&self.labels(&[outcome.as_str()]))
            .inc();
        if outcome == Outcome::Success {
            self.set_jwks(keys, unix);
        }
    }

    fn jwks_held(&self, keys: usize, unix: u64) {
        self.preset_jwks();
        self.set_jwks(keys, unix);
    }

    fn config_load(&self, outcome: Outcome, unix: u64) {
        self.families
            .config_reloads
            .with_label_values(&self.labels(&[outcome.as_str()]))
            .inc();
        if outcome == Outcome::Success {
            self.families
                .config_last_success
                .with_label_values(&self.labels(&[]))
                .set(i64::try_from(unix).unwrap_or(i64::MAX));
        }
    }

    fn config_removal(&self, stage: Removal) {
        self.families
            .config_reloads
            .with_label_values(&self.labels(&[stage.as_str()]))
            .inc();
    }
}
