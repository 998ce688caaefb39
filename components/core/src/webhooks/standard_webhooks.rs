//! Standard Webhooks v1 (symmetric): `webhook-id`, `webhook-timestamp` (Unix seconds)
//! and `webhook-signature` (space-separated `v1,<base64 HMAC-SHA256>` entries) over
//! `{id}.{timestamp}.{body}`. The same code signs Waypost's deliveries to subscribers
//! and verifies carriers that use the scheme, so one is tested against the other.

use super::error::IntakeError;
use super::signature::{header_values, hmac_matches};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";

/// The prefix of a Standard Webhooks secret; the rest is base64 of the key.
pub const SECRET_PREFIX: &str = "whsec_";

/// The three headers of a signed delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub id: String,
    pub timestamp: String,
    /// `v1,<base64>`.
    pub signature: String,
}

impl SignedHeaders {
    /// `(name, value)` pairs to add to the outgoing request.
    pub fn pairs(&self) -> [(&'static str, &str); 3] {
        [
            (ID_HEADER, self.id.as_str()),
            (TIMESTAMP_HEADER, self.timestamp.as_str()),
            (SIGNATURE_HEADER, self.signature.as_str()),
        ]
    }
}

/// The HMAC key of a secret: base64-decoded after `whsec_`, or the raw UTF-8 bytes of
/// a secret without the prefix. `Err` names the problem, never the secret.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let key = match secret.strip_prefix(SECRET_PREFIX) {
        Some(b64) => STANDARD
            .decode(b64.trim())
            .map_err(|_| "a `whsec_` secret is not base64 after the prefix".to_string())?,
        None => secret.as_bytes().to_vec(),
    };
    if key.is_empty() {
        return Err("the secret is empty".into());
    }
    Ok(key)
}

/// Signs `body` as message `id` sent at `timestamp` (Unix seconds) with `secret`.
pub fn sign(id: &str, timestamp: u64, body: &[u8], secret: &str) -> Result<SignedHeaders, String> {
    let key = secret_key(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(&signed_content(id, &timestamp.to_string(), body));
    Ok(SignedHeaders {
        id: id.to_string(),
        timestamp: timestamp.to_string(),
        signature: format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())),
    })
}

