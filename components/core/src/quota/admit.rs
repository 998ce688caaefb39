//! The quota phase: every limit of the tenant's plan that counts a request, checked
//! together; and the shared carrier-account budgets the router and rates charge per
//! carrier call.

use super::budget::{Budget, Checked, give_back};
use super::decision::{Decision, Outcome, Scope};
use super::subject::{Subject, key_segment};
use crate::config::{AccountLimit, FailMode, Limit, Plan};
use crate::kv::{KeyValue, KvResult};

/// Charges the request to every limit of `plan` that counts it ([`Subject::counted_by`]),
/// in the plan's order, `subject.weight` units each; `now_ms` is Unix ms.
///
/// - All fit: admitted, reporting the tightest budget.
/// - One is over: 429 naming it; the units already taken from the limits before it
///   are given back, so a refused request costs nothing. The limits after it are
///   tried too (and given back at once), only for `Retry-After`: it is the latest
///   moment any of them frees up, so a request after it passes.
/// - The store fails on a limit: a fail-open limit is skipped and named in
///   [`Decision::unchecked`]; a fail-closed one answers 503, and what was taken is
///   given back.
///
/// A request of weight 0 is admitted without touching the store.
pub fn admit<K: KeyValue + ?Sized>(
    kv: &K,
    plan: &Plan,
    subject: &Subject,
    now_ms: u64,
) -> Decision {
    let mut taken = Vec::new();
    let mut tightest: Option<super::Usage> = None;
    let mut unchecked = Vec::new();
    if subject.weight == 0 {
        return Decision {
            outcome: Outcome::Admitted { tightest },
            unchecked,
        };
    }
    let counting: Vec<_> = plan
        .limits
        .iter()
        .filter(|l| subject.counted_by(l))
        .collect();
    for (i, limit) in counting.iter().enumerate() {
        let outcome = match charge(kv, subject, limit, now_ms) {
            Ok(Checked::Within(usage, t)) => {
                taken.push(t);
                if tightest
                    .as_ref()
                    .is_none_or(|tight| usage.tighter_than(tight))
                {
                    tightest = Some(usage);
                }
                continue;
            }
            Ok(Checked::Over(usage, retry_after_secs)) => Outcome::Limited {
                scope: Scope::Plan,
                usage,
                retry_after_secs: retry_after_secs.max(latest_reset(
                    kv,
                    &counting[i + 1..],
                    subject,
                    now_ms,
                )),
            },
            Err(_) if limit.fail == FailMode::Open => {
                unchecked.push(limit.id.clone());
                continue;
            }
            Err(_) => Outcome::Unavailable {
                name: limit.id.clone(),
            },
        };
        give_back(kv, &taken);
        return Decision { outcome, unchecked };
    }
    Decision {
        outcome: Outcome::Admitted { tightest },
        unchecked,
    }
}

/// For a refused request: the seconds until the last of `limits` that are also over
/// frees up (0 when none is). What fits is given back at once; a store failure tells
/// nothing, and is skipped.
fn latest_reset<K: KeyValue + ?Sized>(
    kv: &K,
    limits: &[&Limit],
    subject: &Subject,
    now_ms: u64,
) -> u32 {
    let mut latest = 0;
    for limit in limits {
        match charge(kv, subject, limit, now_ms) {
            Ok(Checked::Within(_, taken)) => give_back(kv, &[taken]),
            Ok(Checked::Over(_, secs)) => latest = latest.max(secs),
            Err(_) => {}
        }
    }
    latest
}

/// Charges the request's weight to `subject`'s budget of `limit`.
fn charge<K: KeyValue + ?Sized>(
    kv: &K,
    subject: &Subject,
    limit: &Limit,
    now_ms: u64,
) -> KvResult<Checked> {
    let key = subject.budget(limit);
    let budget = Budget {
        key: &key,
        name: &limit.id,
        quota: limit.rate,
        window_secs: limit.window_secs,
    };
    budget.check(kv, subject.weight, now_ms)
}

/// The key prefix of a carrier account's budget: `quota/account/<carrier>/<account>`.
pub fn account_budget(limit: &AccountLimit) -> String {
    format!(
        "quota/account/{}/{}",
        key_segment(&limit.carrier),
        key_segment(&limit.account)
    )
}

/// Charges one carrier call to a shared carrier account (`account-limit/<carrier>/<account>`
/// in the config): one budget for every tenant on that account. Call it right before
/// each call to the carrier; on a refusal, do not make the call.
///
/// A refusal is a 429 of type `carrier-rate-limited` with `Retry-After` and no
/// `RateLimit` fields (they would tell one tenant about the others' traffic); a store
/// failure follows `limit.fail` (closed by default: 503).
pub fn charge_account<K: KeyValue + ?Sized>(kv: &K, limit: &AccountLimit, now_ms: u64) -> Decision {
    let key = account_budget(limit);
    let name = format!("{}/{}", limit.carrier, limit.account);
    let budget = Budget {
        key: &key,
        name: &name,
        quota: limit.rate,
        window_secs: limit.window_secs,
    };
    let outcome = match budget.check(kv, 1, now_ms) {
        // No `RateLimit` fields for a shared budget, admitted or not.
        Ok(Checked::Within(..)) => Outcome::Admitted { tightest: None },
        Ok(Checked::Over(usage, retry_after_secs)) => Outcome::Limited {
            scope: Scope::Account {
                carrier: limit.carrier.clone(),
            },
            usage,
            retry_after_secs,
        },
        Err(_) if limit.fail == FailMode::Open => {
            return Decision {
                outcome: Outcome::Admitted { tightest: None },
                unchecked: vec![name],
            };
        }
        Err(_) => Outcome::Unavailable { name },
    };
    Decision {
        outcome,
        unchecked: Vec::new(),
    }
}
