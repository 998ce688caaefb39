//! What a carrier call's result means for the breakers, and reporting it.
//!
//! Every routed call holds a [`Ticket`] (from [`super::decide`]); the component reports
//! each attempt's result with [`record_outcome`]. Two breakers hear about it:
//!
//! - the upstream's carrier-wide breaker, key `breaker:<upstream region>:<carrier>:
//!   <upstream>`, opened by carrier failures (5xx, timeouts, connection errors) after
//!   the carrier's `breaker.failures` within `window_secs`, for `open_secs`;
//! - the tenant's breaker for the carrier, key `breaker-tenant:<tenant>:<carrier>`,
//!   opened by credential failures (401/403 from the carrier) after
//!   `breaker.credential_failures`: one tenant's broken account pauses that tenant's
//!   calls only, never the carrier for others.
//!
//! A 401/403 proves the upstream is up (a good probe for the carrier-wide breaker); a
//! 5xx says nothing about the tenant's credentials.

use super::breaker::{self, BreakerState, ProbeClaim, Thresholds, Verdict};
use crate::config::Carrier;
use crate::kv::{KeyValue, KvError};

/// The result of one carrier call, as the breakers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The carrier answered (2xx-4xx other than 401/403; a 429 too: the carrier is up).
    Success,
    /// 5xx, a timeout of the carrier's own `timeout_ms`, or a connection failure.
    CarrierFailure,
    /// 401 or 403 from the carrier with fresh credentials (after the one token refresh).
    CredentialFailure,
    /// Nothing learnt: the request's deadline ran out first, or the caller went away.
    Abandoned,
}

/// A call that produced no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// The connection could not be made (refused, DNS, TLS, connect timeout).
    Connect,
    /// The call's timeout ran out after connecting.
    Timeout,
}

impl Outcome {
    /// The outcome of a response with this status.
    pub fn of_status(status: u16) -> Outcome {
        match status {
            401 | 403 => Outcome::CredentialFailure,
            500..=599 => Outcome::CarrierFailure,
            _ => Outcome::Success,
        }
    }
}

/// One breaker a ticket reports to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BreakerRef {
    pub key: String,
    pub thresholds: Thresholds,
    /// This request holds the breaker's half-open probe.
    pub probe: Option<ProbeClaim>,
}

/// What a routed call reports its outcome against: the upstream's breaker and the
/// tenant's breaker for the carrier, with any probe claims the request holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    pub(super) upstream: BreakerRef,
    pub(super) tenant: BreakerRef,
}

impl Ticket {
    /// Whether this call is a half-open probe of either breaker (worth a log field).
    pub fn is_probe(&self) -> bool {
        self.upstream.probe.is_some() || self.tenant.probe.is_some()
    }
}

/// The carrier-wide breaker key of one upstream.
pub fn upstream_breaker_key(upstream_region: &str, carrier: &str, upstream: &str) -> String {
    format!("breaker:{upstream_region}:{carrier}:{upstream}")
}

/// The key of a tenant's credential breaker for a carrier.
pub fn tenant_breaker_key(tenant: &str, carrier: &str) -> String {
    format!("breaker-tenant:{tenant}:{carrier}")
}

fn thresholds(carrier: &Carrier, failures: u32) -> Thresholds {
    let b = &carrier.breaker;
    Thresholds {
        failures,
        window_ms: u64::from(b.window_secs) * 1000,
        open_ms: u64::from(b.open_secs) * 1000,
        // A probe that never reports frees its claim once it must have ended.
        probe_lease_ms: u64::from(carrier.timeout_ms) + 1000,
    }
}

/// The carrier-wide breaker settings of `carrier`.
pub fn carrier_thresholds(carrier: &Carrier) -> Thresholds {
    thresholds(carrier, carrier.breaker.failures)
}

/// A tenant's credential breaker settings for `carrier`.
pub fn credential_thresholds(carrier: &Carrier) -> Thresholds {
    thresholds(carrier, carrier.breaker.credential_failures)
}

