//! Quotas: the limits of a tenant's plan, checked on every request by the `quota`
//! middleware ([`admit`]), and the shared carrier-account budgets the router and
//! rates charge per carrier call ([`charge_account`]).
//!
//! - [`subject`]: who a request is charged to ([`Subject`]) and which limits count it.
//! - `window`: one budget's window counter in key-value, atomics only.
//! - [`admit`](mod@admit): the checks, several limits at once.
//! - [`decision`]: what was decided and the response it calls for.
//! - [`headers`]: the `RateLimit` / `RateLimit-Policy` field values.
//!
//! # The algorithm
//!
//! A fixed window per budget: a limit `rate = 10, window_secs = 1` allows 10 units in
//! each second of the Unix epoch. A request costs its route's `weight` in units.
//! Counting is one atomic `increment`; a request is admitted when the window's total
//! after its increment is within the quota. With N concurrent requests of weight 1
//! against a quota L exactly min(N, L) are admitted: the increments hand out the
//! totals 1..N once each, and a total over L is refused.
//!
//! Several limits: they are charged in the plan's order. When one is over quota, the
//! units already taken from the earlier ones are given back (`increment` by minus the
//! weight), as are the refused units themselves, so a refused request drains no
//! budget. Until a give-back lands, the units it returns still count: a request racing
//! it may be refused where it would have fit (never admitted where it would not).
//!
//! Trade-off of fixed windows: a client can spend a full quota at the end of one
//! window and another at the start of the next, so up to twice the quota can pass in
//! one window's length around an edge. In exchange a check is a read and an increment
//! (no compare-and-swap loop under contention) and a 429's `Retry-After` is exact.
//!
//! # Keys
//!
//! Budgets of plan limits: `quota/tenant/<tenant>/<limit id>/<partition>`, the
//! partition per [`Subject::budget`]; carrier accounts: `quota/account/<carrier>/<account>`
//! (the tenant's budgets sit under `quota/tenant/` so that a tenant named `account`
//! could not reach the accounts'). Segments from tokens are percent-encoded, long ones
//! hashed. Under each: `window` (the newest window index) and `<index>` (that
//! window's counter); the `window` module says how they change.
//!
//! Storage stays bounded: a new window's first request deletes the previous window's
//! counter, so a budget holds two keys whatever the number of windows. Budgets of
//! callers that stop calling keep their two keys (key-value has no expiry): storage
//! grows with the number of distinct API keys, principals, agents and routes, not with
//! time.
//!
//! # Clocks
//!
//! The window index comes from the caller's clock (`now_ms`). Instances' clocks
//! differ a little: a request whose clock is behind counts in the newest window in
//! store, never reopening one that has closed; an instance whose clock is ahead opens
//! the next window early, by its skew. Over-admission from skew is thus bounded by one
//! quota per window edge, as for the edge burst above.
//!
//! # Store failures
//!
//! Per limit, by its `fail` mode: `open` (the default for plan limits) skips the
//! limit and names it in [`Decision::unchecked`] for the component to log; `closed`
//! (the default for account limits) answers 503 `quota-unavailable` with
//! `Retry-After: 1` ([`UNAVAILABLE_RETRY_SECS`]). A failure mid-check may leave a
//! charge counted until its window closes (erring towards the limit).
//!
//! # Responses
//!
//! 429 `rate-limited` names the limit that refused, with `Retry-After` (seconds until
//! its window closes: a request after that falls in a new window) and the `RateLimit`
//! fields of draft-ietf-httpapi-ratelimit-headers-11 for that limit; admitted requests
//! carry the fields of the tightest limit (least left relative to its quota). A
//! carrier account's 429 is `carrier-rate-limited`, with `Retry-After` only.

pub mod admit;
pub mod decision;
pub mod headers;
pub mod subject;

mod budget;
mod window;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use admit::{account_budget, admit, charge_account};
pub use decision::{Decision, Outcome, Scope, UNAVAILABLE_RETRY_SECS, Usage};
pub use subject::Subject;
