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
use waypost_core::config::route_for;
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
        Ok(Some(decision)) => decision,
        // No route in the config matches: nothing to count; the handler answers.
        Ok(None) => {
            return relay::response(next(relay::request(req)?).await?);
        }
        Err(p) => {
            log.finish(p.status);
            return reply(problem_for(p, &identity.request_id), &[]).into_response();
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

/// The decision for this request, or `None` when no configured route matches.
async fn decide(
    req: &Request,
    identity: &waypost_core::auth::Identity,
) -> Result<Option<Decision>, Problem> {
    let kv = SpinKv::open_default().map_err(|_| store_unavailable())?;
    let store = config_store(&kv);
    let view = active_view(&store).await?;
    let routes = view.routes().map_err(|_| store_unavailable())?;
    let Some(route) = route_for(&routes, req.method().as_str(), req.uri().path()) else {
        return Ok(None);
    };
    let tenant = view
        .tenant(&identity.tenant)
        .map_err(|_| store_unavailable())?
        .ok_or_else(unknown_tenant)?;
    let plan = view
        .plan(&tenant.plan)
        .map_err(|_| store_unavailable())?
        .ok_or_else(unknown_tenant)?;
    let subject = Subject::new(identity, route);
    Ok(Some(admit(&kv, &plan, &subject, unix_millis() as u64)))
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
