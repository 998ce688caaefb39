//! The simulated DHL Express: MyDHL rates (`GET /rates` with a query, `POST /rates` with
//! JSON; HTTP Basic, no token step) and Shipment Tracking – Unified
//! (`GET /track/shipments`, `DHL-API-Key`). MyDHL errors are `application/problem+json`
//! with a string `status`; tracking errors carry a numeric one.

use super::call::Call;
use super::credentials;
use super::dates;
use super::failure::{ErrorShape, Failure, Kind};
use super::fields::{self, list, need_bool, need_positive, need_text, text};
use super::pricing::{self, Days, KG_PER_LB, Lane, Place, Tariff};
use super::tracking::{self, Scan, Site, Stage};
use super::{Carrier, CarrierApi, Route};
use serde_json::{Value, json};
use time::Date;

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
        match (
            express_path(path).trim_end_matches('/'),
            path.trim_end_matches('/'),
        ) {
            ("/rates", _) if is("GET") => Route::Found(Endpoint::RatesQuery),
            ("/rates", _) if is("POST") => Route::Found(Endpoint::RatesBody),
            ("/rates", _) => Route::WrongMethod("GET, POST"),
            (_, "/track/shipments") if is("GET") => Route::Found(Endpoint::Track),
            (_, "/track/shipments") => Route::WrongMethod("GET"),
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
            Endpoint::RatesQuery => {
                credentials::require_basic(call, REALM)?;
                rates(&query_request(call)?)
            }
            Endpoint::RatesBody => {
                credentials::require_basic(call, REALM)?;
                rates(&body_request(&call.json()?)?)
            }
            Endpoint::Track => track(call),
        }
    }
}

// -------------------------------------------------------------------------- Rates

/// A rate request, from the query or the body.
struct RateRequest {
    lane: Lane,
    origin_city: String,
    destination_city: String,
    metric: bool,
    /// Each piece's weight and dimensions, in the request's unit.
    pieces: Vec<(f64, [f64; 3])>,
    date: Date,
    customs_declarable: bool,
    product: Option<String>,
}

const QUERY_REQUIRED: &[&str] = &[
    "accountNumber",
    "originCountryCode",
    "originCityName",
    "destinationCountryCode",
    "destinationCityName",
    "weight",
    "length",
    "width",
    "height",
    "plannedShippingDate",
    "isCustomsDeclarable",
    "unitOfMeasurement",
];

fn query_request(call: &Call<'_>) -> Result<RateRequest, Failure> {
    let mut query = serde_json::Map::new();
    for name in QUERY_REQUIRED
        .iter()
        .chain(&["originPostalCode", "destinationPostalCode"])
    {
        if let Some(value) = call.query_param(name) {
            query.insert(name.to_string(), Value::String(value));
        }
    }
    let q = Value::Object(query);
    for name in QUERY_REQUIRED {
        need_text(&q, "", name)?;
    }
    let postal = |name| text(&q, name).unwrap_or_default();
    let country = |name| text(&q, name).unwrap_or_default();
    let dimensions = [
        need_positive(&q, "", "length")?,
        need_positive(&q, "", "width")?,
        need_positive(&q, "", "height")?,
    ];
    Ok(RateRequest {
        lane: Lane {
            origin: Place::new(&country("originCountryCode"), &postal("originPostalCode")),
            destination: Place::new(
                &country("destinationCountryCode"),
                &postal("destinationPostalCode"),
            ),
        },
        origin_city: need_text(&q, "", "originCityName")?,
        destination_city: need_text(&q, "", "destinationCityName")?,
        metric: unit(&q, "unitOfMeasurement")?,
        pieces: vec![(need_positive(&q, "", "weight")?, dimensions)],
        date: date(&q, "plannedShippingDate")?,
        customs_declarable: need_bool(&q, "", "isCustomsDeclarable")?,
        product: None,
    })
}

