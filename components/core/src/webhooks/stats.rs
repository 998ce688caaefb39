//! Two counters for the operator's gauges, kept next to the records they count so
//! every instance of a region reads the same numbers: `webhooks:stats:outbox-depth`
//! (deliveries not yet delivered or dead: pending or in flight) and
//! `webhooks:stats:dead-letters` (dead letters not yet replayed or deleted).
//!
//! Each transition that changes what they count adds to them with one `increment`
//! after its compare-and-swap won: enqueue (+1 depth), delivered (-1 depth), dead
//! lettered (-1 depth, +1 dead), replay (+1 depth, -1 dead), a dead letter deleted by
//! retention or pushed out of its tenant's ring (-1 dead). The counter update is best
//! effort: a store fault there, or a component dying between the two writes, leaves
//! it off by one (it never blocks the transition), and a negative value reads as 0.
//! Deliveries recorded before these counters existed are not counted.

use super::time_index::read_counter;
use crate::kv::{KeyValue, KvResult};

pub const OUTBOX_DEPTH: &str = "webhooks:stats:outbox-depth";
pub const DEAD_LETTERS: &str = "webhooks:stats:dead-letters";

/// Deliveries pending or in flight.
pub fn outbox_depth<K: KeyValue + ?Sized>(kv: &K) -> KvResult<u64> {
    read_counter(kv, OUTBOX_DEPTH)
}

/// Dead letters kept (listed by `GET /admin/webhooks/dead`, until replayed or deleted).
pub fn dead_letter_count<K: KeyValue + ?Sized>(kv: &K) -> KvResult<u64> {
    read_counter(kv, DEAD_LETTERS)
}

/// Adds `delta` to counter `key`; a store fault is ignored (see the module doc).
pub(super) fn add<K: KeyValue + ?Sized>(kv: &K, key: &str, delta: i64) {
    let _ = kv.increment(key, delta);
}
