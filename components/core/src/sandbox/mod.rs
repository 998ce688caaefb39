//! The simulated carriers: UPS, FedEx, DHL Express and USPS answering in the shape of
//! their real APIs (`CARRIERS.md`), so the gateway can be run and tested end to end
//! without carrier accounts.
//!
//! The `sandbox` component serves `/{carrier}/...`, splits the prefix off
//! ([`Carrier::split_path`]), and calls [`handle`] with the rest of the request, the
//! time and a random seed. It answers with the [`Reply`]: a response to send after
//! `delay_ms`, or [`Reply::Hang`] (never answer). Everything here is deterministic given
//! `(request, now_secs, seed)`.
//!
//! # Endpoints (path after the carrier prefix)
//!
//! | carrier | method and path | auth | answer |
//! |---|---|---|---|
//! | any | ANY `/_echo`, `/_echo/...` | none | what arrived ([`echo`]); credentials fingerprinted |
//! | ups | POST `/security/v1/oauth/token` | Basic `client_id:client_secret`, form `grant_type=client_credentials` | UPS token |
//! | ups | POST `/api/rating/{version}/{Rate,Shop,Ratetimeintransit,Shoptimeintransit}` | Bearer | `RateResponse` |
//! | ups | GET `/api/track/v1/details/{inquiryNumber}` | Bearer; `transId`, `transactionSrc` | `trackResponse` |
//! | fedex | POST `/oauth/token` | form `grant_type`, `client_id`, `client_secret` | FedEx token |
//! | fedex | POST `/rate/v1/rates/quotes` | Bearer | `output.rateReplyDetails` |
//! | fedex | POST `/track/v1/trackingnumbers` | Bearer | `output.completeTrackResults` |
//! | dhl | GET `/rates` (query), POST `/rates` (JSON); also under `/mydhlapi[/test]` | Basic | `products` |
//! | dhl | GET `/track/shipments?trackingNumber=` | `DHL-API-Key` | `shipments` |
//! | usps | POST `/oauth2/v3/token` | JSON or form `grant_type`, `client_id`, `client_secret` | USPS token |
//! | usps | POST `/prices/v3/base-rates/search`, `/prices/v3/total-rates/search` | Bearer | `rates` / `rateOptions` |
//! | usps | POST `/shipments/v3/options/search` | Bearer | `pricingOptions[].shippingOptions` (delivery dates) |
//! | usps | GET `/tracking/v3/tracking/{trackingNumber}` | Bearer | tracking object |
//!
//! A GET endpoint answers HEAD too, without a body. Other paths are a 404 (a known
//! path with another method a 405 with `Allow`), in the carrier's error format
//! (`failure.rs`). Success bodies are `application/json`; errors too, except DHL's,
//! which are `application/problem+json` as the real API sends them.
//! Prices, transit days and delivery dates are derived from the request (`pricing.rs`):
//! the same request always gets the same answer, a heavier one a higher price.
//! Credentials are checked for presence only ([`credentials`]). Tracking histories are
//! derived from the number; a number of zeros only (`0000000000`) is unknown.
//!
//! # Fault injection (request headers)
//!
//! Every value may be scoped by carrier: `x-sandbox-fail: ups=503` or
//! `x-sandbox-latency-ms: ups=200,fedex=50`; a bare value applies to every carrier and
//! a carrier's own entry wins over it. A value that does not parse is a 400 in the
//! carrier's format. Faults apply to every path, `/_echo` and token endpoints included.
//!
//! | header | effect |
//! |---|---|
//! | `x-sandbox-latency-ms: N` | answer after N ms (0–600000) |
//! | `x-sandbox-jitter-ms: N` | plus 0..=N ms, drawn from the seed |
//! | `x-sandbox-hang: 1` | never answer ([`Reply::Hang`]); wins over everything |
//! | `x-sandbox-fail: 500..=599` | that status, in the carrier's error format |
//! | `x-sandbox-429: S` | 429 with `Retry-After: S` (0–86400), in the carrier's format |
//! | `x-sandbox-error-rate: R` | 503 when the seed's draw in \[0,1) is below R (0.0–1.0) |
//! | `x-sandbox-status: N` | N ≥ 400: that status in the carrier's error format; N in 200–399: a successful answer's status becomes N (204/205/304 without a body); errors stay as they are |
//! | `x-sandbox-reject-token: T[,T2]` | 401 for the bearer token T (DHL: Basic user or `DHL-API-Key` T): an expired token |
//! | `x-sandbox-token-ttl: S` | `expires_in` of issued tokens (default 3600, 1–86400) |
//! | `x-sandbox-ups-bare-object: 1` | UPS: single-element arrays in `RateResponse` as a bare object (the UPS quirk) |
//!
//! Precedence: hang, fail, 429, error rate, status ≥ 400, then the endpoint itself.
//! Latency and jitter delay every answer except a 400 for a bad fault header.

mod call;
mod carrier;
pub mod credentials;
mod dates;
mod dhl;
pub mod echo;
mod failure;
pub mod faults;
mod fedex;
mod fields;
mod pricing;
mod tracking;
mod ups;
mod usps;

#[cfg(test)]
mod testkit;

pub use carrier::Carrier;
pub use echo::fingerprint;

use call::Call;
use failure::{ErrorShape, Failure, render};
use faults::{Faults, Injected};
use serde_json::Value;

