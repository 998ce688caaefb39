//! `waypost up --metrics-listen ADDR`: `GET /metrics` in Prometheus text (OpenMetrics) on
//! a separate listener, for the operator's scraper only (bind it to a private address).
//!
//! What the host sees of each request: its route, the tenant (`auth` reports it to the
//! host in a response header the host removes), the status, the latency, the limit a 429
//! names (`RateLimit-Policy`), and key-value backend errors. Breaker states, the webhook
//! outbox depth, retries and dead letters live in the app's store, not in the host: the
//! webhooks tick reports them in its answer and logs.

use http_body_util::Full;
use hyper::body::Bytes;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::OnceLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    tenant: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: String,
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    rate_limited: Family<LimitLabels, Counter>,
    kv_errors: Counter,
}

fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(|| {
        let mut registry = Registry::with_prefix("waypost");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_1, 2.0, 18))
        });
        let rate_limited = Family::<LimitLabels, Counter>::default();
        let kv_errors = Counter::default();
        registry.register(
            "requests",
            "Requests by route, tenant and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Request latency by route",
            latency.clone(),
        );
        registry.register(
            "rate_limited",
            "429 answers by the limit they name",
            rate_limited.clone(),
        );
        registry.register(
            "kv_errors",
            "Key-value backend errors seen by components",
            kv_errors.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            rate_limited,
            kv_errors,
        }
    })
}

/// Counts one answered request.
pub fn record_request(route: &str, tenant: Option<&str>, status: u16, seconds: f64) {
    let m = metrics();
    m.requests
        .get_or_create(&RequestLabels {
            route: route.to_string(),
            tenant: tenant.unwrap_or("").to_string(),
            status,
        })
        .inc();
    m.latency
        .get_or_create(&RouteLabels {
            route: route.to_string(),
        })
        .observe(seconds);
}

/// Counts a 429 by the limit named first in its `RateLimit-Policy` (`"per-key";q=..`).
pub fn record_rate_limited(policy: &str) {
    let limit = policy
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .trim_matches('"');
    metrics()
        .rate_limited
        .get_or_create(&LimitLabels {
            limit: limit.to_string(),
        })
        .inc();
}

/// Counts a key-value backend error.
pub fn record_kv_error() {
    metrics().kv_errors.inc();
}

/// The exposition text.
pub fn render() -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics().registry)
        .expect("metrics encode to a String");
    text
}

/// Serves `GET /metrics` on `addr` until the process ends.
pub async fn serve(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |req: hyper::Request<hyper::body::Incoming>| async move {
                        let response = if req.uri().path() == "/metrics" {
                            hyper::Response::builder()
                                .header(
                                    "content-type",
                                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                                )
                                .body(Full::new(Bytes::from(render())))
                        } else {
                            hyper::Response::builder()
                                .status(404)
                                .body(Full::new(Bytes::new()))
                        };
                        Ok::<_, std::convert::Infallible>(response.expect("a valid response"))
                    },
                );
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
            });
        }
    });
    Ok(local)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_limits_and_store_errors_are_exposed() {
        record_request("/v1/rates", Some("globex"), 200, 0.002);
        record_rate_limited("\"per-key\";q=10;w=1");
        record_kv_error();
        let text = render();
        assert!(
            text.contains(
                "waypost_requests_total{route=\"/v1/rates\",tenant=\"globex\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("waypost_rate_limited_total{limit=\"per-key\"} 1"),
            "{text}"
        );
        assert!(text.contains("waypost_kv_errors_total 1"), "{text}");
        assert!(
            text.contains("waypost_request_duration_seconds_bucket"),
            "{text}"
        );
    }
}
