//! The intake phase of `POST /webhooks/{carrier}[/{tenant}]`, as the component runs
//! it: [`intake`] (which carrier, which secrets to resolve), then [`receive`] (verify
//! the raw body, parse, identify, find the tenant, normalize), then
//! [`record_received`] (exactly-once recording), then the first delivery attempts,
//! then answer the carrier. Everything up to `record_received` only reads: bad input stores nothing
//! and claims nothing.

use super::error::IntakeError;
use super::event::TrackingEvent;
use super::event_id::source_event_id;
use super::fanout::{self, Recorded};
use super::normalize::normalize;
use super::signature;
use super::tenant::resolve_tenant;
use crate::config::store::ConfigView;
use crate::config::{Tenant, WebhookIntake, check_id};
use crate::kv::KeyValue;
use http::HeaderMap;

/// A verified event, ready to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The tenant, for the residency decision the component makes before recording.
    pub tenant: Tenant,
    pub event: TrackingEvent,
    pub dedup_window_secs: u32,
}

/// The carrier's intake config (the `webhook/<carrier>` record). The component then
/// resolves `intake.secrets` (variable names) to their values for [`receive`].
pub fn intake<K: KeyValue + ?Sized>(
    view: &ConfigView<'_, '_, K>,
    carrier: &str,
) -> Result<WebhookIntake, IntakeError> {
    if check_id(carrier, "carrier").is_err() {
        return Err(IntakeError::UnknownCarrier);
    }
    view.webhook(carrier)?.ok_or(IntakeError::UnknownCarrier)
}

/// Verifies and reads one carrier request: signature on the raw `body` first, then
/// JSON, the event id, the tenant (`path_tenant` from `/webhooks/{carrier}/{tenant}`,
/// else the payload's account) and the normalized event. `secrets` are the resolved
/// values of `intake.secrets`; `now` is Unix seconds. Reads the `carrier/<id>` record
/// (and `tenant/<id>`, `account/<carrier>/<account>`); writes nothing.
pub fn receive<K: KeyValue + ?Sized>(
    view: &ConfigView<'_, '_, K>,
    intake: &WebhookIntake,
    secrets: &[String],
    headers: &HeaderMap,
    body: &[u8],
    path_tenant: Option<&str>,
    now: u64,
) -> Result<Received, IntakeError> {
    signature::verify(intake, secrets, headers, body, now)?;
    let payload: serde_json::Value = serde_json::from_slice(body)
        .map_err(|_| IntakeError::InvalidPayload("the body is not JSON".into()))?;
    let source_id = source_event_id(
        &intake.event_id,
        super::signature::signed_fields(&intake.signature),
        headers,
        body,
        &payload,
    )?;
    let tenant = resolve_tenant(view, intake, path_tenant, &payload)?;
    let carrier = view.carrier(&intake.carrier)?.ok_or_else(|| {
        IntakeError::Misconfigured(format!(
            "webhook intake for unknown carrier {}",
            intake.carrier
        ))
    })?;
    let event = normalize(
        carrier.adapter,
        &tenant.id,
        &intake.carrier,
        &source_id,
        &payload,
        now,
    )?;
    Ok(Received {
        tenant,
        event,
        dedup_window_secs: intake.dedup_window_secs,
    })
}

/// Records a received event exactly once, with the tenant's subscriptions and the
/// delivery tiers from `view` (see [`fanout::record`]). Answer the carrier 2xx only
/// after this returns `Ok` (a duplicate too); on `Err` answer 503 so it retries.
pub fn record_received<K: KeyValue + ?Sized, C: KeyValue + ?Sized>(
    kv: &K,
    view: &ConfigView<'_, '_, C>,
    received: &Received,
    now: u64,
    rand: u64,
    traceparent: Option<&str>,
) -> Result<Recorded, IntakeError> {
    let subscriptions = view.subscriptions(&received.tenant.id)?;
    let tiers = view.tiers()?;
    Ok(fanout::record(
        kv,
        &received.event,
        received.dedup_window_secs,
        &subscriptions,
        &tiers,
        now,
        rand,
        traceparent,
    )?)
}
