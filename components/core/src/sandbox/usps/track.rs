//! USPS Tracking: `GET /tracking/v3/tracking/{trackingNumber}`.

use crate::sandbox::call::Call;
use crate::sandbox::dates;
use crate::sandbox::failure::{Failure, Kind};
use crate::sandbox::tracking::{self, Scan, Stage};
use serde_json::{Value, json};

pub(super) fn track(number: &str, call: &Call<'_>) -> Result<Value, Failure> {
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
