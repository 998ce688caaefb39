//! `up --tls-cert FILE --tls-key FILE` (or `SPIN_TLS_CERT` and `SPIN_TLS_KEY`), as on
//! Spin: the app is served over HTTPS with that certificate chain and key (PEM).
//! HTTP/2 and HTTP/1.1 are offered by ALPN (Spin offers no ALPN, so its clients speak
//! HTTP/1.1 over TLS).
//!
//! SIGHUP re-reads both files (a renewed certificate, without a restart): new
//! handshakes get the new pair, connections already open keep theirs. A pair that
//! cannot be used is logged and the one in service stays.

use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;

/// The serving certificate and key, as last read from their files.
#[derive(Debug)]
pub struct ServingCert {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<rustls::crypto::CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl ServingCert {
    /// Reads the pair from `cert` and `key`; errors name the flag and the file.
    fn load(cert: &Path, key: &Path) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let current = read_pair(cert, key, &provider)?;
        Ok(Self {
            cert: cert.to_path_buf(),
            key: key.to_path_buf(),
            provider,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// Reads both files again; the pair in service changes only if they make one.
    pub fn reload(&self) -> anyhow::Result<()> {
        let pair = read_pair(&self.cert, &self.key, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(pair);
        Ok(())
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

fn read_pair(
    cert: &Path,
    key: &Path,
    provider: &rustls::crypto::CryptoProvider,
) -> anyhow::Result<CertifiedKey> {
    let chain = crate::client_tls::read_certs(cert).context("--tls-cert")?;
    let key = crate::client_tls::read_key(key).context("--tls-key")?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .context("--tls-key")?;
    let pair = CertifiedKey::new(chain, signing);
    pair.keys_match()
        .context("--tls-cert and --tls-key do not make a pair")?;
    Ok(pair)
}

/// The acceptor for `cert` and `key`, and the pair it serves (to reload).
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<(TlsAcceptor, Arc<ServingCert>)> {
    let serving = Arc::new(ServingCert::load(cert, key)?);
    let mut config = rustls::ServerConfig::builder_with_provider(serving.provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(serving.clone());
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok((TlsAcceptor::from(Arc::new(config)), serving))
}

/// Reloads `serving` on every SIGHUP, logging what came of it.
pub fn reload_on_hangup(serving: Arc<ServingCert>) -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut hangups = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    tokio::spawn(async move {
        while hangups.recv().await.is_some() {
            match serving.reload() {
                Ok(()) => crate::log::event(
                    "tls_reloaded",
                    &[("cert", &serving.cert.display().to_string())],
                ),
                Err(e) => crate::log::event(
                    "tls_reload_failed",
                    &[
                        ("error", &format!("{e:#}")),
                        ("detail", "the certificate in service stays"),
                    ],
                ),
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_that_cannot_be_read_is_named_with_its_flag() {
        let error = acceptor(
            Path::new("/nonexistent/cert.pem"),
            Path::new("/nonexistent/key.pem"),
        );
        let error = format!("{:#}", error.err().expect("refused"));
        assert!(error.starts_with("--tls-cert: "), "{error}");
        assert!(error.contains("/nonexistent/cert.pem"), "{error}");
    }
}
