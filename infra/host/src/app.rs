//! The loaded application: components compiled and pre-instantiated, each trigger's
//! middleware chain, and dispatching a request into a chain. Every store holds the
//! instances of one link (or of a whole chain whose links have the same grants), so
//! each instance has exactly the capabilities its grants say; a store serves several
//! requests in turn (`workers`).

use crate::allowed_hosts::AllowedHosts;
use crate::client_tls::ClientTls;
use crate::compile_cache::{self, CacheSetting};
use crate::component_output::OutputOptions;
use crate::dependencies;
use crate::engine::{self, EngineOptions};
use crate::instance::{Grants, InstanceState, Mount, Next};
use crate::kv::StoreManager;
use crate::manifest::{LoadedManifest, RouteToml, TriggerHandler};
use crate::memory_limit::{self, InstanceLimits};
use crate::outbound::{InProcess, OutboundClient, ResponseFuture, SelfOrigin};
use crate::request_fate::{CutShortIsAnError, Fate};
use crate::routes::{RouteMatch, RoutePattern, Router};
use crate::runtime_config::{LoadedRuntimeConfig, OutboundSettings};
use crate::static_response::StaticResponse;
use crate::variables::{self, ComponentVariables, Providers};
use crate::workers::{LinkWorkers, Reuse};
use anyhow::{Context, bail};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use wasmtime::Engine;
use wasmtime::PoolConcurrencyLimitError;
use wasmtime::component::{Accessor, Component, Linker, Resource};
use wasmtime_wasi_http::handler::{
    ExpirationError, InstantiationError, ProxyHandler, TrapOrPanicError,
};
use wasmtime_wasi_http::p3::bindings::ServicePre;
use wasmtime_wasi_http::p3::bindings::http::types::ErrorCode;
use wasmtime_wasi_http::{Error as HttpError, WasiBody, WasiHttpView};

pub const HANDLER: &str = "wasi:http/handler@0.3.0";

/// Options for loading an app (the `up` flags).
pub struct LoadOptions {
    pub manifest: PathBuf,
    pub runtime_config: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub variables: HashMap<String, String>,
    /// Where compiled components are kept (`--cache-dir`, `--cache`, `--disable-cache`).
    pub cache: CacheSetting,
    /// `--disable-pooling`, `--debug-info`.
    pub engine: EngineOptions,
    /// `up --direct-mounts`, `--allow-transient-write`.
    pub files: FilesOptions,
    pub reuse: Reuse,
    /// `SPIN_OUTBOUND_H2C_PRIOR_KNOWLEDGE` (`OutboundSettings::h2c_prior_knowledge`).
    pub h2c_prior_knowledge: Option<String>,
    /// `up --env name=value`: set in every component's environment.
    pub environment: Vec<(String, String)>,
    /// `up --max-instance-memory`, over the runtime config's `max_instance_memory`.
    pub max_instance_memory: Option<u64>,
    /// `up --key-value key=value`: written to the `default` store once the app has
    /// loaded, before it serves (as Spin writes them).
    pub key_values: Vec<(String, String)>,
    /// `up --log-dir`, `--follow`, `--quiet`, `--truncate-logs`; a log dir given
    /// here wins over the runtime config's `log_dir`.
    pub output: OutputOptions,
}

/// How components' `files` are mounted.
#[derive(Clone, Copy, Debug, Default)]
pub struct FilesOptions {
    /// `--direct-mounts`: the app's directories as they are, instead of copies.
    pub direct: bool,
    /// `--allow-transient-write`: the copies writable; the next start makes them
    /// afresh. Not with `direct`, where a write would change the app's own files.
    pub writable: bool,
}

/// What answers a trigger's route: its chain of components, or the response the
/// manifest gives in its place.
#[derive(Clone)]
pub enum Target {
    Chain(Arc<Chain>),
    Static(Arc<StaticResponse>),
}

impl Target {
    /// For the start-up banner.
    fn describe(&self) -> String {
        match self {
            Self::Chain(chain) => chain.describe().to_string(),
            Self::Static(response) => format!("static {}", response.status.as_u16()),
        }
    }
}

