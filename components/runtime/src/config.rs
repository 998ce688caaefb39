//! The active config version, as every component reads it: one read of the active
//! pointer on the usual path; on an empty store the bundled demo document is applied
//! first when the component's `seed_demo_config` variable is `true` (local runs).

use crate::SpinKv;
use waypost_core::config::cache::RecordCache;
use waypost_core::config::store::{ConfigStore, ConfigView};
use waypost_core::problem::Problem;

/// The demo document served on an empty store (infra/regions/local/gateway.toml).
pub const DEMO_CONFIG: &str = include_str!("../../../infra/regions/local/gateway.toml");

thread_local! {
    /// This instance's decoded config records: an instance serving many requests
    /// decodes each record once per config document (the cache is keyed by the
    /// document's content hash, not the version number).
    static RECORDS: &'static RecordCache = Box::leak(Box::new(RecordCache::new()));
}

/// The config in `kv`, its records read through this instance's cache.
pub fn config_store(kv: &SpinKv) -> ConfigStore<'_, SpinKv> {
    ConfigStore::cached(kv, RECORDS.with(|records| *records))
}

/// A Spin variable of the component, empty when unset or undeclared.
pub async fn var(name: &str) -> String {
    spin_sdk::variables::get(name).await.unwrap_or_default()
}

/// 503: the key-value store failed.
pub fn store_unavailable() -> Problem {
    Problem::new(503, "store-unavailable", "Service Unavailable")
        .with_detail("The gateway's key-value store failed. Retry later.")
}

/// 503: no config document has been applied in this region.
pub fn not_configured() -> Problem {
    Problem::new(503, "not-configured", "Service Unavailable")
        .with_detail("No gateway config is applied in this region.")
}

/// The active config version of `store`, seeding the demo when the store is empty
/// and `seed_demo_config` is `true`.
pub async fn active_view<'s, 'a>(
    store: &'s ConfigStore<'a, SpinKv>,
) -> Result<ConfigView<'s, 'a, SpinKv>, Problem> {
    if let Some(view) = store.view().map_err(|_| store_unavailable())? {
        return Ok(view);
    }
    if var("seed_demo_config").await != "true" {
        return Err(not_configured());
    }
    store
        .active_or_seed(Some(DEMO_CONFIG))
        .map_err(|_| store_unavailable())?;
    store
        .view()
        .map_err(|_| store_unavailable())?
        .ok_or_else(not_configured)
}
