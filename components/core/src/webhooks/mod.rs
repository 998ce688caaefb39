//! Carrier webhooks in, tenant webhooks out: the logic of the `webhooks` component
//! (`POST /webhooks/{carrier}[/{tenant}]`) and of its delivery tick
//! (`POST /admin/webhooks/tick`).
//!
//! Intake, in order (see [`receive`]): the carrier's [`signature`] on the raw body,
//! the carrier's [`event_id`], the [`tenant`], one normalized [`TrackingEvent`]
//! ([`normalize`]); then [`fanout::record`]: an exactly-once [`dedup`] claim and one
//! [`outbox`] delivery per matching subscription. Then the deliveries due now are
//! sent, signed with [`standard_webhooks`] ([`signing`]), and the carrier gets its 2xx
//! (the record is durable before either). The tick leases due retries ([`outbox::due`]), records outcomes
//! ([`outbox::record_result`]) on the tier's [`schedule`], and sweeps expired claims
//! ([`dedup::sweep_claims`]); exhausted deliveries become [`dead_letter`]s.
//!
//! Key-value layout (every key starts with `webhooks:`):
//!
//! | key | value | written by |
//! |---|---|---|
//! | `claim:<tenant>:<carrier>:<32 hex>` | claim (time, expiry, recorded) | [`dedup::claim`], [`dedup::finish_claim`] |
//! | `claim-index:cursor`, `claim-index:<hour>:count`, `claim-index:<hour>:<n>` | claims by expiry hour | [`dedup`] |
//! | `delivery:<tenant>:<32 hex>` | a [`Delivery`] | [`outbox`], [`dead_letter::replay`] |
//! | `outbox-index:cursor`, `outbox-index:<minute>:count`, `outbox-index:<minute>:<n>` | deliveries by next action time | [`outbox`] |
//! | `dead:<tenant>:count`, `dead:<tenant>:<slot>`, `dead:_all:...` | rings of the newest 1000 dead letters | [`dead_letter`] |
//! | `stats:outbox-depth`, `stats:dead-letters` | counters for the operator's gauges | [`stats`] |
//!
//! Storage is bounded: claims live one dedup window, delivered records
//! [`delivery::DELIVERED_RETENTION_SECS`], dead letters at most
//! [`delivery::DEAD_LETTER_RETENTION_SECS`] and 1000 per tenant; index buckets are
//! deleted once their entries are done (see [`time_index`]).

pub mod dead_letter;
pub mod dedup;
pub mod delivery;
pub mod error;
pub mod event;
pub mod event_id;
pub mod fanout;
pub mod keys;
pub mod normalize;
pub mod outbox;
pub mod receive;
pub mod schedule;
pub mod signature;
pub mod signing;
pub mod standard_webhooks;
pub mod stats;
pub mod tenant;
pub mod time_index;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use dead_letter::{DeadLetter, InvalidQuery, ReplayError, dead_letters, replay, tenant_filter};
pub use dedup::{Claim, claim, finish_claim, sweep_claims};
pub use delivery::{AttemptOutcome, Delivery, DeliveryState};
pub use error::IntakeError;
pub use event::{CarrierStatus, Location, TrackingEvent, TrackingStatus};
pub use fanout::{Recorded, record};
pub use outbox::{Enqueued, Next, due, enqueue, record_result};
pub use receive::{Received, intake, receive, record_received};
pub use schedule::RetrySchedule;
pub use signing::{OutboundRequest, outbound_request};
pub use stats::{dead_letter_count, outbox_depth};
