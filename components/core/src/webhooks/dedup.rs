//! Exactly-once intake: the first request to claim a (tenant, carrier, event id)
//! records the event; every later one within the dedup window is a duplicate.
//!
//! A claim is one `compare_and_swap(key, None, record)` on
//! `webhooks:claim:<tenant>:<carrier>:<hash of event id>`, so of any number of
//! concurrent requests exactly one wins. The record says whether the winner finished
//! recording (fan-out into the outbox): a claim left unfinished (its request died
//! before answering, so the carrier retries) is [`Claim::Unfinished`], and the retry
//! records again, which is idempotent.
//!
//! Claims expire after the window: an expired claim is claimed afresh, and
//! [`sweep_claims`] deletes them through an index of expiry times (hour buckets, see
//! [`super::time_index`]), so storage holds at most one window of claims.

use super::keys;
use super::time_index::{TimeIndex, Visit};
use crate::kv::{KeyValue, KvError, KvResult};
use serde::{Deserialize, Serialize};

/// The claims' expiry index: `webhooks:claim-index:<hour>:...`.
const INDEX: TimeIndex = TimeIndex::new(keys::CLAIM_INDEX, 3600);

/// Buckets (hours) one sweep walks at most.
const MAX_SWEEP_BUCKETS: u64 = 24 * 31;

