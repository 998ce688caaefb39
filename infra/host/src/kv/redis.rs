//! The Redis key-value backend (`type = "redis"`, `url = "redis://host:port/db"` in the
//! runtime config, as Spin spells it), so several `waypost` instances in one region
//! share quotas, dedup claims, breakers and tokens.
//!
//! As in Spin, the label is not part of the key: every label mapped to one Redis
//! database shares its keyspace. Counters are Redis integers (`INCRBY`, decimal text,
//! the same encoding the SQLite backend uses). Compare-and-swap is one Lua script, so
//! it is atomic on the server and needs no `WATCH` state on a pooled connection.
//!
//! Faults: connections come from a small pool; a connection that fails is dropped and
//! the next call reconnects, so the store recovers by itself when Redis comes back. Each
//! call is bounded by connect and I/O timeouts and reports `redis: ...` to the guest
//! (the URL, which may hold a password, is never in an error).

use super::{KvError, KvResult, Store, SwapOutcome};
use redis::{Client, Connection, Script};
use std::sync::Mutex;
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept for reuse.
const POOL_SIZE: usize = 32;

/// `KEYS[1]`; `ARGV[1]` = `1` when a current value is expected, `ARGV[2]` that value,
/// `ARGV[3]` the new value. Returns 1 when swapped.
const CAS_SCRIPT: &str = r"
local current = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if current ~= ARGV[2] then return 0 end
elseif current then
  return 0
end
redis.call('SET', KEYS[1], ARGV[3])
return 1
";

pub struct RedisStore {
    client: Client,
    idle: Mutex<Vec<Connection>>,
    cas: Script,
}

impl RedisStore {
    /// Parses the URL; connects lazily, so an instance starts while Redis is down.
    pub fn new(url: &str) -> anyhow::Result<Self> {
        let client = Client::open(url).map_err(|e| {
            anyhow::anyhow!(
                "invalid redis url ({}): {}",
                e.category(),
                e.detail().unwrap_or("")
            )
        })?;
        Ok(RedisStore {
            client,
            idle: Mutex::new(Vec::new()),
            cas: Script::new(CAS_SCRIPT),
        })
    }

    fn connect(&self) -> redis::RedisResult<Connection> {
        let conn = self.client.get_connection_with_timeout(CONNECT_TIMEOUT)?;
        conn.set_read_timeout(Some(IO_TIMEOUT))?;
        conn.set_write_timeout(Some(IO_TIMEOUT))?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection; a failed connection is not returned to the pool.
    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> redis::RedisResult<T>) -> KvResult<T> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match pooled {
            Some(conn) => conn,
            None => self.connect().map_err(error)?,
        };
        match f(&mut conn) {
            Ok(value) => {
                let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
                if idle.len() < POOL_SIZE {
                    idle.push(conn);
                }
                Ok(value)
            }
            Err(e) => Err(error(e)),
        }
    }
}

fn error(e: redis::RedisError) -> KvError {
    let kind = if e.is_timeout() {
        "timed out".to_string()
    } else if e.is_connection_refusal() || e.is_connection_dropped() || e.is_io_error() {
        "unreachable".to_string()
    } else {
        e.category().to_string()
    };
    KvError::Other(format!("redis: {kind}"))
}

impl Store for RedisStore {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.with(|c| redis::cmd("GET").arg(key).query(c))
    }

    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.with(|c| redis::cmd("SET").arg(key).arg(value).query(c))
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        self.with(|c| redis::cmd("DEL").arg(key).query(c))
    }

    fn exists(&self, key: &str) -> KvResult<bool> {
        self.with(|c| redis::cmd("EXISTS").arg(key).query(c))
    }

    fn keys(&self) -> KvResult<Vec<String>> {
        self.with(|c| {
            let mut keys = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(1000)
                    .query(c)?;
                keys.extend(batch);
                if next == 0 {
                    return Ok(keys);
                }
                cursor = next;
            }
        })
    }

    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        self.with(|c| redis::cmd("INCRBY").arg(key).arg(delta).query(c))
    }

    fn compare_and_swap(
        &self,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> KvResult<SwapOutcome> {
        let swapped: i64 = self.with(|c| {
            self.cas
                .key(key)
                .arg(if expected.is_some() { "1" } else { "0" })
                .arg(expected.unwrap_or_default())
                .arg(new)
                .invoke(c)
        })?;
        Ok(if swapped == 1 {
            SwapOutcome::Swapped
        } else {
            SwapOutcome::Conflict
        })
    }

    fn get_many(&self, keys: &[String]) -> KvResult<Vec<(String, Option<Vec<u8>>)>> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let values: Vec<Option<Vec<u8>>> = self.with(|c| redis::cmd("MGET").arg(keys).query(c))?;
        Ok(keys.iter().cloned().zip(values).collect())
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> KvResult<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.with(|c| redis::cmd("MSET").arg(entries).query(c))
    }

    fn delete_many(&self, keys: &[String]) -> KvResult<()> {
        if keys.is_empty() {
            return Ok(());
        }
        self.with(|c| redis::cmd("DEL").arg(keys).query(c))
    }
}
