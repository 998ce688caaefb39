//! What an operator sees: one JSON access-log line per request from the host, trace
//! context through every component to the carrier, `GET /metrics` on a separate
//! listener (requests, breakers, retries, webhook deliveries), spans exported to an
//! OTLP collector, and no secret in any log.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use waypost_tests::{
    Host, HostOptions, client, demo_secret, free_port, metrics, sample, start_app,
};
use waypost_tests::{demo_document, edited, push_config};

const PRAIRIE: &str = "prairie-supply_u1gDU6T_9VBqElXEyLT2hS6POqsxYG5Lkz8rOUl8dE4";
const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test(flavor = "multi_thread")]
async fn access_log_trace_context_and_metrics() {
    let metrics_port = free_port();
    let host = metrics_host(metrics_port, Vec::new());

    // The caller's trace context reaches the carrier; the host logs the request.
    let r = prairie_get(&host, "/v1/carriers/ups/_echo")
        .header("traceparent", TRACE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        !r.headers().contains_key("x-waypost-tenant"),
        "the host's report headers stay inside"
    );
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let echo: serde_json::Value = r.json().await.unwrap();
    assert_eq!(echo["headers"]["traceparent"], TRACE);
    let line = host.access_line(&id);
    assert_eq!(line["traceparent"], TRACE);
    assert_eq!(line["tenant"], "prairie-supply");
    assert_eq!(line["carrier"], "ups");
    assert_eq!(line["region"], "local");
    assert_eq!(line["chain"], "auth -> quota -> router");
    assert_eq!(line["route"], "/v1/carriers/...");
    assert_eq!(line["status"], 200);
    assert!(line["latency_us"].as_u64().is_some());

    // Without one, the host starts a trace and every component carries it.
    let r = client()
        .get(host.url("/v1/carriers/ups/_echo"))
        .header("x-api-key", PRAIRIE)
        .send()
        .await
        .unwrap();
    let echo: serde_json::Value = r.json().await.unwrap();
    let started = echo["headers"]["traceparent"].as_str().unwrap();
    assert!(
        started.starts_with("00-") && started.len() == 55,
        "{started}"
    );

    // Metrics: by route, tenant and status.
    let _ = client()
        .get(host.url("/v1/carriers/ups/_echo"))
        .send()
        .await
        .unwrap();
    let text = metrics(metrics_port).await;
    assert!(
        text.contains(
            "waypost_requests_total{route=\"/v1/carriers/...\",tenant=\"prairie-supply\",status=\"200\"} 2"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "waypost_requests_total{route=\"/v1/carriers/...\",tenant=\"\",status=\"401\"} 1"
        ),
        "{text}"
    );
    assert!(
        text.contains("waypost_request_duration_seconds_count{route=\"/v1/carriers/...\"} 3"),
        "{text}"
    );

    // No secret anywhere in the logs.
    let logs = host.logs();
    for secret in [
        PRAIRIE.to_string(),
        demo_secret("ups_client_secret"),
        demo_secret("identity_secret"),
    ] {
        assert!(!logs.contains(&secret), "a secret reached the logs");
    }
}

// ----------------------------------------------------------------- metrics helpers

const ADMIN_TOKEN: &str = "observability-admin-token";
/// The report headers components set for the host; no client ever sees one.
const REPORT_HEADERS: [&str; 5] = [
    "x-waypost-tenant",
    "x-waypost-carrier",
    "x-waypost-breakers",
    "x-waypost-retries",
    "x-waypost-webhooks",
];

fn breaker(upstream: &str, state: &str) -> String {
    format!("waypost_breaker_state{{carrier=\"ups\",upstream=\"{upstream}\",state=\"{state}\"}}")
}

/// Asserts the metrics the host at `port` serves have these samples.
async fn expect_samples(port: u16, expected: &[(&str, f64)]) -> String {
    let text = metrics(port).await;
    for (series, value) in expected {
        assert_eq!(sample(&text, series), Some(*value), "{series}\n{text}");
    }
    text
}

fn assert_no_report_headers(r: &reqwest::Response) {
    for name in REPORT_HEADERS {
        assert!(
            !r.headers().contains_key(name),
            "`{name}` reached the client: {:?}",
            r.headers()
        );
    }
}

/// A GET to the gateway as Prairie Supply (a strict US tenant with UPS).
fn prairie_get(host: &Host, path: &str) -> reqwest::RequestBuilder {
    client().get(host.url(path)).header("x-api-key", PRAIRIE)
}

fn metrics_host(metrics_port: u16, env: Vec<(String, String)>) -> Host {
    start_app(HostOptions {
        args: vec![
            "--metrics-listen".into(),
            format!("127.0.0.1:{metrics_port}"),
        ],
        env,
        ..Default::default()
    })
}

