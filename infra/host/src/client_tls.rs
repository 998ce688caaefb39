//! `[[client_tls]]` of the runtime config, as Spin reads it: for the components and
//! hosts an entry names, the roots a server's certificate is checked against and the
//! client certificate presented (mutual TLS). The first entry naming a component and a
//! host governs that component's HTTPS calls to the host; calls no entry governs check
//! servers against the platform's roots and webpki's, as on Spin.
//!
//! Every entry has its own connection pool in the outbound client, so a connection
//! opened with one entry's client certificate is never reused for a call that another
//! entry, or the default, governs. (Spin 4.1 shares one pool, where a component could
//! reuse a connection another component's certificate authenticated.)
//!
//! The host's own clients (`config push`, the OTLP exporter) build their TLS here too.

use anyhow::{Context, bail, ensure};
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

/// One `[[client_tls]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientTlsToml {
    component_ids: Vec<String>,
    hosts: Vec<String>,
    ca_use_platform_roots: Option<bool>,
    ca_use_webpki_roots: Option<bool>,
    ca_roots_file: Option<PathBuf>,
    client_cert_file: Option<PathBuf>,
    client_private_key_file: Option<PathBuf>,
}

/// An entry with its files read and its TLS configuration built. Its `Debug` leaves
/// the configuration out: it holds the client's private key.
#[derive(Clone)]
struct Entry {
    components: Vec<String>,
    /// Lowercase, without port.
    hosts: Vec<String>,
    config: rustls::ClientConfig,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("components", &self.components)
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

impl ClientTlsToml {
    /// Reads the entry's files, relative to `dir`, and builds its configuration.
    fn load(&self, dir: &Path) -> anyhow::Result<Entry> {
        ensure!(
            !self.component_ids.is_empty(),
            "`component_ids` may not be empty"
        );
        ensure!(!self.hosts.is_empty(), "`hosts` may not be empty");
        let hosts = self
            .hosts
            .iter()
            .enumerate()
            .map(|(i, h)| host_name(h).with_context(|| format!("hosts[{i}]")))
            .collect::<anyhow::Result<_>>()?;
        // Spin's defaults: the platform's roots unless a roots file is given, webpki's
        // only when asked for.
        let (platform, webpki) = match (self.ca_use_platform_roots, self.ca_use_webpki_roots) {
            (Some(platform), Some(webpki)) => (platform, webpki),
            (Some(platform), None) => (platform, false),
            (None, Some(webpki)) => (false, webpki),
            (None, None) => (self.ca_roots_file.is_none(), false),
        };
        let files = match &self.ca_roots_file {
            Some(path) => read_certs(&dir.join(path)).context("ca_roots_file")?,
            None => Vec::new(),
        };
        ensure!(
            platform || webpki || !files.is_empty(),
            "no roots to check a server's certificate against: set `ca_roots_file`, \
             `ca_use_platform_roots` or `ca_use_webpki_roots`"
        );
        let identity = match (&self.client_cert_file, &self.client_private_key_file) {
            (Some(cert), Some(key)) => Some((
                read_certs(&dir.join(cert)).context("client_cert_file")?,
                read_key(&dir.join(key)).context("client_private_key_file")?,
            )),
            (None, None) => None,
            (Some(_), None) => bail!("`client_cert_file` needs `client_private_key_file`"),
            (None, Some(_)) => bail!("`client_private_key_file` needs `client_cert_file`"),
        };
        let roots = roots(platform, webpki, files).context("ca_roots_file")?;
        let config = client_config(roots, identity)
            .context("client_cert_file and client_private_key_file")?;
        Ok(Entry {
            components: self.component_ids.clone(),
            hosts,
            config,
        })
    }
}

/// A host as Spin takes it: a name or address, no port, no user.
fn host_name(host: &str) -> anyhow::Result<String> {
    let authority: http::uri::Authority = host
        .parse()
        .with_context(|| format!("`{host}` is not a host name"))?;
    ensure!(
        authority.port().is_none(),
        "`{host}`: a host without port (a port is not supported)"
    );
    ensure!(
        authority.as_str() == authority.host(),
        "`{host}` is not a host name"
    );
    Ok(host.to_ascii_lowercase())
}

/// Every certificate in a PEM file; none is an error.
pub fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("cannot read certificates from {}", path.display()))?;
    ensure!(!certs.is_empty(), "no certificate in {}", path.display());
    Ok(certs)
}

