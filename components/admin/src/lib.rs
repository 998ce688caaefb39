//! The admin handler.
//!
//! - `GET /healthz`: liveness, region and the active config version and hash.
//! - `GET /admin/config`: the active config version (admin token).
//! - `PUT /admin/config`: validate and apply a config document (admin token);
//!   `If-Match: <version>` makes it conditional on the active version.
//! - `GET /admin/tenants/{id}`: one tenant as the active version has it, with the
//!   region record read from the same version (admin token).
//!
//! Each `GET` also answers `HEAD`; another method gets 405 with `Allow`. The `/admin`
//! routes sit behind the `auth` middleware, which checks the admin token and passes the
//! operator's identity; this handler verifies that identity. Every problem names the
//! request id.
//!
//! On an empty store the bundled demo document is applied first when the
//! `seed_demo_config` variable is `true`.

use spin_sdk::http::Request;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http_service;
use waypost_core::admin::{ConfigStatus, push_failure};
use waypost_core::config::store::{ApplyConfigError, ConfigStore};
use waypost_core::health::{ConfigVersion, Health};
use waypost_core::problem::Problem;
use waypost_core::snapshot::Pointer;
use waypost_runtime::config::{DEMO_CONFIG, var};
use waypost_runtime::identity::operator;
use waypost_runtime::request::{header, request_id};
use waypost_runtime::{Reply, SpinKv, json, method_not_allowed, problem_for, with_request_id};

/// Largest config document accepted.
const MAX_DOCUMENT_BYTES: usize = 4 << 20;

#[http_service]
async fn handle(req: Request) -> Reply {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let method = req.method().as_str().to_string();
    // `auth` put its request id on the request; a request that bypassed it gets one.
    let request_id = request_id(req.headers());
    if path == "/healthz" {
        let reply = match method.as_str() {
            "GET" | "HEAD" => healthz(&request_id).await,
            _ => method_not_allowed("GET, HEAD", &request_id),
        };
        // `/healthz` is public (no `auth` in front to add it).
        return with_request_id(reply, &request_id);
    }
    if let Err(p) = operator(req.headers()).await {
        return problem_for(p, &request_id);
    }
    // HEAD is GET without the body (the server sends none).
    let reply = match (method.as_str(), path.as_str()) {
        ("GET" | "HEAD", "/admin/config") => get_config().await,
        ("PUT", "/admin/config") => put_config(req).await,
        (_, "/admin/config") => Ok(method_not_allowed("GET, HEAD, PUT", &request_id)),
        (method, path) => match path.strip_prefix("/admin/tenants/") {
            Some(tenant) if matches!(method, "GET" | "HEAD") => get_tenant(tenant),
            Some(_) => Ok(method_not_allowed("GET, HEAD", &request_id)),
            None => Err(Problem::new(404, "not-found", "Not Found")),
        },
    };
    reply.unwrap_or_else(|p| problem_for(p, &request_id))
}

fn store_unavailable() -> Problem {
    Problem::new(503, "store-unavailable", "Config store unavailable")
        .with_detail("The key-value store failed. Retry later.")
}

fn no_config() -> Problem {
    Problem::new(404, "no-config", "No config applied")
        .with_detail("PUT a document to /admin/config.")
}

/// The active pointer, seeding the demo on an empty store when enabled.
async fn active() -> Result<Option<Pointer>, Problem> {
    let kv = SpinKv::open_default().map_err(|_| store_unavailable())?;
    let seed = (var("seed_demo_config").await == "true").then_some(DEMO_CONFIG);
    ConfigStore::new(&kv)
        .active_or_seed(seed)
        .map_err(|_| store_unavailable())
}

async fn healthz(request_id: &str) -> Reply {
    let region = var("region").await;
    match active().await {
        Ok(pointer) => {
            let config = pointer.map(|p| ConfigVersion {
                version: p.version,
                hash: p.hash,
            });
            json(200, &Health::ok(region, config))
        }
        Err(p) => problem_for(p, request_id),
    }
}

async fn get_config() -> Result<Reply, Problem> {
    let pointer = active().await?.ok_or_else(no_config)?;
    Ok(json(200, &ConfigStatus::from(&pointer)))
}

fn get_tenant(id: &str) -> Result<Reply, Problem> {
    let kv = SpinKv::open_default().map_err(|_| store_unavailable())?;
    let store = ConfigStore::new(&kv);
    let view = store
        .view()
        .map_err(|_| store_unavailable())?
        .ok_or_else(no_config)?;
    let tenant = view.tenant(id).map_err(|_| store_unavailable())?;
    let region = view.region().map_err(|_| store_unavailable())?;
    let Some(tenant) = tenant else {
        return Err(
            Problem::new(404, "unknown-tenant", "Unknown tenant").with_detail(format!(
                "No tenant `{id}` in config version {}.",
                view.pointer.version
            )),
        );
    };
    Ok(json(
        200,
        &serde_json::json!({
            "version": view.pointer.version,
            "hash": view.pointer.hash,
            "region": region,
            "tenant": tenant,
        }),
    ))
}

async fn put_config(req: Request) -> Result<Reply, Problem> {
    let if_match = header(req.headers(), "if-match").map(str::to_string);
    let body = req
        .into_body()
        .bytes()
        .await
        .map_err(|_| Problem::new(400, "bad-request", "Unreadable body"))?;
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(Problem::payload_too_large(
            "A config document",
            MAX_DOCUMENT_BYTES,
        ));
    }
    let text = std::str::from_utf8(&body).map_err(|_| {
        Problem::new(400, "invalid-config", "Invalid config document")
            .with_detail("The document is not UTF-8 text.")
    })?;
    let kv = SpinKv::open_default().map_err(|_| store_unavailable())?;
    let store = ConfigStore::new(&kv);
    let expected = match if_match
        .as_deref()
        .map(str::trim)
        .map(|v| v.trim_matches('"'))
    {
        None => None,
        Some(v) => {
            let version = v.parse::<u64>().map_err(|_| {
                Problem::new(400, "bad-request", "Bad If-Match")
                    .with_detail("If-Match takes the active config version number.")
            })?;
            match store.active().map_err(|_| store_unavailable())? {
                Some(p) if p.version == version => Some(p),
                active => return Err(push_failure(&ApplyConfigError::Conflict { active })),
            }
        }
    };
    let applied = store
        .apply(text, expected.as_ref().map(Some))
        .map_err(|e| push_failure(&e))?;
    Ok(json(200, &ConfigStatus::from(&applied)))
}
