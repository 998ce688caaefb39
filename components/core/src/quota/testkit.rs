//! Test doubles for the quota tests.

use crate::kv::{KeyValue, KvResult, MemoryKv};

/// A [`MemoryKv`] that calls `hook(operation, key)` before each operation: to fail
/// some keys, or to let another caller act between two steps of a check.
pub(crate) struct Hooked<'a, F: Fn(&str, &str) -> KvResult<()>> {
    pub inner: &'a MemoryKv,
    pub hook: F,
}

impl<F: Fn(&str, &str) -> KvResult<()>> KeyValue for Hooked<'_, F> {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        (self.hook)("get", key)?;
        self.inner.get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        (self.hook)("set", key)?;
        self.inner.set(key, value)
    }
    fn delete(&self, key: &str) -> KvResult<()> {
        (self.hook)("delete", key)?;
        self.inner.delete(key)
    }
    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        (self.hook)("increment", key)?;
        self.inner.increment(key, delta)
    }
    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> KvResult<bool> {
        (self.hook)("compare_and_swap", key)?;
        self.inner.compare_and_swap(key, expected, new)
    }
}

/// Runs `attempt(i)` for `i` in `0..n` on `n` threads at once; how many returned true.
pub(crate) fn concurrently(n: u64, attempt: impl Fn(u64) -> bool + Sync) -> usize {
    let passed = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for i in 0..n {
            let (attempt, passed) = (&attempt, &passed);
            scope.spawn(move || {
                if attempt(i) {
                    passed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    passed.into_inner()
}
