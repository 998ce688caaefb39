//! The simulated USPS: OAuth (`/oauth2/v3/token`, JSON or form body), Domestic Prices
//! (`/prices/v3/base-rates/search`, `/prices/v3/total-rates/search`: USD numbers, no
//! currency, no transit), Shipping Options (`/shipments/v3/options/search`: delivery
//! dates) and Tracking (`/tracking/v3/tracking/{n}`). API errors are
//! `{"apiVersion","error":{"code","message","errors":[...]}}`; OAuth errors
//! `{"error","error_description"}`.

use super::call::Call;
use super::credentials;
use super::dates;
use super::failure::{ErrorShape, Failure, Kind};
use super::fields::{self, list, need_positive, need_text, text};
use super::pricing::{self, Cents, Days, KG_PER_LB, Lane, Place, Tariff};
use super::tracking::{self, Scan, Stage};
use super::{Carrier, CarrierApi, Route};
use serde_json::{Map, Value, json};
use time::Date;

pub(crate) struct Usps;

pub(crate) enum Endpoint {
    Token,
    BaseRates,
    TotalRates,
    ShippingOptions,
    Track(String),
}

impl CarrierApi for Usps {
    type Endpoint = Endpoint;

    fn route(method: &str, path: &str) -> Route<Endpoint> {
        let path = path.trim_end_matches('/');
        let (endpoint, allow) = match path {
            "/oauth2/v3/token" => (Endpoint::Token, "POST"),
            "/prices/v3/base-rates/search" => (Endpoint::BaseRates, "POST"),
            "/prices/v3/total-rates/search" => (Endpoint::TotalRates, "POST"),
            "/shipments/v3/options/search" => (Endpoint::ShippingOptions, "POST"),
            _ => match path.strip_prefix("/tracking/v3/tracking/") {
                Some(n) if !n.is_empty() && !n.contains('/') => {
                    (Endpoint::Track(n.to_string()), "GET")
                }
                _ => return Route::NotFound,
            },
        };
        if method.eq_ignore_ascii_case(allow) {
            Route::Found(endpoint)
        } else {
            Route::WrongMethod(allow)
        }
    }

    fn shape(endpoint: Option<&Endpoint>) -> ErrorShape {
        let api_version = match endpoint {
            Some(Endpoint::Token) => return ErrorShape::UspsOAuth,
            Some(Endpoint::BaseRates | Endpoint::TotalRates) => "/prices/v3",
            Some(Endpoint::ShippingOptions) => "/shipments/v3",
            Some(Endpoint::Track(_)) => "/tracking/v3",
            None => "v3",
        };
        ErrorShape::Usps { api_version }
    }

    fn serve(endpoint: &Endpoint, call: &Call<'_>) -> Result<Value, Failure> {
        if !matches!(endpoint, Endpoint::Token) {
            credentials::require_bearer(call)?;
        }
        match endpoint {
            Endpoint::Token => token(call),
            Endpoint::BaseRates => base_rates(call),
            Endpoint::TotalRates => total_rates(call),
            Endpoint::ShippingOptions => shipping_options(call),
            Endpoint::Track(number) => track(number, call),
        }
    }
}

// ------------------------------------------------------------------------------ OAuth

fn token(call: &Call<'_>) -> Result<Value, Failure> {
    let body = if call.body_is_json() {
        call.json()?
    } else {
        let form: Map<String, Value> = call
            .form()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Value::Object(form)
    };
    let (client_id, client_secret) = (text(&body, "client_id"), text(&body, "client_secret"));
    if !credentials::present(client_id.as_deref(), client_secret.as_deref()) {
        let message = "Client authentication failed: client_id and client_secret are required.";
        return Err(Failure::new(401, Kind::MissingCredentials, message)
            .with_challenge("Basic realm=\"USPS OAuth\""));
    }
    match text(&body, "grant_type").as_deref() {
        None => return Err(Failure::missing("grant_type")),
        Some("client_credentials") => {}
        Some(other) => {
            let message =
                format!("The sandbox issues client_credentials tokens only, not {other:?}.");
            return Err(Failure::new(400, Kind::UnsupportedGrant, message));
        }
    }
    let (client_id, client_secret) = (
        client_id.unwrap_or_default(),
        client_secret.unwrap_or_default(),
    );
    let issued = credentials::issue(call, &client_id, &client_secret)?;
    Ok(json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "issued_at": issued.issued_at_ms,
        "expires_in": issued.expires_in,
        "status": "approved",
        "scope": text(&body, "scope").unwrap_or_else(|| "prices shipments tracking".into()),
        "issuer": "api.usps.com",
        "client_id": client_id,
        "application_name": "Waypost sandbox",
        "api_products": "[Domestic Prices, Shipping Options, Tracking]",
        "public_key": "",
    }))
}

