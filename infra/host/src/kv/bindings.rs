//! Host side of `spin:key-value/key-value@3.0.0` and `wasi:keyvalue@0.2.0-draft2`
//! (store, atomics, batch) over the `Store` trait.

use super::{KvError, KvView, OpenError, Store, SwapOutcome};
use std::sync::Arc;
use wasmtime::component::{
    Accessor, FutureReader, HasData, Linker, Resource, ResourceTable, StreamReader,
};

use crate::wit as generated;

use generated::spin::key_value::key_value as spin_kv;
use generated::wasi::keyvalue::{atomics, batch, store as wasi_store};

/// An opened store, as both `spin:key-value` `store` and `wasi:keyvalue` `bucket`.
pub struct StoreHandle(Arc<dyn Store>);

/// A `wasi:keyvalue` CAS handle: the value read when it was created.
pub struct CasHandle {
    store: Arc<dyn Store>,
    key: String,
    current: Option<Vec<u8>>,
}

/// What the key-value bindings borrow from the instance state.
pub struct KvCtx<'a> {
    pub view: &'a KvView,
    pub table: &'a mut ResourceTable,
}

pub struct KeyValue;

impl HasData for KeyValue {
    type Data<'a> = KvCtx<'a>;
}

pub fn add_to_linker<T: Send + 'static>(
    linker: &mut Linker<T>,
    getter: fn(&mut T) -> KvCtx<'_>,
) -> wasmtime::Result<()> {
    spin_kv::add_to_linker::<T, KeyValue>(linker, getter)?;
    wasi_store::add_to_linker::<T, KeyValue>(linker, getter)?;
    atomics::add_to_linker::<T, KeyValue>(linker, getter)?;
    batch::add_to_linker::<T, KeyValue>(linker, getter)?;
    Ok(())
}

fn table_err(e: wasmtime::component::ResourceTableError) -> wasmtime::Error {
    wasmtime::Error::msg(e.to_string())
}

impl KvCtx<'_> {
    fn store(&self, handle: &Resource<StoreHandle>) -> wasmtime::Result<Arc<dyn Store>> {
        Ok(self.table.get(handle).map_err(table_err)?.0.clone())
    }

    /// The store behind `handle`, once no other thread is using it. The future holds
    /// only the store, not `self` (whose table is not `Sync`).
    fn free_store(
        &self,
        handle: &Resource<StoreHandle>,
    ) -> impl Future<Output = wasmtime::Result<Arc<dyn Store>>> + Send + use<> {
        let store = self.store(handle);
        async move {
            let store = store?;
            until_free(&*store).await;
            Ok(store)
        }
    }
}

/// Returns once `store` is not in use by another thread (`super::until_free`). Every
/// host function that reaches the backend waits here first.
async fn until_free(store: &dyn Store) {
    super::until_free(|| store.would_block()).await
}

// ---- spin:key-value@3.0.0 -------------------------------------------------------

fn spin_err(e: KvError) -> spin_kv::Error {
    crate::metrics::record_kv_error();
    spin_kv::Error::Other(e.to_string())
}

/// The store behind `handle`, once no other thread is using it.
async fn spin_store<T>(
    accessor: &Accessor<T, KeyValue>,
    handle: &Resource<StoreHandle>,
) -> wasmtime::Result<Arc<dyn Store>> {
    let store = accessor.with(|mut a| a.get().store(handle))?;
    until_free(&*store).await;
    Ok(store)
}

impl spin_kv::Host for KvCtx<'_> {}

impl spin_kv::HostStore for KvCtx<'_> {
    fn drop(&mut self, handle: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(handle).map_err(table_err)?;
        Ok(())
    }
}

