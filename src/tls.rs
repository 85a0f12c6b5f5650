//! TLS shared by the admission and gRPC listeners: a certificate resolver whose key pair is swapped when its files
//! change (a rotated Secret, cert-manager) without a restart, the client-certificate verifier of a CA file, and the
//! file watcher that drives both.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{
    ClientHello, ResolvesServerCert, WebPkiClientVerifier, danger::ClientCertVerifier,
};
use rustls::sign::CertifiedKey;

/// How often watched files are read for changes.
const WATCH_PERIOD: Duration = Duration::from_secs(1);

/// A certificate resolver whose key pair is swapped when the files change.
#[derive(Debug)]
pub struct ReloadingCert {
    current: ArcSwap<CertifiedKey>,
    cert: PathBuf,
    key: PathBuf,
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

impl ReloadingCert {
    /// Load the pair now (an error if it does not load).
    pub fn load(cert: PathBuf, key: PathBuf) -> anyhow::Result<Arc<Self>> {
        Ok(Arc::new(Self {
            current: ArcSwap::from_pointee(load_cert(&cert, &key)?),
            cert,
            key,
        }))
    }

    /// Re-read the files every second and swap in a new pair when they changed and are valid; `what` names the
    /// listener in the logs. Runs until dropped.
    pub async fn watch(self: Arc<Self>, what: &'static str) {
        let files = [self.cert.clone(), self.key.clone()];
        watch_files(&files, what, || {
            self.current
                .store(Arc::new(load_cert(&self.cert, &self.key)?));
            Ok(())
        })
        .await
    }
}

/// Read and check a certificate chain and key.
pub fn load_cert(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad certificate PEM in {}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("no certificate in {}", cert.display());
    }
    let key_der = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("cannot read a private key from {}", key.display()))?;
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    CertifiedKey::from_der(chain, key_der, &provider)
        .context("the certificate and the key do not belong together")
}

/// A verifier that requires a client certificate issued by a CA in `ca` (PEM, one or more certificates).
pub fn client_verifier(ca: &Path) -> anyhow::Result<Arc<dyn ClientCertVerifier>> {
    let mut roots = RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("cannot read {}", ca.display()))?
    {
        let c = c.with_context(|| format!("bad certificate PEM in {}", ca.display()))?;
        roots
            .add(c)
            .with_context(|| format!("a certificate in {} is not a usable CA", ca.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!("no certificate in {}", ca.display());
    }
    WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
    )
    .build()
    .with_context(|| format!("cannot verify client certificates with {}", ca.display()))
}

/// A server config on aws-lc-rs with the safe protocol versions, serving `cert`, verifying clients with `clients`
/// when given, and offering `alpn`.
pub fn server_config(
    cert: Arc<ReloadingCert>,
    clients: Option<Arc<dyn ClientCertVerifier>>,
    alpn: &[&[u8]],
) -> anyhow::Result<rustls::ServerConfig> {
    let builder = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?;
    let mut config = match clients {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    }
    .with_cert_resolver(cert);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// Every second, read `files`; when their bytes changed, call `reload`, and keep the new bytes only when it
/// succeeded, so that a half-written set (the certificate updated before its key) is retried on the next tick.
pub async fn watch_files(
    files: &[PathBuf],
    what: &'static str,
    mut reload: impl FnMut() -> anyhow::Result<()>,
) {
    // Only a change detector: an unreadable file is "no bytes", and `reload` reports why it fails.
    let read = |files: Vec<PathBuf>| -> Vec<Option<Vec<u8>>> {
        files.iter().map(|f| std::fs::read(f).ok()).collect()
    };
    let mut last = read(files.to_vec());
    loop {
        tokio::time::sleep(WATCH_PERIOD).await;
        let list = files.to_vec();
        let now = match tokio::task::spawn_blocking(move || read(list)).await {
            Ok(now) => now,
            Err(e) => {
                tracing::error!(listener = what, error = %e, "certificate reader task failed; retrying");
                continue;
            }
        };
        if now == last {
            continue;
        }
        match reload() {
            Ok(()) => {
                last = now;
                tracing::info!(listener = what, "TLS files reloaded");
            }
            Err(e) => tracing::warn!(
                listener = what,
                error = format!("{e:#}"),
                "new TLS files not usable yet; keeping the current ones"
            ),
        }
    }
}
