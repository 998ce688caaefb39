//! `waypost up --metrics-listen ADDR`: `GET /metrics` in Prometheus text (OpenMetrics) on
//! a separate listener, for the operator's scraper only (bind it to a private address).
//!
//! What the host sees of each request: its route, the tenant (`auth` reports it to the
//! host in a response header the host removes), the status, the latency, the limit a 429
//! names (`RateLimit-Policy`), and key-value backend errors. Breaker states, carrier
//! retries and webhook deliveries live in the app's store: the components that see them
//! report them in response headers the host removes (`crate::reports`), and the host
//! keeps what this instance last saw.

use crate::connection_cap::ConnectionMetrics;
use http_body_util::Full;
use hyper::body::Bytes;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;
use waypost_core::report::DeliveryReport;
use waypost_core::routing::breaker::BreakerState;

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
struct CutLabels {
    route: String,
    by: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LimitLabels {
    limit: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BreakerLabels {
    carrier: String,
    upstream: String,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CarrierLabels {
    carrier: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InstanceLabels {
    component: String,
}

impl InstanceLabels {
    fn of(component: &str) -> Self {
        Self {
            component: component.to_string(),
        }
    }
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    rate_limited: Family<LimitLabels, Counter>,
    kv_errors: Counter,
    breaker_state: Family<BreakerLabels, Gauge>,
    carrier_retries: Family<CarrierLabels, Counter>,
    webhook_delivered: Counter,
    webhook_retries: Counter,
    webhook_dead_lettered: Counter,
    webhook_outbox_depth: Gauge,
    webhook_dead_letters: Gauge,
    otlp_exported: Counter,
    otlp_dropped: Counter,
    instances_started: Family<InstanceLabels, Counter>,
    instances: Family<InstanceLabels, Gauge>,
    at_capacity: Family<InstanceLabels, Counter>,
    request_timeouts: Family<InstanceLabels, Counter>,
    response_write_timeouts: Counter,
    responses_cut: Family<CutLabels, Counter>,
    outbound_connections: ConnectionMetrics,
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
        let breaker_state = Family::<BreakerLabels, Gauge>::default();
        registry.register(
            "breaker_state",
            "Carrier upstream breaker state last seen by this instance: 1 for the current state (closed, half-open, open), 0 for the others",
            breaker_state.clone(),
        );
        let carrier_retries = Family::<CarrierLabels, Counter>::default();
        registry.register(
            "carrier_retries",
            "Retried carrier calls by carrier",
            carrier_retries.clone(),
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let c = Counter::default();
            registry.register(name, help, c.clone());
            c
        };
        let gauge = |registry: &mut Registry, name: &str, help: &str| {
            let g = Gauge::default();
            registry.register(name, help, g.clone());
            g
        };
        let webhook_delivered = counter(
            &mut registry,
            "webhook_delivered",
            "Webhook deliveries that succeeded",
        );
        let webhook_retries = counter(
            &mut registry,
            "webhook_retries",
            "Webhook delivery attempts that failed and were scheduled again",
        );
        let webhook_dead_lettered = counter(
            &mut registry,
            "webhook_dead_lettered",
            "Webhook deliveries that became dead letters",
        );
        let webhook_outbox_depth = gauge(
            &mut registry,
            "webhook_outbox_depth",
            "Webhook deliveries pending or in flight, as of the last tick",
        );
        let webhook_dead_letters = gauge(
            &mut registry,
            "webhook_dead_letters",
            "Webhook dead letters kept, as of the last tick",
        );
        let otlp_exported = counter(
            &mut registry,
            "otlp_exported_spans",
            "Spans accepted by the OTLP collector",
        );
        let otlp_dropped = counter(
            &mut registry,
            "otlp_dropped_spans",
            "Spans dropped: export queue full, or the collector failed or was too slow",
        );
        let instances_started = Family::<InstanceLabels, Counter>::default();
        registry.register(
            "instances_started",
            "Component instances started, by component (a chain sharing one store: its links)",
            instances_started.clone(),
        );
        let instances = Family::<InstanceLabels, Gauge>::default();
        registry.register(
            "instances",
            "Component instances alive (serving or idle, kept for reuse), by component",
            instances.clone(),
        );
        let at_capacity = Family::<InstanceLabels, Counter>::default();
        registry.register(
            "at_capacity",
            "Instances not started for want of a free slot (SPIN_WASMTIME_INSTANCE_COUNT), by component: each a 503",
            at_capacity.clone(),
        );
        let request_timeouts = Family::<InstanceLabels, Counter>::default();
        registry.register(
            "request_timeouts",
            "Requests not answered within --request-timeout, by component: each a 504",
            request_timeouts.clone(),
        );
        let response_write_timeouts = Counter::default();
        registry.register(
            "response_write_timeouts",
            "Connections closed because the client read nothing for --response-write-timeout while a response waited to be written",
            response_write_timeouts.clone(),
        );
        let responses_cut = Family::<CutLabels, Counter>::default();
        registry.register(
            "responses_cut",
            "Responses whose body was cut off after their head was sent, by route and by what cut it (component, connection)",
            responses_cut.clone(),
        );
        let outbound_connections = ConnectionMetrics {
            open: gauge(
                &mut registry,
                "outbound_connections",
                "Outbound HTTP connections open to upstreams, idle in a pool included",
            ),
            waited: counter(
                &mut registry,
                "outbound_connection_waits",
                "Outbound connections that waited for one of the max_connections permits (a wait past the connect timeout is a connection-timeout)",
            ),
        };
        Metrics {
            registry,
            requests,
            latency,
            rate_limited,
            kv_errors,
            breaker_state,
            carrier_retries,
            webhook_delivered,
            webhook_retries,
            webhook_dead_lettered,
            webhook_outbox_depth,
            webhook_dead_letters,
            otlp_exported,
            otlp_dropped,
            instances_started,
            instances,
            at_capacity,
            request_timeouts,
            response_write_timeouts,
            responses_cut,
            outbound_connections,
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

/// Sets `upstream`'s breaker gauge: 1 for `state`, 0 for the other states.
pub fn record_breaker(carrier: &str, upstream: &str, state: BreakerState) {
    let family = &metrics().breaker_state;
    for s in BreakerState::ALL {
        family
            .get_or_create(&BreakerLabels {
                carrier: carrier.to_string(),
                upstream: upstream.to_string(),
                state: s.as_str(),
            })
            .set(i64::from(s == state));
    }
}

/// Counts `n` retried calls to `carrier`.
pub fn record_carrier_retries(carrier: &str, n: u64) {
    metrics()
        .carrier_retries
        .get_or_create(&CarrierLabels {
            carrier: carrier.to_string(),
        })
        .inc_by(n);
}

/// Counts delivery attempts and, when the report has them, sets the outbox gauges.
pub fn record_deliveries(report: &DeliveryReport) {
    let m = metrics();
    m.webhook_delivered.inc_by(report.delivered);
    m.webhook_retries.inc_by(report.retried);
    m.webhook_dead_lettered.inc_by(report.dead_lettered);
    let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    if let Some(depth) = report.outbox_depth {
        m.webhook_outbox_depth.set(gauge(depth));
    }
    if let Some(dead) = report.dead_letters {
        m.webhook_dead_letters.set(gauge(dead));
    }
}

/// Counts spans the OTLP collector accepted.
pub fn record_otlp_exported(n: u64) {
    metrics().otlp_exported.inc_by(n);
}

/// Counts spans that were not exported.
pub fn record_otlp_dropped(n: u64) {
    metrics().otlp_dropped.inc_by(n);
}

/// Counts an instance of `component` started (and alive).
pub fn record_instance_started(component: &str) {
    let m = metrics();
    let labels = InstanceLabels::of(component);
    m.instances_started.get_or_create(&labels).inc();
    m.instances.get_or_create(&labels).inc();
}

/// An instance of `component` was dropped.
pub fn record_instance_dropped(component: &str) {
    let labels = InstanceLabels::of(component);
    metrics().instances.get_or_create(&labels).dec();
}

/// An instance of `component` could not start: every slot of the pool was in use.
pub fn record_at_capacity(component: &str) {
    let labels = InstanceLabels::of(component);
    metrics().at_capacity.get_or_create(&labels).inc();
}

/// A request to `component` was not answered within the request timeout.
pub fn record_request_timeout(component: &str) {
    let labels = InstanceLabels::of(component);
    metrics().request_timeouts.get_or_create(&labels).inc();
}

/// A connection was closed: its client read nothing for the response write timeout.
pub fn record_response_write_timeout() {
    metrics().response_write_timeouts.inc();
}

/// A response to `route` was cut off after its head was sent.
pub fn record_response_cut(route: &str, cut: crate::access_log::Cut) {
    let labels = CutLabels {
        route: route.to_string(),
        by: cut.as_str(),
    };
    metrics().responses_cut.get_or_create(&labels).inc();
}

/// Where the outbound client's connections are counted.
pub fn outbound_connections() -> ConnectionMetrics {
    metrics().outbound_connections.clone()
}

/// The exposition text.
pub fn render() -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &metrics().registry)
        .expect("metrics encode to a String");
    text
}

/// Serves `GET /metrics` on `addr` until the process ends. Its connections have the
/// app's `--header-read-timeout`, and accepting pauses as the app's listener's does
/// when the process is out of descriptors (`crate::server::accept_backoff`).
pub async fn serve(
    addr: SocketAddr,
    header_read_timeout: Option<Duration>,
) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let stream = match listener.accept().await {
                Ok((stream, _)) => stream,
                Err(e) => {
                    if let Some(pause) = crate::server::accept_backoff(&e) {
                        tokio::time::sleep(pause).await;
                    }
                    continue;
                }
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
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_read_timeout)
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

    #[test]
    fn a_breaker_gauge_has_one_current_state() {
        record_breaker("dhl", "main", BreakerState::Open);
        record_breaker("dhl", "main", BreakerState::HalfOpen);
        let text = render();
        for (state, value) in [("closed", 0), ("half-open", 1), ("open", 0)] {
            let line = format!(
                "waypost_breaker_state{{carrier=\"dhl\",upstream=\"main\",state=\"{state}\"}} {value}"
            );
            assert!(text.contains(&line), "{line}\n{text}");
        }
    }
}
