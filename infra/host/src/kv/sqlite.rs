//! The default key-value backend: one SQLite file in the state dir, the same table
//! layout Spin uses (`spin_key_value(store, key, value)`), so a `.spin` state dir
//! can be read by either runtime.
//!
//! Durability: WAL journal with `synchronous = NORMAL`. A write is in the OS page
//! cache when the call returns, so it survives the process being killed or
//! restarted. A background thread syncs the WAL to disk and checkpoints it into the
//! database file every [`CHECKPOINT_INTERVAL`], so a power failure or kernel crash
//! loses at most about that much of the last writes. That trade is what keeps an
//! fsync off every request.
//!
//! Why a thread: SQLite's own automatic checkpoint runs inside whichever commit
//! crosses 1,000 WAL pages, and holds the connection while it fsyncs a few MB of WAL
//! (5 ms measured), stalling every request on both serving threads behind it. The
//! checkpointer syncs the WAL first without the connection, so the checkpoint it then
//! runs under the connection's lock has little left to sync.

use super::{KvError, KvResult, Store, SwapOutcome};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

/// How often the checkpointer syncs the WAL and checkpoints it: the most recent
/// writes a power failure can lose.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(100);

/// One SQLite file shared by every label that the runtime config maps to it.
pub struct SqliteFile {
    conn: Mutex<Connection>,
}

impl SqliteFile {
    pub fn open(path: &Path) -> anyhow::Result<Arc<Self>> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let conn = Connection::open(path)?;
        // The checkpointer thread checkpoints instead (module docs).
        conn.pragma_update(None, "wal_autocheckpoint", 0)?;
        let file = Self::init(conn)?;
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        spawn_checkpointer(Arc::downgrade(&file), wal.into(), CHECKPOINT_INTERVAL)?;
        Ok(file)
    }

    pub fn in_memory() -> anyhow::Result<Arc<Self>> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(conn: Connection) -> anyhow::Result<Arc<Self>> {
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // One process owns the file: no file-lock syscalls per statement, and a second
        // `waypost up` on the same state dir fails at start instead of sharing it
        // (instances that share state use the Redis backend).
        conn.pragma_update(None, "locking_mode", "EXCLUSIVE")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL,
                key   TEXT NOT NULL,
                value BLOB NOT NULL,
                PRIMARY KEY (store, key)
            );",
        )?;
        conn.execute_batch("BEGIN EXCLUSIVE; COMMIT;")
            .map_err(|e| {
                anyhow::anyhow!("the key-value file is in use by another process ({e})")
            })?;
        Ok(Arc::new(Self {
            conn: Mutex::new(conn),
        }))
    }

    pub fn store(self: &Arc<Self>, name: &str) -> SqliteStore {
        SqliteStore {
            file: self.clone(),
            name: name.to_string(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> KvResult<T> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn).map_err(|e| KvError::Other(format!("sqlite: {e}")))
    }

    /// Makes every write so far durable in the database file: syncs the WAL at `wal`
    /// (without the connection, so serving goes on meanwhile), then checkpoints it.
    fn checkpoint(&self, wal: &Path) -> KvResult<()> {
        // fsync flushes the file's pages whichever descriptor wrote them. No WAL yet
        // means nothing to sync.
        if let Ok(f) = std::fs::File::open(wal) {
            f.sync_data()
                .map_err(|e| KvError::Other(format!("sqlite: syncing the WAL: {e}")))?;
        }
        self.with(|c| c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())))
    }
}

/// Runs [`SqliteFile::checkpoint`] every `interval` until the file is dropped. A
/// failure is logged (once until a checkpoint succeeds again) and retried.
fn spawn_checkpointer(
    file: Weak<SqliteFile>,
    wal: PathBuf,
    interval: Duration,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("kv-checkpoint".into())
        .spawn(move || {
            let mut failing = false;
            loop {
                std::thread::sleep(interval);
                let Some(file) = file.upgrade() else { return };
                match file.checkpoint(&wal) {
                    Ok(()) => failing = false,
                    Err(e) if !failing => {
                        failing = true;
                        crate::log::event(
                            "kv_checkpoint_failed",
                            &[
                                ("path", &wal.display().to_string()),
                                ("error", &e.to_string()),
                            ],
                        );
                    }
                    Err(_) => {}
                }
            }
        })
        .map(drop)
}

