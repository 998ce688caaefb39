//! Per-instance state: what one component instance may do (its grants) and the
//! WASI / wasi:http / Spin contexts built from them for one request.

use crate::allowed_hosts::AllowedHosts;
use crate::client_tls::ComponentTls;
use crate::component_output::ComponentOutput;
use crate::kv::{KvCtx, KvView};
use crate::outbound::{OutboundClient, OutboundHooks};
use crate::variables::ComponentVariables;
use std::path::PathBuf;
use std::sync::Arc;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};
use wasmtime_wasi_http::p3::bindings::Service;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// A directory mounted into the guest: read-only, unless `up --allow-transient-write`
/// lets the guest change the copy (`files`), which the next start makes afresh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub host: PathBuf,
    pub guest: String,
    pub writable: bool,
}

/// Everything a component instance is allowed, computed once at start-up.
#[derive(Clone, Default)]
pub struct Grants {
    pub component: Arc<str>,
    pub kv: KvView,
    pub variables: ComponentVariables,
    pub outbound: Arc<AllowedHosts>,
    /// Which `[[client_tls]]` entry governs its HTTPS calls to each host.
    pub tls: Arc<ComponentTls>,
    pub environment: Vec<(String, String)>,
    pub mounts: Vec<Mount>,
    /// Where its stdout and stderr go (`--log-dir`, `--follow`).
    pub output: ComponentOutput,
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
    /// A chain sharing this store: its instances after the outermost, in order. The
    /// middleware at position `p` reaches the next one, `chained[p]`.
    pub chained: Vec<Arc<Service>>,
    pub app: Arc<crate::app::App>,
    pub limits: crate::memory_limit::InstanceLimits,
}

impl Grants {
    /// Whether a middleware with these grants can run in the same store as the
    /// primary component that has `primary`: for every capability the middleware
    /// imports (`imports`: its import names), it is granted exactly what the primary
    /// is. The shared store then gives each link what its own store would.
    pub fn same_as_primary_for(&self, primary: &Grants, imports: &[String]) -> bool {
        let imports_any = |prefixes: &[&str]| {
            imports
                .iter()
                .any(|i| prefixes.iter().any(|p| i.starts_with(p)))
        };
        let kv = self.kv.granted() == primary.kv.granted()
            || !imports_any(&[
                "spin:key-value/",
                "wasi:keyvalue/",
                "fermyon:spin/key-value",
            ]);
        let variables = self.variables == primary.variables
            || !imports_any(&[
                "spin:variables/",
                "fermyon:spin/variables",
                "fermyon:spin/config",
                "wasi:config/",
            ]);
        let outbound = (self.outbound == primary.outbound && self.tls == primary.tls)
            || !imports_any(&[
                "wasi:http/client",
                "wasi:http/outgoing-handler",
                "fermyon:spin/http",
            ]);
        let environment =
            self.environment == primary.environment || !imports_any(&["wasi:cli/environment"]);
        let files = self.mounts == primary.mounts || !imports_any(&["wasi:filesystem/"]);
        let output =
            self.output == primary.output || !imports_any(&["wasi:cli/stdout", "wasi:cli/stderr"]);
        kv && variables && outbound && environment && files && output
    }
}

impl InstanceState {
    pub fn new(
        grants: &Grants,
        client: &OutboundClient,
        app: Arc<crate::app::App>,
        next: Option<Next>,
        limits: crate::memory_limit::InstanceLimits,
    ) -> anyhow::Result<Self> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.stdout(grants.output.stdout.clone())
            .stderr(grants.output.stderr.clone());
        for (k, v) in &grants.environment {
            wasi.env(k, v);
        }
        for m in &grants.mounts {
            let perms = if m.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&m.host, &m.guest, perms)?;
        }
        Ok(Self {
            table: ResourceTable::new(),
            wasi: wasi.build(),
            http: WasiHttpCtx::new(),
            hooks: OutboundHooks {
                component: grants.component.clone(),
                allowed: grants.outbound.clone(),
                tls: grants.tls.clone(),
                client: client.clone(),
                app: app.clone(),
            },
            kv: grants.kv.clone(),
            variables: grants.variables.clone(),
            next,
            chained: Vec::new(),
            app,
            limits,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::StoreManager;
    use std::collections::HashMap;

    fn router_like() -> Grants {
        Grants {
            component: "router".into(),
            kv: StoreManager::default().view_for(&["default".to_string()]),
            variables: ComponentVariables(Arc::new(HashMap::from([(
                "region".to_string(),
                "eu".to_string(),
            )]))),
            outbound: Arc::new(AllowedHosts::parse_all(&["https://*:443".to_string()]).unwrap()),
            ..Grants::default()
        }
    }

    fn imports(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn middleware_inheriting_what_it_imports_shares_the_store() {
        let primary = router_like();
        // auth in spin.toml: inherits key_value_stores and variables, not outbound HTTP,
        // which it does not import.
        let auth = Grants {
            component: "auth".into(),
            kv: primary.kv.clone(),
            variables: primary.variables.clone(),
            ..Grants::default()
        };
        let used = imports(&[
            "spin:key-value/key-value@3.0.0",
            "spin:variables/variables@3.0.0",
            "wasi:http/handler@0.3.0",
            "wasi:http/types@0.3.0",
        ]);
        assert!(auth.same_as_primary_for(&primary, &used));
    }

    #[test]
    fn middleware_denied_something_it_imports_gets_its_own_store() {
        let primary = router_like();
        let no_kv = Grants {
            component: "layer".into(),
            variables: primary.variables.clone(),
            ..Grants::default()
        };
        assert!(
            !no_kv.same_as_primary_for(&primary, &imports(&["spin:key-value/key-value@3.0.0"]))
        );
        assert!(
            !no_kv.same_as_primary_for(&primary, &imports(&["wasi:keyvalue/store@0.2.0-draft2"]))
        );
        let no_outbound = Grants {
            kv: primary.kv.clone(),
            ..no_kv.clone()
        };
        assert!(!no_outbound.same_as_primary_for(&primary, &imports(&["wasi:http/client@0.3.0"])));
        // The same hosts, called with another `[[client_tls]]` entry's certificate.
        let other_tls = Grants {
            tls: Arc::new(ComponentTls::one("api.ups.com", 1)),
            ..primary.clone()
        };
        let client = imports(&["wasi:http/client@0.3.0"]);
        assert!(!other_tls.same_as_primary_for(&primary, &client));
        assert!(other_tls.same_as_primary_for(&primary, &imports(&["wasi:http/types@0.3.0"])));
        let no_variables = Grants {
            variables: ComponentVariables::default(),
            ..primary.clone()
        };
        assert!(
            !no_variables
                .same_as_primary_for(&primary, &imports(&["spin:variables/variables@3.0.0"]))
        );
        let no_env = Grants {
            environment: Vec::new(),
            ..primary.clone()
        };
        let with_env = Grants {
            environment: vec![("MODE".into(), "prod".into())],
            ..primary.clone()
        };
        assert!(!no_env.same_as_primary_for(&with_env, &imports(&["wasi:cli/environment@0.3.0"])));
        assert!(no_env.same_as_primary_for(&with_env, &imports(&["wasi:http/types@0.3.0"])));
    }
}
