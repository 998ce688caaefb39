//! The config in key-value: a validated [`Document`] compiled into one record per
//! entity, applied atomically as a [`crate::snapshot`] version, and read back one
//! record at a time.
//!
//! A request reads the active pointer once ([`ConfigStore::view`]) and then only the
//! records it needs (its key, its tenant, its plan, the routes, one carrier...). The
//! number of reads per request is a small constant: it does not grow with the number
//! of tenants, keys or carriers in the document (see the `reads_per_request` test).

use super::cache::RecordCache;
use super::{ConfigError, Document, Tenant, parse_and_validate};
use crate::kv::{KeyValue, KvError};
use crate::snapshot::{ApplyError, Pointer, Snapshots};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The snapshot prefix of the config records.
pub const PREFIX: &str = "config";

/// What an API key hash resolves to (the `key/<hash>` record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub tenant: String,
    pub key: super::ApiKey,
}

/// The tenant that owns a carrier account (the `account/<carrier>/<account>` record):
/// how a webhook naming the account in its payload finds its tenant. Only own
/// accounts have one; the platform account is shared, so it names no tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountRecord {
    pub tenant: String,
}

/// The region's identity and every region's public URL (the `region` record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegionRecord {
    pub region: super::Region,
    pub regions: BTreeMap<String, super::HttpUrl>,
}

/// The document's content hash, as shown by `/healthz` and `/admin/config`.
pub fn content_hash(text: &str) -> String {
    format!("sha256:{:x}", Sha256::digest(text.as_bytes()))
}

fn record<T: Serialize>(name: String, value: &T) -> (String, Vec<u8>) {
    (
        name,
        serde_json::to_vec(value).expect("config records serialize"),
    )
}

/// One record per entity. Record names: `region`, `routes`, `tiers`,
/// `tenant/<id>`, `key/<sha256:hex>`, `issuer/<iss>`, `carrier/<id>`, `plan/<id>`,
/// `account-limit/<carrier>/<account>`, `webhook/<carrier>`, `subscriptions/<tenant>`,
/// `account/<carrier>/<account>` (own accounts only).
pub fn compile(doc: &Document) -> Vec<(String, Vec<u8>)> {
    let mut records = vec![
        record(
            "region".into(),
            &RegionRecord {
                region: doc.region.clone(),
                regions: doc.regions.clone(),
            },
        ),
        record("routes".into(), &doc.routes),
        record("tiers".into(), &doc.tiers),
    ];
    for tenant in &doc.tenants {
        records.push(record(format!("tenant/{}", tenant.id), tenant));
        for key in &tenant.keys {
            records.push(record(
                format!("key/{}", key.hash.as_str()),
                &KeyRecord {
                    tenant: tenant.id.clone(),
                    key: key.clone(),
                },
            ));
        }
        let subscriptions: Vec<_> = doc
            .subscriptions
            .iter()
            .filter(|s| s.tenant == tenant.id)
            .collect();
        records.push(record(
            format!("subscriptions/{}", tenant.id),
            &subscriptions,
        ));
        // Validation makes own accounts unique per carrier, so each names one tenant.
        for own in tenant.carriers.iter().filter(|c| !c.is_platform()) {
            records.push(record(
                format!("account/{}/{}", own.carrier, own.account),
                &AccountRecord {
                    tenant: tenant.id.clone(),
                },
            ));
        }
    }
    for issuer in &doc.issuers {
        records.push(record(format!("issuer/{}", issuer.iss), issuer));
    }
    for carrier in &doc.carriers {
        records.push(record(format!("carrier/{}", carrier.id), carrier));
    }
    for plan in &doc.plans {
        records.push(record(format!("plan/{}", plan.id), plan));
    }
    for limit in &doc.account_limits {
        records.push(record(
            format!("account-limit/{}/{}", limit.carrier, limit.account),
            limit,
        ));
    }
    for intake in &doc.webhooks {
        records.push(record(format!("webhook/{}", intake.carrier), intake));
    }
    records
}