// ------------------------------------------------------------------------- Prices

struct MailClass {
    code: &'static str,
    name: &'static str,
    /// For the SKU.
    abbrev: &'static str,
    tariff: Tariff,
}

const fn class(
    code: &'static str,
    name: &'static str,
    abbrev: &'static str,
    tariff: Tariff,
) -> MailClass {
    MailClass {
        code,
        name,
        abbrev,
        tariff,
    }
}

const CLASSES: &[MailClass] = &[
    class(
        "USPS_GROUND_ADVANTAGE",
        "USPS Ground Advantage",
        "GA",
        Tariff::new(6.5, 1.9, Days::ByZone(2, 5)),
    ),
    class(
        "PRIORITY_MAIL",
        "Priority Mail",
        "PM",
        Tariff::new(9.0, 2.6, Days::ByZone(1, 3)),
    ),
    class(
        "PRIORITY_MAIL_EXPRESS",
        "Priority Mail Express",
        "PE",
        Tariff::new(28.0, 4.8, Days::ByZone(1, 2)),
    ),
    class(
        "PARCEL_SELECT",
        "Parcel Select",
        "PS",
        Tariff::new(6.0, 1.7, Days::ByZone(2, 8)),
    ),
    class(
        "MEDIA_MAIL",
        "Media Mail",
        "MM",
        Tariff::new(3.9, 0.9, Days::ByZone(2, 8)),
    ),
    class(
        "LIBRARY_MAIL",
        "Library Mail",
        "LM",
        Tariff::new(3.7, 0.8, Days::ByZone(2, 8)),
    ),
    class(
        "BOUND_PRINTED_MATTER",
        "Bound Printed Matter",
        "BP",
        Tariff::new(4.2, 1.0, Days::ByZone(2, 8)),
    ),
];

const PRICE_TYPES: &[&str] = &["RETAIL", "COMMERCIAL", "CONTRACT", "NSA"];
/// The heaviest mailable piece, in pounds.
const MAX_POUNDS: f64 = 70.0;

/// One package, as the price and options requests describe it.
struct Parcel {
    lane: Lane,
    pounds: f64,
    /// Length, width, height in inches (zero when not given).
    inches: [f64; 3],
    mailing_date: Date,
}

/// The package fields of `v` (the body, or `packageDescription` for shipping options);
/// `prefix` names `v`'s place, `zips_in` holds the ZIP codes.
fn parcel(call: &Call<'_>, zips_in: &Value, v: &Value, prefix: &str) -> Result<Parcel, Failure> {
    let zip = |field: &str| -> Result<String, Failure> {
        let value = need_text(zips_in, "", field)?;
        let five = value
            .get(..5)
            .filter(|z| z.bytes().all(|b| b.is_ascii_digit()) && matches!(value.len(), 5 | 9 | 10));
        five.map(str::to_string).ok_or_else(|| {
            Failure::invalid(field, format!("{field} must be a 5-digit ZIP Code."))
                .with_code("030001")
        })
    };
    let lane = Lane {
        origin: Place::new("US", &zip("originZIPCode")?),
        destination: Place::new("US", &zip("destinationZIPCode")?),
    };
    let pounds = need_positive(v, prefix, "weight")?;
    if pounds > MAX_POUNDS {
        let message = format!("A weight of {pounds} lb is not eligible: the limit is 70 lb.");
        return Err(Failure::invalid(fields::name(prefix, "weight"), message).with_code("030004"));
    }
    let inches = [
        need_positive(v, prefix, "length")?,
        need_positive(v, prefix, "width")?,
        need_positive(v, prefix, "height")?,
    ];
    let mailing_date = match text(v, "mailingDate") {
        None => call.today(),
        Some(d) => dates::parse_iso(&d).ok_or_else(|| {
            let field = fields::name(prefix, "mailingDate");
            Failure::invalid(&field, format!("{field} must be a date YYYY-MM-DD."))
        })?,
    };
    Ok(Parcel {
        lane,
        pounds,
        inches,
        mailing_date,
    })
}

fn mail_class(code: &str, field: &str) -> Result<&'static MailClass, Failure> {
    CLASSES.iter().find(|c| c.code == code).ok_or_else(|| {
        Failure::invalid(field, format!("No valid rates for mail class {code:?}."))
            .with_code("030020")
    })
}

