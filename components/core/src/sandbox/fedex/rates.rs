//! FedEx Rates and Transit Times: `POST /rate/v1/rates/quotes`.

use crate::sandbox::Carrier;
use crate::sandbox::call::Call;
use crate::sandbox::credentials;
use crate::sandbox::dates;
use crate::sandbox::failure::Failure;
use crate::sandbox::fields::{self, list, need_positive, need_text, text};
use crate::sandbox::pricing::{self, Cents, Days, KG_PER_LB, Lane, Place, Tariff};
use serde_json::{Value, json};
use time::Date;

struct Service {
    code: &'static str,
    name: &'static str,
    /// `serviceDescription.code` / `operationalDetail.serviceCode`.
    number: &'static str,
    tariff: Tariff,
    /// Committed delivery time `HH:MM:SS`.
    by: &'static str,
}

const fn service(
    code: &'static str,
    name: &'static str,
    number: &'static str,
    tariff: Tariff,
    by: &'static str,
) -> Service {
    Service {
        code,
        name,
        number,
        tariff,
        by,
    }
}

const GROUND: Service = service(
    "FEDEX_GROUND",
    "FedEx Ground",
    "92",
    Tariff::new(9.8, 2.1, Days::ByZone(1, 5)),
    "23:59:00",
);
const HOME: Service = service(
    "GROUND_HOME_DELIVERY",
    "FedEx Home Delivery",
    "90",
    Tariff::new(10.9, 2.1, Days::ByZone(1, 5)),
    "20:00:00",
);

/// Within the US, besides Ground (or Home Delivery to a residence).
const DOMESTIC_AIR: &[Service] = &[
    service(
        "FEDEX_EXPRESS_SAVER",
        "FedEx Express Saver",
        "20",
        Tariff::new(19.0, 3.3, Days::Fixed(3)),
        "16:30:00",
    ),
    service(
        "FEDEX_2_DAY",
        "FedEx 2Day",
        "03",
        Tariff::new(23.0, 4.1, Days::Fixed(2)),
        "16:30:00",
    ),
    service(
        "STANDARD_OVERNIGHT",
        "FedEx Standard Overnight",
        "05",
        Tariff::new(40.0, 5.6, Days::Fixed(1)),
        "15:00:00",
    ),
    service(
        "PRIORITY_OVERNIGHT",
        "FedEx Priority Overnight",
        "01",
        Tariff::new(46.0, 6.3, Days::Fixed(1)),
        "10:30:00",
    ),
];

/// Every other lane.
const INTERNATIONAL: &[Service] = &[
    service(
        "INTERNATIONAL_ECONOMY",
        "FedEx International Economy",
        "04",
        Tariff::new(30.0, 5.0, Days::ByZone(3, 5)),
        "18:00:00",
    ),
    service(
        "INTERNATIONAL_PRIORITY",
        "FedEx International Priority",
        "P1",
        Tariff::new(48.0, 7.2, Days::ByZone(1, 3)),
        "12:00:00",
    ),
    service(
        "INTERNATIONAL_FIRST",
        "FedEx International First",
        "06",
        Tariff::new(90.0, 8.8, Days::ByZone(1, 2)),
        "10:00:00",
    ),
];

const SHIPMENT: &str = "requestedShipment";
const PICKUP_TYPES: &[&str] = &[
    "DROPOFF_AT_FEDEX_LOCATION",
    "CONTACT_FEDEX_TO_SCHEDULE",
    "USE_SCHEDULED_PICKUP",
];
const RATE_TYPES: &[&str] = &["ACCOUNT", "LIST", "INCENTIVE", "PREFERRED"];

