//! The router (`ANY /v1/carriers/{carrier}/...`) end to end: the real app behind auth
//! and quota, calling the simulated carriers (the `sandbox` component) as a tenant's
//! upstream. What the carrier received is read from the sandbox's `/_echo` endpoint and
//! from the host's log (one JSON line per request per component).

use sha2::Digest;
use std::time::{Duration, Instant};
use waypost_tests::{Host, HostOptions, client, demo_secret};
use waypost_tests::{demo_document, push_config};

const ADMIN_TOKEN: &str = "router-test-admin-token";

// Public demo keys (infra/regions/local/DEMO-KEYS.md).
const PRAIRIE: &str = "prairie-supply_u1gDU6T_9VBqElXEyLT2hS6POqsxYG5Lkz8rOUl8dE4";
const GLOBEX: &str = "globex_WAwrlcp2SyGGIwMdwic5jUZm-cgr1pfNKNsXhXdeYqY";
const NORDLICHT: &str = "nordlicht_YW-iF_WcMN_yDuRQHFVssr35wwfd2a3j7u-WwrteQoM";

const PROBLEMS: &str = "https://waypost.dev/problems/";
const UPS_TOKEN_ROUTE: &str = "/ups/security/v1/oauth/token";
/// The demo's UPS breaker, as written in the demo document.
const DEMO_UPS_BREAKER: &str =
    "breaker = { failures = 5, credential_failures = 3, window_secs = 30, open_secs = 30 }";

fn start() -> Host {
    waypost_tests::start_app(HostOptions {
        env: vec![("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into())],
        ..Default::default()
    })
}

fn demo() -> String {
    demo_document()
}

async fn push(host: &Host, doc: &str) {
    push_config(host, ADMIN_TOKEN, doc).await
}

/// `doc` with `from` replaced once (which must be there).
fn replaced(doc: &str, from: &str, to: &str) -> String {
    assert!(doc.contains(from), "the demo document has `{from}`");
    doc.replacen(from, to, 1)
}

/// The sandbox's `/_echo` fingerprint of a credential: `sha256:` + 16 hex digits.
fn fingerprint(secret: &str) -> String {
    let hex = format!("{:x}", sha2::Sha256::digest(secret.as_bytes()));
    format!("sha256:{}", &hex[..16])
}

/// The access token the simulated carriers issue for these client credentials at
/// `issued_at` (Unix seconds): hex(SHA-256(`id:secret:issued_at`)).
fn sandbox_token(client_id: &str, client_secret: &str, issued_at: i64) -> String {
    format!(
        "{:x}",
        sha2::Sha256::digest(format!("{client_id}:{client_secret}:{issued_at}").as_bytes())
    )
}

/// The token (and when it was issued) whose echo fingerprint is `shown`
/// (`Bearer sha256:...`), among the tokens these credentials got in `[from, to]`.
fn token_behind(
    shown: &str,
    id_var: &str,
    secret_var: &str,
    from: i64,
    to: i64,
) -> Option<(i64, String)> {
    let (id, secret) = (demo_secret(id_var), demo_secret(secret_var));
    (from..=to)
        .map(|t| (t, sandbox_token(&id, &secret, t)))
        .find(|(_, token)| shown == format!("Bearer {}", fingerprint(token)))
}

fn unix_now() -> i64 {
    waypost_tests::unix_now()
}

/// The host's log lines of `component` as JSON.
fn log_lines(host: &Host, component: &str) -> Vec<serde_json::Value> {
    host.logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["component"] == component)
        .collect()
}

/// Requests the simulated carriers received on `route` (their path, e.g.
/// `/ups/_echo/x`), by the sandbox's log lines.
fn sandbox_calls(host: &Host, route: &str) -> Vec<serde_json::Value> {
    log_lines(host, "sandbox")
        .into_iter()
        .filter(|v| v["route"] == route)
        .collect()
}

/// The number of sandbox calls on `route` once it has stopped changing: waits until
/// at least `expected` arrived (or a few seconds passed), then a little longer for
/// stragglers, since the host's stderr is read by another thread.
async fn settled_calls(host: &Host, route: &str, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while sandbox_calls(host, route).len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    sandbox_calls(host, route).len()
}

/// A request to the gateway with a demo API key.
fn call(host: &Host, method: reqwest::Method, key: &str, path: &str) -> reqwest::RequestBuilder {
    client()
        .request(method, host.url(path))
        .header("x-api-key", key)
}

/// UPS Track through the router (UPS wants `transId` and `transactionSrc`).
fn track(host: &Host, key: &str, number: &str) -> reqwest::RequestBuilder {
    call(
        host,
        reqwest::Method::GET,
        key,
        &format!("/v1/carriers/ups/api/track/v1/details/{number}"),
    )
    .header("transId", "waypost-e2e")
    .header("transactionSrc", "waypost-tests")
}

/// What UPS's `/_echo` received for `key` (GET `/v1/carriers/ups/_echo<suffix>`).
async fn ups_echo(host: &Host, key: &str, suffix: &str) -> serde_json::Value {
    let r = call(
        host,
        reqwest::Method::GET,
        key,
        &format!("/v1/carriers/ups/_echo{suffix}"),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "the echo answers");
    r.json().await.unwrap()
}

/// The `authorization` the carrier saw, as the echo shows it.
fn echoed_authorization(echo: &serde_json::Value) -> String {
    echo["headers"]["authorization"]
        .as_str()
        .unwrap_or_else(|| panic!("the carrier received an authorization: {echo}"))
        .to_string()
}

/// Status, headers and problem body of a refusal, checked to be problem+json of `slug`.
async fn expect_problem(
    r: reqwest::Response,
    status: u16,
    slug: &str,
) -> (reqwest::header::HeaderMap, serde_json::Value) {
    assert_eq!(r.status(), status, "expected {status} {slug}");
    let headers = r.headers().clone();
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "a problem document"
    );
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["type"], format!("{PROBLEMS}{slug}"), "{body}");
    assert_eq!(body["status"], status, "{body}");
    (headers, body)
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> u64 {
    headers
        .get("retry-after")
        .expect("a Retry-After header")
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds")
}