fn price_type(v: &Value, prefix: &str, path: &str) -> Result<String, Failure> {
    let value = need_text(v, prefix, path)?.to_ascii_uppercase();
    if PRICE_TYPES.contains(&value.as_str()) {
        Ok(value)
    } else {
        let field = fields::name(prefix, path);
        Err(Failure::invalid(
            &field,
            format!("{field} must be one of {}.", PRICE_TYPES.join(", ")),
        ))
    }
}

/// The price of one class: retail, or 10 % off for commercial and contract prices.
fn class_price(parcel: &Parcel, class: &MailClass, price_type: &str) -> Cents {
    let price = pricing::price(
        Carrier::Usps,
        class.code,
        &class.tariff,
        &parcel.lane,
        parcel.pounds * KG_PER_LB,
    );
    match price_type {
        "RETAIL" => price.total(),
        _ => price.total().percent(90),
    }
}

/// A `rates[]` element.
fn rate(parcel: &Parcel, class: &MailClass, price_type: &str, description: &str) -> Value {
    let zone = parcel.lane.zone(Carrier::Usps);
    let [l, w, h] = parcel.inches;
    json!({
        "SKU": format!("D{}XXXXC{:02}{:03}", class.abbrev, zone, parcel.pounds.ceil() as u32),
        "description": description,
        "priceType": price_type,
        "price": class_price(parcel, class, price_type).amount(),
        "weight": parcel.pounds,
        "dimWeight": (l * w * h / 166.0 * 10.0).ceil() / 10.0,
        "fees": [],
        "startDate": dates::iso(parcel.mailing_date),
        "endDate": "",
        "mailClass": class.code,
        "zone": format!("{zone:02}"),
        "productName": class.name,
        "warnings": [],
    })
}

const BASE_REQUIRED: &[&str] = &[
    "mailClass",
    "processingCategory",
    "rateIndicator",
    "destinationEntryFacilityType",
];

fn base_rates(call: &Call<'_>) -> Result<Value, Failure> {
    let body = call.json()?;
    for field in BASE_REQUIRED {
        need_text(&body, "", field)?;
    }
    let parcel = parcel(call, &body, &body, "")?;
    let price_type = price_type(&body, "", "priceType")?;
    let class = mail_class(&need_text(&body, "", "mailClass")?, "mailClass")?;
    let description = format!(
        "{} {} {}",
        class.name,
        need_text(&body, "", "processingCategory")?,
        need_text(&body, "", "rateIndicator")?
    );
    let rate = rate(&parcel, class, &price_type, &description);
    Ok(json!({ "totalBasePrice": rate["price"], "rates": [rate] }))
}

fn total_rates(call: &Call<'_>) -> Result<Value, Failure> {
    let body = call.json()?;
    let parcel = parcel(call, &body, &body, "")?;
    let price_type = price_type(&body, "", "priceType")?;
    let mut codes: Vec<String> = list(body.get("mailClasses"))
        .iter()
        .filter_map(|c| c.as_str().map(str::to_string))
        .collect();
    if let Some(code) = text(&body, "mailClass") {
        codes.insert(0, code);
    }
    if codes.is_empty() {
        return Err(Failure::missing("mailClasses"));
    }
    codes.dedup();
    let extras = extra_services(&body, &price_type);
    let extras_total: i64 = extras.iter().map(|(_, c)| c.0).sum();
    let options = codes
        .iter()
        .map(|code| {
            let class = mail_class(code, "mailClasses")?;
            let rate = rate(&parcel, class, &price_type, class.name);
            let base = class_price(&parcel, class, &price_type);
            Ok(json!({
                "totalBasePrice": base.amount(),
                "totalPrice": Cents(base.0 + extras_total).amount(),
                "rates": [rate],
                "extraServices": extras.iter().map(|(v, _)| v.clone()).collect::<Vec<_>>(),
            }))
        })
        .collect::<Result<Vec<_>, Failure>>()?;
    Ok(json!({ "rateOptions": options }))
}

/// Priced `extraServices[]` (integer codes): USPS Tracking (920) is free, others cost
/// a deterministic 1.50–4.99.
fn extra_services(body: &Value, price_type: &str) -> Vec<(Value, Cents)> {
    let codes: Vec<String> = match body.get("extraServices") {
        Some(Value::Array(items)) => items.iter().filter_map(code_text).collect(),
        _ => Vec::new(),
    };
    codes
        .into_iter()
        .map(|code| {
            let price = if code == "920" {
                Cents(0)
            } else {
                Cents(150 + (pricing::hash(&["usps-extra", &code]) % 350) as i64)
            };
            let value = json!({
                "extraService": code,
                "name": format!("Extra Service {code}"),
                "SKU": format!("DX{code}XXXXX"),
                "priceType": price_type,
                "price": price.amount(),
            });
            (value, price)
        })
        .collect()
}

