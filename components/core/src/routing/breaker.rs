//! A circuit breaker kept in one key-value record, changed only by compare-and-swap.
//!
//! States (JSON in the record; an absent record is closed with no failures):
//!
//! - `closed { window_start_ms, failures }`: failures counted in a fixed window of
//!   `window_secs` from the first failure; reaching the threshold opens it.
//! - `open { until_ms }`: every request is refused until `until_ms`; from then on the
//!   breaker is *half-open*: the first request to swap the record to `probing` is the
//!   one probe, every other request is still refused.
//! - `probing { lease_until_ms }`: one probe is in flight. Its result closes the breaker
//!   (good) or opens it again for `open_secs` (bad). A probe that never reports (its
//!   component died) loses its claim at `lease_until_ms`, and the next request may probe.
//!
//! Each transition is one compare-and-swap against the exact bytes read, retried a
//! bounded number of times when another request changed the record in between. The
//! record is one small key per breaker (per upstream, or per tenant and carrier), so
//! storage is bounded by the config.

use crate::kv::{KeyValue, KvError};
use serde::{Deserialize, Serialize};

/// Compare-and-swap attempts before giving up on a contended record.
const MAX_CAS_ATTEMPTS: usize = 64;

/// When a breaker opens and for how long (from the carrier's `breaker` config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Failures within the window that open the breaker (at least 1).
    pub failures: u32,
    pub window_ms: u64,
    pub open_ms: u64,
    /// How long a probe's claim lasts if it never reports.
    pub probe_lease_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
enum State {
    Closed { window_start_ms: u64, failures: u32 },
    Open { until_ms: u64 },
    Probing { lease_until_ms: u64 },
}

/// What a breaker lets a request do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// Closed: go ahead.
    Pass,
    /// Half-open and this request holds the one probe: go ahead, and report the result
    /// with the claim.
    Probe(ProbeClaim),
    /// Open (or a probe is in flight): refused for about `retry_after_secs`.
    Refused { retry_after_secs: u64 },
}

/// The claim of the one half-open probe: the exact record written when claiming, so
/// that only this probe's report changes the state it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeClaim(Vec<u8>);

/// What a breaker looks like, without claiming anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peek {
    Closed,
    /// A probe may be claimed now.
    HalfOpen,
    Open {
        retry_after_secs: u64,
    },
}

/// A breaker's state as operators see it (the `waypost_breaker_state` metric): a
/// probe in flight counts as half-open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    Closed,
    HalfOpen,
    Open,
}

impl BreakerState {
    pub const ALL: [BreakerState; 3] = [
        BreakerState::Closed,
        BreakerState::HalfOpen,
        BreakerState::Open,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::HalfOpen => "half-open",
            BreakerState::Open => "open",
        }
    }

    pub fn parse(s: &str) -> Option<BreakerState> {
        BreakerState::ALL.into_iter().find(|b| b.as_str() == s)
    }
}

/// The breaker's state at `now_ms`, without changing it (one read).
pub fn state<K: KeyValue + ?Sized>(
    kv: &K,
    key: &str,
    now_ms: u64,
) -> Result<BreakerState, KvError> {
    Ok(match read(kv, key)? {
        None | Some((State::Closed { .. }, _)) => BreakerState::Closed,
        Some((State::Open { until_ms }, _)) if now_ms < until_ms => BreakerState::Open,
        Some((State::Open { .. } | State::Probing { .. }, _)) => BreakerState::HalfOpen,
    })
}

/// What happened to a request a breaker let through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The request counts as a failure.
    Failure,
    /// The request proves the guarded thing healthy (only a probe's changes anything).
    Healthy,
    /// Nothing was learnt (abandoned): a probe gives its claim back at once.
    Unknown,
}

fn encode(state: &State) -> Vec<u8> {
    serde_json::to_vec(state).expect("breaker state serializes")
}

fn read<K: KeyValue + ?Sized>(kv: &K, key: &str) -> Result<Option<(State, Vec<u8>)>, KvError> {
    let Some(bytes) = kv.get(key)? else {
        return Ok(None);
    };
    let state = serde_json::from_slice(&bytes)
        .map_err(|e| KvError(format!("corrupt breaker record `{key}`: {e}")))?;
    Ok(Some((state, bytes)))
}

