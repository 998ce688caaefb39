//! The durable outbox: deliveries as key-value records, found when due through a
//! time index (minute buckets, see [`super::time_index`]) instead of listing keys, and
//! taken by one deliverer at a time through a lease (a compare-and-swap on the
//! record's generation).
//!
//! Every state change writes its index entry (`{id, generation, at}`) *before* the
//! compare-and-swap that makes it, so a record is never in a state no entry points
//! to; an entry whose swap lost, or whose record moved on, is stale and dropped when
//! visited. [`due`] visits the entries up to now: a due attempt, or a lease that ran
//! out (its holder died mid-delivery), is leased again; a delivered or dead record past
//! its retention is deleted.

use super::dead_letter;
use super::delivery::{
    AttemptOutcome, Delivery, DeliveryState, HISTORY_LIMIT, LEASE_SECS, MAX_RETRY_AFTER_SECS,
    delivery_id, delivery_key,
};
use super::event::TrackingEvent;
use super::keys;
use super::schedule::RetrySchedule;
use super::stats;
use super::time_index::{GRACE_SECS, TimeIndex, Visit};
use crate::config::Subscription;
use crate::kv::{KeyValue, KvError, KvResult};
use serde::{Deserialize, Serialize};

/// The due index: `webhooks:outbox-index:<minute>:...`. Entries due within the
/// current minute are visited by every tick of that minute, so the width costs no
/// timeliness.
const INDEX: TimeIndex = TimeIndex::new(keys::OUTBOX_INDEX, 60);

/// Buckets one [`due`] call walks at most (a day of minutes, one read each when
/// empty): a tick after a longer pause catches up over several calls.
pub const MAX_SCAN_BUCKETS: u64 = 1_440;

/// Index entries one [`due`] call visits at most (leases and deletions together).
const MAX_SCAN_VISITS: usize = 2_000;

#[derive(Debug, Serialize, Deserialize)]
struct IndexEntry {
    id: String,
    generation: u64,
    at: u64,
}

/// What [`enqueue`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Enqueued {
    /// The first attempt is due now and is leased to the caller: deliver it, then
    /// [`record_result`].
    Leased(Delivery),
    /// The first attempt is scheduled for later; a tick will deliver it.
    Scheduled(Delivery),
    /// This event was enqueued for this subscription before (a retried intake); it is
    /// left as it is (and indexed again, in case its writer died before indexing).
    Existing,
}

/// What [`record_result`] decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Delivered,
    /// The next attempt is due at this Unix time.
    RetryAt(u64),
    /// The last attempt failed (or the endpoint answered 410 Gone): a dead letter.
    DeadLettered,
    /// The lease ran out and someone else holds the delivery now (or it was replayed);
    /// this outcome was not recorded.
    LeaseLost,
}

/// A delivery as stored: its bytes are what a compare-and-swap expects.
pub(super) enum Loaded {
    Missing,
    /// Not a delivery record (never written by this code); skipped, never acted on.
    Corrupt,
    Found(Box<Delivery>, Vec<u8>),
}

pub(super) fn load<K: KeyValue + ?Sized>(kv: &K, key: &str) -> KvResult<Loaded> {
    Ok(match kv.get(key)? {
        None => Loaded::Missing,
        Some(raw) => match serde_json::from_slice(&raw) {
            Ok(delivery) => Loaded::Found(Box::new(delivery), raw),
            Err(_) => Loaded::Corrupt,
        },
    })
}

pub(super) fn encode(delivery: &Delivery) -> Vec<u8> {
    serde_json::to_vec(delivery).expect("a delivery serializes")
}

/// Adds the index entry for the delivery's current state.
pub(super) fn index<K: KeyValue + ?Sized>(kv: &K, delivery: &Delivery, now: u64) -> KvResult<()> {
    let entry = IndexEntry {
        id: delivery.id.clone(),
        generation: delivery.generation,
        at: delivery.ready_at(),
    };
    let bytes = serde_json::to_vec(&entry).expect("an index entry serializes");
    INDEX.add(kv, entry.at, &bytes, now)
}

