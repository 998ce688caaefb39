//! `Idempotency-Key` on POST (and PATCH): the first response is kept per tenant and key
//! and replayed for repeats, so a client retrying after a lost response never reaches
//! the carrier twice.
//!
//! - The key: 1 to [`MAX_KEY_LEN`] characters of `A-Z a-z 0-9 - _ . : ~ + / =`, sent
//!   once, optionally as a structured-field string (`"..."`, as in the IETF draft);
//!   otherwise 400 `invalid-idempotency-key`.
//! - The request's [`Fingerprint`]: SHA-256 over the method, the path with query, and
//!   the body. The same key with another fingerprint is 422 `idempotency-key-reused`.
//! - [`begin`] claims the key with a compare-and-swap (an `in-flight` record). A repeat
//!   while the first is in flight gets 409 `idempotency-in-flight` with `Retry-After:
//!   1` (it does not wait: a component must not hold a request open polling), and a
//!   repeat after it finished gets the stored status, kept headers and body with
//!   `idempotent-replayed: true`. The in-flight claim lasts `lease_ms` (the request's
//!   remaining deadline plus a margin): if its request died, a repeat may claim again.
//! - [`complete`] keeps the response when it is final (below 500 and not 408, 409, 425
//!   or 429); a retryable one releases the key instead, so the client's retry with the
//!   same key is executed. A body over [`MAX_STORED_BODY`] is not kept: repeats get
//!   409 `idempotency-response-not-kept` (the request is still never executed twice).
//! - Records are kept [`RETENTION_MS`] (24 h) from the claim; expiry is checked on every
//!   read and an expired record is claimed over. Storage stays bounded without listing
//!   keys: every claim is logged in a per-day log, and each new claim deletes a couple
//!   of expired records from the logs of two or more days ago (see `sweep`). So the
//!   store holds about the keys of the last two days.
//! - Key-value faults: `Err`, and the component answers 503 `idempotency-unavailable`
//!   (fail closed: going ahead could execute the request twice).
//!
//! Key-value layout: `idem:<tenant>:<sha256 of the key, hex>` (one record per tenant
//! and key), plus the sweep's `idem-seq:<day>`, `idem-log:<day>:<n>`,
//! `idem-cursor:<day>` and `idem-swept` (`<day>` = Unix days).

mod sweep;

use super::errors::RoutingError;
use crate::auth::credential::{Headers, single_header};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Longest key accepted.
pub const MAX_KEY_LEN: usize = 255;
/// How long a key's record is kept.
pub const RETENTION_MS: u64 = 24 * 60 * 60 * 1000;
/// Largest response body kept for replay.
pub const MAX_STORED_BODY: usize = 1024 * 1024;
/// `Retry-After` for a repeat while the first request is in flight.
pub const IN_FLIGHT_RETRY_AFTER_SECS: u64 = 1;
/// Response headers kept and replayed (everything else is the gateway's or per request).
pub const KEPT_HEADERS: [&str; 7] = [
    "content-type",
    "content-encoding",
    "content-language",
    "location",
    "etag",
    "last-modified",
    "link",
];

const MAX_CAS_ATTEMPTS: usize = 16;

