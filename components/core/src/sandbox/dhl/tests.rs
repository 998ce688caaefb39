//! The simulated DHL Express as the DHL adapter sees it.

use crate::sandbox::Carrier::Dhl;
use crate::sandbox::testkit::{Req, req};
use serde_json::{Value, json};

const QUERY: &str = "accountNumber=123456789&originCountryCode=DE&originCityName=Leipzig&originPostalCode=04435\
&destinationCountryCode=US&destinationCityName=New%20York&destinationPostalCode=10001&weight=2.5&length=30\
&width=20&height=10&plannedShippingDate=2027-01-15&isCustomsDeclarable=true&unitOfMeasurement=metric";

fn get_rates(query: &str) -> Req {
    req(Dhl, "GET", "/rates")
        .basic("dhl-user", "dhl-pass")
        .query(query)
}

fn post_body(weight: f64) -> Value {
    json!({
        "customerDetails": {
            "shipperDetails": { "postalCode": "04435", "cityName": "Leipzig", "countryCode": "DE" },
            "receiverDetails": { "postalCode": "10001", "cityName": "New York", "countryCode": "US" },
        },
        "accounts": [{ "typeCode": "shipper", "number": "123456789" }],
        "plannedShippingDateAndTime": "2027-01-15T14:00:00GMT+01:00",
        "unitOfMeasurement": "metric",
        "isCustomsDeclarable": true,
        "packages": [{ "weight": weight, "dimensions": { "length": 30, "width": 20, "height": 10 } }],
    })
}

fn post_rates(body: &Value) -> Req {
    req(Dhl, "POST", "/rates")
        .basic("dhl-user", "dhl-pass")
        .json(body)
}

