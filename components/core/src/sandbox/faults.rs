//! Fault injection from `x-sandbox-*` request headers (the table is in the module doc
//! of [`super`]).
//!
//! Each header's value is a comma-separated list of entries, each either a bare value
//! (every carrier) or `carrier=value` (that carrier only); the carrier's own entry wins
//! over a bare one, whatever the order. Repeated header lines are one list. An entry
//! that does not parse, names an unknown carrier, or repeats a scope is a 400.

use super::Carrier;
use super::call::Call;
use super::failure::{Failure, Kind};

pub const LATENCY: &str = "x-sandbox-latency-ms";
pub const JITTER: &str = "x-sandbox-jitter-ms";
pub const FAIL: &str = "x-sandbox-fail";
pub const ERROR_RATE: &str = "x-sandbox-error-rate";
pub const TOO_MANY: &str = "x-sandbox-429";
pub const HANG: &str = "x-sandbox-hang";
pub const STATUS: &str = "x-sandbox-status";

/// Longest latency or jitter a header may ask for: 10 minutes.
pub const MAX_DELAY_MS: u64 = 600_000;
/// Longest `Retry-After` `x-sandbox-429` may ask for: one day.
pub const MAX_RETRY_AFTER_SECS: u64 = 86_400;

/// The faults one request asks of one carrier.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Faults {
    pub latency_ms: u64,
    pub jitter_ms: u64,
    pub fail: Option<u16>,
    pub error_rate: f64,
    pub retry_after: Option<u64>,
    pub hang: bool,
    pub status: Option<u16>,
}

/// What the faults make of a request before it is served.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Injected {
    Hang,
    Fail(Failure),
}

// Salts so that jitter and the error-rate draw are independent for one seed.
const JITTER_SALT: u64 = 0x6a69_7474_6572;
const ERROR_SALT: u64 = 0x6572_726f_7273;

impl Faults {
    /// Reads every fault header for `call`'s carrier.
    pub fn read(call: &Call<'_>) -> Result<Faults, Failure> {
        let delay = |v: &str| v.parse::<u64>().ok().filter(|n| *n <= MAX_DELAY_MS);
        let fail = |v: &str| v.parse::<u16>().ok().filter(|s| (500..=599).contains(s));
        let rate = |v: &str| v.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r));
        let retry = |v: &str| v.parse::<u64>().ok().filter(|s| *s <= MAX_RETRY_AFTER_SECS);
        let hang = |v: &str| match v.to_ascii_lowercase().as_str() {
            "1" | "true" => Some(true),
            "0" | "false" => Some(false),
            _ => None,
        };
        let status = |v: &str| v.parse::<u16>().ok().filter(|s| (200..=599).contains(s));
        Ok(Faults {
            latency_ms: scoped(call, LATENCY, delay, "0-600000")?.unwrap_or(0),
            jitter_ms: scoped(call, JITTER, delay, "0-600000")?.unwrap_or(0),
            fail: scoped(call, FAIL, fail, "a status 500-599")?,
            error_rate: scoped(call, ERROR_RATE, rate, "0.0-1.0")?.unwrap_or(0.0),
            retry_after: scoped(call, TOO_MANY, retry, "seconds, 0-86400")?,
            hang: scoped(call, HANG, hang, "1 or 0")?.unwrap_or(false),
            status: scoped(call, STATUS, status, "a status 200-599")?,
        })
    }

    /// Milliseconds to wait before answering: the latency plus `0..=jitter`, drawn
    /// from `seed`.
    pub fn delay_ms(&self, seed: u64) -> u64 {
        let jitter = match self.jitter_ms {
            0 => 0,
            j => mix(seed ^ JITTER_SALT) % (j + 1),
        };
        self.latency_ms + jitter
    }

    /// The fault that replaces the answer, if any, in this order: hang, fail, 429,
    /// error rate (a 503 when the draw from `seed` falls below the rate), and an
    /// injected status of 400 or more.
    pub fn injected(&self, seed: u64) -> Option<Injected> {
        if self.hang {
            return Some(Injected::Hang);
        }
        if let Some(status) = self.fail {
            let message = format!("Simulated upstream failure ({status}).");
            return Some(Injected::Fail(Failure::new(
                status,
                Kind::Unavailable,
                message,
            )));
        }
        if let Some(secs) = self.retry_after {
            let message = format!("Too Many Requests. Retry after {secs} seconds.");
            return Some(Injected::Fail(Failure::new(
                429,
                Kind::RateLimited(secs),
                message,
            )));
        }
        if self.error_rate > 0.0 && draw(seed) < self.error_rate {
            let message = "Simulated intermittent failure (503).";
            return Some(Injected::Fail(Failure::new(
                503,
                Kind::Unavailable,
                message,
            )));
        }
        match self.status {
            Some(status) if status >= 400 => {
                let message = format!("Simulated status {status}.");
                Some(Injected::Fail(Failure::new(
                    status,
                    Kind::Injected,
                    message,
                )))
            }
            _ => None,
        }
    }

    /// The status that replaces a successful answer's 200 (`x-sandbox-status` < 400).
    pub fn success_status(&self) -> Option<u16> {
        self.status.filter(|s| *s < 400)
    }
}

/// The value of header `name` for `call`'s carrier, parsed by `parse` (the scoped
/// syntax above; also used by `x-sandbox-token-ttl`).
pub(crate) fn scoped<T>(
    call: &Call<'_>,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
    expected: &str,
) -> Result<Option<T>, Failure> {
    let bad = |entry: &str, why: String| {
        Failure::invalid(name, format!("Invalid {name} entry {entry:?}: {why}."))
    };
    let (mut bare, mut own) = (None, None);
    let mut scopes_seen = Vec::new();
    for entry in call.header_values(name).flat_map(|v| v.split(',')) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (scope, value) = match entry.split_once('=') {
            Some((scope, value)) => {
                let carrier = Carrier::from_name(scope.trim()).ok_or_else(|| {
                    bad(
                        entry,
                        "the scope must be one of ups, fedex, dhl, usps".into(),
                    )
                })?;
                (Some(carrier), value.trim())
            }
            None => (None, entry),
        };
        if scopes_seen.contains(&scope) {
            return Err(bad(entry, "that scope is given twice".into()));
        }
        scopes_seen.push(scope);
        let parsed = parse(value).ok_or_else(|| bad(entry, format!("expected {expected}")))?;
        match scope {
            None => bare = Some(parsed),
            Some(c) if c == call.carrier => own = Some(parsed),
            Some(_) => {}
        }
    }
    Ok(own.or(bare))
}

/// SplitMix64: a well-mixed u64 from any seed, so nearby seeds draw unrelated values.
fn mix(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A uniform draw in `[0, 1)` from `seed`.
fn draw(seed: u64) -> f64 {
    (mix(seed ^ ERROR_SALT) >> 11) as f64 / (1u64 << 53) as f64
}