/// A valid `Idempotency-Key` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key in `headers`, if any: `Ok(None)` without the header, 400 when it is
    /// repeated or invalid.
    pub fn from_headers(headers: &Headers) -> Result<Option<IdempotencyKey>, RoutingError> {
        match single_header(headers, HEADER) {
            Err(_) => Err(RoutingError::InvalidIdempotencyKey),
            Ok(None) => Ok(None),
            Ok(Some(value)) => IdempotencyKey::parse(value).map(Some),
        }
    }

    pub fn parse(value: &str) -> Result<IdempotencyKey, RoutingError> {
        let inner = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(value);
        let valid = !inner.is_empty()
            && inner.len() <= MAX_KEY_LEN
            && inner
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.:~+/=".contains(&b));
        if !valid {
            return Err(RoutingError::InvalidIdempotencyKey);
        }
        Ok(IdempotencyKey(inner.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What makes two requests "the same" for a key: SHA-256 (hex) over the method (upper
/// case), the path with its query, and the body, each length-prefixed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn of(method: &str, path_and_query: &str, body: &[u8]) -> Fingerprint {
        let mut hash = Sha256::new();
        for part in [
            method.to_ascii_uppercase().as_bytes(),
            path_and_query.as_bytes(),
            body,
        ] {
            hash.update((part.len() as u64).to_be_bytes());
            hash.update(part);
        }
        Fingerprint(format!("{:x}", hash.finalize()))
    }
}

/// A response as kept for replay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    /// The [`KEPT_HEADERS`] of the response, in their order.
    pub headers: Vec<(String, String)>,
    #[serde(serialize_with = "to_base64", deserialize_with = "from_base64")]
    pub body: Vec<u8>,
}

fn to_base64<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&STANDARD.encode(body))
}

fn from_base64<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let text = String::deserialize(d)?;
    STANDARD.decode(text).map_err(serde::de::Error::custom)
}

impl StoredResponse {
    /// The response to keep: its status, its [`KEPT_HEADERS`] and body.
    pub fn new(status: u16, headers: &Headers, body: &[u8]) -> StoredResponse {
        StoredResponse {
            status,
            headers: headers
                .iter()
                .filter(|(n, _)| KEPT_HEADERS.iter().any(|k| n.eq_ignore_ascii_case(k)))
                .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
                .collect(),
            body: body.to_vec(),
        }
    }

    /// The headers of a replay: the kept ones and `idempotent-replayed: true`.
    pub fn replay_headers(&self) -> Vec<(String, String)> {
        let mut headers = self.headers.clone();
        headers.push((REPLAYED_HEADER.to_string(), "true".to_string()));
        headers
    }
}

/// Whether a response with this status is final, so kept for replay; otherwise the key
/// is released and a retry with it runs again.
pub fn is_final(status: u16) -> bool {
    status < 500 && !matches!(status, 408 | 409 | 425 | 429)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
enum Record {
    InFlight {
        fingerprint: Fingerprint,
        lease_until_ms: u64,
        expires_at_ms: u64,
        claim: u64,
    },
    Done {
        fingerprint: Fingerprint,
        expires_at_ms: u64,
        /// `None`: the response was too large to keep.
        response: Option<StoredResponse>,
    },
    Released {
        expires_at_ms: u64,
    },
}

impl Record {
    fn expires_at_ms(&self) -> u64 {
        match self {
            Record::InFlight { expires_at_ms, .. }
            | Record::Done { expires_at_ms, .. }
            | Record::Released { expires_at_ms } => *expires_at_ms,
        }
    }

    fn decode(bytes: &[u8]) -> Option<Record> {
        serde_json::from_slice(bytes).ok()
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("idempotency record serializes")
    }
}

/// What to do with a request carrying an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time (or the key expired): process it, then [`complete`] or [`release`].
    Proceed(Claim),
    /// Answer with the stored response ([`StoredResponse::replay_headers`]).
    Replay(StoredResponse),
    /// Answer with this problem (409 in flight or not kept, 422 reused).
    Refused(RoutingError),
}

/// The in-flight claim of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    key: String,
    written: Vec<u8>,
    fingerprint: Fingerprint,
    expires_at_ms: u64,
}

/// The record key of `tenant`'s `key`.
pub fn record_key(tenant: &str, key: &IdempotencyKey) -> String {
    format!(
        "idem:{tenant}:{:x}",
        Sha256::digest(key.as_str().as_bytes())
    )
}

