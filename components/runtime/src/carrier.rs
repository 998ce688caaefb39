//! One call to a carrier, as `router` and `rates` make it, through every policy in
//! `waypost_core::routing` and `waypost_core::quota`:
//!
//! routing decision (residency, tenant preference, breakers, balance) → the shared
//! carrier-account budget → credentials (Spin variables) and, for OAuth carriers, the
//! token from the KV cache (fetched once per credential, refreshed once on a 401) →
//! the call under the request's deadline → the outcome reported to the breakers →
//! a retry for idempotent methods within the retry budget.
//!
//! Only this module does I/O for carrier calls; every decision is core's.

use crate::config::{active_view, store_unavailable, var};
use crate::request::{random_u64, unix_millis};
use crate::{Reply, SpinKv, problem_for, routing_problem};
use bytes::Bytes;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http::{FullBody, Request};
use spin_sdk::wasip3::http::types::{ErrorCode, RequestOptions};
use spin_sdk::wasip3::http_compat::RequestOptionsExtension;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::time::Duration;
use waypost_core::auth::Identity;
use waypost_core::config::store::{ConfigStore, ConfigView, RegionRecord};
use waypost_core::config::{Adapter, Carrier, Route, Tenant};
use waypost_core::problem::Problem;
use waypost_core::quota::{self, charge_account};
use waypost_core::rates::adapters::RateAdapter;
use waypost_core::rates::auth::{
    CarrierToken, Credentials, api_key_headers, authorization_header, parse_token_response,
    token_request,
};
use waypost_core::report::CallReport;
use waypost_core::routing::outcome::{carrier_breaker_states, upstream_state_after};
use waypost_core::routing::token_cache::{self, TokenLookup};
use waypost_core::routing::{
    CallBudget, CredentialPlan, Deadline, Decision, Outcome, RequestFacts, RouteRequest, Routed,
    RoutingError, TransportFailure, check_residency, credentials_for, decide, record_outcome,
    retry, transport_error, upstream_request_headers,
};

/// The active config and the records of it that every carrier call of a request reads.
pub struct TenantRecords<'s, 'a> {
    pub view: ConfigView<'s, 'a, SpinKv>,
    pub region: RegionRecord,
    pub tenant: Tenant,
    pub routes: Vec<Route>,
}

/// The active config of `store` and the caller's records in it, once the tenant may
/// be served in this region (421 naming its home region otherwise). Callers check
/// this before reading the request's body, so a strict tenant's body is never read
/// in a region it may not be served in.
pub async fn tenant_records<'s, 'a>(
    store: &'s ConfigStore<'a, SpinKv>,
    identity: &Identity,
) -> Result<TenantRecords<'s, 'a>, Reply> {
    let refuse = |p: Problem| problem_for(p, &identity.request_id);
    let view = active_view(store).await.map_err(refuse)?;
    let (Ok(Some(region)), Ok(Some(tenant)), Ok(routes)) =
        (view.region(), view.tenant(&identity.tenant), view.routes())
    else {
        return Err(refuse(store_unavailable()));
    };
    check_residency(&region, &tenant).map_err(|e| routing_problem(&e, &identity.request_id))?;
    Ok(TenantRecords {
        view,
        region,
        tenant,
        routes,
    })
}

/// What a call is about: the tenant's request, as read once by the component.
pub struct CallContext<'a> {
    pub kv: &'a SpinKv,
    pub view: &'a ConfigView<'a, 'a, SpinKv>,
    pub region: &'a RegionRecord,
    pub tenant: &'a Tenant,
    pub deadline: Deadline,
    /// The caller's method and headers (after auth): what the retry rules and the
    /// forwarded headers are derived from.
    pub method: &'a str,
    pub headers: &'a [(String, String)],
    /// What the calls saw, for the host's metrics: the component adds
    /// [`CallReport::headers`] to its response (the host removes them).
    pub report: RefCell<CallReport>,
}

