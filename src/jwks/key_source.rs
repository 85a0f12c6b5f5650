//! The interface between authn and the keys: a [`KeySource`] answers, for a token's `kid`, the key, the algorithms
//! it accepts and the epoch of the set it came from; a [`KeyProvider`] hands out the source of each JWKS URL a
//! config names. The epoch is what the decision cache keys its entries on: a decision made under one epoch is not
//! served under another.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};
use url::Url;

use crate::observe::ConfigObserver;

pub use super::verifying_key::VerifyingKey;

/// What a lookup found.
pub enum KeyLookup {
    /// The key, and the epoch of the set it came from.
    Found(Arc<VerifyingKey>, u64),
    /// A key set is held but has no such `kid`.
    UnknownKid,
    /// No usable key set is held.
    Unavailable,
}

/// A lookup in progress. Boxed: lookups run only for tokens the decision cache does not hold, where the
/// signature check costs far more than the allocation.
pub type KeyFuture<'a> = Pin<Box<dyn Future<Output = KeyLookup> + Send + 'a>>;

/// Where the keys of one JWT mode come from.
pub trait KeySource: Send + Sync {
    /// The key for `kid`. A source keyed by `kid` answers `UnknownKid` for `None`; it may fetch (the JWKS source
    /// forces one rate-limited refresh for an unknown `kid`).
    fn key<'a>(&'a self, kid: Option<&'a str>) -> KeyFuture<'a>;
    /// The epoch of the keys held now (0 when none are usable). Read on every request, so it must not allocate.
    fn epoch(&self) -> u64;
    /// Whether a usable key is held (readiness).
    fn is_ready(&self) -> bool;
}

/// The key sources of JWKS URLs, kept across config loads.
pub trait KeyProvider: Send + Sync {
    /// The source of `url`: the one held, or a new one.
    fn source(&self, url: &Url) -> Arc<dyn KeySource>;
    /// Drop the sources of every URL not in `urls` (called once per config load with all the URLs in use: in
    /// multi-config mode, those of every config).
    fn retain(&self, urls: &[Url]);
    /// Multi-config mode: report the fetches of `url`'s key set under each of `to` (the configs using it).
    fn report(&self, _url: &Url, _to: Vec<Arc<dyn ConfigObserver>>) {}
}

/// A key given in the config: one algorithm, always held, epoch 0.
pub struct FixedKey {
    key: Arc<VerifyingKey>,
}

impl FixedKey {
    pub fn new(algorithm: Algorithm, key: DecodingKey) -> Self {
        Self {
            key: Arc::new(VerifyingKey::new(key, vec![algorithm])),
        }
    }
}

impl KeySource for FixedKey {
    fn key<'a>(&'a self, _kid: Option<&'a str>) -> KeyFuture<'a> {
        Box::pin(std::future::ready(KeyLookup::Found(self.key.clone(), 0)))
    }

    fn epoch(&self) -> u64 {
        0
    }

    fn is_ready(&self) -> bool {
        true
    }
}