// ---------------------------------------------------------------------------- 1

#[tokio::test(flavor = "multi_thread")]
async fn a_carrier_call_passes_through_with_the_gateway_credential_not_the_callers() {
    let host = start();
    let r = track(&host, PRAIRIE, "1Z999AA10123456784")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let body: serde_json::Value = r.json().await.unwrap();
    let shipment = &body["trackResponse"]["shipment"][0];
    assert_eq!(shipment["inquiryNumber"], "1Z999AA10123456784", "{body}");
    assert_eq!(
        shipment["package"][0]["trackingNumber"], "1Z999AA10123456784",
        "UPS's own shape: {body}"
    );

    // What the carrier received.
    let r = call(
        &host,
        reqwest::Method::GET,
        PRAIRIE,
        "/v1/carriers/ups/_echo",
    )
    .header("x-waypost-tenant", "globex")
    .header("x-waypost-scopes", "admin")
    .header("x-shipper-reference", "order-17")
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.unwrap();
    assert_eq!(echo["carrier"], "ups");
    assert_eq!(echo["path"], "/_echo");
    let headers = echo["headers"].as_object().unwrap();
    assert!(
        !headers.contains_key("x-api-key"),
        "the caller's key is not forwarded: {echo}"
    );
    assert!(
        !echo.to_string().contains(&fingerprint(PRAIRIE)),
        "the caller's key reaches the carrier in no form: {echo}"
    );
    let waypost: Vec<&String> = headers
        .keys()
        .filter(|k| k.starts_with("x-waypost-"))
        .collect();
    assert_eq!(
        waypost,
        ["x-waypost-deadline"],
        "no identity headers upstream, only the remaining budget: {echo}"
    );
    let budget: u64 = headers["x-waypost-deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        budget > 0 && budget <= 15_000,
        "less than the route's 15 s deadline: {budget}"
    );
    let authorization = echoed_authorization(&echo);
    let fp = authorization
        .strip_prefix("Bearer sha256:")
        .unwrap_or_else(|| panic!("a bearer token from the gateway: {authorization}"));
    assert_eq!(fp.len(), 16);
    assert_eq!(
        headers["x-shipper-reference"], "order-17",
        "the caller's own headers go through"
    );
}