/// A request to a simulated carrier, as the component read it.
#[derive(Debug, Clone, Copy)]
pub struct SandboxRequest<'a> {
    pub method: &'a str,
    /// The path after the carrier prefix, e.g. `/api/rating/v2409/Shop`.
    pub path: &'a str,
    /// The query string without `?` (empty when none).
    pub query: &'a str,
    /// Headers as `(name, value)` pairs; names compare case-insensitively.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// A response to send as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxResponse {
    pub status: u16,
    /// Lower-case names; always a `content-type` unless the body is empty.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl SandboxResponse {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the component does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Sleep `delay_ms` (latency injection), then send `response`.
    Answer {
        response: SandboxResponse,
        delay_ms: u64,
    },
    /// Never answer: await forever (`x-sandbox-hang`), so the caller's timeout fires.
    Hang,
}

/// Serves one request to `carrier`. `now_secs` is Unix seconds (token `issued_at`,
/// today's date when a request names no ship date); `seed` is a fresh random `u64` per
/// request (jitter and `x-sandbox-error-rate` draw from it; a fixed seed makes both
/// repeatable).
pub fn handle(carrier: Carrier, request: &SandboxRequest<'_>, now_secs: i64, seed: u64) -> Reply {
    let call = Call {
        carrier,
        request,
        now_secs,
    };
    match carrier {
        Carrier::Ups => serve::<ups::Ups>(&call, seed),
        Carrier::Fedex => serve::<fedex::Fedex>(&call, seed),
        Carrier::Dhl => serve::<dhl::Dhl>(&call, seed),
        Carrier::Usps => serve::<usps::Usps>(&call, seed),
    }
}

/// A path's match among a carrier's endpoints.
pub(crate) enum Route<E> {
    Found(E),
    NotFound,
    /// The path exists with other methods (the `Allow` value).
    WrongMethod(&'static str),
}

impl<E> Route<E> {
    /// `endpoint` when `method` is `allow` (or HEAD, for a GET endpoint), else a 405
    /// naming `allow` (and HEAD beside GET).
    pub(crate) fn with_method(method: &str, allow: &'static str, endpoint: E) -> Self {
        let get = allow == "GET";
        if method.eq_ignore_ascii_case(allow) || (get && method.eq_ignore_ascii_case("HEAD")) {
            Route::Found(endpoint)
        } else {
            Route::WrongMethod(if get { "GET, HEAD" } else { allow })
        }
    }
}

/// One simulated carrier API.
pub(crate) trait CarrierApi {
    type Endpoint;
    /// The endpoint for `method` and `path` (after the carrier prefix).
    fn route(method: &str, path: &str) -> Route<Self::Endpoint>;
    /// The error format of `endpoint`; `None`: an unknown path or `/_echo`.
    fn shape(endpoint: Option<&Self::Endpoint>) -> ErrorShape;
    /// The 200 body of `endpoint`, or its refusal.
    fn serve(endpoint: &Self::Endpoint, call: &Call<'_>) -> Result<Value, Failure>;
}

fn serve<A: CarrierApi>(call: &Call<'_>, seed: u64) -> Reply {
    let path = call.path();
    let route = if echo::is_echo(path) {
        None
    } else {
        Some(A::route(call.request.method, path))
    };
    let shape = A::shape(match &route {
        Some(Route::Found(endpoint)) => Some(endpoint),
        _ => None,
    });
    let faults = match Faults::read(call) {
        Ok(faults) => faults,
        Err(failure) => return answer(render(shape, &failure, call), 0),
    };
    let delay_ms = faults.delay_ms(seed);
    match faults.injected(seed) {
        Some(Injected::Hang) => return Reply::Hang,
        Some(Injected::Fail(failure)) => return answer(render(shape, &failure, call), delay_ms),
        None => {}
    }
    let result = match route {
        None => Ok(echo::body(call)),
        Some(Route::Found(endpoint)) => A::serve(&endpoint, call),
        Some(Route::NotFound) => Err(not_found(path)),
        Some(Route::WrongMethod(allow)) => Err(wrong_method(call.request.method, allow)),
    };
    let mut response = match result {
        Ok(body) => success(body, faults.success_status()),
        Err(failure) => render(shape, &failure, call),
    };
    if call.request.method.eq_ignore_ascii_case("HEAD") {
        response.body.clear();
    }
    answer(response, delay_ms)
}

fn answer(response: SandboxResponse, delay_ms: u64) -> Reply {
    Reply::Answer { response, delay_ms }
}

fn success(body: Value, status: Option<u16>) -> SandboxResponse {
    let status = status.unwrap_or(200);
    if matches!(status, 204 | 205 | 304) {
        return SandboxResponse {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        };
    }
    SandboxResponse {
        status,
        headers: vec![("content-type".into(), failure::JSON.into())],
        body: body.to_string().into_bytes(),
    }
}

fn not_found(path: &str) -> Failure {
    Failure::new(
        404,
        failure::Kind::NotFound,
        format!("The resource {path} does not exist in the sandbox."),
    )
}

fn wrong_method(method: &str, allow: &'static str) -> Failure {
    Failure::new(
        405,
        failure::Kind::MethodNotAllowed(allow),
        format!("Method {method} is not allowed here; allowed: {allow}."),
    )
}

#[cfg(test)]
mod tests;