fn body_request(body: &Value) -> Result<RateRequest, Failure> {
    let party = |who: &str| -> Result<(Place, String), Failure> {
        let prefix = format!("customerDetails.{who}");
        let details = fields::get(body, &prefix).unwrap_or(&Value::Null);
        let country = need_text(details, &prefix, "countryCode")?;
        let postal = need_text(details, &prefix, "postalCode")?;
        let city = need_text(details, &prefix, "cityName")?;
        Ok((Place::new(&country, &postal), city))
    };
    let (origin, origin_city) = party("shipperDetails")?;
    let (destination, destination_city) = party("receiverDetails")?;
    need_text(body, "", "plannedShippingDateAndTime")?;
    let packages = list(body.get("packages"));
    if packages.is_empty() {
        return Err(Failure::missing("packages"));
    }
    let pieces = packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let prefix = format!("packages[{i}]");
            let dimension = |d: &str| need_positive(p, &prefix, &format!("dimensions.{d}"));
            Ok((
                need_positive(p, &prefix, "weight")?,
                [
                    dimension("length")?,
                    dimension("width")?,
                    dimension("height")?,
                ],
            ))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok(RateRequest {
        lane: Lane {
            origin,
            destination,
        },
        origin_city,
        destination_city,
        metric: unit(body, "unitOfMeasurement")?,
        pieces,
        date: date(body, "plannedShippingDateAndTime")?,
        customs_declarable: need_bool(body, "", "isCustomsDeclarable")?,
        product: text(body, "productCode"),
    })
}

/// `metric` (kg, cm) → true, `imperial` (lb, in) → false.
fn unit(v: &Value, field: &str) -> Result<bool, Failure> {
    match need_text(v, "", field)?.to_ascii_lowercase().as_str() {
        "metric" => Ok(true),
        "imperial" => Ok(false),
        _ => Err(Failure::invalid(
            field,
            format!("{field} must be metric or imperial."),
        )),
    }
}

fn date(v: &Value, field: &str) -> Result<Date, Failure> {
    let text = need_text(v, "", field)?;
    dates::parse_iso(&text).ok_or_else(|| {
        Failure::invalid(field, format!("{field} must start with a date YYYY-MM-DD."))
    })
}

struct Product {
    code: &'static str,
    name: &'static str,
    /// `TD` time definite, `DD` day definite.
    network: &'static str,
    tariff: Tariff,
    /// Delivery time `HH:MM:SS`.
    by: &'static str,
}

const fn product(
    code: &'static str,
    name: &'static str,
    network: &'static str,
    tariff: Tariff,
    by: &'static str,
) -> Product {
    Product {
        code,
        name,
        network,
        tariff,
        by,
    }
}

const DOMESTIC: &[Product] = &[
    product(
        "N",
        "EXPRESS DOMESTIC",
        "TD",
        Tariff::new(14.0, 2.5, Days::Fixed(1)),
        "23:59:00",
    ),
    product(
        "1",
        "EXPRESS DOMESTIC 12:00",
        "TD",
        Tariff::new(24.0, 3.0, Days::Fixed(1)),
        "12:00:00",
    ),
    product(
        "I",
        "EXPRESS DOMESTIC 9:00",
        "TD",
        Tariff::new(34.0, 3.5, Days::Fixed(1)),
        "09:00:00",
    ),
];

/// International documents (`isCustomsDeclarable: false`).
const DOCUMENTS: &[Product] = &[
    product(
        "D",
        "EXPRESS WORLDWIDE",
        "TD",
        Tariff::new(28.0, 6.0, Days::ByZone(1, 4)),
        "23:59:00",
    ),
    product(
        "T",
        "EXPRESS 12:00",
        "TD",
        Tariff::new(38.0, 6.5, Days::ByZone(1, 3)),
        "12:00:00",
    ),
    product(
        "K",
        "EXPRESS 9:00",
        "TD",
        Tariff::new(52.0, 7.0, Days::ByZone(1, 3)),
        "09:00:00",
    ),
];

