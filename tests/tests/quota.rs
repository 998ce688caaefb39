//! The quota middleware end to end, through the real chain: exact under concurrency,
//! per tenant, the shared carrier-account budget, and Retry-After that means it.
//! (Its behaviour when the store fails is unit-tested in core: end to end, auth in
//! front of it already fails closed with 503 when it cannot read the config.)

use futures::future::join_all;
use std::time::Duration;
use waypost_tests::{Host, HostOptions, client, demo_document, edited, push_config, start_app};

const ADMIN: &str = "quota-test-admin-token";
const PRAIRIE: &str = "prairie-supply_u1gDU6T_9VBqElXEyLT2hS6POqsxYG5Lkz8rOUl8dE4";
const GLOBEX: &str = "globex_WAwrlcp2SyGGIwMdwic5jUZm-cgr1pfNKNsXhXdeYqY";
const ECHO: &str = "/v1/carriers/ups/_echo";

/// The app with the demo document changed by `edits` (text replacements) applied.
async fn app_with(edits: &[(&str, &str)]) -> Host {
    let host = start_app(HostOptions {
        env: vec![("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN.into())],
        ..Default::default()
    });
    let mut doc = demo_document();
    for (from, to) in edits {
        doc = edited(&doc, from, to);
    }
    push_config(&host, ADMIN, &doc).await;
    host
}

async fn call(host: &Host, key: &str, path: &str) -> reqwest::Response {
    client()
        .get(host.url(path))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

/// Quota windows are fixed: they start at multiples of their length since the Unix
/// epoch, on the host's clock (the same machine's). Returns at once when `room` is
/// left in the current `window`, else sleeps until just after the next one starts, so
/// calls made within `room` all count in one window.
async fn room_in_window(window: Duration, room: Duration) {
    let window = window.as_millis();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let to_edge = window - now % window;
    if to_edge < room.as_millis() {
        tokio::time::sleep(Duration::from_millis((to_edge + 20) as u64)).await;
    }
}

const STARTER_PER_KEY: &str = r#"{ id = "per-key", per = "api_key", rate = 10, window_secs = 1 },"#;

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_get_exactly_the_limit_and_tenants_are_independent() {
    let host = app_with(&[(
        STARTER_PER_KEY,
        r#"{ id = "per-key", per = "api_key", rate = 50, window_secs = 3600 },"#,
    )])
    .await;
    room_in_window(Duration::from_secs(3600), Duration::from_secs(60)).await;
    let responses = join_all((0..200).map(|_| call(&host, PRAIRIE, ECHO))).await;
    let mut admitted = 0;
    for r in &responses {
        match r.status().as_u16() {
            200 => admitted += 1,
            429 => {
                let h = r.headers();
                assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() > 0);
                assert_eq!(h["ratelimit-policy"], "\"per-key\";q=50;w=3600");
                assert!(
                    h["ratelimit"]
                        .to_str()
                        .unwrap()
                        .starts_with("\"per-key\";r=0;t=")
                );
                assert_eq!(h["content-type"], "application/problem+json");
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!(
        admitted, 50,
        "exactly the limit, however many arrive at once"
    );
    let refused = call(&host, PRAIRIE, ECHO).await;
    let p: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(p["type"], "https://waypost.dev/problems/rate-limited");
    assert!(p["detail"].as_str().unwrap().contains("per-key"), "{p}");

    // Another tenant's budget is untouched.
    let other = call(&host, GLOBEX, ECHO).await;
    assert_eq!(other.status(), 200);
    assert!(other.headers().contains_key("ratelimit"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shared_carrier_account_is_one_budget_across_tenants() {
    let host = app_with(&[(
        "carrier = \"usps\"\naccount = \"platform\"\nrate = 60",
        "carrier = \"usps\"\naccount = \"platform\"\nrate = 3",
    )])
    .await;
    let usps = "/v1/carriers/usps/_echo";
    assert_eq!(call(&host, PRAIRIE, usps).await.status(), 200);
    assert_eq!(call(&host, GLOBEX, usps).await.status(), 200);
    assert_eq!(call(&host, PRAIRIE, usps).await.status(), 200);
    for key in [GLOBEX, PRAIRIE] {
        let r = call(&host, key, usps).await;
        assert_eq!(r.status(), 429);
        assert!(r.headers().contains_key("retry-after"));
        // RateLimit, if any, is the tenant's own plan limit: no tenant sees the shared
        // budget's usage.
        if let Some(own) = r.headers().get("ratelimit-policy") {
            assert!(own.to_str().unwrap().starts_with("\"per-key\""), "{own:?}");
        }
        let p: serde_json::Value = r.json().await.unwrap();
        assert_eq!(
            p["type"],
            "https://waypost.dev/problems/carrier-rate-limited"
        );
    }
    // The tenants' other carriers are not affected.
    assert_eq!(call(&host, PRAIRIE, ECHO).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_is_when_a_request_succeeds_again() {
    let host = app_with(&[(
        STARTER_PER_KEY,
        r#"{ id = "per-key", per = "api_key", rate = 5, window_secs = 2 },"#,
    )])
    .await;
    // Begin just after a window's edge, so the six calls all fall in one window.
    room_in_window(Duration::from_secs(2), Duration::from_secs(2)).await;
    let mut refused = None;
    for _ in 0..6 {
        let r = call(&host, PRAIRIE, ECHO).await;
        if r.status() == 429 {
            refused = Some(r);
            break;
        }
    }
    let refused = refused.expect("the sixth request in the window is refused");
    let wait: u64 = refused.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&wait), "{wait}");
    tokio::time::sleep(Duration::from_secs(wait)).await;
    assert_eq!(call(&host, PRAIRIE, ECHO).await.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn weights_and_route_limits_count_rate_shopping_apart() {
    // The starter plan: `rates` route limit 30/min with weight 5 per call: 6 calls fit.
    // Here 10 units an hour, and the three calls made in one window.
    let host = app_with(&[
        (
            STARTER_PER_KEY,
            r#"{ id = "per-key", per = "api_key", rate = 100, window_secs = 1 },"#,
        ),
        (
            r#"{ id = "rates", per = "route", route = "rates", rate = 30, window_secs = 60 },"#,
            r#"{ id = "rates", per = "route", route = "rates", rate = 10, window_secs = 3600 },"#,
        ),
    ])
    .await;
    let body = serde_json::json!({"origin": {"country": "US", "postal_code": "10001", "city": "New York"}});
    let mut statuses = Vec::new();
    room_in_window(Duration::from_secs(3600), Duration::from_secs(60)).await;
    for _ in 0..3 {
        let r = client()
            .post(host.url("/v1/rates"))
            .header("x-api-key", PRAIRIE)
            .json(&body)
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
        if r.status() == 429 {
            assert_eq!(r.headers()["ratelimit-policy"], "\"rates\";q=10;w=3600");
        }
    }
    // Two calls of weight 5 use the 10 units (the body is invalid, but quota counts
    // before the handler looks at it); the third is refused by the `rates` limit.
    assert_eq!(statuses, [400, 400, 429]);
    // The carriers route has its own budget.
    assert_eq!(call(&host, PRAIRIE, ECHO).await.status(), 200);
}