// ---------------------------------------------------------------------------- 2

#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_not_enabled_carriers_are_refused() {
    let host = start();
    let r = call(
        &host,
        reqwest::Method::GET,
        PRAIRIE,
        "/v1/carriers/acme-freight/api/track/1",
    )
    .send()
    .await
    .unwrap();
    let (_, p) = expect_problem(r, 404, "unknown-carrier").await;
    assert!(
        p["detail"].as_str().unwrap().contains("acme-freight"),
        "{p}"
    );

    // Nordlicht uses DHL and FedEx, not UPS.
    let r = call(
        &host,
        reqwest::Method::GET,
        NORDLICHT,
        "/v1/carriers/ups/_echo",
    )
    .send()
    .await
    .unwrap();
    let (_, p) = expect_problem(r, 403, "carrier-not-enabled").await;
    assert!(p["detail"].as_str().unwrap().contains("ups"), "{p}");
    assert_eq!(
        settled_calls(&host, "/ups/_echo", 0).await,
        0,
        "UPS was not called"
    );

    // Its own carrier works.
    let r = call(
        &host,
        reqwest::Method::GET,
        NORDLICHT,
        "/v1/carriers/dhl/_echo",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
}

// ---------------------------------------------------------------------------- 3

#[tokio::test(flavor = "multi_thread")]
async fn a_strict_tenant_outside_its_region_gets_421_and_a_relaxed_one_is_served() {
    let host = start();
    let eu = replaced(
        &demo(),
        "[region]\nid = \"local\"\nserves = [\"eu\", \"us\"]",
        "[region]\nid = \"eu\"\nserves = [\"eu\"]",
    );
    push(&host, &eu).await;

    // Prairie Supply: strict, home us. Its body must not be forwarded.
    let r = call(
        &host,
        reqwest::Method::POST,
        PRAIRIE,
        "/v1/carriers/ups/_echo/residency",
    )
    .header("content-type", "application/json")
    .body(r#"{"consignee":"private"}"#)
    .send()
    .await
    .unwrap();
    let (_, p) = expect_problem(r, 421, "wrong-region").await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("https://us.waypost.example"),
        "names the home region's URL: {p}"
    );
    let r = track(&host, PRAIRIE, "1Z999AA10123456784")
        .send()
        .await
        .unwrap();
    expect_problem(r, 421, "wrong-region").await;
    assert_eq!(
        settled_calls(&host, "/ups/_echo/residency", 0).await,
        0,
        "nothing reached the carrier"
    );

    // Globex: relaxed, home us, allowed eu: served here (from the EU upstream).
    let r = track(&host, GLOBEX, "1Z999AA10123456784")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        body["trackResponse"]["shipment"][0]["inquiryNumber"],
        "1Z999AA10123456784"
    );
}

// ---------------------------------------------------------------------------- 4

