//! The rates handler: `POST /v1/rates` behind auth and quota. It asks every carrier the
//! tenant uses in this region at once, each call through the same routing, residency,
//! breaker, carrier-account and credential logic as the router
//! (`waypost_runtime::carrier`), and answers with the quotes that arrived before the
//! deadline and a status per carrier (`waypost_core::rates`).
//!
//! Calls still running at the deadline are abandoned and reported `timeout`; 200 when
//! at least one carrier answered, 504 with the statuses when none did.

use bytes::Bytes;
use futures::future::{Either, join_all, select};
use spin_sdk::http::Request;
use spin_sdk::http_service;
use std::time::Duration;
use waypost_core::auth::Identity;
use waypost_core::config::route_for;
use waypost_core::problem::Problem;
use waypost_core::rates::adapters::RateAdapter;
use waypost_core::rates::carrier::{CarrierContext, CarrierResponse, retry_after_secs};
use waypost_core::rates::{
    CarrierOutcome, RateRequest, answer, invalid_request_problem, oversized_body_problem,
    parse_rate_request, select_carriers,
};
use waypost_core::routing::{Deadline, RoutingError};
use waypost_runtime::carrier::{
    self, CallContext, CallFailure, Outbound, facts, header, read_body, tenant_records,
};
use waypost_runtime::config::{config_store, store_unavailable};
use waypost_runtime::identity::verified;
use waypost_runtime::request::{RequestLog, header_pairs, request_id, unix_millis, unix_secs};
use waypost_runtime::{Reply, SpinKv, method_not_allowed, problem_for, reply, routing_problem};

#[http_service]
async fn handle(req: Request) -> Reply {
    let identity = match verified(req.headers()).await {
        Ok(identity) => identity,
        Err(p) => return problem_for(p, &request_id(req.headers())),
    };
    let mut log = RequestLog::start("rates", &identity.request_id, req.uri().path());
    log.set("tenant", identity.tenant.clone());
    let reply = shop(req, &identity, &mut log).await;
    log.finish(reply.0.as_u16());
    reply
}

async fn shop(req: Request, identity: &Identity, log: &mut RequestLog) -> Reply {
    let refuse = |p: Problem| problem_for(p, &identity.request_id);
    if req.method().as_str() != "POST" {
        return method_not_allowed("POST", &identity.request_id);
    }
    let Ok(kv) = SpinKv::open_default() else {
        return refuse(store_unavailable());
    };
    let store = config_store(&kv);
    // Residency before the body is read: a strict tenant's body stays out.
    let records = match tenant_records(&store, identity).await {
        Ok(records) => records,
        Err(reply) => return reply,
    };
    let headers = header_pairs(req.headers());
    let path = req.uri().path().to_string();
    let route = route_for(&records.routes, "POST", &path).cloned();
    let deadline = match Deadline::of_request(&headers, route.as_ref(), unix_millis() as u64) {
        Ok(deadline) => deadline,
        Err(e) => return routing_problem(&e, &identity.request_id),
    };
    let body = match read_body(req).await {
        Ok(body) => body,
        Err(p) => return refuse(p),
    };
    if let Some(p) = oversized_body_problem(&body) {
        return refuse(p);
    }
    let request = match parse_rate_request(&body, unix_secs()) {
        Ok(request) => request,
        Err(errors) => return refuse(invalid_request_problem(&errors)),
    };

    let selection = select_carriers(&records.tenant, request.carriers.as_deref());
    let ctx = CallContext {
        kv: &kv,
        view: &records.view,
        region: &records.region,
        tenant: &records.tenant,
        deadline,
        method: "POST",
        headers: &headers,
        report: Default::default(),
    };
    let calls = selection.ask.iter().map(|entry| {
        ask(
            &ctx,
            &request,
            &entry.carrier,
            selection.named,
            &identity.request_id,
        )
    });
    let mut outcomes: Vec<CarrierOutcome> = join_all(calls).await.into_iter().flatten().collect();
    outcomes.extend(selection.not_enabled);
    log.set("carriers", outcomes.len());
    let answer = answer(&request, outcomes);
    let http = answer.http(Some(&identity.request_id));
    let mut headers = vec![
        ("content-type".into(), http.content_type.into()),
        ("cache-control".into(), "no-store".into()),
    ];
    // Breaker states and retries, for the host's metrics (it removes the headers).
    headers.extend(ctx.report.borrow().headers());
    reply(http.status, &headers, Bytes::from(http.body))
}