fn secs_until(until_ms: u64, now_ms: u64) -> u64 {
    until_ms.saturating_sub(now_ms).div_ceil(1000).max(1)
}

fn contended(key: &str) -> KvError {
    KvError(format!("breaker record `{key}` is contended"))
}

/// The breaker's state without changing it.
pub fn peek<K: KeyValue + ?Sized>(kv: &K, key: &str, now_ms: u64) -> Result<Peek, KvError> {
    Ok(match read(kv, key)? {
        None | Some((State::Closed { .. }, _)) => Peek::Closed,
        Some((State::Open { until_ms }, _)) if now_ms < until_ms => Peek::Open {
            retry_after_secs: secs_until(until_ms, now_ms),
        },
        Some((State::Open { .. }, _)) => Peek::HalfOpen,
        Some((State::Probing { lease_until_ms }, _)) if now_ms < lease_until_ms => Peek::Open {
            retry_after_secs: 1,
        },
        Some((State::Probing { .. }, _)) => Peek::HalfOpen,
    })
}

/// Whether a request may pass; in half-open, claims the one probe with a
/// compare-and-swap (of many concurrent requests exactly one wins).
pub fn admit<K: KeyValue + ?Sized>(
    kv: &K,
    key: &str,
    thresholds: &Thresholds,
    now_ms: u64,
) -> Result<Admission, KvError> {
    for _ in 0..MAX_CAS_ATTEMPTS {
        let expected = match read(kv, key)? {
            None | Some((State::Closed { .. }, _)) => return Ok(Admission::Pass),
            Some((State::Open { until_ms }, _)) if now_ms < until_ms => {
                return Ok(Admission::Refused {
                    retry_after_secs: secs_until(until_ms, now_ms),
                });
            }
            Some((State::Probing { lease_until_ms }, _)) if now_ms < lease_until_ms => {
                // The probe's answer is due soon; ask again shortly.
                return Ok(Admission::Refused {
                    retry_after_secs: 1,
                });
            }
            Some((_, bytes)) => bytes,
        };
        let claim = encode(&State::Probing {
            lease_until_ms: now_ms + thresholds.probe_lease_ms.max(1),
        });
        if kv.compare_and_swap(key, Some(&expected), &claim)? {
            return Ok(Admission::Probe(ProbeClaim(claim)));
        }
    }
    Err(contended(key))
}