/// Verifies a Standard Webhooks request: any `v1` entry of `webhook-signature` made
/// with any of `secrets` passes (rotation), then `webhook-timestamp` must be within
/// `tolerance_secs` of `now`, either way. Entries of other versions are ignored.
pub fn verify(
    headers: &HeaderMap,
    body: &[u8],
    secrets: &[&str],
    now: u64,
    tolerance_secs: u32,
) -> Result<(), IntakeError> {
    let one = |name: &str| -> Result<String, IntakeError> {
        match header_values(headers, name)?.as_slice() {
            [] => Err(IntakeError::MissingSignature(name.to_string())),
            [value] => Ok(value.clone()),
            _ => Err(IntakeError::BadSignature),
        }
    };
    let id = one(ID_HEADER)?;
    let timestamp = one(TIMESTAMP_HEADER)?;
    let entries = header_values(headers, SIGNATURE_HEADER)?;
    if entries.is_empty() {
        return Err(IntakeError::MissingSignature(SIGNATURE_HEADER.to_string()));
    }
    let signed_at: u64 = timestamp.parse().map_err(|_| IntakeError::BadSignature)?;
    let keys = secrets
        .iter()
        .map(|s| secret_key(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(IntakeError::Misconfigured)?;
    let content = signed_content(&id, &timestamp, body);
    let signatures: Vec<Vec<u8>> = entries
        .iter()
        .flat_map(|v| v.split(' '))
        .filter_map(|entry| entry.strip_prefix("v1,"))
        .filter_map(|b64| STANDARD.decode(b64).ok())
        .collect();
    let matched = signatures.iter().any(|signature| {
        keys.iter()
            .any(|key| hmac_matches(key, &content, signature))
    });
    if !matched {
        return Err(IntakeError::BadSignature);
    }
    if now.abs_diff(signed_at) > u64::from(tolerance_secs) {
        return Err(IntakeError::StaleTimestamp);
    }
    Ok(())
}

fn signed_content(id: &str, timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut content = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    content.extend_from_slice(id.as_bytes());
    content.push(b'.');
    content.extend_from_slice(timestamp.as_bytes());
    content.push(b'.');
    content.extend_from_slice(body);
    content
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    // The Standard Webhooks reference libraries' test vector.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn headers(signed: &SignedHeaders) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in signed.pairs() {
            h.insert(name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    #[test]
    fn signs_the_reference_vector() {
        let signed = sign(ID, TS, BODY, SECRET).unwrap();
        assert_eq!(signed.signature, EXPECTED);
        assert_eq!(signed.timestamp, TS.to_string());
    }

    #[test]
    fn what_is_signed_verifies_and_nothing_else_does() {
        let signed = sign(ID, TS, BODY, SECRET).unwrap();
        let h = headers(&signed);
        assert_eq!(verify(&h, BODY, &[SECRET], TS + 10, 300), Ok(()));
        assert_eq!(
            verify(&h, br#"{"test": 2432232315}"#, &[SECRET], TS, 300),
            Err(IntakeError::BadSignature),
            "tampered body"
        );
        let other = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY";
        assert_eq!(
            verify(&h, BODY, &[other], TS, 300),
            Err(IntakeError::BadSignature)
        );
        let mut forged = h.clone();
        forged.insert(ID_HEADER, HeaderValue::from_static("msg_other"));
        assert_eq!(
            verify(&forged, BODY, &[SECRET], TS, 300),
            Err(IntakeError::BadSignature)
        );
    }

    #[test]
    fn raw_secrets_sign_with_their_bytes() {
        let signed = sign(ID, TS, BODY, "plain-secret").unwrap();
        let h = headers(&signed);
        assert_eq!(verify(&h, BODY, &["plain-secret"], TS, 300), Ok(()));
        assert_eq!(
            verify(&h, BODY, &[SECRET], TS, 300),
            Err(IntakeError::BadSignature)
        );
    }

    #[test]
    fn stale_and_future_timestamps_are_refused_at_the_tolerance() {
        let h = headers(&sign(ID, TS, BODY, SECRET).unwrap());
        assert_eq!(verify(&h, BODY, &[SECRET], TS + 300, 300), Ok(()));
        assert_eq!(
            verify(&h, BODY, &[SECRET], TS + 301, 300),
            Err(IntakeError::StaleTimestamp)
        );
        assert_eq!(
            verify(&h, BODY, &[SECRET], TS - 301, 300),
            Err(IntakeError::StaleTimestamp)
        );
    }

    #[test]
    fn any_entry_with_any_active_secret_passes() {
        let old = "whsec_QUJDREVGR0hJSktMTU5PUFFSU1RVVldY";
        let signed = sign(ID, TS, BODY, SECRET).unwrap();
        let mut h = headers(&signed);
        let list = format!("v1a,c2lnbmF0dXJl v1,Zm9yZ2Vk {}", signed.signature);
        h.insert(SIGNATURE_HEADER, HeaderValue::from_str(&list).unwrap());
        assert_eq!(verify(&h, BODY, &[old, SECRET], TS, 300), Ok(()));
        assert_eq!(
            verify(&h, BODY, &[old], TS, 300),
            Err(IntakeError::BadSignature)
        );
    }

    #[test]
    fn missing_headers_are_named() {
        let full = headers(&sign(ID, TS, BODY, SECRET).unwrap());
        for name in [ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER] {
            let mut h = full.clone();
            h.remove(name);
            assert_eq!(
                verify(&h, BODY, &[SECRET], TS, 300),
                Err(IntakeError::MissingSignature(name.into()))
            );
        }
    }

    #[test]
    fn unreadable_timestamps_and_secrets() {
        let mut h = headers(&sign(ID, TS, BODY, SECRET).unwrap());
        h.insert(TIMESTAMP_HEADER, HeaderValue::from_static("yesterday"));
        assert_eq!(
            verify(&h, BODY, &[SECRET], TS, 300),
            Err(IntakeError::BadSignature)
        );
        let h = headers(&sign(ID, TS, BODY, SECRET).unwrap());
        assert!(matches!(
            verify(&h, BODY, &["whsec_***"], TS, 300),
            Err(IntakeError::Misconfigured(_))
        ));
        assert!(sign(ID, TS, BODY, "").is_err());
        assert!(sign(ID, TS, BODY, "whsec_").is_err());
    }
}
