//! USPS Domestic Prices API (`/prices/v3`), CARRIERS.md §4.2: `total-rates/search`
//! prices several mail classes for one package in one call.
//!
//! `POST /prices/v3/total-rates/search`. Pounds and inches (weights rounded up to
//! 0.01 lb, sides to 0.1 in, the longest side sent as `length` as USPS requires).
//! Domestic only (US and its territories), one parcel per request. Prices are USD
//! (USPS sends no currency) and come without transit times. With an all-digit
//! account number the call asks for `COMMERCIAL` prices of that EPS account,
//! otherwise `RETAIL`.

use super::super::carrier::{BuildError, CarrierContext, CarrierError, CarrierHttpRequest};
use super::super::quote::{Quote, ServiceLevel};
use super::super::request::{LengthUnit, RateRequest, WeightUnit};
use super::super::units::{json_number, sides_in, weight_in};
use super::wire::{
    DecimalText, ServiceTable, describe_service, join_errors, parse_body, parse_error,
};
use serde::Deserialize;
use serde_json::json;
use std::collections::BTreeMap;

/// The mail classes asked for.
pub const MAIL_CLASSES: [&str; 3] = [
    "USPS_GROUND_ADVANTAGE",
    "PRIORITY_MAIL",
    "PRIORITY_MAIL_EXPRESS",
];

/// Rate indicators that price a parcel by its weight and size (single piece,
/// dimensional rectangular / nonrectangular). Flat-rate and cubic options need USPS
/// packaging or contracts and are left out.
const PARCEL_RATE_INDICATORS: [&str; 3] = ["SP", "DR", "DN"];

/// Where USPS domestic prices apply: the US and its territories and freely
/// associated states (they have ZIP codes).
const DOMESTIC: [&str; 10] = ["US", "PR", "VI", "GU", "AS", "MP", "UM", "FM", "MH", "PW"];

const SERVICES: &ServiceTable = &[
    (
        "USPS_GROUND_ADVANTAGE",
        "USPS Ground Advantage",
        ServiceLevel::Ground,
    ),
    ("PRIORITY_MAIL", "Priority Mail", ServiceLevel::TwoDay),
    (
        "PRIORITY_MAIL_EXPRESS",
        "Priority Mail Express",
        ServiceLevel::Overnight,
    ),
    ("PARCEL_SELECT", "Parcel Select", ServiceLevel::Ground),
    ("MEDIA_MAIL", "Media Mail", ServiceLevel::Economy),
    ("LIBRARY_MAIL", "Library Mail", ServiceLevel::Economy),
    (
        "BOUND_PRINTED_MATTER",
        "Bound Printed Matter",
        ServiceLevel::Economy,
    ),
];

fn zip(postal_code: &str) -> Option<&str> {
    let five = postal_code.get(..5)?;
    let rest = &postal_code[5..];
    let ok = five.bytes().all(|b| b.is_ascii_digit())
        && (rest.is_empty()
            || (rest.len() == 5
                && matches!(rest.as_bytes()[0], b'-' | b' ')
                && rest[1..].bytes().all(|b| b.is_ascii_digit())));
    ok.then_some(five)
}

