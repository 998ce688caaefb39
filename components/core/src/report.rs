//! What components report to the host for its metrics, in response headers the host
//! removes before the response leaves (like `x-waypost-tenant` and
//! `x-waypost-carrier`). Carriers' `x-waypost-*` response headers never get this far
//! ([`crate::routing::downstream_response_headers`] drops them), so only our
//! components set these. Each is a Structured Field (RFC 9651):
//!
//! - `x-waypost-breakers` (List): the upstream breakers a request's carrier calls saw,
//!   each `"<carrier>";upstream="<upstream>";state=<closed|half-open|open>` (the state
//!   after the call's outcome was recorded, or when the call was refused).
//! - `x-waypost-retries` (List): `"<carrier>";n=<retries>` for calls that were retried.
//! - `x-waypost-webhooks` (Dictionary): what delivery attempts did,
//!   `delivered=<n>, retried=<n>, dead-lettered=<n>`, and, from the tick,
//!   `outbox-depth=<n>, dead-letters=<n>`.

use crate::routing::breaker::BreakerState;
use sfv::{DictSerializer, Integer, KeyRef, ListSerializer, StringRef, TokenRef, key_ref};

pub const BREAKERS: &str = "x-waypost-breakers";
pub const RETRIES: &str = "x-waypost-retries";
pub const WEBHOOKS: &str = "x-waypost-webhooks";

pub const UPSTREAM: &KeyRef = key_ref("upstream");
pub const STATE: &KeyRef = key_ref("state");
pub const N: &KeyRef = key_ref("n");

pub const DELIVERED: &KeyRef = key_ref("delivered");
pub const RETRIED: &KeyRef = key_ref("retried");
pub const DEAD_LETTERED: &KeyRef = key_ref("dead-lettered");
pub const OUTBOX_DEPTH: &KeyRef = key_ref("outbox-depth");
pub const DEAD_LETTERS: &KeyRef = key_ref("dead-letters");

/// One upstream breaker as a call saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerSeen {
    pub carrier: String,
    pub upstream: String,
    pub state: BreakerState,
}

/// What one request's carrier calls report: breaker states and retries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallReport {
    breakers: Vec<BreakerSeen>,
    retries: Vec<(String, u32)>,
}

impl CallReport {
    /// Notes `upstream`'s breaker state; a later note of the same breaker replaces it.
    pub fn breaker(&mut self, carrier: &str, upstream: &str, state: BreakerState) {
        self.breakers
            .retain(|b| !(b.carrier == carrier && b.upstream == upstream));
        self.breakers.push(BreakerSeen {
            carrier: carrier.to_string(),
            upstream: upstream.to_string(),
            state,
        });
    }

    /// Adds `n` retries of calls to `carrier`.
    pub fn retried(&mut self, carrier: &str, n: u32) {
        if n == 0 {
            return;
        }
        match self.retries.iter_mut().find(|(c, _)| c == carrier) {
            Some((_, total)) => *total += n,
            None => self.retries.push((carrier.to_string(), n)),
        }
    }

    pub fn breakers(&self) -> &[BreakerSeen] {
        &self.breakers
    }

    /// The report headers (none when nothing happened). Ids that are not printable
    /// ASCII (config ids always are) are left out.
    pub fn headers(&self) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        let mut list = ListSerializer::new();
        for b in &self.breakers {
            let (Ok(carrier), Ok(upstream)) = (
                StringRef::from_str(&b.carrier),
                StringRef::from_str(&b.upstream),
            ) else {
                continue;
            };
            let state = TokenRef::from_str(b.state.as_str()).expect("states are tokens");
            let _ = list
                .bare_item(carrier)
                .parameter(UPSTREAM, upstream)
                .parameter(STATE, state);
        }
        if let Some(value) = list.finish() {
            headers.push((BREAKERS.to_string(), value));
        }
        let mut list = ListSerializer::new();
        for (carrier, n) in &self.retries {
            if let Ok(carrier) = StringRef::from_str(carrier) {
                let _ = list.bare_item(carrier).parameter(N, *n);
            }
        }
        if let Some(value) = list.finish() {
            headers.push((RETRIES.to_string(), value));
        }
        headers
    }
}

/// What delivery attempts did (one intake's inline attempts, or one tick), and from
/// the tick the outbox's state after it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: u64,
    /// Failed attempts with another attempt scheduled.
    pub retried: u64,
    /// Failed attempts that made a dead letter.
    pub dead_lettered: u64,
    /// Deliveries not yet delivered or dead (pending and in flight).
    pub outbox_depth: Option<u64>,
    /// Dead letters kept.
    pub dead_letters: Option<u64>,
}

impl DeliveryReport {
    /// Counts attempt results as the webhooks component names them (`delivered`,
    /// `retry`, `dead`; `lease-lost` and `store-error` count as neither).
    pub fn of_results<'a>(results: impl IntoIterator<Item = &'a str>) -> DeliveryReport {
        let mut report = DeliveryReport::default();
        for result in results {
            match result {
                "delivered" => report.delivered += 1,
                "retry" => report.retried += 1,
                "dead" => report.dead_lettered += 1,
                _ => {}
            }
        }
        report
    }

    /// The `x-waypost-webhooks` header.
    pub fn header(&self) -> (String, String) {
        let int = |n: u64| Integer::try_from(n).unwrap_or(Integer::MAX);
        let mut dict = DictSerializer::new();
        let _ = dict.bare_item(DELIVERED, int(self.delivered));
        let _ = dict.bare_item(RETRIED, int(self.retried));
        let _ = dict.bare_item(DEAD_LETTERED, int(self.dead_lettered));
        if let Some(depth) = self.outbox_depth {
            let _ = dict.bare_item(OUTBOX_DEPTH, int(depth));
        }
        if let Some(dead) = self.dead_letters {
            let _ = dict.bare_item(DEAD_LETTERS, int(dead));
        }
        let value = dict.finish().expect("the dictionary has members");
        (WEBHOOKS.to_string(), value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_report_names_each_breaker_once_with_its_latest_state() {
        let mut report = CallReport::default();
        assert!(report.headers().is_empty());
        report.breaker("ups", "ups-us", BreakerState::Closed);
        report.breaker("fedex", "main", BreakerState::HalfOpen);
        report.breaker("ups", "ups-us", BreakerState::Open);
        report.retried("ups", 1);
        report.retried("fedex", 0);
        report.retried("ups", 2);
        assert_eq!(
            report.headers(),
            [
                (
                    "x-waypost-breakers".to_string(),
                    r#""fedex";upstream="main";state=half-open, "ups";upstream="ups-us";state=open"#
                        .to_string()
                ),
                ("x-waypost-retries".to_string(), r#""ups";n=3"#.to_string()),
            ]
        );
    }

    #[test]
    fn a_delivery_report_counts_results_and_carries_the_gauges_when_known() {
        let report = DeliveryReport::of_results(["retry", "dead", "retry", "lease-lost"]);
        assert_eq!(report.header().1, "delivered=0, retried=2, dead-lettered=1");
        let tick = DeliveryReport {
            outbox_depth: Some(4),
            dead_letters: Some(1),
            ..DeliveryReport::of_results(["delivered"])
        };
        assert_eq!(
            tick.header().1,
            "delivered=1, retried=0, dead-lettered=0, outbox-depth=4, dead-letters=1"
        );
    }
}
