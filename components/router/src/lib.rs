//! The router handler: `ANY /v1/carriers/{carrier}/{*path}` behind auth and quota.
//! It sends the call to the tenant's upstream for that carrier in this region (every
//! policy is in `waypost_core::routing`, the call in `waypost_runtime::carrier`) and
//! passes the carrier's answer back, or says why not in problem+json.
//!
//! Order: identity (401 without auth) → residency (421, before the body is read) →
//! the body → `Idempotency-Key` (replay, 409, 422) → the carrier call → deprecation
//! headers → the idempotent response kept.

use bytes::Bytes;
use spin_sdk::http::{HeaderValue, Request};
use spin_sdk::http_service;
use waypost_core::auth::Identity;
use waypost_core::config::{Route, route_for};
use waypost_core::problem::Problem;
use waypost_core::routing::idempotency::{self, Begin};
use waypost_core::routing::{
    Deadline, Fingerprint, IdempotencyKey, RoutingError, StoredResponse, deprecation_headers,
    downstream_response_headers,
};
use waypost_runtime::carrier::{self, CallContext, Outbound, facts, read_body, tenant_records};
use waypost_runtime::config::{config_store, store_unavailable};
use waypost_runtime::identity::verified;
use waypost_runtime::request::{RequestLog, header_pairs, random_u64, request_id, unix_millis};
use waypost_runtime::{Reply, SpinKv, problem, problem_for, reply, routing_problem, with_headers};

/// On an answer from a fallback carrier: the carrier that answered.
const SERVED_BY: &str = "x-waypost-served-by";

#[http_service]
async fn handle(req: Request) -> Reply {
    let identity = match verified(req.headers()).await {
        Ok(identity) => identity,
        Err(p) => return problem_for(p, &request_id(req.headers())),
    };
    let path = req.uri().path().to_string();
    let mut log = RequestLog::start("router", &identity.request_id, &path);
    log.set("tenant", identity.tenant.clone());
    let mut reply = route(req, &identity, &mut log).await;
    log.finish(reply.0.as_u16());
    if let Some(carrier) = carrier_and_path(&path).and_then(|(c, _)| HeaderValue::from_str(&c).ok())
    {
        // For the host's access log (it removes the header).
        reply.1.insert("x-waypost-carrier", carrier);
    }
    reply
}

async fn route(req: Request, identity: &Identity, log: &mut RequestLog) -> Reply {
    let refuse = |p: Problem| problem_for(p, &identity.request_id);
    let Some((carrier_id, rest)) = carrier_and_path(req.uri().path()) else {
        return refuse(Problem::new(404, "not-found", "Not Found"));
    };
    log.set("carrier", carrier_id.clone());
    let Ok(kv) = SpinKv::open_default() else {
        return refuse(store_unavailable());
    };
    let store = config_store(&kv);
    // Residency before the body is read: a strict tenant's body stays out.
    let records = match tenant_records(&store, identity).await {
        Ok(records) => records,
        Err(reply) => return reply,
    };
    let method = req.method().as_str().to_string();
    let path = req.uri().path().to_string();
    let query = req
        .uri()
        .query()
        .map(|q| format!("?{q}"))
        .unwrap_or_default();
    let host = req.uri().authority().map(|a| a.as_str().to_string());
    let headers = header_pairs(req.headers());
    let route = route_for(&records.routes, &method, &path).cloned();
    let now = unix_millis() as u64;
    let deadline = match Deadline::of_request(&headers, route.as_ref(), now) {
        Ok(deadline) => deadline,
        Err(e) => return routing_problem(&e, &identity.request_id),
    };
    let body = match read_body(req).await {
        Ok(body) => body,
        Err(p) => return refuse(p),
    };

    let claim = match idempotency_claim(
        &kv, identity, &method, &path, &query, &headers, &body, &deadline,
    ) {
        Ok(Claimed::Proceed(claim)) => claim,
        Ok(Claimed::Replay(stored)) => {
            log.set("idempotent_replay", true);
            return reply(
                stored.status,
                &stored.replay_headers(),
                Bytes::from(stored.body),
            );
        }
        Err(answer) => return *answer,
    };

    let ctx = CallContext {
        kv: &kv,
        view: &records.view,
        region: &records.region,
        tenant: &records.tenant,
        deadline,
        method: &method,
        headers: &headers,
        report: Default::default(),
    };
    let upstream_path = format!("{rest}{query}");
    let result = carrier::call(
        &ctx,
        &carrier_id,
        facts(&rest, host.as_deref(), &headers),
        // A fallback carrier speaks the same API (the config checks), so the request
        // goes to it as it came.
        true,
        |_, _| {
            Ok(Outbound {
                method: method.clone(),
                path_and_query: upstream_path.clone(),
                headers: Vec::new(),
                body: body.clone(),
            })
        },
    )
    .await;
    let answer = match result {
        // The carrier refused the gateway's credentials for this account even after a
        // fresh token: the caller cannot fix that, and a 401 would read as its own
        // credential failing. (The tenant's credential breaker has counted it.)
        Ok(response) if response.status == 401 => {
            if let Some(claim) = &claim {
                let _ = idempotency::release(&kv, claim);
            }
            log.set("refusal", "carrier-credentials-rejected");
            problem_for(
                Problem::new(502, "carrier-credentials-rejected", "Bad Gateway").with_detail(
                    format!("{carrier_id} refused the gateway's credentials for this account."),
                ),
                &identity.request_id,
            )
        }
        Ok(response) => {
            let mut out = downstream_response_headers(&response.headers);
            out.extend(deprecated(route.as_ref(), log));
            if response.fell_back_from.is_some() {
                log.set("served_by", response.carrier.clone());
                out.push((SERVED_BY.into(), response.carrier.clone()));
            }
            if let Some(claim) = &claim {
                let stored = StoredResponse::new(response.status, &out, &response.body);
                let _ = idempotency::complete(&kv, claim, &stored);
            }
            reply(response.status, &out, response.body)
        }
        Err(failure) => {
            if let Some(claim) = &claim {
                let _ = idempotency::release(&kv, claim);
            }
            let refusal = failure.problem(&identity.request_id);
            log.set("refusal", refusal.type_uri.clone());
            with_headers(problem(&refusal), &failure.headers())
        }
    };
    // Breaker states and retries, for the host's metrics (it removes the headers).
    with_headers(answer, &ctx.report.borrow().headers())
}