pub fn build_request(
    request: &RateRequest,
    ctx: &CarrierContext,
) -> Result<CarrierHttpRequest, BuildError> {
    for a in [&request.origin, &request.destination] {
        if !DOMESTIC.contains(&a.country.as_str()) {
            return Err(BuildError::Unsupported(
                "USPS domestic prices cover US addresses only".to_string(),
            ));
        }
    }
    let [parcel] = request.parcels.as_slice() else {
        return Err(BuildError::Unsupported(
            "USPS prices one parcel per request".to_string(),
        ));
    };
    let (Some(origin), Some(destination)) = (
        zip(&request.origin.postal_code),
        zip(&request.destination.postal_code),
    ) else {
        return Err(BuildError::Unsupported(
            "USPS needs 5-digit ZIP codes".to_string(),
        ));
    };
    let mut sides = sides_in(&parcel.dimensions, LengthUnit::In);
    sides.sort_by(|a, b| b.total_cmp(a));
    let [length, width, height] = sides;
    let mut body = json!({
        "originZIPCode": origin,
        "destinationZIPCode": destination,
        "weight": json_number(weight_in(&parcel.weight, WeightUnit::Lb), 2),
        "length": json_number(length, 1),
        "width": json_number(width, 1),
        "height": json_number(height, 1),
        "mailClasses": MAIL_CLASSES,
        "priceType": "RETAIL",
        "mailingDate": request.ship_date,
    });
    if let Some(account) = ctx
        .account_number
        .as_deref()
        .filter(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
    {
        body["priceType"] = json!("COMMERCIAL");
        body["accountType"] = json!("EPS");
        body["accountNumber"] = json!(account);
    }
    Ok(CarrierHttpRequest::post_json(
        "/prices/v3/total-rates/search",
        body,
    ))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TotalRates {
    #[serde(default)]
    rate_options: Vec<RateOption>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateOption {
    total_base_price: Option<DecimalText>,
    total_price: Option<DecimalText>,
    #[serde(default)]
    rates: Vec<Rate>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rate {
    mail_class: Option<String>,
    product_name: Option<String>,
    description: Option<String>,
    rate_indicator: Option<String>,
}

/// `{apiVersion, error: {code, message, errors: [{status, code, title, detail}]}}`,
/// or the OAuth endpoint's `{error, error_description}`.
#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
    error_description: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum ErrorBody {
    Detailed {
        code: Option<String>,
        message: Option<String>,
        #[serde(default)]
        errors: Vec<ErrorItem>,
    },
    Code(String),
}

#[derive(Deserialize)]
struct ErrorItem {
    code: Option<String>,
    title: Option<String>,
    detail: Option<String>,
}

/// The message of a USPS error body.
pub(super) fn error_message(body: &[u8]) -> Option<String> {
    let e: ErrorEnvelope = parse_error(body)?;
    match e.error {
        ErrorBody::Detailed {
            code,
            message,
            errors,
        } => {
            let head = join_errors([(code.as_deref(), message.as_deref())]);
            // Details that only repeat the message add nothing.
            let details = join_errors(
                errors
                    .iter()
                    .map(|i| {
                        (
                            i.code.as_deref(),
                            i.detail.as_deref().or(i.title.as_deref()),
                        )
                    })
                    .filter(|(_, text)| *text != message.as_deref()),
            );
            match (head, details) {
                (Some(h), Some(d)) => Some(format!("{h} ({d})")),
                (h, d) => h.or(d),
            }
        }
        ErrorBody::Code(code) => {
            join_errors([(Some(code.as_str()), e.error_description.as_deref())])
        }
    }
}

/// The quotes in a 2xx answer.
pub fn parse_quotes(
    _request: &RateRequest,
    ctx: &CarrierContext,
    body: &[u8],
) -> Result<Vec<Quote>, CarrierError> {
    let rates: TotalRates = parse_body(body)?;
    // The cheapest parcel-priced option of each mail class.
    let mut best: BTreeMap<String, Quote> = BTreeMap::new();
    let mut seen = 0;
    for option in rates.rate_options {
        let Some(first) = option.rates.first() else {
            continue;
        };
        let parcel_priced = first
            .rate_indicator
            .as_deref()
            .is_none_or(|r| PARCEL_RATE_INDICATORS.contains(&r));
        let Some(mail_class) = first.mail_class.clone().filter(|_| parcel_priced) else {
            continue;
        };
        seen += 1;
        let Some(price) = option
            .total_price
            .as_ref()
            .or(option.total_base_price.as_ref())
            .and_then(|p| p.money("USD"))
        else {
            continue;
        };
        if best
            .get(&mail_class)
            .is_some_and(|q| q.price.amount_minor <= price.amount_minor)
        {
            continue;
        }
        let given = first
            .product_name
            .as_deref()
            .or(first.description.as_deref());
        let (name, level) = describe_service(SERVICES, &mail_class, given, "USPS");
        best.insert(
            mail_class.clone(),
            Quote {
                carrier: ctx.carrier.clone(),
                service_code: mail_class,
                service_name: name,
                service_level: level,
                price,
                transit_days: None,
                estimated_delivery_date: None,
            },
        );
    }
    super::unreadable_if_all_dropped(seen, best.into_values().collect())
}
