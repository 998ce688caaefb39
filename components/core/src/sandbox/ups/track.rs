//! UPS Track: `GET /api/track/v1/details/{inquiryNumber}`.

use crate::sandbox::call::Call;
use crate::sandbox::credentials;
use crate::sandbox::dates;
use crate::sandbox::failure::{Failure, Kind};
use crate::sandbox::tracking::{self, Scan, Stage};
use serde_json::{Value, json};

pub(super) fn track(number: &str, call: &Call<'_>) -> Result<Value, Failure> {
    credentials::require_bearer(call)?;
    for header in ["transId", "transactionSrc"] {
        if call.header(header).is_none_or(str::is_empty) {
            return Err(Failure::missing(header));
        }
    }
    if !(7..=34).contains(&number.len()) {
        return Err(Failure::invalid(
            "inquiryNumber",
            "The inquiry number must be 7 to 34 characters.",
        ));
    }
    let story = tracking::story(number, call.today()).ok_or_else(|| {
        Failure::new(404, Kind::UnknownShipment, "Tracking Information Not Found")
    })?;
    let delivered = story.stage == Stage::Delivered;
    let package = json!({
        "trackingNumber": number,
        "currentStatus": status(story.latest()),
        "deliveryDate": [{ "type": if delivered { "DEL" } else { "SDD" }, "date": dates::compact(story.delivery) }],
        "deliveryTime": { "type": if delivered { "DEL" } else { "EOD" }, "endTime": if delivered { "143200" } else { "230000" } },
        "activity": story.scans.iter().map(activity).collect::<Vec<_>>(),
        "service": { "code": "003", "description": "UPS Ground" },
        "packageCount": 1,
    });
    Ok(
        json!({ "trackResponse": { "shipment": [{ "inquiryNumber": number, "package": [package] }] } }),
    )
}

fn status(scan: &Scan) -> Value {
    let (kind, code, simplified, status_code) = match scan.stage {
        Stage::LabelCreated => ("M", "MP", "Label Created", "003"),
        Stage::InTransit => ("I", "IT", "On the Way", "005"),
        Stage::OutForDelivery => ("I", "OT", "Out for Delivery", "072"),
        Stage::Delivered => ("D", "FS", "Delivered", "011"),
    };
    json!({
        "type": kind,
        "code": code,
        "description": scan.description,
        "simplifiedTextDescription": simplified,
        "statusCode": status_code,
    })
}

fn activity(scan: &Scan) -> Value {
    let s = scan.site;
    json!({
        "date": dates::compact(scan.date),
        "time": scan.time,
        "gmtDate": dates::compact(scan.date),
        "gmtTime": scan.time_colons(),
        "gmtOffset": "+00:00",
        "status": status(scan),
        "location": { "address": {
            "city": s.city, "stateProvince": s.state, "postalCode": s.postal,
            "country": s.country, "countryCode": s.country,
        } },
    })
}
