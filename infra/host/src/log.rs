//! One JSON object per line on stderr: the host's access log and events. Values are
//! passed in already redacted; nothing here sees a credential.
//!
//! Access-log lines are batched: a line is written at most [`FLUSH_INTERVAL`] after
//! it is logged, sooner when [`FLUSH_BYTES`] are pending, always before an event and
//! before the host exits. Writing each line as its request finished cost a `write`
//! to stderr per request; when stderr is a pipe, that write wakes the reader's CPU,
//! which measured 30 µs of a one-connection request's 75 and 15% of the throughput at
//! 32 connections (README, Benchmarks). Events are rare and written at once.
//! What a kill -9 loses is at most the last interval's access lines.
//!
//! What guests write to stderr (each component's own JSON line) goes through the same
//! queue (`component_output`), so it is batched too and keeps its place before its
//! request's access line.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, Once};
use std::time::{Duration, Instant};

/// How late an access-log line may be written.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
/// Pending bytes that are written without waiting for the interval (a pipe's buffer).
pub const FLUSH_BYTES: usize = 64 * 1024;

/// Pending bytes past which a writer writes them itself instead of queueing more.
const MAX_PENDING: usize = 1 << 20;

/// Access-log lines (and guests' stderr) not yet written.
static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());
/// Tells the flusher that lines are pending, or that enough are to write them now.
static WAKE: Condvar = Condvar::new();
/// Held while writing to stderr, so that batches and events keep the order they
/// were logged in.
static WRITER: Mutex<()> = Mutex::new(());
static FLUSHER: Once = Once::new();
/// Whether the flusher thread runs; without it each line is written as it comes.
static BATCHING: AtomicBool = AtomicBool::new(false);

pub fn event(kind: &str, fields: &[(&str, &str)]) {
    let mut obj = serde_json::Map::new();
    obj.insert("ts".into(), now_rfc3339().into());
    obj.insert("event".into(), kind.into());
    for (k, v) in fields {
        obj.insert((*k).into(), (*v).into());
    }
    write_line(serde_json::Value::Object(obj));
}

/// Writes `value` now, after every access-log line logged before it.
pub fn write_line(value: serde_json::Value) {
    write_pending_then(&line_of(&value));
}

/// Queues a request's access-log line for the flusher.
pub fn access(line: &impl serde::Serialize) {
    queue(&line_of(line));
}

fn line_of(value: &impl serde::Serialize) -> Vec<u8> {
    // Serializing plain fields and strings cannot fail.
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    line
}

/// Queues `bytes` for the flusher; writes them at once if it is not running, or if
/// `MAX_PENDING` would be passed (a guest writing faster than stderr drains).
pub fn queue(bytes: &[u8]) {
    FLUSHER.call_once(start_flusher);
    if !BATCHING.load(Ordering::Relaxed) {
        return write_pending_then(bytes);
    }
    let mut pending = lock(&PENDING);
    if pending.len() + bytes.len() > MAX_PENDING {
        drop(pending);
        return write_pending_then(bytes);
    }
    let first = pending.is_empty();
    pending.extend_from_slice(bytes);
    let full = pending.len() >= FLUSH_BYTES;
    drop(pending);
    if first || full {
        WAKE.notify_one();
    }
}

/// Writes a plain line for whoever reads the terminal (the start-up banner). As for
/// the JSON lines, a stderr that is closed is not an error: `eprintln!` would panic.
pub fn say(line: std::fmt::Arguments) {
    write_pending_then(format!("{line}\n").as_bytes());
}

/// Writes every pending access-log line (at exit).
pub fn flush() {
    write_pending_then(&[]);
}

/// Writes the pending access-log lines, then `line`, in one write.
fn write_pending_then(line: &[u8]) {
    let _writer = lock(&WRITER);
    let mut out = std::mem::take(&mut *lock(&PENDING));
    out.extend_from_slice(line);
    if !out.is_empty() {
        let _ = std::io::stderr().lock().write_all(&out);
    }
}

fn start_flusher() {
    let started = std::thread::Builder::new()
        .name("access-log".into())
        .spawn(|| {
            loop {
                let mut pending = lock(&PENDING);
                while pending.is_empty() {
                    pending = WAKE.wait(pending).unwrap_or_else(|p| p.into_inner());
                }
                // The first line of a batch waits for the others of its interval.
                let due = Instant::now() + FLUSH_INTERVAL;
                while pending.len() < FLUSH_BYTES {
                    let left = due.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        break;
                    }
                    pending = WAKE
                        .wait_timeout(pending, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                drop(pending);
                flush();
            }
        });
    if started.is_ok() {
        BATCHING.store(true, Ordering::Relaxed);
    } else {
        write_line(serde_json::json!({
            "ts": now_rfc3339(),
            "event": "access_log_unbatched",
            "detail": "could not start the access-log thread",
        }));
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
