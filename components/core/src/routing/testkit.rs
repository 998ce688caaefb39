//! Config records for routing tests.

use crate::config::store::RegionRecord;
use crate::config::{
    Adapter, Breaker, Carrier, HttpUrl, Region, Residency, Retry, Tenant, TenantCarrier, Upstream,
};

/// A deployment `id` serving `serves`, knowing the eu, us, ap and local URLs.
pub fn region(id: &str, serves: &[&str]) -> RegionRecord {
    RegionRecord {
        region: Region {
            id: id.into(),
            serves: serves.iter().map(|s| s.to_string()).collect(),
        },
        regions: [
            ("eu", "https://eu.waypost.example"),
            ("us", "https://us.waypost.example"),
            ("ap", "https://ap.waypost.example"),
            ("local", "http://127.0.0.1:3000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), HttpUrl(v.to_string())))
        .collect(),
    }
}

/// A tenant without carriers.
pub fn tenant(id: &str, home: &str, residency: Residency, allowed: &[&str]) -> Tenant {
    Tenant {
        id: id.into(),
        name: None,
        home: home.into(),
        residency,
        allowed_regions: allowed.iter().map(|s| s.to_string()).collect(),
        plan: "pro".into(),
        issuers: vec![],
        keys: vec![],
        carriers: vec![],
    }
}

/// The tenant's entry for `carrier` on the platform account.
pub fn platform_entry(carrier: &str) -> TenantCarrier {
    TenantCarrier {
        carrier: carrier.into(),
        account: "platform".into(),
        credentials: Default::default(),
        upstream: None,
    }
}

/// A plain upstream (weight 100, no conditions).
pub fn upstream(id: &str, region: &str) -> Upstream {
    Upstream {
        id: id.into(),
        region: region.into(),
        url: HttpUrl(format!("https://{id}.{region}.carrier.example")),
        weight: 100,
        header: None,
        path_prefix: None,
        host: None,
    }
}

/// A generic carrier with default breaker, retry and timeouts.
pub fn carrier(id: &str, upstreams: &[Upstream]) -> Carrier {
    Carrier {
        id: id.into(),
        adapter: Adapter::Generic,
        upstreams: upstreams.to_vec(),
        token_url: None,
        platform: None,
        connect_timeout_ms: 2_000,
        timeout_ms: 10_000,
        breaker: Breaker::default(),
        retry: Retry::default(),
        fallback: vec![],
        hedge_after_ms: None,
    }
}

/// A header list from pairs.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}
