//! Every answer the routing phases give instead of a carrier's response, each with one
//! status and one problem (RFC 9457) with a stable `type`.
//!
//! Problems name the carrier (the id the caller put in the path) and, for 421, the
//! tenant's home region URL. They never name an upstream, its URL, an account or a
//! credential.

use crate::problem::Problem;
use std::fmt;

/// Why a request is answered by the gateway instead of a carrier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoutingError {
    /// No carrier with this id in the config: 404 `unknown-carrier`.
    UnknownCarrier { carrier: String },
    /// The carrier exists but is not among the tenant's carriers: 403
    /// `carrier-not-enabled`.
    CarrierNotEnabled { carrier: String },
    /// The tenant may not be served in this deployment (residency): 421 `wrong-region`,
    /// naming the home region's public URL (`None` only with a config that failed
    /// validation).
    WrongRegion {
        home: String,
        home_url: Option<String>,
    },
    /// No upstream of the carrier matches the request in a region this tenant may use
    /// here, and no other deployment would do better (the tenant is at home here):
    /// 503 `no-upstream`. With a valid config this needs an unusual path or header.
    NoUpstream { carrier: String },
    /// Every usable upstream's breaker is open: 503 `circuit-open` with `Retry-After`
    /// (seconds until the first of them lets a probe through).
    CircuitOpen {
        carrier: String,
        retry_after_secs: u64,
    },
    /// The tenant's own breaker for this carrier is open after repeated credential
    /// failures (401/403 from the carrier): 503 `carrier-credentials-failing` with
    /// `Retry-After`. Other tenants are not affected.
    CredentialsFailing {
        carrier: String,
        retry_after_secs: u64,
    },
    /// The carrier has no account to call it with (no platform account): 500
    /// `carrier-not-configured`, for the operator to fix.
    CarrierNotConfigured { carrier: String },
    /// `x-waypost-deadline` is not a whole number of milliseconds, or is repeated: 400
    /// `invalid-deadline`.
    InvalidDeadline,
    /// The request's deadline passed before the carrier answered (or before it could be
    /// called): 504 `upstream-timeout`.
    UpstreamTimeout { carrier: String },
    /// The carrier's upstream could not be connected to: 502 `upstream-unreachable`.
    UpstreamUnreachable { carrier: String },
    /// `Idempotency-Key` is empty, too long, repeated or has characters outside the
    /// allowed set: 400 `invalid-idempotency-key`.
    InvalidIdempotencyKey,
    /// A request with this `Idempotency-Key` is still being processed: 409
    /// `idempotency-in-flight` with `Retry-After`.
    IdempotencyInFlight { retry_after_secs: u64 },
    /// The `Idempotency-Key` was used with another method, path or body: 422
    /// `idempotency-key-reused`.
    IdempotencyKeyReused,
    /// The first response to this key was too large to keep, so it cannot be replayed
    /// (the request is not executed again): 409 `idempotency-response-not-kept`.
    IdempotencyResponseNotKept,
    /// Idempotency records cannot be read or written (a key-value fault): 503
    /// `idempotency-unavailable` with `Retry-After`. Requests with a key fail closed,
    /// since going ahead could reach the carrier twice.
    IdempotencyUnavailable,
}

/// `Retry-After` for a store outage (seconds).
const STORE_RETRY_AFTER_SECS: u64 = 5;

impl RoutingError {
    pub fn status(&self) -> u16 {
        match self {
            RoutingError::UnknownCarrier { .. } => 404,
            RoutingError::CarrierNotEnabled { .. } => 403,
            RoutingError::WrongRegion { .. } => 421,
            RoutingError::NoUpstream { .. }
            | RoutingError::CircuitOpen { .. }
            | RoutingError::CredentialsFailing { .. }
            | RoutingError::IdempotencyUnavailable => 503,
            RoutingError::CarrierNotConfigured { .. } => 500,
            RoutingError::InvalidDeadline | RoutingError::InvalidIdempotencyKey => 400,
            RoutingError::UpstreamTimeout { .. } => 504,
            RoutingError::UpstreamUnreachable { .. } => 502,
            RoutingError::IdempotencyInFlight { .. } | RoutingError::IdempotencyResponseNotKept => {
                409
            }
            RoutingError::IdempotencyKeyReused => 422,
        }
    }

