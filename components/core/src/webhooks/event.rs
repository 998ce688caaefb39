//! The one tracking event every carrier's push becomes, and the envelope subscribers
//! receive it in.

use super::keys::short_digest;
use serde::{Deserialize, Serialize};

/// Where a shipment is, in one vocabulary for every carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    /// The shipment is known (label printed, manifested), not yet with the carrier.
    LabelCreated,
    InTransit,
    OutForDelivery,
    Delivered,
    /// Something went wrong: a failed attempt, damage, a delay, an address problem.
    Exception,
    /// Held by customs or waiting for clearance.
    CustomsHold,
    /// On its way back to the shipper, or back already.
    Returned,
    /// The carrier's status has no counterpart here.
    Unknown,
}

impl TrackingStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingStatus::LabelCreated => "label_created",
            TrackingStatus::InTransit => "in_transit",
            TrackingStatus::OutForDelivery => "out_for_delivery",
            TrackingStatus::Delivered => "delivered",
            TrackingStatus::Exception => "exception",
            TrackingStatus::CustomsHold => "customs_hold",
            TrackingStatus::Returned => "returned",
            TrackingStatus::Unknown => "unknown",
        }
    }
}

/// Where the event happened, as far as the carrier says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Location {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// State, province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    /// As the carrier writes it (usually ISO 3166-1 alpha-2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
}

impl Location {
    /// `None` when every part is empty.
    pub fn non_empty(self) -> Option<Location> {
        (self != Location::default()).then_some(self)
    }
}

/// The carrier's own status, untranslated.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarrierStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// One normalized tracking event (the `TrackingEvent` schema of the OpenAPI document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrackingEvent {
    /// `evt_` + 32 hex digits, derived from (tenant, carrier, the carrier's event id):
    /// the same for every retry of one carrier event, and the `webhook-id` of its
    /// deliveries.
    pub id: String,
    pub tenant: String,
    pub carrier: String,
    pub tracking_number: String,
    pub status: TrackingStatus,
    /// When it happened (RFC 3339, UTC); the receipt time when the carrier sent none.
    pub timestamp: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
    pub carrier_status: CarrierStatus,
}

impl TrackingEvent {
    /// The event's type for subscriptions' `events` filters: `tracking.<status>`.
    pub fn event_type(&self) -> String {
        format!("tracking.{}", self.status.as_str())
    }

    /// The body sent to subscribers, the Standard Webhooks payload shape:
    /// `{"type": "tracking.delivered", "timestamp": "...", "data": {event}}`.
    pub fn payload(&self) -> String {
        #[derive(Serialize)]
        struct Envelope<'a> {
            #[serde(rename = "type")]
            event_type: String,
            timestamp: &'a str,
            data: &'a TrackingEvent,
        }
        serde_json::to_string(&Envelope {
            event_type: self.event_type(),
            timestamp: &self.timestamp,
            data: self,
        })
        .expect("an event serializes")
    }
}

/// The Waypost id of a carrier event: `evt_` + 32 hex digits of SHA-256 over
/// (tenant, carrier, the carrier's event id).
pub fn event_id(tenant: &str, carrier: &str, source_id: &str) -> String {
    format!("evt_{}", short_digest(&[tenant, carrier, source_id]))
}

/// Unix seconds → `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_rfc3339;

    #[test]
    fn rfc3339_round_trips() {
        for text in [
            "1970-01-01T00:00:00Z",
            "2024-02-29T23:59:59Z",
            "2027-01-01T00:00:00Z",
            "1969-12-31T23:59:59Z",
        ] {
            let unix = parse_rfc3339(text).unwrap();
            assert_eq!(format_rfc3339(unix), text);
        }
    }

    #[test]
    fn the_payload_is_a_standard_webhooks_envelope() {
        let event = TrackingEvent {
            id: event_id("acme", "ups", "x"),
            tenant: "acme".into(),
            carrier: "ups".into(),
            tracking_number: "1Z".into(),
            status: TrackingStatus::OutForDelivery,
            timestamp: "2026-01-02T03:04:05Z".into(),
            location: None,
            carrier_status: CarrierStatus::default(),
        };
        let v: serde_json::Value = serde_json::from_str(&event.payload()).unwrap();
        assert_eq!(v["type"], "tracking.out_for_delivery");
        assert_eq!(v["timestamp"], "2026-01-02T03:04:05Z");
        assert_eq!(v["data"]["status"], "out_for_delivery");
        assert_eq!(v["data"]["id"], event.id.as_str());
        assert!(v["data"].get("location").is_none());
    }

    #[test]
    fn the_openapi_schema_lists_every_status() {
        let yaml = include_str!("../../openapi/waypost.yaml");
        let schema = &yaml[yaml
            .find("    TrackingEvent:")
            .expect("the schema is there")..];
        let line = schema
            .lines()
            .find(|l| l.trim_start().starts_with("enum: [label_created"))
            .expect("the status enum");
        let listed: Vec<&str> = line
            .trim_start()
            .trim_start_matches("enum: [")
            .trim_end_matches(']')
            .split(", ")
            .collect();
        let all = [
            TrackingStatus::LabelCreated,
            TrackingStatus::InTransit,
            TrackingStatus::OutForDelivery,
            TrackingStatus::Delivered,
            TrackingStatus::Exception,
            TrackingStatus::CustomsHold,
            TrackingStatus::Returned,
            TrackingStatus::Unknown,
        ];
        let ours: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        assert_eq!(listed, ours);
        for status in all {
            let json = serde_json::to_value(status).unwrap();
            assert_eq!(json, status.as_str());
        }
    }

    #[test]
    fn event_ids_depend_on_tenant_carrier_and_source() {
        let a = event_id("acme", "ups", "1");
        assert!(a.starts_with("evt_") && a.len() == 36);
        assert_eq!(a, event_id("acme", "ups", "1"));
        assert_ne!(a, event_id("acme", "fedex", "1"));
        assert_ne!(a, event_id("globex", "ups", "1"));
    }
}
