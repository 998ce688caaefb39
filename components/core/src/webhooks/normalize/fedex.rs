//! FedEx Advanced Integrated Visibility (CARRIERS.md §2.4): the payload mirrors the
//! Track API's `trackResults` (`latestStatusDetail`, `scanEvents[]`, `dateAndTimes[]`).
//! Accepted as one track result, or wrapped as the Track API answers
//! (`output.completeTrackResults[].trackResults[]`); the first shipment counts.

use super::{Reading, first_text, instant, location, status_from_words, text_at};
use crate::webhooks::event::{CarrierStatus, TrackingStatus};
use serde_json::Value;

pub(super) fn read(p: &Value) -> Result<Reading, String> {
    let complete = p
        .pointer("/output/completeTrackResults/0")
        .or_else(|| p.pointer("/completeTrackResults/0"));
    let result = complete
        .and_then(|c| c.pointer("/trackResults/0"))
        .or_else(|| p.pointer("/trackResults/0"))
        .unwrap_or(p);
    let tracking_number = text_at(result, "/trackingNumberInfo/trackingNumber")
        .or_else(|| complete.and_then(|c| text_at(c, "/trackingNumber")))
        .or_else(|| text_at(result, "/trackingNumber"))
        .ok_or("no `trackingNumberInfo.trackingNumber`")?;
    // FedEx lists scan events newest first.
    let scan = result.pointer("/scanEvents/0");
    let code = first_text(
        result,
        &[
            "/latestStatusDetail/derivedCode",
            "/latestStatusDetail/code",
        ],
    )
    .or_else(|| scan.and_then(|s| first_text(s, &["/derivedStatusCode", "/eventType"])));
    let description = first_text(
        result,
        &[
            "/latestStatusDetail/description",
            "/latestStatusDetail/statusByLocale",
        ],
    )
    .or_else(|| scan.and_then(|s| first_text(s, &["/eventDescription", "/derivedStatus"])));
    let Some(code) = code else {
        return Err("no `latestStatusDetail` or `scanEvents`".into());
    };
    let where_ = [
        "/city",
        "/stateOrProvinceCode",
        "/postalCode",
        "/countryCode",
    ];
    Ok(Reading {
        tracking_number,
        status: status(&code, description.as_deref()),
        at: time(result, scan)?,
        location: location(result, "/latestStatusDetail/scanLocation", where_)
            .or_else(|| scan.and_then(|s| location(s, "/scanLocation", where_))),
        carrier_status: CarrierStatus {
            code: Some(code),
            description,
        },
    })
}

fn status(code: &str, description: Option<&str>) -> TrackingStatus {
    let words = description.and_then(status_from_words);
    match code.to_ascii_uppercase().as_str() {
        "OC" | "IN" => TrackingStatus::LabelCreated,
        "PU" | "IT" | "AR" | "AF" | "DP" | "FD" | "AP" | "OW" | "CC" | "HL" | "PM" | "SP" => {
            TrackingStatus::InTransit
        }
        "OD" => TrackingStatus::OutForDelivery,
        "DL" => TrackingStatus::Delivered,
        "CD" => TrackingStatus::CustomsHold,
        "RS" => TrackingStatus::Returned,
        "DE" | "SE" | "DY" | "CA" => words
            .filter(|w| *w != TrackingStatus::OutForDelivery)
            .unwrap_or(TrackingStatus::Exception),
        _ => words.unwrap_or(TrackingStatus::Unknown),
    }
}