/// One component of a chain, with the grants it runs with there.
pub struct Link {
    pub component: String,
    /// What a store of this link's own instantiates: this component alone.
    own_store: Pres,
    grants: Grants,
}

/// The components one store instantiates, outermost first.
pub type Pres = Arc<[ServicePre<InstanceState>]>;

/// A trigger's components, outermost middleware first, the handler last.
pub struct Chain {
    pub links: Vec<Link>,
    /// When every middleware is granted what the primary is (for what it imports),
    /// the whole chain runs in one store, the way Spin composes it into one component:
    /// each link pre-instantiated with the linker of its position, whose
    /// `wasi:http/handler` import calls the next instance directly, without converting
    /// the request and response or piping bodies through the host.
    shared: Option<Pres>,
    /// `a -> b -> handler`, for logs.
    description: Arc<str>,
    /// The workers of each link's store, started at its first request: one set per
    /// serving thread (`crate::serving`) and one for requests made off them, link
    /// `index` of set `s` at `s * links.len() + index`.
    workers: Box<[OnceLock<ProxyHandler<LinkWorkers>>]>,
}

impl Chain {
    fn new(links: Vec<Link>, shared: Option<Pres>) -> Self {
        let names: Vec<&str> = links.iter().map(|l| l.component.as_str()).collect();
        let description = names.join(" -> ").into();
        let sets = crate::serving::count() + 1;
        let workers = (0..sets * links.len()).map(|_| OnceLock::new()).collect();
        Self {
            links,
            shared,
            description,
            workers,
        }
    }

    /// The workers of link `index`'s store for the current thread.
    fn workers(&self, index: usize) -> &OnceLock<ProxyHandler<LinkWorkers>> {
        let sets = self.workers.len() / self.links.len();
        let set = crate::serving::current().map_or(sets - 1, |s| s.min(sets - 2));
        &self.workers[set * self.links.len() + index]
    }

    /// `a -> b -> handler`, for logs.
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// What the store of link `index` is: the whole chain when it shares one store
    /// (index 0), otherwise that link alone.
    fn store(&self, index: usize) -> LinkStore<'_> {
        match (&self.shared, index) {
            (Some(pres), 0) => LinkStore {
                whole_chain: true,
                grants: &self.links.last().expect("a chain has a handler").grants,
                pres,
                name: &self.description,
            },
            _ => {
                let link = &self.links[index];
                LinkStore {
                    whole_chain: false,
                    grants: &link.grants,
                    pres: &link.own_store,
                    name: &link.grants.component,
                }
            }
        }
    }
}

struct LinkStore<'c> {
    whole_chain: bool,
    /// What its instances may do: the primary's grants for a whole chain.
    grants: &'c Grants,
    /// What it instantiates, outermost first.
    pres: &'c Pres,
    /// What logs and metrics call it: the component, or `a -> b -> handler`.
    name: &'c Arc<str>,
}

pub struct App {
    pub name: String,
    engine: Engine,
    router: Router<usize>,
    /// What answers each trigger, by its index in the manifest.
    targets: Vec<Target>,
    /// Service-chaining targets: components with an HTTP trigger.
    by_component: HashMap<String, Arc<Chain>>,
    client: OutboundClient,
    routes_desc: Vec<String>,
    /// The application variables, resolved at load (for the host's own tick).
    app_values: HashMap<String, String>,
    reuse: Reuse,
    /// Set once the app is served (`serving_at`).
    self_origin: std::sync::OnceLock<SelfOrigin>,
    /// The most each linear memory of an instance may grow to (`memory_limit`).
    max_memory: usize,
}

impl App {
    /// Where the app is served: the origin of its components' calls to `self.alt`.
    pub fn serving_at(&self, origin: SelfOrigin) {
        let _ = self.self_origin.set(origin);
    }