    /// The stable suffix of the problem `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            RoutingError::UnknownCarrier { .. } => "unknown-carrier",
            RoutingError::CarrierNotEnabled { .. } => "carrier-not-enabled",
            RoutingError::WrongRegion { .. } => "wrong-region",
            RoutingError::NoUpstream { .. } => "no-upstream",
            RoutingError::CircuitOpen { .. } => "circuit-open",
            RoutingError::CredentialsFailing { .. } => "carrier-credentials-failing",
            RoutingError::CarrierNotConfigured { .. } => "carrier-not-configured",
            RoutingError::InvalidDeadline => "invalid-deadline",
            RoutingError::UpstreamTimeout { .. } => "upstream-timeout",
            RoutingError::UpstreamUnreachable { .. } => "upstream-unreachable",
            RoutingError::InvalidIdempotencyKey => "invalid-idempotency-key",
            RoutingError::IdempotencyInFlight { .. } => "idempotency-in-flight",
            RoutingError::IdempotencyKeyReused => "idempotency-key-reused",
            RoutingError::IdempotencyResponseNotKept => "idempotency-response-not-kept",
            RoutingError::IdempotencyUnavailable => "idempotency-unavailable",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            RoutingError::UnknownCarrier { .. } => "Unknown carrier",
            RoutingError::CarrierNotEnabled { .. } => "Carrier not enabled",
            RoutingError::WrongRegion { .. } => "Wrong region",
            RoutingError::NoUpstream { .. } => "No upstream",
            RoutingError::CircuitOpen { .. } => "Carrier unavailable",
            RoutingError::CredentialsFailing { .. } => "Carrier credentials failing",
            RoutingError::CarrierNotConfigured { .. } => "Carrier not configured",
            RoutingError::InvalidDeadline => "Invalid deadline",
            RoutingError::UpstreamTimeout { .. } => "Upstream timeout",
            RoutingError::UpstreamUnreachable { .. } => "Upstream unreachable",
            RoutingError::InvalidIdempotencyKey => "Invalid Idempotency-Key",
            RoutingError::IdempotencyInFlight { .. } => "Request in flight",
            RoutingError::IdempotencyKeyReused => "Idempotency-Key reused",
            RoutingError::IdempotencyResponseNotKept => "Response not kept",
            RoutingError::IdempotencyUnavailable => "Idempotency unavailable",
        }
    }

    fn detail(&self) -> String {
        match self {
            RoutingError::UnknownCarrier { carrier } => {
                format!("There is no carrier {carrier:?}.")
            }
            RoutingError::CarrierNotEnabled { carrier } => {
                format!("Carrier {carrier:?} is not enabled for this tenant.")
            }
            RoutingError::WrongRegion { home, home_url } => match home_url {
                Some(url) => format!(
                    "This tenant is served in its home region {home:?}: send the request to {url}."
                ),
                None => format!("This tenant is served in its home region {home:?}."),
            },
            RoutingError::NoUpstream { carrier } => {
                format!("Carrier {carrier:?} has no upstream for this request in this region.")
            }
            RoutingError::CircuitOpen { carrier, .. } => format!(
                "Carrier {carrier:?} is failing; calls are paused. Retry after the time given."
            ),
            RoutingError::CredentialsFailing { carrier, .. } => format!(
                "Carrier {carrier:?} keeps rejecting this tenant's credentials; calls are paused."
            ),
            RoutingError::CarrierNotConfigured { carrier } => {
                format!("Carrier {carrier:?} has no account configured to call it with.")
            }
            RoutingError::InvalidDeadline => {
                "x-waypost-deadline must be sent once, as whole milliseconds (e.g. 5000).".into()
            }
            RoutingError::UpstreamTimeout { carrier } => {
                format!("Carrier {carrier:?} did not answer within the request's deadline.")
            }
            RoutingError::UpstreamUnreachable { carrier } => {
                format!("Carrier {carrier:?} could not be reached.")
            }
            RoutingError::InvalidIdempotencyKey => format!(
                "Idempotency-Key must be sent once, 1 to {} characters of A-Z a-z 0-9 - _ . : ~ + / =.",
                super::idempotency::MAX_KEY_LEN
            ),
            RoutingError::IdempotencyInFlight { .. } => {
                "A request with this Idempotency-Key is still being processed.".into()
            }
            RoutingError::IdempotencyKeyReused => {
                "This Idempotency-Key was used with a different request.".into()
            }
            RoutingError::IdempotencyResponseNotKept => {
                "A request with this Idempotency-Key was processed, but its response was too large to keep.".into()
            }
            RoutingError::IdempotencyUnavailable => {
                "Idempotency records are unavailable; the request was not processed.".into()
            }
        }
    }

    /// `Retry-After` in seconds, where the answer has one.
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            RoutingError::CircuitOpen {
                retry_after_secs, ..
            }
            | RoutingError::CredentialsFailing {
                retry_after_secs, ..
            }
            | RoutingError::IdempotencyInFlight { retry_after_secs } => Some(*retry_after_secs),
            RoutingError::IdempotencyUnavailable => Some(STORE_RETRY_AFTER_SECS),
            _ => None,
        }
    }

    /// Headers to send with the problem besides its content type (`Retry-After`).
    pub fn headers(&self) -> Vec<(String, String)> {
        self.retry_after_secs()
            .map(|s| vec![("retry-after".to_string(), s.to_string())])
            .unwrap_or_default()
    }

    pub fn problem(&self, request_id: Option<&str>) -> Problem {
        Problem::new(self.status(), self.kind(), self.title())
            .with_detail(self.detail())
            .with_request_id(request_id)
    }
}

