//! UPS Rating: `POST /api/rating/{version}/{requestoption}`.

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
    tariff: Tariff,
    /// Guaranteed delivery time: (`DeliveryByTime`, `HHMMSS`); `None`: end of day.
    by: Option<(&'static str, &'static str)>,
}

const fn service(
    code: &'static str,
    name: &'static str,
    tariff: Tariff,
    by: Option<(&'static str, &'static str)>,
) -> Service {
    Service {
        code,
        name,
        tariff,
        by,
    }
}

const AM_1030: Option<(&str, &str)> = Some(("10:30 A.M.", "103000"));

/// Within the US.
const DOMESTIC: &[Service] = &[
    service(
        "03",
        "UPS Ground",
        Tariff::new(9.5, 2.2, Days::ByZone(1, 5)),
        None,
    ),
    service(
        "12",
        "UPS 3 Day Select",
        Tariff::new(16.0, 3.1, Days::Fixed(3)),
        None,
    ),
    service(
        "02",
        "UPS 2nd Day Air",
        Tariff::new(22.0, 4.0, Days::Fixed(2)),
        None,
    ),
    service(
        "59",
        "UPS 2nd Day Air A.M.",
        Tariff::new(27.0, 4.4, Days::Fixed(2)),
        AM_1030,
    ),
    service(
        "13",
        "UPS Next Day Air Saver",
        Tariff::new(38.0, 5.5, Days::Fixed(1)),
        Some(("3:00 P.M.", "150000")),
    ),
    service(
        "01",
        "UPS Next Day Air",
        Tariff::new(45.0, 6.2, Days::Fixed(1)),
        AM_1030,
    ),
    service(
        "14",
        "UPS Next Day Air Early",
        Tariff::new(75.0, 7.0, Days::Fixed(1)),
        Some(("8:00 A.M.", "080000")),
    ),
];

/// Every other lane.
const INTERNATIONAL: &[Service] = &[
    service(
        "11",
        "UPS Standard",
        Tariff::new(18.0, 3.0, Days::ByZone(2, 6)),
        None,
    ),
    service(
        "08",
        "UPS Worldwide Expedited",
        Tariff::new(32.0, 5.5, Days::ByZone(2, 5)),
        None,
    ),
    service(
        "65",
        "UPS Worldwide Saver",
        Tariff::new(45.0, 7.0, Days::ByZone(1, 3)),
        None,
    ),
    service(
        "07",
        "UPS Worldwide Express",
        Tariff::new(52.0, 7.5, Days::ByZone(1, 3)),
        Some(("12:00 P.M.", "120000")),
    ),
    service(
        "54",
        "UPS Worldwide Express Plus",
        Tariff::new(80.0, 8.5, Days::ByZone(1, 3)),
        Some(("9:00 A.M.", "090000")),
    ),
];

/// `x-sandbox-ups-bare-object: 1`: single-element arrays of a `RateResponse` arrive as
/// a bare object, as UPS has sent them.
pub const BARE_OBJECT: &str = "x-sandbox-ups-bare-object";

const SHIPMENT: &str = "RateRequest.Shipment";