#[tokio::test(flavor = "multi_thread")]
async fn an_oauth_token_is_fetched_once_per_credential_and_reused() {
    let host = start();
    let started = unix_now();
    // Eight concurrent calls by one tenant on the platform UPS account (starter plan:
    // 10 per second per key, so nine calls in all fit).
    let calls = (0..8).map(|i| {
        let r = track(&host, PRAIRIE, &format!("1Z999AA1012345678{i}")).send();
        async move { r.await.unwrap().status().as_u16() }
    });
    let statuses = futures::future::join_all(calls).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(
        settled_calls(&host, UPS_TOKEN_ROUTE, 1).await,
        1,
        "one token fetch for eight calls"
    );
    let prairie = echoed_authorization(&ups_echo(&host, PRAIRIE, "").await);
    assert_eq!(
        settled_calls(&host, UPS_TOKEN_ROUTE, 1).await,
        1,
        "still cached"
    );

    // Globex calls UPS with its own account: its own token.
    let globex = echoed_authorization(&ups_echo(&host, GLOBEX, "").await);
    assert_eq!(settled_calls(&host, UPS_TOKEN_ROUTE, 2).await, 2);
    assert_ne!(prairie, globex, "tenant accounts never share a token");

    // And each token is the one issued for the right credentials.
    let now = unix_now();
    assert!(
        token_behind(
            &prairie,
            "ups_client_id",
            "ups_client_secret",
            started - 2,
            now + 1
        )
        .is_some(),
        "Prairie Supply's calls use the platform account's token: {prairie}"
    );
    assert!(
        token_behind(
            &globex,
            "globex_ups_client_id",
            "globex_ups_client_secret",
            started - 2,
            now + 1
        )
        .is_some(),
        "Globex's calls use the token of its own UPS account: {globex}"
    );
}

// ---------------------------------------------------------------------------- 5

/// The sandbox is stateless: a token is "expired" when the request's
/// `x-sandbox-reject-token` names it. Its tokens are derived from the client
/// credentials and the second they were issued, and the demo credentials are public,
/// so the test can name the token the gateway holds (found from the echo's
/// fingerprint).
#[tokio::test(flavor = "multi_thread")]
async fn a_carrier_401_refreshes_the_token_once_and_retries() {
    let host = start();
    let started = unix_now();
    let first = echoed_authorization(&ups_echo(&host, PRAIRIE, "").await);
    let (issued, token) = token_behind(
        &first,
        "ups_client_id",
        "ups_client_secret",
        started - 2,
        unix_now() + 1,
    )
    .expect("the cached token is the platform account's");
    assert_eq!(settled_calls(&host, UPS_TOKEN_ROUTE, 1).await, 1);
    // A new token must differ from the old one: wait for the next second.
    while unix_now() <= issued {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The carrier now refuses the cached token: one 401, one refresh, one retry, 200.
    let r = track(&host, PRAIRIE, "1Z999AA10123450001")
        .header("x-sandbox-reject-token", token.as_str())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the caller never sees the expired token");
    assert_eq!(
        settled_calls(&host, UPS_TOKEN_ROUTE, 2).await,
        2,
        "one refresh"
    );
    let track_route = "/ups/api/track/v1/details/1Z999AA10123450001";
    assert_eq!(settled_calls(&host, track_route, 2).await, 2);
    let statuses: Vec<u64> = sandbox_calls(&host, track_route)
        .iter()
        .map(|v| v["status"].as_u64().unwrap())
        .collect();
    assert_eq!(
        statuses,
        [401, 200],
        "refused, then retried with the new token"
    );

    // The refreshed token is cached for the next calls.
    let second = echoed_authorization(&ups_echo(&host, PRAIRIE, "").await);
    assert_ne!(second, first);
    assert!(
        token_behind(
            &second,
            "ups_client_id",
            "ups_client_secret",
            issued + 1,
            unix_now() + 1
        )
        .is_some(),
        "{second}"
    );
    assert_eq!(settled_calls(&host, UPS_TOKEN_ROUTE, 2).await, 2);

    // Refreshed only once: when the carrier refuses every token (all those the next
    // few seconds could issue), the second 401 is the answer.
    let now = unix_now();
    let (id, secret) = (
        demo_secret("ups_client_id"),
        demo_secret("ups_client_secret"),
    );
    let every: Vec<String> = (now - 30..=now + 10)
        .map(|t| sandbox_token(&id, &secret, t))
        .collect();
    let r = track(&host, PRAIRIE, "1Z999AA10123450002")
        .header("x-sandbox-reject-token", every.join(","))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 502, "the carrier's refusal after one refresh");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(
        p["type"], "https://waypost.dev/problems/carrier-credentials-rejected",
        "not a 401: the caller's own credential is fine"
    );
    let track_route = "/ups/api/track/v1/details/1Z999AA10123450002";
    assert_eq!(
        settled_calls(&host, track_route, 2).await,
        2,
        "one retry only"
    );
    assert_eq!(
        settled_calls(&host, UPS_TOKEN_ROUTE, 3).await,
        3,
        "one refresh only"
    );
}