impl fmt::Display for RoutingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.status(), self.kind(), self.detail())
    }
}

impl std::error::Error for RoutingError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_type() {
        let cases = [
            (
                RoutingError::UnknownCarrier {
                    carrier: "acme-freight".into(),
                },
                404,
                "unknown-carrier",
            ),
            (
                RoutingError::CarrierNotEnabled {
                    carrier: "ups".into(),
                },
                403,
                "carrier-not-enabled",
            ),
            (
                RoutingError::CircuitOpen {
                    carrier: "ups".into(),
                    retry_after_secs: 7,
                },
                503,
                "circuit-open",
            ),
            (
                RoutingError::UpstreamTimeout {
                    carrier: "ups".into(),
                },
                504,
                "upstream-timeout",
            ),
            (
                RoutingError::UpstreamUnreachable {
                    carrier: "ups".into(),
                },
                502,
                "upstream-unreachable",
            ),
            (
                RoutingError::IdempotencyKeyReused,
                422,
                "idempotency-key-reused",
            ),
        ];
        for (error, status, kind) in cases {
            let problem = error.problem(Some("req-1"));
            assert_eq!(problem.status, status);
            assert_eq!(
                problem.type_uri,
                format!("https://waypost.dev/problems/{kind}")
            );
            assert_eq!(problem.request_id.as_deref(), Some("req-1"));
        }
    }

    #[test]
    fn circuit_open_carries_retry_after() {
        let error = RoutingError::CircuitOpen {
            carrier: "fedex".into(),
            retry_after_secs: 12,
        };
        assert_eq!(
            error.headers(),
            vec![("retry-after".to_string(), "12".to_string())]
        );
        assert!(error.problem(None).detail.unwrap().contains("\"fedex\""));
    }

    #[test]
    fn wrong_region_names_the_home_url() {
        let error = RoutingError::WrongRegion {
            home: "eu".into(),
            home_url: Some("https://eu.waypost.example".into()),
        };
        assert_eq!(error.status(), 421);
        assert!(
            error
                .problem(None)
                .detail
                .unwrap()
                .contains("https://eu.waypost.example")
        );
    }
}
