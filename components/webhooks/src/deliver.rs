//! Attempts of outbox deliveries: each signed with its subscription's secret, sent
//! concurrently within a time limit, and its outcome recorded (delivered, retry at the
//! tier's next step, or dead letter).

use bytes::Bytes;
use futures::future::{Either, join_all, select};
use spin_sdk::http::FullBody;
use std::time::Duration;
use waypost_core::webhooks::{self, AttemptOutcome, Delivery, Next};
use waypost_runtime::SpinKv;
use waypost_runtime::config::var;
use waypost_runtime::request::{random_u64, unix_secs};

/// How long one tick's delivery may take (below the outbox lease).
pub const TICK_DELIVERY: Duration = Duration::from_secs(30);

/// Attempts every delivery at once, each within `limit`; returns what happened to each
/// (`delivered`, `retry`, `dead`, `lease-lost`, `store-error`).
pub async fn attempt_all(kv: &SpinKv, deliveries: Vec<Delivery>, limit: Duration) -> Vec<String> {
    join_all(deliveries.iter().map(|d| attempt(kv, d, limit))).await
}

async fn attempt(kv: &SpinKv, delivery: &Delivery, limit: Duration) -> String {
    let outcome = send(delivery, limit).await;
    match webhooks::record_result(kv, delivery, &outcome, unix_secs() as u64, random_u64()) {
        Ok(Next::Delivered) => "delivered".into(),
        Ok(Next::RetryAt(_)) => "retry".into(),
        Ok(Next::DeadLettered) => "dead".into(),
        Ok(Next::LeaseLost) => "lease-lost".into(),
        Err(_) => "store-error".into(),
    }
}

async fn send(delivery: &Delivery, limit: Duration) -> AttemptOutcome {
    let secret = var(&delivery.secret).await;
    let request = match webhooks::signing::outbound_request(delivery, &secret, unix_secs() as u64) {
        Ok(request) => request,
        Err(e) => return AttemptOutcome::from_error(e),
    };
    let mut builder = http::Request::builder()
        .method("POST")
        .uri(request.url.as_str());
    for (name, value) in &request.headers {
        builder = builder.header(*name, value.as_str());
    }
    let Ok(outgoing) = builder.body(FullBody::new(Bytes::from(request.body))) else {
        return AttemptOutcome::from_error("the subscription URL is not a valid URI");
    };
    let exchange = async {
        match spin_sdk::http::send(outgoing).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let retry_after = response
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                AttemptOutcome::from_response(status, retry_after.as_deref())
            }
            Err(e) => AttemptOutcome::from_error(format!("{e:?}")),
        }
    };
    let timeout = spin_sdk::time::sleep(limit);
    futures::pin_mut!(exchange, timeout);
    match select(exchange, timeout).await {
        Either::Left((outcome, _)) => outcome,
        Either::Right(((), _)) => AttemptOutcome::from_error("timed out"),
    }
}
