//! The quota middleware, behind `auth`: every limit of the tenant's plan that counts
//! this request is charged before anything expensive happens (`waypost_core::quota`).
//! Refused → 429 with `Retry-After`, `RateLimit-Policy` and `RateLimit` naming the limit
//! hit; admitted → the next handler's response with `RateLimit` for the tightest limit.
//! A store failure takes each limit's configured path (fail-open: admit and log;
//! fail-closed: 503 with `Retry-After`).

use spin_sdk::http::{
    BoxBody, HeaderName, HeaderValue, IntoResponse, Request, Response, box_body, next,
};
use spin_sdk::http_service;
use spin_sdk::wasip3::http::types::{self, ErrorCode};
use waypost_core::config::serving_route;
use waypost_core::problem::Problem;
use waypost_core::quota::{Decision, Subject, admit};
use waypost_runtime::config::{active_view, config_store, store_unavailable};
use waypost_runtime::identity::verified;
use waypost_runtime::request::{RequestLog, unix_millis};
use waypost_runtime::{SpinKv, problem, problem_for, relay};

#[http_service]
async fn handle(req: Request) -> Result<types::Response, ErrorCode> {
    let identity = match verified(req.headers()).await {
        Ok(identity) => identity,
        Err(p) => return reply(problem(&p), &[]).into_response(),
    };
    let mut log = RequestLog::start("quota", &identity.request_id, req.uri().path());
    log.set("tenant", identity.tenant.clone());
    let decision = match decide(&req, &identity).await {
        Ok(decision) => decision,
        Err((p, headers)) => {
            log.finish(p.status);
            return reply(problem_for(p, &identity.request_id), &headers).into_response();
        }
    };
    if !decision.unchecked.is_empty() {
        // Fail-open limits the store could not check: admitted, and said so.
        log.set("unchecked_limits", decision.unchecked.join(","));
    }
    let headers = decision.headers();
    if let Some(p) = decision.problem(Some(&identity.request_id)) {
        log.set("limited", true);
        log.finish(p.status);
        return reply(problem(&p), &headers).into_response();
    }
    let response = next(relay::request(req)?).await?;
    let (mut parts, body) = response.into_parts();
    insert(&mut parts.headers, &headers);
    log.finish(parts.status.as_u16());
    relay::response(Response::from_parts(parts, body))
}

/// A refusal before any limit is charged, with its headers (`Allow`).
type Refused = (Problem, Vec<(&'static str, String)>);

/// The decision for this request. A request no configured route serves is refused as
/// auth refuses it (auth read an older config if this one serves it no more): nothing
/// goes on uncounted.
async fn decide(
    req: &Request,
    identity: &waypost_core::auth::Identity,
) -> Result<Decision, Refused> {
    let no_headers = |p: Problem| (p, Vec::new());
    let kv = SpinKv::open_default().map_err(|_| no_headers(store_unavailable()))?;
    let store = config_store(&kv);
    let view = active_view(&store).await.map_err(no_headers)?;
    let routes = view.routes().map_err(|_| no_headers(store_unavailable()))?;
    let (method, path) = (req.method().as_str(), req.uri().path());
    let route =
        serving_route(&routes, method, path).map_err(|e| (e.problem(method, path), e.headers()))?;
    let tenant = view
        .tenant(&identity.tenant)
        .map_err(|_| store_unavailable())
        .and_then(|t| t.ok_or_else(unknown_tenant))
        .map_err(no_headers)?;
    let plan = view
        .plan(&tenant.plan)
        .map_err(|_| store_unavailable())
        .and_then(|p| p.ok_or_else(unknown_tenant))
        .map_err(no_headers)?;
    let subject = Subject::new(identity, route);
    Ok(admit(&kv, &plan, &subject, unix_millis() as u64))
}

/// The identity names a tenant (or plan) the active config no longer has: a config
/// change raced this request.
fn unknown_tenant() -> Problem {
    Problem::new(401, "unknown-tenant", "Unauthorized")
        .with_detail("The tenant is not in the active gateway config.")
}

fn insert(headers: &mut spin_sdk::http::HeaderMap, extra: &[(&'static str, String)]) {
    for (name, value) in extra {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
}

fn reply(
    (status, mut headers, body): waypost_runtime::Reply,
    extra: &[(&'static str, String)],
) -> Response<BoxBody> {
    insert(&mut headers, extra);
    let mut response = Response::new(box_body(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}