    /// An application variable's value, as resolved at load.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.app_values.get(name).map(String::as_str)
    }

    pub fn load(opts: &LoadOptions) -> anyhow::Result<Arc<App>> {
        let mut manifest = LoadedManifest::read(&opts.manifest)?;
        let runtime = match &opts.runtime_config {
            Some(path) => LoadedRuntimeConfig::read(path)?,
            None => LoadedRuntimeConfig::default(),
        };
        manifest.validate(&runtime.store_labels())?;
        manifest.add_environment(&opts.environment);
        if let Some(path) = &opts.runtime_config {
            runtime
                .client_tls
                .check_components(|id| manifest.manifest.component.contains_key(id))
                .with_context(|| path.display().to_string())?;
        }
        let file = manifest.path.display().to_string();
        let state_dir = opts
            .state_dir
            .clone()
            .or_else(|| {
                runtime
                    .config
                    .state_dir
                    .as_ref()
                    .map(|d| runtime.dir.join(d))
            })
            .unwrap_or_else(|| manifest.dir.join(".spin"));

        let providers =
            Providers::from_process_env(opts.variables.clone(), runtime.variable_values());
        let app_values = variables::resolve_app_variables(&manifest.variable_decls(), &providers)
            .with_context(|| format!("{file}: variables"))?;
        let stores = runtime.build_stores(&state_dir)?;

        let max_memory = match (opts.max_instance_memory, runtime.config.max_instance_memory) {
            (Some(bytes), _) => memory_limit::validate(bytes).context("--max-instance-memory")?,
            (None, Some(bytes)) => memory_limit::validate(bytes).with_context(|| {
                let path = opts.runtime_config.as_deref().unwrap_or(Path::new(""));
                format!("{}: max_instance_memory", path.display())
            })?,
            (None, None) => memory_limit::DEFAULT,
        };
        let cache = compile_cache::open(&opts.cache, &state_dir)?;
        let engine = engine::new_engine(&opts.engine, cache.clone())?;

        let m = &manifest.manifest;
        let mut prepared = prepare_components(
            &manifest,
            &app_values,
            &stores,
            &runtime.client_tls,
            &state_dir,
            opts.files,
            &engine,
        )?;
        compile_cache::report(cache.as_ref(), prepared.len());
        let mut ids: Vec<&String> = prepared.keys().collect();
        ids.sort();
        for id in ids {
            memory_limit::check_initial(&prepared[id].component, max_memory)
                .with_context(|| format!("{file}: component.{id}"))?;
        }
        let output = OutputOptions {
            log_dir: opts.output.log_dir.clone().or_else(|| runtime.log_dir()),
            ..opts.output.clone()
        };
        let all_ids: Vec<&str> = m.component.keys().map(String::as_str).collect();
        let used: Vec<&str> = prepared.keys().map(String::as_str).collect();
        let new_logs = output.new_log_files(&used);
        let mut outputs = output.open(&all_ids, &used)?;
        for (id, component) in prepared.iter_mut() {
            component.grants.output = outputs.remove(id).expect("opened for every component");
        }

        let mut targets = Vec::new();
        let mut routes = Vec::new();
        let mut routes_desc = Vec::new();
        let mut linkers = HashMap::new();
        for (i, t) in m.trigger.http.iter().enumerate() {
            let target = match t.handler() {
                TriggerHandler::Component(component) => Target::Chain(Arc::new(build_chain(
                    &file,
                    i,
                    component,
                    t,
                    &prepared,
                    &engine,
                    &mut linkers,
                )?)),
                TriggerHandler::Static(response) => {
                    Target::Static(Arc::new(StaticResponse::from_toml(response)?))
                }
            };
            if let RouteToml::Path(route) = &t.route {
                routes.push((RoutePattern::parse(route)?, i));
                routes_desc.push(format!("{route}: {}", target.describe()));
            }
            targets.push(target);
        }
        let raw: Vec<&str> = routes.iter().map(|(p, _)| p.raw()).collect();
        for dup in Router::<usize>::duplicates(&raw) {
            crate::log::event(
                "duplicate_route",
                &[
                    ("route", &dup),
                    ("detail", "only the last trigger with this route is served"),
                ],
            );
        }
        let by_component = chaining_targets(m, &targets, &prepared);
        write_key_values(&stores, &opts.key_values)?;
        output.truncate_if_asked()?;
        new_logs.keep();

        Ok(Arc::new(App {
            name: m.application.name.clone(),
            engine,
            router: Router::new(routes),
            app_values: app_values.clone(),
            targets,
            by_component,
            client: OutboundClient::new(
                OutboundSettings {
                    h2c_prior_knowledge: opts.h2c_prior_knowledge.clone(),
                    ..runtime.outbound()?
                },
                &runtime.client_tls,
            )?,
            routes_desc,
            reuse: opts.reuse,
            self_origin: std::sync::OnceLock::new(),
            max_memory,
        }))
    }

    /// `route: component` lines for the start-up banner.
    pub fn describe_routes(&self) -> Vec<String> {
        self.routes_desc.clone()
    }

    pub fn route(&self, path: &str) -> Option<(RouteMatch, Target)> {
        self.router
            .route(path)
            .map(|(m, i)| (m, self.targets[*i].clone()))
    }

    /// Runs `request` through `chain` from link `index` inward, on a worker of that
    /// link's store (see `workers`): an instance kept from an earlier request when one
    /// is free, a new one otherwise.
    pub fn run(
        self: &Arc<Self>,
        chain: Arc<Chain>,
        index: usize,
        request: http::Request<WasiBody>,
    ) -> ResponseFuture {
        let workers = chain
            .workers(index)
            .get_or_init(|| {
                ProxyHandler::new(LinkWorkers {
                    app: Arc::downgrade(self),
                    chain: Arc::downgrade(&chain),
                    index,
                    reuse: self.reuse,
                    component: chain.store(index).name.clone(),
                })
            })
            .clone();
        let request_timeout = self.reuse.request_timeout;
        Box::pin(async move {
            let fate = Arc::new(Fate::default());
            let answer = match workers.handle(fate.clone(), request).await {
                Err(e) if out_of_instance_slots(&e) => {
                    retry_with_a_freed_slot(&workers, fate.clone(), e).await
                }
                answer => answer,
            };
            let answer = answer
                .map(|response| response.map(|body| CutShortIsAnError::wrap(body, fate.clone())));
            answer.map_err(|e| {
                if let Some(code) = e.downcast_ref::<ErrorCode>() {
                    return error_from_code(code.clone());
                }
                let component = &workers.state().component;
                if let Some(timeout) = request_timeout
                    && (e.is::<ExpirationError>() || fate.timed_out())
                {
                    // Once per client request: a link further in that runs out of
                    // time passes the error to the middleware before it.
                    if index == 0 {
                        let timeout = humantime::format_duration(timeout).to_string();
                        crate::log::event(
                            "request_timed_out",
                            &[("component", component), ("timeout", &timeout)],
                        );
                        crate::metrics::record_request_timeout(component);
                    }
                    return HttpError::HttpResponseTimeout;
                }
                if out_of_instance_slots(&e) {
                    crate::log::event("at_capacity", &[("component", component)]);
                    crate::metrics::record_at_capacity(component);
                    return HttpError::ConnectionLimitReached;
                }
                // A trap is logged when its worker is dropped (`workers::Worker`).
                if !e.is::<TrapOrPanicError>() {
                    crate::log::event(
                        "guest_error",
                        &[
                            ("component", component),
                            ("error", first_line(&format!("{e:#}"))),
                        ],
                    );
                }
                HttpError::InternalError(Some(format!("component `{component}` failed")))
            })
        })
    }

    /// How long a request may take (`up --request-timeout`); `None`: no limit.
    pub fn request_timeout(&self) -> Option<Duration> {
        self.reuse.request_timeout
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The state of a new store for link `index` of `chain`, and the components it
    /// instantiates, outermost first.
    pub fn store_for(
        self: &Arc<Self>,
        chain: &Arc<Chain>,
        index: usize,
    ) -> anyhow::Result<(InstanceState, Pres)> {
        let store = chain.store(index);
        let next = (!store.whole_chain && index + 1 < chain.links.len()).then(|| Next {
            chain: chain.clone(),
            index: index + 1,
        });
        let state = InstanceState::new(
            store.grants,
            &self.client,
            self.clone(),
            next,
            InstanceLimits::new(self.max_memory, store.name.clone()),
        )?;
        Ok((state, store.pres.clone()))
    }
}