/// One carrier's outcome, by the deadline; `None` for a carrier that cannot rate and
/// was not named in the request.
async fn ask(
    ctx: &CallContext<'_>,
    request: &RateRequest,
    carrier: &str,
    named: bool,
    request_id: &str,
) -> Option<CarrierOutcome> {
    let remaining = ctx.deadline.remaining_ms(unix_millis() as u64);
    // An unreadable or unknown record is left to the call, which reports it.
    let record = ctx.view.carrier(carrier).ok().flatten();
    if record
        .as_ref()
        .is_some_and(|c| RateAdapter::for_adapter(c.adapter).is_none())
    {
        // A carrier without a rating API: an error only when the request named it.
        return named.then(|| CarrierOutcome::no_rating_api(carrier));
    }
    let hedge = record.and_then(|c| c.hedge_after_ms);
    let call = hedged(ctx, request, carrier, request_id, hedge);
    let deadline = spin_sdk::time::sleep(Duration::from_millis(remaining));
    futures::pin_mut!(call, deadline);
    match select(call, deadline).await {
        Either::Left((outcome, _)) => Some(outcome),
        // Abandoned at the deadline.
        Either::Right(((), _)) => Some(CarrierOutcome::timeout(carrier)),
    }
}

/// The carrier's answer; with `hedge_after_ms`, a second identical request leaves
/// when the first has not answered by then, and the first answer wins (the other is
/// abandoned). Each request goes through the breakers and the account budget.
async fn hedged(
    ctx: &CallContext<'_>,
    request: &RateRequest,
    carrier: &str,
    request_id: &str,
    hedge_after_ms: Option<u32>,
) -> CarrierOutcome {
    let first = call_carrier(ctx, request, carrier, request_id);
    let Some(after) = hedge_after_ms else {
        return first.await;
    };
    let second = async {
        spin_sdk::time::sleep(Duration::from_millis(u64::from(after))).await;
        call_carrier(ctx, request, carrier, request_id).await
    };
    futures::pin_mut!(first, second);
    match select(first, second).await {
        Either::Left((outcome, _)) | Either::Right((outcome, _)) => outcome,
    }
}

async fn call_carrier(
    ctx: &CallContext<'_>,
    request: &RateRequest,
    carrier: &str,
    request_id: &str,
) -> CarrierOutcome {
    let context = |id: &str, account: Option<&str>| CarrierContext {
        carrier: id.to_string(),
        account_number: account.map(str::to_string),
        transaction_id: request_id.to_string(),
    };
    let result = carrier::call(
        ctx,
        carrier,
        facts("/", None, ctx.headers),
        false,
        |routed, plan| {
            let Some(adapter) = RateAdapter::for_adapter(routed.carrier.adapter) else {
                return Err(CallFailure::NotBuilt {
                    carrier: routed.carrier.id.clone(),
                    detail: "this carrier offers no rate shopping".into(),
                });
            };
            let built = adapter
                .build_request(request, &context(&routed.carrier.id, plan.account_number()))
                .map_err(|e| CallFailure::NotBuilt {
                    carrier: routed.carrier.id.clone(),
                    detail: e.message().to_string(),
                })?;
            let relative = built.url(&waypost_core::config::HttpUrl(String::new()));
            Ok(Outbound {
                method: built.method.as_str().to_string(),
                path_and_query: relative,
                headers: built.headers.clone(),
                body: Bytes::from(built.body_bytes().unwrap_or_default()),
            })
        },
    )
    .await;
    let response = match result {
        Ok(response) => response,
        Err(failure) => return outcome_of(carrier, &failure, request_id),
    };
    let id = response.carrier.as_str();
    let Some(adapter) = RateAdapter::for_adapter(response.adapter) else {
        return CarrierOutcome::no_rating_api(id);
    };
    let retry_after =
        header(&response.headers, "retry-after").and_then(|v| retry_after_secs(v, unix_secs()));
    let parsed = adapter.parse_response(
        request,
        &context(id, response.account_number.as_deref()),
        &CarrierResponse {
            status: response.status,
            body: &response.body,
            retry_after_secs: retry_after,
        },
    );
    CarrierOutcome::from_result(id, parsed)
}

/// A failed call as the carrier's status in the answer.
fn outcome_of(carrier: &str, failure: &CallFailure, request_id: &str) -> CarrierOutcome {
    match failure {
        CallFailure::Routing(
            RoutingError::CircuitOpen { .. } | RoutingError::CredentialsFailing { .. },
        ) => CarrierOutcome::circuit_open(carrier),
        CallFailure::Routing(RoutingError::UpstreamTimeout { .. }) => {
            CarrierOutcome::timeout(carrier)
        }
        CallFailure::Routing(RoutingError::CarrierNotEnabled { .. }) => {
            CarrierOutcome::not_enabled(carrier)
        }
        CallFailure::Quota(_) => CarrierOutcome::quota_exceeded(carrier),
        other => CarrierOutcome::error(
            carrier,
            other
                .problem(request_id)
                .detail
                .unwrap_or_else(|| "the carrier call failed".into()),
        ),
    }
}