/// Records what happened to a request `admit` let through (`probe`: its claim, if it
/// was the probe).
///
/// - A probe's result decides: healthy closes, failure opens again for `open_ms`,
///   unknown makes the breaker half-open again at once. A report for a claim that was
///   taken over (lease expired, another probe claimed) changes nothing.
/// - Otherwise only failures write: they count in the closed window and open the
///   breaker at the threshold. Failures reported while open change nothing (requests
///   admitted before it opened do not extend it).
pub fn record<K: KeyValue + ?Sized>(
    kv: &K,
    key: &str,
    thresholds: &Thresholds,
    probe: Option<&ProbeClaim>,
    verdict: Verdict,
    now_ms: u64,
) -> Result<(), KvError> {
    if let Some(ProbeClaim(claim)) = probe {
        let next = match verdict {
            Verdict::Healthy => State::Closed {
                window_start_ms: now_ms,
                failures: 0,
            },
            Verdict::Failure => State::Open {
                until_ms: now_ms + thresholds.open_ms,
            },
            Verdict::Unknown => State::Open { until_ms: now_ms },
        };
        kv.compare_and_swap(key, Some(claim), &encode(&next))?;
        return Ok(());
    }
    if verdict != Verdict::Failure {
        return Ok(());
    }
    for _ in 0..MAX_CAS_ATTEMPTS {
        let current = read(kv, key)?;
        let failures = match &current {
            None => 1,
            Some((
                State::Closed {
                    window_start_ms,
                    failures,
                },
                _,
            )) if now_ms < window_start_ms.saturating_add(thresholds.window_ms) => {
                failures.saturating_add(1)
            }
            Some((State::Closed { .. }, _)) => 1,
            Some((State::Open { .. } | State::Probing { .. }, _)) => return Ok(()),
        };
        let window_start_ms = match &current {
            Some((
                State::Closed {
                    window_start_ms, ..
                },
                _,
            )) if failures > 1 => *window_start_ms,
            _ => now_ms,
        };
        let next = if failures >= thresholds.failures.max(1) {
            State::Open {
                until_ms: now_ms + thresholds.open_ms,
            }
        } else {
            State::Closed {
                window_start_ms,
                failures,
            }
        };
        let expected = current.as_ref().map(|(_, bytes)| bytes.as_slice());
        if kv.compare_and_swap(key, expected, &encode(&next))? {
            return Ok(());
        }
    }
    Err(contended(key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use std::sync::{Arc, Barrier};

    const KEY: &str = "breaker:eu:ups:main";
    const T: Thresholds = Thresholds {
        failures: 3,
        window_ms: 30_000,
        open_ms: 20_000,
        probe_lease_ms: 10_000,
    };

    fn fail(kv: &MemoryKv, now_ms: u64) {
        record(kv, KEY, &T, None, Verdict::Failure, now_ms).unwrap();
    }

    fn open_at(kv: &MemoryKv, now_ms: u64) {
        for i in 0..3 {
            fail(kv, now_ms + i);
        }
    }

    #[test]
    fn opens_after_the_threshold_within_the_window() {
        let kv = MemoryKv::new();
        fail(&kv, 1_000);
        fail(&kv, 2_000);
        assert_eq!(admit(&kv, KEY, &T, 2_500).unwrap(), Admission::Pass);
        fail(&kv, 3_000);
        assert_eq!(
            admit(&kv, KEY, &T, 3_000).unwrap(),
            Admission::Refused {
                retry_after_secs: 20
            }
        );
        assert_eq!(
            peek(&kv, KEY, 22_500).unwrap(),
            Peek::Open {
                retry_after_secs: 1
            }
        );
    }

    #[test]
    fn failures_spread_over_more_than_the_window_do_not_open() {
        let kv = MemoryKv::new();
        fail(&kv, 0);
        fail(&kv, 29_999);
        // The window started at 0 and ended at 30 000: this failure starts a new one.
        fail(&kv, 30_000);
        assert_eq!(admit(&kv, KEY, &T, 30_001).unwrap(), Admission::Pass);
        fail(&kv, 31_000);
        fail(&kv, 32_000);
        assert!(matches!(
            admit(&kv, KEY, &T, 32_001).unwrap(),
            Admission::Refused { .. }
        ));
    }

    #[test]
    fn successes_do_not_write_while_closed() {
        let kv = MemoryKv::new();
        record(&kv, KEY, &T, None, Verdict::Healthy, 0).unwrap();
        assert!(kv.keys().is_empty());
    }

    #[test]
    fn a_good_probe_closes_and_a_bad_one_reopens() {
        let kv = MemoryKv::new();
        open_at(&kv, 0);
        let Admission::Probe(claim) = admit(&kv, KEY, &T, 20_002).unwrap() else {
            panic!("half-open admits a probe");
        };
        record(&kv, KEY, &T, Some(&claim), Verdict::Failure, 21_000).unwrap();
        assert_eq!(
            admit(&kv, KEY, &T, 21_000).unwrap(),
            Admission::Refused {
                retry_after_secs: 20
            }
        );
        let Admission::Probe(claim) = admit(&kv, KEY, &T, 41_000).unwrap() else {
            panic!("half-open again after open_secs");
        };
        record(&kv, KEY, &T, Some(&claim), Verdict::Healthy, 41_500).unwrap();
        assert_eq!(admit(&kv, KEY, &T, 41_500).unwrap(), Admission::Pass);
        assert_eq!(peek(&kv, KEY, 41_500).unwrap(), Peek::Closed);
    }

    #[test]
    fn a_probe_that_never_reports_loses_its_claim() {
        let kv = MemoryKv::new();
        open_at(&kv, 0);
        let Admission::Probe(first) = admit(&kv, KEY, &T, 20_002).unwrap() else {
            panic!("probe");
        };
        assert_eq!(
            admit(&kv, KEY, &T, 25_000).unwrap(),
            Admission::Refused {
                retry_after_secs: 1
            }
        );
        let Admission::Probe(second) = admit(&kv, KEY, &T, 30_002).unwrap() else {
            panic!("the lease ran out: a new probe");
        };
        // The first probe's late report does not overrule the second probe.
        record(&kv, KEY, &T, Some(&first), Verdict::Healthy, 30_500).unwrap();
        assert!(matches!(
            admit(&kv, KEY, &T, 30_500).unwrap(),
            Admission::Refused { .. }
        ));
        record(&kv, KEY, &T, Some(&second), Verdict::Unknown, 31_000).unwrap();
        assert_eq!(peek(&kv, KEY, 31_000).unwrap(), Peek::HalfOpen);
    }

    #[test]
    fn states_as_operators_see_them() {
        let kv = MemoryKv::new();
        assert_eq!(state(&kv, KEY, 0).unwrap(), BreakerState::Closed);
        fail(&kv, 0);
        assert_eq!(state(&kv, KEY, 1).unwrap(), BreakerState::Closed);
        open_at(&kv, 10);
        assert_eq!(state(&kv, KEY, 20).unwrap(), BreakerState::Open);
        assert_eq!(state(&kv, KEY, 20_012).unwrap(), BreakerState::HalfOpen);
        let Admission::Probe(_) = admit(&kv, KEY, &T, 20_012).unwrap() else {
            panic!("probe");
        };
        assert_eq!(state(&kv, KEY, 20_013).unwrap(), BreakerState::HalfOpen);
        for s in BreakerState::ALL {
            assert_eq!(BreakerState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn failures_while_open_do_not_extend_it() {
        let kv = MemoryKv::new();
        open_at(&kv, 0);
        fail(&kv, 10_000);
        assert_eq!(peek(&kv, KEY, 20_002).unwrap(), Peek::HalfOpen);
    }

    #[test]
    fn many_concurrent_requests_in_half_open_admit_exactly_one_probe() {
        let kv = Arc::new(MemoryKv::new());
        open_at(&kv, 0);
        let threads = 32;
        let barrier = Arc::new(Barrier::new(threads));
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let kv = Arc::clone(&kv);
                let barrier = Arc::clone(&barrier);
                std::thread::spawn(move || {
                    barrier.wait();
                    admit(&*kv, KEY, &T, 25_000).unwrap()
                })
            })
            .collect();
        let admissions: Vec<Admission> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let probes = admissions
            .iter()
            .filter(|a| matches!(a, Admission::Probe(_)))
            .count();
        assert_eq!(probes, 1);
        assert_eq!(
            admissions
                .iter()
                .filter(|a| matches!(a, Admission::Refused { .. }))
                .count(),
            threads - 1
        );
    }

    #[test]
    fn concurrent_failures_are_all_counted() {
        let kv = Arc::new(MemoryKv::new());
        let t = Thresholds { failures: 40, ..T };
        let handles: Vec<_> = (0..39)
            .map(|_| {
                let kv = Arc::clone(&kv);
                std::thread::spawn(move || record(&*kv, KEY, &t, None, Verdict::Failure, 5))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        assert_eq!(admit(&*kv, KEY, &t, 6).unwrap(), Admission::Pass);
        record(&*kv, KEY, &t, None, Verdict::Failure, 7).unwrap();
        assert!(matches!(
            admit(&*kv, KEY, &t, 8).unwrap(),
            Admission::Refused { .. }
        ));
    }

    #[test]
    fn store_faults_are_errors() {
        let kv = MemoryKv::new();
        kv.set_failing(true);
        assert!(admit(&kv, KEY, &T, 0).is_err());
        assert!(record(&kv, KEY, &T, None, Verdict::Failure, 0).is_err());
    }
}