pub(super) fn rate(option: &str, call: &Call<'_>) -> Result<Value, Failure> {
    credentials::require_bearer(call)?;
    let option = option.to_ascii_lowercase();
    if !matches!(
        option.as_str(),
        "rate" | "shop" | "ratetimeintransit" | "shoptimeintransit"
    ) {
        let message = "requestoption must be Rate, Shop, Ratetimeintransit or Shoptimeintransit.";
        return Err(Failure::invalid("requestoption", message));
    }
    let body = call.json()?;
    let shipment = fields::get(&body, SHIPMENT)
        .filter(|s| s.is_object())
        .ok_or_else(|| Failure::missing(SHIPMENT))?;
    let shipper = place(shipment, "Shipper.Address")?;
    let origin = match shipment.get("ShipFrom") {
        Some(_) => place(shipment, "ShipFrom.Address")?,
        None => shipper,
    };
    let lane = Lane {
        origin,
        destination: place(shipment, "ShipTo.Address")?,
    };
    let packages = packages(shipment)?;
    let pickup = fields::optional_date(
        shipment,
        SHIPMENT,
        "DeliveryTimeInformation.Pickup.Date",
        dates::COMPACT,
        call.today(),
    )?;
    let pickup = dates::business_day_from(pickup);
    let offered = if lane.is_domestic() && lane.origin.country == "US" {
        DOMESTIC
    } else {
        INTERNATIONAL
    };
    let services: Vec<&Service> = if option.starts_with("rate") {
        let code = need_text(shipment, SHIPMENT, "Service.Code")?;
        let found = offered.iter().find(|s| s.code == code);
        vec![found.ok_or_else(|| {
            Failure::no_service(
                "The requested service is unavailable between the selected locations.",
            )
        })?]
    } else {
        offered.iter().collect()
    };
    let quote = Quote {
        lane: &lane,
        packages: &packages,
        pickup,
        negotiated: text(shipment, "ShipmentRatingOptions.NegotiatedRatesIndicator").is_some(),
        time_in_transit: option.ends_with("timeintransit")
            || call
                .query_param("additionalinfo")
                .is_some_and(|v| v.eq_ignore_ascii_case("timeintransit")),
    };
    let rated: Vec<Value> = services.iter().map(|s| quote.rated_shipment(s)).collect();
    let mut response = json!({
        "ResponseStatus": { "Code": "1", "Description": "Success" },
        "Alert": [{ "Code": "110971", "Description": "Your invoice may vary from the displayed reference rates" }],
    });
    if let Some(context) = text(
        &body,
        "RateRequest.Request.TransactionReference.CustomerContext",
    ) {
        response["TransactionReference"] = json!({ "CustomerContext": context });
    }
    let mut answer = json!({ "RateResponse": { "Response": response, "RatedShipment": rated } });
    if call
        .header(BARE_OBJECT)
        .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
    {
        unwrap_single_arrays(&mut answer);
    }
    Ok(answer)
}

fn place(shipment: &Value, path: &str) -> Result<Place, Failure> {
    let country = need_text(shipment, SHIPMENT, &format!("{path}.CountryCode"))?;
    let postal = need_text(shipment, SHIPMENT, &format!("{path}.PostalCode"))?;
    Ok(Place::new(&country, &postal))
}

/// A package's weight in the unit it was given.
struct Package {
    weight: f64,
    pounds: bool,
}

impl Package {
    fn kg(&self) -> f64 {
        if self.pounds {
            self.weight * KG_PER_LB
        } else {
            self.weight
        }
    }
}

fn packages(shipment: &Value) -> Result<Vec<Package>, Failure> {
    let items = list(shipment.get("Package"));
    if items.is_empty() {
        return Err(Failure::missing(fields::name(SHIPMENT, "Package")));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, package)| {
            let prefix = format!("{SHIPMENT}.Package[{i}]");
            let weight = need_positive(package, &prefix, "PackageWeight.Weight")?;
            let unit = text(package, "PackageWeight.UnitOfMeasurement.Code")
                .unwrap_or_else(|| "LBS".into());
            let pounds = match unit.to_ascii_uppercase().as_str() {
                "LBS" => true,
                "KGS" => false,
                _ => {
                    let field = format!("{prefix}.PackageWeight.UnitOfMeasurement.Code");
                    return Err(Failure::invalid(
                        &field,
                        format!("{field} must be LBS or KGS."),
                    ));
                }
            };
            Ok(Package { weight, pounds })
        })
        .collect()
}

struct Quote<'a> {
    lane: &'a Lane,
    packages: &'a [Package],
    pickup: Date,
    negotiated: bool,
    time_in_transit: bool,
}