// ---------------------------------------------------------------------------- 6

/// Five POSTs UPS answers 503 (`x-sandbox-fail`), enough to open the demo's breaker of
/// the upstream they reach (POST is never retried, so each is one failure): each
/// answer's headers, the status checked.
async fn fail_ups_five_times(
    host: &Host,
    key: &str,
    path: &str,
) -> Vec<reqwest::header::HeaderMap> {
    let mut answers = Vec::new();
    for _ in 0..5 {
        let r = call(host, reqwest::Method::POST, key, path)
            .header("x-sandbox-fail", "ups=503")
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 503, "the carrier's own 503");
        answers.push(r.headers().clone());
    }
    answers
}

#[tokio::test(flavor = "multi_thread")]
async fn breakers_open_carrier_wide_on_failures_and_per_tenant_on_credentials() {
    let host = start();
    // The demo's UPS breaker, open for 2 s instead of 30, so closing can be shown (2
    // rather than 1: the checks right after it opens must land while it is open, on a
    // busy machine too).
    let open_secs = 2;
    push(
        &host,
        &replaced(
            &demo(),
            DEMO_UPS_BREAKER,
            &DEMO_UPS_BREAKER.replace("open_secs = 30", &format!("open_secs = {open_secs}")),
        ),
    )
    .await;

    // --- A tenant's credentials failing (401 from the carrier, after the refresh)
    // pauses that tenant only (credential_failures = 3).
    for _ in 0..3 {
        let r = call(
            &host,
            reqwest::Method::GET,
            PRAIRIE,
            "/v1/carriers/ups/_echo/cred",
        )
        .header("x-sandbox-status", "401")
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 502, "the carrier's refusal");
    }
    let r = call(
        &host,
        reqwest::Method::GET,
        PRAIRIE,
        "/v1/carriers/ups/_echo/cred-paused",
    )
    .send()
    .await
    .unwrap();
    let (headers, _) = expect_problem(r, 503, "carrier-credentials-failing").await;
    assert!((1..=open_secs).contains(&retry_after(&headers)));
    let r = call(
        &host,
        reqwest::Method::GET,
        GLOBEX,
        "/v1/carriers/ups/_echo/cred-other",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "UPS still serves other tenants");
    assert_eq!(
        settled_calls(&host, "/ups/_echo/cred-paused", 0).await,
        0,
        "the paused call never reached the carrier"
    );
    // After open_secs one probe goes through; a good one closes the tenant's breaker.
    tokio::time::sleep(Duration::from_millis(open_secs * 1000 + 200)).await;
    for _ in 0..2 {
        let r = call(
            &host,
            reqwest::Method::GET,
            PRAIRIE,
            "/v1/carriers/ups/_echo/cred-ok",
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 200);
    }

    // --- Carrier failures (5xx) open the upstream's breaker for every tenant
    // (failures = 5). POST is never retried, so each request is one failure.
    for headers in fail_ups_five_times(&host, GLOBEX, "/v1/carriers/ups/_echo/fail").await {
        assert!(
            headers["content-type"] != "application/problem+json",
            "passed through in the carrier's format"
        );
    }
    assert_eq!(settled_calls(&host, "/ups/_echo/fail", 5).await, 5);
    // Prairie Supply (strict, US upstreams only) made none of these calls, and finds
    // UPS open: refused at once, with Retry-After, without calling the carrier.
    let r = call(
        &host,
        reqwest::Method::GET,
        PRAIRIE,
        "/v1/carriers/ups/_echo/open",
    )
    .send()
    .await
    .unwrap();
    let (headers, p) = expect_problem(r, 503, "circuit-open").await;
    assert!(
        (1..=open_secs).contains(&retry_after(&headers)),
        "{headers:?}"
    );
    assert!(p["detail"].as_str().unwrap().contains("ups"), "{p}");
    assert_eq!(settled_calls(&host, "/ups/_echo/open", 0).await, 0);
    // Globex is relaxed (home us, also allowed eu): while the US upstream is open it
    // is served from the EU one.
    let r = call(
        &host,
        reqwest::Method::GET,
        GLOBEX,
        "/v1/carriers/ups/_echo/open-relaxed",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        200,
        "a relaxed tenant uses another allowed region"
    );

    // Once open_secs passed, a good probe closes it again.
    tokio::time::sleep(Duration::from_millis(open_secs * 1000 + 200)).await;
    for _ in 0..2 {
        let r = call(
            &host,
            reqwest::Method::GET,
            PRAIRIE,
            "/v1/carriers/ups/_echo/open",
        )
        .send()
        .await
        .unwrap();
        assert_eq!(r.status(), 200, "closed after a good probe");
    }
    assert_eq!(settled_calls(&host, "/ups/_echo/open", 2).await, 2);
}

