//! UPS Rating API (`v2409`), CARRIERS.md §1.2: one `Shoptimeintransit` call rates every
//! service with transit times.
//!
//! `POST /api/rating/v2409/Shoptimeintransit`, headers `transId` (≤32) and
//! `transactionSrc: waypost`. Every scalar in the body is a JSON string. Units follow
//! the origin: LBS/IN from the US and Puerto Rico, KGS/CM elsewhere. Weights are
//! rounded up to 0.1, dimensions to 0.01.

use super::super::carrier::{
    BuildError, CarrierContext, CarrierError, CarrierHttpRequest, header_token,
};
use super::super::quote::{Quote, ServiceLevel};
use super::super::request::{Address, RateRequest};
use super::super::units::{UnitSystem, decimal_text, round_up, sides_in, weight_in};
use super::wire::{
    DecimalText, OneOrMany, ServiceTable, count, describe_service, iso_date, join_errors,
    parse_body, parse_error,
};
use serde::Deserialize;
use serde_json::{Value, json};

pub const RATING_VERSION: &str = "v2409";
pub const REQUEST_OPTION: &str = "Shoptimeintransit";
pub const TRANSACTION_SRC: &str = "waypost";

/// (code, name, level) of UPS services (spec service codes).
const SERVICES: &ServiceTable = &[
    ("01", "UPS Next Day Air", ServiceLevel::Overnight),
    ("02", "UPS 2nd Day Air", ServiceLevel::TwoDay),
    ("03", "UPS Ground", ServiceLevel::Ground),
    ("07", "UPS Worldwide Express", ServiceLevel::Express),
    ("08", "UPS Worldwide Expedited", ServiceLevel::Economy),
    ("11", "UPS Standard", ServiceLevel::Ground),
    ("12", "UPS 3 Day Select", ServiceLevel::ThreeDay),
    ("13", "UPS Next Day Air Saver", ServiceLevel::Overnight),
    ("14", "UPS Next Day Air Early", ServiceLevel::Overnight),
    ("54", "UPS Worldwide Express Plus", ServiceLevel::Express),
    ("59", "UPS 2nd Day Air A.M.", ServiceLevel::TwoDay),
    ("65", "UPS Worldwide Saver", ServiceLevel::Express),
    (
        "71",
        "UPS Worldwide Express Freight Midday",
        ServiceLevel::Express,
    ),
    ("75", "UPS Heavy Goods", ServiceLevel::Other),
    ("96", "UPS Worldwide Express Freight", ServiceLevel::Express),
];

pub fn build_request(
    request: &RateRequest,
    ctx: &CarrierContext,
) -> Result<CarrierHttpRequest, BuildError> {
    let system = UnitSystem::for_origin(&request.origin.country);
    let (weight_unit, length_unit) = (system.weight_unit(), system.length_unit());
    let (weight_code, length_code) = match system {
        UnitSystem::Imperial => ("LBS", "IN"),
        UnitSystem::Metric => ("KGS", "CM"),
    };
    let mut total_weight = 0.0;
    let packages: Vec<Value> = request
        .parcels
        .iter()
        .map(|p| {
            let weight = round_up(weight_in(&p.weight, weight_unit), 1);
            total_weight += weight;
            let [l, w, h] = sides_in(&p.dimensions, length_unit);
            json!({
                "PackagingType": { "Code": "02" },
                "Dimensions": {
                    "UnitOfMeasurement": { "Code": length_code },
                    "Length": decimal_text(l, 2),
                    "Width": decimal_text(w, 2),
                    "Height": decimal_text(h, 2),
                },
                "PackageWeight": {
                    "UnitOfMeasurement": { "Code": weight_code },
                    "Weight": decimal_text(weight, 1),
                },
            })
        })
        .collect();

    let mut shipper = json!({ "Name": "Shipper", "Address": address(&request.origin, false) });
    if let Some(account) = &ctx.account_number {
        shipper["ShipperNumber"] = json!(account);
    }
    let mut shipment = json!({
        "Shipper": shipper,
        "ShipTo": { "Name": "Recipient", "Address": address(&request.destination, true) },
        "ShipFrom": { "Name": "Shipper", "Address": address(&request.origin, false) },
        "NumOfPieces": request.parcels.len().to_string(),
        "ShipmentTotalWeight": {
            "UnitOfMeasurement": { "Code": weight_code },
            "Weight": decimal_text(total_weight, 1),
        },
        "DeliveryTimeInformation": {
            "PackageBillType": "03",
            "Pickup": { "Date": request.ship_date.replace('-', "") },
        },
        "Package": packages,
    });
    if let Some(account) = &ctx.account_number {
        shipment["PaymentDetails"] = json!({
            "ShipmentCharge": [{ "Type": "01", "BillShipper": { "AccountNumber": account } }],
        });
        shipment["ShipmentRatingOptions"] = json!({ "NegotiatedRatesIndicator": "Y" });
    }
    let body = json!({
        "RateRequest": {
            "Request": { "TransactionReference": { "CustomerContext": ctx.transaction_id } },
            "Shipment": shipment,
        }
    });
    let trans_id = match header_token(&ctx.transaction_id, 32) {
        t if t.is_empty() => TRANSACTION_SRC.to_string(),
        t => t,
    };
    Ok(CarrierHttpRequest::post_json(
        format!("/api/rating/{RATING_VERSION}/{REQUEST_OPTION}"),
        body,
    )
    .with_header("transId", trans_id)
    .with_header("transactionSrc", TRANSACTION_SRC))
}

