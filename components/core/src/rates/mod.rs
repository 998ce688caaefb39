//! Rate shopping (`POST /v1/rates`) as pure logic: the unified request and its checks,
//! one adapter per carrier API, carrier authentication, and the assembled answer.
//!
//! How the `rates` component uses it, per request:
//! 1. [`oversized_body_problem`] (413), then [`parse_rate_request`] the body (400
//!    [`invalid_request_problem`] on errors).
//! 2. [`select_carriers`] from the tenant record and the request's `carriers` filter;
//!    start the outcomes with `selection.not_enabled`.
//! 3. Per carrier asked (in parallel, each under the remaining deadline): read its
//!    `Carrier` record; [`RateAdapter::for_adapter`] (none: skip it, or
//!    [`CarrierOutcome::no_rating_api`] when the request named it); the routing
//!    module's `decide` (upstream, breaker → [`CarrierOutcome::circuit_open`]) and the
//!    account budget (→ [`CarrierOutcome::quota_exceeded`]);
//!    `routing::credentials_for` (account number, credential variables, token URL);
//!    [`RateAdapter::build_request`] with a [`CarrierContext`] (an `Err` →
//!    [`CarrierOutcome::not_built`], nothing sent); for OAuth carriers a token from
//!    `routing::token_cache` (on `Fetch`: send [`token_request`], read it with
//!    [`parse_token_response`], `store` it); [`authorization_header`]; send to
//!    [`CarrierHttpRequest::url`] under the upstream's base; report the call with
//!    `routing::record_outcome`; [`RateAdapter::parse_response`] →
//!    [`CarrierOutcome::from_result`], or [`CarrierOutcome::timeout`].
//! 4. [`answer()`] the outcomes and write [`RatesAnswer::http`] (200 or 504).

/// A recorded carrier answer (`tests/fixtures/carriers/<path>`), in tests.
#[cfg(test)]
macro_rules! fixture {
    ($path:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/carriers/",
            $path
        ))
    };
}

pub mod adapters;
pub mod answer;
pub mod auth;
pub mod carrier;
pub mod check;
pub mod money;
pub mod quote;
pub mod request;
pub mod selection;
pub mod units;

pub use adapters::RateAdapter;
pub use answer::{
    CarrierOutcome, CarrierReport, CarrierStatus, HttpAnswer, RatesAnswer, answer, assemble,
    no_carrier_answered_problem,
};
pub use auth::{
    AuthError, AuthScheme, CarrierToken, ClientAuth, Credentials, TokenRequest,
    authorization_header, parse_token_response, token_request,
};
pub use carrier::{
    BuildError, CarrierContext, CarrierError, CarrierHttpRequest, CarrierResponse, Method,
    retry_after_secs,
};
pub use check::{
    FieldError, MAX_BODY_BYTES, invalid_request_problem, oversized_body_problem, parse_rate_request,
};
pub use money::Money;
pub use quote::{Quote, ServiceLevel};
pub use request::{Address, Dimensions, LengthUnit, Parcel, RateRequest, Sort, Weight, WeightUnit};
pub use selection::{Selection, select_carriers};
