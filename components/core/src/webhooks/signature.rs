//! Verifying a carrier's webhook per its intake's [`Signature`] scheme, on the raw
//! body, before anything else reads it.
//!
//! - `hmac-sha256`: the configured header holds `prefix` + the HMAC-SHA256 of the raw
//!   body (FedEx `fdx-signature`, base64; EasyPost `X-Hmac-Signature`,
//!   `hmac-sha256-hex=` + hex), or of the concatenated values of `signed_fields` (USPS
//!   `X-HMAC` over `timestamp` + `payload`; the only case where the body is parsed
//!   first, to find what was signed). A signed `timestamp` field further than the
//!   intake's `tolerance_secs` from now is refused (401 `stale-timestamp`).
//! - `static-token`: the configured header holds `prefix` + a shared token (DHL push,
//!   UPS Track Alert's bearer credential).
//! - `standard-webhooks`: see [`super::standard_webhooks`].
//!
//! Secrets arrive resolved, one per variable of the intake; several may be active at
//! once (rotation) and any one that matches passes. Comparisons are constant time
//! (`Mac::verify_slice`, or SHA-256 digests compared with `subtle`).

use super::error::IntakeError;
use super::standard_webhooks;
use crate::config::{Encoding, JsonPointer, Signature, WebhookIntake, parse_rfc3339};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use subtle::ConstantTimeEq;
use unicode_normalization::UnicodeNormalization;

/// Verifies the request against `intake` with its resolved `secrets` (empty values,
/// variables that are not set, are skipped). `now` is Unix seconds.
pub fn verify(
    intake: &WebhookIntake,
    secrets: &[String],
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<(), IntakeError> {
    let secrets: Vec<&str> = secrets
        .iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .collect();
    if secrets.is_empty() {
        return Err(IntakeError::Misconfigured(format!(
            "no webhook secret of carrier {} is set",
            intake.carrier
        )));
    }
    match &intake.signature {
        Signature::HmacSha256 {
            header,
            encoding,
            prefix,
            signed_fields,
            timestamp,
        } => {
            let value = single_header(headers, header)?;
            let encoded = value
                .strip_prefix(prefix.as_str())
                .ok_or(IntakeError::BadSignature)?;
            let signature = decode(*encoding, encoded.trim()).ok_or(IntakeError::BadSignature)?;
            let message: Cow<[u8]> = if signed_fields.is_empty() {
                Cow::Borrowed(body)
            } else {
                Cow::Owned(signed_fields_of(body, signed_fields).ok_or(IntakeError::BadSignature)?)
            };
            let matched = secrets
                .iter()
                .flat_map(|s| key_forms(s))
                .any(|key| hmac_matches(key.as_bytes(), &message, &signature));
            if !matched {
                return Err(IntakeError::BadSignature);
            }
            match timestamp {
                Some(field) => within_tolerance(body, field, now, intake.tolerance_secs),
                None => Ok(()),
            }
        }
        Signature::StaticToken { header, prefix } => {
            let value = single_header(headers, header)?;
            let token =
                strip_prefix_ignoring_case(&value, prefix).ok_or(IntakeError::BadSignature)?;
            let presented = Sha256::digest(token.trim().as_bytes());
            let matched = secrets
                .iter()
                .any(|s| bool::from(presented.ct_eq(&Sha256::digest(s.as_bytes()))));
            matched.then_some(()).ok_or(IntakeError::BadSignature)
        }
        Signature::StandardWebhooks {} => {
            standard_webhooks::verify(headers, body, &secrets, now, intake.tolerance_secs)
        }
    }
}

/// The signed time at `field` (RFC 3339, or Unix seconds as a number or text) must be
/// within `tolerance_secs` of `now`, either way.
fn within_tolerance(
    body: &[u8],
    field: &JsonPointer,
    now: u64,
    tolerance_secs: u32,
) -> Result<(), IntakeError> {
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| IntakeError::InvalidPayload("the body is not JSON".into()))?;
    let signed_at = match json.pointer(field.as_str()) {
        Some(serde_json::Value::String(text)) => text
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| parse_rfc3339(text)),
        Some(serde_json::Value::Number(n)) => n.as_i64(),
        _ => None,
    }
    .ok_or_else(|| IntakeError::InvalidPayload(format!("`{}` is not a time", field.as_str())))?;
    if (now as i64).abs_diff(signed_at) > u64::from(tolerance_secs) {
        return Err(IntakeError::StaleTimestamp);
    }
    Ok(())
}