impl Quote<'_> {
    fn rated_shipment(&self, service: &Service) -> Value {
        let kg: f64 = self.packages.iter().map(Package::kg).sum();
        let price = pricing::price(Carrier::Ups, service.code, &service.tariff, self.lane, kg);
        let currency = pricing::currency(&self.lane.origin.country);
        let money = |c: Cents| json!({ "CurrencyCode": currency, "MonetaryValue": c.text() });
        let days = service.tariff.transit_days(self.lane.zone(Carrier::Ups));
        let total_weight: f64 = self.packages.iter().map(|p| p.weight).sum();
        let mut guaranteed = json!({ "BusinessDaysInTransit": days.to_string() });
        if let Some((by, _)) = service.by {
            guaranteed["DeliveryByTime"] = json!(by);
        }
        let mut rated = json!({
            "Service": { "Code": service.code, "Description": service.name },
            "RatedShipmentAlert": [{ "Code": "110971", "Description": "Your invoice may vary from the displayed reference rates" }],
            "BillingWeight": self.weight(total_weight),
            "TransportationCharges": money(price.total()),
            "BaseServiceCharge": money(price.base),
            "ItemizedCharges": [{ "Code": "375", "Description": "FUEL SURCHARGE", "CurrencyCode": currency, "MonetaryValue": price.fuel.text() }],
            "ServiceOptionsCharges": money(Cents(0)),
            "TotalCharges": money(price.total()),
            "GuaranteedDelivery": guaranteed,
            "RatedPackage": self.packages.iter().map(|p| json!({
                "Weight": format!("{:.1}", p.weight),
                "BillingWeight": self.weight(p.weight),
            })).collect::<Vec<_>>(),
        });
        if self.negotiated {
            rated["NegotiatedRateCharges"] =
                json!({ "TotalCharge": money(price.total().percent(85)) });
        }
        if self.time_in_transit {
            rated["TimeInTransit"] = self.time_in_transit(service, days);
        }
        rated
    }

    /// `BillingWeight`: the weight rounded up to a whole unit, in the request's unit.
    fn weight(&self, weight: f64) -> Value {
        let (code, description) = if self.packages[0].pounds {
            ("LBS", "Pounds")
        } else {
            ("KGS", "Kilograms")
        };
        json!({
            "UnitOfMeasurement": { "Code": code, "Description": description },
            "Weight": format!("{:.1}", weight.ceil()),
        })
    }

    fn time_in_transit(&self, service: &Service, days: u32) -> Value {
        let arrival = dates::add_business_days(self.pickup, days);
        let time = service.by.map_or("230000", |(_, t)| t);
        json!({
            "PickupDate": dates::compact(self.pickup),
            "PackageBillType": "03",
            "ServiceSummary": {
                "Service": { "Description": service.name },
                "GuaranteedIndicator": if service.by.is_some() { "Y" } else { "" },
                "EstimatedArrival": {
                    "Arrival": { "Date": dates::compact(arrival), "Time": time },
                    "Pickup": { "Date": dates::compact(self.pickup), "Time": "170000" },
                    "BusinessDaysInTransit": days.to_string(),
                    "DayOfWeek": dates::day_abbrev(arrival),
                    "TotalTransitDays": dates::days_between(self.pickup, arrival).to_string(),
                    "CustomerCenterCutoff": "170000",
                },
                "SaturdayDelivery": "0",
            },
        })
    }
}

/// The UPS quirk: every one-element array under the keys UPS has sent bare, as the
/// element itself.
fn unwrap_single_arrays(v: &mut Value) {
    const KEYS: &[&str] = &[
        "RatedShipment",
        "RatedPackage",
        "Alert",
        "RatedShipmentAlert",
        "ItemizedCharges",
    ];
    match v {
        Value::Object(map) => {
            for (key, child) in map.iter_mut() {
                if KEYS.contains(&key.as_str())
                    && let Value::Array(items) = child
                    && items.len() == 1
                {
                    *child = items.remove(0);
                }
                unwrap_single_arrays(child);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(unwrap_single_arrays),
        _ => {}
    }
}
