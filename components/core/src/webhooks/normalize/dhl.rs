//! DHL Shipment Tracking – Unified – Push (CARRIERS.md §3.3, §3.2): the Unified
//! tracking shape, `shipments[] { id, status { timestamp, location, statusCode, status,
//! description }, events[] }`, with `statusCode` one of `pre-transit`, `transit`,
//! `delivered`, `failure`, `unknown`. Accepted wrapped in `shipments` (the first
//! counts) or as one shipment.

use super::{Reading, first_text, instant, location, status_from_words, text_at};
use crate::webhooks::event::{CarrierStatus, TrackingStatus};
use serde_json::Value;

pub(super) fn read(p: &Value) -> Result<Reading, String> {
    let shipment = p.pointer("/shipments/0").unwrap_or(p);
    let tracking_number =
        first_text(shipment, &["/id", "/trackingNumber"]).ok_or("no `shipments[].id`")?;
    // The shipment's status, else its newest event (DHL lists events newest first).
    let status_of = shipment
        .pointer("/status")
        .filter(|s| s.is_object())
        .or_else(|| shipment.pointer("/events/0"))
        .ok_or("no `status` or `events`")?;
    let code = text_at(status_of, "/statusCode");
    let description = first_text(status_of, &["/description", "/status"]);
    if code.is_none() && description.is_none() {
        return Err("no `status.statusCode`".into());
    }
    let at = text_at(status_of, "/timestamp")
        .map(|t| instant(&t, "status.timestamp"))
        .transpose()?;
    Ok(Reading {
        tracking_number,
        status: status(code.as_deref(), description.as_deref()),
        at,
        location: location(
            status_of,
            "/location/address",
            [
                "/addressLocality",
                "/addressRegion",
                "/postalCode",
                "/countryCode",
            ],
        ),
        carrier_status: CarrierStatus { code, description },
    })
}

fn status(code: Option<&str>, description: Option<&str>) -> TrackingStatus {
    let words = description.and_then(status_from_words);
    match code.map(str::to_ascii_lowercase).as_deref() {
        Some("pre-transit") => TrackingStatus::LabelCreated,
        Some("transit") => words.unwrap_or(TrackingStatus::InTransit),
        Some("delivered") => TrackingStatus::Delivered,
        Some("failure") => words
            .filter(|w| *w != TrackingStatus::OutForDelivery)
            .unwrap_or(TrackingStatus::Exception),
        _ => words.unwrap_or(TrackingStatus::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use crate::config::Adapter;
    use crate::webhooks::event::TrackingStatus;
    use serde_json::{Value, json};

    /// A push in the Unified tracking shape.
    fn push(code: &str, description: &str) -> Value {
        json!({
            "shipments": [{
                "id": "1234567890",
                "service": "express",
                "origin": { "address": { "addressLocality": "LEIPZIG - GERMANY", "countryCode": "DE" } },
                "destination": { "address": { "addressLocality": "OSLO - NORWAY", "countryCode": "NO" } },
                "status": {
                    "timestamp": "2026-05-04T09:12:00+02:00",
                    "location": { "address": { "addressLocality": "OSLO - NORWAY", "postalCode": "0150", "countryCode": "NO" } },
                    "statusCode": code,
                    "status": "TRANSIT",
                    "description": description
                },
                "events": [
                    { "timestamp": "2026-05-04T09:12:00+02:00", "statusCode": code, "description": description },
                    { "timestamp": "2026-05-03T22:01:00+02:00", "statusCode": "transit", "description": "Processed at LEIPZIG - GERMANY" }
                ]
            }]
        })
    }

    #[test]
    fn a_unified_push() {
        let e = normalize(
            Adapter::Dhl,
            "nordlicht",
            "dhl",
            "id",
            &push("transit", "Arrived at Delivery Facility in OSLO - NORWAY"),
            0,
        )
        .unwrap();
        assert_eq!(e.tracking_number, "1234567890");
        assert_eq!(e.status, TrackingStatus::InTransit);
        assert_eq!(e.timestamp, "2026-05-04T07:12:00Z");
        let loc = e.location.unwrap();
        assert_eq!(loc.city.as_deref(), Some("OSLO - NORWAY"));
        assert_eq!(loc.postal_code.as_deref(), Some("0150"));
        assert_eq!(e.carrier_status.code.as_deref(), Some("transit"));
    }

    #[test]
    fn status_codes_and_descriptions() {
        for (code, description, expected) in [
            (
                "pre-transit",
                "Shipment information received",
                TrackingStatus::LabelCreated,
            ),
            (
                "transit",
                "Shipment is out with courier for delivery",
                TrackingStatus::InTransit,
            ),
            (
                "transit",
                "Shipment is out for delivery",
                TrackingStatus::OutForDelivery,
            ),
            (
                "transit",
                "Shipment is on hold: customs clearance",
                TrackingStatus::CustomsHold,
            ),
            ("delivered", "Delivered", TrackingStatus::Delivered),
            (
                "failure",
                "Delivery attempted; recipient not home",
                TrackingStatus::Exception,
            ),
            ("failure", "Returned to shipper", TrackingStatus::Returned),
            ("unknown", "Status not available", TrackingStatus::Unknown),
        ] {
            let e = normalize(Adapter::Dhl, "t", "dhl", "id", &push(code, description), 0).unwrap();
            assert_eq!(e.status, expected, "{code}: {description}");
        }
    }

    #[test]
    fn one_shipment_without_the_wrapper() {
        let p = push("delivered", "Delivered");
        let e = normalize(Adapter::Dhl, "t", "dhl", "id", &p["shipments"][0], 0).unwrap();
        assert_eq!(e.status, TrackingStatus::Delivered);
    }
}