/// `00-<32 hex>-<16 hex>-<2 hex>`, lowercase, non-zero ids (W3C Trace Context version
/// 00): only such a value is kept and sent on to a subscriber.
fn is_traceparent(v: &str) -> bool {
    let parts: Vec<&str> = v.split('-').collect();
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    matches!(parts.as_slice(), [version, trace, span, flags]
        if *version == "00" && hex(trace, 32) && hex(span, 16) && hex(flags, 2)
            && nonzero(trace) && nonzero(span))
}

/// Puts `event` into the outbox for `subscription` with `schedule`. When the first
/// delay is 0 the delivery comes back leased to the caller, who attempts it right away
/// (before answering the carrier, at most `INLINE_DELIVERY`). Idempotent: enqueuing the same event for the same
/// subscription again changes nothing. Writes `webhooks:delivery:<tenant>:<hash>` and
/// an index entry. `traceparent` (the intake request's) goes with every attempt.
pub fn enqueue<K: KeyValue + ?Sized>(
    kv: &K,
    event: &TrackingEvent,
    subscription: &Subscription,
    schedule: RetrySchedule,
    now: u64,
    rand: u64,
    traceparent: Option<&str>,
) -> KvResult<Enqueued> {
    let delay = schedule.delay(0, rand).unwrap_or(0);
    let state = if delay == 0 {
        DeliveryState::Leased {
            until: now + LEASE_SECS,
        }
    } else {
        DeliveryState::Pending { due: now + delay }
    };
    let delivery = Delivery {
        id: delivery_id(&event.tenant, &event.id, &subscription.id),
        tenant: event.tenant.clone(),
        subscription: subscription.id.clone(),
        url: subscription.url.as_str().to_string(),
        secret: subscription.secret.as_str().to_string(),
        event_id: event.id.clone(),
        event_type: event.event_type(),
        payload: event.payload(),
        schedule,
        attempt: 0,
        state,
        generation: 0,
        history: Vec::new(),
        created_at: now,
        traceparent: traceparent
            .filter(|t| is_traceparent(t))
            .map(str::to_string),
    };
    let key = delivery.key();
    index(kv, &delivery, now)?;
    if kv.compare_and_swap(&key, None, &encode(&delivery))? {
        stats::add(kv, stats::OUTBOX_DEPTH, 1);
        return Ok(match delivery.state {
            DeliveryState::Leased { .. } => Enqueued::Leased(delivery),
            _ => Enqueued::Scheduled(delivery),
        });
    }
    if let Loaded::Found(existing, _) = load(kv, &key)? {
        index(kv, &existing, now)?;
    }
    Ok(Enqueued::Existing)
}

/// Leases up to `max` deliveries that are due at `now` (attempts due, and attempts
/// whose lease ran out), and deletes records past their retention on the way. Two
/// ticks running at once never get the same attempt. Deliver each (concurrently, each
/// within [`LEASE_SECS`]) and report with [`record_result`].
pub fn due<K: KeyValue + ?Sized>(kv: &K, now: u64, max: usize) -> KvResult<Vec<Delivery>> {
    let mut leased = Vec::new();
    if max == 0 {
        return Ok(leased);
    }
    let mut visits = 0;
    INDEX.scan(kv, now, MAX_SCAN_BUCKETS, |raw| {
        if leased.len() >= max || visits >= MAX_SCAN_VISITS {
            return Ok(Visit::Stop);
        }
        visits += 1;
        let Ok(entry) = serde_json::from_slice::<IndexEntry>(raw) else {
            return Ok(Visit::Done);
        };
        let Some(key) = delivery_key(&entry.id) else {
            return Ok(Visit::Done);
        };
        // An entry is written just before its record: for a moment after, its record
        // may be missing or older. Give such an entry the grace before dropping it.
        let maybe_unwritten = entry.at + GRACE_SECS > now;
        let (delivery, raw) = match load(kv, &key)? {
            Loaded::Found(d, raw) => (*d, raw),
            Loaded::Corrupt => return Ok(Visit::Done),
            Loaded::Missing if maybe_unwritten => return Ok(Visit::Keep),
            Loaded::Missing => return Ok(Visit::Done),
        };
        if entry.generation > delivery.generation {
            return Ok(if maybe_unwritten {
                Visit::Keep
            } else {
                Visit::Done
            });
        }
        if entry.generation < delivery.generation || entry.at != delivery.ready_at() {
            return Ok(Visit::Done);
        }
        if entry.at > now {
            return Ok(Visit::Keep);
        }
        match delivery.state {
            DeliveryState::Pending { .. } | DeliveryState::Leased { .. } => {
                let mut next = delivery;
                next.generation += 1;
                next.state = DeliveryState::Leased {
                    until: now + LEASE_SECS,
                };
                index(kv, &next, now)?;
                if kv.compare_and_swap(&key, Some(&raw), &encode(&next))? {
                    leased.push(next);
                }
            }
            DeliveryState::Delivered { .. } => kv.delete(&key)?,
            DeliveryState::Dead { .. } => {
                kv.delete(&key)?;
                stats::add(kv, stats::DEAD_LETTERS, -1);
            }
        }
        Ok(Visit::Done)
    })?;
    Ok(leased)
}