/// The newest scan's date, else the actual delivery time; `None` when neither is there.
fn time(result: &Value, scan: Option<&Value>) -> Result<Option<i64>, String> {
    if let Some(date) = scan.and_then(|s| text_at(s, "/date")) {
        return instant(&date, "scanEvents[0].date").map(Some);
    }
    let delivered = result
        .pointer("/dateAndTimes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|d| text_at(d, "/type").as_deref() == Some("ACTUAL_DELIVERY"))
        .and_then(|d| text_at(d, "/dateTime"));
    delivered
        .map(|d| instant(&d, "dateAndTimes[].dateTime"))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use crate::config::Adapter;
    use crate::webhooks::event::TrackingStatus;
    use serde_json::{Value, json};

    /// One AIV event: a Track API `trackResults` element.
    fn out_for_delivery() -> Value {
        json!({
            "trackingNumberInfo": { "trackingNumber": "794698111111", "carrierCode": "FDXE", "trackingNumberUniqueId": "12029~794698111111~FDEG" },
            "latestStatusDetail": {
                "code": "OD", "derivedCode": "OD", "statusByLocale": "On FedEx vehicle for delivery",
                "description": "On FedEx vehicle for delivery",
                "scanLocation": { "city": "MEMPHIS", "stateOrProvinceCode": "TN", "postalCode": "38118", "countryCode": "US" }
            },
            "dateAndTimes": [
                { "type": "ESTIMATED_DELIVERY", "dateTime": "2026-04-02T20:00:00-05:00" },
                { "type": "SHIP", "dateTime": "2026-03-31T00:00:00-06:00" }
            ],
            "scanEvents": [
                { "date": "2026-04-02T07:41:00-05:00", "eventType": "OD", "eventDescription": "On FedEx vehicle for delivery",
                  "derivedStatusCode": "OD", "derivedStatus": "On FedEx vehicle for delivery",
                  "scanLocation": { "city": "MEMPHIS", "stateOrProvinceCode": "TN", "postalCode": "38118", "countryCode": "US" } },
                { "date": "2026-04-01T22:10:00-05:00", "eventType": "AR", "eventDescription": "At local FedEx facility",
                  "derivedStatusCode": "IT", "derivedStatus": "In transit" }
            ]
        })
    }

    #[test]
    fn an_aiv_track_result() {
        let e = normalize(
            Adapter::Fedex,
            "nordlicht",
            "fedex",
            "id",
            &out_for_delivery(),
            0,
        )
        .unwrap();
        assert_eq!(e.tracking_number, "794698111111");
        assert_eq!(e.status, TrackingStatus::OutForDelivery);
        assert_eq!(e.timestamp, "2026-04-02T12:41:00Z");
        assert_eq!(e.location.unwrap().city.as_deref(), Some("MEMPHIS"));
        assert_eq!(e.carrier_status.code.as_deref(), Some("OD"));
    }

    #[test]
    fn wrapped_as_the_track_api_answers() {
        let wrapped = json!({
            "transactionId": "624deea6-b709-470c-8c39-4b5511281492",
            "output": { "completeTrackResults": [ { "trackingNumber": "794698111111", "trackResults": [ out_for_delivery() ] } ] }
        });
        let e = normalize(Adapter::Fedex, "t", "fedex", "id", &wrapped, 0).unwrap();
        assert_eq!(e.tracking_number, "794698111111");
        assert_eq!(e.status, TrackingStatus::OutForDelivery);
    }

    #[test]
    fn codes() {
        for (code, description, expected) in [
            (
                "OC",
                "Shipment information sent to FedEx",
                TrackingStatus::LabelCreated,
            ),
            ("IT", "In transit", TrackingStatus::InTransit),
            ("DL", "Delivered", TrackingStatus::Delivered),
            ("DE", "Delivery exception", TrackingStatus::Exception),
            ("CD", "Clearance delay", TrackingStatus::CustomsHold),
            ("RS", "Return to shipper", TrackingStatus::Returned),
            ("ZZ", "Something new", TrackingStatus::Unknown),
        ] {
            let mut p = out_for_delivery();
            p["latestStatusDetail"]["derivedCode"] = json!(code);
            p["latestStatusDetail"]["description"] = json!(description);
            let e = normalize(Adapter::Fedex, "t", "fedex", "id", &p, 0).unwrap();
            assert_eq!(e.status, expected, "{code}");
        }
    }

    #[test]
    fn delivery_time_without_scans() {
        let mut p = out_for_delivery();
        p.as_object_mut().unwrap().remove("scanEvents");
        p["latestStatusDetail"]["derivedCode"] = json!("DL");
        p["dateAndTimes"] =
            json!([{ "type": "ACTUAL_DELIVERY", "dateTime": "2026-04-02T10:00:00-05:00" }]);
        let e = normalize(Adapter::Fedex, "t", "fedex", "id", &p, 0).unwrap();
        assert_eq!(e.timestamp, "2026-04-02T15:00:00Z");
    }
}