impl<T: Send> spin_kv::HostStoreWithStore<T> for KeyValue {
    async fn open(
        accessor: &Accessor<T, Self>,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, spin_kv::Error>> {
        accessor.with(|mut a| {
            let ctx = a.get();
            match ctx.view.open(&label) {
                Ok(store) => Ok(Ok(ctx.table.push(StoreHandle(store)).map_err(table_err)?)),
                Err(OpenError::AccessDenied) => Ok(Err(spin_kv::Error::AccessDenied)),
                Err(OpenError::NoSuchStore) => Ok(Err(spin_kv::Error::NoSuchStore)),
            }
        })
    }

    async fn get(
        accessor: &Accessor<T, Self>,
        handle: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, spin_kv::Error>> {
        Ok(spin_store(accessor, &handle)
            .await?
            .get(&key)
            .map_err(spin_err))
    }

    async fn set(
        accessor: &Accessor<T, Self>,
        handle: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        Ok(spin_store(accessor, &handle)
            .await?
            .set(&key, &value)
            .map_err(spin_err))
    }

    async fn delete(
        accessor: &Accessor<T, Self>,
        handle: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), spin_kv::Error>> {
        Ok(spin_store(accessor, &handle)
            .await?
            .delete(&key)
            .map_err(spin_err))
    }

    async fn exists(
        accessor: &Accessor<T, Self>,
        handle: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, spin_kv::Error>> {
        Ok(spin_store(accessor, &handle)
            .await?
            .exists(&key)
            .map_err(spin_err))
    }

    async fn get_keys(
        accessor: &Accessor<T, Self>,
        handle: Resource<StoreHandle>,
    ) -> wasmtime::Result<(
        StreamReader<String>,
        FutureReader<Result<(), spin_kv::Error>>,
    )> {
        let keys = spin_store(accessor, &handle).await?.keys();
        accessor.with(|mut a| {
            let (keys, result) = match keys {
                Ok(keys) => (keys, Ok(())),
                Err(e) => (Vec::new(), Err(spin_err(e))),
            };
            Ok((
                StreamReader::new(&mut a, keys)?,
                FutureReader::new(&mut a, async move { wasmtime::error::Ok(result) })?,
            ))
        })
    }
}

// ---- wasi:keyvalue@0.2.0-draft2 ---------------------------------------------------

fn wasi_err(e: KvError) -> wasi_store::Error {
    crate::metrics::record_kv_error();
    wasi_store::Error::Other(e.to_string())
}

impl wasi_store::Host for KvCtx<'_> {
    fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, wasi_store::Error>> {
        match self.view.open(&label) {
            Ok(store) => Ok(Ok(self
                .table
                .push(StoreHandle(store))
                .map_err(table_err)?)),
            Err(OpenError::AccessDenied) => Ok(Err(wasi_store::Error::AccessDenied)),
            Err(OpenError::NoSuchStore) => Ok(Err(wasi_store::Error::NoSuchStore)),
        }
    }
}

impl wasi_store::HostBucket for KvCtx<'_> {
    async fn get(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        Ok(self.free_store(&bucket).await?.get(&key).map_err(wasi_err))
    }

    async fn set(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        Ok(self
            .free_store(&bucket)
            .await?
            .set(&key, &value)
            .map_err(wasi_err))
    }

    async fn delete(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        Ok(self
            .free_store(&bucket)
            .await?
            .delete(&key)
            .map_err(wasi_err))
    }

    async fn exists(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, wasi_store::Error>> {
        Ok(self
            .free_store(&bucket)
            .await?
            .exists(&key)
            .map_err(wasi_err))
    }

    /// Returns every key in one page; the cursor is never set.
    async fn list_keys(
        &mut self,
        bucket: Resource<StoreHandle>,
        _cursor: Option<String>,
    ) -> wasmtime::Result<Result<wasi_store::KeyResponse, wasi_store::Error>> {
        Ok(self
            .free_store(&bucket)
            .await?
            .keys()
            .map(|keys| wasi_store::KeyResponse { keys, cursor: None })
            .map_err(wasi_err))
    }

    fn drop(&mut self, bucket: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(bucket).map_err(table_err)?;
        Ok(())
    }
}

impl atomics::Host for KvCtx<'_> {
    async fn increment(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
        delta: i64,
    ) -> wasmtime::Result<Result<i64, wasi_store::Error>> {
        Ok(self
            .free_store(&bucket)
            .await?
            .increment(&key, delta)
            .map_err(wasi_err))
    }

    async fn swap(
        &mut self,
        cas: Resource<CasHandle>,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), atomics::CasError>> {
        let cas = self.table.delete(cas).map_err(table_err)?;
        until_free(&*cas.store).await;
        let outcome = cas
            .store
            .compare_and_swap(&cas.key, cas.current.as_deref(), &value);
        Ok(match outcome {
            Ok(SwapOutcome::Swapped) => Ok(()),
            Ok(SwapOutcome::Conflict) => {
                // The failed swap hands the guest a fresh handle on the new value,
                // so it can retry.
                let current = cas
                    .store
                    .get(&cas.key)
                    .map_err(|e| wasmtime::Error::msg(e.to_string()));
                let fresh = CasHandle {
                    current: current?,
                    ..cas
                };
                Err(atomics::CasError::CasFailed(
                    self.table.push(fresh).map_err(table_err)?,
                ))
            }
            Err(e) => Err(atomics::CasError::StoreError(wasi_err(e))),
        })
    }
}

impl atomics::HostCas for KvCtx<'_> {
    async fn new(
        &mut self,
        bucket: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Resource<CasHandle>, wasi_store::Error>> {
        let store = self.free_store(&bucket).await?;
        let current = match store.get(&key) {
            Ok(v) => v,
            Err(e) => return Ok(Err(wasi_err(e))),
        };
        let handle = CasHandle {
            store,
            key,
            current,
        };
        Ok(Ok(self.table.push(handle).map_err(table_err)?))
    }

    fn current(
        &mut self,
        cas: Resource<CasHandle>,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, wasi_store::Error>> {
        Ok(Ok(self.table.get(&cas).map_err(table_err)?.current.clone()))
    }

    fn drop(&mut self, cas: Resource<CasHandle>) -> wasmtime::Result<()> {
        self.table.delete(cas).map_err(table_err)?;
        Ok(())
    }
}

impl batch::Host for KvCtx<'_> {
    async fn get_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<Vec<(String, Option<Vec<u8>>)>, wasi_store::Error>> {
        Ok(self
            .free_store(&bucket)
            .await?
            .get_many(&keys)
            .map_err(wasi_err))
    }

    async fn set_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        entries: Vec<(String, Vec<u8>)>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        Ok(self
            .free_store(&bucket)
            .await?
            .set_many(&entries)
            .map_err(wasi_err))
    }

    async fn delete_many(
        &mut self,
        bucket: Resource<StoreHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<(), wasi_store::Error>> {
        Ok(self
            .free_store(&bucket)
            .await?
            .delete_many(&keys)
            .map_err(wasi_err))
    }
}
