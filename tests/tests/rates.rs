//! Rate shopping (`POST /v1/rates`) end to end: the real app behind auth and quota,
//! asking the simulated carriers (the `sandbox` component) in parallel. Faults are
//! injected with `x-sandbox-*` request headers, which the gateway forwards to every
//! carrier call (`ups=...` scopes a fault to one carrier).

use std::time::{Duration, Instant};
use waypost_tests::{Host, HostOptions, client};
use waypost_tests::{demo_document, edited, push_config};

const ADMIN_TOKEN: &str = "rates-test-admin-token";

// Public demo keys (infra/regions/local/DEMO-KEYS.md). Globex uses all four carriers
// (pro plan); Prairie Supply uses UPS, FedEx and USPS (starter plan: 10 units per
// second per key, 30 per minute on /v1/rates, and a rate request weighs 5).
const GLOBEX: &str = "globex_WAwrlcp2SyGGIwMdwic5jUZm-cgr1pfNKNsXhXdeYqY";
const PRAIRIE: &str = "prairie-supply_u1gDU6T_9VBqElXEyLT2hS6POqsxYG5Lkz8rOUl8dE4";

const PROBLEMS: &str = "https://waypost.dev/problems/";

fn start() -> Host {
    waypost_tests::start_app(HostOptions {
        env: vec![("SPIN_VARIABLE_ADMIN_TOKEN".into(), ADMIN_TOKEN.into())],
        ..Default::default()
    })
}

fn demo() -> String {
    demo_document()
}

fn replaced(doc: &str, from: &str, to: &str) -> String {
    edited(doc, from, to)
}

async fn push(host: &Host, doc: &str) {
    push_config(host, ADMIN_TOKEN, doc).await
}

/// Today (UTC) as `YYYY-MM-DD`.
fn today() -> String {
    waypost_tests::civil_date(waypost_tests::unix_now())
}

/// A valid domestic US rate request shipping today (every demo carrier serves the lane).
fn shipment() -> serde_json::Value {
    waypost_tests::us_rate_request(&today())
}

fn rates(host: &Host, key: &str, body: &serde_json::Value) -> reqwest::RequestBuilder {
    client()
        .post(host.url("/v1/rates"))
        .header("x-api-key", key)
        .json(body)
}

/// A 200 answer's body, checked to be JSON.
async fn answer(r: reqwest::Response) -> serde_json::Value {
    let status = r.status();
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/json");
    body
}

