//! A small per-thread set of the tokens decided most recently, compared byte for byte: a token that repeats (one
//! user's burst, a service token) skips the SHA-256 of the shared cache's key. Entries are the shared cache's own
//! entries, checked for config, generation, mode, expiry and key-set epoch exactly like them.

use std::cell::RefCell;
use std::sync::Arc;

use super::cache::CacheEntry;

const SLOTS: usize = 64;

/// Gate id, config id (0 in single-config mode), config generation, mode index.
pub(super) type Scope = (u64, u64, u64, usize);
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
