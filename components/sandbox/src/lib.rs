//! The simulated carriers: `/ups/...`, `/fedex/...`, `/dhl/...`, `/usps/...` answer in
//! the shape of each carrier's real API (token, rating, tracking, errors), with
//! deterministic prices and fault injection from `x-sandbox-*` headers
//! (`waypost_core::sandbox`). It is reached by Spin service chaining
//! (`http://sandbox.spin.internal/<carrier>`) from the demo's carrier upstreams; it has
//! no public route, no state and no outbound access.

use bytes::Bytes;
use spin_sdk::http::Request;
use spin_sdk::http::body::IncomingBodyExt;
use spin_sdk::http_service;
use std::time::Duration;
use waypost_core::sandbox::{Carrier, Reply as Simulated, SandboxRequest, handle as simulate};
use waypost_runtime::request::{RequestLog, header_pairs, random_u64, request_id, unix_secs};
use waypost_runtime::{Reply, reply};

/// How long a hanging carrier holds its caller: longer than any carrier timeout.
const HANG: Duration = Duration::from_secs(600);

#[http_service]
async fn handle(req: Request) -> Reply {
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or_default().to_string();
    let method = req.method().as_str().to_string();
    let headers = header_pairs(req.headers());
    let mut log = RequestLog::start("sandbox", &request_id(req.headers()), &path);
    let Some((carrier, rest)) = Carrier::split_path(&path) else {
        log.finish(404);
        return text(404, "unknown simulated carrier");
    };
    log.set("method", method.clone());
    let body = req.into_body().bytes().await.unwrap_or_default();
    let request = SandboxRequest {
        method: &method,
        path: rest,
        query: &query,
        headers: &headers,
        body: &body,
    };
    match simulate(carrier, &request, unix_secs(), random_u64()) {
        Simulated::Hang => {
            log.set("hang", true);
            log.finish(504);
            spin_sdk::time::sleep(HANG).await;
            text(504, "hung")
        }
        Simulated::Answer { response, delay_ms } => {
            if delay_ms > 0 {
                spin_sdk::time::sleep(Duration::from_millis(delay_ms)).await;
            }
            log.finish(response.status);
            reply(
                response.status,
                &response.headers,
                Bytes::from(response.body),
            )
        }
    }
}

fn text(status: u16, body: &'static str) -> Reply {
    reply(status, &[], Bytes::from_static(body.as_bytes()))
}
