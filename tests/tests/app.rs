//! The Waypost app itself (spin.toml at the repository root), served by the host.

use sha2::Digest;
use waypost_tests::{HostOptions, client, get_json, start_app, workspace_root};

#[tokio::test(flavor = "multi_thread")]
async fn healthz_reports_liveness_and_region() {
    let host = start_app(HostOptions::default());
    let r = client().get(host.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(r.headers()["cache-control"], "no-store");
    let health: serde_json::Value = r.json().await.unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["region"], "local");
    // On an empty store the demo document is applied as version 1.
    let demo = std::fs::read(workspace_root().join("infra/regions/local/gateway.toml")).unwrap();
    let hash = format!("sha256:{:x}", sha2::Sha256::digest(&demo));
    assert_eq!(health["config"]["version"], 1, "{health}");
    assert_eq!(health["config"]["hash"], hash);
}

#[tokio::test(flavor = "multi_thread")]
async fn healthz_names_the_region_it_is_deployed_in() {
    let host = start_app(HostOptions {
        env: vec![("SPIN_VARIABLE_REGION".into(), "eu".into())],
        ..Default::default()
    });
    let health = get_json(host.url("/healthz")).await;
    assert_eq!(health["region"], "eu");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_wrong_method_on_healthz_is_a_405_problem() {
    let host = start_app(HostOptions::default());
    let r = client().post(host.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["type"], "https://waypost.dev/problems/method-not-allowed");
    assert_eq!(p["status"], 405);
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_tick_calls_the_scheduler_endpoint_as_the_operator() {
    let host = start_app(HostOptions {
        env: vec![("SPIN_VARIABLE_ADMIN_TOKEN".into(), "tick-test-token".into())],
        args: vec!["--tick".into(), "200ms".into()],
        ..Default::default()
    });
    // The webhooks component logs each tick it served (auth let the operator in).
    assert!(
        host.logged("\"attempted\":0,\"component\":\"webhooks\""),
        "no tick: {}",
        host.logs()
    );
    assert!(!host.logs().contains("tick_failed"), "{}", host.logs());
}

#[tokio::test(flavor = "multi_thread")]
async fn tick_is_off_without_an_admin_token() {
    let host = start_app(HostOptions {
        args: vec!["--tick".into(), "200ms".into()],
        ..Default::default()
    });
    assert!(host.logged("tick_disabled"));
    let r = client().get(host.url("/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
