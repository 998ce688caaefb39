//! The `/healthz` document: liveness plus what an operator compares across regions.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Health {
    pub status: &'static str,
    pub region: String,
    /// The active config version and content hash; `None` until a config is applied.
    pub config: Option<ConfigVersion>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfigVersion {
    pub version: u64,
    pub hash: String,
}

impl Health {
    pub fn ok(region: impl Into<String>, config: Option<ConfigVersion>) -> Self {
        Self {
            status: "ok",
            region: region.into(),
            config,
        }
    }
}
