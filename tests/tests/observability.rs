//! What an operator sees: one JSON access-log line per request from the host, trace
//! context through every component to the carrier, `GET /metrics` on a separate
//! listener, and no secret in any log.

use waypost_tests::{HostOptions, client, demo_secret, free_port, start_app};

const PRAIRIE: &str = "prairie-supply_u1gDU6T_9VBqElXEyLT2hS6POqsxYG5Lkz8rOUl8dE4";
const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

#[tokio::test(flavor = "multi_thread")]
async fn access_log_trace_context_and_metrics() {
    let metrics_port = free_port();
    let host = start_app(HostOptions {
        args: vec![
            "--metrics-listen".into(),
            format!("127.0.0.1:{metrics_port}"),
        ],
        ..Default::default()
    });

    // The caller's trace context reaches the carrier; the host logs the request.
    let r = client()
        .get(host.url("/v1/carriers/ups/_echo"))
        .header("x-api-key", PRAIRIE)
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
    let line = host
        .logs()
        .lines()
        .find(|l| l.contains("\"event\":\"request\"") && l.contains(&id))
        .map(str::to_string)
        .expect("an access-log line with the request id");
    let line: serde_json::Value = serde_json::from_str(&line).unwrap();
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
    let text = client()
        .get(format!("http://127.0.0.1:{metrics_port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
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