// ------------------------------------------------------------ breakers and retries

#[tokio::test(flavor = "multi_thread")]
async fn breaker_states_and_retries_reach_the_metrics() {
    let metrics_port = free_port();
    let host = metrics_host(metrics_port, Vec::new());
    let get = |path: &str| prairie_get(&host, path);

    // A good call: Prairie Supply's UPS upstream (US) is closed.
    let r = get("/v1/carriers/ups/_echo/ok").send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_no_report_headers(&r);
    let (us_closed, us_open) = (
        breaker("sandbox-us", "closed"),
        breaker("sandbox-us", "open"),
    );
    let us_half_open = breaker("sandbox-us", "half-open");
    expect_samples(
        metrics_port,
        &[(&us_closed, 1.0), (&us_open, 0.0), (&us_half_open, 0.0)],
    )
    .await;

    // The carrier fails. A GET is retried once (the demo's `max_retries = 1`), and
    // every attempt counts for the breaker (`failures = 5`): two requests make four
    // failures and two retries; the third request's first attempt opens it, so its
    // retry is refused before it is sent.
    for _ in 0..3 {
        let r = get("/v1/carriers/ups/_echo/fail")
            .header("x-sandbox-fail", "ups=503")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503);
        assert_no_report_headers(&r);
    }
    let retries = "waypost_carrier_retries_total{carrier=\"ups\"}";
    expect_samples(
        metrics_port,
        &[(retries, 2.0), (&us_open, 1.0), (&us_closed, 0.0)],
    )
    .await;

    // Refused while open: the refusal reports every upstream of the carrier.
    let r = get("/v1/carriers/ups/_echo/refused").send().await.unwrap();
    assert_eq!(r.status(), 503);
    assert_no_report_headers(&r);
    let eu_closed = breaker("sandbox-eu", "closed");
    expect_samples(metrics_port, &[(&us_open, 1.0), (&eu_closed, 1.0)]).await;

    // A client cannot feed the metrics: report headers on a request are dropped.
    let r = get("/v1/carriers/ups/_echo/forged")
        .header(
            "x-waypost-breakers",
            "\"ups\";upstream=\"forged\";state=open",
        )
        .header("x-waypost-retries", "\"ups\";n=1000")
        .header("x-waypost-webhooks", "dead-letters=99, outbox-depth=99")
        .send()
        .await
        .unwrap();
    assert_no_report_headers(&r);
    let text = expect_samples(
        metrics_port,
        &[(retries, 2.0), ("waypost_webhook_dead_letters", 0.0)],
    )
    .await;
    assert!(!text.contains("forged"), "{text}");
}

// ------------------------------------------------------------------ webhook outbox

fn fedex_event(tracking_number: &str) -> Vec<u8> {
    json!({
        "trackingNumberInfo": { "trackingNumber": tracking_number, "carrierCode": "FDXE" },
        "latestStatusDetail": {
            "code": "OD", "derivedCode": "OD", "description": "On FedEx vehicle for delivery"
        },
        "scanEvents": [
            { "date": "2026-04-02T07:41:00-05:00", "eventType": "OD", "eventDescription": "On FedEx vehicle for delivery",
              "derivedStatusCode": "OD", "derivedStatus": "On FedEx vehicle for delivery" }
        ]
    })
    .to_string()
    .into_bytes()
}