/// The demo with a second UPS carrier, `ups-reserve` (the same API, US only), as UPS's
/// fallback, enabled for Prairie Supply.
fn demo_with_a_ups_fallback() -> String {
    let doc = replaced(
        &demo(),
        "retry = { max_retries = 1, budget_percent = 20 }",
        "retry = { max_retries = 1, budget_percent = 20 }\nfallback = [\"ups-reserve\"]",
    );
    let doc = replaced(
        &doc,
        "[[carriers]]\nid = \"fedex\"",
        r#"[[carriers]]
id = "ups-reserve"
adapter = "ups"
token_url = "http://sandbox.spin.internal/ups/security/v1/oauth/token"
platform = { account_number = "W4YP06", credentials = { client_id = "ups_client_id", client_secret = "ups_client_secret" } }
upstreams = [{ id = "sandbox-us", region = "us", url = "http://sandbox.spin.internal/ups" }]

[[carriers]]
id = "fedex""#,
    );
    replaced(
        &doc,
        "  { carrier = \"ups\", account = \"platform\" },",
        "  { carrier = \"ups\", account = \"platform\" },\n  { carrier = \"ups-reserve\", account = \"platform\" },",
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_carrier_falls_back_to_a_carrier_of_the_same_api() {
    let host = start();
    push(&host, &demo_with_a_ups_fallback()).await;
    // UPS's US upstream fails 5 times (its breaker: failures = 5); the carrier's own
    // answers pass through, from UPS itself.
    for headers in fail_ups_five_times(&host, PRAIRIE, "/v1/carriers/ups/_echo/failing").await {
        assert!(headers.get("x-waypost-served-by").is_none());
    }
    // Open now: Prairie Supply's request goes to its fallback as it came.
    let r = call(
        &host,
        reqwest::Method::GET,
        PRAIRIE,
        "/v1/carriers/ups/_echo/fallen-back?x=1",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200, "served by the fallback");
    assert_eq!(r.headers()["x-waypost-served-by"], "ups-reserve");
    let echo: serde_json::Value = r.json().await.unwrap();
    assert_eq!(echo["method"], "GET", "{echo}");
    assert_eq!(echo["path"], "/_echo/fallen-back", "{echo}");
    assert_eq!(echo["query"], "x=1", "{echo}");
    assert!(
        log_lines(&host, "router")
            .iter()
            .any(|l| l["served_by"] == "ups-reserve" && l["carrier"] == "ups"),
        "the router's line names the carrier that served"
    );
}

// ---------------------------------------------------------------------------- 7

fn idempotent_post(host: &Host, path: &str, key: &str, body: &str) -> reqwest::RequestBuilder {
    call(host, reqwest::Method::POST, GLOBEX, path)
        .header("idempotency-key", key)
        .header("content-type", "application/json")
        .body(body.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_replays_the_first_response_and_never_calls_twice() {
    let host = start();
    let path = "/v1/carriers/ups/_echo/idem-a";
    let first = idempotent_post(&host, path, "order-17-label", r#"{"order":17}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first_body = first.bytes().await.unwrap();

    let again = idempotent_post(&host, path, "order-17-label", r#"{"order":17}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert!(
        again.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    assert_eq!(again.bytes().await.unwrap(), first_body, "the same body");
    assert_eq!(
        settled_calls(&host, "/ups/_echo/idem-a", 1).await,
        1,
        "one carrier call"
    );

    // The same key for another request.
    let other = idempotent_post(&host, path, "order-17-label", r#"{"order":18}"#)
        .send()
        .await
        .unwrap();
    expect_problem(other, 422, "idempotency-key-reused").await;
    assert_eq!(settled_calls(&host, "/ups/_echo/idem-a", 1).await, 1);

    // Five at once while the carrier takes 300 ms: it is called exactly once.
    let path = "/v1/carriers/ups/_echo/idem-b";
    let burst = (0..5).map(|_| {
        let r = idempotent_post(&host, path, "order-18-label", r#"{"order":18}"#)
            .header("x-sandbox-latency-ms", "300")
            .send();
        async move {
            let r = r.await.unwrap();
            let status = r.status().as_u16();
            let replayed = r.headers().get("idempotent-replayed").is_some();
            let retry_after = r.headers().get("retry-after").is_some();
            let body: serde_json::Value = r.json().await.unwrap();
            (status, replayed, retry_after, body)
        }
    });
    let answers = futures::future::join_all(burst).await;
    assert_eq!(
        settled_calls(&host, "/ups/_echo/idem-b", 1).await,
        1,
        "{answers:?}"
    );
    let executed: Vec<_> = answers
        .iter()
        .filter(|(s, replayed, _, _)| *s == 200 && !replayed)
        .collect();
    assert_eq!(executed.len(), 1, "{answers:?}");
    for (status, replayed, retry_after, body) in &answers {
        match status {
            200 if *replayed => assert_eq!(body, &executed[0].3),
            200 => {}
            409 => {
                assert_eq!(body["type"], format!("{PROBLEMS}idempotency-in-flight"));
                assert!(retry_after, "409 carries Retry-After");
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
}

// ---------------------------------------------------------------------------- 8

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_carrier_is_abandoned_at_the_deadline() {
    let host = start();
    let started = Instant::now();
    let r = track(&host, PRAIRIE, "1Z999AA10123456784")
        .header("x-sandbox-hang", "1")
        .header("x-waypost-deadline", "500")
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let (_, p) = expect_problem(r, 504, "upstream-timeout").await;
    assert!(p["detail"].as_str().unwrap().contains("ups"), "{p}");
    // A hang guard, not a timing check: the carrier would hold the call for minutes.
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");

    // The carrier call gets less than what remains of the caller's budget.
    let r = call(
        &host,
        reqwest::Method::GET,
        PRAIRIE,
        "/v1/carriers/ups/_echo",
    )
    .header("x-waypost-deadline", "2000")
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    let echo: serde_json::Value = r.json().await.unwrap();
    let forwarded: u64 = echo["headers"]["x-waypost-deadline"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(forwarded > 0 && forwarded < 2000, "{forwarded}");

    // A budget that is not whole milliseconds is refused before anything is sent.
    let r = track(&host, PRAIRIE, "1Z999AA10123456784")
        .header("x-waypost-deadline", "1.5s")
        .send()
        .await
        .unwrap();
    expect_problem(r, 400, "invalid-deadline").await;
}

// ---------------------------------------------------------------------------- 9

fn ups_rate_request() -> serde_json::Value {
    serde_json::json!({ "RateRequest": {
        "Request": { "TransactionReference": { "CustomerContext": "order-17" } },
        "Shipment": {
            "Shipper": { "Name": "Prairie Supply", "ShipperNumber": "W4YP05", "Address": {
                "AddressLine": ["1 Main St"], "City": "New York", "StateProvinceCode": "NY",
                "PostalCode": "10001", "CountryCode": "US" } },
            "ShipTo": { "Name": "R", "Address": {
                "City": "San Francisco", "StateProvinceCode": "CA", "PostalCode": "94105",
                "CountryCode": "US" } },
            "PaymentDetails": { "ShipmentCharge": [{ "Type": "01",
                "BillShipper": { "AccountNumber": "W4YP05" } }] },
            "Package": [{
                "PackagingType": { "Code": "02" },
                "Dimensions": { "UnitOfMeasurement": { "Code": "IN" },
                    "Length": "10", "Width": "8", "Height": "4" },
                "PackageWeight": { "UnitOfMeasurement": { "Code": "LBS" }, "Weight": "5" },
            }],
        },
    } })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_carrier_not_connected_within_its_connect_timeout_is_unreachable() {
    let unconnectable = waypost_tests::Unconnectable::new();
    let origin = format!("http://127.0.0.1:{}", unconnectable.port);
    let host = waypost_tests::start_app(HostOptions {
        env: vec![
            ("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
            ("SPIN_VARIABLE_CARRIER_EXTRA_ORIGIN".into(), origin.clone()),
        ],
        ..Default::default()
    });
    let dhl = "upstreams = [\n  { id = \"sandbox-eu\", region = \"eu\", url = \"http://sandbox.spin.internal/dhl\" },\n  { id = \"sandbox-us\", region = \"us\", url = \"http://sandbox.spin.internal/dhl\" },\n]";
    let doc = replaced(
        &demo(),
        dhl,
        &format!(
            "connect_timeout_ms = 300\ntimeout_ms = 20000\nupstreams = [\n  {{ id = \"eu\", region = \"eu\", url = \"{origin}\" }},\n  {{ id = \"us\", region = \"us\", url = \"{origin}\" }},\n]"
        ),
    );
    push(&host, &doc).await;
    let started = Instant::now();
    let r = call(
        &host,
        reqwest::Method::GET,
        NORDLICHT,
        "/v1/carriers/dhl/track/shipments",
    )
    .send()
    .await
    .unwrap();
    let elapsed = started.elapsed();
    // 502, not the 504 of the call's 20 s timeout running out.
    let (_, p) = expect_problem(r, 502, "upstream-unreachable").await;
    assert!(p["detail"].as_str().unwrap().contains("dhl"), "{p}");
    // A hang guard, not a timing check: the call's own timeout is 20 s.
    assert!(elapsed < Duration::from_secs(15), "{elapsed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deprecated_carrier_api_version_carries_deprecation_and_sunset() {
    let host = start();
    let r = call(
        &host,
        reqwest::Method::POST,
        PRAIRIE,
        "/v1/carriers/ups/api/rating/v1601/Shop",
    )
    .json(&ups_rate_request())
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["deprecation"], "true");
    assert_eq!(r.headers()["sunset"], "Wed, 30 Jun 2027 00:00:00 GMT");
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body["RateResponse"]["RatedShipment"].is_array(),
        "the carrier's answer: {body}"
    );

    // The current version is not deprecated.
    let r = call(
        &host,
        reqwest::Method::POST,
        PRAIRIE,
        "/v1/carriers/ups/api/rating/v2409/Shop",
    )
    .json(&ups_rate_request())
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers().get("deprecation").is_none());
    assert!(r.headers().get("sunset").is_none());
}
