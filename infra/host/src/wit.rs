//! Host bindings for the Spin interfaces Waypost implements itself.

wasmtime::component::bindgen!({
    path: "wit",
    world: "waypost:host/spin-host",
    // The wasi:keyvalue functions that reach the backend are `async` on the host so
    // they can yield while the store is in use by another thread (`kv::until_free`);
    // to the guest they still block.
    imports: {
        "wasi:keyvalue/store.[method]bucket.get": async | trappable,
        "wasi:keyvalue/store.[method]bucket.set": async | trappable,
        "wasi:keyvalue/store.[method]bucket.delete": async | trappable,
        "wasi:keyvalue/store.[method]bucket.exists": async | trappable,
        "wasi:keyvalue/store.[method]bucket.list-keys": async | trappable,
        "wasi:keyvalue/atomics.increment": async | trappable,
        "wasi:keyvalue/atomics.swap": async | trappable,
        "wasi:keyvalue/atomics.[static]cas.new": async | trappable,
        "wasi:keyvalue/batch": async | trappable,
        default: trappable,
    },
    with: {
        "spin:key-value/key-value.store": crate::kv::StoreHandle,
        "wasi:keyvalue/store.bucket": crate::kv::StoreHandle,
        "wasi:keyvalue/atomics.cas": crate::kv::CasHandle,
    },
    require_store_data_send: true,
});
