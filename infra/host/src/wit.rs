//! Host bindings for the Spin interfaces Waypost implements itself.

wasmtime::component::bindgen!({
    path: "wit",
    world: "waypost:host/spin-host",
    imports: { default: trappable },
    with: {
        "spin:key-value/key-value.store": crate::kv::StoreHandle,
        "wasi:keyvalue/store.bucket": crate::kv::StoreHandle,
        "wasi:keyvalue/atomics.cas": crate::kv::CasHandle,
    },
    require_store_data_send: true,
});
