//! Dead letters: deliveries whose every attempt failed, listed per tenant (and for
//! all tenants) for `GET /admin/webhooks/dead`, and replayed on request.
//!
//! A dead letter is the delivery record itself in state `Dead`. Two rings of the
//! newest [`DEAD_LETTERS_KEPT`] point at them: `webhooks:dead:<tenant>:<slot>` and
//! `webhooks:dead:_all:<slot>` (`...:count` hands out slots with `increment`). When a
//! tenant's ring wraps, the dead letter it pushes out is deleted; the outbox deletes
//! the rest after [`super::delivery::DEAD_LETTER_RETENTION_SECS`]. A ring entry names
//! the record's generation, so a replayed (or since deleted) letter is not listed.

use super::delivery::{AttemptRecord, Delivery, DeliveryState, delivery_key};
use super::keys;
use super::outbox::{self, Loaded};
use super::stats;
use super::time_index::read_counter;
use crate::config::check_id;
use crate::kv::{KeyValue, KvError, KvResult};
use crate::problem::Problem;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Dead letters kept per tenant, and in the all-tenants list.
pub const DEAD_LETTERS_KEPT: u64 = 1_000;

#[derive(Debug, Serialize, Deserialize)]
struct RingEntry {
    id: String,
    generation: u64,
}

/// A dead letter as the admin API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetter {
    /// The delivery id, for `replay`.
    pub id: String,
    pub tenant: String,
    pub subscription: String,
    pub url: String,
    pub event_id: String,
    pub event_type: String,
    /// Unix seconds.
    pub dead_at: u64,
    /// The last attempt's failure (`HTTP 503`, `timeout`...).
    pub reason: String,
    pub attempts: Vec<AttemptRecord>,
    /// The body that was not delivered.
    pub payload: String,
}

impl DeadLetter {
    fn of(delivery: Delivery) -> Option<DeadLetter> {
        let DeliveryState::Dead { at, reason } = delivery.state else {
            return None;
        };
        Some(DeadLetter {
            id: delivery.id,
            tenant: delivery.tenant,
            subscription: delivery.subscription,
            url: delivery.url,
            event_id: delivery.event_id,
            event_type: delivery.event_type,
            dead_at: at,
            reason,
            attempts: delivery.history,
            payload: delivery.payload,
        })
    }
}

/// Puts a delivery that is about to become dead into both rings.
pub(super) fn remember<K: KeyValue + ?Sized>(kv: &K, dead: &Delivery) -> KvResult<()> {
    let entry = RingEntry {
        id: dead.id.clone(),
        generation: dead.generation,
    };
    let bytes = serde_json::to_vec(&entry).expect("a ring entry serializes");
    push(kv, Some(&dead.tenant), &bytes)?;
    push(kv, None, &bytes)
}

fn push<K: KeyValue + ?Sized>(kv: &K, tenant: Option<&str>, entry: &[u8]) -> KvResult<()> {
    let ring = keys::dead_ring(tenant);
    let taken = kv.increment(&format!("{ring}:count"), 1)?;
    let slot = format!("{ring}:{}", (taken.max(1) as u64 - 1) % DEAD_LETTERS_KEPT);
    // The tenant's ring owns its letters: the one pushed out goes.
    if tenant.is_some()
        && let Some(old) = kv.get(&slot)?
        && let Some((delivery, _)) = listed(kv, &old)?
    {
        kv.delete(&delivery.key())?;
        stats::add(kv, stats::DEAD_LETTERS, -1);
    }
    kv.set(&slot, entry)
}

/// The dead delivery a ring entry names, if it is still that dead letter.
fn listed<K: KeyValue + ?Sized>(kv: &K, entry: &[u8]) -> KvResult<Option<(Delivery, Vec<u8>)>> {
    let Ok(entry) = serde_json::from_slice::<RingEntry>(entry) else {
        return Ok(None);
    };
    let Some(key) = delivery_key(&entry.id) else {
        return Ok(None);
    };
    Ok(match outbox::load(kv, &key)? {
        Loaded::Found(d, raw)
            if d.generation == entry.generation
                && matches!(d.state, DeliveryState::Dead { .. }) =>
        {
            Some((*d, raw))
        }
        _ => None,
    })
}

/// A dead-letter query that is refused: what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidQuery(pub String);

impl InvalidQuery {
    /// 400 `invalid-query`, saying what is wrong.
    pub fn problem(&self, request_id: Option<&str>) -> Problem {
        Problem::new(400, "invalid-query", "Bad Request")
            .with_detail(self.0.clone())
            .with_request_id(request_id)
    }
}