/// (productCode, BILLC price) per product.
fn prices(body: &Value) -> Vec<(String, f64)> {
    body["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let billc = p["totalPrice"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["currencyType"] == "BILLC")
                .unwrap();
            (
                p["productCode"].as_str().unwrap().to_string(),
                billc["price"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn get_rates_lists_express_products_in_mydhl_shape() {
    let body = get_rates(QUERY).send().expect(200);
    let codes: Vec<String> = prices(&body).into_iter().map(|(c, _)| c).collect();
    assert_eq!(codes, ["P", "Y", "E", "H"]);
    let worldwide = &body["products"][0];
    assert_eq!(worldwide["productName"], "EXPRESS WORLDWIDE");
    assert_eq!(worldwide["totalPrice"][0]["priceCurrency"], "EUR");
    let delivery = &worldwide["deliveryCapabilities"];
    let eta = delivery["estimatedDeliveryDateAndTime"].as_str().unwrap();
    assert_eq!(eta.len(), 19);
    assert_eq!(&eta[10..11], " ");
    assert!(delivery["totalTransitDays"].as_i64().unwrap() >= 1);
    assert_eq!(worldwide["weight"]["provided"], 2.5);
    assert_eq!(worldwide["weight"]["volumetric"], 1.2);
}

#[test]
fn get_and_post_price_the_same_shipment_alike_and_repeatably() {
    let by_query = prices(&get_rates(QUERY).send().expect(200));
    let by_body = prices(&post_rates(&post_body(2.5)).send().expect(200));
    assert_eq!(by_query, by_body);
    assert_eq!(
        by_body,
        prices(&post_rates(&post_body(2.5)).send().expect(200))
    );
    let heavier = prices(&post_rates(&post_body(3.0)).send().expect(200));
    for ((code, light), (_, heavy)) in by_body.iter().zip(&heavier) {
        assert!(heavy > light, "{code}: {heavy} > {light}");
    }
}

#[test]
fn documents_domestic_lanes_and_product_codes_choose_the_products() {
    let documents =
        get_rates(&QUERY.replace("isCustomsDeclarable=true", "isCustomsDeclarable=false"))
            .send()
            .expect(200);
    assert_eq!(prices(&documents)[0].0, "D");
    let domestic = QUERY.replace("destinationCountryCode=US", "destinationCountryCode=DE");
    assert_eq!(prices(&get_rates(&domestic).send().expect(200))[0].0, "N");
    let mut one = post_body(2.5);
    one["productCode"] = json!("Y");
    assert_eq!(prices(&post_rates(&one).send().expect(200)).len(), 1);
    one["productCode"] = json!("N");
    assert_eq!(post_rates(&one).send().status(), 400);
}

#[test]
fn the_real_base_path_works_too() {
    let real = req(Dhl, "GET", "/mydhlapi/test/rates")
        .basic("u", "p")
        .query(QUERY)
        .send()
        .expect(200);
    assert_eq!(prices(&real), prices(&get_rates(QUERY).send().expect(200)));
}

#[test]
fn rates_without_basic_credentials_are_a_dhl_problem_401() {
    for request in [
        req(Dhl, "GET", "/rates").query(QUERY),
        req(Dhl, "GET", "/rates").bearer("token").query(QUERY),
        req(Dhl, "GET", "/rates").basic("dhl-user", "").query(QUERY),
    ] {
        let res = request.send();
        assert_eq!(res.header("content-type"), Some("application/problem+json"));
        assert!(res.header("www-authenticate").unwrap().starts_with("Basic"));
        let body = res.expect(401);
        assert_eq!(body["status"], "401");
        assert_eq!(body["title"], "Unauthorized");
    }
    let rejected = get_rates(QUERY)
        .header("x-sandbox-reject-token", "dhl-user")
        .send();
    assert_eq!(rejected.status(), 401);
}

#[test]
fn a_rate_request_missing_parameters_is_a_dhl_problem_400() {
    let res = get_rates(&QUERY.replace("&weight=2.5", "")).send();
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    let body = res.expect(400);
    assert_eq!(body["status"], "400");
    assert_eq!(body["title"], "Bad request");
    assert_eq!(body["instance"], "/expressapi/rates");
    assert!(body["detail"].as_str().unwrap().contains("weight"));

    for broken in [
        QUERY.replace("unitOfMeasurement=metric", "unitOfMeasurement=stones"),
        QUERY.replace(
            "plannedShippingDate=2027-01-15",
            "plannedShippingDate=tomorrow",
        ),
        QUERY.replace("isCustomsDeclarable=true", "isCustomsDeclarable=maybe"),
        QUERY.replace("height=10", "height=-1"),
    ] {
        assert_eq!(get_rates(&broken).send().status(), 400, "{broken}");
    }
    let mut body = post_body(2.5);
    body["customerDetails"]["receiverDetails"]
        .as_object_mut()
        .unwrap()
        .remove("cityName");
    let res = post_rates(&body).send().expect(400);
    assert!(
        res["detail"]
            .as_str()
            .unwrap()
            .contains("customerDetails.receiverDetails.cityName")
    );
    let mut body = post_body(2.5);
    body["packages"] = json!([{ "weight": 1 }]);
    assert_eq!(post_rates(&body).send().status(), 400);
}

#[test]
fn tracking_takes_the_api_key_and_answers_shipments() {
    let track = |query: &str| {
        req(Dhl, "GET", "/track/shipments")
            .header("DHL-API-Key", "key-1")
            .query(query)
    };
    let body = track("trackingNumber=1234567890").send().expect(200);
    let shipment = &body["shipments"][0];
    assert_eq!(shipment["id"], "1234567890");
    assert_eq!(shipment["service"], "express");
    let code = shipment["status"]["statusCode"].as_str().unwrap();
    assert!(["pre-transit", "transit", "delivered"].contains(&code));
    assert!(!shipment["events"].as_array().unwrap().is_empty());

    let unknown = track("trackingNumber=0000000000").send();
    assert_eq!(
        unknown.header("content-type"),
        Some("application/problem+json")
    );
    let unknown = unknown.expect(404);
    assert_eq!(unknown["title"], "No result found");
    assert_eq!(unknown["status"], 404);
    assert_eq!(track("").send().status(), 400);
    let no_key = req(Dhl, "GET", "/track/shipments")
        .query("trackingNumber=1234567890")
        .send()
        .expect(401);
    assert_eq!(no_key["status"], 401);
    let rejected = track("trackingNumber=1234567890").header("x-sandbox-reject-token", "key-1");
    assert_eq!(rejected.send().status(), 401);
}

#[test]
fn other_paths_and_methods_answer_in_dhl_shape() {
    let res = get_rates(QUERY).send();
    assert_eq!(res.status(), 200);
    let missing = req(Dhl, "GET", "/shipments").send().expect(404);
    assert_eq!(missing["status"], "404");
    let res = req(Dhl, "DELETE", "/rates").send();
    assert_eq!(res.header("allow"), Some("GET, HEAD, POST"));
    assert_eq!(res.status(), 405);
    let res = req(Dhl, "POST", "/track/shipments").send();
    assert_eq!(res.header("allow"), Some("GET, HEAD"));
    assert_eq!(res.status(), 405);
}

#[test]
fn head_answers_as_get_without_a_body() {
    let track = |method| {
        req(Dhl, method, "/track/shipments")
            .header("DHL-API-Key", "key-1")
            .query("trackingNumber=1234567890")
            .send()
    };
    let (get, head) = (track("GET"), track("HEAD"));
    assert_eq!((head.status(), get.status()), (200, 200));
    assert_eq!(head.header("content-type"), get.header("content-type"));
    assert!(!get.0.body.is_empty());
    assert!(head.0.body.is_empty(), "{:?}", head.0.body);
    let refused = req(Dhl, "HEAD", "/track/shipments").send();
    assert_eq!(refused.status(), 401, "HEAD is checked as GET is");
    assert!(refused.0.body.is_empty());
}
