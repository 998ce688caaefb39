//! Request deadlines and the timeouts of each carrier call.
//!
//! `x-waypost-deadline` is a **relative** budget: the whole number of milliseconds the
//! sender still allows for the request, counted from when it arrives (like gRPC's
//! `grpc-timeout`). Relative budgets need no synchronized clocks between the caller,
//! the regions and the carriers. Absent, the route's `deadline_ms` applies, else
//! [`DEFAULT_DEADLINE_MS`]; values above [`MAX_DEADLINE_MS`] are capped; `0` means the
//! budget is already spent (504 at once); anything else is 400 `invalid-deadline`.
//!
//! Each carrier call gets the carrier's `timeout_ms` and `connect_timeout_ms`, capped by
//! what remains of the deadline minus a reserve the gateway keeps to answer (5 % of
//! what remains, 1 to 100 ms), and forwards that budget upstream as
//! `x-waypost-deadline`, so every subcall has less than what remains. The connect
//! timeout goes on the request, for the host to apply. When nothing remains the call
//! is not made and the request gets 504 `upstream-timeout`; a call whose connection
//! fails (refused, or not made within the connect timeout) gets 502
//! `upstream-unreachable`.

use super::errors::RoutingError;
use super::outcome::{Outcome, TransportFailure};
use crate::auth::credential::{Headers, single_header};
use crate::config::{Carrier, Route};

/// The header carrying the remaining budget, in whole milliseconds.
pub const DEADLINE_HEADER: &str = "x-waypost-deadline";
/// The budget when neither the caller nor the route sets one.
pub const DEFAULT_DEADLINE_MS: u64 = 30_000;
/// The largest budget accepted (longer ones are capped), the longest carrier timeout.
pub const MAX_DEADLINE_MS: u64 = 300_000;
/// Longest accepted header value (digits).
const MAX_DIGITS: usize = 12;

/// When the request must be answered by, as Unix milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Deadline {
    pub at_ms: u64,
}

/// The timeouts of one carrier call and the budget to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallBudget {
    pub connect_timeout_ms: u64,
    /// The whole call, response body included.
    pub timeout_ms: u64,
    /// The value for `x-waypost-deadline` on the upstream request (= `timeout_ms`).
    pub forward_deadline: String,
    /// The request's deadline, not the carrier's `timeout_ms`, set the limit: a timeout
    /// then is not the carrier's fault (see [`CallBudget::outcome_of`]).
    pub capped_by_deadline: bool,
}

impl Deadline {
    /// The deadline of a request arriving at `now_ms` with these headers, on `route`.
    pub fn of_request(
        headers: &Headers,
        route: Option<&Route>,
        now_ms: u64,
    ) -> Result<Deadline, RoutingError> {
        let sent =
            single_header(headers, DEADLINE_HEADER).map_err(|_| RoutingError::InvalidDeadline)?;
        let budget_ms = match sent {
            Some(value) => parse_budget(value)?,
            None => route
                .and_then(|r| r.deadline_ms)
                .map_or(DEFAULT_DEADLINE_MS, u64::from),
        };
        Ok(Deadline {
            at_ms: now_ms.saturating_add(budget_ms.min(MAX_DEADLINE_MS)),
        })
    }

    pub fn remaining_ms(&self, now_ms: u64) -> u64 {
        self.at_ms.saturating_sub(now_ms)
    }

    pub fn is_past(&self, now_ms: u64) -> bool {
        now_ms >= self.at_ms
    }

    /// The timeouts of a call to `carrier` starting at `now_ms`; 504 when the deadline
    /// leaves no time for it.
    pub fn call(&self, carrier: &Carrier, now_ms: u64) -> Result<CallBudget, RoutingError> {
        let remaining = self.remaining_ms(now_ms);
        let reserve = (remaining / 20).clamp(1, 100);
        let available = remaining.saturating_sub(reserve);
        if available == 0 {
            return Err(RoutingError::UpstreamTimeout {
                carrier: carrier.id.clone(),
            });
        }
        let carrier_timeout = u64::from(carrier.timeout_ms);
        let timeout_ms = carrier_timeout.min(available);
        Ok(CallBudget {
            connect_timeout_ms: u64::from(carrier.connect_timeout_ms).min(timeout_ms),
            timeout_ms,
            forward_deadline: timeout_ms.to_string(),
            capped_by_deadline: available < carrier_timeout,
        })
    }
}

fn parse_budget(value: &str) -> Result<u64, RoutingError> {
    if value.is_empty() || value.len() > MAX_DIGITS || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RoutingError::InvalidDeadline);
    }
    value.parse().map_err(|_| RoutingError::InvalidDeadline)
}

impl CallBudget {
    /// What a call whose connection was not made within `connect_timeout_ms` failed
    /// of: the carrier was not reached, unless the connect timeout was the call's whole
    /// timeout (the deadline cut both), which then ran out.
    pub fn connect_timed_out(&self) -> TransportFailure {
        if self.connect_timeout_ms < self.timeout_ms {
            TransportFailure::Connect
        } else {
            TransportFailure::Timeout
        }
    }

    /// What a failed call means for the carrier's breaker: a connection failure is the
    /// carrier's; a timeout is the carrier's only when its own `timeout_ms` ran out,
    /// not when the request's shorter deadline did.
    pub fn outcome_of(&self, failure: TransportFailure) -> Outcome {
        match failure {
            TransportFailure::Timeout if self.capped_by_deadline => Outcome::Abandoned,
            _ => Outcome::CarrierFailure,
        }
    }
}