pub(super) fn rates(call: &Call<'_>) -> Result<Value, Failure> {
    credentials::require_bearer(call)?;
    let body = call.json()?;
    need_text(&body, "", "accountNumber.value")?;
    let shipment = fields::get(&body, SHIPMENT)
        .filter(|s| s.is_object())
        .ok_or_else(|| Failure::missing(SHIPMENT))?;
    let lane = Lane {
        origin: place(shipment, "shipper.address")?,
        destination: place(shipment, "recipient.address")?,
    };
    let pickup = need_text(shipment, SHIPMENT, "pickupType")?;
    if !PICKUP_TYPES.contains(&pickup.as_str()) {
        let field = fields::name(SHIPMENT, "pickupType");
        return Err(Failure::invalid(
            &field,
            format!("{field} must be one of {}.", PICKUP_TYPES.join(", ")),
        ));
    }
    let (kg, unit) = weight(shipment)?;
    let ship_date = fields::optional_date(
        shipment,
        SHIPMENT,
        "shipDateStamp",
        dates::ISO,
        call.today(),
    )?;
    let rate_types = rate_types(shipment)?;
    let residential = fields::get(shipment, "recipient.address.residential")
        .and_then(fields::parse_bool)
        == Some(true);
    let offered: Vec<&Service> = if lane.is_domestic() && lane.origin.country == "US" {
        let ground = if residential { &HOME } else { &GROUND };
        std::iter::once(ground).chain(DOMESTIC_AIR).collect()
    } else {
        INTERNATIONAL.iter().collect()
    };
    let services = match text(shipment, "serviceType") {
        None => offered,
        Some(code) => {
            let found = offered.into_iter().find(|s| s.code == code);
            vec![found.ok_or_else(|| {
                Failure::no_service(format!(
                    "Service {code} is not available between the origin and destination."
                ))
                .with_code("RATE.LOCATION.NOSERVICE")
            })?]
        }
    };
    let quote = Quote {
        lane: &lane,
        kg,
        unit,
        ship_date: dates::business_day_from(ship_date),
        rate_types: &rate_types,
        packaging: text(shipment, "packagingType").unwrap_or_else(|| "YOUR_PACKAGING".into()),
    };
    let mut answer = json!({
        "transactionId": call.transaction_id(),
        "output": {
            "rateReplyDetails": services.iter().map(|s| quote.reply_detail(s)).collect::<Vec<_>>(),
            "quoteDate": dates::iso(ship_date),
            "encoded": false,
            "alerts": [],
        },
    });
    if let Some(id) = call.header("x-customer-transaction-id") {
        answer["customerTransactionId"] = json!(id);
    }
    Ok(answer)
}

fn place(shipment: &Value, path: &str) -> Result<Place, Failure> {
    let country = need_text(shipment, SHIPMENT, &format!("{path}.countryCode"))?;
    let postal = need_text(shipment, SHIPMENT, &format!("{path}.postalCode"))?;
    Ok(Place::new(&country, &postal))
}

/// The total weight in kg (packages × `groupPackageCount`) and the unit of the first.
fn weight(shipment: &Value) -> Result<(f64, &'static str), Failure> {
    let items = list(shipment.get("requestedPackageLineItems"));
    if items.is_empty() {
        return Err(Failure::missing(fields::name(
            SHIPMENT,
            "requestedPackageLineItems",
        )));
    }
    let mut kg = 0.0;
    let mut first_unit = None;
    for (i, item) in items.iter().enumerate() {
        let prefix = format!("{SHIPMENT}.requestedPackageLineItems[{i}]");
        let value = need_positive(item, &prefix, "weight.value")?;
        let unit = match need_text(item, &prefix, "weight.units")?
            .to_ascii_uppercase()
            .as_str()
        {
            "LB" => "LB",
            "KG" => "KG",
            _ => {
                let field = format!("{prefix}.weight.units");
                return Err(Failure::invalid(
                    &field,
                    format!("{field} must be LB or KG."),
                ));
            }
        };
        let count = fields::get(item, "groupPackageCount")
            .and_then(fields::number)
            .unwrap_or(1.0)
            .max(1.0);
        kg += count
            * if unit == "LB" {
                value * KG_PER_LB
            } else {
                value
            };
        first_unit.get_or_insert(unit);
    }
    Ok((kg, first_unit.unwrap_or("LB")))
}

fn rate_types(shipment: &Value) -> Result<Vec<String>, Failure> {
    let field = fields::name(SHIPMENT, "rateRequestType");
    let types: Vec<String> = match shipment.get("rateRequestType") {
        None | Some(Value::Null) => vec!["ACCOUNT".into()],
        Some(v) => list_of_text(v).ok_or_else(|| {
            Failure::invalid(&field, format!("{field} must be a list of rate types."))
        })?,
    };
    match types.iter().find(|t| !RATE_TYPES.contains(&t.as_str())) {
        Some(bad) => Err(Failure::invalid(
            &field,
            format!("Unknown rate type {bad:?} in {field}."),
        )),
        None if types.is_empty() => Ok(vec!["ACCOUNT".into()]),
        None => Ok(types),
    }
}

