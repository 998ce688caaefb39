//! Two regions end to end: `eu` and `us` hosts, each with its own store and its own
//! config document. A strict EU tenant is served in `eu` and refused in `us` with the
//! EU URL; nothing of it lands in the `us` store; drift between the regions shows in
//! `/healthz`.

use waypost_tests::{
    Host, HostOptions, client, demo_document, edited, get_json, push_config, start_app,
};

const ADMIN: &str = "regions-test-admin-token";
const NORDLICHT: &str = "nordlicht_YW-iF_WcMN_yDuRQHFVssr35wwfd2a3j7u-WwrteQoM";
const PRAIRIE: &str = "prairie-supply_u1gDU6T_9VBqElXEyLT2hS6POqsxYG5Lkz8rOUl8dE4";

/// A host deployed as `region`, with the demo document re-homed there.
async fn region(name: &str, state_dir: Option<std::path::PathBuf>) -> Host {
    let host = start_app(HostOptions {
        state_dir,
        env: vec![
            ("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN.into()),
            ("SPIN_VARIABLE_REGION".into(), name.into()),
            ("SPIN_VARIABLE_SEED_DEMO_CONFIG".into(), "false".into()),
        ],
        ..Default::default()
    });
    let doc = edited(
        &demo_document(),
        "[region]\nid = \"local\"\nserves = [\"eu\", \"us\"]",
        &format!("[region]\nid = \"{name}\""),
    );
    push_config(&host, ADMIN, &doc).await;
    host
}

async fn track(host: &Host, key: &str, carrier: &str) -> reqwest::Response {
    client()
        .get(host.url(&format!("/v1/carriers/{carrier}/_echo")))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

/// Every key of a stopped host's default store.
fn store_keys(state_dir: &std::path::Path) -> Vec<String> {
    let db = rusqlite::Connection::open_with_flags(
        state_dir.join("sqlite_key_value.db"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let mut statement = db.prepare("SELECT key FROM spin_key_value").unwrap();
    statement
        .query_map([], |row| row.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_strict_tenant_is_served_at_home_and_refused_elsewhere_with_its_url() {
    let us_state = tempfile::tempdir().unwrap();
    let eu = region("eu", None).await;
    let us = region("us", Some(us_state.path().to_path_buf())).await;

    assert_eq!(track(&eu, NORDLICHT, "dhl").await.status(), 200);
    let refused = track(&us, NORDLICHT, "dhl").await;
    assert_eq!(refused.status(), 421);
    let p: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(p["type"], "https://waypost.dev/problems/wrong-region");
    assert!(
        p.to_string().contains("https://eu.waypost.example"),
        "names the EU URL: {p}"
    );
    let rates = client()
        .post(us.url("/v1/rates"))
        .header("x-api-key", NORDLICHT)
        .json(&serde_json::json!({"shipment": "data that must not be stored in us"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rates.status(), 421);

    // And the other way round for a strict US tenant.
    assert_eq!(track(&us, PRAIRIE, "ups").await.status(), 200);
    assert_eq!(track(&eu, PRAIRIE, "ups").await.status(), 421);

    // Nothing of the EU tenant in the US store but the region's own config records
    // (every region's document lists every tenant, to answer 421).
    // (The store is the host's exclusive SQLite file: read it once the host stopped.)
    us.terminate();
    let keys = store_keys(us_state.path());
    let stray: Vec<String> = keys
        .iter()
        .filter(|k| k.contains("nordlicht") && !k.starts_with("config:"))
        .cloned()
        .collect();
    assert!(
        stray.is_empty(),
        "EU tenant data in the US store: {stray:?}"
    );
    assert!(
        keys.iter()
            .any(|k| k.contains("prairie-supply") && k.starts_with("quota/")),
        "the US tenant's own counters are there (the listing works): {keys:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn config_drift_between_regions_shows_in_healthz() {
    let (eu, us) = (region("eu", None).await, region("us", None).await);
    let (a, b) = (
        get_json(eu.url("/healthz")).await,
        get_json(us.url("/healthz")).await,
    );
    assert_eq!(a["region"], "eu");
    assert_eq!(b["region"], "us");
    assert_ne!(
        a["config"]["hash"], b["config"]["hash"],
        "different documents"
    );
    assert!(a["config"]["hash"].as_str().unwrap().starts_with("sha256:"));
}
