//! The admin handler.
//!
//! - `GET /healthz`: liveness, region and the active config version and hash.
//! - `GET /admin/config`: the active config version (admin token).
//! - `PUT /admin/config`: validate and apply a config document (admin token);
//!   `If-Match: <version>` makes it conditional on the active version.
//! - `GET /admin/tenants/{id}`: one tenant as the active version has it, with the
//!   region record read from the same version (admin token).
//!
//! The `/admin` routes sit behind the `auth` middleware, which checks the admin token
//! and passes the operator's identity; this handler verifies that identity.
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
use waypost_runtime::{Reply, SpinKv, json, method_not_allowed, problem, problem_body};

/// Largest config document accepted.
const MAX_DOCUMENT_BYTES: usize = 4 << 20;

#[http_service]
async fn handle(req: Request) -> Reply {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let method = req.method().as_str().to_string();
    let tenant = path.strip_prefix("/admin/tenants/").map(str::to_string);
    match (method.as_str(), path.as_str(), tenant) {
        ("GET" | "HEAD", "/healthz", _) => healthz().await,
        ("GET", "/admin/config", _) => match refusal(&req).await {
            Some(refused) => refused,
            None => get_config().await,
        },
        ("PUT", "/admin/config", _) => match refusal(&req).await {
            Some(refused) => refused,
            None => put_config(req).await,
        },
        ("GET", _, Some(id)) => match refusal(&req).await {
            Some(refused) => refused,
            None => get_tenant(&id),
        },
        (_, "/healthz", _) => method_not_allowed("GET, HEAD", None),
        (_, "/admin/config", _) => method_not_allowed("GET, PUT", None),
        (_, _, Some(_)) => method_not_allowed("GET", None),
        _ => problem(&Problem::new(404, "not-found", "Not Found")),
    }
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The answer to an admin call that did not come through `auth` as the operator
/// (`auth` checks the admin token; this refuses requests that bypassed it).
async fn refusal(req: &Request) -> Option<Reply> {
    operator(req.headers()).await.err().map(|p| problem(&p))
}

fn store_unavailable() -> Reply {
    problem(
        &Problem::new(503, "store-unavailable", "Config store unavailable")
            .with_detail("The key-value store failed. Retry later."),
    )
}

/// The active pointer, seeding the demo on an empty store when enabled.
async fn active() -> Result<Option<Pointer>, ()> {
    let kv = SpinKv::open_default().map_err(|_| ())?;
    let seed = (var("seed_demo_config").await == "true").then_some(DEMO_CONFIG);
    ConfigStore::new(&kv).active_or_seed(seed).map_err(|_| ())
}

async fn healthz() -> Reply {
    let region = var("region").await;
    let config = match active().await {
        Ok(pointer) => pointer.map(|p| ConfigVersion {
            version: p.version,
            hash: p.hash,
        }),
        Err(()) => return store_unavailable(),
    };
    json(200, &Health::ok(region, config))
}

async fn get_config() -> Reply {
    match active().await {
        Ok(Some(p)) => json(200, &ConfigStatus::from(&p)),
        Ok(None) => problem(
            &Problem::new(404, "no-config", "No config applied")
                .with_detail("PUT a document to /admin/config."),
        ),
        Err(()) => store_unavailable(),
    }
}

fn get_tenant(id: &str) -> Reply {
    let Ok(kv) = SpinKv::open_default() else {
        return store_unavailable();
    };
    let store = ConfigStore::new(&kv);
    let view = match store.view() {
        Ok(Some(view)) => view,
        Ok(None) => return problem(&Problem::new(404, "no-config", "No config applied")),
        Err(_) => return store_unavailable(),
    };
    match (view.tenant(id), view.region()) {
        (Ok(Some(tenant)), Ok(region)) => json(
            200,
            &serde_json::json!({
                "version": view.pointer.version,
                "hash": view.pointer.hash,
                "region": region,
                "tenant": tenant,
            }),
        ),
        (Ok(None), _) => problem(
            &Problem::new(404, "unknown-tenant", "Unknown tenant").with_detail(format!(
                "No tenant `{id}` in config version {}.",
                view.pointer.version
            )),
        ),
        _ => store_unavailable(),
    }
}

async fn put_config(req: Request) -> Reply {
    let if_match = header(&req, "if-match");
    let Ok(body) = req.into_body().bytes().await else {
        return problem(&Problem::new(400, "bad-request", "Unreadable body"));
    };
    if body.len() > MAX_DOCUMENT_BYTES {
        return problem(&Problem::new(
            413,
            "payload-too-large",
            "Document too large",
        ));
    }
    let Ok(text) = std::str::from_utf8(&body) else {
        return problem(
            &Problem::new(400, "invalid-config", "Invalid config document")
                .with_detail("The document is not UTF-8 text."),
        );
    };
    let Ok(kv) = SpinKv::open_default() else {
        return store_unavailable();
    };
    let store = ConfigStore::new(&kv);
    let expected = match if_match
        .as_deref()
        .map(str::trim)
        .map(|v| v.trim_matches('"'))
    {
        None => None,
        Some(v) => match v.parse::<u64>() {
            Ok(version) => match store.active() {
                Ok(Some(p)) if p.version == version => Some(Some(p)),
                Ok(active) => {
                    return conflict(active);
                }
                Err(_) => return store_unavailable(),
            },
            Err(_) => {
                return problem(
                    &Problem::new(400, "bad-request", "Bad If-Match")
                        .with_detail("If-Match takes the active config version number."),
                );
            }
        },
    };
    match store.apply(text, expected.as_ref().map(|e| e.as_ref())) {
        Ok(applied) => json(200, &ConfigStatus::from(&applied)),
        Err(e) => {
            let (status, body) = push_failure(&e);
            problem_body(status, body)
        }
    }
}

fn conflict(active: Option<Pointer>) -> Reply {
    let (status, body) = push_failure(&ApplyConfigError::Conflict { active });
    problem_body(status, body)
}
