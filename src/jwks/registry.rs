//! The live JWKS sources, one per URL, kept across config reloads while a config still names the URL: a reload
//! that keeps a URL keeps its key set and its refresher.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use url::Url;

use super::JwksSettings;
use super::fetch::{ClientError, JwksClient};
use super::key_source::{KeyProvider, KeySource};
use super::source::JwksSource;
use crate::clock::Clock;
use crate::observe::{ConfigObserver, InternalError, Observer};

/// The default [`KeyProvider`]: real JWKS sources sharing one HTTP client.
pub struct JwksRegistry {
    sources: Mutex<HashMap<Url, Arc<JwksSource>>>,
    /// Multi-config mode: the configs using each URL, given before a new URL's source starts so that its very
    /// first fetch is already reported under them.
    reporters: Mutex<HashMap<Url, Vec<Arc<dyn ConfigObserver>>>>,
    client: JwksClient,
    settings: JwksSettings,
    observer: Arc<dyn Observer>,
    clock: Arc<dyn Clock>,
}

impl JwksRegistry {
    pub fn new(
        settings: JwksSettings,
        observer: Arc<dyn Observer>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ClientError> {
        Ok(Self {
            sources: Mutex::new(HashMap::new()),
            reporters: Mutex::new(HashMap::new()),
            client: JwksClient::new(&settings)?,
            settings,
            observer,
            clock,
        })
    }

    fn sources(&self) -> MutexGuard<'_, HashMap<Url, Arc<JwksSource>>> {
        self.sources.lock().unwrap_or_else(|poisoned| {
            // A panic while the map was held (starting a source outside a runtime, say). The map itself is whole
            // (a panic in `or_insert_with` inserts nothing), so it is kept: an empty one would silently leave every
            // JWKS mode without keys. Logged and counted.
            tracing::error!("JWKS registry lock poisoned; keeping the sources it holds");
            self.observer.internal_error(InternalError::JwksLock);
            self.sources.clear_poison();
            poisoned.into_inner()
        })
    }
}

impl JwksRegistry {
    fn reporters(&self) -> MutexGuard<'_, HashMap<Url, Vec<Arc<dyn ConfigObserver>>>> {
        // Plain data, whole even after a panic while held.
        self.reporters.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl KeyProvider for JwksRegistry {
    /// Must run inside a tokio runtime: a new source starts its refresher.
    fn source(&self, url: &Url) -> Arc<dyn KeySource> {
        self.sources()
            .entry(url.clone())
            .or_insert_with(|| {
                let reporters = self.reporters().get(url).cloned().unwrap_or_default();
                JwksSource::start_reporting(
                    url.clone(),
                    self.client.clone(),
                    self.settings.clone(),
                    self.observer.clone(),
                    self.clock.clone(),
                    reporters,
                )
            })
            .clone()
    }

    fn retain(&self, urls: &[Url]) {
        self.sources().retain(|u, _| urls.contains(u));
        self.reporters().retain(|u, _| urls.contains(u));
    }

    fn report(&self, url: &Url, to: Vec<Arc<dyn ConfigObserver>>) {
        self.reporters().insert(url.clone(), to.clone());
        let source = self.sources().get(url).cloned();
        if let Some(s) = source {
            s.report_to(to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use crate::jwks::testing::{poison, unreachable_url};
    use crate::metrics::Metrics;

    #[tokio::test]
    async fn a_poisoned_registry_keeps_its_sources_and_is_counted() {
        let metrics = Arc::new(Metrics::new());
        let observer: Arc<dyn Observer> = metrics.clone();
        let registry = JwksRegistry::new(JwksSettings::default(), observer, Arc::new(SystemClock))
            .expect("registry");
        let url = unreachable_url();
        registry.retain(std::slice::from_ref(&url));
        let first = registry.source(&url);
        poison(&registry.sources);
        registry.retain(std::slice::from_ref(&url));
        let second = registry.source(&url);
        assert_eq!(registry.sources().len(), 1);
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!(metrics.internal_error_count(InternalError::JwksLock), 1);
        assert!(!registry.sources.is_poisoned());
    }
}
