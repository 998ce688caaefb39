//! The simulated DHL Express: MyDHL rates (`GET /rates` with a query, `POST /rates` with
//! JSON; HTTP Basic, no token step) and Shipment Tracking – Unified
//! (`GET /track/shipments`, `DHL-API-Key`). MyDHL errors are `application/problem+json`
//! with a string `status`; tracking errors carry a numeric one.

mod rates;
mod track;

use super::call::Call;
use super::failure::{ErrorShape, Failure};
use super::{CarrierApi, Route};
use serde_json::Value;

pub(crate) struct Dhl;

pub(crate) enum Endpoint {
    /// `GET /rates`: one piece, described by query parameters.
    RatesQuery,
    /// `POST /rates`: several pieces, a JSON body.
    RatesBody,
    Track,
}

const REALM: &str = "MyDHL API";

/// The MyDHL path without its base (`/mydhlapi`, `/mydhlapi/test`), so both the bare
/// sandbox path and the real base path work.
pub(crate) fn express_path(path: &str) -> &str {
    ["/mydhlapi/test", "/mydhlapi"]
        .iter()
        .find_map(|base| path.strip_prefix(base).filter(|rest| rest.starts_with('/')))
        .unwrap_or(path)
}

impl CarrierApi for Dhl {
    type Endpoint = Endpoint;

    fn route(method: &str, path: &str) -> Route<Endpoint> {
        let is = |m: &str| method.eq_ignore_ascii_case(m);
        let get = is("GET") || is("HEAD");
        match (
            express_path(path).trim_end_matches('/'),
            path.trim_end_matches('/'),
        ) {
            ("/rates", _) if get => Route::Found(Endpoint::RatesQuery),
            ("/rates", _) if is("POST") => Route::Found(Endpoint::RatesBody),
            ("/rates", _) => Route::WrongMethod("GET, HEAD, POST"),
            (_, "/track/shipments") => Route::with_method(method, "GET", Endpoint::Track),
            _ => Route::NotFound,
        }
    }

    fn shape(endpoint: Option<&Endpoint>) -> ErrorShape {
        match endpoint {
            Some(Endpoint::Track) => ErrorShape::DhlTracking,
            _ => ErrorShape::DhlExpress,
        }
    }

    fn serve(endpoint: &Endpoint, call: &Call<'_>) -> Result<Value, Failure> {
        match endpoint {
            Endpoint::RatesQuery => rates::by_query(call),
            Endpoint::RatesBody => rates::by_body(call),
            Endpoint::Track => track::track(call),
        }
    }
}

#[cfg(test)]
mod tests;
