//! What a quota check decided, and the response it calls for: status, problem and
//! headers, in one place.

use super::headers::{RATELIMIT, RATELIMIT_POLICY, RETRY_AFTER, policy_value, ratelimit_value};
use crate::problem::Problem;

/// What `Retry-After` says when a fail-closed limit could not be checked: the store is
/// usually back within a second, and a longer wait would only delay good requests.
pub const UNAVAILABLE_RETRY_SECS: u32 = 1;

/// The state of one budget right after a request was charged to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// The policy's name: the limit id, or `<carrier>/<account>` for an account limit.
    pub name: String,
    /// Units allowed per window (`q`).
    pub quota: u32,
    pub window_secs: u32,
    /// Units left in the current window (`r`).
    pub remaining: u32,
    /// Seconds until the current window closes (`t`), at least 1.
    pub reset_secs: u32,
}

impl Usage {
    /// `RateLimit-Policy` and `RateLimit` for this budget.
    fn headers(&self) -> Vec<(&'static str, String)> {
        let policy = policy_value(&self.name, self.quota, self.window_secs);
        let now = ratelimit_value(&self.name, self.remaining, self.reset_secs);
        match (policy, now) {
            (Some(policy), Some(now)) => vec![(RATELIMIT_POLICY, policy), (RATELIMIT, now)],
            _ => Vec::new(),
        }
    }

    /// Whether this budget has less left than `other`, relative to its quota.
    pub(crate) fn tighter_than(&self, other: &Usage) -> bool {
        u64::from(self.remaining) * u64::from(other.quota)
            < u64::from(other.remaining) * u64::from(self.quota)
    }
}

/// Whose budget refused a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A limit of the tenant's plan: its headers go to the client.
    Plan,
    /// A carrier account shared by tenants: only `Retry-After` goes to the client,
    /// since the budget's state tells of other tenants' traffic.
    Account { carrier: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Let the request through; `tightest` is the budget with the least left relative
    /// to its quota (none when no limit counted the request).
    Admitted { tightest: Option<Usage> },
    /// 429: `usage` is the budget that refused. A request after `retry_after_secs`
    /// falls in that budget's next window.
    Limited {
        scope: Scope,
        usage: Usage,
        retry_after_secs: u32,
    },
    /// 503: the store failed and the limit `name` fails closed.
    Unavailable { name: String },
}

/// The outcome of a quota check, with the fail-open limits it could not check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub outcome: Outcome,
    /// Names of fail-open limits skipped because the store failed: the request was not
    /// counted against them. The component logs them.
    pub unchecked: Vec<String>,
}

impl Decision {
    pub fn admitted(&self) -> bool {
        matches!(self.outcome, Outcome::Admitted { .. })
    }

    /// The HTTP status to answer with instead of calling the next handler; `None` when
    /// admitted.
    pub fn status(&self) -> Option<u16> {
        match self.outcome {
            Outcome::Admitted { .. } => None,
            Outcome::Limited { .. } => Some(429),
            Outcome::Unavailable { .. } => Some(503),
        }
    }

    /// The problem to answer with; `None` when admitted.
    pub fn problem(&self, request_id: Option<&str>) -> Option<Problem> {
        let problem = match &self.outcome {
            Outcome::Admitted { .. } => return None,
            Outcome::Limited {
                scope: Scope::Plan,
                usage,
                retry_after_secs,
            } => {
                let left = match usage.remaining {
                    0 => "is used up".to_string(),
                    n => format!("has {n} left, less than this request costs"),
                };
                Problem::new(429, "rate-limited", "Too Many Requests").with_detail(format!(
                    "Limit \"{}\" ({} units per {} s) {left}; retry after {retry_after_secs} s.",
                    usage.name, usage.quota, usage.window_secs
                ))
            }
            Outcome::Limited {
                scope: Scope::Account { carrier },
                retry_after_secs,
                ..
            } => Problem::new(429, "carrier-rate-limited", "Too Many Requests").with_detail(
                format!(
                    "The request budget of the \"{carrier}\" carrier account is used up; retry after {retry_after_secs} s."
                ),
            ),
            Outcome::Unavailable { .. } => {
                Problem::new(503, "quota-unavailable", "Service Unavailable").with_detail(format!(
                    "Request limits cannot be checked right now; retry after {UNAVAILABLE_RETRY_SECS} s."
                ))
            }
        };
        Some(problem.with_request_id(request_id))
    }

    /// Response headers (lower-case names): on an admitted response, `RateLimit-Policy`
    /// and `RateLimit` of the tightest budget; on a 429, `Retry-After` and (plan limits
    /// only) those of the budget that refused; on a 503, `Retry-After`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        match &self.outcome {
            Outcome::Admitted { tightest } => {
                tightest.as_ref().map(Usage::headers).unwrap_or_default()
            }
            Outcome::Limited {
                scope,
                usage,
                retry_after_secs,
            } => {
                let mut headers = vec![(RETRY_AFTER, retry_after_secs.to_string())];
                if *scope == Scope::Plan {
                    headers.extend(usage.headers());
                }
                headers
            }
            Outcome::Unavailable { .. } => {
                vec![(RETRY_AFTER, UNAVAILABLE_RETRY_SECS.to_string())]
            }
        }
    }
}
