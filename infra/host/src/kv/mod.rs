//! Key-value capability: the `StoreManager` trait every backend implements, the
//! per-app set of labelled stores built from the manifest and runtime config, and
//! the per-instance view that enforces a component's `key_value_stores` grant.

mod bindings;
pub mod redis;
pub mod sqlite;

use std::collections::HashMap;
use std::sync::Arc;

pub use bindings::{CasHandle, KvCtx, StoreHandle, add_to_linker};

/// Errors a backend reports. `Other` carries text shown to the guest as
/// `error::other(...)`; it never contains secrets (connection strings are redacted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KvError {
    Other(String),
}

impl std::fmt::Display for KvError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KvError::Other(msg) => f.write_str(msg),
        }
    }
}

pub type KvResult<T> = Result<T, KvError>;

/// Outcome of a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SwapOutcome {
    Swapped,
    /// The value changed since the CAS handle read it.
    Conflict,
}

/// One labelled store. Backends (SQLite, Redis, ...) implement this; every method is
/// a single atomic operation on the backend.
pub trait Store: Send + Sync {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>>;
    fn set(&self, key: &str, value: &[u8]) -> KvResult<()>;
    fn delete(&self, key: &str) -> KvResult<()>;
    fn exists(&self, key: &str) -> KvResult<bool>;
    fn keys(&self) -> KvResult<Vec<String>>;
    /// Adds `delta` to the integer stored at `key` (absent counts as 0) and returns
    /// the new value, atomically with respect to every other caller.
    fn increment(&self, key: &str, delta: i64) -> KvResult<i64>;
    /// Writes `new` only if the current value is still `expected` (`None` = absent).
    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<SwapOutcome>;
    /// Whether a call made now would wait for another thread to finish with the
    /// backend. A hint, not a reservation: the call itself still takes the lock.
    fn would_block(&self) -> bool {
        false
    }
    fn get_many(&self, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        keys.iter().map(|k| Ok((k.clone(), self.get(k)?))).collect()
    }
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> KvResult<()> {
        entries.iter().try_for_each(|(k, v)| self.set(k, v))
    }
    fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        keys.iter().try_for_each(|k| self.delete(k))
    }
}

/// How many times an async call yields while its store would block before it blocks
/// like a sync call. Bounds the spinning when the serving thread has nothing else to
/// run and the holder is slow (a WAL checkpoint's fsync takes about a millisecond).
const MAX_YIELDS: usize = 64;

/// Lets the serving thread run its other requests while a store is in use by another
/// thread (`would_block`, from `Store::would_block`), instead of sleeping on the
/// store's lock: every host function that reaches a backend calls this first
/// (`wasi:keyvalue`'s are `async` on the host for this, though the guest sees them
/// as blocking).
pub async fn until_free(would_block: impl Fn() -> bool) {
    for _ in 0..MAX_YIELDS {
        if !would_block() {
            return;
        }
        tokio::task::yield_now().await;
    }
}

/// The stores an application can open, by label.
#[derive(Clone, Default)]
pub struct StoreManager {
    stores: HashMap<String, Arc<dyn Store>>,
}

impl StoreManager {
    pub fn insert(&mut self, label: impl Into<String>, store: Arc<dyn Store>) {
        self.stores.insert(label.into(), store);
    }

    pub fn contains(&self, label: &str) -> bool {
        self.stores.contains_key(label)
    }

    pub fn get(&self, label: &str) -> Option<&Arc<dyn Store>> {
        self.stores.get(label)
    }

    /// The view for a component granted `allowed` labels (built once at start-up;
    /// cloning it per instance only bumps reference counts).
    pub fn view_for(&self, allowed: &[String]) -> KvView {
        KvView {
            stores: Arc::new(self.stores.clone()),
            allowed: Arc::new(allowed.to_vec()),
        }
    }
}

/// Why a store could not be opened; mapped to each interface's error variant.
#[derive(Debug, PartialEq, Eq)]
pub enum OpenError {
    NoSuchStore,
    AccessDenied,
}

/// What one component instance may open.
#[derive(Clone, Default)]
pub struct KvView {
    stores: Arc<HashMap<String, Arc<dyn Store>>>,
    allowed: Arc<Vec<String>>,
}

impl KvView {
    /// The labels this view may open.
    pub fn granted(&self) -> &[String] {
        &self.allowed
    }

    /// The same stores with nothing granted.
    pub fn none(&self) -> KvView {
        KvView {
            stores: self.stores.clone(),
            allowed: Arc::default(),
        }
    }

    /// Spin's rule: a label the component was not granted is `access-denied`, whether
    /// or not the store exists, so a component cannot probe for other stores.
    pub fn open(&self, label: &str) -> Result<Arc<dyn Store>, OpenError> {
        if !self.allowed.iter().any(|l| l == label) {
            return Err(OpenError::AccessDenied);
        }
        self.stores
            .get(label)
            .cloned()
            .ok_or(OpenError::NoSuchStore)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// A `would_block` that answers "busy" to its first `busy` checks, and the count
    /// of checks made.
    fn busy_for(busy: usize) -> (Rc<Cell<usize>>, impl Fn() -> bool) {
        let checks = Rc::new(Cell::new(0));
        let counted = checks.clone();
        (checks, move || {
            counted.set(counted.get() + 1);
            counted.get() <= busy
        })
    }

    #[tokio::test(flavor = "current_thread")]
    async fn until_free_runs_other_tasks_while_the_store_is_busy() {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async {
                let other_ran = Rc::new(Cell::new(false));
                let flag = other_ran.clone();
                tokio::task::spawn_local(async move { flag.set(true) });
                let (checks, would_block) = busy_for(2);
                until_free(would_block).await;
                assert!(
                    other_ran.get(),
                    "the other task ran while the store was busy"
                );
                assert_eq!(checks.get(), 3);
            })
            .await;
    }

    #[tokio::test(flavor = "current_thread")]
    async fn until_free_stops_yielding_after_its_bound() {
        let (checks, would_block) = busy_for(usize::MAX);
        until_free(would_block).await;
        assert_eq!(checks.get(), MAX_YIELDS);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn until_free_returns_at_once_for_a_free_store() {
        let (checks, would_block) = busy_for(0);
        until_free(would_block).await;
        assert_eq!(checks.get(), 1);
    }
}
