//! The simulated USPS as the USPS adapter sees it.

use crate::sandbox::Carrier::Usps;
use crate::sandbox::testkit::{NOW, Req, req};
use serde_json::{Value, json};

const TOKEN: &str = "/oauth2/v3/token";
const BASE: &str = "/prices/v3/base-rates/search";
const TOTAL: &str = "/prices/v3/total-rates/search";
const OPTIONS: &str = "/shipments/v3/options/search";

fn base_body(weight: f64) -> Value {
    json!({
        "originZIPCode": "10001",
        "destinationZIPCode": "94105",
        "weight": weight,
        "length": 10, "width": 8, "height": 4,
        "mailClass": "PRIORITY_MAIL",
        "processingCategory": "MACHINABLE",
        "rateIndicator": "SP",
        "destinationEntryFacilityType": "NONE",
        "priceType": "RETAIL",
        "mailingDate": "2027-01-15",
    })
}

fn post(path: &str, body: &Value) -> Req {
    req(Usps, "POST", path).bearer("usps-token").json(body)
}

fn error_code(body: &Value) -> &str {
    body["error"]["errors"][0]["code"].as_str().unwrap()
}

#[test]
fn the_token_endpoint_takes_json_or_form_credentials() {
    let json_body = json!({ "grant_type": "client_credentials", "client_id": "key", "client_secret": "secret", "scope": "prices" });
    let by_json = req(Usps, "POST", TOKEN).json(&json_body).send().expect(200);
    assert_eq!(by_json["token_type"], "Bearer");
    assert_eq!(by_json["expires_in"], 3600);
    assert_eq!(by_json["issued_at"], NOW * 1000);
    assert_eq!(by_json["scope"], "prices");
    assert_eq!(by_json["client_id"], "key");
    let by_form = req(Usps, "POST", TOKEN)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "key"),
            ("client_secret", "secret"),
        ])
        .send()
        .expect(200);
    assert_eq!(by_form["access_token"], by_json["access_token"]);
}

#[test]
fn token_errors_are_oauth_errors() {
    let res = req(Usps, "POST", TOKEN)
        .json(&json!({ "grant_type": "client_credentials", "client_id": "key" }))
        .send();
    assert!(res.header("www-authenticate").is_some());
    assert_eq!(res.expect(401)["error"], "invalid_client");
    let refresh =
        json!({ "grant_type": "refresh_token", "client_id": "key", "client_secret": "s" });
    assert_eq!(
        req(Usps, "POST", TOKEN).json(&refresh).send().expect(400)["error"],
        "unsupported_grant_type"
    );
    let no_grant = json!({ "client_id": "key", "client_secret": "s" });
    assert_eq!(
        req(Usps, "POST", TOKEN).json(&no_grant).send().expect(400)["error"],
        "invalid_request"
    );
}

#[test]
fn base_rates_price_one_mail_class_without_currency() {
    let body = post(BASE, &base_body(3.0)).send().expect(200);
    let rate = &body["rates"][0];
    assert_eq!(rate["mailClass"], "PRIORITY_MAIL");
    assert_eq!(rate["priceType"], "RETAIL");
    assert_eq!(rate["rateIndicator"], "SP");
    assert_eq!(body["totalBasePrice"], rate["price"]);
    assert!(rate["price"].as_f64().unwrap() > 0.0);
    assert_eq!(rate["zone"].as_str().unwrap().len(), 2);
    assert!(rate.get("currency").is_none());
    assert_eq!(body, post(BASE, &base_body(3.0)).send().expect(200));
    let heavier = post(BASE, &base_body(3.5)).send().expect(200);
    assert!(heavier["totalBasePrice"].as_f64() > body["totalBasePrice"].as_f64());
    let mut commercial = base_body(3.0);
    commercial["priceType"] = json!("COMMERCIAL");
    let commercial = post(BASE, &commercial).send().expect(200);
    assert!(commercial["totalBasePrice"].as_f64() < body["totalBasePrice"].as_f64());
}

#[test]
fn total_rates_give_one_option_per_mail_class_with_extra_services() {
    let mut body = base_body(3.0);
    for field in [
        "mailClass",
        "processingCategory",
        "rateIndicator",
        "destinationEntryFacilityType",
    ] {
        body.as_object_mut().unwrap().remove(field);
    }
    body["mailClasses"] = json!([
        "USPS_GROUND_ADVANTAGE",
        "PRIORITY_MAIL",
        "PRIORITY_MAIL_EXPRESS"
    ]);
    body["extraServices"] = json!([920, 415]);
    let res = post(TOTAL, &body).send().expect(200);
    let options = res["rateOptions"].as_array().unwrap();
    assert_eq!(options.len(), 3);
    let classes: Vec<&str> = options
        .iter()
        .map(|o| o["rates"][0]["mailClass"].as_str().unwrap())
        .collect();
    assert_eq!(
        classes,
        [
            "USPS_GROUND_ADVANTAGE",
            "PRIORITY_MAIL",
            "PRIORITY_MAIL_EXPRESS"
        ]
    );
    let priority = &options[1];
    assert!(priority["totalPrice"].as_f64() > priority["totalBasePrice"].as_f64());
    assert_eq!(priority["extraServices"][0]["price"], 0.0);
    assert_eq!(priority["extraServices"][1]["extraService"], "415");
    let base = post(BASE, &base_body(3.0)).send().expect(200);
    assert_eq!(priority["totalBasePrice"], base["totalBasePrice"]);
}

