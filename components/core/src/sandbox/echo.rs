//! `/_echo` (any method, any carrier, no auth): what arrived upstream, so router tests
//! can check which credential and headers the gateway sent. Credentials never appear:
//! `authorization` and the other credential headers are replaced by a fingerprint.

use super::call::Call;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// The path (and prefix: `/_echo/...` echoes too).
pub const PATH: &str = "/_echo";

/// Headers whose whole value is a secret.
const SECRET_HEADERS: &[&str] = &[
    "x-api-key",
    "dhl-api-key",
    "cookie",
    "x-payment-authorization-token",
];
/// Headers of the form `<scheme> <secret>`: the scheme stays readable.
const AUTH_HEADERS: &[&str] = &["authorization", "proxy-authorization"];

pub(crate) fn is_echo(path: &str) -> bool {
    path == PATH
        || path
            .strip_prefix(PATH)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `sha256:` + the first 16 hex digits of SHA-256 of `secret`: how the echo shows a
/// credential. Tests compute it for the credential they expect to have arrived.
pub fn fingerprint(secret: &str) -> String {
    fingerprint_bytes(secret.as_bytes())
}

fn fingerprint_bytes(bytes: &[u8]) -> String {
    let hex = format!("{:x}", Sha256::digest(bytes));
    format!("sha256:{}", &hex[..16])
}

/// The echo document:
/// `{carrier, method, path, query, headers: {name: value}, body_length, body_fingerprint}`
/// (the body's fingerprint, since a body may carry credentials too).
/// Header names are lower case; repeated headers are joined with `, `.
pub(crate) fn body(call: &Call<'_>) -> Value {
    let mut headers = Map::new();
    for (name, value) in call.request.headers {
        let name = name.to_ascii_lowercase();
        let shown = shown_value(&name, value.trim());
        let joined = match headers.remove(&name) {
            Some(Value::String(earlier)) => format!("{earlier}, {shown}"),
            _ => shown,
        };
        headers.insert(name, Value::String(joined));
    }
    let body = call.request.body;
    json!({
        "carrier": call.carrier.as_str(),
        "method": call.request.method,
        "path": call.path(),
        "query": call.request.query,
        "headers": headers,
        "body_length": body.len(),
        "body_fingerprint": fingerprint_bytes(body),
    })
}

/// `Bearer sha256:…` for an authorization header (the scheme kept), `sha256:…` for
/// another credential header, the value itself otherwise.
fn shown_value(name: &str, value: &str) -> String {
    if AUTH_HEADERS.contains(&name) {
        return match value.split_once(' ') {
            Some((scheme, credential)) => format!("{scheme} {}", fingerprint(credential.trim())),
            None => fingerprint(value),
        };
    }
    if SECRET_HEADERS.contains(&name) {
        return fingerprint(value);
    }
    value.to_string()
}
