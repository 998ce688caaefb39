//! The answer of `POST /v1/rates`: every carrier's quotes in one sorted list, and one
//! status per carrier. 200 when at least one carrier answered `ok` (even with no
//! quotes left after filtering), otherwise 504 `no-carrier-answered` carrying the
//! statuses.

use super::carrier::{BuildError, CarrierError};
use super::quote::Quote;
use super::request::{RateRequest, Sort};
use crate::problem::{self, Problem};
use serde::Serialize;

/// What became of one carrier. Serialized snake_case in `status`, with `message` for
/// `error`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum CarrierStatus {
    /// The carrier answered (possibly with no quotes).
    Ok,
    /// The carrier did not answer within the request's deadline.
    Timeout,
    /// The carrier refused or failed; `message` is its own (sanitized) or ours.
    Error { message: String },
    /// The carrier's breaker is open: it was not asked.
    CircuitOpen,
    /// The account's budget (`account_limits`) or the carrier's quota (429) is spent.
    QuotaExceeded,
    /// The request named a carrier the tenant does not use.
    NotEnabled,
}

/// One carrier's line in the answer: `{"carrier": "ups", "status": "ok"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CarrierReport {
    pub carrier: String,
    #[serde(flatten)]
    pub status: CarrierStatus,
}

/// One carrier's result, as the component collects it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierOutcome {
    pub carrier: String,
    pub status: CarrierStatus,
    /// Empty unless `status` is `Ok`.
    pub quotes: Vec<Quote>,
}

impl CarrierOutcome {
    fn with(carrier: &str, status: CarrierStatus) -> Self {
        CarrierOutcome {
            carrier: carrier.to_string(),
            status,
            quotes: Vec::new(),
        }
    }

    pub fn ok(carrier: &str, quotes: Vec<Quote>) -> Self {
        CarrierOutcome {
            quotes,
            ..Self::with(carrier, CarrierStatus::Ok)
        }
    }

    /// From an adapter's `parse_response` (or a failed token step): a carrier 429 is
    /// `quota_exceeded`, any other error `error` with the carrier's message.
    pub fn from_result(carrier: &str, result: Result<Vec<Quote>, CarrierError>) -> Self {
        match result {
            Ok(quotes) => Self::ok(carrier, quotes),
            Err(CarrierError::RateLimited { .. }) => Self::quota_exceeded(carrier),
            Err(e) => Self::error(carrier, e.message()),
        }
    }

    /// The adapter could not build a call: nothing was sent.
    pub fn not_built(carrier: &str, error: &BuildError) -> Self {
        Self::error(carrier, error.message())
    }

    /// `message` is cut to [`super::carrier::MAX_MESSAGE_CHARS`] whatever its source
    /// (a failure of the call itself adds the carrier's name to the carrier's words).
    pub fn error(carrier: &str, message: impl Into<String>) -> Self {
        Self::with(
            carrier,
            CarrierStatus::Error {
                message: super::carrier::sanitize_message(&message.into()),
            },
        )
    }

    pub fn timeout(carrier: &str) -> Self {
        Self::with(carrier, CarrierStatus::Timeout)
    }

    pub fn circuit_open(carrier: &str) -> Self {
        Self::with(carrier, CarrierStatus::CircuitOpen)
    }

    pub fn quota_exceeded(carrier: &str) -> Self {
        Self::with(carrier, CarrierStatus::QuotaExceeded)
    }

    pub fn not_enabled(carrier: &str) -> Self {
        Self::with(carrier, CarrierStatus::NotEnabled)
    }

    /// A carrier the request named whose adapter (`generic`) has no rating API.
    pub fn no_rating_api(carrier: &str) -> Self {
        Self::error(carrier, "this carrier offers no rate shopping")
    }
}

/// The body of a 200.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RatesAnswer {
    pub quotes: Vec<Quote>,
    /// One per carrier, ordered by carrier id.
    pub carriers: Vec<CarrierReport>,
}

impl RatesAnswer {
    /// Whether at least one carrier answered: the rule between 200 and 504.
    pub fn any_ok(&self) -> bool {
        self.carriers.iter().any(|c| c.status == CarrierStatus::Ok)
    }

    /// The HTTP answer: 200 `application/json` with this body, or 504
    /// `application/problem+json` ([`no_carrier_answered_problem`]).
    pub fn http(&self, request_id: Option<&str>) -> HttpAnswer {
        if self.any_ok() {
            HttpAnswer {
                status: 200,
                content_type: "application/json",
                body: serde_json::to_string(self).expect("an answer serializes"),
            }
        } else {
            HttpAnswer {
                status: 504,
                content_type: problem::CONTENT_TYPE,
                body: no_carrier_answered_problem(&self.carriers)
                    .with_request_id(request_id)
                    .to_json(),
            }
        }
    }
}

/// A status, content type and body, ready to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAnswer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

/// 504, type `no-carrier-answered`, with the statuses as the `carriers` member.
pub fn no_carrier_answered_problem(carriers: &[CarrierReport]) -> Problem {
    let detail = if carriers.is_empty() {
        "No carrier was asked: the tenant uses no carrier that can rate."
    } else {
        "No carrier answered; `carriers` has each one's status."
    };
    Problem::new(504, "no-carrier-answered", "No carrier answered")
        .with_detail(detail)
        .with_extension("carriers", carriers)
}

/// The answer to `request`: quotes outside its `service_levels` dropped, then
/// [`assemble`]d in its `sort` order with its `currency` first.
pub fn answer(request: &RateRequest, mut results: Vec<CarrierOutcome>) -> RatesAnswer {
    if let Some(levels) = &request.service_levels {
        for r in &mut results {
            r.quotes.retain(|q| levels.contains(&q.service_level));
        }
    }
    assemble(results, request.sort, &request.currency)
}

/// Every `ok` carrier's quotes in one list, and one report per carrier (by id).
///
/// `price`: cheapest first; ties by earliest delivery date (none last), then carrier
/// and service code. `delivery`: earliest delivery date first (none last), then fewest
/// transit days, then price. Amounts compare only within a currency: quotes in
/// `currency` come first, other currencies after, grouped by code.
pub fn assemble(results: Vec<CarrierOutcome>, sort: Sort, currency: &str) -> RatesAnswer {
    let mut carriers = Vec::with_capacity(results.len());
    let mut quotes = Vec::new();
    for r in results {
        if r.status == CarrierStatus::Ok {
            quotes.extend(r.quotes);
        }
        carriers.push(CarrierReport {
            carrier: r.carrier,
            status: r.status,
        });
    }
    carriers.sort_by(|a, b| a.carrier.cmp(&b.carrier));
    let money = |q: &Quote| {
        (
            q.price.currency != currency,
            q.price.currency.clone(),
            q.price.amount_minor,
        )
    };
    let date = |q: &Quote| {
        (
            q.estimated_delivery_date.is_none(),
            q.estimated_delivery_date.clone(),
        )
    };
    let transit = |q: &Quote| (q.transit_days.is_none(), q.transit_days);
    let names = |q: &Quote| (q.carrier.clone(), q.service_code.clone());
    match sort {
        Sort::Price => quotes.sort_by_key(|q| (money(q), date(q), names(q))),
        Sort::Delivery => quotes.sort_by_key(|q| (date(q), transit(q), money(q), names(q))),
    }
    RatesAnswer { quotes, carriers }
}

#[cfg(test)]
mod tests;
