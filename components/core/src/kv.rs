//! The key-value operations core logic needs, as a trait so the logic runs natively
//! in tests (`MemoryKv`) and on Spin's stores in the components. Every method is one
//! atomic operation of the backing store; there is no get-then-set anywhere.

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KvError(pub String);

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "key-value store: {}", self.0)
    }
}

impl std::error::Error for KvError {}

pub type KvResult<T> = Result<T, KvError>;

pub trait KeyValue {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    fn set(&self, key: &str, value: &[u8]) -> KvResult<()>;
    fn delete(&self, key: &str) -> KvResult<()>;
    /// Adds `delta` (absent counts as 0) and returns the new value.
    fn increment(&self, key: &str, delta: i64) -> KvResult<i64>;
    /// Writes `new` only if the value is still `expected` (`None` = absent);
    /// `Ok(false)` when it changed.
    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> KvResult<bool>;
}

/// A counter as a store holds it: decimal text (Redis, and earlier waypost SQLite
/// files), else an 8-byte little-endian integer (Spin's SQLite store). Text is tried
/// first only when it is all digits and `-`, so such an 8-byte integer is not misread.
pub fn decode_counter(bytes: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(bytes)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'-'))
        .and_then(|s| s.parse().ok());
    text.or_else(|| <[u8; 8]>::try_from(bytes).ok().map(i64::from_le_bytes))
}

/// The value of an `increment` counter, 0 when absent. Stores encode counters their own
/// way (Spin's SQLite store: an 8-byte little-endian integer; Redis: decimal text), so
/// a value that is not decimal text is read through the store with `increment(key, 0)`.
pub fn read_counter<K: KeyValue + ?Sized>(kv: &K, key: &str) -> KvResult<i64> {
    match kv.get(key)? {
        None => Ok(0),
        Some(raw) => match std::str::from_utf8(&raw).ok().and_then(|s| s.parse().ok()) {
            Some(n) => Ok(n),
            None => kv.increment(key, 0),
        },
    }
}

/// An in-memory store for tests, with an optional fault switch.
#[derive(Default)]
pub struct MemoryKv {
    data: Mutex<HashMap<String, Vec<u8>>>,
    failing: Mutex<bool>,
}

impl MemoryKv {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every later operation fail, as a store outage would.
    pub fn set_failing(&self, failing: bool) {
        *self.failing.lock().unwrap() = failing;
    }

    pub fn keys(&self) -> Vec<String> {
        let mut keys: Vec<String> = self.data.lock().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn data(&self) -> KvResult<std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>>> {
        if *self.failing.lock().unwrap() {
            return Err(KvError("store unavailable".into()));
        }
        Ok(self.data.lock().unwrap())
    }
}

impl KeyValue for MemoryKv {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        Ok(self.data()?.get(key).cloned())
    }

    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.data()?.insert(key.to_string(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        self.data()?.remove(key);
        Ok(())
    }

    /// Keeps the counter as Spin's default (SQLite) store does, an 8-byte little-endian
    /// integer, so logic that reads a counter as text fails its tests here as it would
    /// on Spin. A decimal text value (Redis's encoding) counts on.
    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        let mut data = self.data()?;
        let current = match data.get(key) {
            None => 0,
            Some(v) => {
                decode_counter(v).ok_or_else(|| KvError(format!("`{key}` is not a counter")))?
            }
        };
        let next = current + delta;
        data.insert(key.to_string(), next.to_le_bytes().to_vec());
        Ok(next)
    }

    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> KvResult<bool> {
        let mut data = self.data()?;
        if data.get(key).map(Vec::as_slice) != expected {
            return Ok(false);
        }
        data.insert(key.to_string(), new.to_vec());
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_counter_reads_the_same_in_spins_sqlite_encoding_and_as_redis_text() {
        let kv = MemoryKv::new();
        assert_eq!(read_counter(&kv, "absent").unwrap(), 0);
        kv.increment("sqlite", 41).unwrap();
        assert_eq!(
            kv.get("sqlite").unwrap(),
            Some(41i64.to_le_bytes().to_vec())
        );
        assert_eq!(read_counter(&kv, "sqlite").unwrap(), 41);
        kv.set("redis", b"-7").unwrap();
        assert_eq!(read_counter(&kv, "redis").unwrap(), -7);
        kv.set("other", b"not a number").unwrap();
        assert!(read_counter(&kv, "other").is_err());
    }
}
