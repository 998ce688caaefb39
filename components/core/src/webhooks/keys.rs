//! Every key-value key the webhooks module writes, in one place. All start with
//! `webhooks:`; per-tenant data carries the tenant id. Tenant and carrier ids are
//! `[a-z0-9-]` (checked by the config), so `:` separates parts unambiguously.

use sha2::{Digest, Sha256};

/// `webhooks:claim:<tenant>:<carrier>:<sha256(event id), 32 hex>`: one event's
/// exactly-once claim ([`super::dedup`]).
pub fn claim(tenant: &str, carrier: &str, event_id: &str) -> String {
    format!(
        "webhooks:claim:{tenant}:{carrier}:{}",
        short_digest(&[event_id])
    )
}

/// Prefix of the claims' expiry index (hour buckets, see [`super::time_index`]).
pub const CLAIM_INDEX: &str = "webhooks:claim-index";

/// `webhooks:delivery:<tenant>:<32 hex>`: one outbox delivery ([`super::delivery`]).
pub fn delivery(tenant: &str, hash: &str) -> String {
    format!("webhooks:delivery:{tenant}:{hash}")
}

/// Prefix of the outbox's due index (minute buckets, see [`super::time_index`]).
pub const OUTBOX_INDEX: &str = "webhooks:outbox-index";

/// `webhooks:dead:<tenant>` (a tenant's dead letters) or `webhooks:dead:_all` (every
/// tenant's): prefix of a ring of the newest dead letters ([`super::dead_letter`]).
pub fn dead_ring(tenant: Option<&str>) -> String {
    format!("webhooks:dead:{}", tenant.unwrap_or("_all"))
}

/// The first 32 hex digits (128 bits) of SHA-256 over `parts`, each followed by a
/// NUL so that `["ab", "c"]` and `["a", "bc"]` differ.
pub fn short_digest(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    let hex = format!("{:x}", hash.finalize());
    hex[..32].to_string()
}