fn address(a: &Address, ship_to: bool) -> Value {
    let mut v = json!({
        "AddressLine": a.address_lines,
        "City": a.city,
        "PostalCode": a.postal_code,
        "CountryCode": a.country,
    });
    if let Some(state) = &a.state {
        v["StateProvinceCode"] = json!(state);
    }
    if ship_to && a.residential == Some(true) {
        v["ResidentialAddressIndicator"] = json!("Y");
    }
    v
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Envelope {
    rate_response: RateResponse,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RateResponse {
    #[serde(default)]
    rated_shipment: OneOrMany<RatedShipment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RatedShipment {
    service: CodeDescription,
    total_charges: Option<Charge>,
    negotiated_rate_charges: Option<NegotiatedRateCharges>,
    guaranteed_delivery: Option<GuaranteedDelivery>,
    time_in_transit: Option<TimeInTransit>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CodeDescription {
    code: String,
    description: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Charge {
    currency_code: String,
    monetary_value: DecimalText,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NegotiatedRateCharges {
    total_charge: Option<Charge>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GuaranteedDelivery {
    business_days_in_transit: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TimeInTransit {
    service_summary: Option<ServiceSummary>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ServiceSummary {
    estimated_arrival: Option<EstimatedArrival>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EstimatedArrival {
    arrival: Option<Arrival>,
    business_days_in_transit: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Arrival {
    date: Option<String>,
}

/// `{"response": {"errors": [{"code", "message"}]}}`
#[derive(Deserialize)]
struct ErrorEnvelope {
    response: ErrorList,
}

#[derive(Deserialize)]
struct ErrorList {
    #[serde(default)]
    errors: OneOrMany<ErrorItem>,
}

#[derive(Deserialize)]
pub(super) struct ErrorItem {
    code: Option<String>,
    message: Option<String>,
}

/// The message of a UPS error body (also the OAuth endpoint's).
pub(super) fn error_message(body: &[u8]) -> Option<String> {
    let e: ErrorEnvelope = parse_error(body)?;
    join_errors(
        e.response
            .errors
            .0
            .iter()
            .map(|i| (i.code.as_deref(), i.message.as_deref())),
    )
}

/// The quotes in a 2xx answer.
pub fn parse_quotes(
    _request: &RateRequest,
    ctx: &CarrierContext,
    body: &[u8],
) -> Result<Vec<Quote>, CarrierError> {
    let envelope: Envelope = parse_body(body)?;
    let shipments = envelope.rate_response.rated_shipment.0;
    let seen = shipments.len();
    let quotes: Vec<Quote> = shipments
        .into_iter()
        .filter_map(|s| quote(ctx, s))
        .collect();
    super::unreadable_if_all_dropped(seen, quotes)
}

fn quote(ctx: &CarrierContext, s: RatedShipment) -> Option<Quote> {
    // Negotiated (account) rates when UPS gives them, else the published total.
    let charge = s
        .negotiated_rate_charges
        .and_then(|n| n.total_charge)
        .or(s.total_charges)?;
    let price = charge.monetary_value.money(&charge.currency_code)?;
    let (name, level) = describe_service(
        SERVICES,
        &s.service.code,
        s.service.description.as_deref(),
        "UPS",
    );
    let arrival = s
        .time_in_transit
        .and_then(|t| t.service_summary)
        .and_then(|s| s.estimated_arrival);
    let transit_days = arrival
        .as_ref()
        .and_then(|a| count(&a.business_days_in_transit))
        .or_else(|| {
            s.guaranteed_delivery
                .as_ref()
                .and_then(|g| count(&g.business_days_in_transit))
        });
    let estimated_delivery_date = arrival
        .and_then(|a| a.arrival)
        .and_then(|a| a.date)
        .and_then(|d| iso_date(&d));
    Some(Quote {
        carrier: ctx.carrier.clone(),
        service_level: level,
        service_code: s.service.code,
        service_name: name,
        price,
        transit_days,
        estimated_delivery_date,
    })
}