/// An extra service code, sent as a number or as text.
fn code_text(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

// ------------------------------------------------------------------ Shipping Options

fn shipping_options(call: &Call<'_>) -> Result<Value, Failure> {
    let body = call.json()?;
    let description = fields::get(&body, "packageDescription")
        .filter(|d| d.is_object())
        .ok_or_else(|| Failure::missing("packageDescription"))?;
    let parcel = parcel(call, &body, description, "packageDescription")?;
    let classes: Vec<&MailClass> = match text(description, "mailClass") {
        Some(code) => vec![mail_class(&code, "packageDescription.mailClass")?],
        None => CLASSES.iter().collect(),
    };
    let mut price_types = Vec::new();
    for (i, option) in list(body.get("pricingOptions")).iter().enumerate() {
        price_types.push(price_type(
            option,
            &format!("pricingOptions[{i}]"),
            "priceType",
        )?);
    }
    if price_types.is_empty() {
        price_types.push("RETAIL".into());
    }
    let zone = parcel.lane.zone(Carrier::Usps);
    let pricing_options: Vec<Value> = price_types
        .iter()
        .map(|price_type| {
            let shipping: Vec<Value> = classes
                .iter()
                .map(|class| {
                    let days = class.tariff.transit_days(zone);
                    let delivery = dates::add_business_days(parcel.mailing_date, days);
                    let price = class_price(&parcel, class, price_type).amount();
                    json!({
                        "mailClass": class.code,
                        "rateOptions": [{
                            "commitment": {
                                "name": if days == 1 { "1 Day".to_string() } else { format!("{days} Days") },
                                "scheduleDeliveryDate": dates::iso(delivery),
                                "guaranteedDelivery": class.code == "PRIORITY_MAIL_EXPRESS",
                            },
                            "totalPrice": price,
                            "totalBasePrice": price,
                            "rates": [rate(&parcel, class, price_type, class.name)],
                        }],
                    })
                })
                .collect();
            json!({ "priceType": price_type, "shippingOptions": shipping })
        })
        .collect();
    Ok(json!({
        "originZIPCode": parcel.lane.origin.postal,
        "destinationZIPCode": parcel.lane.destination.postal,
        "pricingOptions": pricing_options,
    }))
}

// ------------------------------------------------------------------------------ Track

fn track(number: &str, call: &Call<'_>) -> Result<Value, Failure> {
    let story = tracking::story(number, call.today()).ok_or_else(|| {
        Failure::new(
            404,
            Kind::UnknownShipment,
            "The tracking number may be incorrect or the status update is not yet available.",
        )
    })?;
    let category = |stage| match stage {
        Stage::LabelCreated => "Pre-Shipment",
        Stage::InTransit => "In Transit",
        Stage::OutForDelivery => "Out for Delivery",
        Stage::Delivered => "Delivered",
    };
    let latest = story.latest();
    let (o, d) = (story.origin, story.destination);
    let mut answer = json!({
        "trackingNumber": number,
        "status": latest.description,
        "statusCategory": category(story.stage),
        "statusSummary": format!("{}, {} {}.", latest.description, latest.site.city, latest.site.state),
        "mailClass": "USPS Ground Advantage",
        "mailClassCode": "GA",
        "originCity": o.city, "originState": o.state, "originZIPCode": o.postal,
        "destinationCity": d.city, "destinationState": d.state, "destinationZIPCode": d.postal,
        "deliveryDateExpectation": { "expectedDeliveryDate": dates::iso(story.delivery) },
    });
    let summary_only = call
        .query_param("expand")
        .is_some_and(|e| e.eq_ignore_ascii_case("SUMMARY"));
    if !summary_only {
        answer["trackingEvents"] = story
            .scans
            .iter()
            .map(|s| event(s, category(s.stage)))
            .collect();
    }
    Ok(answer)
}

fn event(scan: &Scan, category: &str) -> Value {
    let code = match scan.stage {
        Stage::LabelCreated => "MA",
        Stage::InTransit => "10",
        Stage::OutForDelivery => "OF",
        Stage::Delivered => "01",
    };
    json!({
        "eventType": category,
        "eventCode": code,
        "eventTimestamp": format!("{}+00:00", scan.timestamp()),
        "GMTTimestamp": format!("{}Z", scan.timestamp()),
        "GMTOffset": "+00:00",
        "eventCity": scan.site.city,
        "eventState": scan.site.state,
        "eventZIPCode": scan.site.postal,
        "eventCountry": scan.site.country,
        "firm": "",
        "recipientName": "",
    })
}

#[cfg(test)]
mod tests;