async fn tick(host: &Host) -> Value {
    let r = client()
        .post(host.url("/admin/webhooks/tick"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_no_report_headers(&r);
    r.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_retries_outbox_depth_and_dead_letters_reach_the_metrics() {
    // The subscriber is down: nothing listens on its port.
    let subscriber = format!("http://127.0.0.1:{}", free_port());
    let metrics_port = free_port();
    let host = metrics_host(
        metrics_port,
        vec![
            ("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            (
                "SPIN_VARIABLE_WEBHOOK_EXTRA_ORIGIN".into(),
                subscriber.clone(),
            ),
        ],
    );
    // Three attempts: at once, then after 1 s and 1 s more.
    let doc = edited(
        &demo_document(),
        "url = \"https://hooks.nordlicht.example/waypost\"",
        &format!("url = \"{subscriber}/hooks\""),
    );
    let doc = edited(
        &doc,
        "secret = \"nordlicht_webhook_secret\"\ntier = \"default\"",
        "secret = \"nordlicht_webhook_secret\"\ntier = \"test\"",
    );
    push_config(
        &host,
        ADMIN_TOKEN,
        &format!("{doc}\n[[tiers]]\nid = \"test\"\nschedule_secs = [0, 1, 1]\n"),
    )
    .await;

    let body = fedex_event("794698500077");
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(demo_secret("fedex_webhook_secret").as_bytes())
            .unwrap();
    mac.update(&body);
    let r = client()
        .post(host.url("/webhooks/fedex/nordlicht"))
        .header("content-type", "application/json")
        .header(
            "fdx-signature",
            STANDARD.encode(mac.finalize().into_bytes()),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    assert_no_report_headers(&r);
    // The first attempt (at intake) failed and is scheduled again.
    let retries = "waypost_webhook_retries_total";
    let dead_lettered = "waypost_webhook_dead_lettered_total";
    let (depth, dead) = (
        "waypost_webhook_outbox_depth",
        "waypost_webhook_dead_letters",
    );
    expect_samples(metrics_port, &[(retries, 1.0), (dead_lettered, 0.0)]).await;

    // A tick reports the outbox: one delivery waiting, no dead letter.
    let t = tick(&host).await;
    assert_eq!(
        (t["outbox_depth"].clone(), t["dead_letters"].clone()),
        (json!(1), json!(0)),
        "{t}"
    );
    expect_samples(metrics_port, &[(depth, 1.0), (dead, 0.0)]).await;

    // Ticks until the last attempt failed: a dead letter, the outbox empty.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut ticks = vec![t];
    while !ticks.iter().any(|t| t["dead_lettered"] == 1) {
        assert!(
            Instant::now() < deadline,
            "no dead letter after 30 s: {ticks:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
        ticks.push(tick(&host).await);
    }
    let last = ticks.last().unwrap();
    assert_eq!(
        last["results"].as_array().unwrap().last(),
        Some(&json!("dead")),
        "{last}"
    );
    assert_eq!(
        (last["outbox_depth"].clone(), last["dead_letters"].clone()),
        (json!(0), json!(1))
    );
    let retried: u64 = ticks.iter().map(|t| t["retried"].as_u64().unwrap()).sum();
    assert_eq!(retried, 1, "the second attempt, by a tick: {ticks:?}");
    expect_samples(
        metrics_port,
        &[
            (depth, 0.0),
            (dead, 1.0),
            (retries, 2.0),
            (dead_lettered, 1.0),
            ("waypost_webhook_delivered_total", 0.0),
        ],
    )
    .await;
}

// ----------------------------------------------------------------------- OTLP export

/// What a fake OTLP collector received: each `POST` as (path, content type, body).
type Received = Arc<Mutex<Vec<(String, String, Value)>>>;

/// A fake OTLP/HTTP collector on 127.0.0.1, on its own thread and runtime.
struct Collector {
    port: u16,
    received: Received,
    _thread: std::thread::JoinHandle<()>,
}

impl Collector {
    fn start() -> Collector {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let received: Received = Arc::default();
        let shared = received.clone();
        let thread = waypost_tests::serve_on_own_thread(listener, |listener| async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = hyper::service::service_fn({
                    let shared = shared.clone();
                    move |req: hyper::Request<Incoming>| collect(shared.clone(), req)
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Collector {
            port,
            received,
            _thread: thread,
        }
    }

    /// Every span received, with its resource's attributes.
    fn spans(&self) -> Vec<(Value, Value)> {
        let received = self.received.lock().unwrap();
        let mut spans = Vec::new();
        for (_, _, body) in received.iter() {
            for rs in body["resourceSpans"].as_array().into_iter().flatten() {
                for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                    for span in ss["spans"].as_array().into_iter().flatten() {
                        spans.push((rs["resource"].clone(), span.clone()));
                    }
                }
            }
        }
        spans
    }

    /// Waits (at most 20 s) for a span of `trace_id` for which `pick` holds.
    async fn span(&self, trace_id: &str, pick: impl Fn(&Value) -> bool) -> (Value, Value) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(found) = self
                .spans()
                .into_iter()
                .find(|(_, s)| s["traceId"] == trace_id && pick(s))
            {
                return found;
            }
            assert!(
                Instant::now() < deadline,
                "no such span after 20 s: {:?}",
                self.spans()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Keeps one export request and answers 200 `{}` (a full success).
async fn collect(
    received: Received,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Full<Bytes>>, hyper::Error> {
    let path = req.uri().path().to_string();
    let content_type = req
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = req.into_body().collect().await?.to_bytes();
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    received.lock().unwrap().push((path, content_type, body));
    Ok(hyper::Response::new(Full::new(Bytes::from_static(b"{}"))))
}

/// An OTLP/JSON attribute's value as text (`stringValue`, or `intValue`).
fn attribute(attributes: &Value, key: &str) -> Option<String> {
    attributes
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| {
            let v = &a["value"];
            v["stringValue"]
                .as_str()
                .or_else(|| v["intValue"].as_str())
                .map(str::to_string)
                .unwrap_or_else(|| v["intValue"].to_string())
        })
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_are_exported_to_the_otlp_collector() {
    let collector = Collector::start();
    let host = start_app(HostOptions {
        args: vec![
            "--otlp-endpoint".into(),
            format!("http://127.0.0.1:{}", collector.port),
        ],
        // The flag wins over the environment.
        env: vec![(
            "OTEL_EXPORTER_OTLP_ENDPOINT".into(),
            format!("http://127.0.0.1:{}", free_port()),
        )],
        ..Default::default()
    });
    let r = prairie_get(&host, "/v1/carriers/ups/_echo/traced")
        .header("traceparent", TRACE)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";

    // The host's SERVER span: in the caller's trace, child of the caller's span.
    let (resource, server) = collector.span(trace_id, |s| s["kind"] == 2).await;
    assert_eq!(server["parentSpanId"], "00f067aa0ba902b7", "{server}");
    assert_eq!(server["name"], "GET /v1/carriers/...", "{server}");
    let attrs = &server["attributes"];
    for (key, value) in [
        ("http.request.method", "GET"),
        ("http.route", "/v1/carriers/..."),
        ("http.response.status_code", "200"),
        ("waypost.tenant", "prairie-supply"),
        ("waypost.carrier", "ups"),
        ("waypost.region", "local"),
        ("waypost.chain", "auth -> quota -> router"),
    ] {
        assert_eq!(
            attribute(attrs, key).as_deref(),
            Some(value),
            "{key}: {server}"
        );
    }
    let resource = &resource["attributes"];
    assert_eq!(
        attribute(resource, "service.name").as_deref(),
        Some("waypost")
    );
    assert_eq!(
        attribute(resource, "waypost.app").as_deref(),
        Some("waypost")
    );
    assert_eq!(
        attribute(resource, "waypost.region").as_deref(),
        Some("local")
    );
    let server_id = server["spanId"].as_str().unwrap().to_string();
    assert_eq!(server_id.len(), 16);
    assert_ne!(server_id, "00f067aa0ba902b7");

    // The router's call to the carrier: a CLIENT span under the SERVER span, and the
    // carrier received that span as its parent, in the same trace. (Its OAuth token
    // request, when one is made, is a CLIENT span of the same trace too.)
    let (_, call) = collector
        .span(trace_id, |s| {
            s["kind"] == 3
                && s["parentSpanId"] == server_id.as_str()
                && attribute(&s["attributes"], "url.full").is_some_and(|u| u.contains("/_echo/"))
        })
        .await;
    assert_eq!(
        attribute(&call["attributes"], "server.address").as_deref(),
        Some("sandbox.spin.internal")
    );
    assert_eq!(
        attribute(&call["attributes"], "waypost.component").as_deref(),
        Some("router")
    );
    let received = echo["headers"]["traceparent"].as_str().unwrap();
    assert_eq!(
        received,
        format!("00-{trace_id}-{}-01", call["spanId"].as_str().unwrap()),
        "{echo}"
    );
    // The access log names the caller's context and the host's span.
    let line = host
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["event"] == "request" && l["traceparent"] == TRACE)
        .expect("the request's access-log line");
    assert_eq!(line["span_id"], server_id.as_str());
    // Posted as OTLP/HTTP JSON to /v1/traces.
    let received = collector.received.lock().unwrap().clone();
    assert!(
        received
            .iter()
            .all(|(path, ct, _)| path == "/v1/traces" && ct == "application/json"),
        "{received:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_collector_that_is_down_changes_no_answer() {
    // Nothing listens at the collector's address (the standard environment variable).
    let metrics_port = free_port();
    let host = metrics_host(
        metrics_port,
        vec![(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".into(),
            format!("http://127.0.0.1:{}/v1/traces", free_port()),
        )],
    );
    let dropped = |text: &str| sample(text, "waypost_otlp_dropped_spans_total").unwrap_or(0.0);
    let mut requests = 0.0;
    for round in 0..2 {
        for _ in 0..3 {
            let r = prairie_get(&host, "/v1/carriers/ups/_echo/untraced")
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 200, "round {round}");
            requests += 1.0;
        }
        // Each request made two spans (the host's and the carrier call's), and the
        // first one a third: UPS's OAuth token request (the token is cached after it).
        // Every one of them is dropped once the export fails.
        let spans = 2.0 * requests + 1.0;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = metrics(metrics_port).await;
            if dropped(&text) >= spans {
                assert_eq!(dropped(&text), spans, "{text}");
                assert_eq!(
                    sample(&text, "waypost_otlp_exported_spans_total"),
                    Some(0.0)
                );
                break;
            }
            assert!(Instant::now() < deadline, "spans not dropped: {text}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    // Two failed exports (at least), one log line for the outage.
    let failures = host
        .logs()
        .lines()
        .filter(|l| l.contains("\"event\":\"otlp_export_failed\""))
        .count();
    assert_eq!(failures, 1, "{}", host.logs());
}
