//! FedEx Track: `POST /track/v1/trackingnumbers`.

use crate::sandbox::call::Call;
use crate::sandbox::credentials;
use crate::sandbox::dates;
use crate::sandbox::failure::Failure;
use crate::sandbox::fields::{list, need_text};
use crate::sandbox::tracking::{self, Scan, Stage};
use serde_json::{Value, json};

pub(super) fn track(call: &Call<'_>) -> Result<Value, Failure> {
    credentials::require_bearer(call)?;
    let body = call.json()?;
    let infos = list(body.get("trackingInfo"));
    if infos.is_empty() {
        return Err(Failure::missing("trackingInfo"));
    }
    let today = call.today();
    let mut results = Vec::new();
    for (i, info) in infos.iter().enumerate() {
        let number = need_text(
            info,
            &format!("trackingInfo[{i}]"),
            "trackingNumberInfo.trackingNumber",
        )?;
        let result = match tracking::story(&number, today) {
            Some(story) => json!({
                "trackingNumberInfo": { "trackingNumber": number, "carrierCode": "FDXG" },
                "latestStatusDetail": status(story.latest()),
                "dateAndTimes": [
                    { "type": "SHIP", "dateTime": format!("{}T08:15:00", dates::iso(story.shipped)) },
                    { "type": if story.stage == Stage::Delivered { "ACTUAL_DELIVERY" } else { "ESTIMATED_DELIVERY" },
                      "dateTime": format!("{}T{}", dates::iso(story.delivery), if story.stage == Stage::Delivered { "14:32:00" } else { "20:00:00" }) },
                ],
                "scanEvents": story.scans.iter().map(scan_event).collect::<Vec<_>>(),
            }),
            None => json!({
                "trackingNumberInfo": { "trackingNumber": number },
                "error": { "code": "TRACKING.TRACKINGNUMBER.NOTFOUND", "message": "Tracking number cannot be found. Please correct the tracking number and try again." },
            }),
        };
        results.push(json!({ "trackingNumber": number, "trackResults": [result] }));
    }
    Ok(json!({
        "transactionId": call.transaction_id(),
        "output": { "completeTrackResults": results },
    }))
}

fn codes(stage: Stage) -> (&'static str, &'static str) {
    match stage {
        Stage::LabelCreated => ("OC", "Label created"),
        Stage::InTransit => ("IT", "In transit"),
        Stage::OutForDelivery => ("OD", "Out for delivery"),
        Stage::Delivered => ("DL", "Delivered"),
    }
}

fn location(scan: &Scan) -> Value {
    let s = scan.site;
    json!({ "city": s.city, "stateOrProvinceCode": s.state, "postalCode": s.postal, "countryCode": s.country })
}

fn status(scan: &Scan) -> Value {
    let (code, text) = codes(scan.stage);
    json!({ "code": code, "derivedCode": code, "statusByLocale": text, "description": scan.description, "scanLocation": location(scan) })
}

fn scan_event(scan: &Scan) -> Value {
    let (code, text) = codes(scan.stage);
    json!({
        "date": scan.timestamp(),
        "eventType": code,
        "eventDescription": scan.description,
        "derivedStatusCode": code,
        "derivedStatus": text,
        "exceptionCode": "",
        "scanLocation": location(scan),
    })
}