/// International goods.
const GOODS: &[Product] = &[
    product(
        "P",
        "EXPRESS WORLDWIDE",
        "TD",
        Tariff::new(32.0, 7.0, Days::ByZone(1, 4)),
        "23:59:00",
    ),
    product(
        "Y",
        "EXPRESS 12:00",
        "TD",
        Tariff::new(42.0, 7.5, Days::ByZone(1, 3)),
        "12:00:00",
    ),
    product(
        "E",
        "EXPRESS 9:00",
        "TD",
        Tariff::new(56.0, 8.0, Days::ByZone(1, 3)),
        "09:00:00",
    ),
    product(
        "H",
        "ECONOMY SELECT",
        "DD",
        Tariff::new(20.0, 4.0, Days::ByZone(3, 6)),
        "23:59:00",
    ),
];

fn rates(request: &RateRequest) -> Result<Value, Failure> {
    let offered = match (request.lane.is_domestic(), request.customs_declarable) {
        (true, _) => DOMESTIC,
        (false, false) => DOCUMENTS,
        (false, true) => GOODS,
    };
    let products: Vec<&Product> = match &request.product {
        None => offered.iter().collect(),
        Some(code) => vec![offered.iter().find(|p| p.code == code).ok_or_else(|| {
            Failure::no_service(format!(
                "Product {code} is not available for the requested shipment."
            ))
        })?],
    };
    Ok(json!({
        "products": products.iter().map(|p| product_json(request, p)).collect::<Vec<_>>(),
        "exchangeRates": [],
    }))
}

fn product_json(r: &RateRequest, p: &Product) -> Value {
    let provided: f64 = r.pieces.iter().map(|(w, _)| w).sum();
    let divisor = if r.metric { 5000.0 } else { 139.0 };
    let volumetric: f64 = r
        .pieces
        .iter()
        .map(|(_, [l, w, h])| l * w * h / divisor)
        .sum();
    let kg = if r.metric {
        provided
    } else {
        provided * KG_PER_LB
    };
    let price = pricing::price(Carrier::Dhl, p.code, &p.tariff, &r.lane, kg);
    let currency = pricing::currency(&r.lane.origin.country);
    let days = p.tariff.transit_days(r.lane.zone(Carrier::Dhl));
    let pickup = dates::business_day_from(r.date);
    let delivery = dates::add_business_days(pickup, days);
    let total = price.total().amount();
    let total_price =
        |kind: &str| json!({ "currencyType": kind, "priceCurrency": currency, "price": total });
    json!({
        "productName": p.name,
        "productCode": p.code,
        "localProductCode": p.code,
        "localProductCountryCode": r.lane.origin.country,
        "networkTypeCode": p.network,
        "isCustomerAgreement": false,
        "weight": {
            "volumetric": (volumetric * 1000.0).round() / 1000.0,
            "provided": provided,
            "unitOfMeasurement": if r.metric { "metric" } else { "imperial" },
        },
        "totalPrice": [total_price("BILLC"), total_price("PULCL"), total_price("BASEC")],
        "totalPriceBreakdown": [{
            "currencyType": "BILLC",
            "priceCurrency": currency,
            "priceBreakdown": [
                { "typeCode": "SPRQT", "price": price.base.amount() },
                { "typeCode": "STSCH", "price": price.fuel.amount() },
            ],
        }],
        "detailedPriceBreakdown": [{
            "currencyType": "BILLC",
            "priceCurrency": currency,
            "breakdown": [
                { "name": p.name, "price": price.base.amount(), "priceCurrency": currency },
                { "name": "FUEL SURCHARGE", "serviceCode": "FF", "price": price.fuel.amount(), "priceCurrency": currency },
            ],
        }],
        "pickupCapabilities": {
            "nextBusinessDay": pickup != r.date,
            "localCutoffDateAndTime": format!("{}T18:00:00", dates::iso(pickup)),
            "GMTCutoffTime": "18:00:00",
            "pickupEarliest": "09:00:00",
            "pickupLatest": "18:00:00",
            "originServiceAreaCode": area(&r.origin_city),
            "originFacilityAreaCode": area(&r.origin_city),
            "pickupAdditionalDays": 0,
            "pickupDayOfWeek": dates::day_number(pickup),
        },
        "deliveryCapabilities": {
            "deliveryTypeCode": "QDDC",
            "estimatedDeliveryDateAndTime": format!("{} {}", dates::iso(delivery), p.by),
            "destinationServiceAreaCode": area(&r.destination_city),
            "destinationFacilityAreaCode": area(&r.destination_city),
            "deliveryAdditionalDays": 0,
            "deliveryDayOfWeek": dates::day_number(delivery),
            "totalTransitDays": dates::days_between(pickup, delivery),
        },
        "pricingDate": dates::iso(pickup),
    })
}

