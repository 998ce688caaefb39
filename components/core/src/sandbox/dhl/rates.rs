//! MyDHL rates: `GET /rates` (query) and `POST /rates` (JSON).

use super::REALM;
use crate::sandbox::Carrier;
use crate::sandbox::call::Call;
use crate::sandbox::credentials;
use crate::sandbox::dates;
use crate::sandbox::failure::Failure;
use crate::sandbox::fields::{self, list, need_bool, need_positive, need_text, text};
use crate::sandbox::pricing::{self, Days, KG_PER_LB, Lane, Place, Tariff};
use serde_json::{Value, json};
use time::Date;

/// `GET /rates`: one piece, described by query parameters.
pub(super) fn by_query(call: &Call<'_>) -> Result<Value, Failure> {
    credentials::require_basic(call, REALM)?;
    rates(&query_request(call)?)
}

/// `POST /rates`: several pieces, a JSON body.
pub(super) fn by_body(call: &Call<'_>) -> Result<Value, Failure> {
    credentials::require_basic(call, REALM)?;
    rates(&body_request(&call.json()?)?)
}

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
    dates::parse_iso_start(&text).ok_or_else(|| {
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
            "totalTransitDays": days,
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
