//! Recording an event exactly once: claim it, put one delivery per matching
//! subscription into the outbox, then mark the claim recorded. Only after this
//! returns does the carrier get its 2xx; a request that dies before that leaves the
//! claim unfinished, and the carrier's retry records again (idempotently).

use super::dedup::{self, Claim};
use super::delivery::Delivery;
use super::event::TrackingEvent;
use super::outbox::{self, Enqueued};
use super::schedule::{RetrySchedule, derive};
use crate::config::{DeliveryTier, Subscription};
use crate::kv::{KeyValue, KvResult};

/// What [`record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub claim: Claim,
    /// Deliveries whose first attempt is due now, leased to the caller: after
    /// answering the carrier, deliver each and report with
    /// [`outbox::record_result`].
    pub deliveries: Vec<Delivery>,
    /// How many subscriptions matched (deliveries now in the outbox, leased or not).
    pub matched: usize,
}

/// Whether `subscription` wants `event`: same tenant, an `events` filter matching the
/// event type (exact, or a prefix ending in `*`), and the carrier listed (or none).
pub fn subscribed(subscription: &Subscription, event: &TrackingEvent) -> bool {
    let event_type = event.event_type();
    let type_matches = subscription
        .events
        .iter()
        .any(|filter| match filter.strip_suffix('*') {
            Some(prefix) => event_type.starts_with(prefix),
            None => *filter == event_type,
        });
    let carrier_matches =
        subscription.carriers.is_empty() || subscription.carriers.contains(&event.carrier);
    subscription.tenant == event.tenant && type_matches && carrier_matches
}

/// Claims `event` (dedup window `window_secs`) and, unless it is a duplicate, enqueues
/// it for every subscription of its tenant that wants it, each with its tier's
/// schedule. `rand` spreads the first delays; `traceparent` (the intake request's) is
/// kept with each delivery. Writes the claim, the deliveries and their index entries.
#[allow(clippy::too_many_arguments)]
pub fn record<K: KeyValue + ?Sized>(
    kv: &K,
    event: &TrackingEvent,
    window_secs: u32,
    subscriptions: &[Subscription],
    tiers: &[DeliveryTier],
    now: u64,
    rand: u64,
    traceparent: Option<&str>,
) -> KvResult<Recorded> {
    let claim = dedup::claim(
        kv,
        &event.tenant,
        &event.carrier,
        &event.id,
        now,
        window_secs,
    )?;
    let mut recorded = Recorded {
        claim,
        deliveries: Vec::new(),
        matched: 0,
    };
    if claim == Claim::Duplicate {
        return Ok(recorded);
    }
    for (n, subscription) in subscriptions
        .iter()
        .filter(|s| subscribed(s, event))
        .enumerate()
    {
        let schedule = RetrySchedule::for_tier(tiers, &subscription.tier);
        let enqueued = outbox::enqueue(
            kv,
            event,
            subscription,
            schedule,
            now,
            derive(rand, n as u64),
            traceparent,
        )?;
        if let Enqueued::Leased(delivery) = enqueued {
            recorded.deliveries.push(delivery);
        }
        recorded.matched += 1;
    }
    dedup::finish_claim(kv, &event.tenant, &event.carrier, &event.id)?;
    Ok(recorded)
}
