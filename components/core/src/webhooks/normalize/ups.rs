//! UPS Track Alert (`TrackingEventRequest`, CARRIERS.md §1.4): one package's latest
//! activity, with `activityStatus.type` `M`/`MV` manifest, `I` in progress, `X`
//! exception, `D` delivered, `RS` returned, and dates as `YYYYMMDD` + `HHMMSS`.

use super::{Reading, instant, location, status_from_words, text_at};
use crate::webhooks::event::{CarrierStatus, TrackingStatus};
use serde_json::Value;

pub(super) fn read(p: &Value) -> Result<Reading, String> {
    let tracking_number = text_at(p, "/trackingNumber").ok_or("no `trackingNumber`")?;
    let kind = text_at(p, "/activityStatus/type");
    let code = text_at(p, "/activityStatus/code");
    let description = text_at(p, "/activityStatus/description");
    if kind.is_none() && code.is_none() && description.is_none() {
        return Err("no `activityStatus`".into());
    }
    Ok(Reading {
        tracking_number,
        status: status(kind.as_deref(), code.as_deref(), description.as_deref()),
        at: time(p)?,
        location: location(
            p,
            "/activityLocation",
            ["/city", "/stateProvince", "/postalCode", "/country"],
        ),
        carrier_status: CarrierStatus {
            code: code.or(kind),
            description,
        },
    })
}

fn status(kind: Option<&str>, code: Option<&str>, description: Option<&str>) -> TrackingStatus {
    let words = description.and_then(status_from_words);
    match kind.map(str::to_ascii_uppercase).as_deref() {
        Some("D") => TrackingStatus::Delivered,
        Some("M" | "MV") => TrackingStatus::LabelCreated,
        Some("RS") => TrackingStatus::Returned,
        Some("X") => words
            .filter(|w| *w != TrackingStatus::OutForDelivery)
            .unwrap_or(TrackingStatus::Exception),
        Some("I" | "P") if matches!(code, Some("OT" | "OF")) => TrackingStatus::OutForDelivery,
        Some("I" | "P") => words.unwrap_or(TrackingStatus::InTransit),
        _ => words.unwrap_or(TrackingStatus::Unknown),
    }
}

/// The GMT date and time, or the local ones with `gmtOffset`; `None` when absent.
fn time(p: &Value) -> Result<Option<i64>, String> {
    let (date, clock, offset) = match (
        text_at(p, "/gmtActivityDate"),
        text_at(p, "/gmtActivityTime"),
    ) {
        (Some(d), Some(t)) => (d, t, "Z".to_string()),
        _ => match (
            text_at(p, "/localActivityDate"),
            text_at(p, "/localActivityTime"),
        ) {
            (Some(d), Some(t)) => (d, t, text_at(p, "/gmtOffset").unwrap_or_else(|| "Z".into())),
            _ => return Ok(None),
        },
    };
    let digits: String = clock.chars().filter(char::is_ascii_digit).collect();
    let ok = date.len() == 8
        && date.chars().all(|c| c.is_ascii_digit())
        && matches!(digits.len(), 4 | 6);
    if !ok {
        return Err("`gmtActivityDate`/`gmtActivityTime` are not YYYYMMDD and HHMMSS".into());
    }
    let seconds = digits.get(4..6).unwrap_or("00");
    let text = format!(
        "{}-{}-{}T{}:{}:{seconds}{offset}",
        &date[..4],
        &date[4..6],
        &date[6..],
        &digits[..2],
        &digits[2..4],
    );
    instant(&text, "gmtActivityTime").map(Some)
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use crate::config::Adapter;
    use crate::webhooks::event::TrackingStatus;
    use serde_json::{Value, json};

    /// A Track Alert event as UPS posts it (field names from `UPSTrackAlert.yaml`).
    fn delivered() -> Value {
        json!({
            "trackingNumber": "1Z023E2X0214323462",
            "localActivityDate": "20260311",
            "localActivityTime": "143512",
            "gmtActivityDate": "20260311",
            "gmtActivityTime": "183512",
            "gmtOffset": "-04:00",
            "activityLocation": { "city": "ROSWELL", "stateProvince": "GA", "postalCode": "30076", "country": "US" },
            "activityStatus": { "type": "D", "code": "FS", "description": "DELIVERED", "descriptionCode": "FS" },
            "scheduledDeliveryDate": "20260311",
            "actualDeliveryDate": "20260311",
            "actualDeliveryTime": "143512",
            "receivedBy": "FRONT DOOR"
        })
    }

    #[test]
    fn a_delivery() {
        let e = normalize(Adapter::Ups, "globex", "ups", "id", &delivered(), 0).unwrap();
        assert_eq!(e.tracking_number, "1Z023E2X0214323462");
        assert_eq!(e.status, TrackingStatus::Delivered);
        assert_eq!(e.timestamp, "2026-03-11T18:35:12Z");
        let loc = e.location.unwrap();
        assert_eq!(loc.city.as_deref(), Some("ROSWELL"));
        assert_eq!(loc.region.as_deref(), Some("GA"));
        assert_eq!(loc.country.as_deref(), Some("US"));
        assert_eq!(e.carrier_status.code.as_deref(), Some("FS"));
        assert_eq!(e.carrier_status.description.as_deref(), Some("DELIVERED"));
    }

    #[test]
    fn local_time_with_offset_when_gmt_is_missing() {
        let mut p = delivered();
        p.as_object_mut().unwrap().remove("gmtActivityDate");
        let e = normalize(Adapter::Ups, "t", "ups", "id", &p, 0).unwrap();
        assert_eq!(e.timestamp, "2026-03-11T18:35:12Z");
    }

    #[test]
    fn status_types() {
        let cases = [
            (
                "M",
                "MP",
                "Shipper created a label",
                TrackingStatus::LabelCreated,
            ),
            (
                "I",
                "DP",
                "Departed from Facility",
                TrackingStatus::InTransit,
            ),
            (
                "I",
                "OT",
                "Out For Delivery Today",
                TrackingStatus::OutForDelivery,
            ),
            (
                "X",
                "48",
                "The receiver was not available",
                TrackingStatus::Exception,
            ),
            (
                "X",
                "CD",
                "Your package is being held in customs",
                TrackingStatus::CustomsHold,
            ),
            ("RS", "RS", "Returned to shipper", TrackingStatus::Returned),
            ("U", "ZZ", "Update", TrackingStatus::Unknown),
        ];
        for (kind, code, description, expected) in cases {
            let mut p = delivered();
            p["activityStatus"] = json!({ "type": kind, "code": code, "description": description });
            let e = normalize(Adapter::Ups, "t", "ups", "id", &p, 0).unwrap();
            assert_eq!(e.status, expected, "{kind} {code} {description}");
        }
    }

    #[test]
    fn unreadable_dates_and_missing_fields() {
        let mut p = delivered();
        p["gmtActivityTime"] = json!("late");
        assert!(normalize(Adapter::Ups, "t", "ups", "id", &p, 0).is_err());
        let mut p = delivered();
        p.as_object_mut().unwrap().remove("trackingNumber");
        assert!(normalize(Adapter::Ups, "t", "ups", "id", &p, 0).is_err());
    }
}
