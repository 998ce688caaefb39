//! Per-request plumbing every component shares: headers as plain pairs for core, the
//! request id, the clock, and the one JSON log line per request.

use spin_sdk::http::HeaderMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Headers as `(name, value)` pairs, the form core reads. Values that are not visible
/// ASCII are passed as lossy UTF-8, so a check on them fails instead of being skipped.
pub fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| {
            (
                n.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// The value of header `name`, if it is text.
pub fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Longest caller-chosen request id kept.
const MAX_REQUEST_ID: usize = 128;

/// The caller's `x-request-id` when it is a short token of visible ASCII, else a new
/// random one (128 bits, hex).
pub fn request_id(headers: &HeaderMap) -> String {
    match header(headers, "x-request-id") {
        Some(id)
            if !id.is_empty()
                && id.len() <= MAX_REQUEST_ID
                && id.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            id.to_string()
        }
        _ => {
            let random = || spin_sdk::wasip3::random::random::get_random_u64();
            format!("{:016x}{:016x}", random(), random())
        }
    }
}

/// A random u64 from the host (WASI random), for load balancing and jitter.
pub fn random_u64() -> u64 {
    spin_sdk::wasip3::random::random::get_random_u64()
}

/// Wall-clock Unix time in seconds.
pub fn unix_secs() -> i64 {
    unix_millis() / 1000
}

/// Wall-clock Unix time in milliseconds.
pub fn unix_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default()
}

/// The one structured log line a component writes per request (JSON on stderr).
/// Never put a credential, token or signature in `fields`.
pub struct RequestLog {
    component: &'static str,
    started: Instant,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl RequestLog {
    pub fn start(component: &'static str, request_id: &str, route: &str) -> Self {
        let mut fields = serde_json::Map::new();
        fields.insert("request_id".into(), request_id.into());
        fields.insert("route".into(), route.into());
        RequestLog {
            component,
            started: Instant::now(),
            fields,
        }
    }

    pub fn set(&mut self, key: &str, value: impl Into<serde_json::Value>) {
        self.fields.insert(key.into(), value.into());
    }

    /// Writes the line with the response status and the latency.
    pub fn finish(mut self, status: u16) {
        self.fields.insert("status".into(), status.into());
        self.fields.insert(
            "latency_us".into(),
            (self.started.elapsed().as_micros() as u64).into(),
        );
        let mut line = serde_json::Map::new();
        line.insert("component".into(), self.component.into());
        line.extend(self.fields);
        // One write for the whole line: wasm stderr is unbuffered, and formatting into
        // it directly makes a host write per fragment (~165 per request, measured).
        write_line(serde_json::Value::Object(line));
    }
}

/// A log line for an event outside the request's own line (`{"event":..,"error":..}`).
pub fn log_event(event: &str, error: &str) {
    write_line(serde_json::json!({ "event": event, "error": error }));
}

fn write_line(value: serde_json::Value) {
    let mut text = value.to_string();
    text.push('\n');
    let _ = std::io::Write::write_all(&mut std::io::stderr().lock(), text.as_bytes());
}