#[test]
fn shipping_options_give_delivery_dates() {
    let body = json!({
        "pricingOptions": [{ "priceType": "RETAIL" }],
        "originZIPCode": "10001",
        "destinationZIPCode": "94105",
        "packageDescription": { "weight": 3, "length": 10, "width": 8, "height": 4, "mailClass": "PRIORITY_MAIL_EXPRESS", "mailingDate": "2027-01-15" },
    });
    let res = post(OPTIONS, &body).send().expect(200);
    let option = &res["pricingOptions"][0]["shippingOptions"][0];
    assert_eq!(option["mailClass"], "PRIORITY_MAIL_EXPRESS");
    let commitment = &option["rateOptions"][0]["commitment"];
    let date = commitment["scheduleDeliveryDate"].as_str().unwrap();
    assert!(date == "2027-01-18" || date == "2027-01-19", "{date}");
    assert!(
        commitment["name"].as_str().unwrap().ends_with("Day")
            || commitment["name"].as_str().unwrap().ends_with("Days")
    );
    assert_eq!(commitment["guaranteedDelivery"], true);
    let mut all = body.clone();
    all["packageDescription"]
        .as_object_mut()
        .unwrap()
        .remove("mailClass");
    let every = post(OPTIONS, &all).send().expect(200);
    assert!(
        every["pricingOptions"][0]["shippingOptions"]
            .as_array()
            .unwrap()
            .len()
            >= 5
    );
}

#[test]
fn prices_without_a_bearer_token_are_a_usps_401() {
    let res = req(Usps, "POST", BASE).json(&base_body(3.0)).send();
    assert_eq!(
        res.header("www-authenticate"),
        Some("Bearer realm=\"usps\"")
    );
    let body = res.expect(401);
    assert_eq!(body["apiVersion"], "/prices/v3");
    assert_eq!(body["error"]["code"], "401");
    let rejected = post(BASE, &base_body(3.0))
        .header("x-sandbox-reject-token", "usps-token")
        .send();
    assert_eq!(rejected.status(), 401);
}

#[test]
fn bad_price_requests_are_usps_400s_with_their_codes() {
    let mut missing = base_body(3.0);
    missing
        .as_object_mut()
        .unwrap()
        .remove("processingCategory");
    let body = post(BASE, &missing).send().expect(400);
    assert_eq!(error_code(&body), "030010");
    assert_eq!(
        body["error"]["errors"][0]["source"]["parameter"],
        "processingCategory"
    );

    assert_eq!(
        error_code(&post(BASE, &base_body(71.0)).send().expect(400)),
        "030004"
    );
    let mut zip = base_body(3.0);
    zip["destinationZIPCode"] = json!("9410");
    assert_eq!(error_code(&post(BASE, &zip).send().expect(400)), "030001");
    let mut class = base_body(3.0);
    class["mailClass"] = json!("CARRIER_PIGEON");
    assert_eq!(error_code(&post(BASE, &class).send().expect(400)), "030020");
    let mut price_type = base_body(3.0);
    price_type["priceType"] = json!("CHEAP");
    assert_eq!(post(BASE, &price_type).send().status(), 400);
    let mut total = base_body(3.0);
    total.as_object_mut().unwrap().remove("mailClass");
    assert_eq!(
        error_code(&post(TOTAL, &total).send().expect(400)),
        "030010"
    );
}

#[test]
fn tracking_answers_the_v3_tracking_object() {
    let res = req(Usps, "GET", "/tracking/v3/tracking/9400100000000000000000")
        .bearer("t")
        .query("expand=DETAIL")
        .send()
        .expect(200);
    assert_eq!(res["trackingNumber"], "9400100000000000000000");
    assert!(res["statusCategory"].is_string());
    assert!(!res["trackingEvents"].as_array().unwrap().is_empty());
    let summary = req(Usps, "GET", "/tracking/v3/tracking/9400100000000000000000")
        .bearer("t")
        .query("expand=SUMMARY")
        .send()
        .expect(200);
    assert!(summary.get("trackingEvents").is_none());
    let unknown = req(Usps, "GET", "/tracking/v3/tracking/0000")
        .bearer("t")
        .send()
        .expect(404);
    assert_eq!(error_code(&unknown), "150002");
}

#[test]
fn other_paths_answer_in_usps_shape() {
    let body = req(Usps, "GET", "/labels/v3/label").send().expect(404);
    assert_eq!(body["error"]["code"], "404");
    assert_eq!(req(Usps, "GET", BASE).send().header("allow"), Some("POST"));
}