/// The answer to a call that failed without a response: 502 `upstream-unreachable`
/// when the connection failed, 504 `upstream-timeout` when time ran out.
pub fn transport_error(carrier: &str, failure: TransportFailure) -> RoutingError {
    let carrier = carrier.to_string();
    match failure {
        TransportFailure::Connect => RoutingError::UpstreamUnreachable { carrier },
        TransportFailure::Timeout => RoutingError::UpstreamTimeout { carrier },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::testkit::headers;
    use crate::routing::testkit::{carrier, upstream};

    fn route(deadline_ms: Option<u32>) -> Route {
        Route {
            id: "carriers".into(),
            path: "/v1/carriers/{carrier}/{*path}".into(),
            methods: vec![],
            scopes: vec![],
            weight: 1,
            deprecated: false,
            sunset: None,
            deadline_ms,
        }
    }

    fn ups(timeout_ms: u32, connect_timeout_ms: u32) -> Carrier {
        let mut c = carrier("ups", &[upstream("us", "us")]);
        c.timeout_ms = timeout_ms;
        c.connect_timeout_ms = connect_timeout_ms;
        c
    }

    #[test]
    fn the_header_is_a_relative_budget_in_milliseconds() {
        let d =
            Deadline::of_request(&headers(&[("X-Waypost-Deadline", "2500")]), None, 1_000).unwrap();
        assert_eq!(d.at_ms, 3_500);
        assert_eq!(d.remaining_ms(3_000), 500);
        assert!(d.is_past(3_500));
    }

    #[test]
    fn the_route_default_applies_without_a_header_then_the_global_default() {
        let d = Deadline::of_request(&headers(&[]), Some(&route(Some(15_000))), 0).unwrap();
        assert_eq!(d.at_ms, 15_000);
        let d = Deadline::of_request(&headers(&[]), Some(&route(None)), 0).unwrap();
        assert_eq!(d.at_ms, DEFAULT_DEADLINE_MS);
        // A caller's header beats the route's default.
        let d = Deadline::of_request(
            &headers(&[(DEADLINE_HEADER, "100")]),
            Some(&route(Some(15_000))),
            0,
        )
        .unwrap();
        assert_eq!(d.at_ms, 100);
    }

    #[test]
    fn huge_budgets_are_capped_and_bad_ones_refused() {
        let d = Deadline::of_request(&headers(&[(DEADLINE_HEADER, "999999999")]), None, 0).unwrap();
        assert_eq!(d.at_ms, MAX_DEADLINE_MS);
        for bad in ["", "-5", "1.5", "5s", "1e3", "9999999999999"] {
            assert_eq!(
                Deadline::of_request(&headers(&[(DEADLINE_HEADER, bad)]), None, 0),
                Err(RoutingError::InvalidDeadline),
                "{bad:?}"
            );
        }
        assert_eq!(
            Deadline::of_request(
                &headers(&[(DEADLINE_HEADER, "5"), (DEADLINE_HEADER, "6")]),
                None,
                0
            ),
            Err(RoutingError::InvalidDeadline)
        );
    }

    #[test]
    fn the_carrier_timeout_applies_when_the_deadline_is_far() {
        let d = Deadline { at_ms: 60_000 };
        let call = d.call(&ups(10_000, 2_000), 0).unwrap();
        assert_eq!(call.timeout_ms, 10_000);
        assert_eq!(call.connect_timeout_ms, 2_000);
        assert_eq!(call.connect_timed_out(), TransportFailure::Connect);
        assert_eq!(call.forward_deadline, "10000");
        assert!(!call.capped_by_deadline);
        assert_eq!(
            call.outcome_of(TransportFailure::Timeout),
            Outcome::CarrierFailure
        );
    }

    #[test]
    fn a_near_deadline_caps_the_call_and_keeps_a_reserve() {
        let d = Deadline { at_ms: 10_000 };
        // 1 000 ms remain: 50 ms (5 %) kept for the answer.
        let call = d.call(&ups(10_000, 2_000), 9_000).unwrap();
        assert_eq!(call.timeout_ms, 950);
        assert_eq!(call.connect_timeout_ms, 950);
        // Not connected by then, the call's own time ran out: not the carrier's fault.
        assert_eq!(call.connect_timed_out(), TransportFailure::Timeout);
        assert_eq!(call.forward_deadline, "950");
        assert!(call.capped_by_deadline);
        assert_eq!(
            call.outcome_of(TransportFailure::Timeout),
            Outcome::Abandoned
        );
        assert_eq!(
            call.outcome_of(TransportFailure::Connect),
            Outcome::CarrierFailure
        );
        // A long budget keeps at most 100 ms.
        let far = Deadline { at_ms: 200_000 };
        assert_eq!(
            far.call(&ups(300_000, 2_000), 0).unwrap().timeout_ms,
            199_900
        );
    }

    #[test]
    fn no_time_left_is_upstream_timeout() {
        let d = Deadline { at_ms: 10_000 };
        let timeout = RoutingError::UpstreamTimeout {
            carrier: "ups".into(),
        };
        assert_eq!(d.call(&ups(10_000, 2_000), 9_999), Err(timeout.clone()));
        assert_eq!(d.call(&ups(10_000, 2_000), 12_000), Err(timeout));
        let zero = Deadline::of_request(&headers(&[(DEADLINE_HEADER, "0")]), None, 5).unwrap();
        assert!(zero.is_past(5));
        assert!(zero.call(&ups(10_000, 2_000), 5).is_err());
        assert_eq!(d.call(&ups(10_000, 2_000), 9_998).unwrap().timeout_ms, 1);
    }

    #[test]
    fn transport_failures_have_their_problems() {
        assert_eq!(
            transport_error("ups", TransportFailure::Connect).status(),
            502
        );
        assert_eq!(
            transport_error("ups", TransportFailure::Timeout).status(),
            504
        );
    }
}