/// Why `apply` did not apply.
#[derive(Debug)]
pub enum ApplyConfigError {
    /// The document is invalid; nothing was written.
    Invalid(Vec<ConfigError>),
    /// The active version is not the one the caller expected; nothing changed.
    Conflict {
        active: Option<Pointer>,
    },
    Store(KvError),
}

impl From<ApplyError> for ApplyConfigError {
    fn from(e: ApplyError) -> Self {
        match e {
            ApplyError::Conflict { active } => ApplyConfigError::Conflict { active },
            ApplyError::Store(e) => ApplyConfigError::Store(e),
        }
    }
}

impl From<KvError> for ApplyConfigError {
    fn from(e: KvError) -> Self {
        ApplyConfigError::Store(e)
    }
}

/// The result of a successful apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub pointer: Pointer,
    /// The document was already active: no new version.
    pub unchanged: bool,
}

pub struct ConfigStore<'a, K: KeyValue + ?Sized> {
    snapshots: Snapshots<'a, K>,
    cache: Option<&'a RecordCache>,
}

impl<'a, K: KeyValue + ?Sized> ConfigStore<'a, K> {
    pub fn new(kv: &'a K) -> Self {
        Self {
            snapshots: Snapshots::new(kv, PREFIX),
            cache: None,
        }
    }

    /// A store whose views read records through `cache` (see [`RecordCache`]).
    pub fn cached(kv: &'a K, cache: &'a RecordCache) -> Self {
        Self {
            cache: Some(cache),
            ..Self::new(kv)
        }
    }

    pub fn active(&self) -> Result<Option<Pointer>, KvError> {
        self.snapshots.active()
    }

    /// Validates `text` and applies it as a new version, if the active version is
    /// still `expected` (when given). Applying the active document again is a no-op.
    pub fn apply(
        &self,
        text: &str,
        expected: Option<Option<&Pointer>>,
    ) -> Result<Applied, ApplyConfigError> {
        let doc = parse_and_validate(text).map_err(ApplyConfigError::Invalid)?;
        let hash = content_hash(text);
        let active = self.snapshots.active()?;
        if let Some(expected) = expected
            && expected != active.as_ref()
        {
            return Err(ApplyConfigError::Conflict { active });
        }
        if let Some(active) = &active
            && active.hash == hash
        {
            return Ok(Applied {
                pointer: active.clone(),
                unchanged: true,
            });
        }
        let pointer = self
            .snapshots
            .apply(active.as_ref(), &hash, &compile(&doc))?;
        Ok(Applied {
            pointer,
            unchanged: false,
        })
    }

    /// The active version; on an empty store, `seed` is applied first (once, however
    /// many requests race to do it).
    pub fn active_or_seed(&self, seed: Option<&str>) -> Result<Option<Pointer>, ApplyConfigError> {
        if let Some(active) = self.snapshots.active()? {
            return Ok(Some(active));
        }
        let Some(seed) = seed else { return Ok(None) };
        match self.apply(seed, Some(None)) {
            Ok(applied) => Ok(Some(applied.pointer)),
            Err(ApplyConfigError::Conflict { active }) => Ok(active),
            Err(e) => Err(e),
        }
    }

    /// A reader pinned to the active version (one read).
    pub fn view(&self) -> Result<Option<ConfigView<'_, 'a, K>>, KvError> {
        Ok(self.snapshots.active()?.map(|pointer| ConfigView {
            store: self,
            pointer,
        }))
    }
}

/// Reads of one config version.
pub struct ConfigView<'s, 'a, K: KeyValue + ?Sized> {
    store: &'s ConfigStore<'a, K>,
    pub pointer: Pointer,
}

