//! Keys for JWT verification. authn asks a [`KeySource`] for the key of a token's `kid`; behind it sits either a
//! [`FixedKey`] from the config or a [`JwksSource`]: a key set fetched over HTTPS, parsed and filtered once per
//! fetch, held in an `ArcSwap`, refreshed in the background (`Cache-Control: max-age` clamped) and kept on error
//! up to a maximum staleness. A request fetches only when its `kid` is unknown: one forced refresh (single-flight,
//! at most one per `forced_min_interval`), waited for at most `forced_budget`; every other request answers from the
//! held set. The [`JwksRegistry`] keeps one source per URL across config reloads; the gate reaches it through the
//! [`KeyProvider`] seam, so a test (or `explain`) can hand it other sources.
//!
//! Files: `key_source` (the interface and the fixed key), `source` (fetch-and-store, background and forced
//! refresh), `fetch` (the HTTP client and one GET), `parse` (JWK parsing and filtering), `registry`, `verifying_key`
//! (a key with its aws-lc-rs verification keys, built once).

mod fetch;
mod key_source;
mod parse;
mod registry;
mod source;
mod verifying_key;

#[cfg(test)]
mod fairness_tests;

use std::time::Duration;

pub use fetch::{ClientError, FetchError, JwksClient};
pub use key_source::{FixedKey, KeyFuture, KeyLookup, KeyProvider, KeySource, VerifyingKey};
pub use parse::{JwkEntry, parse_jwks};
pub use registry::JwksRegistry;
pub use source::{JwksSource, KeySet};

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

/// Shared by the unit tests of the source and the registry.
#[cfg(test)]
mod testing {
    use std::sync::Mutex;

    use url::Url;

    /// Poison `m` by panicking while it is held.
    pub(super) fn poison<T>(m: &Mutex<T>) {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _held = m.lock();
            panic!("poisoning the lock on purpose");
        }));
        assert!(r.is_err());
        assert!(m.is_poisoned());
    }

    pub(super) fn unreachable_url() -> Url {
        Url::parse("http://127.0.0.1:9/jwks.json").expect("static URL")
    }
}
