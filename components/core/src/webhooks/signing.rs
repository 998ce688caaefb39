//! The outgoing request of one delivery attempt: the subscription's URL, the event
//! payload, and Standard Webhooks headers signed with the subscription's secret.

use super::delivery::Delivery;
use super::standard_webhooks::{self, SignedHeaders};

/// What the component sends for one attempt (`POST url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub url: String,
    /// `content-type` and the three `webhook-*` headers.
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// Signs `delivery` for an attempt at `now` (Unix seconds) with `secret`, the value of
/// the subscription's variable (`delivery.secret`): `whsec_` + base64, or a raw secret.
/// `Err` says why the secret is unusable (never the secret); record that as a failed
/// attempt, so the delivery retries once the variable is fixed.
pub fn outbound_request(
    delivery: &Delivery,
    secret: &str,
    now: u64,
) -> Result<OutboundRequest, String> {
    let SignedHeaders {
        id,
        timestamp,
        signature,
    } = standard_webhooks::sign(&delivery.event_id, now, delivery.payload.as_bytes(), secret)?;
    let mut headers = vec![
        ("content-type", "application/json".to_string()),
        (standard_webhooks::ID_HEADER, id),
        (standard_webhooks::TIMESTAMP_HEADER, timestamp),
        (standard_webhooks::SIGNATURE_HEADER, signature),
    ];
    if let Some(traceparent) = &delivery.traceparent {
        headers.push(("traceparent", traceparent.clone()));
    }
    Ok(OutboundRequest {
        url: delivery.url.clone(),
        headers,
        body: delivery.payload.clone(),
    })
}