impl<K: KeyValue + ?Sized> ConfigView<'_, '_, K> {
    fn read<T: DeserializeOwned + Clone + 'static>(
        &self,
        name: &str,
    ) -> Result<Option<T>, KvError> {
        let cache = self.store.cache;
        if let Some(kept) = cache.and_then(|c| c.get(&self.pointer.hash, name)) {
            return Ok(kept);
        }
        let record = match self.store.snapshots.record(self.pointer.version, name)? {
            None => None,
            Some(bytes) => Some(
                serde_json::from_slice::<T>(&bytes)
                    .map_err(|e| KvError(format!("corrupt config record `{name}`: {e}")))?,
            ),
        };
        if let Some(cache) = cache {
            cache.put(&self.pointer.hash, name, record.clone());
        }
        Ok(record)
    }

    pub fn region(&self) -> Result<Option<RegionRecord>, KvError> {
        self.read("region")
    }

    pub fn tenant(&self, id: &str) -> Result<Option<Tenant>, KvError> {
        self.read(&format!("tenant/{id}"))
    }

    /// The key with this `sha256:<hex>` hash.
    pub fn api_key(&self, hash: &str) -> Result<Option<KeyRecord>, KvError> {
        self.read(&format!("key/{hash}"))
    }

    pub fn issuer(&self, iss: &str) -> Result<Option<super::Issuer>, KvError> {
        self.read(&format!("issuer/{iss}"))
    }

    pub fn carrier(&self, id: &str) -> Result<Option<super::Carrier>, KvError> {
        self.read(&format!("carrier/{id}"))
    }

    pub fn plan(&self, id: &str) -> Result<Option<super::Plan>, KvError> {
        self.read(&format!("plan/{id}"))
    }

    pub fn routes(&self) -> Result<Vec<super::Route>, KvError> {
        Ok(self.read("routes")?.unwrap_or_default())
    }

    pub fn account_limit(
        &self,
        carrier: &str,
        account: &str,
    ) -> Result<Option<super::AccountLimit>, KvError> {
        self.read(&format!("account-limit/{carrier}/{account}"))
    }

    pub fn webhook(&self, carrier: &str) -> Result<Option<super::WebhookIntake>, KvError> {
        self.read(&format!("webhook/{carrier}"))
    }

    pub fn subscriptions(&self, tenant: &str) -> Result<Vec<super::Subscription>, KvError> {
        Ok(self
            .read(&format!("subscriptions/{tenant}"))?
            .unwrap_or_default())
    }

    /// The delivery tiers the document defines (`default` is built in unless defined).
    pub fn tiers(&self) -> Result<Vec<super::DeliveryTier>, KvError> {
        Ok(self.read("tiers")?.unwrap_or_default())
    }

    /// The tenant owning a carrier's own account, if any.
    pub fn account_tenant(&self, carrier: &str, account: &str) -> Result<Option<String>, KvError> {
        Ok(self
            .read::<AccountRecord>(&format!("account/{carrier}/{account}"))?
            .map(|r| r.tenant))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use std::cell::Cell;

    const DEMO: &str = include_str!("../../../../infra/regions/local/gateway.toml");

    /// Counts reads, to show the per-request bound.
    struct Counting<'a> {
        inner: &'a MemoryKv,
        gets: Cell<usize>,
    }

    impl<'a> Counting<'a> {
        fn new(inner: &'a MemoryKv) -> Self {
            Counting {
                inner,
                gets: Cell::new(0),
            }
        }
    }

    /// A store with `text` applied.
    fn applied(text: &str) -> MemoryKv {
        let kv = MemoryKv::new();
        ConfigStore::new(&kv).apply(text, None).unwrap();
        kv
    }

    impl KeyValue for Counting<'_> {
        fn get(&self, key: &str) -> crate::kv::KvResult<Option<Vec<u8>>> {
            self.gets.set(self.gets.get() + 1);
            self.inner.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> crate::kv::KvResult<()> {
            self.inner.set(key, value)
        }
        fn delete(&self, key: &str) -> crate::kv::KvResult<()> {
            self.inner.delete(key)
        }
        fn increment(&self, key: &str, delta: i64) -> crate::kv::KvResult<i64> {
            self.inner.increment(key, delta)
        }
        fn compare_and_swap(
            &self,
            key: &str,
            expected: Option<&[u8]>,
            new: &[u8],
        ) -> crate::kv::KvResult<bool> {
            self.inner.compare_and_swap(key, expected, new)
        }
    }

    fn demo_doc() -> Document {
        parse_and_validate(DEMO).expect("the demo document is valid")
    }

    #[test]
    fn the_demo_compiles_to_one_record_per_entity() {
        let doc = demo_doc();
        let names: Vec<String> = compile(&doc).into_iter().map(|(n, _)| n).collect();
        for t in &doc.tenants {
            assert!(names.contains(&format!("tenant/{}", t.id)));
            for k in &t.keys {
                assert!(names.contains(&format!("key/{}", k.hash.as_str())));
            }
        }
        for c in &doc.carriers {
            assert!(names.contains(&format!("carrier/{}", c.id)));
        }
        let unique: std::collections::BTreeSet<_> = names.iter().collect();
        assert_eq!(unique.len(), names.len(), "record names are unique");
    }

    #[test]
    fn apply_then_read_back_a_tenant_and_its_key() {
        let kv = MemoryKv::new();
        let store = ConfigStore::new(&kv);
        let applied = store.apply(DEMO, None).unwrap();
        assert!(!applied.unchanged);
        assert_eq!(applied.pointer.hash, content_hash(DEMO));
        let view = store.view().unwrap().unwrap();
        let doc = demo_doc();
        let tenant = &doc.tenants[0];
        assert_eq!(view.tenant(&tenant.id).unwrap().as_ref(), Some(tenant));
        let key = view.api_key(tenant.keys[0].hash.as_str()).unwrap().unwrap();
        assert_eq!(key.tenant, tenant.id);
        assert!(view.tenant("nobody").unwrap().is_none());
    }

    #[test]
    fn an_own_carrier_account_names_its_tenant() {
        let kv = MemoryKv::new();
        let store = ConfigStore::new(&kv);
        store.apply(DEMO, None).unwrap();
        let view = store.view().unwrap().unwrap();
        let doc = demo_doc();
        let (tenant, own) = doc
            .tenants
            .iter()
            .find_map(|t| t.carriers.iter().find(|c| !c.is_platform()).map(|c| (t, c)))
            .expect("the demo has a tenant with its own carrier account");
        assert_eq!(
            view.account_tenant(&own.carrier, &own.account).unwrap(),
            Some(tenant.id.clone())
        );
        assert_eq!(view.account_tenant(&own.carrier, "nobody").unwrap(), None);
        assert_eq!(
            view.account_tenant(&own.carrier, crate::config::PLATFORM_ACCOUNT)
                .unwrap(),
            None,
            "the shared platform account names no tenant"
        );
        assert_eq!(view.tiers().unwrap(), doc.tiers);
    }

    #[test]
    fn applying_the_active_document_again_is_a_no_op() {
        let kv = MemoryKv::new();
        let store = ConfigStore::new(&kv);
        let first = store.apply(DEMO, None).unwrap();
        let again = store.apply(DEMO, None).unwrap();
        assert!(again.unchanged);
        assert_eq!(again.pointer, first.pointer);
    }

    #[test]
    fn an_invalid_document_changes_nothing() {
        let kv = MemoryKv::new();
        let store = ConfigStore::new(&kv);
        store.apply(DEMO, None).unwrap();
        let before = kv.keys();
        let broken = DEMO.replacen("[region]", "[region]\nbogus_field = 1", 1);
        match store.apply(&broken, None) {
            Err(ApplyConfigError::Invalid(errors)) => assert!(!errors.is_empty()),
            other => panic!("expected validation errors, got {other:?}"),
        }
        assert_eq!(kv.keys(), before);
    }

    #[test]
    fn a_stale_expected_version_is_a_conflict() {
        let kv = MemoryKv::new();
        let store = ConfigStore::new(&kv);
        let v1 = store.apply(DEMO, None).unwrap().pointer;
        let changed = DEMO.replacen("[region]", "# v2\n[region]", 1);
        store.apply(&changed, Some(Some(&v1))).unwrap();
        let again = DEMO.replacen("[region]", "# v3\n[region]", 1);
        assert!(matches!(
            store.apply(&again, Some(Some(&v1))),
            Err(ApplyConfigError::Conflict { .. })
        ));
    }

    #[test]
    fn seeding_an_empty_store_happens_once() {
        let kv = MemoryKv::new();
        let store = ConfigStore::new(&kv);
        assert_eq!(store.active_or_seed(None).unwrap(), None);
        let seeded = store.active_or_seed(Some(DEMO)).unwrap().unwrap();
        assert_eq!(seeded.version, 1);
        let changed = DEMO.replacen("[region]", "# v2\n[region]", 1);
        store.apply(&changed, None).unwrap();
        let active = store.active_or_seed(Some(DEMO)).unwrap().unwrap();
        assert_eq!(
            active.version, 2,
            "an applied config is never replaced by the seed"
        );
    }

    /// A document with `extra` more tenants, each with a key.
    fn with_extra_tenants(extra: usize) -> String {
        let mut text = DEMO.to_string();
        let plan = &demo_doc().plans[0].id;
        for i in 0..extra {
            let hash = super::super::KeyHash::of_key(&format!("bulk{i}_secret"));
            text.push_str(&format!(
                "\n[[tenants]]\nid = \"bulk{i}\"\nhome = \"eu\"\nresidency = \"relaxed\"\nplan = \"{plan}\"\nkeys = [{{ hash = \"{}\", state = \"active\" }}]\n",
                hash.as_str()
            ));
        }
        text
    }

    fn reads_to_authenticate(text: &str) -> usize {
        let kv = applied(text);
        let counting = Counting::new(&kv);
        read_as_a_request(
            &ConfigStore::new(&counting),
            &demo_doc().tenants[0].keys[0].hash,
        );
        counting.gets.get()
    }

    /// What a request authenticated by API key reads: pointer, key, tenant, plan,
    /// routes. Returns the key's tenant.
    fn read_as_a_request<K: KeyValue>(
        store: &ConfigStore<K>,
        key: &super::super::KeyHash,
    ) -> String {
        let view = store.view().unwrap().unwrap();
        let key = view.api_key(key.as_str()).unwrap().unwrap();
        let tenant = view.tenant(&key.tenant).unwrap().unwrap();
        view.plan(&tenant.plan).unwrap().unwrap();
        view.routes().unwrap();
        tenant.id
    }

    #[test]
    fn a_cached_store_reads_only_the_pointer_again_until_the_config_changes() {
        let kv = applied(DEMO);
        let counting = Counting::new(&kv);
        let cache = RecordCache::new();
        let store = ConfigStore::cached(&counting, &cache);
        let demo_key = &demo_doc().tenants[0].keys[0].hash;
        let reads = |f: &dyn Fn() -> String| {
            let before = counting.gets.get();
            let tenant = f();
            (counting.gets.get() - before, tenant)
        };

        let first = reads(&|| read_as_a_request(&store, demo_key));
        let second = reads(&|| read_as_a_request(&store, demo_key));
        assert_eq!(first.0, 5);
        assert_eq!(
            second,
            (1, first.1.clone()),
            "only the pointer is read again"
        );

        // A new document: the next request reads its records, and finds its new key.
        ConfigStore::new(&kv)
            .apply(&with_extra_tenants(1), None)
            .unwrap();
        let bulk_key = super::super::KeyHash::of_key("bulk0_secret");
        let after = reads(&|| read_as_a_request(&store, &bulk_key));
        assert_eq!(after, (5, "bulk0".to_string()));
    }

    #[test]
    fn a_cached_store_knows_an_unknown_key_without_reading_it_again() {
        let kv = applied(DEMO);
        let counting = Counting::new(&kv);
        let cache = RecordCache::new();
        let store = ConfigStore::cached(&counting, &cache);
        let unknown = super::super::KeyHash::of_key("not_a_key");
        for expected_reads in [2, 3] {
            let view = store.view().unwrap().unwrap();
            assert_eq!(view.api_key(unknown.as_str()).unwrap(), None);
            assert_eq!(counting.gets.get(), expected_reads);
        }
    }

    #[test]
    fn reads_per_request_do_not_grow_with_the_number_of_tenants() {
        let small = reads_to_authenticate(DEMO);
        let large = reads_to_authenticate(&with_extra_tenants(2_000));
        assert_eq!(small, 5);
        assert_eq!(large, small);
    }
}
