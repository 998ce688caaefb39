//! The auth middleware end to end, through the real chain (auth → quota → router →
//! simulated carriers): who gets in, what is refused and how, and what the handlers
//! behind auth see.

use serde_json::{Value, json};
use waypost_tests::{
    Host, HostOptions, client, demo_secret, dev_claims, mint_jwt, start_app, wasm, workspace_root,
};

const PRAIRIE: &str = "prairie-supply_u1gDU6T_9VBqElXEyLT2hS6POqsxYG5Lkz8rOUl8dE4";
const PRAIRIE_EXPIRED: &str = "prairie-supply_z-RnKWNORLvT7PN0yu0hI-WYhcUcaU9xsJyE0CVYus4";
const NORDLICHT_REVOKED: &str = "nordlicht_UA0Sk8j3if4Vpi_qtYXEt2-qpQGGKVIiYbz6Ggc5Q58";
const GLOBEX_SCANNER: &str = "globex_n0igoyTYOJ8OueFREuxBfxlQNjur5DsKezoDQsE7Q70";
const ECHO: &str = "/v1/carriers/ups/_echo";

async fn get(
    host: &Host,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut request = client().get(host.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn problem(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|_| panic!("problem+json: {body}"))
}

fn dev_token(claims: &Value) -> String {
    mint_jwt("HS256", demo_secret("dev_jwt_secret").as_bytes(), claims)
}

#[tokio::test(flavor = "multi_thread")]
async fn refusals_are_401_with_a_challenge_and_never_echo_the_credential() {
    let host = start_app(HostOptions::default());

    let (status, headers, body) = get(&host, ECHO, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(headers["www-authenticate"], "Bearer realm=\"waypost\"");
    assert_eq!(headers["content-type"], "application/problem+json");
    let p = problem(&body);
    assert_eq!(p["type"], "https://waypost.dev/problems/unauthorized");
    assert_eq!(
        p["request_id"].as_str(),
        headers["x-request-id"].to_str().ok()
    );

    for key in [
        NORDLICHT_REVOKED,
        PRAIRIE_EXPIRED,
        "prairie-supply_not-a-real-key",
    ] {
        let (status, headers, body) = get(&host, ECHO, &[("x-api-key", key)]).await;
        assert_eq!(status, 401, "{body}");
        let challenge = headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
        assert!(
            !body.contains(key) && !challenge.contains(key),
            "echoed: {body}"
        );
    }
    // A key whose prefix names another tenant than its owner.
    let swapped = PRAIRIE.replacen("prairie-supply", "globex", 1);
    let (status, _, _) = get(&host, ECHO, &[("x-api-key", &swapped)]).await;
    assert_eq!(status, 401);

    let logs = host.logs();
    for secret in [PRAIRIE, NORDLICHT_REVOKED, PRAIRIE_EXPIRED] {
        assert!(!logs.contains(secret), "a key reached the logs");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dev_issuer_tokens_are_verified_with_their_pinned_algorithm() {
    let host = start_app(HostOptions::default());
    let bearer = |t: &str| format!("Bearer {t}");

    let good = dev_token(&dev_claims("prairie-supply", "carriers rates", json!({})));
    let (status, _, body) = get(&host, ECHO, &[("authorization", &bearer(&good))]).await;
    assert_eq!(status, 200, "{body}");

    let refused = [
        // alg none, unsigned.
        mint_jwt(
            "none",
            b"",
            &dev_claims("prairie-supply", "carriers", json!({})),
        ),
        // Signed with another secret.
        mint_jwt(
            "HS256",
            b"not the dev issuer's secret, 32+ bytes",
            &dev_claims("prairie-supply", "carriers", json!({})),
        ),
        // The key is pinned to HS256.
        mint_jwt(
            "HS512",
            demo_secret("dev_jwt_secret").as_bytes(),
            &dev_claims("prairie-supply", "carriers", json!({})),
        ),
        // Expired, not yet valid, wrong audience, unknown tenant.
        dev_token(&dev_claims(
            "prairie-supply",
            "carriers",
            json!({"exp": waypost_tests::unix_now() - 3600}),
        )),
        dev_token(&dev_claims(
            "prairie-supply",
            "carriers",
            json!({"nbf": waypost_tests::unix_now() + 3600}),
        )),
        dev_token(&dev_claims(
            "prairie-supply",
            "carriers",
            json!({"aud": "someone-else"}),
        )),
        dev_token(&dev_claims("initech", "carriers", json!({}))),
    ];
    for token in refused {
        let (status, headers, body) = get(&host, ECHO, &[("authorization", &bearer(&token))]).await;
        assert_eq!(status, 401, "{body}");
        assert!(
            headers["www-authenticate"]
                .to_str()
                .unwrap()
                .contains("invalid_token")
        );
        assert!(!body.contains(&token));
    }

    // An AI agent's token: principal kind `agent`, in the logs.
    let agent = dev_token(&dev_claims(
        "prairie-supply",
        "carriers",
        json!({"sub": "agent-7", "sponsor": "ops@prairie.example"}),
    ));
    let (status, headers, _) = get(&host, ECHO, &[("authorization", &bearer(&agent))]).await;
    assert_eq!(status, 200);
    let id = headers["x-request-id"].to_str().unwrap().to_string();
    assert!(
        host.logged(&format!("\"principal\":\"agent\",\"request_id\":\"{id}\"")),
        "the agent is logged as one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_needs_its_scopes() {
    let host = start_app(HostOptions::default());
    let response = client()
        .post(host.url("/v1/rates"))
        .header("x-api-key", GLOBEX_SCANNER)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        challenge.contains("error=\"insufficient_scope\""),
        "{challenge}"
    );
    assert!(challenge.contains("scope=\"rates\""), "{challenge}");
    let p: Value = response.json().await.unwrap();
    assert_eq!(p["type"], "https://waypost.dev/problems/insufficient-scope");
    // The same key may use the carriers route.
    let (status, _, _) = get(&host, ECHO, &[("x-api-key", GLOBEX_SCANNER)]).await;
    assert_eq!(status, 200);
}

/// Spin routes `/v1/rates/` (a trailing `/`) and `/v1/carriers/ups` to the chains, but no
/// route of the config serves them: they go no further than auth, so no route's scopes
/// or limits can be stepped around.
#[tokio::test(flavor = "multi_thread")]
async fn what_no_configured_route_serves_goes_no_further_than_auth() {
    let host = start_app(HostOptions::default());
    let rates = client()
        .post(host.url("/v1/rates/"))
        .header("x-api-key", GLOBEX_SCANNER)
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(rates.status(), 404);
    let p: Value = rates.json().await.unwrap();
    assert_eq!(p["type"], "https://waypost.dev/problems/no-route", "{p}");
    assert_eq!(p["detail"], "No route of this gateway serves /v1/rates/.");

    let (status, _, body) = get(&host, "/v1/carriers/ups?x=1", &[("x-api-key", PRAIRIE)]).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(
        problem(&body)["type"],
        "https://waypost.dev/problems/no-route"
    );

    let (status, headers, body) = get(&host, "/v1/rates", &[("x-api-key", PRAIRIE)]).await;
    assert_eq!(status, 405, "{body}");
    assert_eq!(headers["allow"], "POST");
    assert_eq!(problem(&body)["detail"], "/v1/rates takes POST, not GET.");
    assert!(host.logged_line(&[
        "\"component\":\"auth\"",
        "\"route\":\"/v1/rates\"",
        "\"refusal\":\"Method Not Allowed\"",
        "\"status\":405",
    ]));
}

#[tokio::test(flavor = "multi_thread")]
async fn identity_headers_sent_by_a_client_are_ignored() {
    let host = start_app(HostOptions::default());
    let (status, headers, body) = get(
        &host,
        ECHO,
        &[
            ("x-api-key", PRAIRIE),
            ("x-waypost-tenant", "globex"),
            ("x-waypost-principal", "user:admin"),
            ("x-waypost-scopes", "*"),
            ("x-waypost-identity-mac", "forged"),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let echo: Value = serde_json::from_str(&body).unwrap();
    let seen = echo["headers"].as_object().unwrap();
    assert!(
        seen.keys()
            .all(|k| !k.starts_with("x-waypost-") || k == "x-waypost-deadline"),
        "identity stays inside the gateway: {seen:?}"
    );
    assert!(!seen.contains_key("x-api-key"));
    let id = headers["x-request-id"].to_str().unwrap();
    assert!(
        host.logged("\"component\":\"router\",\"latency_us\"") && host.logs().contains(&format!("\"request_id\":\"{id}\",\"route\":\"{ECHO}\",\"status\":200,\"tenant\":\"prairie-supply\"")),
        "served as the key's tenant, not the forged one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn handlers_reached_without_auth_refuse() {
    wasm(&["waypost-router", "waypost-rates", "waypost-admin"]);
    let host = Host::start(
        &workspace_root().join("tests/fixtures/no-auth/spin.toml"),
        HostOptions {
            env: vec![(
                "SPIN_VARIABLE_IDENTITY_SECRET".into(),
                demo_secret("identity_secret"),
            )],
            ..Default::default()
        },
    )
    .expect("the unprotected app starts");
    for path in [ECHO, "/v1/rates", "/admin/config"] {
        let (status, _, body) = get(&host, path, &[("x-api-key", PRAIRIE)]).await;
        assert_eq!(status, 401, "{path}: {body}");
        let (status, _, body) = get(
            &host,
            path,
            &[
                ("x-waypost-tenant", "globex"),
                ("x-waypost-principal", "operator:admin"),
                ("x-waypost-scopes", "*"),
                ("x-waypost-request-id", "r1"),
                ("x-waypost-identity-mac", "AAAA"),
            ],
        )
        .await;
        assert_eq!(status, 401, "{path}: {body}");
        assert_eq!(
            problem(&body)["detail"],
            "The identity headers are not signed by authentication."
        );
    }
}
