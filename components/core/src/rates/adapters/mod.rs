//! One adapter per carrier API, each a pair of pure functions: `build_request` (the
//! unified request → the carrier's call) and `parse_response` (the carrier's answer,
//! or its error format → normalized quotes or a [`CarrierError`]).
//!
//! | adapter | call (path relative to the upstream base URL) |
//! |---|---|
//! | UPS | `POST /api/rating/v2409/Shoptimeintransit` |
//! | FedEx | `POST /rate/v1/rates/quotes` |
//! | DHL | `POST /rates` |
//! | USPS | `POST /prices/v3/total-rates/search` |

pub mod dhl;
pub mod fedex;
pub mod ups;
pub mod usps;
mod wire;

use super::carrier::{
    BuildError, CarrierContext, CarrierError, CarrierHttpRequest, CarrierResponse,
};
use super::quote::Quote;
use super::request::RateRequest;
use crate::config::Adapter;

/// A carrier API that can rate (every [`Adapter`] but `generic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RateAdapter {
    Ups,
    Fedex,
    Dhl,
    Usps,
}

impl RateAdapter {
    /// The rating adapter of a configured carrier; `None` for `generic` carriers,
    /// which have no rating API Waypost knows.
    pub fn for_adapter(adapter: Adapter) -> Option<RateAdapter> {
        match adapter {
            Adapter::Ups => Some(RateAdapter::Ups),
            Adapter::Fedex => Some(RateAdapter::Fedex),
            Adapter::Dhl => Some(RateAdapter::Dhl),
            Adapter::Usps => Some(RateAdapter::Usps),
            Adapter::Generic => None,
        }
    }

    pub fn adapter(self) -> Adapter {
        match self {
            RateAdapter::Ups => Adapter::Ups,
            RateAdapter::Fedex => Adapter::Fedex,
            RateAdapter::Dhl => Adapter::Dhl,
            RateAdapter::Usps => Adapter::Usps,
        }
    }

    /// The carrier call for this request (every header but `Authorization`). An
    /// `Err` means the carrier cannot rate it: report
    /// [`super::CarrierOutcome::not_built`] and send nothing.
    pub fn build_request(
        self,
        request: &RateRequest,
        ctx: &CarrierContext,
    ) -> Result<CarrierHttpRequest, BuildError> {
        match self {
            RateAdapter::Ups => ups::build_request(request, ctx),
            RateAdapter::Fedex => fedex::build_request(request, ctx),
            RateAdapter::Dhl => dhl::build_request(request, ctx),
            RateAdapter::Usps => usps::build_request(request, ctx),
        }
    }

    /// The carrier's answer as quotes (each tagged `ctx.carrier`), or why there are
    /// none. Quotes are not yet filtered or sorted (see [`super::answer()`]).
    pub fn parse_response(
        self,
        request: &RateRequest,
        ctx: &CarrierContext,
        response: &CarrierResponse,
    ) -> Result<Vec<Quote>, CarrierError> {
        if !(200..300).contains(&response.status) {
            return Err(CarrierError::from_status(
                response.status,
                self.error_message(response.body),
                response.retry_after_secs,
            ));
        }
        let body = response.body;
        match self {
            RateAdapter::Ups => ups::parse_quotes(request, ctx, body),
            RateAdapter::Fedex => fedex::parse_quotes(request, ctx, body),
            RateAdapter::Dhl => dhl::parse_quotes(request, ctx, body),
            RateAdapter::Usps => usps::parse_quotes(request, ctx, body),
        }
    }

    /// The carrier's message in an error body of its format (also used for token
    /// endpoints' errors).
    pub(crate) fn error_message(self, body: &[u8]) -> Option<String> {
        match self {
            RateAdapter::Ups => ups::error_message(body),
            RateAdapter::Fedex => fedex::error_message(body),
            RateAdapter::Dhl => dhl::error_message(body),
            RateAdapter::Usps => usps::error_message(body),
        }
    }
}

/// Services were listed but none had a price that could be read: that is not an
/// empty answer but an unreadable one.
fn unreadable_if_all_dropped(seen: usize, quotes: Vec<Quote>) -> Result<Vec<Quote>, CarrierError> {
    if seen > 0 && quotes.is_empty() {
        return Err(CarrierError::malformed(
            "no listed service has a readable price",
        ));
    }
    Ok(quotes)
}

#[cfg(test)]
mod tests;
