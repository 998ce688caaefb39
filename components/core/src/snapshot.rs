//! Versioned snapshots in key-value: a set of records applied atomically.
//!
//! Layout (prefix `p`):
//! - `p:active` → the active `Pointer` (version, content hash, the version before it);
//! - `p:v<N>:<record>` → one record of version N;
//! - `p:v<N>:_index` → the record keys of version N, for clean-up;
//! - `p:next` → a counter that hands out version numbers.
//!
//! Apply writes the new version's records under fresh keys, then moves the pointer
//! with one compare-and-swap: a reader that has read the pointer sees one version's
//! records only, never a mix. The two newest versions are kept (so a reader that read
//! the old pointer can finish); older ones are deleted by the apply that retires them.

use crate::kv::{KeyValue, KvError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pointer {
    pub version: u64,
    pub hash: String,
    #[serde(default)]
    pub previous: Option<u64>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ApplyError {
    /// Another apply moved the pointer since `expected` was read.
    Conflict {
        active: Option<Pointer>,
    },
    Store(KvError),
}

impl From<KvError> for ApplyError {
    fn from(e: KvError) -> Self {
        ApplyError::Store(e)
    }
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::Conflict { .. } => f.write_str("another version was applied concurrently"),
            ApplyError::Store(e) => e.fmt(f),
        }
    }
}

pub struct Snapshots<'a, K: KeyValue + ?Sized> {
    kv: &'a K,
    prefix: &'a str,
}

impl<'a, K: KeyValue + ?Sized> Snapshots<'a, K> {
    pub fn new(kv: &'a K, prefix: &'a str) -> Self {
        Self { kv, prefix }
    }

    fn pointer_key(&self) -> String {
        format!("{}:active", self.prefix)
    }

    fn record_key(&self, version: u64, record: &str) -> String {
        format!("{}:v{version}:{record}", self.prefix)
    }

    /// The active pointer, as stored (the bytes are what a CAS must expect).
    pub fn active_raw(&self) -> Result<Option<(Pointer, Vec<u8>)>, KvError> {
        let Some(bytes) = self.kv.get(&self.pointer_key())? else {
            return Ok(None);
        };
        let pointer = serde_json::from_slice(&bytes)
            .map_err(|e| KvError(format!("corrupt snapshot pointer: {e}")))?;
        Ok(Some((pointer, bytes)))
    }

    pub fn active(&self) -> Result<Option<Pointer>, KvError> {
        Ok(self.active_raw()?.map(|(p, _)| p))
    }

    /// Reads one record of `version`.
    pub fn record(&self, version: u64, record: &str) -> Result<Option<Vec<u8>>, KvError> {
        self.kv.get(&self.record_key(version, record))
    }

    /// Applies `records` as a new version if the active pointer is still `expected`
    /// (`None`: no version yet). Returns the new pointer.
    pub fn apply(
        &self,
        expected: Option<&Pointer>,
        hash: &str,
        records: &[(String, Vec<u8>)],
    ) -> Result<Pointer, ApplyError> {
        let current = self.active_raw()?;
        if current.as_ref().map(|(p, _)| p) != expected {
            return Err(ApplyError::Conflict {
                active: current.map(|(p, _)| p),
            });
        }
        let version = self
            .kv
            .increment(&format!("{}:next", self.prefix), 1)
            .map_err(ApplyError::Store)? as u64;
        for (key, value) in records {
            self.kv.set(&self.record_key(version, key), value)?;
        }
        let index: Vec<&str> = records.iter().map(|(k, _)| k.as_str()).collect();
        self.kv.set(
            &self.record_key(version, "_index"),
            &serde_json::to_vec(&index).expect("index serializes"),
        )?;
        let pointer = Pointer {
            version,
            hash: hash.to_string(),
            previous: current.as_ref().map(|(p, _)| p.version),
        };
        let new_bytes = serde_json::to_vec(&pointer).expect("pointer serializes");
        let swapped = self.kv.compare_and_swap(
            &self.pointer_key(),
            current.as_ref().map(|(_, raw)| raw.as_slice()),
            &new_bytes,
        )?;
        if !swapped {
            self.delete_version(version)?;
            return Err(ApplyError::Conflict {
                active: self.active()?,
            });
        }
        // The version this apply retired stays readable; the one before it goes.
        if let Some(retired) = current.and_then(|(p, _)| p.previous) {
            self.delete_version(retired)?;
        }
        Ok(pointer)
    }