/// Whether `signature` is the HMAC-SHA256 of `message` under `key` (constant time).
pub(super) fn hmac_matches(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(message);
    mac.verify_slice(signature).is_ok()
}

/// Every value of a header, as text; a value that is not visible ASCII is a bad
/// signature (nothing legitimate sends one).
pub(super) fn header_values(headers: &HeaderMap, name: &str) -> Result<Vec<String>, IntakeError> {
    headers
        .get_all(name)
        .iter()
        .map(|v| {
            v.to_str()
                .map(str::to_string)
                .map_err(|_| IntakeError::BadSignature)
        })
        .collect()
}

fn single_header(headers: &HeaderMap, name: &str) -> Result<String, IntakeError> {
    let mut values = header_values(headers, name)?;
    match values.len() {
        0 => Err(IntakeError::MissingSignature(name.to_ascii_lowercase())),
        1 => Ok(values.remove(0)),
        _ => Err(IntakeError::BadSignature),
    }
}

/// An HTTP auth scheme such as `Bearer ` is case-insensitive.
fn strip_prefix_ignoring_case<'v>(value: &'v str, prefix: &str) -> Option<&'v str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

fn decode(encoding: Encoding, text: &str) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Hex => base16ct::mixed::decode_vec(text).ok(),
        Encoding::Base64 => STANDARD
            .decode(text)
            .or_else(|_| STANDARD_NO_PAD.decode(text))
            .ok(),
    }
}

/// The key forms of a secret: its UTF-8 bytes, and its Unicode NFKD form when that
/// differs (EasyPost keys its HMAC with the NFKD form; for ASCII both are the same).
fn key_forms(secret: &str) -> Vec<String> {
    let nfkd: String = secret.nfkd().collect();
    if nfkd == secret {
        vec![secret.to_string()]
    } else {
        vec![secret.to_string(), nfkd]
    }
}

/// The fields a signature covers, when it covers fields rather than the raw body.
pub(super) fn signed_fields(signature: &crate::config::Signature) -> &[JsonPointer] {
    match signature {
        crate::config::Signature::HmacSha256 { signed_fields, .. } => signed_fields,
        _ => &[],
    }
}