/// A component compiled, pre-instantiated and granted its manifest capabilities.
struct Prepared {
    component: Component,
    pre: ServicePre<InstanceState>,
    grants: Grants,
    shape: HandlerShape,
    imports: Vec<String>,
}

/// `up --key-value`'s pairs, into the `default` store, over what it held.
fn write_key_values(stores: &StoreManager, pairs: &[(String, String)]) -> anyhow::Result<()> {
    let Some(store) = stores.get("default") else {
        bail!("--key-value: the app has no `default` key-value store");
    };
    for (key, value) in pairs {
        store
            .set(key, value.as_bytes())
            .map_err(|e| anyhow::anyhow!("--key-value {key}: the `default` store: {e}"))?;
    }
    Ok(())
}

/// Loads every component some trigger uses.
fn prepare_components(
    manifest: &LoadedManifest,
    app_values: &HashMap<String, String>,
    stores: &StoreManager,
    tls: &ClientTls,
    state_dir: &Path,
    files: FilesOptions,
    engine: &Engine,
) -> anyhow::Result<HashMap<String, Prepared>> {
    let file = manifest.path.display();
    let m = &manifest.manifest;
    let linker = build_linker(engine, None)?;
    let mut used: Vec<&str> = m
        .trigger
        .http
        .iter()
        .flat_map(|t| {
            t.dependencies
                .middleware
                .iter()
                .map(|mw| mw.component.as_str())
                .chain(t.component())
        })
        .collect();
    used.sort();
    used.dedup();
    let mut prepared = HashMap::new();
    for id in used {
        let bytes = dependencies::component_bytes(manifest, id)?;
        let component = Component::new(engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{file}: component.{id}.source: not a valid component"))?;
        let shape = HandlerShape::of(engine, &component);
        if !shape.exports {
            bail!("{file}: component.{id}: does not export `{HANDLER}`");
        }
        let pre = pre_instantiate(&linker, &component)
            .with_context(|| format!("{file}: component.{id}"))?;
        let grants = component_grants(manifest, id, app_values, stores, tls, state_dir, files)
            .with_context(|| format!("{file}: component.{id}"))?;
        let imports = component
            .component_type()
            .imports(engine)
            .map(|(name, _)| name.to_string())
            .collect();
        prepared.insert(
            id.to_string(),
            Prepared {
                component,
                pre,
                grants,
                shape,
                imports,
            },
        );
    }
    Ok(prepared)
}

fn pre_instantiate(
    linker: &Linker<InstanceState>,
    component: &Component,
) -> anyhow::Result<ServicePre<InstanceState>> {
    let pre = linker
        .instantiate_pre(component)
        .map_err(anyhow::Error::from)
        .context("cannot be linked")?;
    ServicePre::new(pre)
        .map_err(anyhow::Error::from)
        .context("not a wasi:http handler")
}

/// Trigger `i`'s chain: its middleware, outermost first, then its component.
/// `linkers` holds the linker of each chain position built so far (shared by chains).
fn build_chain(
    file: &str,
    i: usize,
    component: &str,
    trigger: &crate::manifest::HttpTrigger,
    prepared: &HashMap<String, Prepared>,
    engine: &Engine,
    linkers: &mut HashMap<usize, Linker<InstanceState>>,
) -> anyhow::Result<Chain> {
    let primary = &prepared[component];
    if primary.shape.imports {
        bail!(
            "{file}: trigger.http[{i}].component: `{component}` imports `{HANDLER}`, so it is middleware and cannot be a trigger's handler \
             (if it is not meant to be: a spin-sdk component built in the same `cargo build` as one that enables spin-sdk's \
             `http-middleware` feature gets that import too, because Cargo unifies features; build it with its own `cargo build -p`)",
        );
    }
    let mut links = Vec::new();
    for (j, mw) in trigger.dependencies.middleware.iter().enumerate() {
        let layer = &prepared[&mw.component];
        if !layer.shape.imports {
            bail!(
                "{file}: trigger.http[{i}].dependencies.middleware[{j}]: `{}` does not import `{HANDLER}`, so it cannot be middleware",
                mw.component
            );
        }
        links.push(Link {
            component: mw.component.clone(),
            own_store: Arc::from([layer.pre.clone()]),
            grants: middleware_grants(&primary.grants, &layer.grants, |k| mw.inherits(k)),
        });
    }
    links.push(Link {
        component: component.to_string(),
        own_store: Arc::from([primary.pre.clone()]),
        grants: primary.grants.clone(),
    });
    let shareable = links.len() > 1
        && links.iter().all(|link| {
            link.grants
                .same_as_primary_for(&primary.grants, &prepared[&link.component].imports)
        });
    let shared = if shareable {
        let mut pres = Vec::new();
        for (position, link) in links.iter().enumerate() {
            let pre = if position + 1 == links.len() {
                primary.pre.clone()
            } else {
                let linker = match linkers.entry(position) {
                    Entry::Occupied(built) => built.into_mut(),
                    Entry::Vacant(slot) => slot.insert(build_linker(engine, Some(position))?),
                };
                pre_instantiate(linker, &prepared[&link.component].component).with_context(
                    || format!("{file}: trigger.http[{i}].dependencies.middleware[{position}]"),
                )?
            };
            pres.push(pre);
        }
        Some(Pres::from(pres))
    } else {
        None
    };
    Ok(Chain::new(links, shared))
}

/// Where `http://<id>.spin.internal` leads. Spin rewrites a component used by several
/// triggers into one copy per chain, so chaining to it by id reaches it without
/// middleware; a component with a single trigger is reached through that chain.
fn chaining_targets(
    m: &crate::manifest::Manifest,
    targets: &[Target],
    prepared: &HashMap<String, Prepared>,
) -> HashMap<String, Arc<Chain>> {
    let mut triggers_of: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, t) in m.trigger.http.iter().enumerate() {
        if let Some(component) = t.component() {
            triggers_of.entry(component).or_default().push(i);
        }
    }
    triggers_of
        .into_iter()
        .map(|(id, triggers)| {
            let chain = match triggers.as_slice() {
                [only] => match &targets[*only] {
                    Target::Chain(chain) => chain.clone(),
                    Target::Static(_) => unreachable!("a static_response has no component"),
                },
                _ => {
                    let p = &prepared[id];
                    Arc::new(Chain::new(
                        vec![Link {
                            component: id.to_string(),
                            own_store: Arc::from([p.pre.clone()]),
                            grants: p.grants.clone(),
                        }],
                        None,
                    ))
                }
            };
            (id.to_string(), chain)
        })
        .collect()
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

impl InProcess for App {
    fn dispatch_to_component(
        self: Arc<Self>,
        component: &str,
        request: http::Request<WasiBody>,
    ) -> Option<ResponseFuture> {
        let chain = self.by_component.get(component)?.clone();
        let mut request = request;
        let full_url = request.uri().to_string();
        let path = request.uri().path().to_string();
        crate::server::set_spin_headers(
            request.headers_mut(),
            &RouteMatch {
                raw_route: "/...".into(),
                based_route: "/...".into(),
                component_route: String::new(),
                path_info: path,
                params: Vec::new(),
            },
            &full_url,
            "0.0.0.0:0",
        );
        Some(self.run(chain, 0, request))
    }

    fn self_origin(&self) -> Option<&SelfOrigin> {
        self.self_origin.get()
    }
}

#[derive(Debug, Clone, Copy)]
struct HandlerShape {
    imports: bool,
    exports: bool,
}

impl HandlerShape {
    fn of(engine: &Engine, component: &Component) -> Self {
        let ty = component.component_type();
        Self {
            imports: ty.imports(engine).any(|(name, _)| name == HANDLER),
            exports: ty.exports(engine).any(|(name, _)| name == HANDLER),
        }
    }
}

/// How long a request that found no free instance slot waits for an instance to give
/// its slot up before it is refused.
const SLOT_PATIENCE: Duration = Duration::from_millis(100);

/// Runs a request refused for want of an instance slot once more, after an instance
/// gave one up (`workers::reclaim_idle_slot`); `refused` as it was when none did
/// within `SLOT_PATIENCE`.
async fn retry_with_a_freed_slot(
    workers: &ProxyHandler<LinkWorkers>,
    fate: Arc<Fate>,
    refused: wasmtime::Error,
) -> wasmtime::Result<http::Response<WasiBody>> {
    let refused = refused.downcast::<InstantiationError<Arc<Fate>>>()?;
    if !crate::workers::reclaim_idle_slot(SLOT_PATIENCE).await {
        return Err(wasmtime::Error::new(refused));
    }
    let request = refused
        .request
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    workers.handle(fate, request).await
}

/// Whether `e` is a new instance failing for want of a free slot in the pooling
/// allocator (`SPIN_WASMTIME_INSTANCE_COUNT`), which frees up as instances retire.
fn out_of_instance_slots(e: &wasmtime::Error) -> bool {
    e.downcast_ref::<InstantiationError<Arc<Fate>>>()
        .is_some_and(|i| i.error.is::<PoolConcurrencyLimitError>())
}

fn error_from_code(code: ErrorCode) -> HttpError {
    match code {
        // The next link of a chain out of instance slots, passed back by a middleware.
        ErrorCode::ConnectionLimitReached => HttpError::ConnectionLimitReached,
        code => HttpError::InternalError(Some(format!("handler returned error: {code:?}"))),
    }
}

fn error_to_code(e: &HttpError) -> ErrorCode {
    match e {
        HttpError::HttpRequestDenied => ErrorCode::HttpRequestDenied,
        HttpError::DestinationNotFound => ErrorCode::DestinationNotFound,
        HttpError::ConnectionRefused => ErrorCode::ConnectionRefused,
        HttpError::ConnectionReadTimeout => ErrorCode::ConnectionReadTimeout,
        HttpError::HttpProtocolError => ErrorCode::HttpProtocolError,
        HttpError::ConnectionLimitReached => ErrorCode::ConnectionLimitReached,
        HttpError::HttpResponseTimeout => ErrorCode::HttpResponseTimeout,
        HttpError::InternalError(m) => ErrorCode::InternalError(m.clone()),
        other => ErrorCode::InternalError(Some(other.to_string())),
    }
}

/// The middleware's `wasi:http/handler@0.3.0` import: the next link of its chain. In
/// a chain that shares one store (`position` is the middleware's place in it), the
/// next instance of that store; otherwise the next link, in a store of its own.
fn add_next_handler(
    linker: &mut Linker<InstanceState>,
    position: Option<usize>,
) -> anyhow::Result<()> {
    type Req = wasmtime_wasi_http::p3::Request;
    type Resp = wasmtime_wasi_http::p3::Response;
    linker.instance(HANDLER)?.func_wrap_concurrent(
        "handle",
        move |accessor: &Accessor<InstanceState>, (request,): (Resource<Req>,)| {
            Box::pin(async move {
                let in_store = position.and_then(|p| {
                    accessor.with(|mut access| access.data_mut().chained.get(p).cloned())
                });
                if let Some(next) = in_store {
                    let result = next
                        .wasi_http_handler()
                        .call_handle(accessor, request)
                        .await?;
                    return Ok((result,));
                }
                let prepared = accessor.with(|mut access| -> wasmtime::Result<_> {
                    let next = access.data_mut().next.clone();
                    let app = access.data_mut().app.clone();
                    let request = access.data_mut().table.delete(request)?;
                    let converted = request.into_http_with_getter(
                        &mut access,
                        async { Ok(()) },
                        InstanceState::http,
                    );
                    Ok((next, app, converted))
                })?;
                let (next, app, converted) = prepared;
                let (request, _options) = match converted {
                    Ok(r) => r,
                    Err(e) => return Ok((Err(e.downcast()?),)),
                };
                let Some(next) = next else {
                    return Ok((Err(ErrorCode::InternalError(Some(
                        "no next handler: this component is not running as middleware".into(),
                    ))),));
                };
                let response = match app.run(next.chain, next.index, request).await {
                    Ok(response) => response,
                    Err(e) => return Ok((Err(error_to_code(&e)),)),
                };
                accessor.with(|mut access| {
                    let state = access.data_mut();
                    let (response, _io) = Resp::from_http(&mut state.hooks, response);
                    Ok((Ok(state.table.push(response)?),))
                })
            })
        },
    )?;
    Ok(())
}

/// The linker for components at chain `position` of a shared store (`None`: a store
/// of their own); they differ only in where `wasi:http/handler` leads.
fn build_linker(engine: &Engine, position: Option<usize>) -> anyhow::Result<Linker<InstanceState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi::p3::add_to_linker(&mut linker)?;
    wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
    crate::kv::add_to_linker(&mut linker, InstanceState::kv_ctx)?;
    variables::add_to_linker(&mut linker, |s: &mut InstanceState| &s.variables)?;
    add_next_handler(&mut linker, position)?;
    Ok(linker)
}

