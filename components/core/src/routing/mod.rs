//! Routing a request to a carrier: the logic behind the `router` component
//! (`ANY /v1/carriers/{carrier}/...`), reused by `rates` and `webhooks`.
//!
//! The component reads the identity and the config records (`region`, the tenant, the
//! carrier, `routes`), calls these phases, makes the HTTP calls itself and reports what
//! happened:
//!
//! 1. [`check_residency`] before reading the body (421 `wrong-region`);
//! 2. [`IdempotencyKey::from_headers`] and, for POST/PATCH with a key, [`idempotency::begin`]
//!    (replay, 409, 422, or proceed);
//! 3. [`Deadline::of_request`], then [`decide`]: the upstream, or the problem;
//! 4. [`credentials_for`] and, for OAuth carriers, the [`token_cache`];
//! 5. per attempt: [`Deadline::call`] (timeouts, forwarded budget),
//!    [`upstream_request_headers`], the call, [`record_outcome`]; a failed idempotent
//!    call may be retried ([`retry::may_retry`] then [`retry::spend_retry`], after
//!    [`retry::count_call`] on the first attempt), deciding again for the retry;
//! 6. [`downstream_response_headers`], [`deprecation_headers`] for the route,
//!    [`idempotency::complete`].
//!
//! Every refusal is a [`RoutingError`] with its status and problem.
//!
//! Key-value layout (all in the region's own store; ids are `[a-z0-9-]`, so `:` is an
//! unambiguous separator):
//!
//! | key | what | written by |
//! |---|---|---|
//! | `breaker:<upstream region>:<carrier>:<upstream>` | carrier-wide breaker of one upstream (JSON state) | [`decide`] (probe claim), [`record_outcome`] |
//! | `breaker-tenant:<tenant>:<carrier>` | a tenant's credential breaker | [`decide`], [`record_outcome`] |
//! | `token:<carrier>:platform:<account>:<h>` / `token:<carrier>:tenant:<tenant>:<account>:<h>` | OAuth2 token or fetch lease (`<h>`: hash of the client id) | [`token_cache`] |
//! | `retry:<region>:<carrier>:<window>:calls` / `:retries`, `retry:<region>:<carrier>:window` | retry budget counters | [`retry`] |
//! | `idem:<tenant>:<sha256 of key>` | idempotency record | [`idempotency`] |
//! | `idem-seq:<day>`, `idem-log:<day>:<n>`, `idem-cursor:<day>`, `idem-swept` | the idempotency sweep's day logs | [`idempotency`] |

pub mod breaker;
pub mod credentials;
pub mod deadline;
pub mod decision;
pub mod deprecation;
pub mod errors;
pub mod headers;
pub mod idempotency;
pub mod outcome;
pub mod residency;
pub mod retry;
pub mod token_cache;
pub mod upstreams;

#[cfg(test)]
mod testkit;

pub use credentials::{Account, CredentialPlan, credentials_for};
pub use deadline::{CallBudget, DEADLINE_HEADER, Deadline, transport_error};
pub use decision::{CarrierSource, Decision, RouteRequest, Routed, decide};
pub use deprecation::deprecation_headers;
pub use errors::RoutingError;
pub use headers::{downstream_response_headers, upstream_request_headers};
pub use idempotency::{Fingerprint, IdempotencyKey, StoredResponse};
pub use outcome::{Outcome, Ticket, TransportFailure, record_outcome};
pub use residency::check_residency;
pub use upstreams::RequestFacts;
