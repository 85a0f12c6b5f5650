//! From the selected mode to an identity, through the caches: a JWT is looked up in the per-thread hot set and
//! the decision cache before authn verifies it; a webhook answer is reused for the `max-age` the hook gave.

use std::sync::Arc;

use super::active::Active;
use super::cache::{self, CacheEntry, HookCacheEntry};
use super::{Gate, hot};
use crate::authn::authenticator::JwtAuthenticator;
use crate::authn::reason::Deny;
use crate::authn::request::AuthRequest;
use crate::authn::session::Identity;
use crate::authn::webhook;
use crate::config::compiled::WebhookMode;
use crate::observe::CacheLookup;

impl Gate {
    /// The identity of the request's token, its `exp`, and whether it came from the cache.
    pub(super) async fn jwt_identity(
        &self,
        active: &Active,
        idx: usize,
        auth: &JwtAuthenticator,
        req: &AuthRequest<'_>,
        now: u64,
    ) -> Result<(Identity, Option<u64>, bool), Deny> {
        let token = auth.token(req, self.settings.max_token_bytes)?;
        let epoch_now = auth.epoch();
        let scope = (self.id, active.owner.id, active.generation, idx);
        if self.cache.is_some()
            && let Some(e) = hot::get(scope, token)
            && e.holds(now, epoch_now)
        {
            active.owner.series.cache(CacheLookup::Hit);
            return e.result.clone().map(|i| (i, e.exp, true));
        }
        // The key is only computed when there is a cache to use it.
        let key = self
            .cache
            .as_ref()
            .map(|_| cache::token_key(active.owner.id, active.generation, idx, token));
        if let (Some(cache), Some(key)) = (&self.cache, &key) {
            if let Some(e) = cache.get(key)
                && e.holds(now, epoch_now)
            {
                hot::put(scope, token, &e);
                active.owner.series.cache(CacheLookup::Hit);
                return e.result.clone().map(|i| (i, e.exp, true));
            }
            active.owner.series.cache(CacheLookup::Miss);
        }
        let verdict = auth.authenticate(token, now, epoch_now).await;
        if let (Some(cache), Some(key)) = (&self.cache, key) {
            let valid_until = match &verdict.result {
                Ok(_) => cache::allow_valid_until(now, self.settings.cache_ttl, verdict.exp),
                Err(d) if d.reason.is_permanent() => {
                    cache::deny_valid_until(now, self.settings.deny_cache_ttl, &key)
                }
                Err(_) => 0,
            };
            if valid_until > now {
                let entry = Arc::new(CacheEntry {
                    result: verdict.result.clone(),
                    exp: verdict.exp,
                    valid_until,
                    epoch: verdict.epoch,
                });
                hot::put(scope, token, &entry);
                cache.insert(key, entry);
            }
        }
        verdict.result.map(|i| (i, verdict.exp, false))
    }

    /// Ask the webhook (or the cache, when the hook allowed caching with `max-age`). Returns the identity, the time
    /// until which the answer may be reused (now when the hook sent no `max-age`), and whether it was a cache hit.
    pub(super) async fn webhook_identity(
        &self,
        active: &Active,
        idx: usize,
        mode: &WebhookMode,
        req: &AuthRequest<'_>,
        now: u64,
    ) -> Result<(Identity, u64, bool), Deny> {
        let hook = webhook::build_request(mode, req);
        let key = {
            let mut fp = Vec::with_capacity(256);
            hook.fingerprint(&mut fp);
            cache::hook_key(active.owner.id, active.generation, idx, &fp)
        };
        if let Some(cache) = &self.hook_cache {
            if let Some(e) = cache.get(&key)
                && e.valid_until > now
            {
                active.owner.series.cache(CacheLookup::Hit);
                return Ok((e.identity.clone(), e.valid_until, true));
            }
            active.owner.series.cache(CacheLookup::Miss);
        }
        let answer = self
            .webhook
            .call(mode, &hook, active.config.role_emulation_by.as_deref())
            .await?;
        let until = now.saturating_add(answer.max_age.unwrap_or(0).min(self.settings.cache_ttl));
        if let Some(cache) = &self.hook_cache
            && until > now
        {
            cache.insert(
                key,
                Arc::new(HookCacheEntry {
                    identity: answer.identity.clone(),
                    valid_until: until,
                }),
            );
        }
        Ok((answer.identity, until, false))
    }
}