/// A component's own grants from its manifest entry.
fn component_grants(
    manifest: &LoadedManifest,
    id: &str,
    app_values: &HashMap<String, String>,
    stores: &StoreManager,
    tls: &ClientTls,
    state_dir: &Path,
    files: FilesOptions,
) -> anyhow::Result<Grants> {
    let c = &manifest.manifest.component[id];
    let mut vars = HashMap::new();
    for (name, template) in &c.variables {
        let value = variables::expand_template(template, app_values)
            .with_context(|| format!("variables.{name}"))?;
        vars.insert(name.clone(), value);
    }
    let mut hosts = Vec::new();
    for (i, entry) in c.allowed_outbound_hosts.iter().enumerate() {
        let expanded = variables::expand_template(entry, app_values)
            .with_context(|| format!("allowed_outbound_hosts[{i}]"))?;
        // An entry whose template expands to nothing is an optional endpoint left unset.
        if !matches!(expanded.as_str(), "" | "http://" | "https://") {
            hosts.push(expanded);
        }
    }
    let mounts = if c.files.is_empty() {
        Vec::new()
    } else if files.direct {
        crate::files::direct(&manifest.dir, &c.files, &c.exclude_files)?
            .into_iter()
            .map(|(host, guest)| Mount {
                host,
                guest,
                writable: false,
            })
            .collect()
    } else {
        let root = state_dir.join("files").join(id);
        crate::files::materialize(&manifest.dir, &c.files, &c.exclude_files, &root)
            .context("files")?;
        vec![Mount {
            host: root,
            guest: "/".into(),
            writable: files.writable,
        }]
    };
    Ok(Grants {
        component: id.into(),
        kv: stores.view_for(&c.key_value_stores),
        variables: ComponentVariables(Arc::new(vars)),
        outbound: Arc::new(AllowedHosts::parse_all(&hosts)?),
        tls: Arc::new(tls.for_component(id)),
        environment: c.environment.clone().into_iter().collect(),
        mounts,
        output: Default::default(),
    })
}

/// A middleware runs with the primary component's grants, only those it inherits,
/// and writes its output where its own goes.
fn middleware_grants(primary: &Grants, own: &Grants, inherits: impl Fn(&str) -> bool) -> Grants {
    Grants {
        component: own.component.clone(),
        output: own.output.clone(),
        kv: if inherits("key_value_stores") {
            primary.kv.clone()
        } else {
            primary.kv.none()
        },
        variables: if inherits("variables") {
            primary.variables.clone()
        } else {
            ComponentVariables::default()
        },
        // The hosts it may call come with the TLS of those calls.
        outbound: if inherits("allowed_outbound_hosts") {
            primary.outbound.clone()
        } else {
            Arc::default()
        },
        tls: if inherits("allowed_outbound_hosts") {
            primary.tls.clone()
        } else {
            Arc::default()
        },
        environment: if inherits("environment") {
            primary.environment.clone()
        } else {
            Vec::new()
        },
        mounts: if inherits("files") {
            primary.mounts.clone()
        } else {
            Vec::new()
        },
    }
}
