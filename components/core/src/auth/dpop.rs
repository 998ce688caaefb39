//! Sender-constrained tokens (DPoP, RFC 9449): a token bound with `cnf.jkt` is accepted
//! only with a `DPoP` proof that the caller holds the bound key, for this request.
//!
//! A proof is accepted when:
//! - it is a compact JWS whose header has `typ: dpop+jwt`, an `alg` of [`PROOF_ALGS`]
//!   and a public `jwk` of that algorithm;
//! - the `jwk`'s RFC 7638 thumbprint (SHA-256, base64url) is the token's `cnf.jkt`, and
//!   the signature verifies with that key;
//! - `htm` is the request method, `htu` the request URL without query and fragment
//!   (scheme and host compared case-insensitively, default ports ignored);
//! - `iat` is within [`PROOF_WINDOW_SECS`] of now, either way;
//! - `ath` is base64url(SHA-256(access token));
//! - `jti` was not used before: it is recorded with one `compare_and_swap(key, None,
//!   ..)`, so two racing requests with the same proof cannot both win.
//!
//! # Replay records
//!
//! Key: `dpop-jti/<tenant>/<bucket>/<sha256(jkt "." jti)>`, with `bucket = iat div
//! PROOF_WINDOW_SECS`. The bucket comes from the proof's own `iat`, so a replayed
//! proof always lands on the key it claimed first. A proof of bucket `b` passes the
//! `iat` check only while `now < (b + 2) * PROOF_WINDOW_SECS`; after that its record
//! can never be hit again. That instant is also stored in the value
//! (`{"expires": <unix seconds>}`). Purging: the store has no TTL through the
//! `KeyValue` trait, and nothing sweeps these records yet: [`purge_replay_records`]
//! deletes the dead ones among keys it is given (by their bucket, without reading
//! them), but no caller lists them (the `KeyValue` trait cannot list keys, and the
//! webhooks tick's time index covers its own claims only). So each accepted DPoP
//! request leaves one record of about 100 bytes; on Redis, `SCAN MATCH dpop-jti/*`
//! finds them for an operator's cleanup.
//!
//! Proof signatures are checked with `p256` and `ed25519-compact` (the crates
//! `jwt-simple` itself uses): a proof carries its key as a JSON object in the header,
//! which `jwt-simple`'s header type cannot parse. The key itself is imported and
//! thumbprinted by `jwt-simple`'s JWK support, which refuses private members.

use super::errors::{AuthError, ProofRefusal};
use crate::kv::{KeyValue, KvError};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::prelude::{ES256PublicKey, Ed25519PublicKey};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Proof algorithms accepted (RFC 9449 requires asymmetric ones).
pub const PROOF_ALGS: [&str; 2] = ["ES256", "EdDSA"];

/// How far a proof's `iat` may be from now, either way, in seconds.
pub const PROOF_WINDOW_SECS: i64 = 60;

/// The key prefix of replay records.
pub const REPLAY_PREFIX: &str = "dpop-jti/";

/// Longest proof read at all.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// Longest `jti` accepted.
pub const MAX_JTI_LEN: usize = 256;

/// What the proof must match.
#[derive(Debug, Clone, Copy)]
pub struct ProofExpectation<'a> {
    /// The request method, as received.
    pub method: &'a str,
    /// The URL the client called (the public one, as the client sees it).
    pub url: &'a str,
    /// The access token presented with the proof.
    pub access_token: &'a str,
    /// The token's `cnf.jkt`.
    pub jkt: &'a str,
    /// The tenant the token authenticated (replay records are per tenant).
    pub tenant: &'a str,
}

/// Verifies a `DPoP` header value and records its `jti`.
pub fn verify_proof<R: KeyValue + ?Sized>(
    proof: &str,
    expected: &ProofExpectation<'_>,
    replays: &R,
    now: i64,
) -> Result<(), AuthError> {
    check_proof(proof, expected, now)?.claim(replays)
}

