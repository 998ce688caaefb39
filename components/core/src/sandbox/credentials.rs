//! Credentials at the simulated carriers: issuing OAuth tokens, and checking the
//! `Authorization` of API calls.
//!
//! The sandbox is stateless: it does not remember the tokens it issued. An API call is
//! accepted with any non-empty bearer token (at DHL: any non-blank Basic user and
//! password, or `DHL-API-Key` for tracking) unless the request's
//! `x-sandbox-reject-token` header names it (a comma-separated list; at DHL it names the
//! Basic user or the API key). That simulates an expired or revoked token, and so the
//! gateway's 401 → refresh → retry path.

use super::call::Call;
use super::failure::{Failure, Kind};
use super::faults::scoped;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};

pub const REJECT_TOKEN: &str = "x-sandbox-reject-token";
pub const TOKEN_TTL: &str = "x-sandbox-token-ttl";

/// Token lifetime when `x-sandbox-token-ttl` does not say otherwise.
pub const DEFAULT_TTL_SECS: u64 = 3600;
/// Longest lifetime `x-sandbox-token-ttl` may ask for: one day.
pub const MAX_TTL_SECS: u64 = 86_400;

/// A token issued by a simulated OAuth endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issued {
    pub access_token: String,
    pub issued_at_ms: i64,
    pub expires_in: u64,
}

/// Issues the token for client credentials that were checked to be non-blank:
/// `hex(sha256(client_id ":" client_secret ":" issued_at_secs))`, valid for
/// `x-sandbox-token-ttl` seconds (a bare number, or scoped like the fault headers).
pub(crate) fn issue(
    call: &Call<'_>,
    client_id: &str,
    client_secret: &str,
) -> Result<Issued, Failure> {
    let ttl = ttl_secs(call)?;
    let material = format!("{client_id}:{client_secret}:{}", call.now_secs);
    Ok(Issued {
        access_token: format!("{:x}", Sha256::digest(material.as_bytes())),
        issued_at_ms: call.now_secs.saturating_mul(1000),
        expires_in: ttl,
    })
}

fn ttl_secs(call: &Call<'_>) -> Result<u64, Failure> {
    let parse = |v: &str| {
        v.parse::<u64>()
            .ok()
            .filter(|s| (1..=MAX_TTL_SECS).contains(s))
    };
    Ok(scoped(call, TOKEN_TTL, parse, "seconds, 1-86400")?.unwrap_or(DEFAULT_TTL_SECS))
}

/// `true` when `client_id` and `client_secret` are both present and non-blank.
pub(crate) fn present(client_id: Option<&str>, client_secret: Option<&str>) -> bool {
    [client_id, client_secret]
        .iter()
        .all(|v| v.is_some_and(|v| !v.trim().is_empty()))
}

/// The `(user, password)` of an `Authorization: Basic` header, if well formed.
pub(crate) fn basic(call: &Call<'_>) -> Option<(String, String)> {
    let value = single_authorization(call)?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(encoded.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// The bearer token of an API call, or the carrier's 401: missing (no single
/// `Authorization: Bearer <token>`) or rejected (`x-sandbox-reject-token`).
pub(crate) fn require_bearer<'a>(call: &Call<'a>) -> Result<&'a str, Failure> {
    let realm = format!("Bearer realm=\"{}\"", call.carrier.as_str());
    let token = single_authorization(call)
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty());
    let Some(token) = token else {
        let message = "Missing or invalid Authorization header: expected Bearer <access token>.";
        return Err(Failure::new(401, Kind::MissingCredentials, message).with_challenge(realm));
    };
    if is_rejected(call, token) {
        let message = "Invalid Authentication Information: the access token is invalid or expired.";
        let challenge = format!("{realm}, error=\"invalid_token\"");
        return Err(Failure::new(401, Kind::RejectedCredentials, message).with_challenge(challenge));
    }
    Ok(token)
}

/// The Basic user of a DHL API call, or DHL's 401.
pub(crate) fn require_basic(call: &Call<'_>, realm: &str) -> Result<String, Failure> {
    let challenge = format!("Basic realm=\"{realm}\"");
    let credentials = basic(call).filter(|(u, p)| present(Some(u), Some(p)));
    let Some((user, _)) = credentials else {
        let message =
            "Invalid Credentials: expected HTTP Basic with the API user name and password.";
        return Err(Failure::new(401, Kind::MissingCredentials, message).with_challenge(challenge));
    };
    if is_rejected(call, &user) {
        let message = "Invalid Credentials: the API user is not authorized.";
        return Err(Failure::new(401, Kind::RejectedCredentials, message).with_challenge(challenge));
    }
    Ok(user)
}

/// Whether `x-sandbox-reject-token` names `credential`.
pub(crate) fn is_rejected(call: &Call<'_>, credential: &str) -> bool {
    call.header_values(REJECT_TOKEN)
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == credential)
}

/// The one `Authorization` header; `None` when absent or repeated.
fn single_authorization<'a>(call: &Call<'a>) -> Option<&'a str> {
    let mut values = call.header_values("authorization");
    let first = values.next()?;
    values.next().is_none().then_some(first)
}
