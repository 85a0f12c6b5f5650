//! One JWT mode's whole pipeline, from a token to an identity or a denial: the token header, the key from the
//! mode's key source, the signature and registered claims, the Hasura claims, the identity. Built once per config
//! load; the gate calls it for tokens its decision cache does not hold.

use std::sync::Arc;

use super::claims::identity_from_claims;
use super::jwt::{self, Verifier};
use super::reason::{Deny, Reason};
use super::request::AuthRequest;
use super::session::Identity;
use super::token;
use crate::config::compiled::{JwtKeySource, JwtMode};
use crate::jwks::{KeyLookup, KeySource};

/// A verification's outcome and what the decision cache keeps it under.
pub struct Verdict {
    pub result: Result<Identity, Deny>,
    /// The token's `exp` (only for a verified token).
    pub exp: Option<u64>,
    /// The key-set epoch the outcome holds for.
    pub epoch: u64,
}

/// The JWT pipeline of one mode.
pub struct JwtAuthenticator {
    mode: Arc<JwtMode>,
    verifier: Verifier,
    keys: Arc<dyn KeySource>,
    /// Keys are chosen by the token's `kid` (a JWKS): the `kid` is required, and undecodable headers get the
    /// Hasura engine's JWKS messages.
    by_kid: bool,
    emulation_by: Option<String>,
}

impl JwtAuthenticator {
    /// The pipeline of `mode`, with its keys from `keys` and the config's v1 `allowRoleEmulationBy`.
    pub fn new(mode: Arc<JwtMode>, keys: Arc<dyn KeySource>, emulation_by: Option<&str>) -> Self {
        Self {
            verifier: Verifier::new(&mode),
            by_kid: matches!(mode.key, JwtKeySource::JwksUrl(_)),
            mode,
            keys,
            emulation_by: emulation_by.map(str::to_owned),
        }
    }

    /// The token at the mode's location, at most `max_bytes` long.
    pub fn token<'a>(&self, req: &AuthRequest<'a>, max_bytes: usize) -> Result<&'a str, Deny> {
        token::extract(req, &self.mode.token_location, max_bytes)
    }

    /// The epoch of the keys held now.
    pub fn epoch(&self) -> u64 {
        self.keys.epoch()
    }

    /// Whether the mode's keys are held.
    pub fn is_ready(&self) -> bool {
        self.keys.is_ready()
    }

    /// Verify `token` at Unix time `now` and build its identity. The verdict's epoch is the epoch of the key used,
    /// or, for a denial decided before any key was looked up (the token header), `epoch_now`, the epoch the cache
    /// lookup was made under, so that the next identical request finds it; 0 when no key could be had (an unknown
    /// `kid`, no usable set).
    pub async fn authenticate(&self, token: &str, now: u64, epoch_now: u64) -> Verdict {
        let deny = |d: Deny, epoch: u64| Verdict {
            result: Err(d),
            exp: None,
            epoch,
        };
        let parsed = match jwt::parse_header_full(token, self.by_kid) {
            Ok(h) => h,
            Err(e) => return deny(e, epoch_now),
        };
        let kid = parsed.header.kid.as_deref();
        if self.by_kid && kid.is_none() {
            let d = Deny::new(
                Reason::MalformedToken,
                "`kid` (Key ID) header claim not found in the header",
            );
            return deny(d, epoch_now);
        }
        let (key, epoch) = match self.keys.key(kid).await {
            KeyLookup::Found(k, e) => (k, e),
            KeyLookup::UnknownKid => {
                let d = Deny::new(
                    Reason::UnknownKid,
                    format!(
                        "No matching JWK found for the given kid: {}",
                        kid.unwrap_or_default()
                    ),
                );
                return deny(d, 0);
            }
            KeyLookup::Unavailable => {
                let d = Deny::new(
                    Reason::JwksUnavailable,
                    "Error while fetching the JWKSet: no key set is available",
                );
                return deny(d, 0);
            }
        };
        let payload = match self.verifier.verify_prepared(token, &parsed, &key, now) {
            Ok(p) => p,
            Err(e) => return deny(e, epoch),
        };
        Verdict {
            result: identity_from_claims(&self.mode.claims, &payload, self.emulation_by.as_deref()),
            exp: jwt::exp_of(&payload),
            epoch,
        }
    }
}
