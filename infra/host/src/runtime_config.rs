//! The runtime config file (`--runtime-config-file`), in Spin's format: key-value
//! store backends by label, variables providers, the networks outbound HTTP may not
//! reach, its connection limits and its TLS per component and host. Relative paths
//! resolve from the file's directory, as in Spin.

use crate::blocked_networks::{BlockedNetwork, BlockedNetworks};
use crate::client_tls::{ClientTls, ClientTlsToml};
use crate::kv::{self, StoreManager};
use anyhow::Context;
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub key_value_store: BTreeMap<String, KeyValueStoreConfig>,
    /// Spin also reads the table by its old name, `config_provider`.
    #[serde(default, alias = "config_provider")]
    pub variables_provider: Vec<VariablesProvider>,
    #[serde(default)]
    pub state_dir: Option<String>,
    #[serde(default)]
    pub outbound_networking: OutboundNetworking,
    #[serde(default)]
    pub outbound_http: OutboundHttp,
    #[serde(default)]
    pub client_tls: Vec<ClientTlsToml>,
    /// Where components' stdout and stderr are written (`component_output`); empty:
    /// nowhere.
    #[serde(default)]
    pub log_dir: Option<String>,
    /// Bytes each linear memory of an instance may grow to (`memory_limit`).
    #[serde(default)]
    pub max_instance_memory: Option<u64>,
}

/// `[outbound_networking]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundNetworking {
    #[serde(default)]
    pub block_networks: Vec<BlockedNetwork>,
    /// Outbound connections of every kind; components have only HTTP ones here.
    #[serde(default)]
    pub max_total_connections: Option<usize>,
    /// `wasi:sockets` connections: accepted, and without effect, since the host lets
    /// components connect a socket to no address.
    #[serde(default)]
    pub max_socket_connections: Option<usize>,
}

/// `[outbound_http]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundHttp {
    /// Spin's documented default; Spin 4.1's parser defaults it to `false` when the
    /// table is present without it.
    #[serde(default = "pooling_by_default")]
    pub connection_pooling: bool,
    #[serde(default)]
    pub max_connections: Option<usize>,
    /// Deprecated in Spin for `max_connections`; `n` allows `n + 1` connections.
    #[serde(default)]
    pub max_concurrent_requests: Option<usize>,
}

fn pooling_by_default() -> bool {
    true
}

impl Default for OutboundHttp {
    fn default() -> Self {
        Self {
            connection_pooling: pooling_by_default(),
            max_connections: None,
            max_concurrent_requests: None,
        }
    }
}

impl OutboundHttp {
    /// The connection cap, from `max_connections` or the deprecated
    /// `max_concurrent_requests` (as Spin reads it); not both.
    pub fn max_connections(&self) -> anyhow::Result<Option<usize>> {
        match (self.max_connections, self.max_concurrent_requests) {
            (Some(_), Some(_)) => anyhow::bail!(
                "cannot set both `max_connections` and `max_concurrent_requests`; \
                 use `max_connections` only"
            ),
            (None, Some(n)) => Ok(Some(n.saturating_add(1))),
            (cap, None) => Ok(cap),
        }
    }
}

