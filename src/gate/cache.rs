//! What the decision cache and the webhook-answer cache hold, under which keys, and for how long. Keys cover
//! everything that decides the answer besides the key-set epoch, which each entry carries and which is compared
//! on every hit.

use crate::authn::reason::Deny;
use crate::authn::session::Identity;
use crate::hash::sha256;

/// A cached JWT outcome: an identity or a permanent denial.
pub(super) struct CacheEntry {
    pub(super) result: Result<Identity, Deny>,
    pub(super) exp: Option<u64>,
    pub(super) valid_until: u64,
    pub(super) epoch: u64,
}

impl CacheEntry {
    /// Whether the entry still answers at `now` under key-set epoch `epoch`.
    #[inline]
    pub(super) fn holds(&self, now: u64, epoch: u64) -> bool {
        self.valid_until > now && self.epoch == epoch
    }
}

/// A webhook's allow, reusable for the `max-age` it gave.
pub(super) struct HookCacheEntry {
    pub(super) identity: Identity,
    pub(super) valid_until: u64,
}

/// The decision-cache key of a token: config (its id in multi-config mode, 0 otherwise), generation, mode, token.
pub(super) fn token_key(config: u64, generation: u64, mode: usize, token: &str) -> [u8; 32] {
    sha256(&[
        &config.to_le_bytes(),
        &generation.to_le_bytes(),
        &(mode as u64).to_le_bytes(),
        token.as_bytes(),
    ])
}

/// The webhook-cache key of a hook request: config id, generation, mode, the request's fingerprint.
pub(super) fn hook_key(config: u64, generation: u64, mode: usize, fingerprint: &[u8]) -> [u8; 32] {
    sha256(&[
        &config.to_le_bytes(),
        &generation.to_le_bytes(),
        &(mode as u64).to_le_bytes(),
        fingerprint,
    ])
}

/// Until when a verified token's identity stays cached: `ttl` from now, and never past the token's `exp`.
pub(super) fn allow_valid_until(now: u64, ttl: u64, exp: Option<u64>) -> u64 {
    let ttl_end = now.saturating_add(ttl);
    exp.map_or(ttl_end, |e| e.min(ttl_end))
}

/// Until when a permanent denial stays cached: `ttl` plus up to half of it again, spread by the token's cache key.
/// A client spraying many bad tokens at once would otherwise have all of them expire, and be verified again, in the
/// same second; spread over half a TTL, the re-verifications no longer arrive as one burst that stalls a worker.
pub(super) fn deny_valid_until(now: u64, ttl: u64, key: &[u8; 32]) -> u64 {
    let spread = u64::from(key[0]).saturating_mul(ttl / 2) / 255;
    now.saturating_add(ttl).saturating_add(spread)
}

#[cfg(test)]
mod tests {
    use super::{deny_valid_until, token_key};

    #[test]
    fn cached_denials_expire_spread_over_half_a_ttl() {
        let now = 1_000;
        let ends: Vec<u64> = (0..10_000)
            .map(|i| deny_valid_until(now, 10, &token_key(0, 1, 0, &format!("bad-token-{i}"))))
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
}
