//! The simulated FedEx as the FedEx adapter sees it.

use crate::sandbox::Carrier::Fedex;
use crate::sandbox::testkit::{Req, req};
use serde_json::{Value, json};

const TOKEN: &str = "/oauth/token";
const QUOTES: &str = "/rate/v1/rates/quotes";

fn token_form(pairs: &[(&str, &str)]) -> Req {
    req(Fedex, "POST", TOKEN).form(pairs)
}

fn quote_body(weight: f64) -> Value {
    json!({
        "accountNumber": { "value": "740561073" },
        "rateRequestControlParameters": { "returnTransitTimes": true },
        "requestedShipment": {
            "shipper": { "address": { "postalCode": "10001", "countryCode": "US" } },
            "recipient": { "address": { "postalCode": "94105", "countryCode": "US" } },
            "pickupType": "DROPOFF_AT_FEDEX_LOCATION",
            "shipDateStamp": "2027-01-15",
            "rateRequestType": ["ACCOUNT"],
            "requestedPackageLineItems": [{ "weight": { "units": "LB", "value": weight } }],
        },
    })
}

fn quotes(body: &Value) -> Req {
    req(Fedex, "POST", QUOTES).bearer("fx-token").json(body)
}

fn details(body: &Value) -> &Vec<Value> {
    body["output"]["rateReplyDetails"].as_array().unwrap()
}

/// (serviceType, totalNetCharge of the first rate type) per service.
fn prices(body: &Value) -> Vec<(String, f64)> {
    details(body)
        .iter()
        .map(|d| {
            let net = d["ratedShipmentDetails"][0]["totalNetCharge"]
                .as_f64()
                .unwrap();
            (d["serviceType"].as_str().unwrap().to_string(), net)
        })
        .collect()
}

fn error_code(body: &Value) -> &str {
    body["errors"][0]["code"].as_str().unwrap()
}

#[test]
fn the_token_endpoint_takes_credentials_from_the_form_body() {
    let body = token_form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "fx-key"),
        ("client_secret", "fx-secret"),
    ])
    .send()
    .expect(200);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "CXS");
    assert_eq!(body["access_token"].as_str().unwrap().len(), 64);
}

#[test]
fn a_token_request_without_form_credentials_is_a_fedex_401() {
    let basic_only = req(Fedex, "POST", TOKEN)
        .basic("fx-key", "fx-secret")
        .form(&[("grant_type", "client_credentials")]);
    let blank = token_form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "fx-key"),
        ("client_secret", ""),
    ]);
    for request in [basic_only, blank] {
        let body = request.send().expect(401);
        assert_eq!(error_code(&body), "NOT.AUTHORIZED.ERROR");
        assert!(body["transactionId"].is_string());
    }
    let bad_grant = token_form(&[
        ("grant_type", "password"),
        ("client_id", "k"),
        ("client_secret", "s"),
    ]);
    assert_eq!(bad_grant.send().status(), 400);
}

#[test]
fn quotes_list_every_domestic_service_with_fedex_money_and_transit() {
    let res = quotes(&quote_body(5.0))
        .header("x-customer-transaction-id", "cx-9")
        .send();
    let body = res.expect(200);
    assert_eq!(body["customerTransactionId"], "cx-9");
    assert_eq!(body["output"]["quoteDate"], "2027-01-15");
    let services: Vec<String> = prices(&body).into_iter().map(|(s, _)| s).collect();
    assert_eq!(
        services,
        [
            "FEDEX_GROUND",
            "FEDEX_EXPRESS_SAVER",
            "FEDEX_2_DAY",
            "STANDARD_OVERNIGHT",
            "PRIORITY_OVERNIGHT"
        ]
    );
    let overnight = &details(&body)[4];
    let rated = &overnight["ratedShipmentDetails"][0];
    assert_eq!(rated["rateType"], "ACCOUNT");
    assert!(rated["totalNetCharge"].is_f64());
    assert_eq!(rated["shipmentRateDetail"]["currency"], "USD");
    assert_eq!(
        overnight["commit"]["transitDays"]["minimumTransitTime"],
        "ONE_DAY"
    );
    // Shipped Friday 2027-01-15, overnight arrives Monday.
    assert_eq!(
        overnight["commit"]["dateDetail"]["dayFormat"],
        "2027-01-18T10:30:00"
    );
    assert_eq!(overnight["commit"]["dateDetail"]["dayOfWeek"], "MON");
    assert_eq!(overnight["operationalDetail"]["transitTime"], "ONE_DAY");
    let ground_days = details(&body)[0]["commit"]["daysInTransit"]
        .as_str()
        .unwrap();
    assert!(ground_days.ends_with("_DAY") || ground_days.ends_with("_DAYS"));
}

#[test]
fn the_same_quote_is_repeatable_and_weight_raises_every_price() {
    let first = prices(&quotes(&quote_body(5.0)).send().expect(200));
    assert_eq!(first, prices(&quotes(&quote_body(5.0)).send().expect(200)));
    let heavier = prices(&quotes(&quote_body(5.5)).send().expect(200));
    for ((service, light), (_, heavy)) in first.iter().zip(&heavier) {
        assert!(heavy > light, "{service}: {heavy} > {light}");
    }
}

