//! `up --tls-cert FILE --tls-key FILE` (or `SPIN_TLS_CERT` and `SPIN_TLS_KEY`), as on
//! Spin: the app is served over HTTPS with that certificate chain and key (PEM).
//! HTTP/2 and HTTP/1.1 are offered by ALPN (Spin offers no ALPN, so its clients speak
//! HTTP/1.1 over TLS).

use anyhow::Context;
use std::path::Path;
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// The acceptor for `cert` and `key`; errors name the flag and the file.
pub fn acceptor(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let chain = crate::client_tls::read_certs(cert).context("--tls-cert")?;
    let key = crate::client_tls::read_key(key).context("--tls-key")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("--tls-cert and --tls-key do not make a pair")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
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
