//! The webhooks handler.
//!
//! - `POST /webhooks/{carrier}[/{tenant}]` (public; carriers sign their requests):
//!   the signature on the raw body, the event id, the tenant, residency, one normalized
//!   tracking event recorded exactly once with one outbox delivery per matching
//!   subscription (`waypost_core::webhooks`); then the deliveries due now are attempted
//!   (each at most [`INLINE_DELIVERY`]), and only then does the carrier get its 2xx,
//!   which waits for those attempts; whatever fails is retried by the tick.
//! - `POST /admin/webhooks/tick` (operator, behind auth): attempts the deliveries that
//!   are due, on each subscription tier's schedule, and sweeps expired dedup claims. A
//!   scheduler calls it (SpinKube CronJob, systemd timer, `waypost up --tick`). It
//!   answers what it did (`attempted`, `results`, `claims_swept`, `delivered`,
//!   `retried`, `dead_lettered`) and the outbox after it (`outbox_depth`,
//!   `dead_letters`); intake and tick report their attempts to the host's metrics in
//!   `x-waypost-webhooks` (`waypost_core::report`).
//! - `GET /admin/webhooks/dead[?tenant=T]` and `POST /admin/webhooks/dead/{id}/replay`
//!   (operator): the dead-letter list and redelivery.

mod deliver;

use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{HeaderValue, Request};
use spin_sdk::http_service;
use std::time::Duration;
use waypost_core::problem::Problem;
use waypost_core::report::DeliveryReport;
use waypost_core::routing::check_residency;
use waypost_core::webhooks::{self, IntakeError};
use waypost_runtime::config::{active_view, config_store, store_unavailable, var};
use waypost_runtime::identity::operator;
use waypost_runtime::request::{RequestLog, random_u64, request_id, unix_secs};
use waypost_runtime::{
    Reply, SpinKv, json, method_not_allowed, problem, problem_for, with_headers, with_request_id,
};

/// Largest carrier event accepted.
const MAX_EVENT_BYTES: usize = 1 << 20;
/// How long the intake request spends on the first attempts after recording.
const INLINE_DELIVERY: Duration = Duration::from_secs(2);
/// Deliveries one tick attempts, at most.
const TICK_BATCH: usize = 100;

#[http_service]
async fn handle(req: Request) -> Reply {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let method = req.method().as_str().to_string();
    if let Some(rest) = path.strip_prefix("/admin/webhooks") {
        return admin(req, &method, rest).await;
    }
    let request_id = request_id(req.headers());
    let mut log = RequestLog::start("webhooks", &request_id, &path);
    let reply = match path.strip_prefix("/webhooks/") {
        Some(rest) if method == "POST" => intake(req, rest, &request_id, &mut log).await,
        Some(_) => method_not_allowed("POST", &request_id),
        None => problem_for(Problem::new(404, "not-found", "Not Found"), &request_id),
    };
    log.finish(reply.0.as_u16());
    // The intake is public (no `auth` in front to add it).
    with_request_id(reply, &request_id)
}

async fn intake(req: Request, rest: &str, request_id: &str, log: &mut RequestLog) -> Reply {
    let refuse = |e: &IntakeError| {
        let mut reply = problem(&e.problem(Some(request_id)));
        if let Some(challenge) = e.www_authenticate() {
            reply
                .1
                .insert("www-authenticate", HeaderValue::from_static(challenge));
        }
        reply
    };
    let (carrier, path_tenant) = match rest.split_once('/') {
        Some((carrier, tenant)) => (carrier.to_string(), Some(tenant.to_string())),
        None => (rest.to_string(), None),
    };
    log.set("carrier", carrier.clone());
    let Ok(kv) = SpinKv::open_default() else {
        return problem_for(store_unavailable(), request_id);
    };
    let store = config_store(&kv);
    let view = match active_view(&store).await {
        Ok(view) => view,
        Err(p) => return problem_for(p, request_id),
    };
    let intake = match webhooks::intake(&view, &carrier) {
        Ok(intake) => intake,
        Err(e) => return refuse(&e),
    };
    let headers = req.headers().clone();
    let body = match req.into_body().bytes().await {
        Ok(body) if body.len() <= MAX_EVENT_BYTES => body,
        Ok(_) => {
            let too_large = Problem::payload_too_large("A carrier event", MAX_EVENT_BYTES);
            return problem_for(too_large, request_id);
        }
        Err(_) => {
            let unreadable = Problem::new(400, "unreadable-body", "Bad Request");
            return problem_for(unreadable, request_id);
        }
    };
    let mut secrets = Vec::new();
    for name in &intake.secrets {
        secrets.push(var(name.as_str()).await);
    }
    let now = unix_secs() as u64;
    let received = match webhooks::receive(
        &view,
        &intake,
        &secrets,
        &headers,
        &body,
        path_tenant.as_deref(),
        now,
    ) {
        Ok(received) => received,
        Err(e) => {
            log.set("refusal", e.to_string());
            return refuse(&e);
        }
    };
    log.set("tenant", received.tenant.id.clone());
    // Residency: a strict tenant homed elsewhere gets 421 and nothing is stored here.
    let Ok(Some(region)) = view.region() else {
        return problem_for(store_unavailable(), request_id);
    };
    if let Err(e) = check_residency(&region, &received.tenant) {
        return problem(&e.problem(Some(request_id)));
    }
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
    let recorded =
        match webhooks::record_received(&kv, &view, &received, now, random_u64(), traceparent) {
            Ok(recorded) => recorded,
            Err(e) => {
                log.set("refusal", e.to_string());
                return refuse(&e);
            }
        };
    // Only the first claim of an event is `accepted`. A delivery that found the event
    // claimed but not yet fully recorded (a concurrent duplicate, or a retry after the
    // first recorder died) records it again, idempotently, and is a duplicate too.
    let duplicate = !matches!(recorded.claim, webhooks::Claim::First);
    log.set("event_id", received.event.id.clone());
    log.set("duplicate", duplicate);
    log.set("deliveries", recorded.deliveries.len());
    let results = deliver::attempt_all(&kv, recorded.deliveries, INLINE_DELIVERY).await;
    let reply = json(
        if duplicate { 200 } else { 202 },
        &serde_json::json!({
            "event_id": received.event.id,
            "status": if duplicate { "duplicate" } else { "accepted" },
            "subscriptions": recorded.matched,
        }),
    );
    // What the first attempts did, for the host's metrics (it removes the header).
    let report = DeliveryReport::of_results(results.iter().map(String::as_str));
    with_headers(reply, &[report.header()])
}