/// The tenant `GET /admin/webhooks/dead` lists, from its query string: `tenant=<id>`
/// (form-encoded), or every tenant without one. An invalid id, a second `tenant`, or
/// any other parameter is refused, so a typo does not silently list every tenant's
/// letters.
pub fn tenant_filter(query: Option<&str>) -> Result<Option<String>, InvalidQuery> {
    let mut tenant = None;
    for (name, value) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match name.as_ref() {
            "tenant" if tenant.is_some() => {
                return Err(InvalidQuery("`tenant` is given more than once.".into()));
            }
            "tenant" => {
                check_id(&value, "tenant").map_err(|e| InvalidQuery(format!("`tenant`: {e}.")))?;
                tenant = Some(value.into_owned());
            }
            other => {
                return Err(InvalidQuery(format!(
                    "Unknown query parameter {other:?}: the only one is `tenant`."
                )));
            }
        }
    }
    Ok(tenant)
}

/// The newest dead letters, newest first, at most `limit`: of one tenant, or of all
/// (`None`). Reads the ring's counter, then one slot and one record per letter. A
/// tenant that is not a valid id has none (`_all` is not the all-tenants ring).
pub fn dead_letters<K: KeyValue + ?Sized>(
    kv: &K,
    tenant: Option<&str>,
    limit: usize,
) -> KvResult<Vec<DeadLetter>> {
    if let Some(tenant) = tenant
        && check_id(tenant, "tenant").is_err()
    {
        return Ok(Vec::new());
    }
    let ring = keys::dead_ring(tenant);
    let count = read_counter(kv, &format!("{ring}:count"))?;
    let mut seen = HashSet::new();
    let mut letters = Vec::new();
    for n in (count.saturating_sub(DEAD_LETTERS_KEPT)..count).rev() {
        if letters.len() >= limit {
            break;
        }
        let Some(entry) = kv.get(&format!("{ring}:{}", n % DEAD_LETTERS_KEPT))? else {
            continue;
        };
        if let Some((delivery, _)) = listed(kv, &entry)?
            && seen.insert(delivery.id.clone())
            && let Some(letter) = DeadLetter::of(delivery)
        {
            letters.push(letter);
        }
    }
    Ok(letters)
}

/// Why a replay did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplayError {
    /// No delivery has this id (or it was deleted after its retention): 404.
    NotFound,
    /// The delivery is not a dead letter (pending, delivered, replayed already): 409.
    NotDead,
    Store(KvError),
}

impl ReplayError {
    pub fn problem(&self, request_id: Option<&str>) -> Problem {
        match self {
            ReplayError::NotFound => Problem::new(404, "not-found", "Not Found")
                .with_detail("No dead letter has this id."),
            ReplayError::NotDead => Problem::new(409, "not-a-dead-letter", "Conflict")
                .with_detail("The delivery is not a dead letter: it is pending or delivered."),
            ReplayError::Store(_) => Problem::new(503, "store-unavailable", "Service Unavailable")
                .with_detail("Dead letters are temporarily unavailable."),
        }
        .with_request_id(request_id)
    }
}

impl From<KvError> for ReplayError {
    fn from(e: KvError) -> Self {
        ReplayError::Store(e)
    }
}

/// Puts dead letter `id` back into the outbox, due at `now` with its attempts
/// starting over (same `webhook-id`, so the endpoint can tell a replay from a new
/// event). The next tick delivers it. Returns the delivery as re-enqueued.
pub fn replay<K: KeyValue + ?Sized>(kv: &K, id: &str, now: u64) -> Result<Delivery, ReplayError> {
    let key = delivery_key(id).ok_or(ReplayError::NotFound)?;
    for _ in 0..3 {
        let (current, raw) = match outbox::load(kv, &key)? {
            Loaded::Found(d, raw) => (*d, raw),
            Loaded::Missing | Loaded::Corrupt => return Err(ReplayError::NotFound),
        };
        if !matches!(current.state, DeliveryState::Dead { .. }) {
            return Err(ReplayError::NotDead);
        }
        let mut next = current;
        next.generation += 1;
        next.attempt = 0;
        next.state = DeliveryState::Pending { due: now };
        outbox::index(kv, &next, now)?;
        if kv.compare_and_swap(&key, Some(&raw), &outbox::encode(&next))? {
            stats::add(kv, stats::OUTBOX_DEPTH, 1);
            stats::add(kv, stats::DEAD_LETTERS, -1);
            return Ok(next);
        }
    }
    Err(ReplayError::Store(KvError(format!(
        "dead letter `{id}` kept changing"
    ))))
}
