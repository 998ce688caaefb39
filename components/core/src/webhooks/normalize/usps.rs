//! USPS Subscriptions – Tracking (CARRIERS.md §4.5): `{ subscriptionId,
//! subscriptionType: "TRACKING", timestamp, payload, links }` where `payload` is a
//! JSON *string* of the Tracking v3r2 object (`trackingNumber`, `status`,
//! `statusCategory`, `trackingEvents[]`, newest first).

use super::{Reading, first_text, instant, location, status_from_words, text_at};
use crate::webhooks::event::{CarrierStatus, TrackingStatus};
use serde_json::Value;

pub(super) fn read(p: &Value) -> Result<Reading, String> {
    let tracking: Value = match p.pointer("/payload") {
        Some(Value::String(s)) => serde_json::from_str(s)
            .map_err(|_| "`payload` is not a JSON string of a tracking object")?,
        Some(object @ Value::Object(_)) => object.clone(),
        _ => return Err("no `payload`".into()),
    };
    let tracking_number =
        text_at(&tracking, "/trackingNumber").ok_or("no `payload.trackingNumber`")?;
    let latest = tracking.pointer("/trackingEvents/0");
    let category = text_at(&tracking, "/statusCategory");
    let description = first_text(&tracking, &["/status", "/statusSummary"])
        .or_else(|| latest.and_then(|e| text_at(e, "/eventType")));
    if category.is_none() && description.is_none() {
        return Err("no `payload.statusCategory` or `payload.status`".into());
    }
    let at = match latest.and_then(|e| first_text(e, &["/GMTTimestamp", "/eventTimestamp"])) {
        Some(t) => Some(instant(&t, "trackingEvents[0].GMTTimestamp")?),
        None => text_at(p, "/timestamp")
            .map(|t| instant(&t, "timestamp"))
            .transpose()?,
    };
    Ok(Reading {
        tracking_number,
        status: status(category.as_deref(), description.as_deref()),
        at,
        location: latest.and_then(|e| {
            location(
                e,
                "",
                [
                    "/eventCity",
                    "/eventState",
                    "/eventZIPCode",
                    "/eventCountry",
                ],
            )
        }),
        carrier_status: CarrierStatus {
            code: latest.and_then(|e| text_at(e, "/eventCode")).or(category),
            description,
        },
    })
}

fn status(category: Option<&str>, description: Option<&str>) -> TrackingStatus {
    let words = description.and_then(status_from_words);
    let category: Option<String> = category.map(|c| {
        c.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect()
    });
    match category.as_deref() {
        Some("preshipment") => TrackingStatus::LabelCreated,
        Some("accepted" | "intransit" | "availableforpickup" | "pickedup") => {
            words.unwrap_or(TrackingStatus::InTransit)
        }
        Some("outfordelivery") => TrackingStatus::OutForDelivery,
        Some("delivered") => TrackingStatus::Delivered,
        Some("alert" | "deliveryattempt" | "missed" | "noticeleft") => words
            .filter(|w| *w != TrackingStatus::OutForDelivery)
            .unwrap_or(TrackingStatus::Exception),
        Some("returntosender" | "returned") => TrackingStatus::Returned,
        _ => words.unwrap_or(TrackingStatus::Unknown),
    }
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use crate::config::Adapter;
    use crate::webhooks::event::TrackingStatus;
    use serde_json::{Value, json};

    fn tracking(category: &str, status: &str) -> Value {
        json!({
            "trackingNumber": "9400111899223197428490",
            "status": status,
            "statusCategory": category,
            "statusSummary": "Your item was delivered in or at the mailbox at 1:34 pm on March 12, 2026 in NEW YORK, NY 10001.",
            "mailClass": "USPS Ground Advantage",
            "trackingEvents": [
                { "eventType": status, "eventTimestamp": "2026-03-12T13:34:00-04:00", "GMTTimestamp": "2026-03-12T17:34:00Z",
                  "GMTOffset": "-04:00", "eventCode": "01", "eventCity": "NEW YORK", "eventState": "NY", "eventZIPCode": "10001", "eventCountry": "" },
                { "eventType": "Out for Delivery", "eventTimestamp": "2026-03-12T07:10:00-04:00", "eventCode": "OF" }
            ]
        })
    }

    /// A notification as USPS posts it: the tracking object as a JSON string.
    fn notification(category: &str, status: &str) -> Value {
        json!({
            "subscriptionId": "3f0e7c1a-8a3e-4c4b-9b1d-2f9a0c6d5e11",
            "subscriptionType": "TRACKING",
            "timestamp": "2026-03-12T17:35:02Z",
            "payload": tracking(category, status).to_string(),
            "links": [{ "rel": ["subscription"], "href": "https://apis.usps.com/subscriptions-tracking/v3r2/subscriptions/3f0e7c1a" }]
        })
    }

    #[test]
    fn a_delivery_notification() {
        let e = normalize(
            Adapter::Usps,
            "prairie-supply",
            "usps",
            "id",
            &notification("Delivered", "Delivered, In/At Mailbox"),
            0,
        )
        .unwrap();
        assert_eq!(e.tracking_number, "9400111899223197428490");
        assert_eq!(e.status, TrackingStatus::Delivered);
        assert_eq!(e.timestamp, "2026-03-12T17:34:00Z");
        let loc = e.location.unwrap();
        assert_eq!(loc.city.as_deref(), Some("NEW YORK"));
        assert_eq!(loc.postal_code.as_deref(), Some("10001"));
        assert_eq!(loc.country, None, "empty parts are left out");
        assert_eq!(e.carrier_status.code.as_deref(), Some("01"));
        assert_eq!(
            e.carrier_status.description.as_deref(),
            Some("Delivered, In/At Mailbox")
        );
    }

    #[test]
    fn categories() {
        for (category, status, expected) in [
            (
                "Pre-Shipment",
                "Shipping Label Created, USPS Awaiting Item",
                TrackingStatus::LabelCreated,
            ),
            ("Accepted", "USPS picked up item", TrackingStatus::InTransit),
            (
                "In Transit",
                "Arrived at USPS Regional Facility",
                TrackingStatus::InTransit,
            ),
            (
                "Out for Delivery",
                "Out for Delivery",
                TrackingStatus::OutForDelivery,
            ),
            ("Alert", "Held in Customs", TrackingStatus::CustomsHold),
            (
                "Alert",
                "Delivery Attempted - No Access to Delivery Location",
                TrackingStatus::Exception,
            ),
            (
                "Return to Sender",
                "Return to Sender Processed",
                TrackingStatus::Returned,
            ),
        ] {
            let e = normalize(
                Adapter::Usps,
                "t",
                "usps",
                "id",
                &notification(category, status),
                0,
            )
            .unwrap();
            assert_eq!(e.status, expected, "{category}: {status}");
        }
    }

    #[test]
    fn a_payload_that_is_not_tracking_json_is_invalid() {
        let mut n = notification("Delivered", "Delivered");
        n["payload"] = json!("{not json");
        assert!(normalize(Adapter::Usps, "t", "usps", "id", &n, 0).is_err());
        let mut n = notification("Delivered", "Delivered");
        n.as_object_mut().unwrap().remove("payload");
        assert!(normalize(Adapter::Usps, "t", "usps", "id", &n, 0).is_err());
    }
}
