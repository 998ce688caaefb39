//! Deleting expired idempotency records without listing keys.
//!
//! Every claim appends its record key to the log of the day it was made
//! (`idem-seq:<day>` counts the entries, `idem-log:<day>:<n>` holds the n-th). Records
//! live 24 h from their claim, so once day `d + 2` has begun, every record logged on day
//! `d` has expired unless it was claimed again later (and then it is also in a later
//! log). `idem-swept` is the last day whose log is done. Each new claim takes a couple
//! of steps: one entry of the oldest unswept day (`idem-cursor:<day>` hands out entries,
//! each to one sweeper), deleting the record if it has expired, then the entry; past
//! the last entry, the day's counters go and `idem-swept` moves on by compare-and-swap.
//! Days without claims take one step each. So sweeping keeps up with claims, and the
//! store holds about two days of keys.
//!
//! A record is read, found expired, then deleted: a client reusing that exact expired
//! key in that instant could lose its fresh in-flight claim. The window is one
//! key-value round trip on a key nobody has used for a day; the cost would be one
//! duplicate request processed. A sweeper that hands out an entry after its day was
//! closed can leave its cursor key behind; closing the next day deletes it.

use super::Record;
use crate::kv::{KeyValue, KvError};

const DAY_MS: u64 = 24 * 60 * 60 * 1000;
/// Sweep steps per claim.
const STEPS: usize = 2;
const SWEPT: &str = "idem-swept";

fn seq_key(day: u64) -> String {
    format!("idem-seq:{day}")
}

fn log_key(day: u64, n: i64) -> String {
    format!("idem-log:{day}:{n}")
}

fn cursor_key(day: u64) -> String {
    format!("idem-cursor:{day}")
}

fn number<T: std::str::FromStr>(bytes: Option<Vec<u8>>) -> Option<T> {
    bytes
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.parse().ok())
}

/// Logs a claim of `record_key` today.
pub(super) fn log<K: KeyValue + ?Sized>(
    kv: &K,
    record_key: &str,
    now_ms: u64,
) -> Result<(), KvError> {
    let day = now_ms / DAY_MS;
    let n = kv.increment(&seq_key(day), 1)?;
    kv.set(&log_key(day, n), record_key.as_bytes())
}

/// A few steps of sweeping (see the module doc).
pub(super) fn sweep_some<K: KeyValue + ?Sized>(kv: &K, now_ms: u64) -> Result<(), KvError> {
    let today = now_ms / DAY_MS;
    for _ in 0..STEPS {
        let swept_raw = kv.get(SWEPT)?;
        let Some(swept) = number::<u64>(swept_raw.clone()) else {
            // The first claim of this store: nothing is older than yesterday.
            kv.compare_and_swap(
                SWEPT,
                swept_raw.as_deref(),
                today.saturating_sub(2).to_string().as_bytes(),
            )?;
            return Ok(());
        };
        let day = swept + 1;
        if day + 2 > today {
            return Ok(());
        }
        let entries = crate::kv::read_counter(kv, &seq_key(day))?;
        let n = kv.increment(&cursor_key(day), 1)?;
        if n <= entries {
            let entry = log_key(day, n);
            if let Some(record_key) = kv.get(&entry)?.and_then(|b| String::from_utf8(b).ok()) {
                let expired = kv.get(&record_key)?.map(|bytes| {
                    Record::decode(&bytes).is_none_or(|r| r.expires_at_ms() <= now_ms)
                });
                if expired == Some(true) {
                    kv.delete(&record_key)?;
                }
            }
            kv.delete(&entry)?;
        } else {
            kv.delete(&seq_key(day))?;
            kv.delete(&cursor_key(day))?;
            kv.delete(&cursor_key(day.saturating_sub(1)))?;
            kv.compare_and_swap(SWEPT, swept_raw.as_deref(), day.to_string().as_bytes())?;
        }
    }
    Ok(())
}