/// Looks up `key` for `tenant` and claims it when it is new (see the module doc).
/// `lease_ms`: how long the claim holds if this request never completes it;
/// `claim_id`: a random number from the caller.
pub fn begin<K: crate::kv::KeyValue + ?Sized>(
    kv: &K,
    tenant: &str,
    key: &IdempotencyKey,
    fingerprint: &Fingerprint,
    lease_ms: u64,
    claim_id: u64,
    now_ms: u64,
) -> Result<Begin, crate::kv::KvError> {
    let record_key = record_key(tenant, key);
    let mut logged = false;
    for _ in 0..MAX_CAS_ATTEMPTS {
        let current = kv.get(&record_key)?;
        let record = current.as_deref().and_then(Record::decode);
        match &record {
            Some(Record::InFlight {
                fingerprint: theirs,
                lease_until_ms,
                expires_at_ms,
                ..
            }) if now_ms < *lease_until_ms && now_ms < *expires_at_ms => {
                return Ok(Begin::Refused(if theirs == fingerprint {
                    RoutingError::IdempotencyInFlight {
                        retry_after_secs: IN_FLIGHT_RETRY_AFTER_SECS,
                    }
                } else {
                    RoutingError::IdempotencyKeyReused
                }));
            }
            Some(Record::Done {
                fingerprint: theirs,
                expires_at_ms,
                response,
            }) if now_ms < *expires_at_ms => {
                return Ok(if theirs != fingerprint {
                    Begin::Refused(RoutingError::IdempotencyKeyReused)
                } else {
                    match response {
                        Some(response) => Begin::Replay(response.clone()),
                        None => Begin::Refused(RoutingError::IdempotencyResponseNotKept),
                    }
                });
            }
            _ => {}
        }
        if !logged {
            sweep::log(kv, &record_key, now_ms)?;
            logged = true;
        }
        let expires_at_ms = now_ms + RETENTION_MS;
        let written = Record::InFlight {
            fingerprint: fingerprint.clone(),
            lease_until_ms: now_ms + lease_ms.max(1),
            expires_at_ms,
            claim: claim_id,
        }
        .encode();
        if kv.compare_and_swap(&record_key, current.as_deref(), &written)? {
            // Best effort: a failed sweep step is retried by later claims.
            let _ = sweep::sweep_some(kv, now_ms);
            return Ok(Begin::Proceed(Claim {
                key: record_key,
                written,
                fingerprint: fingerprint.clone(),
                expires_at_ms,
            }));
        }
    }
    // The record keeps changing under us: another request with this key is active.
    Ok(Begin::Refused(RoutingError::IdempotencyInFlight {
        retry_after_secs: IN_FLIGHT_RETRY_AFTER_SECS,
    }))
}

/// Finishes a claimed request with its response: kept when [`is_final`], otherwise the
/// key is released. `Ok(false)` when the claim was lost (its lease ran out and a repeat
/// claimed the key): nothing is written.
pub fn complete<K: crate::kv::KeyValue + ?Sized>(
    kv: &K,
    claim: &Claim,
    response: &StoredResponse,
) -> Result<bool, crate::kv::KvError> {
    if !is_final(response.status) {
        return release(kv, claim);
    }
    let kept = (response.body.len() <= MAX_STORED_BODY).then(|| response.clone());
    let done = Record::Done {
        fingerprint: claim.fingerprint.clone(),
        expires_at_ms: claim.expires_at_ms,
        response: kept,
    };
    kv.compare_and_swap(&claim.key, Some(&claim.written), &done.encode())
}

/// Gives the key back (the request failed before a final response, or was not made):
/// a repeat with this key is processed. `Ok(false)` when the claim was already lost.
pub fn release<K: crate::kv::KeyValue + ?Sized>(
    kv: &K,
    claim: &Claim,
) -> Result<bool, crate::kv::KvError> {
    let released = Record::Released {
        expires_at_ms: claim.expires_at_ms,
    };
    kv.compare_and_swap(&claim.key, Some(&claim.written), &released.encode())
}

#[cfg(test)]
mod tests;