/// Every check of [`verify_proof`] but the replay check, which the returned claim makes.
pub fn check_proof(
    proof: &str,
    expected: &ProofExpectation<'_>,
    now: i64,
) -> Result<ProofClaim, AuthError> {
    let refused = |r| AuthError::Proof(r);
    let malformed = || refused(ProofRefusal::Malformed);
    if proof.len() > MAX_PROOF_LEN {
        return Err(malformed());
    }
    let parts: Vec<&str> = proof.split('.').collect();
    let [header_b64, claims_b64, signature_b64] = parts[..] else {
        return Err(malformed());
    };
    let header = json_object(header_b64).ok_or_else(malformed)?;
    let claims = json_object(claims_b64).ok_or_else(malformed)?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| malformed())?;
    if header.contains_key("crit") {
        return Err(malformed());
    }

    let typ = header
        .get("typ")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !typ.eq_ignore_ascii_case("dpop+jwt") {
        return Err(refused(ProofRefusal::WrongType));
    }
    let alg = header
        .get("alg")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(refused(ProofRefusal::BadKey));
    };
    let key = ProofKey::from_jwk(alg, &Value::Object(jwk.clone()).to_string())?;
    let same_key = key.thumbprint().as_bytes().ct_eq(expected.jkt.as_bytes());
    if !bool::from(same_key) {
        return Err(refused(ProofRefusal::KeyMismatch));
    }
    let signed = &proof[..header_b64.len() + 1 + claims_b64.len()];
    if !key.verifies(signed.as_bytes(), &signature) {
        return Err(refused(ProofRefusal::BadSignature));
    }

    let text = |name: &'static str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .ok_or(refused(ProofRefusal::MissingClaim(name)))
    };
    if text("htm")? != expected.method {
        return Err(refused(ProofRefusal::WrongMethod));
    }
    match (normalized_url(text("htu")?), normalized_url(expected.url)) {
        (Some(a), Some(b)) if a == b => {}
        _ => return Err(refused(ProofRefusal::WrongUrl)),
    }
    let iat = claims
        .get("iat")
        .and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f.floor() as i64)))
        .ok_or(refused(ProofRefusal::MissingClaim("iat")))?;
    if (now - iat).abs() > PROOF_WINDOW_SECS {
        return Err(refused(ProofRefusal::Stale));
    }
    if text("ath")? != access_token_hash(expected.access_token) {
        return Err(refused(ProofRefusal::WrongAccessTokenHash));
    }
    let jti = text("jti")?;
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(refused(ProofRefusal::MissingClaim("jti")));
    }
    Ok(ProofClaim {
        key: replay_key(expected.tenant, expected.jkt, jti, iat),
        expires: replay_expiry(iat),
    })
}

/// A proof that passed every check but the replay check: its `jti` is claimed with
/// [`ProofClaim::claim`], which a second use of the proof fails. Claiming is left to
/// the caller so that nothing is stored for a request refused on other grounds
/// (residency: a tenant's records stay out of regions that do not serve it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "a proof is not checked for replay until it is claimed"]
pub struct ProofClaim {
    key: String,
    expires: i64,
}

impl ProofClaim {
    /// Records the proof's `jti` (compare-and-swap on an absent key): refused as
    /// replayed when it was recorded before.
    pub fn claim<R: KeyValue + ?Sized>(&self, replays: &R) -> Result<(), AuthError> {
        let record = serde_json::json!({ "expires": self.expires }).to_string();
        if !replays.compare_and_swap(&self.key, None, record.as_bytes())? {
            return Err(AuthError::Proof(ProofRefusal::Replayed));
        }
        Ok(())
    }
}

/// `ath`: base64url(SHA-256(access token)).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(access_token.as_bytes()))
}

