//! DHL Express MyDHL API rates, CARRIERS.md §3.1: the multi-piece `POST /rates`, which
//! takes every parcel in one call.
//!
//! `POST /rates` (relative to the MyDHL base, e.g. `.../mydhlapi`), header
//! `Message-Reference` when the request id fits DHL's 28–36 characters. One unit
//! system for the shipment (`metric` kg/cm, or `imperial` lb/in from the US and
//! Puerto Rico); weights rounded up to 0.001, dimensions up to whole units. An account
//! number is required.

use super::super::carrier::{
    BuildError, CarrierContext, CarrierError, CarrierHttpRequest, header_token,
};
use super::super::quote::{Quote, ServiceLevel};
use super::super::request::{Address, RateRequest};
use super::super::units::{UnitSystem, json_number, sides_in, weight_in};
use super::wire::{
    DecimalText, ServiceTable, count, describe_service, iso_date, parse_body, parse_error,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// Local time of day sent with the ship date (DHL wants a date-time).
pub const PLANNED_TIME: &str = "T12:00:00GMT+00:00";

/// (productCode, name, level) of DHL Express products.
const PRODUCTS: &ServiceTable = &[
    ("N", "DHL Express Domestic", ServiceLevel::Overnight),
    ("1", "DHL Express Domestic 12:00", ServiceLevel::Overnight),
    ("I", "DHL Express Domestic 9:00", ServiceLevel::Overnight),
    ("P", "DHL Express Worldwide", ServiceLevel::Express),
    (
        "D",
        "DHL Express Worldwide (documents)",
        ServiceLevel::Express,
    ),
    ("U", "DHL Express Worldwide (EU)", ServiceLevel::Express),
    ("K", "DHL Express 9:00 (documents)", ServiceLevel::Express),
    ("E", "DHL Express 9:00", ServiceLevel::Express),
    ("T", "DHL Express 12:00 (documents)", ServiceLevel::Express),
    ("Y", "DHL Express 12:00", ServiceLevel::Express),
    ("8", "DHL Express Easy", ServiceLevel::Express),
    ("W", "DHL Economy Select", ServiceLevel::Economy),
    ("H", "DHL Economy Select", ServiceLevel::Economy),
    ("G", "DHL Domestic Economy Select", ServiceLevel::Economy),
];

/// EU member states: shipments between them are not customs-declarable.
const EU: [&str; 27] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IT",
    "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK",
];

fn customs_declarable(request: &RateRequest) -> bool {
    let (from, to) = (
        request.origin.country.as_str(),
        request.destination.country.as_str(),
    );
    from != to && !(EU.contains(&from) && EU.contains(&to))
}

pub fn build_request(
    request: &RateRequest,
    ctx: &CarrierContext,
) -> Result<CarrierHttpRequest, BuildError> {
    let account = ctx
        .account_number
        .as_deref()
        .ok_or(BuildError::MissingAccountNumber)?;
    let system = UnitSystem::for_origin(&request.origin.country);
    let packages: Vec<Value> = request
        .parcels
        .iter()
        .map(|p| {
            let [l, w, h] = sides_in(&p.dimensions, system.length_unit());
            json!({
                "weight": json_number(weight_in(&p.weight, system.weight_unit()), 3),
                "dimensions": {
                    "length": json_number(l, 0),
                    "width": json_number(w, 0),
                    "height": json_number(h, 0),
                },
            })
        })
        .collect();
    let body = json!({
        "customerDetails": {
            "shipperDetails": address(&request.origin),
            "receiverDetails": address(&request.destination),
        },
        "accounts": [{ "typeCode": "shipper", "number": account }],
        "plannedShippingDateAndTime": format!("{}{PLANNED_TIME}", request.ship_date),
        "unitOfMeasurement": match system {
            UnitSystem::Metric => "metric",
            UnitSystem::Imperial => "imperial",
        },
        "isCustomsDeclarable": customs_declarable(request),
        "nextBusinessDay": true,
        "estimatedDeliveryDate": { "isRequested": true, "typeCode": "QDDC" },
        "packages": packages,
    });
    let call = CarrierHttpRequest::post_json("/rates", body);
    let reference = header_token(&ctx.transaction_id, 36);
    Ok(if reference.len() >= 28 {
        call.with_header("Message-Reference", reference)
    } else {
        call
    })
}