/// A label's rows inside a `SqliteFile`.
pub struct SqliteStore {
    file: Arc<SqliteFile>,
    name: String,
}

/// Counters are stored as Spin's SQLite store stores them, an 8-byte little-endian
/// integer, so a state file means the same to either runtime and a component's `get`
/// of a counter reads what it would read on Spin. Decimal text (how earlier versions
/// of this store wrote counters, and how Redis keeps them) is still read, and is
/// rewritten in Spin's encoding by the next increment. Anything else is an error
/// (Spin panics on it).
fn parse_counter(bytes: &[u8]) -> KvResult<i64> {
    waypost_core::kv::decode_counter(bytes).ok_or_else(|| {
        KvError::Other("value is not a counter (an 8-byte little-endian integer)".into())
    })
}

impl Store for SqliteStore {
    fn would_block(&self) -> bool {
        matches!(
            self.file.conn.try_lock(),
            Err(std::sync::TryLockError::WouldBlock)
        )
    }

    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.file.with(|c| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![self.name, key], |r| r.get(0))
                .optional()
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.file.with(|c| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![self.name, key, value])
            .map(drop)
        })
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        self.file.with(|c| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![self.name, key])
                .map(drop)
        })
    }

    fn exists(&self, key: &str) -> KvResult<bool> {
        Ok(self.get(key)?.is_some())
    }

    fn keys(&self) -> KvResult<Vec<String>> {
        self.file.with(|c| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1 ORDER BY key")?
                .query_map(params![self.name], |r| r.get(0))?
                .collect()
        })
    }

    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        // Read, check and write under the connection's one lock: atomic for every
        // caller (the file is this process's alone).
        self.file.with(|c| {
            let current: Option<Vec<u8>> = c
                .prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![self.name, key], |r| r.get(0))
                .optional()?;
            let current = match current {
                None => Ok(0),
                Some(bytes) => parse_counter(&bytes),
            };
            let next = match current {
                Ok(n) => n
                    .checked_add(delta)
                    .ok_or_else(|| KvError::Other("counter overflow".into())),
                Err(e) => Err(e),
            };
            match next {
                Ok(next) => {
                    c.prepare_cached(
                        "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                         ON CONFLICT (store, key) DO UPDATE SET value = excluded.value",
                    )?
                    .execute(params![
                        self.name,
                        key,
                        next.to_le_bytes().as_slice()
                    ])?;
                    Ok(Ok(next))
                }
                Err(e) => Ok(Err(e)),
            }
        })?
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<SwapOutcome> {
        let changed = self.file.with(|c| match expected {
            Some(old) => c
                .prepare_cached(
                    "UPDATE spin_key_value SET value = ?4
                     WHERE store = ?1 AND key = ?2 AND value = ?3",
                )?
                .execute(params![self.name, key, old, new]),
            None => c
                .prepare_cached(
                    "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                     ON CONFLICT (store, key) DO NOTHING",
                )?
                .execute(params![self.name, key, new]),
        })?;
        Ok(if changed == 1 {
            SwapOutcome::Swapped
        } else {
            SwapOutcome::Conflict
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SqliteStore {
        SqliteFile::in_memory().unwrap().store("default")
    }

    #[test]
    fn set_get_delete_round_trip() {
        let s = store();
        assert_eq!(s.get("a").unwrap(), None);
        s.set("a", b"1").unwrap();
        assert_eq!(s.get("a").unwrap().as_deref(), Some(&b"1"[..]));
        assert!(s.exists("a").unwrap());
        s.delete("a").unwrap();
        assert!(!s.exists("a").unwrap());
    }

    #[test]
    fn increment_starts_at_zero_and_stores_the_counter_as_spin_does() {
        let s = store();
        assert_eq!(s.increment("n", 5).unwrap(), 5);
        assert_eq!(s.increment("n", -2).unwrap(), 3);
        assert_eq!(s.get("n").unwrap(), Some(3i64.to_le_bytes().to_vec()));
        assert_eq!(s.increment("m", -1).unwrap(), -1);
        assert_eq!(s.get("m").unwrap(), Some((-1i64).to_le_bytes().to_vec()));
    }

    #[test]
    fn a_decimal_text_counter_counts_on_in_spins_encoding() {
        let s = store();
        s.set("n", b"41").unwrap();
        assert_eq!(s.increment("n", 1).unwrap(), 42);
        assert_eq!(s.get("n").unwrap(), Some(42i64.to_le_bytes().to_vec()));
        s.set("eight", b"12345678").unwrap();
        assert_eq!(s.increment("eight", 1).unwrap(), 12_345_679);
    }

    #[test]
    fn increment_of_non_integer_is_an_error_and_keeps_value() {
        let s = store();
        s.set("n", b"abc").unwrap();
        assert!(s.increment("n", 1).is_err());
        assert_eq!(s.get("n").unwrap().as_deref(), Some(&b"abc"[..]));
    }

    #[test]
    fn compare_and_swap_detects_a_changed_value() {
        let s = store();
        assert_eq!(
            s.compare_and_swap("k", None, b"v1").unwrap(),
            SwapOutcome::Swapped
        );
        assert_eq!(
            s.compare_and_swap("k", None, b"v2").unwrap(),
            SwapOutcome::Conflict
        );
        assert_eq!(
            s.compare_and_swap("k", Some(b"v1"), b"v2").unwrap(),
            SwapOutcome::Swapped
        );
        assert_eq!(
            s.compare_and_swap("k", Some(b"v1"), b"v3").unwrap(),
            SwapOutcome::Conflict
        );
        assert_eq!(s.get("k").unwrap().as_deref(), Some(&b"v2"[..]));
    }

    #[test]
    fn batch_operations_cover_every_key() {
        let s = store();
        s.set_many(&[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())])
            .unwrap();
        assert_eq!(
            s.get_many(&["a".into(), "b".into(), "c".into()]).unwrap(),
            vec![
                ("a".to_string(), Some(b"1".to_vec())),
                ("b".to_string(), Some(b"2".to_vec())),
                ("c".to_string(), None),
            ]
        );
        s.delete_many(&["a".into(), "c".into()]).unwrap();
        assert_eq!(s.keys().unwrap(), vec!["b".to_string()]);
    }

    #[test]
    fn would_block_while_the_file_is_in_use() {
        let file = SqliteFile::in_memory().unwrap();
        let s = file.store("default");
        assert!(!s.would_block());
        let held = file.conn.lock().unwrap();
        assert!(s.would_block());
        drop(held);
        assert!(!s.would_block());
    }

    #[test]
    fn the_checkpointer_moves_writes_into_the_database_file() {
        // SQLite's automatic checkpoint is off, so without the checkpointer the write
        // would stay in the WAL until the connection closed.
        let dir = std::env::temp_dir().join(format!("waypost-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("kv.db");
        let file = SqliteFile::open(&path).unwrap();
        file.store("default").set("k", b"durable").unwrap();

        // The database file alone (no WAL beside it) holds the value once a
        // checkpoint has run.
        let copy = dir.join("copy.db");
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let in_database_file = loop {
            // Under the connection's lock, so no checkpoint writes the file mid-copy.
            let held = file.conn.lock().unwrap();
            std::fs::copy(&path, &copy).unwrap();
            drop(held);
            let value = SqliteFile::open(&copy)
                .unwrap()
                .store("default")
                .get("k")
                .unwrap();
            if value.is_some() || std::time::Instant::now() > deadline {
                break value;
            }
            std::thread::sleep(CHECKPOINT_INTERVAL / 2);
        };
        assert_eq!(in_database_file.as_deref(), Some(&b"durable"[..]));
        drop(file);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn labels_in_one_file_are_separate() {
        let file = SqliteFile::in_memory().unwrap();
        let (a, b) = (file.store("a"), file.store("b"));
        a.set("k", b"1").unwrap();
        assert_eq!(b.get("k").unwrap(), None);
        assert_eq!(a.keys().unwrap(), vec!["k".to_string()]);
        assert!(b.keys().unwrap().is_empty());
    }
}