/// How the outbound HTTP client may connect, from the runtime config.
#[derive(Debug, Clone, Default)]
pub struct OutboundSettings {
    pub blocked: BlockedNetworks,
    pub pooling: bool,
    pub max_connections: Option<usize>,
    /// The one `host:port` plain-HTTP calls to which speak HTTP/2 without asking
    /// (h2c with prior knowledge): Spin's `SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE`, set by
    /// `up` from the environment.
    pub h2c_prior_knowledge: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeyValueStoreConfig {
    /// SQLite; no `path` means in memory.
    Spin {
        #[serde(default)]
        path: Option<String>,
    },
    /// A Redis database shared by several instances (`redis://[:password@]host:port/db`).
    Redis { url: String },
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum VariablesProvider {
    Static {
        values: BTreeMap<String, String>,
    },
    Env {
        #[serde(default)]
        prefix: Option<String>,
    },
}

/// A runtime config read from disk, with its directory and the files its
/// `[[client_tls]]` entries name.
#[derive(Debug, Default)]
pub struct LoadedRuntimeConfig {
    pub config: RuntimeConfig,
    pub dir: PathBuf,
    pub client_tls: ClientTls,
}

impl LoadedRuntimeConfig {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read runtime config {}", path.display()))?;
        let config: RuntimeConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        config
            .outbound_http
            .max_connections()
            .with_context(|| format!("{}: [outbound_http]", path.display()))?;
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let client_tls = ClientTls::load(&config.client_tls, &dir)
            .with_context(|| path.display().to_string())?;
        Ok(Self {
            config,
            dir,
            client_tls,
        })
    }

    /// The outbound HTTP client's settings. The connection cap is the smaller of
    /// `[outbound_http]`'s and `[outbound_networking] max_total_connections`.
    pub fn outbound(&self) -> anyhow::Result<OutboundSettings> {
        let http = &self.config.outbound_http;
        let networking = &self.config.outbound_networking;
        if networking.max_socket_connections.is_some() {
            crate::log::event(
                "ignored_setting",
                &[
                    ("setting", "outbound_networking.max_socket_connections"),
                    ("detail", "this host denies components every socket address"),
                ],
            );
        }
        if http.max_concurrent_requests.is_some() {
            crate::log::event(
                "deprecated_setting",
                &[
                    ("setting", "outbound_http.max_concurrent_requests"),
                    (
                        "detail",
                        "use max_connections: max_concurrent_requests = n allows n + 1 connections",
                    ),
                ],
            );
        }
        let max_connections = match (http.max_connections()?, networking.max_total_connections) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(OutboundSettings {
            blocked: BlockedNetworks::new(&networking.block_networks),
            pooling: http.connection_pooling,
            max_connections,
            h2c_prior_knowledge: None,
        })
    }

    /// `log_dir`, relative to the file's directory as `state_dir` is; `""` is none.
    pub fn log_dir(&self) -> Option<PathBuf> {
        match self.config.log_dir.as_deref() {
            None | Some("") => None,
            Some(dir) => Some(self.dir.join(dir)),
        }
    }

    /// Labels the manifest may grant: the configured ones plus `default`.
    pub fn store_labels(&self) -> Vec<String> {
        let mut labels: Vec<String> = self.config.key_value_store.keys().cloned().collect();
        if !labels.iter().any(|l| l == "default") {
            labels.push("default".into());
        }
        labels
    }

    /// Opens every store. `default` is SQLite at `<state_dir>/sqlite_key_value.db`
    /// unless configured otherwise.
    pub fn build_stores(&self, state_dir: &Path) -> anyhow::Result<StoreManager> {
        let mut manager = StoreManager::default();
        let mut files: HashMap<PathBuf, Arc<kv::sqlite::SqliteFile>> = HashMap::new();
        let mut sqlite_at = |path: PathBuf| -> anyhow::Result<Arc<kv::sqlite::SqliteFile>> {
            if let Some(f) = files.get(&path) {
                return Ok(f.clone());
            }
            let f = kv::sqlite::SqliteFile::open(&path)
                .with_context(|| format!("cannot open key-value file {}", path.display()))?;
            files.insert(path, f.clone());
            Ok(f)
        };
        for (label, cfg) in &self.config.key_value_store {
            let store: Arc<dyn kv::Store> = match cfg {
                KeyValueStoreConfig::Spin { path: Some(p) } => {
                    Arc::new(sqlite_at(self.dir.join(p))?.store(label))
                }
                KeyValueStoreConfig::Spin { path: None } => {
                    Arc::new(kv::sqlite::SqliteFile::in_memory()?.store(label))
                }
                KeyValueStoreConfig::Redis { url } => Arc::new(
                    kv::redis::RedisStore::new(url)
                        .with_context(|| format!("key_value_store.{label}"))?,
                ),
            };
            manager.insert(label.clone(), store);
        }
        if !manager.contains("default") {
            let file = sqlite_at(state_dir.join("sqlite_key_value.db"))?;
            manager.insert("default", Arc::new(file.store("default")));
        }
        Ok(manager)
    }

    /// Values from `static` providers and from `env` providers with a custom prefix.
    pub fn variable_values(&self) -> HashMap<String, String> {
        let mut values = HashMap::new();
        for provider in self.config.variables_provider.iter().rev() {
            match provider {
                VariablesProvider::Static { values: v } => {
                    values.extend(v.iter().map(|(k, v)| (k.clone(), v.clone())))
                }
                VariablesProvider::Env { prefix } => {
                    let prefix = prefix.as_deref().unwrap_or("SPIN_VARIABLE");
                    let prefix = format!("{}_", prefix.trim_end_matches('_'));
                    values.extend(
                        std::env::vars().filter_map(|(k, v)| {
                            Some((k.strip_prefix(&prefix)?.to_lowercase(), v))
                        }),
                    );
                }
            }
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_spin_format_and_rejects_unknown_keys() {
        let cfg: RuntimeConfig = toml::from_str(
            r#"
            [key_value_store.default]
            type = "spin"
            path = "kv.db"
            [key_value_store.cache]
            type = "redis"
            url = "redis://127.0.0.1:6379"
            [[variables_provider]]
            type = "static"
            values = { region = "eu" }
            "#,
        )
        .unwrap();
        assert_eq!(cfg.key_value_store.len(), 2);
        assert_eq!(cfg.variables_provider.len(), 1);
        let old_name = "[[config_provider]]\ntype = 'env'\nprefix = 'ACME'";
        let old: RuntimeConfig = toml::from_str(old_name).unwrap();
        assert!(matches!(
            &old.variables_provider[..],
            [VariablesProvider::Env { prefix: Some(p) }] if p == "ACME"
        ));
        let memory: RuntimeConfig = toml::from_str("max_instance_memory = 1048576").unwrap();
        assert_eq!(memory.max_instance_memory, Some(1 << 20));
        assert!(toml::from_str::<RuntimeConfig>("[sqlite_database.x]\ntype='spin'").is_err());
        assert!(toml::from_str::<RuntimeConfig>("[key_value_store.x]\ntype='mongo'").is_err());
        let tls = "[[client_tls]]\ncomponent_ids = ['router']\nhosts = ['api.ups.com']";
        assert_eq!(
            toml::from_str::<RuntimeConfig>(tls)
                .unwrap()
                .client_tls
                .len(),
            1
        );
        let misspelt = format!("{tls}\nca_root_file = 'ca.pem'");
        assert!(toml::from_str::<RuntimeConfig>(&misspelt).is_err());
    }

    #[test]
    fn block_networks_take_cidrs_and_private_and_name_a_bad_entry() {
        let cfg: RuntimeConfig = toml::from_str(
            "[outbound_networking]\nblock_networks = [\"private\", \"100.64.0.0/10\"]",
        )
        .unwrap();
        assert_eq!(cfg.outbound_networking.block_networks.len(), 2);

        refused_naming(
            "[outbound_networking]\nblock_networks = [\"10.0.0.0/33\"]\n",
            &["block_networks", "`10.0.0.0/33`"],
        );
    }

    /// Reading `text` from a file fails with an error naming the file and `parts`.
    fn refused_naming(text: &str, parts: &[&str]) {
        let path = std::env::temp_dir().join(format!("waypost-rc-{}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let error = format!("{:#}", LoadedRuntimeConfig::read(&path).unwrap_err());
        std::fs::remove_file(&path).ok();
        for part in [path.to_str().unwrap()].iter().chain(parts) {
            assert!(error.contains(part), "{part} in {error}");
        }
    }

    fn outbound(text: &str) -> OutboundSettings {
        let config = LoadedRuntimeConfig {
            config: toml::from_str(text).unwrap(),
            ..Default::default()
        };
        config.outbound().unwrap()
    }

    #[test]
    fn outbound_http_pools_unless_told_and_caps_connections_at_the_smaller_limit() {
        let none = outbound("");
        assert!(none.pooling && none.max_connections.is_none() && none.blocked.is_empty());
        // Pooling is on when the table leaves it out (Spin's documented default).
        assert!(outbound("[outbound_http]\nmax_connections = 4").pooling);
        assert!(!outbound("[outbound_http]\nconnection_pooling = false").pooling);
        assert_eq!(
            outbound("[outbound_http]\nmax_connections = 4").max_connections,
            Some(4)
        );
        let both = "[outbound_http]\nmax_connections = 4\n[outbound_networking]\nmax_total_connections = 2";
        assert_eq!(outbound(both).max_connections, Some(2));
        assert_eq!(
            outbound("[outbound_networking]\nmax_total_connections = 3").max_connections,
            Some(3)
        );
        // The deprecated spelling allows one more, as Spin reads it.
        assert_eq!(
            outbound("[outbound_http]\nmax_concurrent_requests = 0").max_connections,
            Some(1)
        );
    }

    #[test]
    fn a_bad_client_tls_entry_stops_reading_naming_it() {
        refused_naming(
            "[[client_tls]]\ncomponent_ids = ['router']\nhosts = ['api.ups.com:443']\n",
            &["[[client_tls]] 1", "hosts[0]", "`api.ups.com:443`"],
        );
    }

    #[test]
    fn a_connection_cap_given_twice_stops_reading_naming_both() {
        refused_naming(
            "[outbound_http]\nmax_connections = 1\nmax_concurrent_requests = 1\n",
            &[
                "[outbound_http]",
                "`max_connections`",
                "`max_concurrent_requests`",
            ],
        );
    }

    #[test]
    fn the_shipped_runtime_configs_parse() {
        for (file, text) in [
            (
                "local",
                include_str!("../../regions/local/runtime-config.toml"),
            ),
            ("eu", include_str!("../../regions/eu/runtime-config.toml")),
            ("us", include_str!("../../regions/us/runtime-config.toml")),
        ] {
            let config: RuntimeConfig =
                toml::from_str(text).unwrap_or_else(|e| panic!("{file}: {e}"));
            let blocks = !config.outbound_networking.block_networks.is_empty();
            assert_eq!(blocks, file != "local", "{file}");
        }
    }

    #[test]
    fn default_store_lives_in_the_state_dir() {
        let dir = std::env::temp_dir().join(format!("waypost-rc-{}", std::process::id()));
        let rc = LoadedRuntimeConfig::default();
        let stores = rc.build_stores(&dir).unwrap();
        assert!(stores.contains("default"));
        assert!(dir.join("sqlite_key_value.db").exists());
        std::fs::remove_dir_all(dir).ok();
    }
}
