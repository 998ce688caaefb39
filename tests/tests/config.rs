//! The region config document, applied through the admin API of the real app:
//! validated, applied atomically with a version and hash, and surviving restarts.

use waypost_tests::{Host, HostOptions, client, get_json, workspace_root};

const ADMIN_TOKEN: &str = "test-admin-token";

fn demo() -> String {
    std::fs::read_to_string(workspace_root().join("infra/regions/local/gateway.toml")).unwrap()
}

fn start_app(state_dir: Option<std::path::PathBuf>) -> Host {
    waypost_tests::start_app(HostOptions {
        env: vec![("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into())],
        state_dir,
        ..Default::default()
    })
}

async fn health(host: &Host) -> serde_json::Value {
    get_json(host.url("/healthz")).await
}

async fn put(host: &Host, doc: &str) -> (u16, serde_json::Value) {
    let r = client()
        .put(host.url("/admin/config"))
        .bearer_auth(ADMIN_TOKEN)
        .body(doc.to_string())
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// The demo with the first tenant renamed to `marker` and a `marker-<marker>` region,
/// so two versions can be told apart record by record.
fn variant(marker: &str) -> String {
    let text = demo().replacen(
        "[regions]",
        &format!("[regions]\nmarker-{marker} = \"https://{marker}.example\""),
        1,
    );
    let tenant_at = text.find("[[tenants]]").unwrap();
    let name_at = tenant_at + text[tenant_at..].find("\nname = ").unwrap() + 1;
    let line_end = name_at + text[name_at..].find('\n').unwrap();
    format!(
        "{}name = \"{marker}\"{}",
        &text[..name_at],
        &text[line_end..]
    )
}

fn first_tenant_id() -> String {
    let text = demo();
    let at = text.find("[[tenants]]").unwrap();
    let id_line = text[at..].lines().find(|l| l.starts_with("id = ")).unwrap();
    id_line
        .trim_start_matches("id = ")
        .trim_matches('"')
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_empty_store_serves_the_demo_document() {
    let host = start_app(None);
    let h = health(&host).await;
    assert_eq!(h["config"]["version"], 1);
    let hash = h["config"]["hash"].as_str().unwrap();
    assert!(
        hash.starts_with("sha256:") && hash.len() == 7 + 64,
        "{hash}"
    );
    let r = client()
        .get(host.url("/admin/config"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    let status: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status["hash"], hash, "/healthz and /admin/config agree");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_api_needs_the_admin_token() {
    let host = start_app(None);
    let r = client()
        .get(host.url("/admin/config"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let r = client()
        .put(host.url("/admin/config"))
        .bearer_auth("wrong")
        .body(demo())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer realm=\"waypost-admin\", error=\"invalid_token\", \
         error_description=\"The token is not the admin token.\""
    );
    let body = r.text().await.unwrap();
    assert!(
        !body.contains("wrong") && !body.contains(ADMIN_TOKEN),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_v2_while_requests_run_and_no_request_sees_a_mix() {
    let host = start_app(None);
    let tenant = first_tenant_id();
    let (a, b) = (variant("a"), variant("b"));
    let (status, v) = put(&host, &a).await;
    assert_eq!(status, 200, "{v}");
    let url = host.url(&format!("/admin/tenants/{tenant}"));
    let reader = tokio::spawn(async move {
        let c = client();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..150 {
            let r: serde_json::Value = c
                .get(&url)
                .bearer_auth(ADMIN_TOKEN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let name = r["tenant"]["name"].as_str().unwrap().to_string();
            let regions = r["region"]["regions"].as_object().unwrap();
            assert!(
                regions.contains_key(&format!("marker-{name}")),
                "tenant from one version, region from another: {r}"
            );
            seen.insert(name);
        }
        seen
    });
    for i in 0..20 {
        let doc = if i % 2 == 0 { &b } else { &a };
        let (status, v) = put(&host, doc).await;
        assert_eq!(status, 200, "{v}");
    }
    let seen = reader.await.unwrap();
    assert!(!seen.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_document_is_rejected_with_every_error_and_changes_nothing() {
    let host = start_app(None);
    let (_, v2) = put(&host, &variant("v2")).await;
    let broken = variant("v3")
        .replacen("[region]", "[region]\nunknown_field = 1", 1)
        .replacen("residency = \"strict\"", "residency = \"sometimes\"", 1);
    let (status, problem) = put(&host, &broken).await;
    assert_eq!(status, 400);
    assert_eq!(
        problem["type"],
        "https://waypost.dev/problems/invalid-config"
    );
    let errors = problem["errors"].as_array().unwrap();
    assert!(errors.len() >= 2, "{problem}");
    assert!(
        errors.iter().all(|e| e["line"].as_u64().is_some()),
        "{problem}"
    );
    let h = health(&host).await;
    assert_eq!(h["config"]["version"], v2["version"], "v2 still active");
    assert_eq!(h["config"]["hash"], v2["hash"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_conditional_push_against_a_stale_version_is_a_conflict() {
    let host = start_app(None);
    let (_, v1) = put(&host, &variant("v1")).await;
    let (status, v2) = put(&host, &variant("v2")).await;
    assert_eq!(status, 200, "{v2}");
    let stale = v1["version"].to_string();
    let r = client()
        .put(host.url("/admin/config"))
        .bearer_auth(ADMIN_TOKEN)
        .header("if-match", stale.as_str())
        .body(variant("v3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);
    assert_eq!(health(&host).await["config"]["hash"], v2["hash"]);
    let current = v2["version"].to_string();
    let r = client()
        .put(host.url("/admin/config"))
        .bearer_auth(ADMIN_TOKEN)
        .header("if-match", current.as_str())
        .body(variant("v3"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "a push against the active version applies");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_active_version_survives_a_restart() {
    let state = tempfile::tempdir().unwrap();
    let host = start_app(Some(state.path().to_path_buf()));
    let (_, v2) = put(&host, &variant("kept")).await;
    assert!(host.terminate().success());
    let host = start_app(Some(state.path().to_path_buf()));
    let h = health(&host).await;
    assert_eq!(h["config"]["version"], v2["version"]);
    assert_eq!(h["config"]["hash"], v2["hash"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn config_push_applies_a_file_from_the_cli() {
    let host = start_app(None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(&file, variant("pushed")).unwrap();
    let before = health(&host).await["config"]["version"].as_u64().unwrap();
    let (file_arg, to) = (file.to_str().unwrap().to_string(), host.url(""));
    let push = move |token: &'static str| {
        let (file_arg, to) = (file_arg.clone(), to.clone());
        tokio::task::spawn_blocking(move || {
            waypost_tests::run_host(
                &["config", "push", &file_arg, "--to", &to],
                &[("WAYPOST_ADMIN_TOKEN", token)],
            )
        })
    };
    let (ok, stderr) = push("wrong-token").await.unwrap();
    assert!(!ok && stderr.contains("401"), "{stderr}");
    assert!(
        !stderr.contains("wrong-token"),
        "the token is never echoed: {stderr}"
    );
    let (ok, stderr) = push(ADMIN_TOKEN).await.unwrap();
    assert!(ok, "{stderr}");
    let h = health(&host).await;
    assert_eq!(h["config"]["version"].as_u64().unwrap(), before + 1);

    std::fs::write(
        &file,
        variant("bad").replacen("[region]", "[region]\nnope = 1", 1),
    )
    .unwrap();
    let (ok, stderr) = push(ADMIN_TOKEN).await.unwrap();
    assert!(!ok && stderr.contains("nope"), "{stderr}");
    assert_eq!(
        health(&host).await["config"],
        h["config"],
        "nothing applied"
    );
}

/// Every secret a region's document names is a variable the app declares and grants to
/// the components that read it: carrier credentials and issuer secrets to the handlers
/// behind auth (router, rates), webhook and subscription secrets to webhooks. A name
/// missing there would resolve to nothing at run time.
#[test]
fn every_variable_a_region_document_names_is_declared_and_granted() {
    let manifest: toml::Table = std::fs::read_to_string(workspace_root().join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let declared = manifest["variables"].as_table().unwrap();
    let granted = |component: &str, name: &str| {
        manifest["component"][component]
            .get("variables")
            .and_then(|v| v.as_table())
            .is_some_and(|t| t.contains_key(name))
    };
    for region in ["local", "eu", "us"] {
        let path = workspace_root().join(format!("infra/regions/{region}/gateway.toml"));
        let doc =
            waypost_core::config::parse_and_validate(&std::fs::read_to_string(&path).unwrap())
                .unwrap_or_else(|e| panic!("{region}: {e:?}"));
        let webhook_vars: Vec<String> = doc
            .webhooks
            .iter()
            .flat_map(|w| w.secrets.iter().map(|v| v.as_str().to_string()))
            .chain(
                doc.subscriptions
                    .iter()
                    .map(|s| s.secret.as_str().to_string()),
            )
            .collect();
        for name in doc.variable_names() {
            assert!(
                declared.contains_key(name),
                "{region}: `{name}` is not declared in spin.toml"
            );
            let readers: &[&str] = if webhook_vars.iter().any(|w| w == name) {
                &["webhooks"]
            } else {
                &["router", "rates"]
            };
            for component in readers {
                assert!(
                    granted(component, name),
                    "{region}: `{name}` is not granted to {component}"
                );
            }
        }
    }
}
