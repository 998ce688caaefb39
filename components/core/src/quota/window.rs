//! One budget's fixed-window counter in key-value, with atomic operations only.
//!
//! A budget (one limit for one partition, e.g. limit `per-key` for one API key) lives
//! under a key prefix `<budget>` as two kinds of records:
//!
//! - `<budget>/window`: the newest window index, as decimal text. Written only by
//!   `compare_and_swap`, so it only ever moves forward.
//! - `<budget>/<index>`: the units charged in that window. Written only by
//!   `increment` (never by `set` or a swap: stores encode counters their own way, so
//!   a counter is never compared byte for byte).
//!
//! Charging reads the newest window; a caller whose clock says a later window moves
//! the marker forward (one swap wins) and deletes the previous window's counter, so a
//! budget holds at most its marker and one counter. A caller whose clock says an
//! earlier window counts in the newest one: a clock running behind never opens a
//! window that has already closed.
//!
//! A caller that read the marker just before it moved may increment the counter the
//! mover deleted, recreating it. Such an increment returns exactly its own delta (the
//! counter was absent), so every increment that returns its delta checks the marker
//! again and, if the window is no longer the newest, deletes what it recreated and
//! starts over. The last operation on a stale counter is therefore always a delete.

use crate::kv::{KeyValue, KvError, KvResult};

/// How often a charge starts over because the window moved under it before giving
/// up; windows last at least a second, so one retry is the most a charge needs.
const ATTEMPTS: usize = 4;

/// A charge that reached the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Charged {
    /// The window the units were counted in.
    pub index: u64,
    /// The window's total after this charge (in-flight charges of other requests
    /// included).
    pub total: i64,
}

fn marker_key(budget: &str) -> String {
    format!("{budget}/window")
}

fn counter_key(budget: &str, index: u64) -> String {
    format!("{budget}/{index}")
}

/// The newest window index and the marker's bytes as stored (`None`: no marker yet).
/// An unreadable marker reads as index 0, so the next charge swaps it for a good one.
fn newest<K: KeyValue + ?Sized>(kv: &K, budget: &str) -> KvResult<(Option<u64>, Option<Vec<u8>>)> {
    let raw = kv.get(&marker_key(budget))?;
    let index = raw.as_deref().map(|bytes| {
        std::str::from_utf8(bytes)
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0)
    });
    Ok((index, raw))
}

/// Deletes `<budget>/<index>` if `index` is no longer the newest window: after an
/// increment that may have recreated it. Returns whether it was stale.
fn drop_if_stale<K: KeyValue + ?Sized>(kv: &K, budget: &str, index: u64) -> KvResult<bool> {
    let (newest, _) = newest(kv, budget)?;
    if newest == Some(index) {
        return Ok(false);
    }
    kv.delete(&counter_key(budget, index))?;
    Ok(true)
}

/// Counts `units` in the budget's newest window; `local` is the window index by the
/// caller's clock.
pub(crate) fn charge<K: KeyValue + ?Sized>(
    kv: &K,
    budget: &str,
    units: u32,
    local: u64,
) -> KvResult<Charged> {
    let delta = i64::from(units);
    for _ in 0..ATTEMPTS {
        let (newest, raw) = newest(kv, budget)?;
        let index = match newest {
            Some(index) if index >= local => index,
            previous => {
                let next = local.to_string();
                if !kv.compare_and_swap(&marker_key(budget), raw.as_deref(), next.as_bytes())? {
                    continue;
                }
                if let Some(previous) = previous {
                    kv.delete(&counter_key(budget, previous))?;
                }
                local
            }
        };
        let total = kv.increment(&counter_key(budget, index), delta)?;
        if total == delta && drop_if_stale(kv, budget, index)? {
            continue;
        }
        return Ok(Charged { index, total });
    }
    Err(KvError(format!("quota window of `{budget}` kept moving")))
}

/// Gives back `units` charged in window `index`. A window that has been dropped since
/// needs nothing back: whatever the refund recreated is deleted again.
pub(crate) fn refund<K: KeyValue + ?Sized>(
    kv: &K,
    budget: &str,
    index: u64,
    units: u32,
) -> KvResult<()> {
    let total = kv.increment(&counter_key(budget, index), -i64::from(units))?;
    if total < 0 {
        drop_if_stale(kv, budget, index)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use crate::quota::testkit::Hooked;

    const BUDGET: &str = "quota/tenant/acme/per-key/all";

    #[test]
    fn units_add_up_within_a_window() {
        let kv = MemoryKv::new();
        assert_eq!(
            charge(&kv, BUDGET, 1, 7).unwrap(),
            Charged { index: 7, total: 1 }
        );
        assert_eq!(
            charge(&kv, BUDGET, 3, 7).unwrap(),
            Charged { index: 7, total: 4 }
        );
    }

    #[test]
    fn a_new_window_starts_from_zero_and_drops_the_previous_counter() {
        let kv = MemoryKv::new();
        charge(&kv, BUDGET, 5, 7).unwrap();
        assert_eq!(
            charge(&kv, BUDGET, 1, 8).unwrap(),
            Charged { index: 8, total: 1 }
        );
        assert_eq!(
            kv.keys(),
            [format!("{BUDGET}/8"), format!("{BUDGET}/window")]
        );
    }

    #[test]
    fn a_clock_behind_counts_in_the_newest_window() {
        let kv = MemoryKv::new();
        charge(&kv, BUDGET, 5, 8).unwrap();
        assert_eq!(
            charge(&kv, BUDGET, 1, 7).unwrap(),
            Charged { index: 8, total: 6 }
        );
        assert_eq!(kv.keys().len(), 2);
    }

    #[test]
    fn a_charge_racing_a_window_change_counts_in_the_new_window() {
        let kv = MemoryKv::new();
        charge(&kv, BUDGET, 1, 7).unwrap();
        // Another caller opens window 8 between this caller's read of the marker (7)
        // and its increment.
        let raced = std::cell::Cell::new(false);
        let racing = Hooked {
            inner: &kv,
            hook: |op: &str, _: &str| {
                if op == "increment" && !raced.replace(true) {
                    charge(&kv, BUDGET, 1, 8)?;
                }
                Ok(())
            },
        };
        // Window 7's counter was deleted under it: its increment recreates it, sees
        // the marker moved, deletes it again and counts in window 8.
        assert_eq!(
            charge(&racing, BUDGET, 1, 7).unwrap(),
            Charged { index: 8, total: 2 }
        );
        assert_eq!(
            kv.keys(),
            [format!("{BUDGET}/8"), format!("{BUDGET}/window")]
        );
    }

    #[test]
    fn a_refund_after_the_window_closed_leaves_nothing_behind() {
        let kv = MemoryKv::new();
        let charged = charge(&kv, BUDGET, 2, 7).unwrap();
        charge(&kv, BUDGET, 1, 8).unwrap();
        refund(&kv, BUDGET, charged.index, 2).unwrap();
        assert_eq!(
            kv.keys(),
            [format!("{BUDGET}/8"), format!("{BUDGET}/window")]
        );
        assert_eq!(charge(&kv, BUDGET, 1, 8).unwrap().total, 2);
    }

    #[test]
    fn an_unreadable_marker_is_replaced() {
        let kv = MemoryKv::new();
        kv.set(&marker_key(BUDGET), b"garbage").unwrap();
        assert_eq!(
            charge(&kv, BUDGET, 1, 7).unwrap(),
            Charged { index: 7, total: 1 }
        );
        assert_eq!(kv.get(&marker_key(BUDGET)).unwrap().unwrap(), b"7");
    }
}
