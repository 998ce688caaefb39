//! DHL Shipment Tracking – Unified: `GET /track/shipments?trackingNumber=`.

use crate::sandbox::call::Call;
use crate::sandbox::credentials;
use crate::sandbox::dates;
use crate::sandbox::failure::{Failure, Kind};
use crate::sandbox::tracking::{self, Scan, Site, Stage};
use serde_json::{Value, json};

pub(super) fn track(call: &Call<'_>) -> Result<Value, Failure> {
    let challenge = "DHL-API-Key realm=\"Shipment Tracking\"";
    let Some(key) = call.header("dhl-api-key").filter(|k| !k.is_empty()) else {
        let message = "Unauthorized for given resource: the DHL-API-Key header is required.";
        return Err(Failure::new(401, Kind::MissingCredentials, message).with_challenge(challenge));
    };
    if credentials::is_rejected(call, key) {
        let message = "Unauthorized for given resource: invalid API key.";
        return Err(Failure::new(401, Kind::RejectedCredentials, message).with_challenge(challenge));
    }
    let number = call
        .query_param("trackingNumber")
        .filter(|n| !n.trim().is_empty())
        .ok_or_else(|| Failure::missing("trackingNumber"))?;
    let story = tracking::story(number.trim(), call.today()).ok_or_else(|| {
        Failure::new(
            404,
            Kind::UnknownShipment,
            "No shipment with given tracking number found.",
        )
    })?;
    let mut shipment = json!({
        "id": number.trim(),
        "service": call.query_param("service").unwrap_or_else(|| "express".into()),
        "origin": { "address": address(&story.origin) },
        "destination": { "address": address(&story.destination) },
        "status": event(story.latest()),
        "details": {
            "product": { "productName": "DHL EXPRESS WORLDWIDE" },
            "proofOfDelivery": if story.stage == Stage::Delivered { json!({ "timestamp": story.latest().timestamp() }) } else { Value::Null },
            "weight": { "value": 1.5, "unitText": "kg" },
        },
        "events": story.scans.iter().map(event).collect::<Vec<_>>(),
    });
    if story.stage != Stage::Delivered {
        let eta = dates::iso(story.delivery);
        shipment["estimatedTimeOfDelivery"] = json!(format!("{eta}T18:00:00"));
        shipment["estimatedDeliveryTimeFrame"] = json!({ "estimatedFrom": format!("{eta}T09:00:00"), "estimatedThrough": format!("{eta}T18:00:00") });
    }
    Ok(json!({ "shipments": [shipment] }))
}

fn address(site: &Site) -> Value {
    json!({ "countryCode": site.country, "postalCode": site.postal, "addressLocality": site.city })
}

fn event(scan: &Scan) -> Value {
    let (code, status) = match scan.stage {
        Stage::LabelCreated => ("pre-transit", "Shipment information received"),
        Stage::InTransit | Stage::OutForDelivery => ("transit", "In transit"),
        Stage::Delivered => ("delivered", "Delivered"),
    };
    json!({
        "timestamp": scan.timestamp(),
        "location": { "address": address(&scan.site) },
        "statusCode": code,
        "status": status,
        "description": scan.description,
    })
}
