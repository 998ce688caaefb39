//! FedEx Rate and Transit Times API (`/rate/v1`), CARRIERS.md §2.2: one call rates
//! every service (no `serviceType`) with transit times.
//!
//! `POST /rate/v1/rates/quotes`, headers `x-customer-transaction-id` and
//! `x-locale: en_US`. Units follow the origin: LB/IN from the US and Puerto Rico,
//! KG/CM elsewhere; weights rounded up to 0.1, dimensions up to whole units (FedEx
//! takes integers). An account number is required.

use super::super::carrier::{
    BuildError, CarrierContext, CarrierError, CarrierHttpRequest, header_token,
};
use super::super::quote::{Quote, ServiceLevel};
use super::super::request::{Address, RateRequest};
use super::super::units::{UnitSystem, json_number, sides_in, weight_in};
use super::wire::{
    DecimalText, ServiceTable, describe_service, iso_date, join_errors, parse_body, parse_error,
    word_days,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// (serviceType, name, level) of FedEx services (spec service types).
const SERVICES: &ServiceTable = &[
    (
        "FIRST_OVERNIGHT",
        "FedEx First Overnight",
        ServiceLevel::Overnight,
    ),
    (
        "PRIORITY_OVERNIGHT",
        "FedEx Priority Overnight",
        ServiceLevel::Overnight,
    ),
    (
        "STANDARD_OVERNIGHT",
        "FedEx Standard Overnight",
        ServiceLevel::Overnight,
    ),
    ("FEDEX_2_DAY_AM", "FedEx 2Day A.M.", ServiceLevel::TwoDay),
    ("FEDEX_2_DAY", "FedEx 2Day", ServiceLevel::TwoDay),
    (
        "FEDEX_EXPRESS_SAVER",
        "FedEx Express Saver",
        ServiceLevel::ThreeDay,
    ),
    ("FEDEX_GROUND", "FedEx Ground", ServiceLevel::Ground),
    (
        "GROUND_HOME_DELIVERY",
        "FedEx Home Delivery",
        ServiceLevel::Ground,
    ),
    ("SMART_POST", "FedEx Ground Economy", ServiceLevel::Economy),
    ("FEDEX_PRIORITY", "FedEx Priority", ServiceLevel::Express),
    (
        "INTERNATIONAL_FIRST",
        "FedEx International First",
        ServiceLevel::Express,
    ),
    (
        "INTERNATIONAL_PRIORITY",
        "FedEx International Priority",
        ServiceLevel::Express,
    ),
    (
        "FEDEX_INTERNATIONAL_PRIORITY",
        "FedEx International Priority",
        ServiceLevel::Express,
    ),
    (
        "INTERNATIONAL_ECONOMY",
        "FedEx International Economy",
        ServiceLevel::Economy,
    ),
    (
        "FEDEX_INTERNATIONAL_CONNECT_PLUS",
        "FedEx International Connect Plus",
        ServiceLevel::Economy,
    ),
];

pub fn build_request(
    request: &RateRequest,
    ctx: &CarrierContext,
) -> Result<CarrierHttpRequest, BuildError> {
    let account = ctx
        .account_number
        .as_deref()
        .ok_or(BuildError::MissingAccountNumber)?;
    let system = UnitSystem::for_origin(&request.origin.country);
    let (weight_unit, length_unit) = (system.weight_unit(), system.length_unit());
    let (weight_code, length_code) = match system {
        UnitSystem::Imperial => ("LB", "IN"),
        UnitSystem::Metric => ("KG", "CM"),
    };
    let items: Vec<Value> = request
        .parcels
        .iter()
        .map(|p| {
            let [l, w, h] = sides_in(&p.dimensions, length_unit);
            json!({
                "weight": {
                    "units": weight_code,
                    "value": json_number(weight_in(&p.weight, weight_unit), 1),
                },
                "dimensions": {
                    "length": json_number(l, 0),
                    "width": json_number(w, 0),
                    "height": json_number(h, 0),
                    "units": length_code,
                },
            })
        })
        .collect();
    let body = json!({
        "accountNumber": { "value": account },
        "rateRequestControlParameters": { "returnTransitTimes": true },
        "requestedShipment": {
            "shipper": { "address": address(&request.origin) },
            "recipient": { "address": address(&request.destination) },
            "pickupType": "DROPOFF_AT_FEDEX_LOCATION",
            "packagingType": "YOUR_PACKAGING",
            "preferredCurrency": request.currency,
            "rateRequestType": ["ACCOUNT", "LIST"],
            "shipDateStamp": request.ship_date,
            "totalPackageCount": request.parcels.len(),
            "requestedPackageLineItems": items,
        },
    });
    let call = CarrierHttpRequest::post_json("/rate/v1/rates/quotes", body)
        .with_header("x-locale", "en_US");
    let transaction = header_token(&ctx.transaction_id, 64);
    Ok(if transaction.is_empty() {
        call
    } else {
        call.with_header("x-customer-transaction-id", transaction)
    })
}

fn address(a: &Address) -> Value {
    let mut v = json!({
        "postalCode": a.postal_code,
        "countryCode": a.country,
        "city": a.city,
    });
    if !a.address_lines.is_empty() {
        v["streetLines"] = json!(a.address_lines);
    }
    if let Some(state) = &a.state {
        v["stateOrProvinceCode"] = json!(state);
    }
    if let Some(residential) = a.residential {
        v["residential"] = json!(residential);
    }
    v
}

#[derive(Deserialize)]
struct Envelope {
    output: Output,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Output {
    #[serde(default)]
    rate_reply_details: Vec<RateReplyDetail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RateReplyDetail {
    service_type: String,
    service_name: Option<String>,
    #[serde(default)]
    rated_shipment_details: Vec<RatedShipmentDetail>,
    commit: Option<Commit>,
    operational_detail: Option<OperationalDetail>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RatedShipmentDetail {
    rate_type: Option<String>,
    total_net_charge: Option<DecimalText>,
    currency: Option<String>,
    shipment_rate_detail: Option<ShipmentRateDetail>,
}

#[derive(Deserialize)]
struct ShipmentRateDetail {
    currency: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Commit {
    date_detail: Option<DateDetail>,
    transit_days: Option<TransitDays>,
    days_in_transit: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DateDetail {
    day_format: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TransitDays {
    minimum_transit_time: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OperationalDetail {
    delivery_date: Option<String>,
    transit_time: Option<String>,
}

/// `{"transactionId", "errors": [{"code", "message"}]}`
#[derive(Deserialize)]
struct ErrorEnvelope {
    #[serde(default)]
    errors: Vec<ErrorItem>,
}

#[derive(Deserialize)]
struct ErrorItem {
    code: Option<String>,
    message: Option<String>,
}

/// The message of a FedEx error body.
pub(super) fn error_message(body: &[u8]) -> Option<String> {
    let e: ErrorEnvelope = parse_error(body)?;
    join_errors(
        e.errors
            .iter()
            .map(|i| (i.code.as_deref(), i.message.as_deref())),
    )
}

/// The quotes in a 2xx answer.
pub fn parse_quotes(
    request: &RateRequest,
    ctx: &CarrierContext,
    body: &[u8],
) -> Result<Vec<Quote>, CarrierError> {
    let envelope: Envelope = parse_body(body)?;
    let details = envelope.output.rate_reply_details;
    let seen = details.len();
    let quotes: Vec<Quote> = details
        .into_iter()
        .filter_map(|d| quote(request, ctx, d))
        .collect();
    super::unreadable_if_all_dropped(seen, quotes)
}

fn quote(request: &RateRequest, ctx: &CarrierContext, d: RateReplyDetail) -> Option<Quote> {
    // Account rates before list rates; among them the requested currency first.
    let priced = d
        .rated_shipment_details
        .iter()
        .filter_map(|r| {
            let currency = r
                .shipment_rate_detail
                .as_ref()
                .and_then(|s| s.currency.as_deref())
                .or(r.currency.as_deref())?;
            let price = r.total_net_charge.as_ref()?.money(currency)?;
            let list = r.rate_type.as_deref().is_some_and(|t| t.contains("LIST"));
            Some(((list, price.currency != request.currency), price))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, price)| price)?;
    let (name, level) = describe_service(
        SERVICES,
        &d.service_type,
        d.service_name.as_deref(),
        "FedEx",
    );
    let transit_days = d
        .commit
        .as_ref()
        .and_then(|c| {
            c.transit_days
                .as_ref()
                .and_then(|t| t.minimum_transit_time.as_deref())
                .or(c.days_in_transit.as_deref())
        })
        .or_else(|| d.operational_detail.as_ref()?.transit_time.as_deref())
        .and_then(word_days);
    let estimated_delivery_date = d
        .commit
        .as_ref()
        .and_then(|c| c.date_detail.as_ref()?.day_format.as_deref())
        .or_else(|| d.operational_detail.as_ref()?.delivery_date.as_deref())
        .and_then(iso_date);
    Some(Quote {
        carrier: ctx.carrier.clone(),
        service_level: level,
        service_code: d.service_type,
        service_name: name,
        price: priced,
        transit_days,
        estimated_delivery_date,
    })
}
