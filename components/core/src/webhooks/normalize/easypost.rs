//! EasyPost tracker events (CARRIERS.md §5), the payload of carriers with the
//! `generic` adapter: `{ id, object: "Event", description: "tracker.updated", result {
//! object: "Tracker", tracking_code, status, status_detail, tracking_details[] } }`,
//! details oldest first.

use super::{Reading, instant, location, text_at};
use crate::webhooks::event::{CarrierStatus, TrackingStatus};
use serde_json::Value;

pub(super) fn read(p: &Value) -> Result<Reading, String> {
    let tracker = match p.pointer("/result") {
        Some(result) => result,
        None => p,
    };
    if text_at(tracker, "/object").as_deref() != Some("Tracker") {
        return Err("not an EasyPost tracker event (`result.object` is not \"Tracker\")".into());
    }
    let tracking_number = text_at(tracker, "/tracking_code").ok_or("no `result.tracking_code`")?;
    let code = text_at(tracker, "/status").ok_or("no `result.status`")?;
    let latest = tracker
        .pointer("/tracking_details")
        .and_then(Value::as_array)
        .and_then(|d| d.last());
    let description = latest.and_then(|d| text_at(d, "/message"));
    let detail = text_at(tracker, "/status_detail");
    let at = match latest
        .and_then(|d| text_at(d, "/datetime"))
        .or_else(|| text_at(tracker, "/updated_at"))
    {
        Some(t) => Some(instant(&t, "tracking_details[].datetime")?),
        None => None,
    };
    Ok(Reading {
        tracking_number,
        status: status(&code, detail.as_deref()),
        at,
        location: latest.and_then(|d| {
            location(
                d,
                "/tracking_location",
                ["/city", "/state", "/zip", "/country"],
            )
        }),
        carrier_status: CarrierStatus {
            code: Some(detail.map_or(code.clone(), |d| format!("{code}/{d}"))),
            description,
        },
    })
}

/// EasyPost's statuses are already a vocabulary: mapped one to one, no word guessing.
fn status(code: &str, detail: Option<&str>) -> TrackingStatus {
    if detail.is_some_and(|d| d.contains("customs")) {
        return TrackingStatus::CustomsHold;
    }
    match code {
        "pre_transit" => TrackingStatus::LabelCreated,
        "in_transit" | "available_for_pickup" => TrackingStatus::InTransit,
        "out_for_delivery" => TrackingStatus::OutForDelivery,
        "delivered" => TrackingStatus::Delivered,
        "return_to_sender" => TrackingStatus::Returned,
        "failure" | "error" | "cancelled" => TrackingStatus::Exception,
        _ => TrackingStatus::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use crate::config::Adapter;
    use crate::webhooks::event::TrackingStatus;
    use serde_json::{Value, json};

    fn event(status: &str, detail: &str) -> Value {
        json!({
            "id": "evt_0d7f0c2e1a2b4c5d",
            "object": "Event",
            "mode": "production",
            "description": "tracker.updated",
            "result": {
                "id": "trk_1a2b3c",
                "object": "Tracker",
                "tracking_code": "EZ4000000004",
                "status": status,
                "status_detail": detail,
                "est_delivery_date": "2026-06-03T00:00:00Z",
                "carrier": "USPS",
                "updated_at": "2026-06-02T12:00:00Z",
                "tracking_details": [
                    { "object": "TrackingDetail", "message": "Pre-Shipment information received", "status": "pre_transit",
                      "datetime": "2026-05-31T09:00:00Z", "tracking_location": { "city": null, "state": null, "zip": null, "country": null } },
                    { "object": "TrackingDetail", "message": "Out for delivery", "status": status,
                      "datetime": "2026-06-02T08:15:00Z", "tracking_location": { "city": "CHARLESTON", "state": "SC", "zip": "29401", "country": "US" } }
                ]
            }
        })
    }

    #[test]
    fn a_tracker_update() {
        let e = normalize(
            Adapter::Generic,
            "t",
            "easypost",
            "evt_0d7f0c2e1a2b4c5d",
            &event("out_for_delivery", "out_for_delivery"),
            0,
        )
        .unwrap();
        assert_eq!(e.tracking_number, "EZ4000000004");
        assert_eq!(e.status, TrackingStatus::OutForDelivery);
        assert_eq!(e.timestamp, "2026-06-02T08:15:00Z");
        assert_eq!(e.location.unwrap().city.as_deref(), Some("CHARLESTON"));
    }

    #[test]
    fn statuses() {
        for (status, detail, expected) in [
            ("pre_transit", "status_update", TrackingStatus::LabelCreated),
            (
                "in_transit",
                "arrived_at_facility",
                TrackingStatus::InTransit,
            ),
            (
                "in_transit",
                "awaiting_customs_clearance",
                TrackingStatus::CustomsHold,
            ),
            (
                "delivered",
                "arrived_at_destination",
                TrackingStatus::Delivered,
            ),
            ("return_to_sender", "return", TrackingStatus::Returned),
            ("failure", "lost", TrackingStatus::Exception),
            ("unknown", "unknown", TrackingStatus::Unknown),
        ] {
            let e = normalize(Adapter::Generic, "t", "c", "id", &event(status, detail), 0).unwrap();
            assert_eq!(e.status, expected, "{status}/{detail}");
        }
    }
}
