//! Shared fixtures of the webhooks tests.

use super::event::{CarrierStatus, TrackingEvent, TrackingStatus, event_id};
use crate::config::store::ConfigStore;
use crate::config::{HttpUrl, Subscription, VarName};
use crate::kv::MemoryKv;

pub const DEMO: &str = include_str!("../../../../infra/regions/local/gateway.toml");

/// A store with the demo config applied.
pub fn demo_kv() -> MemoryKv {
    let kv = MemoryKv::new();
    ConfigStore::new(&kv).apply(DEMO, None).unwrap();
    kv
}

pub fn event(
    tenant: &str,
    carrier: &str,
    source_id: &str,
    status: TrackingStatus,
) -> TrackingEvent {
    TrackingEvent {
        id: event_id(tenant, carrier, source_id),
        tenant: tenant.into(),
        carrier: carrier.into(),
        tracking_number: "1Z999AA10123456784".into(),
        status,
        timestamp: "2026-03-11T18:35:12Z".into(),
        location: None,
        carrier_status: CarrierStatus::default(),
    }
}

pub fn subscription(
    id: &str,
    tenant: &str,
    events: &[&str],
    carriers: &[&str],
    tier: &str,
) -> Subscription {
    Subscription {
        id: id.into(),
        tenant: tenant.into(),
        url: HttpUrl(format!("https://hooks.{tenant}.example/{id}")),
        events: events.iter().map(|e| e.to_string()).collect(),
        carriers: carriers.iter().map(|c| c.to_string()).collect(),
        secret: VarName(format!("{}_secret", id.replace('-', "_"))),
        tier: tier.into(),
    }
}
