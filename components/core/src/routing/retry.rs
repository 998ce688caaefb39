//! Retries of failed carrier calls: only idempotent methods, only carrier failures, at
//! most the carrier's `retry.max_retries`, within a retry budget, and never a request
//! that something upstream of us already retried.
//!
//! - Methods: GET, HEAD, OPTIONS, PUT, DELETE (RFC 9110 §9.2.2). POST and PATCH are
//!   never retried, with or without an `Idempotency-Key` (the carrier does not know
//!   our key).
//! - Only [`Outcome::CarrierFailure`] is retried (5xx, carrier timeout, connection
//!   failure); a 401 takes the token refresh path instead ([`super::token_cache`]).
//! - The retried request carries `x-waypost-retry: <n>` so nothing downstream retries
//!   it again; a request that arrives with `x-waypost-retry` is not retried here and
//!   keeps the header on its way upstream. (Auth passes the header through, like the
//!   deadline: it is the caller's to send.)
//! - The budget: retries per carrier and region are at most `retry.budget_percent` of
//!   that carrier's calls in the same fixed window of [`BUDGET_WINDOW_MS`], and at
//!   least [`MIN_RETRIES_PER_WINDOW`] so a quiet carrier can still retry. When a
//!   carrier fails broadly the budget runs out and calls fail at once instead of
//!   multiplying its load.
//!
//! Key-value layout (per deployment region and carrier, `<w>` = the window number):
//! `retry:<region>:<carrier>:<w>:calls` and `retry:<region>:<carrier>:<w>:retries`
//! (counters), `retry:<region>:<carrier>:window` (the newest window). The first call of
//! a window moves `window` forward with a compare-and-swap and deletes the counters of
//! the two windows before, so at most a few keys per carrier exist.
//!
//! Key-value faults: the component treats them as "no retry".

use super::outcome::Outcome;
use crate::auth::credential::Headers;
use crate::config::Retry;
use crate::kv::{KeyValue, KvError};

/// Marks a retried request (value: which retry, from 1).
pub const RETRY_HEADER: &str = "x-waypost-retry";
/// The retry budget's window.
pub const BUDGET_WINDOW_MS: u64 = 10_000;
/// Retries always allowed per window (when `budget_percent` > 0).
pub const MIN_RETRIES_PER_WINDOW: i64 = 3;

/// Whether the method is idempotent (safe to send twice).
pub fn is_idempotent(method: &str) -> bool {
    ["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]
        .iter()
        .any(|m| m.eq_ignore_ascii_case(method))
}

/// Whether the request arrived already retried by someone before us.
pub fn arrived_retried(headers: &Headers) -> bool {
    headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(RETRY_HEADER))
}

/// The marker header for retry number `retry` (1 for the first retry).
pub fn retry_marker(retry: u32) -> (String, String) {
    (RETRY_HEADER.to_string(), retry.max(1).to_string())
}

/// The checks that need no store: method, outcome, the incoming mark, and the
/// carrier's `max_retries` (`retries_made`: retries already sent for this request).
pub fn may_retry(
    method: &str,
    headers: &Headers,
    outcome: Outcome,
    retries_made: u32,
    retry: &Retry,
) -> bool {
    outcome == Outcome::CarrierFailure
        && is_idempotent(method)
        && !arrived_retried(headers)
        && retries_made < retry.max_retries
}

fn prefix(region: &str, carrier: &str) -> String {
    format!("retry:{region}:{carrier}")
}

fn counter_key(region: &str, carrier: &str, window: u64, what: &str) -> String {
    format!("{}:{window}:{what}", prefix(region, carrier))
}

/// Counts a first attempt to `carrier` (each request once, retries not), the base of
/// the budget. Cleans up old windows on the first call of a window.
pub fn count_call<K: KeyValue + ?Sized>(
    kv: &K,
    region: &str,
    carrier: &str,
    now_ms: u64,
) -> Result<(), KvError> {
    let window = now_ms / BUDGET_WINDOW_MS;
    let calls = kv.increment(&counter_key(region, carrier, window, "calls"), 1)?;
    if calls == 1 {
        advance_window(kv, region, carrier, window)?;
    }
    Ok(())
}

fn advance_window<K: KeyValue + ?Sized>(
    kv: &K,
    region: &str,
    carrier: &str,
    window: u64,
) -> Result<(), KvError> {
    let pointer = format!("{}:window", prefix(region, carrier));
    let current = kv.get(&pointer)?;
    let previous = current
        .as_deref()
        .and_then(|b| std::str::from_utf8(b).ok())
        .and_then(|s| s.parse::<u64>().ok());
    if previous.is_some_and(|p| p >= window) {
        return Ok(());
    }
    if !kv.compare_and_swap(&pointer, current.as_deref(), window.to_string().as_bytes())? {
        return Ok(());
    }
    if let Some(previous) = previous {
        for old in [previous, previous.saturating_sub(1)] {
            for what in ["calls", "retries"] {
                kv.delete(&counter_key(region, carrier, old, what))?;
            }
        }
    }
    Ok(())
}

