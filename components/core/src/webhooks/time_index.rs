//! A time-ordered index in a key-value store that cannot list keys: entries go into
//! buckets of `width` seconds, each bucket a counter plus numbered slots, and a
//! cursor names the oldest bucket that may still hold entries.
//!
//! Layout (prefix `p`):
//! - `p:cursor` → the oldest bucket not yet finished (decimal);
//! - `p:<bucket>:count` → how many slots the bucket has handed out (`increment`);
//! - `p:<bucket>:<n>` → one entry (opaque bytes).
//!
//! [`TimeIndex::add`] takes a slot with one `increment`, so writers never contend on
//! a shared list. [`TimeIndex::scan`] walks buckets from the cursor up to now and
//! hands each entry to a visitor, which says whether the entry is done (its slot is
//! deleted) or still needed. A bucket whose end lies [`GRACE_SECS`] in the past and
//! whose entries are all done is forgotten (its counter deleted) and the cursor moves
//! past it with a compare-and-swap, so concurrent scans agree. Writers only add at or
//! after their own `now`, so a finished bucket never gets a late entry unless a clock
//! is off by more than the grace. Storage is bounded by the entries not yet done plus
//! the buckets of the last grace period.

use crate::kv::{KeyValue, KvError, KvResult};

/// How long after its end a bucket is kept open for late writers (clock skew, slow
/// requests), in seconds.
pub const GRACE_SECS: u64 = 120;

/// What the visitor decided about one entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// The entry is finished with: delete its slot.
    Done,
    /// The entry is still needed: keep it (its bucket stays open).
    Keep,
    /// Stop the scan here (a budget is spent); the entry is kept.
    Stop,
}

/// A bucketed time index under one key prefix.
#[derive(Debug, Clone, Copy)]
pub struct TimeIndex {
    pub prefix: &'static str,
    pub width_secs: u64,
}

impl TimeIndex {
    pub const fn new(prefix: &'static str, width_secs: u64) -> Self {
        Self { prefix, width_secs }
    }

    fn cursor_key(&self) -> String {
        format!("{}:cursor", self.prefix)
    }

    fn count_key(&self, bucket: u64) -> String {
        format!("{}:{bucket}:count", self.prefix)
    }

    fn slot_key(&self, bucket: u64, slot: u64) -> String {
        format!("{}:{bucket}:{slot}", self.prefix)
    }

    /// The bucket holding time `at`.
    pub fn bucket(&self, at: u64) -> u64 {
        at / self.width_secs
    }

    /// Adds `entry` at time `at` (a time before `now` counts as `now`). Four store
    /// operations: the cursor is set if there is none yet (so a scan starts no later
    /// than this entry), then a slot is taken and written.
    pub fn add<K: KeyValue + ?Sized>(
        &self,
        kv: &K,
        at: u64,
        entry: &[u8],
        now: u64,
    ) -> KvResult<()> {
        let floor = self.bucket(now.saturating_sub(GRACE_SECS));
        kv.compare_and_swap(&self.cursor_key(), None, floor.to_string().as_bytes())?;
        let bucket = self.bucket(at.max(now));
        let taken = kv.increment(&self.count_key(bucket), 1)?;
        let slot = u64::try_from(taken - 1)
            .map_err(|_| KvError(format!("index counter of bucket {bucket} is negative")))?;
        kv.set(&self.slot_key(bucket, slot), entry)
    }

    /// Visits the entries of the buckets from the cursor up to the one holding `now`,
    /// at most `max_buckets` of them, oldest first.
    pub fn scan<K: KeyValue + ?Sized>(
        &self,
        kv: &K,
        now: u64,
        max_buckets: u64,
        mut visit: impl FnMut(&[u8]) -> KvResult<Visit>,
    ) -> KvResult<()> {
        let cursor_key = self.cursor_key();
        let Some(raw) = kv.get(&cursor_key)? else {
            // Nothing was ever added.
            return Ok(());
        };
        let cursor = parse_u64(&raw)
            .ok_or_else(|| KvError(format!("`{cursor_key}` is not a bucket number")))?;
        let last = self
            .bucket(now)
            .min(cursor.saturating_add(max_buckets.saturating_sub(1)));
        // Only an unbroken run of finished buckets from the cursor moves it.
        let mut advancing = true;
        for bucket in cursor..=last {
            let mut open = false;
            for slot in 0..self.count(kv, bucket)? {
                let key = self.slot_key(bucket, slot);
                // A missing slot was done already, or its writer has not written it yet.
                let Some(entry) = kv.get(&key)? else { continue };
                match visit(&entry)? {
                    Visit::Done => kv.delete(&key)?,
                    Visit::Keep => open = true,
                    Visit::Stop => return Ok(()),
                }
            }
            let finished = (bucket + 1) * self.width_secs + GRACE_SECS <= now && !open;
            if advancing && finished {
                kv.delete(&self.count_key(bucket))?;
                kv.compare_and_swap(
                    &cursor_key,
                    Some(bucket.to_string().as_bytes()),
                    (bucket + 1).to_string().as_bytes(),
                )?;
            } else {
                advancing = false;
            }
        }
        Ok(())
    }