/// The replay record of a `jti` (see the module docs).
pub fn replay_key(tenant: &str, jkt: &str, jti: &str, iat: i64) -> String {
    let bucket = iat.div_euclid(PROOF_WINDOW_SECS);
    let digest = Sha256::digest(format!("{jkt}.{jti}").as_bytes());
    format!("{REPLAY_PREFIX}{tenant}/{bucket}/{digest:x}")
}

/// When the record of a proof issued at `iat` can no longer be hit.
fn replay_expiry(iat: i64) -> i64 {
    (iat.div_euclid(PROOF_WINDOW_SECS) + 2) * PROOF_WINDOW_SECS
}

/// Deletes, among `keys`, the replay records no proof can hit any more (by the bucket
/// in the key), and returns how many. Keys that are not replay records are left alone.
pub fn purge_replay_records<R: KeyValue + ?Sized>(
    replays: &R,
    keys: &[String],
    now: i64,
) -> Result<usize, KvError> {
    let mut purged = 0;
    for key in keys {
        let bucket = key
            .strip_prefix(REPLAY_PREFIX)
            .and_then(|rest| rest.split('/').nth(1))
            .and_then(|b| b.parse::<i64>().ok());
        if let Some(bucket) = bucket
            && now >= (bucket + 2) * PROOF_WINDOW_SECS
        {
            replays.delete(key)?;
            purged += 1;
        }
    }
    Ok(purged)
}

fn json_object(b64: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// `scheme://host[:port]/path`, lower-case scheme and host, default port dropped, no
/// query or fragment; `None` for anything but an absolute http(s) URL.
fn normalized_url(url: &str) -> Option<String> {
    let url = url.split('#').next().unwrap_or_default();
    let uri: http::Uri = url.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        _ => return None,
    };
    let authority = uri.authority()?;
    let host = authority.host().to_ascii_lowercase();
    let path = match uri.path() {
        "" => "/",
        p => p,
    };
    Some(match authority.port_u16().filter(|p| *p != default_port) {
        Some(port) => format!("{scheme}://{host}:{port}{path}"),
        None => format!("{scheme}://{host}{path}"),
    })
}

/// A proof's public key, of one of [`PROOF_ALGS`].
enum ProofKey {
    Es256(ES256PublicKey),
    EdDsa(Ed25519PublicKey),
}

impl ProofKey {
    fn from_jwk(alg: &str, jwk: &str) -> Result<ProofKey, AuthError> {
        let bad_key = |_| AuthError::Proof(ProofRefusal::BadKey);
        match alg {
            "ES256" => ES256PublicKey::from_jwk(jwk)
                .map(ProofKey::Es256)
                .map_err(bad_key),
            "EdDSA" => Ed25519PublicKey::from_jwk(jwk)
                .map(ProofKey::EdDsa)
                .map_err(bad_key),
            _ => Err(AuthError::Proof(ProofRefusal::UnsupportedAlg)),
        }
    }

    fn thumbprint(&self) -> String {
        match self {
            ProofKey::Es256(k) => k.jwk_thumbprint(),
            ProofKey::EdDsa(k) => k.jwk_thumbprint(),
        }
    }

    fn verifies(&self, signed: &[u8], signature: &[u8]) -> bool {
        match self {
            ProofKey::Es256(k) => {
                use p256::ecdsa::signature::Verifier;
                let Ok(key) = p256::ecdsa::VerifyingKey::from_sec1_bytes(&k.to_bytes()) else {
                    return false;
                };
                let Ok(signature) = p256::ecdsa::Signature::from_slice(signature) else {
                    return false;
                };
                key.verify(signed, &signature).is_ok()
            }
            ProofKey::EdDsa(k) => {
                let Ok(key) = ed25519_compact::PublicKey::from_slice(&k.to_bytes()) else {
                    return false;
                };
                let Ok(signature) = ed25519_compact::Signature::from_slice(signature) else {
                    return false;
                };
                key.verify(signed, &signature).is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests;