/// The operator's webhook endpoints (the identity auth passed must be the operator).
async fn admin(req: Request, method: &str, rest: &str) -> Reply {
    let identity = match operator(req.headers()).await {
        Ok(identity) => identity,
        Err(p) => return problem_for(p, &request_id(req.headers())),
    };
    let mut log = RequestLog::start(
        "webhooks",
        &identity.request_id,
        &format!("/admin/webhooks{rest}"),
    );
    let query = req.uri().query();
    let reply = admin_reply(method, rest, query, &identity.request_id, &mut log).await;
    log.finish(reply.0.as_u16());
    reply
}

/// The answer to one operator call (`admin` logs it).
async fn admin_reply(
    method: &str,
    rest: &str,
    query: Option<&str>,
    id: &str,
    log: &mut RequestLog,
) -> Reply {
    let Ok(kv) = SpinKv::open_default() else {
        return problem_for(store_unavailable(), id);
    };
    let now = unix_secs() as u64;
    match (method, rest) {
        ("POST", "/tick") => tick(&kv, now, id, log).await,
        (_, "/tick") => method_not_allowed("POST", id),
        ("GET" | "HEAD", "/dead") => match webhooks::tenant_filter(query) {
            Err(e) => problem(&e.problem(Some(id))),
            Ok(tenant) => match webhooks::dead_letters(&kv, tenant.as_deref(), 1000) {
                Ok(letters) => json(200, &serde_json::json!({ "dead_letters": letters })),
                Err(_) => problem_for(store_unavailable(), id),
            },
        },
        (_, "/dead") => method_not_allowed("GET, HEAD", id),
        (_, _) => match rest
            .strip_prefix("/dead/")
            .and_then(|r| r.strip_suffix("/replay"))
        {
            Some(_) if method != "POST" => method_not_allowed("POST", id),
            Some(delivery_id) => match webhooks::replay(&kv, delivery_id, now) {
                Ok(delivery) => json(
                    202,
                    &serde_json::json!({ "id": delivery.id, "status": "pending", "attempt": delivery.attempt }),
                ),
                Err(e) => problem(&e.problem(Some(id))),
            },
            None => problem_for(Problem::new(404, "not-found", "Not Found"), id),
        },
    }
}

/// `POST /admin/webhooks/tick`: the due deliveries attempted, expired claims swept.
async fn tick(kv: &SpinKv, now: u64, id: &str, log: &mut RequestLog) -> Reply {
    let due = match webhooks::due(kv, now, TICK_BATCH) {
        Ok(due) => due,
        Err(_) => return problem_for(store_unavailable(), id),
    };
    let attempted = due.len();
    let results = deliver::attempt_all(kv, due, deliver::TICK_DELIVERY).await;
    let swept = webhooks::sweep_claims(kv, now, 1000).unwrap_or(0);
    let report = DeliveryReport {
        outbox_depth: webhooks::outbox_depth(kv).ok(),
        dead_letters: webhooks::dead_letter_count(kv).ok(),
        ..DeliveryReport::of_results(results.iter().map(String::as_str))
    };
    log.set("attempted", attempted);
    log.set("retried", report.retried);
    log.set("dead_lettered", report.dead_lettered);
    let reply = json(
        200,
        &serde_json::json!({
            "attempted": attempted,
            "results": results,
            "claims_swept": swept,
            "delivered": report.delivered,
            "retried": report.retried,
            "dead_lettered": report.dead_lettered,
            "outbox_depth": report.outbox_depth,
            "dead_letters": report.dead_letters,
        }),
    );
    // The same numbers for the host's metrics (it removes the header).
    with_headers(reply, &[report.header()])
}
