//! USPS Domestic Prices: `POST /prices/v3/base-rates/search` and `/total-rates/search`.

use crate::sandbox::Carrier;
use crate::sandbox::call::Call;
use crate::sandbox::dates;
use crate::sandbox::failure::Failure;
use crate::sandbox::fields::{self, list, need_positive, need_text, text};
use crate::sandbox::pricing::{self, Cents, Days, KG_PER_LB, Lane, Place, Tariff};
use serde_json::{Value, json};
use time::Date;

pub(super) struct MailClass {
    pub code: &'static str,
    pub name: &'static str,
    /// For the SKU.
    pub abbrev: &'static str,
    pub tariff: Tariff,
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

pub(super) const CLASSES: &[MailClass] = &[
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
pub(super) struct Parcel {
    pub lane: Lane,
    pub pounds: f64,
    /// Length, width, height in inches (zero when not given).
    pub inches: [f64; 3],
    pub mailing_date: Date,
}

/// The package fields of `v` (the body, or `packageDescription` for shipping options);
/// `prefix` names `v`'s place, `zips_in` holds the ZIP codes.
pub(super) fn parcel(
    call: &Call<'_>,
    zips_in: &Value,
    v: &Value,
    prefix: &str,
) -> Result<Parcel, Failure> {
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
    let mailing_date = fields::optional_date(v, prefix, "mailingDate", dates::ISO, call.today())?;
    Ok(Parcel {
        lane,
        pounds,
        inches,
        mailing_date,
    })
}

pub(super) fn mail_class(code: &str, field: &str) -> Result<&'static MailClass, Failure> {
    CLASSES.iter().find(|c| c.code == code).ok_or_else(|| {
        Failure::invalid(field, format!("No valid rates for mail class {code:?}."))
            .with_code("030020")
    })
}

pub(super) fn price_type(v: &Value, prefix: &str, path: &str) -> Result<String, Failure> {
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
pub(super) fn class_price(parcel: &Parcel, class: &MailClass, price_type: &str) -> Cents {
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

/// A `rates[]` element (rate indicator `SP`, single piece, unless the request names one).
pub(super) fn rate(
    parcel: &Parcel,
    class: &MailClass,
    price_type: &str,
    description: &str,
) -> Value {
    let zone = parcel.lane.zone(Carrier::Usps);
    let [l, w, h] = parcel.inches;
    json!({
        "SKU": format!("D{}XXXXC{:02}{:03}", class.abbrev, zone, parcel.pounds.ceil() as u32),
        "description": description,
        "priceType": price_type,
        "rateIndicator": "SP",
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

pub(super) fn base_rates(call: &Call<'_>) -> Result<Value, Failure> {
    let body = call.json()?;
    for field in BASE_REQUIRED {
        need_text(&body, "", field)?;
    }
    let parcel = parcel(call, &body, &body, "")?;
    let price_type = price_type(&body, "", "priceType")?;
    let class = mail_class(&need_text(&body, "", "mailClass")?, "mailClass")?;
    let indicator = need_text(&body, "", "rateIndicator")?;
    let category = need_text(&body, "", "processingCategory")?;
    let description = format!("{} {category} {indicator}", class.name);
    let mut rate = rate(&parcel, class, &price_type, &description);
    rate["rateIndicator"] = json!(indicator);
    Ok(json!({ "totalBasePrice": rate["price"], "rates": [rate] }))
}

pub(super) fn total_rates(call: &Call<'_>) -> Result<Value, Failure> {
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