/// The request to send, relative to the chosen upstream's base URL.
pub struct Outbound {
    pub method: String,
    /// Path and query, starting with `/`.
    pub path_and_query: String,
    /// Headers besides the forwarded ones and the credential.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// A carrier's answer.
pub struct CarrierResponse {
    /// The carrier that answered (a fallback when `fell_back_from` is set).
    pub carrier: String,
    /// Its adapter, and the account number the call was made with, for reading the answer.
    pub adapter: Adapter,
    pub account_number: Option<String>,
    pub fell_back_from: Option<String>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

/// Why no carrier answer came back.
#[derive(Debug)]
pub enum CallFailure {
    /// Routing refused (unknown or disabled carrier, residency, breaker open,
    /// deadline, transport failure).
    Routing(RoutingError),
    /// The shared carrier-account budget is spent (or its store failed closed).
    Quota(quota::Decision),
    /// The carrier's credentials are missing or were refused at the token endpoint.
    Credentials { carrier: String, detail: String },
    /// The key-value store failed where the call cannot go on without it.
    Store,
    /// The request cannot be put in this carrier's API (nothing was sent).
    NotBuilt { carrier: String, detail: String },
}

impl CallFailure {
    pub fn problem(&self, request_id: &str) -> Problem {
        let id = Some(request_id);
        match self {
            CallFailure::Routing(e) => e.problem(id),
            CallFailure::Quota(d) => d.problem(id).unwrap_or_else(|| {
                Problem::new(503, "quota-unavailable", "Service Unavailable").with_request_id(id)
            }),
            CallFailure::Credentials { carrier, detail } => {
                Problem::new(502, "carrier-credentials", "Bad Gateway")
                    .with_detail(format!("{carrier}: {detail}"))
                    .with_request_id(id)
            }
            CallFailure::Store => store_unavailable().with_request_id(id),
            CallFailure::NotBuilt { carrier, detail } => {
                Problem::new(400, "not-for-this-carrier", "Bad Request")
                    .with_detail(format!("{carrier}: {detail}"))
                    .with_request_id(id)
            }
        }
    }