    /// How many slots a bucket handed out.
    fn count<K: KeyValue + ?Sized>(&self, kv: &K, bucket: u64) -> KvResult<u64> {
        read_counter(kv, &self.count_key(bucket))
    }
}

/// A count kept with `increment` ([`crate::kv::read_counter`]); below zero reads as 0.
pub fn read_counter<K: KeyValue + ?Sized>(kv: &K, key: &str) -> KvResult<u64> {
    Ok(u64::try_from(crate::kv::read_counter(kv, key)?).unwrap_or(0))
}

fn parse_u64(raw: &[u8]) -> Option<u64> {
    std::str::from_utf8(raw).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    const INDEX: TimeIndex = TimeIndex::new("t", 10);

    fn collect(kv: &MemoryKv, now: u64) -> Vec<String> {
        let mut seen = Vec::new();
        INDEX
            .scan(kv, now, 1_000, |e| {
                seen.push(String::from_utf8(e.to_vec()).unwrap());
                Ok(Visit::Done)
            })
            .unwrap();
        seen
    }

    #[test]
    fn entries_come_back_oldest_bucket_first_and_only_once_due() {
        let kv = MemoryKv::new();
        let now = 1_000;
        INDEX.add(&kv, now + 25, b"c", now).unwrap();
        INDEX.add(&kv, now, b"a", now).unwrap();
        INDEX.add(&kv, now + 12, b"b", now).unwrap();
        assert_eq!(collect(&kv, now), vec!["a"]);
        assert_eq!(collect(&kv, now + 29), vec!["b", "c"]);
        assert!(collect(&kv, now + 30).is_empty(), "done entries are gone");
    }

    #[test]
    fn finished_buckets_are_forgotten_after_the_grace() {
        let kv = MemoryKv::new();
        for i in 0..50 {
            INDEX.add(&kv, 1_000 + i * 7, b"x", 1_000).unwrap();
        }
        let later = 1_000 + 50 * 7 + 10 + GRACE_SECS;
        assert_eq!(collect(&kv, later).len(), 50);
        assert_eq!(kv.keys(), vec!["t:cursor".to_string()]);
        let cursor = kv.get("t:cursor").unwrap().unwrap();
        assert_eq!(
            cursor,
            INDEX.bucket(later - GRACE_SECS).to_string().into_bytes()
        );
    }

    #[test]
    fn a_kept_entry_holds_the_cursor_and_later_buckets_are_still_visited() {
        let kv = MemoryKv::new();
        INDEX.add(&kv, 100, b"keep", 100).unwrap();
        INDEX.add(&kv, 200, b"done", 100).unwrap();
        let now = 200 + 10 + GRACE_SECS;
        let mut seen = Vec::new();
        INDEX
            .scan(&kv, now, 1_000, |e| {
                seen.push(e.to_vec());
                Ok(if e == b"keep" {
                    Visit::Keep
                } else {
                    Visit::Done
                })
            })
            .unwrap();
        assert_eq!(seen, vec![b"keep".to_vec(), b"done".to_vec()]);
        let cursor = kv.get("t:cursor").unwrap().unwrap();
        assert_eq!(
            cursor,
            b"10".to_vec(),
            "stays at the bucket of the kept entry"
        );
        assert_eq!(collect(&kv, now), vec!["keep"]);
    }

    #[test]
    fn stop_leaves_the_rest_for_the_next_scan() {
        let kv = MemoryKv::new();
        for e in [b"1", b"2", b"3"] {
            INDEX.add(&kv, 50, e, 50).unwrap();
        }
        let mut n = 0;
        INDEX
            .scan(&kv, 60, 1_000, |_| {
                n += 1;
                Ok(if n > 2 { Visit::Stop } else { Visit::Done })
            })
            .unwrap();
        assert_eq!(collect(&kv, 60), vec!["3"]);
    }

    #[test]
    fn a_scan_visits_at_most_max_buckets() {
        let kv = MemoryKv::new();
        INDEX.add(&kv, 0, b"old", 0).unwrap();
        INDEX.add(&kv, 5_000, b"new", 0).unwrap();
        let mut seen = Vec::new();
        INDEX
            .scan(&kv, 10_000, 3, |e| {
                seen.push(e.to_vec());
                Ok(Visit::Done)
            })
            .unwrap();
        assert_eq!(seen, vec![b"old".to_vec()]);
        assert_eq!(kv.get("t:cursor").unwrap().unwrap(), b"3".to_vec());
        assert_eq!(collect(&kv, 10_000), vec!["new"]);
    }

    #[test]
    fn an_empty_index_reads_one_key() {
        let kv = MemoryKv::new();
        assert!(collect(&kv, 1_000).is_empty());
        assert!(kv.keys().is_empty());
    }
}
