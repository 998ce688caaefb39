use super::*;
use crate::rates::carrier::CarrierError;
use crate::rates::money::Money;
use crate::rates::quote::ServiceLevel;

fn quote(carrier: &str, code: &str, cents: i64, date: Option<&str>) -> Quote {
    Quote {
        carrier: carrier.into(),
        service_code: code.into(),
        service_name: code.into(),
        service_level: ServiceLevel::Ground,
        price: Money {
            amount_minor: cents,
            currency: "USD".into(),
        },
        transit_days: None,
        estimated_delivery_date: date.map(Into::into),
    }
}

fn order(answer: &RatesAnswer) -> Vec<String> {
    answer
        .quotes
        .iter()
        .map(|q| format!("{}/{}", q.carrier, q.service_code))
        .collect()
}

#[test]
fn cheapest_first_ties_by_delivery_date_then_carrier() {
    let answer = assemble(
        vec![
            CarrierOutcome::ok(
                "ups",
                vec![
                    quote("ups", "01", 8945, Some("2026-12-02")),
                    quote("ups", "03", 1137, None),
                ],
            ),
            CarrierOutcome::ok(
                "fedex",
                vec![
                    quote("fedex", "FEDEX_GROUND", 1137, Some("2026-12-04")),
                    quote("fedex", "FEDEX_2_DAY", 1137, Some("2026-12-04")),
                ],
            ),
            CarrierOutcome::ok("dhl", vec![quote("dhl", "P", 1137, Some("2026-12-04"))]),
        ],
        Sort::Price,
        "USD",
    );
    assert_eq!(
        order(&answer),
        [
            "dhl/P",
            "fedex/FEDEX_2_DAY",
            "fedex/FEDEX_GROUND",
            "ups/03",
            "ups/01"
        ],
        "a dated quote beats an undated one at the same price"
    );
}

#[test]
fn by_delivery_earliest_date_first_then_transit_then_price() {
    let mut fast_undated = quote("usps", "PRIORITY_MAIL_EXPRESS", 4850, None);
    fast_undated.transit_days = Some(1);
    let answer = assemble(
        vec![CarrierOutcome::ok(
            "x",
            vec![
                quote("ups", "03", 1137, Some("2026-12-04")),
                quote("ups", "01", 8945, Some("2026-12-02")),
                quote("fedex", "PRIORITY_OVERNIGHT", 9867, Some("2026-12-02")),
                quote("usps", "USPS_GROUND_ADVANTAGE", 935, None),
                fast_undated,
            ],
        )],
        Sort::Delivery,
        "USD",
    );
    assert_eq!(
        order(&answer),
        [
            "ups/01",
            "fedex/PRIORITY_OVERNIGHT",
            "ups/03",
            "usps/PRIORITY_MAIL_EXPRESS",
            "usps/USPS_GROUND_ADVANTAGE"
        ]
    );
}

#[test]
fn the_asked_currency_comes_first_and_others_are_not_compared_with_it() {
    let mut eur = quote("dhl", "P", 100, None);
    eur.price.currency = "EUR".into();
    let answer = assemble(
        vec![CarrierOutcome::ok(
            "x",
            vec![eur, quote("ups", "03", 5000, None)],
        )],
        Sort::Price,
        "USD",
    );
    assert_eq!(order(&answer), ["ups/03", "dhl/P"]);
}