fn address(a: &Address) -> Value {
    let mut v = json!({
        "postalCode": a.postal_code,
        "cityName": a.city,
        "countryCode": a.country,
    });
    if let Some(state) = a.state.as_ref().filter(|s| s.len() >= 2) {
        v["provinceCode"] = json!(state);
    }
    for (i, line) in a.address_lines.iter().enumerate() {
        v[format!("addressLine{}", i + 1)] = json!(line);
    }
    v
}

#[derive(Deserialize)]
struct Rates {
    #[serde(default)]
    products: Vec<Product>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Product {
    product_name: Option<String>,
    product_code: Option<String>,
    #[serde(default)]
    total_price: Vec<TotalPrice>,
    delivery_capabilities: Option<DeliveryCapabilities>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TotalPrice {
    currency_type: Option<String>,
    price_currency: Option<String>,
    price: Option<DecimalText>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DeliveryCapabilities {
    estimated_delivery_date_and_time: Option<String>,
    total_transit_days: Option<Value>,
}

/// `{instance, detail, title, message, status: "400", additionalDetails[]}`
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Problem {
    title: Option<String>,
    detail: Option<String>,
    message: Option<String>,
    #[serde(default)]
    additional_details: Vec<Value>,
}

/// The message of a MyDHL error body: title, detail, then additional details.
pub(super) fn error_message(body: &[u8]) -> Option<String> {
    let p: Problem = parse_error(body)?;
    let mut parts: Vec<String> = [p.title, p.detail.or(p.message)]
        .into_iter()
        .flatten()
        .filter(|s| !s.trim().is_empty())
        .collect();
    parts.extend(p.additional_details.iter().filter_map(|d| match d {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }));
    (!parts.is_empty()).then(|| parts.join(": "))
}

/// The quotes in a 2xx answer.
pub fn parse_quotes(
    request: &RateRequest,
    ctx: &CarrierContext,
    body: &[u8],
) -> Result<Vec<Quote>, CarrierError> {
    let rates: Rates = parse_body(body)?;
    // DHL lists products it cannot price with a price of 0 ("Price can't be
    // calculated" in `warnings`): those are no quotes, and no sign of a bad answer.
    let seen = rates.products.iter().filter(|p| !unpriced(p)).count();
    let quotes: Vec<Quote> = rates
        .products
        .into_iter()
        .filter_map(|p| quote(request, ctx, p))
        .collect();
    super::unreadable_if_all_dropped(seen, quotes)
}

fn unpriced(p: &Product) -> bool {
    !p.total_price.is_empty()
        && p.total_price.iter().all(|t| {
            t.price
                .as_ref()
                .is_some_and(|d| d.money("USD").is_some_and(|m| m.amount_minor == 0))
        })
}

fn quote(request: &RateRequest, ctx: &CarrierContext, p: Product) -> Option<Quote> {
    // The requested currency if DHL quotes it, else the billing currency (BILLC).
    let price = p
        .total_price
        .iter()
        .filter_map(|t| {
            let currency = t.price_currency.as_deref()?;
            let money = t.price.as_ref()?.money(currency)?;
            let billing = t.currency_type.as_deref() == Some("BILLC");
            Some(((money.currency != request.currency, !billing), money))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, money)| money)?;
    if price.amount_minor <= 0 {
        return None;
    }
    let code = p.product_code?;
    let (name, level) = describe_service(PRODUCTS, &code, p.product_name.as_deref(), "DHL");
    let capabilities = p.delivery_capabilities;
    Some(Quote {
        carrier: ctx.carrier.clone(),
        service_level: level,
        service_code: code,
        service_name: name,
        price,
        transit_days: capabilities
            .as_ref()
            .and_then(|c| count(&c.total_transit_days)),
        estimated_delivery_date: capabilities
            .and_then(|c| c.estimated_delivery_date_and_time)
            .and_then(|d| iso_date(&d)),
    })
}
