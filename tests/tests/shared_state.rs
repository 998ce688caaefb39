//! Several instances of the app in one region on one Redis store (the runtime config's
//! `type = "redis"`): one exact quota between them, one fan-out per duplicate webhook,
//! and what callers get while Redis is down and after it is back. Runs a real
//! `redis-server` (installed by `.ci/run`).

use futures::future::join_all;
use serde_json::json;
use waypost_tests::{
    Host, HostOptions, RedisServer, client, demo_runtime_config, demo_secret, start_app,
};
use waypost_tests::{demo_document, push_config};

const ADMIN: &str = "shared-state-admin-token";
const PRAIRIE: &str = "prairie-supply_u1gDU6T_9VBqElXEyLT2hS6POqsxYG5Lkz8rOUl8dE4";
const ECHO: &str = "/v1/carriers/ups/_echo";

/// The demo's runtime config (its secrets) with the default store on `redis`.
fn runtime_config(redis: &RedisServer, dir: &std::path::Path) -> std::path::PathBuf {
    let demo = std::fs::read_to_string(demo_runtime_config()).unwrap();
    let path = dir.join("runtime-config.toml");
    let text = format!(
        "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n\n{demo}",
        redis.url()
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn instance(config: &std::path::Path) -> Host {
    start_app(HostOptions {
        env: vec![("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN.into())],
        args: vec!["--runtime-config-file".into(), config.display().to_string()],
        ..Default::default()
    })
}

async fn push(host: &Host, doc: String) {
    push_config(host, ADMIN, &doc).await
}

fn demo() -> String {
    demo_document()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_instances_share_one_exact_quota_and_one_fan_out() {
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = runtime_config(&redis, dir.path());
    let (a, b) = (instance(&config), instance(&config));

    // One document for both (pushed through one of them).
    push(
        &a,
        demo().replacen(
            r#"{ id = "per-key", per = "api_key", rate = 10, window_secs = 1 },"#,
            r#"{ id = "per-key", per = "api_key", rate = 50, window_secs = 3600 },"#,
            1,
        ),
    )
    .await;
    let calls = (0..200).map(|i| {
        let host = if i % 2 == 0 { &a } else { &b };
        client()
            .get(host.url(ECHO))
            .header("x-api-key", PRAIRIE)
            .send()
    });
    let statuses: Vec<u16> = join_all(calls)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        50,
        "one budget across the instances: {statuses:?}"
    );
    assert!(statuses.iter().all(|s| *s == 200 || *s == 429));

    // The same carrier event delivered to both instances at once: recorded once.
    let event = json!({"shipments": [{
        "id": "7700000001", "service": "express",
        "status": {"timestamp": "2026-05-04T09:12:00+02:00", "statusCode": "transit",
                   "status": "TRANSIT", "description": "Arrived at Delivery Facility"}
    }]})
    .to_string();
    let token = demo_secret("dhl_webhook_token");
    let deliveries = (0..10).map(|i| {
        let host = if i % 2 == 0 { &a } else { &b };
        client()
            .post(host.url("/webhooks/dhl/nordlicht"))
            .header("x-webhook-token", &token)
            .header("content-type", "application/json")
            .body(event.clone())
            .send()
    });
    let mut accepted = 0;
    for r in join_all(deliveries).await {
        let r = r.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        let body: serde_json::Value = r.json().await.unwrap();
        if body["status"] == "accepted" {
            accepted += 1;
        } else {
            assert_eq!(body["status"], "duplicate");
        }
    }
    assert_eq!(accepted, 1, "exactly one instance records the event");
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_fails_closed_with_a_clear_error_and_recovers_without_restart() {
    let mut redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let config = runtime_config(&redis, dir.path());
    let host = instance(&config);
    let call = || {
        client()
            .get(host.url(ECHO))
            .header("x-api-key", PRAIRIE)
            .send()
    };
    assert_eq!(call().await.unwrap().status(), 200);

    redis.stop();
    let r = call().await.unwrap();
    assert_eq!(
        r.status(),
        503,
        "authentication fails closed without its store"
    );
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["type"], "https://waypost.dev/problems/store-unavailable");
    assert!(
        !p.to_string().contains("127.0.0.1"),
        "no connection details: {p}"
    );
    assert_eq!(
        client()
            .get(host.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        503,
        "healthz says the store is down"
    );
    // The operator's calls fail the same way, named and logged like any other answer.
    let r = client()
        .get(host.url("/admin/webhooks/dead"))
        .bearer_auth(ADMIN)
        .header("x-request-id", "redis-down-dead-letters")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["type"], "https://waypost.dev/problems/store-unavailable");
    assert_eq!(p["request_id"], "redis-down-dead-letters");
    // The component's own line (the access log's route is the manifest's).
    assert!(host.logged_line(&[
        "\"component\":\"webhooks\"",
        "\"route\":\"/admin/webhooks/dead\"",
        "\"request_id\":\"redis-down-dead-letters\"",
        "\"status\":503",
    ]));

    redis.restart();
    // A fresh Redis (no persistence): the demo config is seeded again on first use.
    assert_eq!(
        call().await.unwrap().status(),
        200,
        "back without a restart"
    );
}