/// `carrier → status` of an answer's (or a problem's) `carriers` list, which is
/// ordered by carrier id.
fn statuses(body: &serde_json::Value) -> Vec<(String, String)> {
    let carriers = body["carriers"].as_array().expect("a `carriers` list");
    let ids: Vec<&str> = carriers
        .iter()
        .map(|c| c["carrier"].as_str().unwrap())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted, "carriers are listed by id");
    carriers
        .iter()
        .map(|c| {
            (
                c["carrier"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn status_of(body: &serde_json::Value, carrier: &str) -> String {
    statuses(body)
        .into_iter()
        .find(|(c, _)| c == carrier)
        .unwrap_or_else(|| panic!("{carrier} is reported: {body}"))
        .1
}

fn quotes(body: &serde_json::Value) -> &Vec<serde_json::Value> {
    body["quotes"].as_array().expect("a `quotes` list")
}

fn quoted_carriers(body: &serde_json::Value) -> std::collections::BTreeSet<String> {
    quotes(body)
        .iter()
        .map(|q| q["carrier"].as_str().unwrap().to_string())
        .collect()
}

/// Quotes in `currency` come first, cheapest first.
fn assert_sorted_by_price(body: &serde_json::Value, currency: &str) {
    let prices: Vec<(bool, i64)> = quotes(body)
        .iter()
        .map(|q| {
            (
                q["price"]["currency"] != currency,
                q["price"]["amount_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    let in_currency: Vec<i64> = prices
        .iter()
        .take_while(|(other, _)| !other)
        .map(|(_, a)| *a)
        .collect();
    assert!(
        prices
            .iter()
            .skip(in_currency.len())
            .all(|(other, _)| *other),
        "the request's currency first: {body}"
    );
    assert!(
        in_currency.windows(2).all(|w| w[0] <= w[1]),
        "cheapest first: {in_currency:?}"
    );
}

// ---------------------------------------------------------------------------- 1

#[tokio::test(flavor = "multi_thread")]
async fn every_carrier_is_asked_at_once_and_quotes_come_sorted_by_price() {
    let host = start();
    // Once without faults, so each carrier's OAuth token is cached.
    let warm = answer(rates(&host, GLOBEX, &shipment()).send().await.unwrap()).await;
    assert_eq!(statuses(&warm).len(), 4, "{warm}");

    let started = Instant::now();
    let r = rates(&host, GLOBEX, &shipment())
        .header("x-sandbox-latency-ms", "300")
        .send()
        .await
        .unwrap();
    let body = answer(r).await;
    let elapsed = started.elapsed();
    assert_eq!(
        statuses(&body),
        [
            ("dhl".to_string(), "ok".to_string()),
            ("fedex".into(), "ok".into()),
            ("ups".into(), "ok".into()),
            ("usps".into(), "ok".into()),
        ],
        "{body}"
    );
    assert_eq!(
        quoted_carriers(&body).into_iter().collect::<Vec<_>>(),
        ["dhl", "fedex", "ups", "usps"],
        "every carrier quoted"
    );
    for q in quotes(&body) {
        assert!(
            q["service_code"].is_string() && q["service_name"].is_string(),
            "{q}"
        );
        assert!(q["price"]["amount_minor"].as_i64().unwrap() > 0, "{q}");
    }
    assert_sorted_by_price(&body, "USD");
    // Four carriers of 300 ms each, asked in parallel: well under the 1.2 s in a row.
    assert!(
        elapsed < Duration::from_millis(4 * 300 * 3 / 4),
        "{elapsed:?}"
    );
}

// ---------------------------------------------------------------------------- 2

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_carrier_times_out_and_the_others_still_answer() {
    let host = start();
    let started = Instant::now();
    let r = rates(&host, GLOBEX, &shipment())
        .header("x-sandbox-hang", "ups=1")
        .header("x-waypost-deadline", "1500")
        .send()
        .await
        .unwrap();
    let body = answer(r).await;
    // A hang guard, not a timing check: UPS would hold the call for minutes.
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        statuses(&body),
        [
            ("dhl".to_string(), "ok".to_string()),
            ("fedex".into(), "ok".into()),
            ("ups".into(), "timeout".into()),
            ("usps".into(), "ok".into()),
        ],
        "{body}"
    );
    assert_eq!(
        quoted_carriers(&body).into_iter().collect::<Vec<_>>(),
        ["dhl", "fedex", "usps"]
    );
    assert_sorted_by_price(&body, "USD");
}

// ---------------------------------------------------------------------------- 3

#[tokio::test(flavor = "multi_thread")]
async fn when_no_carrier_answers_the_answer_is_504_with_each_status() {
    let host = start();
    let r = rates(&host, GLOBEX, &shipment())
        .header("x-sandbox-fail", "503")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 504);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["type"], format!("{PROBLEMS}no-carrier-answered"), "{p}");
    assert_eq!(p["status"], 504);
    assert_eq!(
        statuses(&p),
        [
            ("dhl".to_string(), "error".to_string()),
            ("fedex".into(), "error".into()),
            ("ups".into(), "error".into()),
            ("usps".into(), "error".into()),
        ],
        "{p}"
    );
    for c in p["carriers"].as_array().unwrap() {
        assert!(
            c["message"].as_str().is_some_and(|m| !m.is_empty()),
            "an error says why: {c}"
        );
    }
}

// ---------------------------------------------------------------------------- 4

#[tokio::test(flavor = "multi_thread")]
async fn a_spent_carrier_account_is_reported_quota_exceeded() {
    let host = start();
    // The shared USPS platform account: 1 call per hour instead of 60.
    push(
        &host,
        &replaced(
            &demo(),
            "carrier = \"usps\"\naccount = \"platform\"\nrate = 60\n",
            "carrier = \"usps\"\naccount = \"platform\"\nrate = 1\n",
        ),
    )
    .await;
    let first = answer(rates(&host, GLOBEX, &shipment()).send().await.unwrap()).await;
    assert_eq!(status_of(&first, "usps"), "ok", "{first}");
    let second = answer(rates(&host, GLOBEX, &shipment()).send().await.unwrap()).await;
    assert_eq!(
        statuses(&second),
        [
            ("dhl".to_string(), "ok".to_string()),
            ("fedex".into(), "ok".into()),
            ("ups".into(), "ok".into()),
            ("usps".into(), "quota_exceeded".into()),
        ],
        "a status, not an error: {second}"
    );
    assert!(!quoted_carriers(&second).contains("usps"));
    // The account is shared: another tenant on it finds it spent too.
    let prairie = answer(rates(&host, PRAIRIE, &shipment()).send().await.unwrap()).await;
    assert_eq!(status_of(&prairie, "usps"), "quota_exceeded", "{prairie}");

    // A carrier's own 429 is the same status.
    let limited = answer(
        rates(&host, GLOBEX, &shipment())
            .header("x-sandbox-429", "fedex=30")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status_of(&limited, "fedex"), "quota_exceeded", "{limited}");
    assert_eq!(status_of(&limited, "ups"), "ok", "{limited}");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_breaker_is_reported_circuit_open() {
    let host = start();
    // The demo's UPS breaker opens after 5 failures in 30 s. Prairie Supply is strict
    // (US upstreams only) and may send 2 rate requests per second: paced.
    let pace = Duration::from_millis(600);
    for _ in 0..5 {
        let body = answer(
            rates(&host, PRAIRIE, &shipment())
                .header("x-sandbox-fail", "ups=503")
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_eq!(status_of(&body, "ups"), "error", "{body}");
        tokio::time::sleep(pace).await;
    }
    let body = answer(rates(&host, PRAIRIE, &shipment()).send().await.unwrap()).await;
    assert_eq!(
        statuses(&body),
        [
            ("fedex".to_string(), "ok".to_string()),
            ("ups".into(), "circuit_open".into()),
            ("usps".into(), "ok".into()),
        ],
        "a status, not an error: {body}"
    );
    assert!(!quoted_carriers(&body).contains("ups"));
}

// ---------------------------------------------------------------------------- 5

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_request_names_every_bad_field() {
    let host = start();
    let mut body = shipment();
    body.as_object_mut().unwrap().remove("destination");
    body["parcels"][0]["weight"]["value"] = serde_json::json!(-2);
    let r = rates(&host, GLOBEX, &body).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["type"], format!("{PROBLEMS}invalid-request"), "{p}");
    let paths: Vec<&str> = p["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("an `errors` list: {p}"))
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"/destination"), "{p}");
    assert!(paths.contains(&"/parcels/0/weight/value"), "{p}");
    assert_eq!(paths.len(), 2, "only the bad fields: {p}");
    for e in p["errors"].as_array().unwrap() {
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()), "{e}");
    }

    let r = client()
        .post(host.url("/v1/rates"))
        .header("x-api-key", GLOBEX)
        .header("content-type", "application/json")
        .body("{\"origin\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "malformed JSON is a 400, never a 500");
    let p: serde_json::Value = r.json().await.unwrap();
    assert_eq!(p["type"], format!("{PROBLEMS}invalid-request"), "{p}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filtered_carrier_the_tenant_does_not_use_is_not_enabled() {
    let host = start();
    let mut body = shipment();
    body["carriers"] = serde_json::json!(["ups", "dhl"]);
    // Prairie Supply uses UPS, FedEx and USPS: DHL is not its carrier.
    let body = answer(rates(&host, PRAIRIE, &body).send().await.unwrap()).await;
    assert_eq!(
        statuses(&body),
        [
            ("dhl".to_string(), "not_enabled".to_string()),
            ("ups".into(), "ok".into()),
        ],
        "only the named carriers: {body}"
    );
    assert_eq!(
        quoted_carriers(&body).into_iter().collect::<Vec<_>>(),
        ["ups"]
    );
}

// ---------------------------------------------------------------------------- 6

#[tokio::test(flavor = "multi_thread")]
async fn sort_by_delivery_puts_the_earliest_delivery_first() {
    let host = start();
    let mut body = shipment();
    body["sort"] = serde_json::json!("delivery");
    let body = answer(rates(&host, GLOBEX, &body).send().await.unwrap()).await;
    assert!(statuses(&body).iter().all(|(_, s)| s == "ok"), "{body}");
    let dates: Vec<Option<String>> = quotes(&body)
        .iter()
        .map(|q| q["estimated_delivery_date"].as_str().map(str::to_string))
        .collect();
    let dated: Vec<&String> = dates.iter().map_while(|d| d.as_ref()).collect();
    assert!(
        dates.iter().skip(dated.len()).all(Option::is_none),
        "quotes without a date come last: {dates:?}"
    );
    assert!(
        dated.windows(2).all(|w| w[0] <= w[1]),
        "earliest delivery first: {dates:?}"
    );
    let distinct: std::collections::BTreeSet<&String> = dated.iter().copied().collect();
    assert!(
        distinct.len() >= 2,
        "the lane has faster and slower services: {dates:?}"
    );
    // Not the price order: the cheapest (a ground service) is not the fastest.
    let prices: Vec<i64> = quotes(&body)
        .iter()
        .map(|q| q["price"]["amount_minor"].as_i64().unwrap())
        .collect();
    assert!(
        prices.windows(2).any(|w| w[0] > w[1]),
        "faster services cost more: {prices:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hedged_carrier_gets_a_second_request_when_the_first_is_slow() {
    let host = start();
    // UPS hedges after 50 ms; FedEx does not hedge.
    let doc = replaced(
        &demo(),
        "retry = { max_retries = 1, budget_percent = 20 }",
        "retry = { max_retries = 1, budget_percent = 20 }\nhedge_after_ms = 50",
    );
    push(&host, &doc).await;
    let r = rates(&host, GLOBEX, &shipment())
        .header("x-sandbox-latency-ms", "ups=300,fedex=300")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body = answer(r).await;
    assert_eq!(status_of(&body, "ups"), "ok");
    assert_eq!(status_of(&body, "fedex"), "ok");
    let calls = |carrier: &str| {
        host.logs()
            .lines()
            .filter(|l| {
                l.contains("\"component\":\"sandbox\"")
                    && l.contains(&format!("\"request_id\":\"{id}\""))
                    && l.contains(&format!("\"route\":\"/{carrier}/"))
                    && !l.contains("token")
            })
            .count()
    };
    // The hedge's answer may still be on its way when the first one wins.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while calls("ups") < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(calls("ups"), 2, "the slow UPS call was hedged");
    assert_eq!(calls("fedex"), 1, "FedEx is not hedged");
}