/// Reports one attempt's outcome. Both breakers are updated even when the first update
/// fails; the first key-value fault is returned (the component logs it: breaker
/// accounting never changes the answer the caller gets).
pub fn record_outcome<K: KeyValue + ?Sized>(
    kv: &K,
    ticket: &Ticket,
    outcome: Outcome,
    now_ms: u64,
) -> Result<(), KvError> {
    let (upstream, tenant) = match outcome {
        Outcome::Success => (Verdict::Healthy, Verdict::Healthy),
        Outcome::CarrierFailure => (Verdict::Failure, Verdict::Unknown),
        Outcome::CredentialFailure => (Verdict::Healthy, Verdict::Failure),
        Outcome::Abandoned => (Verdict::Unknown, Verdict::Unknown),
    };
    let first = report(kv, &ticket.upstream, upstream, now_ms);
    let second = report(kv, &ticket.tenant, tenant, now_ms);
    first.and(second)
}

/// The upstream breaker's state after [`record_outcome`] reported `outcome` for
/// `ticket`, for the host's `waypost_breaker_state` metric. A healthy answer through a
/// closed breaker (no probe) leaves it closed and costs no read; otherwise one read.
pub fn upstream_state_after<K: KeyValue + ?Sized>(
    kv: &K,
    ticket: &Ticket,
    outcome: Outcome,
    now_ms: u64,
) -> Result<BreakerState, KvError> {
    let healthy = matches!(outcome, Outcome::Success | Outcome::CredentialFailure);
    if healthy && ticket.upstream.probe.is_none() {
        return Ok(BreakerState::Closed);
    }
    breaker::state(kv, &ticket.upstream.key, now_ms)
}

/// The state of every upstream breaker of `carrier` (upstream id, state), for a call
/// refused because they are open; unreadable records are left out.
pub fn carrier_breaker_states<K: KeyValue + ?Sized>(
    kv: &K,
    carrier: &Carrier,
    now_ms: u64,
) -> Vec<(String, BreakerState)> {
    carrier
        .upstreams
        .iter()
        .filter_map(|up| {
            let key = upstream_breaker_key(&up.region, &carrier.id, &up.id);
            breaker::state(kv, &key, now_ms)
                .ok()
                .map(|state| (up.id.clone(), state))
        })
        .collect()
}

fn report<K: KeyValue + ?Sized>(
    kv: &K,
    breaker: &BreakerRef,
    verdict: Verdict,
    now_ms: u64,
) -> Result<(), KvError> {
    breaker::record(
        kv,
        &breaker.key,
        &breaker.thresholds,
        breaker.probe.as_ref(),
        verdict,
        now_ms,
    )
}

/// Gives back the probe claims of a ticket whose call is not made after all (e.g. the
/// tenant breaker refused after an upstream probe was claimed).
pub(super) fn release<K: KeyValue + ?Sized>(kv: &K, breaker: &BreakerRef, now_ms: u64) {
    if breaker.probe.is_some() {
        // Best effort: an unreleased claim frees itself when its lease runs out.
        let _ = report(kv, breaker, Verdict::Unknown, now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_outcomes() {
        assert_eq!(Outcome::of_status(200), Outcome::Success);
        assert_eq!(Outcome::of_status(404), Outcome::Success);
        assert_eq!(Outcome::of_status(429), Outcome::Success);
        assert_eq!(Outcome::of_status(401), Outcome::CredentialFailure);
        assert_eq!(Outcome::of_status(403), Outcome::CredentialFailure);
        assert_eq!(Outcome::of_status(500), Outcome::CarrierFailure);
        assert_eq!(Outcome::of_status(503), Outcome::CarrierFailure);
    }

    #[test]
    fn keys_name_region_carrier_upstream_and_tenant() {
        assert_eq!(
            upstream_breaker_key("eu", "dhl", "main"),
            "breaker:eu:dhl:main"
        );
        assert_eq!(
            tenant_breaker_key("globex", "ups"),
            "breaker-tenant:globex:ups"
        );
    }
}