    fn delete_version(&self, version: u64) -> Result<(), KvError> {
        let index_key = self.record_key(version, "_index");
        if let Some(bytes) = self.kv.get(&index_key)? {
            let keys: Vec<String> = serde_json::from_slice(&bytes).unwrap_or_default();
            for key in keys {
                self.kv.delete(&self.record_key(version, &key))?;
            }
        }
        self.kv.delete(&index_key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;

    fn records(tag: &str) -> Vec<(String, Vec<u8>)> {
        vec![
            ("tenant/a".into(), format!("{tag}-a").into_bytes()),
            ("tenant/b".into(), format!("{tag}-b").into_bytes()),
        ]
    }

    #[test]
    fn first_apply_creates_version_one() {
        let kv = MemoryKv::new();
        let s = Snapshots::new(&kv, "cfg");
        assert_eq!(s.active().unwrap(), None);
        let p = s.apply(None, "h1", &records("v1")).unwrap();
        assert_eq!(p.version, 1);
        assert_eq!(s.active().unwrap(), Some(p.clone()));
        assert_eq!(s.record(1, "tenant/a").unwrap(), Some(b"v1-a".to_vec()));
    }

    #[test]
    fn a_stale_expected_pointer_is_a_conflict_and_changes_nothing() {
        let kv = MemoryKv::new();
        let s = Snapshots::new(&kv, "cfg");
        let v1 = s.apply(None, "h1", &records("v1")).unwrap();
        let _v2 = s.apply(Some(&v1), "h2", &records("v2")).unwrap();
        let before = kv.keys();
        match s.apply(Some(&v1), "h3", &records("v3")) {
            Err(ApplyError::Conflict { active }) => assert_eq!(active.unwrap().hash, "h2"),
            other => panic!("expected a conflict, got {other:?}"),
        }
        // Only the version counter moved.
        let after: Vec<_> = kv.keys();
        assert_eq!(before, after);
        assert_eq!(s.active().unwrap().unwrap().hash, "h2");
    }

    #[test]
    fn only_the_two_newest_versions_are_kept() {
        let kv = MemoryKv::new();
        let s = Snapshots::new(&kv, "cfg");
        let mut p = s.apply(None, "h1", &records("v1")).unwrap();
        for i in 2..=5 {
            p = s
                .apply(Some(&p), &format!("h{i}"), &records(&format!("v{i}")))
                .unwrap();
        }
        assert_eq!(p.version, 5);
        assert!(s.record(4, "tenant/a").unwrap().is_some(), "previous kept");
        for old in 1..=3 {
            assert!(
                s.record(old, "tenant/a").unwrap().is_none(),
                "v{old} removed"
            );
            assert!(s.record(old, "_index").unwrap().is_none());
        }
        let record_keys = kv.keys().into_iter().filter(|k| k.contains(":v")).count();
        assert_eq!(record_keys, 2 * 3, "two versions × (two records + index)");
    }

    #[test]
    fn a_store_failure_is_reported_not_hidden() {
        let kv = MemoryKv::new();
        let s = Snapshots::new(&kv, "cfg");
        kv.set_failing(true);
        assert!(matches!(
            s.apply(None, "h", &records("x")),
            Err(ApplyError::Store(_))
        ));
        kv.set_failing(false);
        assert_eq!(s.active().unwrap(), None);
    }
}