    pub fn headers(&self) -> Vec<(String, String)> {
        match self {
            CallFailure::Routing(e) => e.headers(),
            CallFailure::Quota(d) => d
                .headers()
                .into_iter()
                .map(|(n, v)| (n.to_string(), v))
                .collect(),
            _ => Vec::new(),
        }
    }
}

impl From<RoutingError> for CallFailure {
    fn from(e: RoutingError) -> Self {
        CallFailure::Routing(e)
    }
}

/// Calls `carrier` for the context's tenant. `build` makes the request for the
/// carrier actually chosen (a fallback carrier has another API). `facts` are what
/// upstream matching reads (path, host, headers).
pub async fn call(
    ctx: &CallContext<'_>,
    carrier: &str,
    facts: RequestFacts<'_>,
    allow_fallback: bool,
    build: impl Fn(&Routed, &CredentialPlan) -> Result<Outbound, CallFailure>,
) -> Result<CarrierResponse, CallFailure> {
    let mut retries = 0u32;
    let result = call_with_retries(ctx, carrier, facts, allow_fallback, &build, &mut retries).await;
    ctx.report.borrow_mut().retried(carrier, retries);
    if let Err(CallFailure::Routing(RoutingError::CircuitOpen { carrier: id, .. })) = &result
        && let Ok(Some(record)) = ctx.view.carrier(id)
    {
        let now = unix_millis() as u64;
        let mut report = ctx.report.borrow_mut();
        for (upstream, state) in carrier_breaker_states(ctx.kv, &record, now) {
            report.breaker(id, &upstream, state);
        }
    }
    result
}

/// [`call`]'s attempts; `retries` counts the retries made.
async fn call_with_retries(
    ctx: &CallContext<'_>,
    carrier: &str,
    facts: RequestFacts<'_>,
    allow_fallback: bool,
    build: &impl Fn(&Routed, &CredentialPlan) -> Result<Outbound, CallFailure>,
    retries: &mut u32,
) -> Result<CarrierResponse, CallFailure> {
    let mut attempt = 0u32;
    loop {
        let routed = route(ctx, carrier, facts, allow_fallback)?;
        *retries = attempt;
        let result = attempt_call(ctx, &routed, attempt, build).await;
        let outcome = match &result {
            Ok(response) => Outcome::of_status(response.status),
            Err(Attempt::Transport(failure, budget)) => budget.outcome_of(*failure),
            Err(_) => Outcome::Abandoned,
        };
        let now = unix_millis() as u64;
        if let Err(e) = record_outcome(ctx.kv, &routed.ticket, outcome, now) {
            crate::request::log_event("breaker-update-failed", &e.0);
        }
        if let Ok(state) = upstream_state_after(ctx.kv, &routed.ticket, outcome, now) {
            ctx.report
                .borrow_mut()
                .breaker(&routed.carrier.id, &routed.upstream.id, state);
        }
        if attempt == 0 {
            let _ = retry::count_call(ctx.kv, &ctx.region.region.id, &routed.carrier.id, now);
        }
        let retryable = retry::may_retry(
            ctx.method,
            ctx.headers,
            outcome,
            attempt,
            &routed.carrier.retry,
        ) && retry::spend_retry(
            ctx.kv,
            &ctx.region.region.id,
            &routed.carrier.id,
            &routed.carrier.retry,
            now,
        )
        .unwrap_or(false);
        match result {
            Ok(response) if !retryable => return Ok(response),
            Err(Attempt::Failed(failure)) => return Err(failure),
            Err(Attempt::Transport(failure, _)) if !retryable => {
                return Err(transport_error(&routed.carrier.id, failure).into());
            }
            _ => attempt += 1,
        }
    }
}

/// The routing decision for one attempt.
fn route(
    ctx: &CallContext<'_>,
    carrier: &str,
    facts: RequestFacts<'_>,
    allow_fallback: bool,
) -> Result<Routed, CallFailure> {
    let request = RouteRequest {
        carrier,
        facts,
        allow_fallback,
    };
    let now = unix_millis() as u64;
    match decide(
        ctx.kv,
        ctx.region,
        ctx.tenant,
        ctx.view,
        &request,
        random_u64(),
        now,
    ) {
        Ok(Decision::Route(routed)) => Ok(*routed),
        Ok(Decision::Refuse(e)) => Err(e.into()),
        Err(_) => Err(CallFailure::Store),
    }
}

enum Attempt {
    /// No response: the connection failed or time ran out.
    Transport(TransportFailure, CallBudget),
    /// Refused before or instead of the call.
    Failed(CallFailure),
}

impl From<CallFailure> for Attempt {
    fn from(f: CallFailure) -> Self {
        Attempt::Failed(f)
    }
}

async fn attempt_call(
    ctx: &CallContext<'_>,
    routed: &Routed,
    attempt: u32,
    build: &impl Fn(&Routed, &CredentialPlan) -> Result<Outbound, CallFailure>,
) -> Result<CarrierResponse, Attempt> {
    let carrier = &routed.carrier;
    let plan =
        credentials_for(&ctx.tenant.id, &routed.entry, carrier).map_err(CallFailure::from)?;
    let mut outbound = build(routed, &plan)?;
    charge_account_budget(ctx, carrier, &plan)?;
    let credentials = resolve(&plan).await;
    if let Some(adapter) = adapter(carrier) {
        outbound
            .headers
            .extend(api_key_headers(adapter, &credentials));
    }
    let budget = ctx
        .deadline
        .call(carrier, unix_millis() as u64)
        .map_err(CallFailure::from)?;
    let mut token = access_token(ctx, carrier, &plan, &credentials, None).await?;
    let mut refreshed = false;
    loop {
        let authorization = authorization(carrier, &credentials, token.as_deref())?;
        let response = send(
            routed,
            &outbound,
            &budget,
            attempt,
            authorization.as_deref(),
            ctx,
        )
        .await
        .map_err(|failure| Attempt::Transport(failure, budget.clone()))?;
        // A refused OAuth token is refreshed once, then the call is made once more.
        if response.status == 401
            && !refreshed
            && let Some(rejected) = &token
        {
            refreshed = true;
            token =
                access_token(ctx, carrier, &plan, &credentials, Some(rejected.as_str())).await?;
            continue;
        }
        return Ok(CarrierResponse {
            fell_back_from: routed.fell_back_from.clone(),
            account_number: plan.account_number().map(str::to_string),
            ..response
        });
    }
}

/// Charges one call to the shared carrier-account budget, when the account has one.
fn charge_account_budget(
    ctx: &CallContext<'_>,
    carrier: &Carrier,
    plan: &CredentialPlan,
) -> Result<(), CallFailure> {
    let account = match plan.account {
        waypost_core::routing::Account::Platform { .. } => "platform".to_string(),
        waypost_core::routing::Account::Own { ref account, .. } => account.clone(),
    };
    let limit = ctx
        .view
        .account_limit(&carrier.id, &account)
        .map_err(|_| CallFailure::Store)?;
    let Some(limit) = limit else { return Ok(()) };
    let decision = charge_account(ctx.kv, &limit, unix_millis() as u64);
    if decision.admitted() {
        Ok(())
    } else {
        Err(CallFailure::Quota(decision))
    }
}

/// The credential values the plan names, from Spin variables.
async fn resolve(plan: &CredentialPlan) -> Credentials {
    let mut values = BTreeMap::new();
    for (role, variable) in &plan.variables {
        values.insert(role.clone(), var(variable.as_str()).await);
    }
    Credentials::new(values)
}

/// The carrier's adapter; `None` for a generic carrier, which gets no credential.
fn adapter(carrier: &Carrier) -> Option<RateAdapter> {
    RateAdapter::for_adapter(carrier.adapter)
}

fn authorization(
    carrier: &Carrier,
    credentials: &Credentials,
    token: Option<&str>,
) -> Result<Option<String>, CallFailure> {
    let Some(adapter) = adapter(carrier) else {
        return Ok(None);
    };
    authorization_header(adapter, credentials, token)
        .map(Some)
        .map_err(|e| CallFailure::Credentials {
            carrier: carrier.id.clone(),
            detail: e.to_string(),
        })
}

/// How long to wait between looks at a token another request is fetching, at most.
const TOKEN_WAIT_ROUNDS: u32 = 20;

/// The OAuth access token for this credential: cached in KV, or fetched once (other
/// requests wait for that fetch). `None` for carriers without a token step. `rejected`
/// is a token the carrier just refused.
async fn access_token(
    ctx: &CallContext<'_>,
    carrier: &Carrier,
    plan: &CredentialPlan,
    credentials: &Credentials,
    rejected: Option<&str>,
) -> Result<Option<String>, CallFailure> {
    if !carrier.adapter.uses_oauth() {
        return Ok(None);
    }
    let client_id = credentials.get("client_id").unwrap_or_default();
    let key = plan.token_cache_key(client_id);
    let lease_id = random_u64();
    for round in 0..TOKEN_WAIT_ROUNDS {
        let now = unix_millis() as u64;
        let lookup = match (rejected, round) {
            (Some(bad), 0) => token_cache::invalidate(ctx.kv, &key, bad, lease_id, now),
            _ => token_cache::lookup(ctx.kv, &key, lease_id, now),
        };
        match lookup {
            Ok(TokenLookup::Cached(token)) => return Ok(Some(token)),
            Ok(TokenLookup::Wait { retry_in_ms }) => {
                spin_sdk::time::sleep(Duration::from_millis(retry_in_ms.max(1))).await;
            }
            Ok(TokenLookup::Fetch(lease)) => {
                let fetched = fetch_token(ctx, carrier, plan, credentials).await;
                match &fetched {
                    Ok(token) => {
                        let _ = token_cache::store(
                            ctx.kv,
                            &lease,
                            &token.access_token,
                            token.expires_in_secs,
                            unix_millis() as u64,
                        );
                    }
                    Err(_) => {
                        let _ = token_cache::give_up(ctx.kv, &lease);
                    }
                }
                return fetched.map(|t| Some(t.access_token));
            }
            // No cache: fetch for this request alone.
            Err(_) => break,
        }
    }
    let token = fetch_token(ctx, carrier, plan, credentials).await?;
    Ok(Some(token.access_token))
}

/// `POST token_url` with the client credentials, as the carrier's adapter says.
async fn fetch_token(
    ctx: &CallContext<'_>,
    carrier: &Carrier,
    plan: &CredentialPlan,
    credentials: &Credentials,
) -> Result<CarrierToken, CallFailure> {
    let refused = |detail: String| CallFailure::Credentials {
        carrier: carrier.id.clone(),
        detail,
    };
    let Some(adapter) = adapter(carrier) else {
        return Err(refused("the carrier has no token step".into()));
    };
    let request = token_request(
        adapter,
        plan.token_url.as_ref(),
        credentials,
        plan.account_number(),
    )
    .map_err(|e| refused(e.to_string()))?;
    let budget = ctx
        .deadline
        .call(carrier, unix_millis() as u64)
        .map_err(CallFailure::from)?;
    // The token request joins the caller's trace like the carrier call it is for.
    let mut headers = request.headers;
    headers.extend(
        ctx.headers
            .iter()
            .filter(|(name, _)| name.eq_ignore_ascii_case("traceparent"))
            .cloned(),
    );
    let Some(outgoing) = outgoing("POST", &request.url, &headers, request.body.into()) else {
        return Err(refused("the token URL is not a valid URI".into()));
    };
    let (status, headers, body) = match timed(outgoing, &budget).await {
        Ok(answer) => answer,
        Err(failure) => return Err(transport_error(&carrier.id, failure).into()),
    };
    let retry_after = header(&headers, "retry-after").and_then(|v| v.parse().ok());
    parse_token_response(adapter, status, &body, retry_after)
        .map_err(|e| refused(format!("token endpoint: {}", e.message())))
}

async fn send(
    routed: &Routed,
    outbound: &Outbound,
    budget: &CallBudget,
    attempt: u32,
    authorization: Option<&str>,
    ctx: &CallContext<'_>,
) -> Result<CarrierResponse, TransportFailure> {
    let base = routed.upstream.url.as_str().trim_end_matches('/');
    let url = format!("{base}{}", outbound.path_and_query);
    let mut headers =
        upstream_request_headers(ctx.headers, budget, (attempt > 0).then_some(attempt));
    // The request's own headers (a rating body's content type) replace forwarded ones.
    headers.retain(|(n, _)| {
        !outbound
            .headers
            .iter()
            .any(|(o, _)| o.eq_ignore_ascii_case(n))
    });
    headers.extend(outbound.headers.iter().cloned());
    if let Some(authorization) = authorization {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("authorization"));
        headers.push(("authorization".into(), authorization.into()));
    }
    let request = outgoing(&outbound.method, &url, &headers, outbound.body.clone())
        .ok_or(TransportFailure::Connect)?;
    let (status, headers, body) = timed(request, budget).await?;
    Ok(CarrierResponse {
        carrier: routed.carrier.id.clone(),
        adapter: routed.carrier.adapter,
        account_number: None,
        fell_back_from: None,
        status,
        headers,
        body,
    })
}

/// An outgoing request; `None` when the method, URL or a header is not valid HTTP.
fn outgoing(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: Bytes,
) -> Option<http::Request<FullBody<Bytes>>> {
    let mut builder = http::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder.body(FullBody::new(body)).ok()
}

type Answer = (u16, Vec<(String, String)>, Bytes);

/// Sends `request` and reads the whole answer within the budget's `timeout_ms`, the
/// host connecting within its `connect_timeout_ms`; past either, the call is abandoned.
async fn timed(
    mut request: http::Request<FullBody<Bytes>>,
    budget: &CallBudget,
) -> Result<Answer, TransportFailure> {
    request
        .extensions_mut()
        .insert(connect_timeout(budget.connect_timeout_ms));
    let exchange = async {
        let response = spin_sdk::http::send(request)
            .await
            .map_err(|e| classify(e, budget))?;
        let status = response.status().as_u16();
        let headers = crate::request::header_pairs(response.headers());
        let body = response
            .into_body()
            .bytes()
            .await
            .map_err(|_| TransportFailure::Connect)?;
        Ok((status, headers, body))
    };
    let timeout = spin_sdk::time::sleep(Duration::from_millis(budget.timeout_ms));
    futures::pin_mut!(exchange, timeout);
    match futures::future::select(exchange, timeout).await {
        futures::future::Either::Left((answer, _)) => answer,
        futures::future::Either::Right(((), _)) => Err(TransportFailure::Timeout),
    }
}

/// `request-options` that ask the host to connect within `ms`.
fn connect_timeout(ms: u64) -> RequestOptionsExtension {
    let options = RequestOptions::new();
    // Refused only by a host whose options are immutable; the call's timeout holds.
    let _ = options.set_connect_timeout(Some(ms.saturating_mul(1_000_000)));
    RequestOptionsExtension(options)
}

fn classify(e: ErrorCode, budget: &CallBudget) -> TransportFailure {
    match e {
        ErrorCode::ConnectionTimeout => budget.connect_timed_out(),
        ErrorCode::ConnectionReadTimeout
        | ErrorCode::ConnectionWriteTimeout
        | ErrorCode::HttpResponseTimeout => TransportFailure::Timeout,
        _ => TransportFailure::Connect,
    }
}

/// The value of header `name` in pairs.
pub fn header<'h>(headers: &'h [(String, String)], name: &str) -> Option<&'h str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A request's pass-through facts, for upstream matching.
pub fn facts<'a>(
    path: &'a str,
    host: Option<&'a str>,
    headers: &'a [(String, String)],
) -> RequestFacts<'a> {
    RequestFacts {
        path,
        host,
        headers,
    }
}

/// Reads a request body whole (the router needs it for idempotency fingerprints and
/// retries; the host bounds its size).
pub async fn read_body(req: Request) -> Result<Bytes, Problem> {
    req.into_body()
        .bytes()
        .await
        .map_err(|_| Problem::new(400, "unreadable-body", "Bad Request"))
}
