//! Per-instance state: what one component instance may do (its grants) and the
//! WASI / wasi:http / Spin contexts built from them for one request.

use crate::kv::{KvCtx, KvView};
use crate::outbound::{AllowedHosts, OutboundClient, OutboundHooks};
use crate::variables::ComponentVariables;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::StoreLimits;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// A directory mounted read-only into the guest.
#[derive(Debug, Clone)]
pub struct Mount {
    pub host: PathBuf,
    pub guest: String,
}

/// Everything a component instance is allowed, computed once at start-up.
#[derive(Clone, Default)]
pub struct Grants {
    pub component: Arc<str>,
    pub kv: KvView,
    pub variables: ComponentVariables,
    pub outbound: Arc<AllowedHosts>,
    pub environment: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
}

/// Where a middleware's `wasi:http/handler` import leads.
#[derive(Clone)]
pub struct Next {
    pub chain: Arc<crate::app::Chain>,
    pub index: usize,
}

pub struct InstanceState {
    pub table: ResourceTable,
    pub wasi: WasiCtx,
    pub http: WasiHttpCtx,
    pub hooks: OutboundHooks,
    pub kv: KvView,
    pub variables: ComponentVariables,
    pub next: Option<Next>,
    pub app: Arc<crate::app::App>,
    pub limits: StoreLimits,
}

impl InstanceState {
    pub fn new(
        grants: &Grants,
        client: &OutboundClient,
        app: Arc<crate::app::App>,
        next: Option<Next>,
        max_memory: usize,
    ) -> anyhow::Result<Self> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.inherit_stdout().inherit_stderr();
        for (k, v) in &grants.environment {
            wasi.env(k, v);
        }
        for m in &grants.mounts {
            wasi.preopened_dir(&m.host, &m.guest, FsPerms::ReadOnly)?;
        }
        Ok(Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks {
                component: grants.component.clone(),
                allowed: grants.outbound.clone(),
                client: client.clone(),
                app: app.clone(),
            },
            kv: grants.kv.clone(),
            variables: grants.variables.clone(),
            next,
            app,
            limits: wasmtime::StoreLimitsBuilder::new()
                .memory_size(max_memory)
                .build(),
        })
    }

    pub fn kv_ctx(&mut self) -> KvCtx<'_> {
        KvCtx {
            view: &self.kv,
            table: &mut self.table,
        }
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for InstanceState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}
