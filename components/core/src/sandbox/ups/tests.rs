//! The simulated UPS as the UPS adapter sees it.

use crate::sandbox::Carrier::Ups;
use crate::sandbox::testkit::{NOW, Req, req};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const TOKEN: &str = "/security/v1/oauth/token";
const SHOP: &str = "/api/rating/v2409/Shop";

fn token_request() -> Req {
    req(Ups, "POST", TOKEN)
        .basic("ups-client", "ups-secret")
        .form(&[("grant_type", "client_credentials")])
}

fn shipment(weight: &str) -> Value {
    json!({ "RateRequest": {
        "Request": { "TransactionReference": { "CustomerContext": "order-17" } },
        "Shipment": {
            "Shipper": { "Name": "W", "ShipperNumber": "W4YP05", "Address": { "AddressLine": ["1 Main St"], "City": "New York", "StateProvinceCode": "NY", "PostalCode": "10001", "CountryCode": "US" } },
            "ShipTo": { "Name": "R", "Address": { "City": "San Francisco", "StateProvinceCode": "CA", "PostalCode": "94105", "CountryCode": "US" } },
            "PaymentDetails": { "ShipmentCharge": [{ "Type": "01", "BillShipper": { "AccountNumber": "W4YP05" } }] },
            "DeliveryTimeInformation": { "PackageBillType": "03", "Pickup": { "Date": "20270115", "Time": "1000" } },
            "Package": [{
                "PackagingType": { "Code": "02" },
                "Dimensions": { "UnitOfMeasurement": { "Code": "IN" }, "Length": "10", "Width": "8", "Height": "4" },
                "PackageWeight": { "UnitOfMeasurement": { "Code": "LBS" }, "Weight": weight },
            }],
        },
    } })
}

fn rate(path: &str, body: &Value) -> Req {
    req(Ups, "POST", path)
        .bearer("a-token")
        .header("transId", "t1")
        .header("transactionSrc", "waypost")
        .json(body)
}

fn error_code(body: &Value) -> &str {
    body["response"]["errors"][0]["code"].as_str().unwrap()
}

/// (service code, total charge) of every rated shipment.
fn prices(body: &Value) -> Vec<(String, String)> {
    body["RateResponse"]["RatedShipment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["Service"]["Code"].as_str().unwrap().to_string(),
                s["TotalCharges"]["MonetaryValue"]
                    .as_str()
                    .unwrap()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn the_token_endpoint_issues_a_ups_token_for_basic_client_credentials() {
    let res = token_request().send();
    assert_eq!(res.header("content-type"), Some("application/json"));
    let body = res.expect(200);
    let expected = format!(
        "{:x}",
        Sha256::digest(format!("ups-client:ups-secret:{NOW}"))
    );
    assert_eq!(body["access_token"], expected.as_str());
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], "3600");
    assert_eq!(body["issued_at"], (NOW * 1000).to_string());
    assert_eq!(body["client_id"], "ups-client");
    assert_eq!(body["status"], "approved");
}

#[test]
fn the_token_lifetime_follows_the_ttl_header() {
    let body = token_request()
        .header("x-sandbox-token-ttl", "fedex=5,ups=120")
        .send()
        .expect(200);
    assert_eq!(body["expires_in"], "120");
    let res = token_request().header("x-sandbox-token-ttl", "0").send();
    assert_eq!(res.status(), 400);
}

#[test]
fn a_token_request_without_basic_credentials_is_a_ups_401() {
    let no_auth = req(Ups, "POST", TOKEN).form(&[("grant_type", "client_credentials")]);
    let blank_secret = req(Ups, "POST", TOKEN)
        .basic("ups-client", " ")
        .form(&[("grant_type", "client_credentials")]);
    let in_the_body = req(Ups, "POST", TOKEN).form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "ups-client"),
        ("client_secret", "ups-secret"),
    ]);
    for request in [no_auth, blank_secret, in_the_body] {
        let res = request.send();
        assert!(res.header("www-authenticate").unwrap().starts_with("Basic"));
        assert_eq!(error_code(&res.expect(401)), "10400");
    }
}