pub fn read_key(path: &Path) -> anyhow::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path)
        .with_context(|| format!("cannot read a private key from {}", path.display()))
}

fn roots(
    platform: bool,
    webpki: bool,
    files: Vec<CertificateDer<'static>>,
) -> anyhow::Result<RootCertStore> {
    let mut store = RootCertStore::empty();
    if platform {
        store.add_parsable_certificates(platform_roots().iter().cloned());
    }
    if webpki {
        store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    for cert in files {
        store
            .add(cert)
            .context("a certificate is not usable as a root")?;
    }
    Ok(store)
}

/// The system's trusted certificates, read once. A store that cannot be read is
/// logged and leaves the other roots.
fn platform_roots() -> &'static [CertificateDer<'static>] {
    static ROOTS: OnceLock<Vec<CertificateDer<'static>>> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for error in &found.errors {
            crate::log::event(
                "platform_roots",
                &[(
                    "detail",
                    &format!("cannot read trusted certificates: {error}"),
                )],
            );
        }
        found.certs
    })
}

/// A client certificate chain and its private key.
pub type Identity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_config(
    roots: RootCertStore,
    identity: Option<Identity>,
) -> anyhow::Result<rustls::ClientConfig> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots);
    Ok(match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .context("the client certificate and private key do not make a pair")?,
        None => builder.with_no_client_auth(),
    })
}

/// The configuration of calls no entry governs: the platform's roots and webpki's.
pub fn default_config() -> anyhow::Result<rustls::ClientConfig> {
    own_client_config(None, None)
}

/// The configuration of one of the host's own clients (`config push`, the OTLP
/// exporter): the `roots` given, else the default's; `identity` presented when a
/// server asks for a client certificate.
pub fn own_client_config(
    roots_given: Option<Vec<CertificateDer<'static>>>,
    identity: Option<Identity>,
) -> anyhow::Result<rustls::ClientConfig> {
    let roots = match roots_given {
        Some(certs) => roots(false, false, certs)?,
        None => roots(true, true, Vec::new())?,
    };
    client_config(roots, identity)
}

/// An HTTP/1.1 connector for one of the host's own clients, HTTPS with `tls`.
pub fn own_client_connector(
    tls: rustls::ClientConfig,
    http: hyper_util::client::legacy::connect::HttpConnector,
) -> hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector> {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http)
}

/// Every `[[client_tls]]` entry, loaded, in the file's order.
#[derive(Debug, Clone, Default)]
pub struct ClientTls {
    entries: Vec<Entry>,
}

impl ClientTls {
    pub fn load(entries: &[ClientTlsToml], dir: &Path) -> anyhow::Result<Self> {
        let entries = entries
            .iter()
            .enumerate()
            .map(|(i, e)| {
                e.load(dir)
                    .with_context(|| format!("[[client_tls]] {}", i + 1))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { entries })
    }

    /// Fails naming the first component an entry names that `exists` does not know: a
    /// misspelt id would otherwise leave a carrier's certificate unused.
    pub fn check_components(&self, exists: impl Fn(&str) -> bool) -> anyhow::Result<()> {
        for (i, entry) in self.entries.iter().enumerate() {
            if let Some(unknown) = entry.components.iter().find(|c| !exists(c)) {
                bail!(
                    "[[client_tls]] {}: component_ids names `{unknown}`, which is not a \
                     component of the app",
                    i + 1
                );
            }
        }
        Ok(())
    }

    /// The entries' configurations, in order: the outbound client's pools after the
    /// default one.
    pub fn configs(&self) -> impl Iterator<Item = &rustls::ClientConfig> {
        self.entries.iter().map(|e| &e.config)
    }

    /// Which pool serves `component`'s HTTPS call to each host an entry names for it.
    pub fn for_component(&self, component: &str) -> ComponentTls {
        let mut pools = BTreeMap::new();
        for (i, entry) in self.entries.iter().enumerate() {
            if entry.components.iter().any(|c| c == component) {
                for host in &entry.hosts {
                    pools.entry(host.clone()).or_insert(i + 1);
                }
            }
        }
        ComponentTls(pools)
    }
}

/// One component's view of `[[client_tls]]`: host to pool, pool 0 being the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentTls(BTreeMap<String, usize>);

impl ComponentTls {
    /// The pool a call to `uri` goes through.
    pub fn pool_for(&self, uri: &http::Uri) -> usize {
        if self.0.is_empty() || uri.scheme() != Some(&http::uri::Scheme::HTTPS) {
            return 0;
        }
        let host = uri.host().unwrap_or_default().to_ascii_lowercase();
        self.0.get(&host).copied().unwrap_or(0)
    }