/// Takes one retry from the budget of `carrier` in this region; `false` when the budget
/// of the current window is spent (nothing is taken then).
pub fn spend_retry<K: KeyValue + ?Sized>(
    kv: &K,
    region: &str,
    carrier: &str,
    retry: &Retry,
    now_ms: u64,
) -> Result<bool, KvError> {
    if retry.budget_percent == 0 {
        return Ok(false);
    }
    let window = now_ms / BUDGET_WINDOW_MS;
    let calls = crate::kv::read_counter(kv, &counter_key(region, carrier, window, "calls"))?;
    let allowed = (calls * i64::from(retry.budget_percent) / 100).max(MIN_RETRIES_PER_WINDOW);
    let retries_key = counter_key(region, carrier, window, "retries");
    if kv.increment(&retries_key, 1)? > allowed {
        kv.increment(&retries_key, -1)?;
        return Ok(false);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use crate::routing::testkit::headers;
    use std::sync::{Arc, Barrier};

    fn retry(max_retries: u32, budget_percent: u32) -> Retry {
        Retry {
            max_retries,
            budget_percent,
        }
    }

    #[test]
    fn only_idempotent_methods_and_carrier_failures_are_retried() {
        let none = headers(&[]);
        let r = retry(1, 20);
        for method in ["GET", "head", "OPTIONS", "PUT", "DELETE"] {
            assert!(
                may_retry(method, &none, Outcome::CarrierFailure, 0, &r),
                "{method}"
            );
        }
        for method in ["POST", "PATCH", "CONNECT"] {
            assert!(
                !may_retry(method, &none, Outcome::CarrierFailure, 0, &r),
                "{method}"
            );
        }
        assert!(!may_retry("GET", &none, Outcome::Success, 0, &r));
        assert!(!may_retry("GET", &none, Outcome::CredentialFailure, 0, &r));
        assert!(!may_retry("GET", &none, Outcome::Abandoned, 0, &r));
    }

    #[test]
    fn at_most_max_retries() {
        let none = headers(&[]);
        assert!(may_retry(
            "GET",
            &none,
            Outcome::CarrierFailure,
            1,
            &retry(2, 20)
        ));
        assert!(!may_retry(
            "GET",
            &none,
            Outcome::CarrierFailure,
            2,
            &retry(2, 20)
        ));
        assert!(!may_retry(
            "GET",
            &none,
            Outcome::CarrierFailure,
            0,
            &retry(0, 20)
        ));
    }

    #[test]
    fn a_request_that_arrived_retried_is_not_retried_again() {
        let marked = headers(&[("X-Waypost-Retry", "1")]);
        assert!(!may_retry(
            "GET",
            &marked,
            Outcome::CarrierFailure,
            0,
            &retry(3, 100)
        ));
        assert_eq!(
            retry_marker(1),
            ("x-waypost-retry".to_string(), "1".to_string())
        );
    }

    #[test]
    fn the_budget_is_a_share_of_the_calls_in_the_window() {
        let kv = MemoryKv::new();
        let r = retry(1, 20);
        for _ in 0..50 {
            count_call(&kv, "eu", "ups", 1_000).unwrap();
        }
        // 20 % of 50 calls: 10 retries.
        let granted = (0..15)
            .filter(|_| spend_retry(&kv, "eu", "ups", &r, 2_000).unwrap())
            .count();
        assert_eq!(granted, 10);
        // Another carrier has its own budget.
        assert!(spend_retry(&kv, "eu", "fedex", &r, 2_000).unwrap());
        // A new window starts a new budget.
        count_call(&kv, "eu", "ups", 10_000).unwrap();
        assert!(spend_retry(&kv, "eu", "ups", &r, 10_001).unwrap());
    }

    #[test]
    fn a_quiet_carrier_still_gets_a_few_retries_and_zero_percent_gets_none() {
        let kv = MemoryKv::new();
        count_call(&kv, "eu", "usps", 0).unwrap();
        let granted = (0..5)
            .filter(|_| spend_retry(&kv, "eu", "usps", &retry(1, 20), 1).unwrap())
            .count();
        assert_eq!(granted as i64, MIN_RETRIES_PER_WINDOW);
        assert!(!spend_retry(&kv, "eu", "dhl", &retry(1, 0), 1).unwrap());
    }

    #[test]
    fn concurrent_retries_never_exceed_the_budget() {
        let kv = Arc::new(MemoryKv::new());
        for _ in 0..100 {
            count_call(&*kv, "us", "ups", 0).unwrap();
        }
        let barrier = Arc::new(Barrier::new(40));
        let handles: Vec<_> = (0..40)
            .map(|_| {
                let (kv, barrier) = (Arc::clone(&kv), Arc::clone(&barrier));
                std::thread::spawn(move || {
                    barrier.wait();
                    spend_retry(&*kv, "us", "ups", &retry(1, 20), 5).unwrap()
                })
            })
            .collect();
        let granted = handles
            .into_iter()
            .map(|h| h.join().unwrap())
            .filter(|g| *g)
            .count();
        assert_eq!(granted, 20);
    }

    #[test]
    fn old_windows_are_deleted() {
        let kv = MemoryKv::new();
        let r = retry(1, 20);
        for window in 0..5u64 {
            let now = window * BUDGET_WINDOW_MS;
            count_call(&kv, "eu", "ups", now).unwrap();
            spend_retry(&kv, "eu", "ups", &r, now).unwrap();
        }
        // After a quiet hour, too.
        count_call(&kv, "eu", "ups", 3_600_000).unwrap();
        assert_eq!(kv.keys(), ["retry:eu:ups:360:calls", "retry:eu:ups:window"]);
    }

    #[test]
    fn store_faults_are_errors() {
        let kv = MemoryKv::new();
        kv.set_failing(true);
        assert!(count_call(&kv, "eu", "ups", 0).is_err());
        assert!(spend_retry(&kv, "eu", "ups", &retry(1, 20), 0).is_err());
    }
}