/// `/v1/carriers/{carrier}/{rest}` → (carrier, `/rest`).
fn carrier_and_path(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/v1/carriers/")?;
    let (carrier, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if carrier.is_empty() {
        return None;
    }
    Some((carrier.to_string(), format!("/{tail}")))
}

enum Claimed {
    /// Go ahead; with the claim to complete when the request had a key.
    Proceed(Option<idempotency::Claim>),
    Replay(StoredResponse),
}

/// `Idempotency-Key` on POST and PATCH: the claim, a replay, or the refusal.
#[allow(clippy::too_many_arguments)]
fn idempotency_claim(
    kv: &SpinKv,
    identity: &Identity,
    method: &str,
    path: &str,
    query: &str,
    headers: &[(String, String)],
    body: &[u8],
    deadline: &Deadline,
) -> Result<Claimed, Box<Reply>> {
    if !matches!(method, "POST" | "PATCH") {
        return Ok(Claimed::Proceed(None));
    }
    let key = match IdempotencyKey::from_headers(headers) {
        Ok(Some(key)) => key,
        Ok(None) => return Ok(Claimed::Proceed(None)),
        Err(e) => return Err(Box::new(routing_problem(&e, &identity.request_id))),
    };
    let now = unix_millis() as u64;
    let fingerprint = Fingerprint::of(method, &format!("{path}{query}"), body);
    let lease_ms = deadline.remaining_ms(now) + 5_000;
    match idempotency::begin(
        kv,
        &identity.tenant,
        &key,
        &fingerprint,
        lease_ms,
        random_u64(),
        now,
    ) {
        Ok(Begin::Proceed(claim)) => Ok(Claimed::Proceed(Some(claim))),
        Ok(Begin::Replay(stored)) => Ok(Claimed::Replay(stored)),
        Ok(Begin::Refused(e)) => Err(Box::new(routing_problem(&e, &identity.request_id))),
        Err(_) => Err(Box::new(routing_problem(
            &RoutingError::IdempotencyUnavailable,
            &identity.request_id,
        ))),
    }
}

/// `Deprecation` and `Sunset` for a deprecated route, whose use is logged per tenant.
fn deprecated(route: Option<&Route>, log: &mut RequestLog) -> Vec<(String, String)> {
    let Some(route) = route.filter(|r| r.deprecated) else {
        return Vec::new();
    };
    log.set("deprecated_route", route.id.clone());
    deprecation_headers(route)
}