    /// Calls to `host` through `pool`.
    #[cfg(test)]
    pub fn one(host: &str, pool: usize) -> Self {
        Self(BTreeMap::from([(host.to_string(), pool)]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Vec<ClientTlsToml> {
        #[derive(Deserialize)]
        struct File {
            client_tls: Vec<ClientTlsToml>,
        }
        toml::from_str::<File>(text).unwrap().client_tls
    }

    fn uri(s: &str) -> http::Uri {
        s.parse().unwrap()
    }

    #[test]
    fn the_first_entry_naming_a_component_and_host_gives_its_pool() {
        let tls = ClientTls::load(
            &entries(
                r#"
                [[client_tls]]
                component_ids = ["router"]
                hosts = ["API.ups.com"]
                ca_use_webpki_roots = true
                [[client_tls]]
                component_ids = ["router", "rates"]
                hosts = ["api.ups.com", "apis.fedex.com"]
                "#,
            ),
            Path::new("."),
        )
        .unwrap();
        assert_eq!(tls.configs().count(), 2);
        let router = tls.for_component("router");
        assert_eq!(router.pool_for(&uri("https://api.UPS.com/rating")), 1);
        assert_eq!(router.pool_for(&uri("https://apis.fedex.com/")), 2);
        assert_eq!(router.pool_for(&uri("https://other.example/")), 0);
        // Plain HTTP has no TLS to configure.
        assert_eq!(router.pool_for(&uri("http://api.ups.com/")), 0);
        assert_eq!(
            tls.for_component("rates")
                .pool_for(&uri("https://api.ups.com/")),
            2
        );
        assert_eq!(tls.for_component("auth"), ComponentTls::default());

        assert!(tls.check_components(|c| c != "auth").is_ok());
        let error = tls.check_components(|c| c == "router").unwrap_err();
        assert!(error.to_string().contains("[[client_tls]] 2"), "{error}");
        assert!(error.to_string().contains("`rates`"), "{error}");
    }

    fn refused(text: &str) -> String {
        format!(
            "{:#}",
            ClientTls::load(&entries(text), Path::new("/nonexistent")).unwrap_err()
        )
    }

    #[test]
    fn a_bad_entry_is_refused_naming_what_is_wrong() {
        let base = "[[client_tls]]\ncomponent_ids = [\"router\"]\n";
        for (text, expected) in [
            (
                "[[client_tls]]\ncomponent_ids = []\nhosts = [\"a.example\"]".to_string(),
                "`component_ids` may not be empty",
            ),
            (format!("{base}hosts = []"), "`hosts` may not be empty"),
            (
                format!("{base}hosts = [\"a.example:443\"]"),
                "hosts[0]: `a.example:443`: a host without port",
            ),
            (
                format!("{base}hosts = [\"user@a.example\"]"),
                "`user@a.example` is not a host name",
            ),
            (
                format!("{base}hosts = [\"a.example\"]\nca_use_platform_roots = false"),
                "no roots",
            ),
            (
                format!("{base}hosts = [\"a.example\"]\nclient_cert_file = \"c.pem\""),
                "`client_cert_file` needs `client_private_key_file`",
            ),
            (
                format!("{base}hosts = [\"a.example\"]\nclient_private_key_file = \"k.pem\""),
                "`client_private_key_file` needs `client_cert_file`",
            ),
            (
                format!("{base}hosts = [\"a.example\"]\nca_roots_file = \"ca.pem\""),
                "ca_roots_file: cannot read certificates from /nonexistent/ca.pem",
            ),
        ] {
            let error = refused(&text);
            assert!(error.contains("[[client_tls]] 1"), "{error}");
            assert!(error.contains(expected), "{expected} in {error}");
        }
    }

    #[test]
    fn a_file_without_a_certificate_is_refused() {
        let dir = std::env::temp_dir().join(format!("waypost-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("empty.pem"), "not a certificate\n").unwrap();
        let text = "[[client_tls]]\ncomponent_ids = [\"router\"]\nhosts = [\"a.example\"]\nca_roots_file = \"empty.pem\"";
        let error = format!("{:#}", ClientTls::load(&entries(text), &dir).unwrap_err());
        std::fs::remove_dir_all(&dir).ok();
        assert!(error.contains("no certificate in"), "{error}");
        assert!(error.contains("empty.pem"), "{error}");
    }
}