/// The concatenated values of `fields` in the JSON body: strings as their text,
/// anything else as its JSON. `None` if the body is not JSON or a field is absent.
pub(super) fn signed_fields_of(body: &[u8], fields: &[JsonPointer]) -> Option<Vec<u8>> {
    let json: serde_json::Value = serde_json::from_slice(body).ok()?;
    let mut message = Vec::new();
    for field in fields {
        match json.pointer(field.as_str())? {
            serde_json::Value::String(s) => message.extend_from_slice(s.as_bytes()),
            other => message.extend_from_slice(other.to_string().as_bytes()),
        }
    }
    Some(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EventIdSource;
    use http::HeaderValue;

    const NOW: u64 = 1_790_000_000;

    fn intake(signature: Signature) -> WebhookIntake {
        WebhookIntake {
            carrier: "c".into(),
            signature,
            secrets: vec![],
            tolerance_secs: 300,
            event_id: EventIdSource::BodyHash,
            dedup_window_secs: 3600,
            account_pointer: None,
        }
    }

    fn hmac_b64(key: &str, message: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(message);
        STANDARD.encode(mac.finalize().into_bytes())
    }

    fn hmac_hex(key: &str, message: &[u8]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).unwrap();
        mac.update(message);
        format!("{:x}", mac.finalize().into_bytes())
    }

    fn with(name: &'static str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).unwrap());
        h
    }

    fn secrets(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn fedex() -> WebhookIntake {
        intake(Signature::HmacSha256 {
            header: "fdx-signature".into(),
            encoding: Encoding::Base64,
            prefix: String::new(),
            signed_fields: vec![],
            timestamp: None,
        })
    }

    const FEDEX_BODY: &[u8] = br#"{"trackingNumber":"794698111111","status":"DL"}"#;

    #[test]
    fn fedex_base64_hmac_over_the_raw_body() {
        let sig = hmac_b64("fedex-token", FEDEX_BODY);
        let h = with("fdx-signature", &sig);
        assert_eq!(
            verify(&fedex(), &secrets(&["fedex-token"]), &h, FEDEX_BODY, NOW),
            Ok(())
        );
        let tampered = br#"{"trackingNumber":"794698111112","status":"DL"}"#;
        assert_eq!(
            verify(&fedex(), &secrets(&["fedex-token"]), &h, tampered, NOW),
            Err(IntakeError::BadSignature)
        );
        assert_eq!(
            verify(
                &fedex(),
                &secrets(&["fedex-token"]),
                &HeaderMap::new(),
                FEDEX_BODY,
                NOW
            ),
            Err(IntakeError::MissingSignature("fdx-signature".into()))
        );
        let garbage = with("fdx-signature", "not base64!");
        assert_eq!(
            verify(
                &fedex(),
                &secrets(&["fedex-token"]),
                &garbage,
                FEDEX_BODY,
                NOW
            ),
            Err(IntakeError::BadSignature)
        );
    }

    #[test]
    fn any_active_secret_passes_during_rotation() {
        let h = with("fdx-signature", &hmac_b64("old-token", FEDEX_BODY));
        let both = secrets(&["new-token", "old-token"]);
        assert_eq!(verify(&fedex(), &both, &h, FEDEX_BODY, NOW), Ok(()));
        let rotated_out = secrets(&["new-token"]);
        assert_eq!(
            verify(&fedex(), &rotated_out, &h, FEDEX_BODY, NOW),
            Err(IntakeError::BadSignature)
        );
        // An unset variable (empty value) is skipped, not matched.
        let h = with("fdx-signature", &hmac_b64("", FEDEX_BODY));
        assert_eq!(
            verify(&fedex(), &secrets(&["", "new-token"]), &h, FEDEX_BODY, NOW),
            Err(IntakeError::BadSignature)
        );
    }

    #[test]
    fn no_secret_set_is_a_misconfiguration_not_a_pass() {
        let h = with("fdx-signature", &hmac_b64("", FEDEX_BODY));
        assert!(matches!(
            verify(&fedex(), &secrets(&[""]), &h, FEDEX_BODY, NOW),
            Err(IntakeError::Misconfigured(_))
        ));
    }

    fn easypost() -> WebhookIntake {
        intake(Signature::HmacSha256 {
            header: "X-Hmac-Signature".into(),
            encoding: Encoding::Hex,
            prefix: "hmac-sha256-hex=".into(),
            signed_fields: vec![],
            timestamp: None,
        })
    }

    #[test]
    fn easypost_prefixed_hex_hmac() {
        let body = br#"{"id":"evt_1","object":"Event","description":"tracker.updated"}"#;
        let sig = format!("hmac-sha256-hex={}", hmac_hex("ep-secret", body));
        let h = with("x-hmac-signature", &sig);
        assert_eq!(
            verify(&easypost(), &secrets(&["ep-secret"]), &h, body, NOW),
            Ok(())
        );
        let upper = format!(
            "hmac-sha256-hex={}",
            hmac_hex("ep-secret", body).to_uppercase()
        );
        let h_upper = with("x-hmac-signature", &upper);
        assert_eq!(
            verify(&easypost(), &secrets(&["ep-secret"]), &h_upper, body, NOW),
            Ok(())
        );
        let unprefixed = with("x-hmac-signature", &hmac_hex("ep-secret", body));
        assert_eq!(
            verify(
                &easypost(),
                &secrets(&["ep-secret"]),
                &unprefixed,
                body,
                NOW
            ),
            Err(IntakeError::BadSignature)
        );
        assert_eq!(
            verify(&easypost(), &secrets(&["ep-secret"]), &h, b"{}", NOW),
            Err(IntakeError::BadSignature)
        );
    }

    #[test]
    fn easypost_keys_with_the_nfkd_form_of_the_secret() {
        let body = b"{}";
        // U+FB01 (the "fi" ligature) decomposes to "fi" under NFKD.
        let sig = format!(
            "hmac-sha256-hex={}",
            hmac_hex("\u{0066}\u{0069}-secret", body)
        );
        let h = with("x-hmac-signature", &sig);
        assert_eq!(
            verify(&easypost(), &secrets(&["\u{FB01}-secret"]), &h, body, NOW),
            Ok(())
        );
    }

    fn usps() -> WebhookIntake {
        intake(Signature::HmacSha256 {
            header: "X-HMAC".into(),
            encoding: Encoding::Base64,
            prefix: String::new(),
            signed_fields: vec![
                JsonPointer("/timestamp".into()),
                JsonPointer("/payload".into()),
            ],
            timestamp: Some(JsonPointer("/timestamp".into())),
        })
    }

    /// A USPS notification sent at `timestamp`, and its `X-HMAC` headers.
    fn usps_signed(timestamp: &str) -> (String, HeaderMap) {
        let payload = r#"{"trackingNumber":"9400100000000000000000"}"#;
        let body = serde_json::json!({"timestamp": timestamp, "payload": payload}).to_string();
        let message = format!("{timestamp}{payload}");
        let h = with("x-hmac", &hmac_b64(USPS_SECRET, message.as_bytes()));
        (body, h)
    }

    const USPS_SECRET: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_timestamp_outside_the_tolerance_is_stale() {
        let check = |timestamp: &str| {
            let (body, h) = usps_signed(timestamp);
            verify(&usps(), &secrets(&[USPS_SECRET]), &h, body.as_bytes(), NOW)
        };
        // NOW is 2026-09-21T14:13:20Z; the tolerance is 300 s either way.
        assert_eq!(check("2026-09-21T14:08:20Z"), Ok(()));
        assert_eq!(check("2026-09-21T14:18:20Z"), Ok(()));
        assert_eq!(
            check("2026-09-21T14:08:19Z"),
            Err(IntakeError::StaleTimestamp)
        );
        assert_eq!(
            check("2026-09-21T14:18:21Z"),
            Err(IntakeError::StaleTimestamp)
        );
        assert_eq!(
            check("2026-03-01T10:00:00Z"),
            Err(IntakeError::StaleTimestamp)
        );
        assert_eq!(check("1790000000"), Ok(()));
        assert!(matches!(
            check("yesterday"),
            Err(IntakeError::InvalidPayload(_))
        ));
        // A forged time fails the signature before the time is read.
        let (body, h) = usps_signed("2026-09-21T14:13:20Z");
        let replayed = body.replace("2026-09-21T14:13:20Z", "2026-09-21T14:13:21Z");
        assert_eq!(
            verify(
                &usps(),
                &secrets(&[USPS_SECRET]),
                &h,
                replayed.as_bytes(),
                NOW
            ),
            Err(IntakeError::BadSignature)
        );
    }

    #[test]
    fn usps_signs_timestamp_and_payload_values_without_separator() {
        let payload = r#"{"trackingNumber":"9400100000000000000000"}"#;
        let body = serde_json::json!({
            "subscriptionId": "s1",
            "subscriptionType": "TRACKING",
            "timestamp": "2026-09-21T14:13:00Z",
            "payload": payload,
            "links": [],
        })
        .to_string();
        let secret = "0123456789abcdef0123456789abcdef";
        let message = format!("2026-09-21T14:13:00Z{payload}");
        let h = with("x-hmac", &hmac_b64(secret, message.as_bytes()));
        assert_eq!(
            verify(&usps(), &secrets(&[secret]), &h, body.as_bytes(), NOW),
            Ok(())
        );
        let tampered = body.replace("9400100000000000000000", "9400100000000000000001");
        assert_eq!(
            verify(&usps(), &secrets(&[secret]), &h, tampered.as_bytes(), NOW),
            Err(IntakeError::BadSignature)
        );
        assert_eq!(
            verify(&usps(), &secrets(&[secret]), &h, b"not json", NOW),
            Err(IntakeError::BadSignature)
        );
    }

    fn bearer() -> WebhookIntake {
        intake(Signature::StaticToken {
            header: "authorization".into(),
            prefix: "Bearer ".into(),
        })
    }

    #[test]
    fn static_tokens_with_and_without_prefix() {
        let ok = with("authorization", "Bearer ups-credential");
        assert_eq!(
            verify(&bearer(), &secrets(&["ups-credential"]), &ok, b"{}", NOW),
            Ok(())
        );
        let lower = with("authorization", "bearer ups-credential");
        assert_eq!(
            verify(&bearer(), &secrets(&["ups-credential"]), &lower, b"{}", NOW),
            Ok(())
        );
        let wrong = with("authorization", "Bearer ups-credentiaL");
        assert_eq!(
            verify(&bearer(), &secrets(&["ups-credential"]), &wrong, b"{}", NOW),
            Err(IntakeError::BadSignature)
        );
        let basic = with("authorization", "Basic dXBzLWNyZWRlbnRpYWw=");
        assert_eq!(
            verify(&bearer(), &secrets(&["ups-credential"]), &basic, b"{}", NOW),
            Err(IntakeError::BadSignature)
        );
        let dhl = intake(Signature::StaticToken {
            header: "x-webhook-token".into(),
            prefix: String::new(),
        });
        let h = with("x-webhook-token", "dhl-token-2");
        let rotated = secrets(&["dhl-token-1", "dhl-token-2"]);
        assert_eq!(verify(&dhl, &rotated, &h, b"{}", NOW), Ok(()));
        assert_eq!(
            verify(&dhl, &rotated, &HeaderMap::new(), b"{}", NOW),
            Err(IntakeError::MissingSignature("x-webhook-token".into()))
        );
    }

    #[test]
    fn a_repeated_signature_header_is_refused() {
        let mut h = with("x-webhook-token", "dhl-token");
        h.append("x-webhook-token", HeaderValue::from_static("other"));
        let dhl = intake(Signature::StaticToken {
            header: "x-webhook-token".into(),
            prefix: String::new(),
        });
        assert_eq!(
            verify(&dhl, &secrets(&["dhl-token"]), &h, b"{}", NOW),
            Err(IntakeError::BadSignature)
        );
    }

    #[test]
    fn standard_webhooks_intake_uses_its_tolerance() {
        let mut i = intake(Signature::StandardWebhooks {});
        i.tolerance_secs = 60;
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let signed = standard_webhooks::sign("msg_1", NOW, b"{}", secret).unwrap();
        let mut h = HeaderMap::new();
        for (name, value) in signed.pairs() {
            h.insert(name, HeaderValue::from_str(value).unwrap());
        }
        assert_eq!(verify(&i, &secrets(&[secret]), &h, b"{}", NOW + 60), Ok(()));
        assert_eq!(
            verify(&i, &secrets(&[secret]), &h, b"{}", NOW + 61),
            Err(IntakeError::StaleTimestamp)
        );
    }
}
