//! Which serving thread the current code runs on. `server::serve` hands each
//! connection to one of several threads, each with a single-threaded Tokio runtime;
//! a store's workers run on the thread whose request started them, so a request and
//! the instances serving it never wake each other across threads.

use std::cell::Cell;
use std::sync::OnceLock;

thread_local! {
    static SLOT: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Marks the current thread as serving thread `slot`.
pub fn enter(slot: usize) {
    SLOT.with(|s| s.set(Some(slot)));
}

/// The current serving thread, `None` off them (start-up, the metrics endpoint, ...).
pub fn current() -> Option<usize> {
    SLOT.with(Cell::get)
}

static THREADS: OnceLock<usize> = OnceLock::new();

/// Sets how many serving threads the process runs (`up --serving-threads`); once, at
/// start, before the app is loaded.
pub fn configure(threads: usize) {
    let _ = THREADS.set(threads.max(1));
}

/// How many serving threads the process runs: as configured, else one per core.
pub fn count() -> usize {
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
