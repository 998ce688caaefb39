//! `waypost up --tick INTERVAL`: the scheduler for local and plain-host runs. Spin
//! components live for one request, so periodic work (webhook retries, claim sweeps)
//! is an endpoint a scheduler calls; on SpinKube that is a CronJob, under systemd a
//! timer, and here this loop: every INTERVAL it sends `POST <path>` to the app itself
//! with `Authorization: Bearer <admin_token>` (the app's `admin_token` variable), the
//! same request the other schedulers send. With no admin token the admin API is off,
//! so the tick is not started.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::net::SocketAddr;
use std::time::Duration;

/// The endpoint ticked by default: the webhooks component's delivery processor.
pub const DEFAULT_PATH: &str = "/admin/webhooks/tick";

/// Starts the loop; `None` when it cannot run (no admin token).
pub fn start(
    addr: SocketAddr,
    path: String,
    every: Duration,
    admin_token: Option<&str>,
) -> Option<tokio::task::JoinHandle<()>> {
    let token = admin_token.filter(|t| !t.is_empty())?.to_string();
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let url = format!("http://{addr}{path}");
    Some(tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let request = hyper::Request::post(&url)
                .header("authorization", format!("Bearer {token}"))
                .body(Empty::new())
                .expect("a valid tick request");
            match client.request(request).await {
                Ok(response) => {
                    let status = response.status().as_u16();
                    let _ = response.into_body().collect().await;
                    if status != 200 {
                        crate::log::event(
                            "tick_failed",
                            &[("path", &path), ("status", &status.to_string())],
                        );
                    }
                }
                Err(e) => {
                    crate::log::event("tick_failed", &[("path", &path), ("error", &e.to_string())])
                }
            }
        }
    }))
}
