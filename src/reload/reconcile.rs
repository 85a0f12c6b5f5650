//! The reconciler every multi-config source shares. A source reports the full picture of each scan (every
//! claimant it sees, with its text or why it has none); the reconciler applies the naming rules, loads only the
//! names whose text changed, and tells the sink. A name missing from a picture starts its removal grace; one that
//! comes back before the grace ends is reported again, which cancels the removal. Time comes from a `Clock`, so the
//! grace runs on a manual clock in tests, and `tick` (called by every scan and by the sources' timers) ends it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ConfigSink;
use crate::clock::Clock;
use crate::config::name::{Claim, assign};
use crate::config::{CompiledConfig, LoadOptions, load_str};
use crate::hash::sha256;

/// What a source found for one claimant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The config text.
    Text(String),
    /// Why there is no text (unreadable file, ConfigMap without the key): a load error for its name.
    Failed(String),
}

/// One claimant in a scan: the name it asks for, where it comes from (for messages) and what was found there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub name: String,
    pub origin: String,
    pub found: Found,
}

/// The naming verdicts of one scan's sources (`config::name::assign` of their claims).
pub fn assign_sources(sources: &[Source]) -> BTreeMap<String, Result<usize, String>> {
    let claims: Vec<Claim> = sources
        .iter()
        .map(|s| Claim {
            name: s.name.clone(),
            origin: s.origin.clone(),
        })
        .collect();
    assign(&claims)
}

/// What the sink was last told about a name, to say it again when a pending removal is cancelled.
enum Told {
    Loaded(Arc<CompiledConfig>),
    Failed(String),
}

struct Known {
    /// Digest of the text (or of the error) last handled: an unchanged one is not loaded again.
    digest: [u8; 32],
    told: Told,
    /// When the name went missing, the instant its removal takes effect.
    removal_at: Option<Instant>,
}

/// The state of one multi-config source: the names it has reported and their removal deadlines.
pub struct Reconciler {
    sink: Arc<dyn ConfigSink>,
    opts: LoadOptions,
    grace: Duration,
    clock: Arc<dyn Clock>,
    known: BTreeMap<String, Known>,
}

impl Reconciler {
    /// A reconciler reporting to `sink`, loading with `opts`, removing a vanished name after `grace`.
    pub fn new(
        sink: Arc<dyn ConfigSink>,
        opts: LoadOptions,
        grace: Duration,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            sink,
            opts,
            grace,
            clock,
            known: BTreeMap::new(),
        }
    }

    /// Take the full picture of one scan: report what changed, start the grace of what vanished, end due graces.
    pub fn scan(&mut self, sources: &[Source]) {
        let mut seen = BTreeSet::new();
        for (name, verdict) in assign_sources(sources) {
            let (found, origin) = match verdict {
                Ok(i) => (sources[i].found.clone(), sources[i].origin.as_str()),
                Err(e) => (Found::Failed(e), ""),
            };
            let digest = match &found {
                Found::Text(t) => sha256(&[b"text\0", t.as_bytes()]),
                Found::Failed(e) => sha256(&[b"error\0", e.as_bytes()]),
            };
            match self.known.get_mut(&name) {
                Some(k) if k.digest == digest => {
                    if k.removal_at.take().is_some() {
                        match &k.told {
                            Told::Loaded(c) => self.sink.config_loaded(&name, c.clone()),
                            Told::Failed(e) => self.sink.config_failed(&name, e),
                        }
                    }
                }
                _ => {
                    let told = self.load(&name, origin, found);
                    self.known.insert(
                        name.clone(),
                        Known {
                            digest,
                            told,
                            removal_at: None,
                        },
                    );
                }
            }
            seen.insert(name);
        }
        let now = self.clock.instant();
        let mut gone_now = Vec::new();
        for (name, k) in self.known.iter_mut() {
            if seen.contains(name) || k.removal_at.is_some() {
                continue;
            }
            if self.grace.is_zero() {
                gone_now.push(name.clone());
            } else {
                k.removal_at = Some(now + self.grace);
                self.sink.config_removal_pending(name);
            }
        }
        for name in gone_now {
            self.remove(&name);
        }
        self.tick();
    }

    /// End every removal grace that is over.
    pub fn tick(&mut self) {
        let now = self.clock.instant();
        let due: Vec<String> = self
            .known
            .iter()
            .filter(|(_, k)| k.removal_at.is_some_and(|at| at <= now))
            .map(|(n, _)| n.clone())
            .collect();
        for name in due {
            self.remove(&name);
        }
    }

    /// The earliest pending removal, for a source that sleeps between events.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.known.values().filter_map(|k| k.removal_at).min()
    }

    /// Names currently reported (pending removals included), in order.
    pub fn names(&self) -> Vec<String> {
        self.known.keys().cloned().collect()
    }

    fn remove(&mut self, name: &str) {
        self.known.remove(name);
        self.sink.config_removed(name);
    }

    fn load(&self, name: &str, origin: &str, found: Found) -> Told {
        let text = match found {
            Found::Text(t) => t,
            Found::Failed(e) => {
                self.sink.config_failed(name, &e);
                return Told::Failed(e);
            }
        };
        match load_str(&text, &self.opts) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    tracing::warn!(config = %name, source = origin, warning = %w, "AuthConfig warning");
                }
                self.sink.config_loaded(name, loaded.config.clone());
                Told::Loaded(loaded.config)
            }
            Err(e) => {
                let e = e.to_string();
                self.sink.config_failed(name, &e);
                Told::Failed(e)
            }
        }
    }
}

#[cfg(test)]
#[path = "reconcile_tests.rs"]
mod tests;