#[test]
fn service_type_residential_and_rate_types_shape_the_answer() {
    let mut body = quote_body(5.0);
    body["requestedShipment"]["serviceType"] = json!("FEDEX_2_DAY");
    body["requestedShipment"]["rateRequestType"] = json!(["LIST", "ACCOUNT"]);
    let one = quotes(&body).send().expect(200);
    assert_eq!(details(&one).len(), 1);
    let rated = details(&one)[0]["ratedShipmentDetails"].as_array().unwrap();
    assert_eq!(rated[0]["rateType"], "LIST");
    assert!(rated[1]["totalNetCharge"].as_f64() < rated[0]["totalNetCharge"].as_f64());

    body["requestedShipment"]["serviceType"] = json!("INTERNATIONAL_PRIORITY");
    let unavailable = quotes(&body).send().expect(400);
    assert_eq!(error_code(&unavailable), "RATE.LOCATION.NOSERVICE");

    let mut home = quote_body(5.0);
    home["requestedShipment"]["recipient"]["address"]["residential"] = json!(true);
    assert_eq!(
        details(&quotes(&home).send().expect(200))[0]["serviceType"],
        "GROUND_HOME_DELIVERY"
    );

    let mut abroad = quote_body(2.0);
    abroad["requestedShipment"]["recipient"]["address"] =
        json!({ "postalCode": "EC1A 1BB", "countryCode": "GB" });
    let services: Vec<String> = prices(&quotes(&abroad).send().expect(200))
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert!(
        services.iter().all(|s| s.starts_with("INTERNATIONAL_")),
        "{services:?}"
    );
}

#[test]
fn group_package_count_multiplies_the_weight() {
    let mut grouped = quote_body(2.0);
    grouped["requestedShipment"]["requestedPackageLineItems"][0]["groupPackageCount"] = json!(3);
    assert_eq!(
        prices(&quotes(&grouped).send().expect(200)),
        prices(&quotes(&quote_body(6.0)).send().expect(200))
    );
}

#[test]
fn quotes_without_a_bearer_token_are_a_fedex_401() {
    let res = req(Fedex, "POST", QUOTES).json(&quote_body(5.0)).send();
    assert_eq!(
        res.header("www-authenticate"),
        Some("Bearer realm=\"fedex\"")
    );
    assert_eq!(error_code(&res.expect(401)), "NOT.AUTHORIZED.ERROR");
    let rejected = quotes(&quote_body(5.0))
        .header("x-sandbox-reject-token", "fx-token")
        .send();
    assert_eq!(error_code(&rejected.expect(401)), "NOT.AUTHORIZED.ERROR");
}

#[test]
fn a_quote_missing_required_fields_is_a_fedex_400() {
    let mut body = quote_body(5.0);
    body.as_object_mut().unwrap().remove("accountNumber");
    let res = quotes(&body).send().expect(400);
    assert_eq!(error_code(&res), "INVALID.INPUT.EXCEPTION");
    assert_eq!(
        res["errors"][0]["parameterList"][0]["value"],
        "accountNumber.value"
    );
    assert!(res["transactionId"].is_string());

    for (path, value) in [
        ("pickupType", json!("WHENEVER")),
        ("requestedPackageLineItems", json!([])),
        (
            "requestedPackageLineItems",
            json!([{ "weight": { "units": "STONE", "value": 1 } }]),
        ),
        (
            "requestedPackageLineItems",
            json!([{ "weight": { "units": "LB" } }]),
        ),
        ("shipDateStamp", json!("15/01/2027")),
        ("rateRequestType", json!(["CHEAPEST"])),
        ("shipper", json!({ "address": { "countryCode": "US" } })),
    ] {
        let mut body = quote_body(5.0);
        body["requestedShipment"][path] = value;
        let res = quotes(&body).send();
        assert_eq!(res.status(), 400, "{path}");
    }
}

#[test]
fn tracking_answers_complete_track_results() {
    let body = json!({ "includeDetailedScans": true, "trackingInfo": [
        { "trackingNumberInfo": { "trackingNumber": "794843185271" } },
        { "trackingNumberInfo": { "trackingNumber": "000000000000" } },
    ] });
    let res = req(Fedex, "POST", "/track/v1/trackingnumbers")
        .bearer("t")
        .json(&body)
        .send()
        .expect(200);
    let results = res["output"]["completeTrackResults"].as_array().unwrap();
    assert_eq!(results[0]["trackingNumber"], "794843185271");
    let known = &results[0]["trackResults"][0];
    assert!(known["latestStatusDetail"]["code"].is_string());
    assert!(!known["scanEvents"].as_array().unwrap().is_empty());
    assert_eq!(
        results[1]["trackResults"][0]["error"]["code"],
        "TRACKING.TRACKINGNUMBER.NOTFOUND"
    );
}

#[test]
fn other_paths_and_methods_answer_in_fedex_shape() {
    assert_eq!(
        error_code(&req(Fedex, "GET", "/ship/v1/shipments").send().expect(404)),
        "NOT.FOUND.ERROR"
    );
    let res = req(Fedex, "GET", QUOTES).send();
    assert_eq!(res.header("allow"), Some("POST"));
    assert_eq!(res.status(), 405);
}