/// What a claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// This request is the first: record the event, then [`finish_claim`].
    First,
    /// Recorded already: answer 2xx, do nothing.
    Duplicate,
    /// Claimed by an earlier request that has not finished recording (it died, or is
    /// still at it): record again (idempotent), then [`finish_claim`].
    Unfinished,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ClaimRecord {
    claimed_at: u64,
    expires_at: u64,
    recorded: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct IndexEntry {
    key: String,
    expires_at: u64,
}

/// Claims event `event_id` of `carrier` for `tenant` at `now` (Unix seconds) for
/// `window_secs`. Writes the claim and, for a first claim, its expiry index entry.
pub fn claim<K: KeyValue + ?Sized>(
    kv: &K,
    tenant: &str,
    carrier: &str,
    event_id: &str,
    now: u64,
    window_secs: u32,
) -> KvResult<Claim> {
    let key = keys::claim(tenant, carrier, event_id);
    let record = ClaimRecord {
        claimed_at: now,
        expires_at: now + u64::from(window_secs),
        recorded: false,
    };
    let fresh = serde_json::to_vec(&record).expect("a claim serializes");
    // Rounds only repeat when the claim changes under us (expired and re-claimed, or
    // swept); two are plenty, a third settles for the safe answer.
    for _ in 0..3 {
        if kv.compare_and_swap(&key, None, &fresh)? {
            index(kv, &key, record.expires_at, now)?;
            return Ok(Claim::First);
        }
        let Some(current) = kv.get(&key)? else {
            continue;
        };
        match serde_json::from_slice::<ClaimRecord>(&current) {
            Ok(existing) if existing.expires_at > now && existing.recorded => {
                return Ok(Claim::Duplicate);
            }
            Ok(existing) if existing.expires_at > now => {
                // The claimer may have died before indexing its claim: index it again
                // (a second entry is harmless), so the sweep still finds it.
                index(kv, &key, existing.expires_at, now)?;
                return Ok(Claim::Unfinished);
            }
            // Expired (or unreadable): this event is new again.
            _ => {
                if kv.compare_and_swap(&key, Some(&current), &fresh)? {
                    index(kv, &key, record.expires_at, now)?;
                    return Ok(Claim::First);
                }
            }
        }
    }
    Ok(Claim::Unfinished)
}

fn index<K: KeyValue + ?Sized>(kv: &K, key: &str, expires_at: u64, now: u64) -> KvResult<()> {
    let entry = IndexEntry {
        key: key.to_string(),
        expires_at,
    };
    INDEX.add(
        kv,
        expires_at,
        &serde_json::to_vec(&entry).expect("serializes"),
        now,
    )
}

/// Marks a claim as recorded: later claims within the window are duplicates.
pub fn finish_claim<K: KeyValue + ?Sized>(
    kv: &K,
    tenant: &str,
    carrier: &str,
    event_id: &str,
) -> KvResult<()> {
    let key = keys::claim(tenant, carrier, event_id);
    for _ in 0..3 {
        let Some(current) = kv.get(&key)? else {
            return Err(KvError(format!(
                "claim `{key}` vanished before it was finished"
            )));
        };
        let mut record: ClaimRecord = serde_json::from_slice(&current)
            .map_err(|e| KvError(format!("corrupt claim `{key}`: {e}")))?;
        if record.recorded {
            return Ok(());
        }
        record.recorded = true;
        let done = serde_json::to_vec(&record).expect("a claim serializes");
        if kv.compare_and_swap(&key, Some(&current), &done)? {
            return Ok(());
        }
    }
    Err(KvError(format!("claim `{key}` kept changing")))
}

/// Deletes claims whose window has passed, at most `max` of them. Returns how many
/// were deleted. Run it from the tick; storage stays at one window of claims.
pub fn sweep_claims<K: KeyValue + ?Sized>(kv: &K, now: u64, max: usize) -> KvResult<usize> {
    let mut deleted = 0;
    INDEX.scan(kv, now, MAX_SWEEP_BUCKETS, |raw| {
        let Ok(entry) = serde_json::from_slice::<IndexEntry>(raw) else {
            return Ok(Visit::Done);
        };
        if entry.expires_at > now {
            return Ok(Visit::Keep);
        }
        if deleted >= max {
            return Ok(Visit::Stop);
        }
        // A claim taken afresh after expiring has a later expiry (and its own entry).
        let expired = |raw: &[u8]| match serde_json::from_slice::<ClaimRecord>(raw) {
            Ok(claim) => claim.expires_at <= now,
            Err(_) => true,
        };
        if let Some(current) = kv.get(&entry.key)?
            && expired(&current)
        {
            kv.delete(&entry.key)?;
            deleted += 1;
        }
        Ok(Visit::Done)
    })?;
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use std::sync::Arc;

    const WINDOW: u32 = 72 * 3600;
    const T0: u64 = 1_800_000_000;

    #[test]
    fn first_then_unfinished_then_duplicate() {
        let kv = MemoryKv::new();
        assert_eq!(
            claim(&kv, "acme", "ups", "e1", T0, WINDOW).unwrap(),
            Claim::First
        );
        assert_eq!(
            claim(&kv, "acme", "ups", "e1", T0 + 1, WINDOW).unwrap(),
            Claim::Unfinished
        );
        finish_claim(&kv, "acme", "ups", "e1").unwrap();
        assert_eq!(
            claim(&kv, "acme", "ups", "e1", T0 + 2, WINDOW).unwrap(),
            Claim::Duplicate
        );
        assert_eq!(
            claim(&kv, "acme", "fedex", "e1", T0, WINDOW).unwrap(),
            Claim::First,
            "per carrier"
        );
        assert_eq!(
            claim(&kv, "globex", "ups", "e1", T0, WINDOW).unwrap(),
            Claim::First,
            "per tenant"
        );
    }

    #[test]
    fn the_window_ends_exactly_at_its_length() {
        let kv = MemoryKv::new();
        let w = 3600;
        claim(&kv, "acme", "ups", "e1", T0, w).unwrap();
        finish_claim(&kv, "acme", "ups", "e1").unwrap();
        let end = T0 + u64::from(w);
        assert_eq!(
            claim(&kv, "acme", "ups", "e1", end - 1, w).unwrap(),
            Claim::Duplicate
        );
        assert_eq!(
            claim(&kv, "acme", "ups", "e1", end, w).unwrap(),
            Claim::First
        );
    }

    #[test]
    fn of_fifty_concurrent_duplicates_exactly_one_is_first() {
        let kv = Arc::new(MemoryKv::new());
        let handles: Vec<_> = (0..50)
            .map(|_| {
                let kv = Arc::clone(&kv);
                std::thread::spawn(move || claim(&*kv, "acme", "ups", "same", T0, WINDOW).unwrap())
            })
            .collect();
        let claims: Vec<Claim> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(claims.iter().filter(|c| **c == Claim::First).count(), 1);
    }

    #[test]
    fn storage_holds_one_window_of_claims() {
        let kv = MemoryKv::new();
        let window = 3600;
        // Ten days of one event a minute, swept every ten minutes.
        let mut most = 0;
        for minute in 0..(10 * 24 * 60) {
            let now = T0 + minute * 60;
            claim(&kv, "acme", "ups", &format!("e{minute}"), now, window).unwrap();
            if minute % 10 == 0 {
                sweep_claims(&kv, now, 10_000).unwrap();
            }
            let claims = kv
                .keys()
                .iter()
                .filter(|k| k.starts_with("webhooks:claim:"))
                .count();
            most = most.max(claims);
        }
        // One window (60) plus what waits for the hour bucket and the grace (≤ 2 h).
        assert!(most <= 60 + 10 + 1, "at most {most} claims were stored");
        let total = kv.keys().len();
        assert!(total < 3 * most, "index keys stay proportional: {total}");
        let end = T0 + 10 * 24 * 3600 + u64::from(window) + 2 * 3600 + 300;
        sweep_claims(&kv, end, 10_000).unwrap();
        assert_eq!(kv.keys(), vec!["webhooks:claim-index:cursor".to_string()]);
    }

    #[test]
    fn a_reclaimed_event_is_not_swept_with_its_old_entry() {
        let kv = MemoryKv::new();
        claim(&kv, "acme", "ups", "e1", T0, 60).unwrap();
        // Expired and claimed again just before the sweep reaches the old entry.
        let later = T0 + 3 * 3600;
        assert_eq!(
            claim(&kv, "acme", "ups", "e1", later, 3600).unwrap(),
            Claim::First
        );
        sweep_claims(&kv, later + 1, 100).unwrap();
        assert_eq!(
            claim(&kv, "acme", "ups", "e1", later + 2, 3600).unwrap(),
            Claim::Unfinished
        );
    }

    #[test]
    fn store_faults_surface() {
        let kv = MemoryKv::new();
        kv.set_failing(true);
        assert!(claim(&kv, "acme", "ups", "e1", T0, WINDOW).is_err());
        assert!(sweep_claims(&kv, T0, 10).is_err());
    }
}
