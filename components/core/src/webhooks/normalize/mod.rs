//! Each carrier's tracking push → one [`TrackingEvent`]. A module per payload shape
//! (chosen by the carrier's adapter); each reads the latest status of one shipment and
//! says what is missing when it cannot. Recorded payloads in each carrier's real shape
//! are the tests.

mod dhl;
mod easypost;
mod fedex;
mod ups;
mod usps;

use super::error::IntakeError;
use super::event::{
    CarrierStatus, Location, TrackingEvent, TrackingStatus, event_id, format_rfc3339,
};
use crate::config::{Adapter, parse_rfc3339};
use serde_json::Value;

/// What a carrier module reads from a payload.
#[derive(Debug)]
struct Reading {
    tracking_number: String,
    status: TrackingStatus,
    /// Unix seconds; `None` when the payload carries no time.
    at: Option<i64>,
    location: Option<Location>,
    carrier_status: CarrierStatus,
}

/// Normalizes a verified, parsed payload. `source_id` is the carrier's event id (see
/// [`super::event_id`]); `now` (Unix seconds) stands in for an event without a time.
/// A payload that is not a tracking event of this carrier's shape is a 400
/// `invalid-payload`.
pub fn normalize(
    adapter: Adapter,
    tenant: &str,
    carrier: &str,
    source_id: &str,
    payload: &Value,
    now: u64,
) -> Result<TrackingEvent, IntakeError> {
    let read = match adapter {
        Adapter::Ups => ups::read,
        Adapter::Fedex => fedex::read,
        Adapter::Dhl => dhl::read,
        Adapter::Usps => usps::read,
        // A carrier without built-in knowledge: EasyPost's tracker events, the shape
        // multi-carrier aggregators send.
        Adapter::Generic => easypost::read,
    };
    let reading = read(payload).map_err(IntakeError::InvalidPayload)?;
    Ok(TrackingEvent {
        id: event_id(tenant, carrier, source_id),
        tenant: tenant.to_string(),
        carrier: carrier.to_string(),
        tracking_number: reading.tracking_number,
        status: reading.status,
        timestamp: format_rfc3339(reading.at.unwrap_or(now as i64)),
        location: reading.location,
        carrier_status: reading.carrier_status,
    })
}

/// A string or number at `pointer`, trimmed, if not empty.
pub(super) fn text_at(value: &Value, pointer: &str) -> Option<String> {
    let text = match value.pointer(pointer)? {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    (!text.is_empty()).then_some(text)
}

/// The first of `pointers` that holds text.
fn first_text(value: &Value, pointers: &[&str]) -> Option<String> {
    pointers.iter().find_map(|p| text_at(value, p))
}

/// An RFC 3339 date-time; one without an offset is taken as UTC. `field` names it in
/// the error.
fn instant(text: &str, field: &str) -> Result<i64, String> {
    parse_rfc3339(text)
        .or_else(|| parse_rfc3339(&format!("{}Z", text.trim())))
        .ok_or_else(|| format!("`{field}` is not a date-time"))
}

/// What a carrier's free-text description says that its code may not: out for
/// delivery, held in customs, on its way back.
fn status_from_words(description: &str) -> Option<TrackingStatus> {
    let d = description.to_ascii_lowercase();
    let released = d.contains("cleared") || d.contains("released");
    if d.contains("out for delivery") || d.contains("with delivery courier") {
        Some(TrackingStatus::OutForDelivery)
    } else if (d.contains("customs") || d.contains("clearance")) && !released {
        Some(TrackingStatus::CustomsHold)
    } else if d.contains("return to sender")
        || d.contains("returned to")
        || d.contains("return to shipper")
        || d.contains("returning to")
    {
        Some(TrackingStatus::Returned)
    } else {
        None
    }
}

/// The non-empty parts of a location, read from `pointers` (city, region, postal code,
/// country) under `base`.
fn location(value: &Value, base: &str, pointers: [&str; 4]) -> Option<Location> {
    let at = |p: &str| text_at(value, &format!("{base}{p}"));
    Location {
        city: at(pointers[0]),
        region: at(pointers[1]),
        postal_code: at(pointers[2]),
        country: at(pointers[3]),
    }
    .non_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_event_carries_identity_and_falls_back_to_receipt_time() {
        let payload = json!({
            "trackingNumber": "1Z999AA10123456784",
            "activityStatus": { "type": "I", "code": "DP", "description": "Departed from Facility" }
        });
        let e = normalize(
            Adapter::Ups,
            "globex",
            "ups",
            "sha256:ab",
            &payload,
            1_800_000_000,
        )
        .unwrap();
        assert_eq!(e.id, event_id("globex", "ups", "sha256:ab"));
        assert_eq!((e.tenant.as_str(), e.carrier.as_str()), ("globex", "ups"));
        assert_eq!(e.timestamp, format_rfc3339(1_800_000_000));
    }

    #[test]
    fn a_payload_of_another_shape_is_invalid() {
        for adapter in [
            Adapter::Ups,
            Adapter::Fedex,
            Adapter::Dhl,
            Adapter::Usps,
            Adapter::Generic,
        ] {
            for payload in [
                json!({}),
                json!([1, 2]),
                json!("text"),
                json!({"hello": "world"}),
            ] {
                let r = normalize(adapter, "t", "c", "id", &payload, 0);
                assert!(
                    matches!(r, Err(IntakeError::InvalidPayload(_))),
                    "{adapter:?} {payload}: {r:?}"
                );
            }
        }
    }

    #[test]
    fn words_refine_codes() {
        assert_eq!(
            status_from_words("Out For Delivery Today"),
            Some(TrackingStatus::OutForDelivery)
        );
        assert_eq!(
            status_from_words("Held in customs"),
            Some(TrackingStatus::CustomsHold)
        );
        assert_eq!(status_from_words("Cleared customs"), None);
        assert_eq!(
            status_from_words("Returned to shipper"),
            Some(TrackingStatus::Returned)
        );
        assert_eq!(status_from_words("Arrived at facility"), None);
    }

    #[test]
    fn date_times_without_offset_are_utc() {
        assert_eq!(instant("2026-03-01T10:00:00", "t"), Ok(1_772_359_200));
        assert_eq!(instant("2026-03-01T11:00:00+01:00", "t"), Ok(1_772_359_200));
        assert!(instant("soon", "t").is_err());
    }
}
