//! The runtime config file (`--runtime-config-file`), in Spin's format: key-value
//! store backends by label, variables providers, and the networks outbound HTTP may
//! not reach. Relative paths resolve from the
//! file's directory, as in Spin.

use crate::blocked_networks::BlockedNetwork;
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
    #[serde(default)]
    pub variables_provider: Vec<VariablesProvider>,
    #[serde(default)]
    pub state_dir: Option<String>,
    #[serde(default)]
    pub outbound_networking: OutboundNetworking,
}

/// `[outbound_networking]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboundNetworking {
    #[serde(default)]
    pub block_networks: Vec<BlockedNetwork>,
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

/// A runtime config read from disk, with its directory.
#[derive(Debug, Default)]
pub struct LoadedRuntimeConfig {
    pub config: RuntimeConfig,
    pub dir: PathBuf,
}

impl LoadedRuntimeConfig {
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read runtime config {}", path.display()))?;
        let config: RuntimeConfig =
            toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        Ok(Self {
            config,
            dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        })
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
        assert!(toml::from_str::<RuntimeConfig>("[sqlite_database.x]\ntype='spin'").is_err());
        assert!(toml::from_str::<RuntimeConfig>("[key_value_store.x]\ntype='mongo'").is_err());
    }

    #[test]
    fn block_networks_take_cidrs_and_private_and_name_a_bad_entry() {
        let cfg: RuntimeConfig = toml::from_str(
            "[outbound_networking]\nblock_networks = [\"private\", \"100.64.0.0/10\"]",
        )
        .unwrap();
        assert_eq!(cfg.outbound_networking.block_networks.len(), 2);

        let path =
            std::env::temp_dir().join(format!("waypost-rc-block-{}.toml", std::process::id()));
        std::fs::write(
            &path,
            "[outbound_networking]\nblock_networks = [\"10.0.0.0/33\"]\n",
        )
        .unwrap();
        let error = format!("{:#}", LoadedRuntimeConfig::read(&path).unwrap_err());
        std::fs::remove_file(&path).ok();
        for part in [path.to_str().unwrap(), "block_networks", "`10.0.0.0/33`"] {
            assert!(error.contains(part), "{part} in {error}");
        }
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
