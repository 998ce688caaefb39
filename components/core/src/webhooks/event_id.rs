//! The carrier's id of an event, for exactly-once intake: from a header, from a JSON
//! pointer into the payload, or the SHA-256 of what the carrier signed: the raw body
//! (carriers that send no id resend the same bytes on retry), or, when the signature
//! covers only some fields (USPS: `timestamp` + `payload`), those fields, so a replay
//! with unsigned parts changed or reformatted is still the same event.

use super::error::IntakeError;
use super::normalize::text_at;
use crate::config::{EventIdSource, JsonPointer};
use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Longest event id taken from a header or the payload.
pub const MAX_EVENT_ID_LEN: usize = 256;

/// The event id per `source`. A missing or empty id is an invalid payload.
pub fn source_event_id(
    source: &EventIdSource,
    signed_fields: &[JsonPointer],
    headers: &HeaderMap,
    body: &[u8],
    payload: &Value,
) -> Result<String, IntakeError> {
    let id = match source {
        EventIdSource::BodyHash if signed_fields.is_empty() => {
            return Ok(format!("sha256:{:x}", Sha256::digest(body)));
        }
        EventIdSource::BodyHash => {
            let signed = super::signature::signed_fields_of(body, signed_fields)
                .ok_or_else(|| IntakeError::InvalidPayload("a signed field is missing".into()))?;
            return Ok(format!("sha256:{:x}", Sha256::digest(signed)));
        }
        EventIdSource::Header(name) => headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().to_string())
            .ok_or_else(|| IntakeError::InvalidPayload(format!("no `{name}` header")))?,
        EventIdSource::Pointer(pointer) => text_at(payload, pointer.as_str()).ok_or_else(|| {
            IntakeError::InvalidPayload(format!("no event id at `{}`", pointer.as_str()))
        })?,
    };
    if id.is_empty() || id.len() > MAX_EVENT_ID_LEN {
        return Err(IntakeError::InvalidPayload(format!(
            "the event id is empty or longer than {MAX_EVENT_ID_LEN} characters"
        )));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    #[test]
    fn from_a_header() {
        let mut h = HeaderMap::new();
        h.insert("webhook-id", HeaderValue::from_static("msg_1"));
        let source = EventIdSource::Header("webhook-id".into());
        assert_eq!(
            source_event_id(&source, &[], &h, b"{}", &json!({})).unwrap(),
            "msg_1"
        );
        assert!(matches!(
            source_event_id(&source, &[], &HeaderMap::new(), b"{}", &json!({})),
            Err(IntakeError::InvalidPayload(_))
        ));
    }

    #[test]
    fn from_the_payload() {
        let source = EventIdSource::Pointer(JsonPointer("/id".into()));
        let h = HeaderMap::new();
        assert_eq!(
            source_event_id(&source, &[], &h, b"", &json!({"id": "evt_9"})).unwrap(),
            "evt_9"
        );
        assert_eq!(
            source_event_id(&source, &[], &h, b"", &json!({"id": 42})).unwrap(),
            "42"
        );
        for bad in [json!({}), json!({"id": ""}), json!({"id": {"a": 1}})] {
            assert!(
                source_event_id(&source, &[], &h, b"", &bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn from_the_body_bytes() {
        let h = HeaderMap::new();
        let a =
            source_event_id(&EventIdSource::BodyHash, &[], &h, b"{\"a\":1}", &json!({})).unwrap();
        let b =
            source_event_id(&EventIdSource::BodyHash, &[], &h, b"{\"a\": 1}", &json!({})).unwrap();
        assert!(a.starts_with("sha256:"));
        assert_ne!(a, b, "the raw bytes count, not the parsed value");
    }
}

#[cfg(test)]
mod signed_field_tests {
    use super::*;

    #[test]
    fn from_the_signed_fields_when_the_signature_covers_only_those() {
        let fields = [
            JsonPointer("/timestamp".into()),
            JsonPointer("/payload".into()),
        ];
        let h = HeaderMap::new();
        let id = |body: &str| {
            let payload: Value = serde_json::from_str(body).unwrap();
            source_event_id(
                &EventIdSource::BodyHash,
                &fields,
                &h,
                body.as_bytes(),
                &payload,
            )
        };
        let sent =
            id(r#"{"timestamp":"2026-11-22T07:00:00Z","payload":"p1","subscriptionId":"a"}"#);
        let reformatted = id(
            "{ \"subscriptionId\": \"b\",\n  \"timestamp\": \"2026-11-22T07:00:00Z\", \"payload\": \"p1\" }",
        );
        assert_eq!(
            sent.unwrap(),
            reformatted.unwrap(),
            "unsigned changes are the same event"
        );
        let other = id(r#"{"timestamp":"2026-11-22T07:00:01Z","payload":"p1"}"#).unwrap();
        assert_ne!(
            other,
            id(r#"{"timestamp":"2026-11-22T07:00:00Z","payload":"p1"}"#).unwrap()
        );
        assert!(
            id(r#"{"timestamp":"t"}"#).is_err(),
            "a signed field missing"
        );
    }
}