/// A three-letter service area code from a city name (`Leipzig` → `LEI`).
fn area(city: &str) -> String {
    let mut code: String = city
        .chars()
        .filter(char::is_ascii_alphabetic)
        .take(3)
        .collect::<String>()
        .to_ascii_uppercase();
    while code.len() < 3 {
        code.push('X');
    }
    code
}

// ------------------------------------------------------------------------------ Track

fn track(call: &Call<'_>) -> Result<Value, Failure> {
    let challenge = "DHL-API-Key realm=\"Shipment Tracking\"";
    let Some(key) = call.header("dhl-api-key").filter(|k| !k.is_empty()) else {
        let message = "Unauthorized for given resource: the DHL-API-Key header is required.";
        return Err(Failure::new(401, Kind::MissingCredentials, message).with_challenge(challenge));
    };
    if credentials::is_rejected(call, key) {
        let message = "Unauthorized for given resource: invalid API key.";
        return Err(Failure::new(401, Kind::RejectedCredentials, message).with_challenge(challenge));
    }
    let number = call
        .query_param("trackingNumber")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Failure::missing("trackingNumber"))?;
    let story = tracking::story(number.trim(), call.today()).ok_or_else(|| {
        Failure::new(
            404,
            Kind::UnknownShipment,
            "No shipment with given tracking number found.",
        )
    })?;
    let mut shipment = json!({
        "id": number.trim(),
        "service": call.query_param("service").unwrap_or_else(|| "express".into()),
        "origin": { "address": address(&story.origin) },
        "destination": { "address": address(&story.destination) },
        "status": event(story.latest()),
        "details": {
            "product": { "productName": "DHL EXPRESS WORLDWIDE" },
            "proofOfDelivery": if story.stage == Stage::Delivered { json!({ "timestamp": story.latest().timestamp() }) } else { Value::Null },
            "weight": { "value": 1.5, "unitText": "kg" },
        },
        "events": story.scans.iter().map(event).collect::<Vec<_>>(),
    });
    if story.stage != Stage::Delivered {
        let eta = dates::iso(story.delivery);
        shipment["estimatedTimeOfDelivery"] = json!(format!("{eta}T18:00:00"));
        shipment["estimatedDeliveryTimeFrame"] = json!({ "estimatedFrom": format!("{eta}T09:00:00"), "estimatedThrough": format!("{eta}T18:00:00") });
    }
    Ok(json!({ "shipments": [shipment] }))
}

fn address(site: &Site) -> Value {
    json!({ "countryCode": site.country, "postalCode": site.postal, "addressLocality": site.city })
}

fn event(scan: &Scan) -> Value {
    let (code, status) = match scan.stage {
        Stage::LabelCreated => ("pre-transit", "Shipment information received"),
        Stage::InTransit | Stage::OutForDelivery => ("transit", "In transit"),
        Stage::Delivered => ("delivered", "Delivered"),
    };
    json!({
        "timestamp": scan.timestamp(),
        "location": { "address": address(&scan.site) },
        "statusCode": code,
        "status": status,
        "description": scan.description,
    })
}

#[cfg(test)]
mod tests;
