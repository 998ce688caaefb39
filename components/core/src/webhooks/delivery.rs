//! One event on its way to one subscription: the outbox record, its states and the
//! outcome of an attempt.
//!
//! ```text
//! Pending{due} ──due──► Leased{until} ──2xx──► Delivered{at} ──retention──► (deleted)
//!      ▲                 │   │ lease expired: leased again (same attempt)
//!      └──── failure ────┘   └─ failure after the last attempt, or 410 ──► Dead{at}
//! Dead ──replay──► Pending{due: now} (attempts start over)   Dead ──retention──► (deleted)
//! ```
//!
//! Every transition bumps `generation`, so an index entry or a lease taken at an
//! older generation is recognizably stale.

use super::keys::{self, short_digest};
use super::schedule::RetrySchedule;
use serde::{Deserialize, Serialize};

/// How long a leased attempt is reserved for its holder before another tick may take
/// it (the holder died mid-delivery), in seconds. The holder must report its outcome
/// within this time; deliver leased attempts concurrently, with timeouts below it.
pub const LEASE_SECS: u64 = 120;

/// How long a delivered record is kept before the tick deletes it, in seconds.
pub const DELIVERED_RETENTION_SECS: u64 = 24 * 3600;

/// How long a dead letter is kept (listed, replayable), in seconds.
pub const DEAD_LETTER_RETENTION_SECS: u64 = 30 * 86_400;

/// Attempts remembered per delivery (the newest).
pub const HISTORY_LIMIT: usize = 20;

/// The longest `Retry-After` honoured, in seconds.
pub const MAX_RETRY_AFTER_SECS: u64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for attempt `attempt`, due at `due` (Unix seconds).
    Pending {
        due: u64,
    },
    /// Attempt `attempt` is reserved for one deliverer until `until`.
    Leased {
        until: u64,
    },
    Delivered {
        at: u64,
    },
    /// Every attempt failed (or the endpoint answered 410 Gone).
    Dead {
        at: u64,
        reason: String,
    },
}

/// What one attempt did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptRecord {
    /// 0-based attempt number.
    pub attempt: u32,
    pub at: u64,
    /// The endpoint's HTTP status; `None` when there was no response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Why there was no response (timeout, connection refused...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One outbox delivery (the `webhooks:delivery:<tenant>:<hash>` record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// `<tenant>.<32 hex>`, derived from the event and the subscription.
    pub id: String,
    pub tenant: String,
    /// The subscription's id.
    pub subscription: String,
    pub url: String,
    /// The Spin variable holding the subscription's signing secret (not the secret).
    pub secret: String,
    /// The event's id (`evt_...`): the `webhook-id` of every attempt.
    pub event_id: String,
    pub event_type: String,
    /// The exact body to send and sign.
    pub payload: String,
    pub schedule: RetrySchedule,
    /// The current (or next) attempt, 0-based.
    pub attempt: u32,
    #[serde(flatten)]
    pub state: DeliveryState,
    pub generation: u64,
    /// The newest attempts, oldest first.
    #[serde(default)]
    pub history: Vec<AttemptRecord>,
    pub created_at: u64,
    /// The W3C `traceparent` of the intake request, sent with every attempt so the
    /// delivery joins the carrier's webhook's trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
}

impl Delivery {
    /// When the outbox next has to act on this record: attempt it, take back an
    /// expired lease, or delete it after its retention.
    pub fn ready_at(&self) -> u64 {
        match &self.state {
            DeliveryState::Pending { due } => *due,
            DeliveryState::Leased { until } => *until,
            DeliveryState::Delivered { at } => at.saturating_add(DELIVERED_RETENTION_SECS),
            DeliveryState::Dead { at, .. } => at.saturating_add(DEAD_LETTER_RETENTION_SECS),
        }
    }

    /// Its key-value key.
    pub fn key(&self) -> String {
        delivery_key(&self.id).expect("delivery ids are well formed")
    }
}

/// The id of the delivery of event `event_id` to subscription `subscription`.
pub fn delivery_id(tenant: &str, event_id: &str, subscription: &str) -> String {
    format!("{tenant}.{}", short_digest(&[event_id, subscription]))
}

/// The key of a delivery id; `None` for a string that is not one (ids come from
/// admin URLs, so they are checked before they make a key).
pub fn delivery_key(id: &str) -> Option<String> {
    let (tenant, hash) = id.split_once('.')?;
    let tenant_ok = crate::config::check_id(tenant, "tenant").is_ok();
    let hash_ok = hash.len() == 32 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (tenant_ok && hash_ok).then(|| keys::delivery(tenant, hash))
}

/// The outcome of one attempt, as the deliverer saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The endpoint answered 2xx.
    Delivered { status: u16 },
    /// Any other answer, or none (`status: None`, with the error).
    Failed {
        status: Option<u16>,
        retry_after_secs: Option<u64>,
        error: Option<String>,
    },
}

impl AttemptOutcome {
    /// From the endpoint's status and `Retry-After` header (seconds; other forms are
    /// ignored, the schedule applies).
    pub fn from_response(status: u16, retry_after: Option<&str>) -> AttemptOutcome {
        if (200..300).contains(&status) {
            return AttemptOutcome::Delivered { status };
        }
        AttemptOutcome::Failed {
            status: Some(status),
            retry_after_secs: retry_after.and_then(|v| v.trim().parse().ok()),
            error: None,
        }
    }

    /// No response: a timeout, a refused connection, a TLS failure.
    pub fn from_error(error: impl Into<String>) -> AttemptOutcome {
        AttemptOutcome::Failed {
            status: None,
            retry_after_secs: None,
            error: Some(error.into()),
        }
    }

    pub(super) fn record(&self, attempt: u32, at: u64) -> AttemptRecord {
        let (status, error) = match self {
            AttemptOutcome::Delivered { status } => (Some(*status), None),
            AttemptOutcome::Failed { status, error, .. } => (*status, error.clone()),
        };
        AttemptRecord {
            attempt,
            at,
            status,
            error,
        }
    }

    /// Why the last attempt failed, for a dead letter.
    pub(super) fn reason(&self) -> String {
        match self {
            AttemptOutcome::Delivered { status } => format!("HTTP {status}"),
            AttemptOutcome::Failed {
                status: Some(status),
                ..
            } => format!("HTTP {status}"),
            AttemptOutcome::Failed { error, .. } => {
                error.clone().unwrap_or_else(|| "no response".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_make_keys_only_when_well_formed() {
        let id = delivery_id("acme", "evt_1", "hooks");
        assert_eq!(
            delivery_key(&id).unwrap(),
            format!("webhooks:delivery:acme:{}", &id[5..])
        );
        for bad in [
            "",
            "acme",
            "acme.xyz",
            "ACME.0123456789abcdef0123456789abcdef",
            "a:b.0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(delivery_key(bad), None, "{bad}");
        }
    }

    #[test]
    fn outcomes_from_responses() {
        assert_eq!(
            AttemptOutcome::from_response(204, None),
            AttemptOutcome::Delivered { status: 204 }
        );
        assert_eq!(
            AttemptOutcome::from_response(429, Some("30")),
            AttemptOutcome::Failed {
                status: Some(429),
                retry_after_secs: Some(30),
                error: None
            }
        );
        assert!(matches!(
            AttemptOutcome::from_response(503, Some("Wed, 21 Oct 2015 07:28:00 GMT")),
            AttemptOutcome::Failed {
                retry_after_secs: None,
                ..
            }
        ));
    }
}