fn list_of_text(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string))
            .collect(),
        Value::String(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

struct Quote<'a> {
    lane: &'a Lane,
    kg: f64,
    unit: &'static str,
    ship_date: Date,
    rate_types: &'a [String],
    packaging: String,
}

impl Quote<'_> {
    fn reply_detail(&self, service: &Service) -> Value {
        let zone = self.lane.zone(Carrier::Fedex);
        let days = service.tariff.transit_days(zone);
        let delivery = dates::add_business_days(self.ship_date, days);
        let delivery_at = format!("{}T{}", dates::iso(delivery), service.by);
        let transit = transit_words(days);
        json!({
            "serviceType": service.code,
            "serviceName": service.name,
            "packagingType": self.packaging,
            "serviceDescription": { "serviceId": format!("EP1000000{}", service.number), "code": service.number, "description": service.name },
            "ratedShipmentDetails": self.rate_types.iter().map(|t| self.rated(service, t, zone)).collect::<Vec<_>>(),
            "commit": {
                "dateDetail": { "dayOfWeek": dates::day_abbrev(delivery), "dayFormat": delivery_at },
                "transitDays": { "minimumTransitTime": transit, "maximumTransitTime": transit },
                "daysInTransit": transit,
                "saturdayDelivery": false,
            },
            "operationalDetail": {
                "deliveryDate": delivery_at,
                "commitDate": delivery_at,
                "deliveryDay": dates::day_abbrev(delivery),
                "transitTime": transit,
                "serviceCode": service.number,
            },
        })
    }

    /// One rate type's charges: LIST is the published price, the others take 10 % off
    /// the base charge.
    fn rated(&self, service: &Service, rate_type: &str, zone: u32) -> Value {
        let price = pricing::price(
            Carrier::Fedex,
            service.code,
            &service.tariff,
            self.lane,
            self.kg,
        );
        let discount = if rate_type == "LIST" {
            Cents(0)
        } else {
            price.base.percent(10)
        };
        let net = price.total() - discount;
        let currency = pricing::currency(&self.lane.origin.country);
        let billed = if self.unit == "LB" {
            self.kg / KG_PER_LB
        } else {
            self.kg
        };
        json!({
            "rateType": rate_type,
            "ratedWeightMethod": "ACTUAL",
            "totalDiscounts": discount.amount(),
            "totalBaseCharge": price.base.amount(),
            "totalNetCharge": net.amount(),
            "totalNetFedExCharge": net.amount(),
            "shipmentRateDetail": {
                "rateZone": zone.to_string(),
                "totalBillingWeight": { "units": self.unit, "value": (billed * 10.0).ceil() / 10.0 },
                "totalSurcharges": price.fuel.amount(),
                "fuelSurchargePercent": 12.5,
                "surCharges": [{ "type": "FUEL", "description": "Fuel Surcharge", "amount": price.fuel.amount() }],
                "currency": currency,
            },
            "currency": currency,
        })
    }
}

/// FedEx writes transit times as words: `ONE_DAY`, `TWO_DAYS`, … `TWENTY_DAYS`.
pub(crate) fn transit_words(days: u32) -> &'static str {
    const WORDS: [&str; 20] = [
        "ONE_DAY",
        "TWO_DAYS",
        "THREE_DAYS",
        "FOUR_DAYS",
        "FIVE_DAYS",
        "SIX_DAYS",
        "SEVEN_DAYS",
        "EIGHT_DAYS",
        "NINE_DAYS",
        "TEN_DAYS",
        "ELEVEN_DAYS",
        "TWELVE_DAYS",
        "THIRTEEN_DAYS",
        "FOURTEEN_DAYS",
        "FIFTEEN_DAYS",
        "SIXTEEN_DAYS",
        "SEVENTEEN_DAYS",
        "EIGHTEEN_DAYS",
        "NINETEEN_DAYS",
        "TWENTY_DAYS",
    ];
    WORDS[(days.clamp(1, 20) - 1) as usize]
}