#[test]
fn one_ok_carrier_makes_a_200_with_every_status() {
    let results = vec![
        CarrierOutcome::ok("ups", vec![quote("ups", "03", 1137, None)]),
        CarrierOutcome::timeout("fedex"),
        CarrierOutcome::from_result(
            "dhl",
            Err(CarrierError::from_status(
                400,
                Some("Bad request".into()),
                None,
            )),
        ),
        CarrierOutcome::circuit_open("usps"),
        CarrierOutcome::from_result("acme", Err(CarrierError::from_status(429, None, Some(30)))),
        CarrierOutcome::not_enabled("zz"),
    ];
    let http = assemble(results, Sort::Price, "USD").http(Some("req-1"));
    assert_eq!((http.status, http.content_type), (200, "application/json"));
    let v: serde_json::Value = serde_json::from_str(&http.body).unwrap();
    assert_eq!(v["quotes"][0]["price"]["amount_minor"], 1137);
    assert_eq!(v["quotes"][0]["price"]["amount"], "11.37");
    assert_eq!(
        v["carriers"],
        serde_json::json!([
            {"carrier": "acme", "status": "quota_exceeded"},
            {"carrier": "dhl", "status": "error", "message": "Bad request"},
            {"carrier": "fedex", "status": "timeout"},
            {"carrier": "ups", "status": "ok"},
            {"carrier": "usps", "status": "circuit_open"},
            {"carrier": "zz", "status": "not_enabled"}
        ])
    );
}

#[test]
fn no_ok_carrier_makes_a_504_problem_with_the_statuses() {
    let answer = assemble(
        vec![
            CarrierOutcome::timeout("ups"),
            CarrierOutcome::not_enabled("dhl"),
        ],
        Sort::Price,
        "USD",
    );
    let http = answer.http(Some("req-9"));
    assert_eq!(http.status, 504);
    assert_eq!(http.content_type, "application/problem+json");
    let v: serde_json::Value = serde_json::from_str(&http.body).unwrap();
    assert_eq!(
        v["type"],
        "https://waypost.dev/problems/no-carrier-answered"
    );
    assert_eq!(v["status"], 504);
    assert_eq!(v["request_id"], "req-9");
    assert_eq!(
        v["carriers"][1],
        serde_json::json!({"carrier": "ups", "status": "timeout"})
    );
    let none = assemble(vec![], Sort::Price, "USD").http(None);
    assert_eq!(none.status, 504);
}

#[test]
fn an_ok_carrier_with_no_quotes_left_still_answers_200() {
    let request: RateRequest = serde_json::from_value(serde_json::json!({
        "origin": {"country": "US", "postal_code": "30005", "city": "Alpharetta"},
        "destination": {"country": "US", "postal_code": "10001", "city": "New York"},
        "parcels": [{"weight": {"value": 1, "unit": "lb"},
                     "dimensions": {"length": 1, "width": 1, "height": 1, "unit": "in"}}],
        "ship_date": "2026-12-01",
        "service_levels": ["overnight"]
    }))
    .unwrap();
    let mut overnight = quote("ups", "01", 8945, None);
    overnight.service_level = ServiceLevel::Overnight;
    let a = answer(
        &request,
        vec![
            CarrierOutcome::ok("ups", vec![quote("ups", "03", 1137, None), overnight]),
            CarrierOutcome::ok(
                "usps",
                vec![quote("usps", "USPS_GROUND_ADVANTAGE", 935, None)],
            ),
        ],
    );
    assert_eq!(order(&a), ["ups/01"]);
    assert_eq!(a.http(None).status, 200);
}

#[test]
fn errors_that_cannot_build_a_call_are_error_statuses() {
    let o = CarrierOutcome::not_built("fedex", &BuildError::MissingAccountNumber);
    assert_eq!(
        o.status,
        CarrierStatus::Error {
            message: "no account number is configured for this carrier".into()
        }
    );
    let failed =
        CarrierOutcome::from_result("ups", Err(CarrierError::from_status(503, None, None)));
    assert_eq!(
        failed.status,
        CarrierStatus::Error {
            message: "the carrier answered HTTP 503".into()
        }
    );
}

#[test]
fn an_error_message_is_cut_to_the_contracts_length() {
    let long = format!("ups: token endpoint: {}", "x".repeat(300));
    let outcome = CarrierOutcome::error("ups", long);
    let CarrierStatus::Error { message } = &outcome.status else {
        panic!("{outcome:?}");
    };
    assert_eq!(message.chars().count(), 200);
    assert!(message.starts_with("ups: token endpoint: xxx"), "{message}");
    assert!(message.ends_with('…'), "{message}");
}