#[test]
fn a_token_request_needs_the_client_credentials_grant() {
    let missing = req(Ups, "POST", TOKEN).basic("id", "secret").form(&[]);
    assert_eq!(missing.send().status(), 400);
    let other = req(Ups, "POST", TOKEN)
        .basic("id", "secret")
        .form(&[("grant_type", "password")]);
    let body = other.send().expect(400);
    assert!(
        body["response"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("client_credentials")
    );
}

#[test]
fn shop_rates_every_domestic_service_in_ups_shape() {
    let body = rate(SHOP, &shipment("5")).send().expect(200);
    let response = &body["RateResponse"];
    assert_eq!(response["Response"]["ResponseStatus"]["Code"], "1");
    assert_eq!(
        response["Response"]["TransactionReference"]["CustomerContext"],
        "order-17"
    );
    let codes: Vec<String> = prices(&body).into_iter().map(|(c, _)| c).collect();
    for code in ["03", "12", "02", "13", "01"] {
        assert!(codes.contains(&code.to_string()), "{code} in {codes:?}");
    }
    let ground = &response["RatedShipment"][0];
    assert_eq!(ground["Service"]["Code"], "03");
    assert_eq!(ground["TotalCharges"]["CurrencyCode"], "USD");
    let total: f64 = ground["TotalCharges"]["MonetaryValue"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let base: f64 = ground["BaseServiceCharge"]["MonetaryValue"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(total > base && base > 0.0);
    assert_eq!(ground["BillingWeight"]["Weight"], "5.0");
    let days: u32 = ground["GuaranteedDelivery"]["BusinessDaysInTransit"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=5).contains(&days));
    let next_day = response["RatedShipment"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Service"]["Code"] == "01")
        .unwrap();
    assert_eq!(next_day["GuaranteedDelivery"]["BusinessDaysInTransit"], "1");
    assert_eq!(
        next_day["GuaranteedDelivery"]["DeliveryByTime"],
        "10:30 A.M."
    );
    assert!(ground.get("TimeInTransit").is_none());
}

#[test]
fn the_same_request_gets_the_same_prices_and_a_heavier_one_higher_prices() {
    let first = prices(&rate(SHOP, &shipment("5")).send().expect(200));
    let again = prices(&rate(SHOP, &shipment("5")).send().expect(200));
    assert_eq!(first, again);
    let heavier = prices(&rate(SHOP, &shipment("6")).send().expect(200));
    for ((code, light), (_, heavy)) in first.iter().zip(&heavier) {
        let (light, heavy): (f64, f64) = (light.parse().unwrap(), heavy.parse().unwrap());
        assert!(heavy > light, "{code}: {heavy} > {light}");
    }
}

#[test]
fn rate_quotes_the_one_requested_service() {
    let mut body = shipment("5");
    body["RateRequest"]["Shipment"]["Service"] =
        json!({ "Code": "02", "Description": "2nd Day Air" });
    let rated = rate("/api/rating/v2409/Rate", &body).send().expect(200);
    assert_eq!(prices(&rated).len(), 1);
    assert_eq!(
        rated["RateResponse"]["RatedShipment"][0]["Service"]["Code"],
        "02"
    );

    body["RateRequest"]["Shipment"]["Service"]["Code"] = json!("65");
    let unavailable = rate("/api/rating/v2409/Rate", &body).send().expect(400);
    assert_eq!(error_code(&unavailable), "111100");

    let without_service = rate("/api/rating/v2409/Rate", &shipment("5"))
        .send()
        .expect(400);
    assert!(error_code(&without_service) == "10002");
}

#[test]
fn time_in_transit_gives_the_arrival_in_ups_formats() {
    // Pickup Friday 2027-01-15: Next Day Air arrives Monday 2027-01-18 at 10:30.
    let body = rate("/api/rating/v2409/Shoptimeintransit", &shipment("5"))
        .send()
        .expect(200);
    let next_day = body["RateResponse"]["RatedShipment"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Service"]["Code"] == "01")
        .unwrap();
    let estimated = &next_day["TimeInTransit"]["ServiceSummary"]["EstimatedArrival"];
    assert_eq!(estimated["Arrival"]["Date"], "20270118");
    assert_eq!(estimated["Arrival"]["Time"], "103000");
    assert_eq!(estimated["BusinessDaysInTransit"], "1");
    assert_eq!(estimated["TotalTransitDays"], "3");
    assert_eq!(estimated["DayOfWeek"], "MON");
    let via_query = rate(SHOP, &shipment("5"))
        .query("additionalinfo=timeintransit")
        .send()
        .expect(200);
    assert!(
        via_query["RateResponse"]["RatedShipment"][0]
            .get("TimeInTransit")
            .is_some()
    );
}

#[test]
fn tolerant_input_numbers_bare_package_objects_and_kilograms() {
    let mut body = shipment("5");
    let package = body["RateRequest"]["Shipment"]["Package"][0].clone();
    body["RateRequest"]["Shipment"]["Package"] = package;
    body["RateRequest"]["Shipment"]["Package"]["PackageWeight"]["Weight"] = json!(5);
    assert_eq!(
        prices(&rate(SHOP, &body).send().expect(200)),
        prices(&rate(SHOP, &shipment("5")).send().expect(200))
    );

    body["RateRequest"]["Shipment"]["Package"]["PackageWeight"]["UnitOfMeasurement"]["Code"] =
        json!("KGS");
    let kilos = rate(SHOP, &body).send().expect(200);
    assert_eq!(
        kilos["RateResponse"]["RatedShipment"][0]["BillingWeight"]["UnitOfMeasurement"]["Code"],
        "KGS"
    );
    assert_ne!(
        prices(&kilos),
        prices(&rate(SHOP, &shipment("5")).send().expect(200))
    );
}

#[test]
fn an_international_lane_gets_worldwide_services_in_the_origin_currency() {
    let mut body = shipment("5");
    body["RateRequest"]["Shipment"]["Shipper"]["Address"] =
        json!({ "PostalCode": "04435", "CountryCode": "DE" });
    let rated = rate(SHOP, &body).send().expect(200);
    let codes: Vec<String> = prices(&rated).into_iter().map(|(c, _)| c).collect();
    assert!(
        codes.contains(&"07".to_string()) && !codes.contains(&"03".to_string()),
        "{codes:?}"
    );
    assert_eq!(
        rated["RateResponse"]["RatedShipment"][0]["TotalCharges"]["CurrencyCode"],
        "EUR"
    );
}

#[test]
fn negotiated_rates_are_below_the_published_ones() {
    let mut body = shipment("5");
    body["RateRequest"]["Shipment"]["ShipmentRatingOptions"] =
        json!({ "NegotiatedRatesIndicator": "Y" });
    let rated = rate(SHOP, &body).send().expect(200);
    let first = &rated["RateResponse"]["RatedShipment"][0];
    let published: f64 = first["TotalCharges"]["MonetaryValue"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let negotiated: f64 = first["NegotiatedRateCharges"]["TotalCharge"]["MonetaryValue"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(negotiated < published);
}

#[test]
fn the_bare_object_header_reproduces_the_single_element_quirk() {
    let mut body = shipment("5");
    body["RateRequest"]["Shipment"]["Service"] = json!({ "Code": "03" });
    let rated = rate("/api/rating/v2409/Rate", &body)
        .header("x-sandbox-ups-bare-object", "1")
        .send()
        .expect(200);
    let shipment = &rated["RateResponse"]["RatedShipment"];
    assert!(shipment.is_object(), "{shipment}");
    assert!(shipment["RatedPackage"].is_object());
    assert!(rated["RateResponse"]["Response"]["Alert"].is_object());
}

#[test]
fn rating_without_a_bearer_token_is_a_ups_401() {
    let no_auth = req(Ups, "POST", SHOP).json(&shipment("5"));
    let res = no_auth.send();
    assert_eq!(res.header("www-authenticate"), Some("Bearer realm=\"ups\""));
    assert_eq!(error_code(&res.expect(401)), "UJ0001");
    let basic = req(Ups, "POST", SHOP)
        .basic("id", "secret")
        .json(&shipment("5"));
    assert_eq!(basic.send().status(), 401);
    let empty = req(Ups, "POST", SHOP)
        .header("authorization", "Bearer ")
        .json(&shipment("5"));
    assert_eq!(empty.send().status(), 401);
}

#[test]
fn a_rejected_token_is_an_expired_token() {
    let res = rate(SHOP, &shipment("5"))
        .header("x-sandbox-reject-token", "old,a-token")
        .send();
    assert!(
        res.header("www-authenticate")
            .unwrap()
            .contains("invalid_token")
    );
    assert_eq!(error_code(&res.expect(401)), "250002");
    let other = rate(SHOP, &shipment("5"))
        .header("x-sandbox-reject-token", "old")
        .send();
    assert_eq!(other.status(), 200);
}

#[test]
fn a_rate_request_missing_required_fields_is_a_ups_400_naming_the_field() {
    let mut body = shipment("5");
    body["RateRequest"]["Shipment"]["ShipTo"]["Address"]["PostalCode"] = json!("");
    let res = rate(SHOP, &body).send().expect(400);
    assert_eq!(error_code(&res), "10002");
    assert!(
        res["response"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("RateRequest.Shipment.ShipTo.Address.PostalCode")
    );

    body = shipment("5");
    body["RateRequest"]["Shipment"]["Package"] = json!([]);
    assert_eq!(rate(SHOP, &body).send().status(), 400);
    body = shipment("-1");
    assert_eq!(error_code(&rate(SHOP, &body).send().expect(400)), "10002");
    body = shipment("5");
    body["RateRequest"]["Shipment"]["DeliveryTimeInformation"]["Pickup"]["Date"] =
        json!("2027-01-15");
    assert_eq!(rate(SHOP, &body).send().status(), 400);
    assert_eq!(rate(SHOP, &json!({})).send().status(), 400);
    assert_eq!(
        rate("/api/rating/v2409/Quote", &shipment("5"))
            .send()
            .status(),
        400
    );

    let not_json = req(Ups, "POST", SHOP)
        .bearer("t")
        .header("content-type", "application/json");
    let mut not_json = not_json;
    not_json.body = b"{not json".to_vec();
    assert_eq!(error_code(&not_json.send().expect(400)), "10001");
}

#[test]
fn tracking_answers_a_ups_track_response() {
    let track = |number: &str| {
        req(Ups, "GET", &format!("/api/track/v1/details/{number}"))
            .bearer("t")
            .header("transId", "1")
            .header("transactionSrc", "waypost")
    };
    let body = track("1Z999AA10123456784").send().expect(200);
    let package = &body["trackResponse"]["shipment"][0]["package"][0];
    assert_eq!(package["trackingNumber"], "1Z999AA10123456784");
    assert!(["M", "I", "D"].contains(&package["currentStatus"]["type"].as_str().unwrap()));
    assert_eq!(package["activity"][0]["date"].as_str().unwrap().len(), 8);
    assert_eq!(
        error_code(&track("0000000000").send().expect(404)),
        "TW0001"
    );
    assert_eq!(track("1Z9").send().status(), 400);
    let without_trans_id = req(Ups, "GET", "/api/track/v1/details/1Z999AA10123456784").bearer("t");
    assert_eq!(without_trans_id.send().status(), 400);
}

#[test]
fn unknown_paths_and_methods_answer_in_ups_shape() {
    let res = req(Ups, "GET", "/api/nothing").send();
    assert_eq!(error_code(&res.expect(404)), "404");
    let res = req(Ups, "GET", SHOP).send();
    assert_eq!(res.header("allow"), Some("POST"));
    assert_eq!(error_code(&res.expect(405)), "405");
}