/// Records the outcome of the attempt `delivery` (as leased) made: delivered, the
/// next attempt scheduled (jittered by `rand`, no earlier than a `Retry-After`), or
/// a dead letter after the last attempt or a 410. Nothing is written when the lease
/// was lost.
pub fn record_result<K: KeyValue + ?Sized>(
    kv: &K,
    delivery: &Delivery,
    outcome: &AttemptOutcome,
    now: u64,
    rand: u64,
) -> KvResult<Next> {
    let key = delivery_key(&delivery.id)
        .ok_or_else(|| KvError(format!("`{}` is not a delivery id", delivery.id)))?;
    for _ in 0..2 {
        let Loaded::Found(current, raw) = load(kv, &key)? else {
            return Ok(Next::LeaseLost);
        };
        let held = current.generation == delivery.generation
            && matches!(current.state, DeliveryState::Leased { .. });
        if !held {
            return Ok(Next::LeaseLost);
        }
        let (next, decision) = after_attempt(*current, outcome, now, rand);
        index(kv, &next, now)?;
        if decision == Next::DeadLettered {
            dead_letter::remember(kv, &next)?;
        }
        if kv.compare_and_swap(&key, Some(&raw), &encode(&next))? {
            match decision {
                Next::Delivered => stats::add(kv, stats::OUTBOX_DEPTH, -1),
                Next::DeadLettered => {
                    stats::add(kv, stats::OUTBOX_DEPTH, -1);
                    stats::add(kv, stats::DEAD_LETTERS, 1);
                }
                Next::RetryAt(_) | Next::LeaseLost => {}
            }
            return Ok(decision);
        }
    }
    Ok(Next::LeaseLost)
}

/// The delivery's next state after an attempt with `outcome`: the transition as data.
fn after_attempt(
    current: Delivery,
    outcome: &AttemptOutcome,
    now: u64,
    rand: u64,
) -> (Delivery, Next) {
    let mut next = current;
    next.generation += 1;
    next.history.push(outcome.record(next.attempt, now));
    if next.history.len() > HISTORY_LIMIT {
        next.history.remove(0);
    }
    let decision = match outcome {
        AttemptOutcome::Delivered { .. } => {
            next.state = DeliveryState::Delivered { at: now };
            Next::Delivered
        }
        AttemptOutcome::Failed {
            status,
            retry_after_secs,
            ..
        } => {
            let gone = *status == Some(410);
            let delay = (!gone)
                .then(|| next.schedule.delay(next.attempt + 1, rand))
                .flatten();
            match delay {
                Some(delay) => {
                    let floor = retry_after_secs.unwrap_or(0).min(MAX_RETRY_AFTER_SECS);
                    let due = now + delay.max(floor);
                    next.attempt += 1;
                    next.state = DeliveryState::Pending { due };
                    Next::RetryAt(due)
                }
                None => {
                    next.state = DeliveryState::Dead {
                        at: now,
                        reason: outcome.reason(),
                    };
                    Next::DeadLettered
                }
            }
        }
    };
    (next, decision)
}

/// The delivery with this id, in whatever state (for the admin API).
pub fn delivery<K: KeyValue + ?Sized>(kv: &K, id: &str) -> KvResult<Option<Delivery>> {
    let Some(key) = delivery_key(id) else {
        return Ok(None);
    };
    Ok(match load(kv, &key)? {
        Loaded::Found(d, _) => Some(*d),
        _ => None,
    })
}
