//! Decoded config records kept between requests, so that a request reads the active
//! pointer and not every record it needs again.
//!
//! Records are a function of the document's text alone ([`super::store::compile`]),
//! so a record read under one content hash is the same record for as long as that
//! hash is active, whichever version number or store it was read from. The cache
//! holds the records of one hash: the first read under another hash empties it. A
//! config change therefore takes effect on the next request, as without the cache.
//!
//! Absent records are kept too (an unknown API key hash stays unknown), and the cache
//! is emptied when it reaches [`MAX_RECORDS`], so requests with made-up keys cost
//! reads but cannot grow it.
//!
//! A component keeps one per instance ([`RecordCache::new`] behind a `thread_local`):
//! an instance that serves many requests decodes each record once.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// The most records kept at once; reaching it empties the cache.
pub const MAX_RECORDS: usize = 1024;

#[derive(Default)]
pub struct RecordCache {
    inner: RefCell<Records>,
}

#[derive(Default)]
struct Records {
    /// The content hash the records belong to.
    hash: String,
    /// Record name → the decoded record (`None`: the record does not exist).
    records: HashMap<String, Option<Rc<dyn Any>>>,
}

impl RecordCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// The record `name` of the document with content hash `hash`, if it was kept:
    /// `Some(None)` when it is known not to exist.
    pub fn get<T: Clone + 'static>(&self, hash: &str, name: &str) -> Option<Option<T>> {
        let inner = self.inner.borrow();
        if inner.hash != hash {
            return None;
        }
        match inner.records.get(name)? {
            None => Some(None),
            // A name is always read as the same type; a mismatch is treated as a miss.
            Some(record) => record.downcast_ref::<T>().map(|r| Some(r.clone())),
        }
    }

    /// Keeps `record` (or that there is none) as `name` of the document `hash`.
    pub fn put<T: 'static>(&self, hash: &str, name: &str, record: Option<T>) {
        let mut inner = self.inner.borrow_mut();
        if inner.hash != hash || inner.records.len() >= MAX_RECORDS {
            inner.records.clear();
            inner.hash = hash.to_string();
        }
        inner
            .records
            .insert(name.to_string(), record.map(|r| Rc::new(r) as Rc<dyn Any>));
    }

    /// How many records are kept.
    pub fn len(&self) -> usize {
        self.inner.borrow().records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_record_is_returned_under_the_same_hash_only() {
        let cache = RecordCache::new();
        cache.put("sha256:a", "tenant/acme", Some("acme".to_string()));
        assert_eq!(
            cache.get::<String>("sha256:a", "tenant/acme"),
            Some(Some("acme".to_string()))
        );
        assert_eq!(cache.get::<String>("sha256:b", "tenant/acme"), None);
        assert_eq!(cache.get::<String>("sha256:a", "tenant/other"), None);
    }

    #[test]
    fn an_absent_record_is_kept_as_absent() {
        let cache = RecordCache::new();
        cache.put::<String>("sha256:a", "key/sha256:00", None);
        assert_eq!(cache.get::<String>("sha256:a", "key/sha256:00"), Some(None));
    }

    #[test]
    fn a_record_of_another_hash_empties_the_cache() {
        let cache = RecordCache::new();
        cache.put("sha256:a", "region", Some(1u32));
        cache.put("sha256:a", "routes", Some(2u32));
        cache.put("sha256:b", "region", Some(3u32));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.get::<u32>("sha256:b", "region"), Some(Some(3)));
        assert_eq!(cache.get::<u32>("sha256:a", "routes"), None);
    }

    #[test]
    fn the_cache_never_holds_more_than_max_records() {
        let cache = RecordCache::new();
        for i in 0..MAX_RECORDS * 3 {
            cache.put::<u32>("sha256:a", &format!("key/{i}"), None);
            assert!(cache.len() <= MAX_RECORDS);
        }
        assert!(!cache.is_empty());
    }

    #[test]
    fn a_record_asked_for_as_another_type_is_a_miss() {
        let cache = RecordCache::new();
        cache.put("sha256:a", "region", Some(1u32));
        assert_eq!(cache.get::<String>("sha256:a", "region"), None);
    }
}
