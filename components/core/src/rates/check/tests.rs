use super::*;
use serde_json::json;

/// 2026-11-29T12:00:00Z.
const NOW: i64 = 1_795_953_600;

fn valid() -> Value {
    json!({
        "origin": {"country": "US", "postal_code": "30005", "city": "Alpharetta", "state": "GA"},
        "destination": {
            "country": "US", "postal_code": "10001", "city": "New York", "state": "NY",
            "residential": true, "address_lines": ["350 5th Ave"]
        },
        "parcels": [{
            "weight": {"value": 5.5, "unit": "lb"},
            "dimensions": {"length": 12, "width": 8, "height": 4, "unit": "in"}
        }],
        "ship_date": "2026-12-01"
    })
}

fn parse(v: &Value) -> Result<RateRequest, Vec<FieldError>> {
    parse_rate_request(v.to_string().as_bytes(), NOW)
}

fn errors(v: &Value) -> Vec<(String, String)> {
    parse(v)
        .expect_err("the request should be refused")
        .into_iter()
        .map(|e| (e.path, e.message))
        .collect()
}

fn paths(v: &Value) -> Vec<String> {
    errors(v).into_iter().map(|(p, _)| p).collect()
}

#[test]
fn a_valid_request_parses_with_defaults() {
    let r = parse(&valid()).unwrap();
    assert_eq!(r.currency, "USD");
    assert_eq!(r.sort, Sort::Price);
    assert_eq!(r.carriers, None);
    assert_eq!(r.service_levels, None);
    assert_eq!(r.destination.residential, Some(true));
    assert_eq!(r.destination.address_lines, ["350 5th Ave"]);
    assert_eq!(r.parcels[0].weight.unit, WeightUnit::Lb);
    assert_eq!(r.parcels[0].dimensions.unit, LengthUnit::In);
    // The serde types agree with the checks: what passed reads back the same.
    let again: RateRequest = serde_json::from_value(serde_json::to_value(&r).unwrap()).unwrap();
    assert_eq!(again, r);
    let from_body: RateRequest = serde_json::from_value(valid()).unwrap();
    assert_eq!(from_body, r);
}

#[test]
fn every_field_error_is_reported_at_once() {
    let body = json!({
        "origin": {"country": "usa", "postal_code": "", "city": "Alpharetta", "zip": "1"},
        "destination": {"country": "US", "city": 7},
        "parcels": [
            {"weight": {"value": 0, "unit": "g"},
             "dimensions": {"length": 12, "width": -1, "height": 4, "unit": "in"}},
            {"weight": {"value": 1, "unit": "kg"}}
        ],
        "ship_date": "2026-02-30",
        "carriers": ["ups", "UPS"],
        "service_levels": ["fastest"],
        "currency": "usd",
        "sort": "cheapest",
        "insurance": true
    });
    assert_eq!(
        paths(&body),
        [
            "/insurance",
            "/origin/zip",
            "/origin/country",
            "/origin/postal_code",
            "/destination/postal_code",
            "/destination/city",
            "/parcels/0/weight/value",
            "/parcels/0/weight/unit",
            "/parcels/0/dimensions/width",
            "/parcels/1/dimensions",
            "/ship_date",
            "/carriers/1",
            "/service_levels/0",
            "/currency",
            "/sort"
        ]
    );
}

#[test]
fn messages_say_what_is_accepted() {
    let mut body = valid();
    body["parcels"][0]["weight"]["unit"] = json!("g");
    body["sort"] = json!("cheapest");
    body["origin"]["weight"] = json!(1);
    let errors = errors(&body);
    assert_eq!(
        errors[0],
        (
            "/origin/weight".into(),
            "is not a known field (known here: `country`, `postal_code`, `city`, `state`, `address_lines`, `residential`)".into()
        )
    );
    assert_eq!(
        errors[1],
        (
            "/parcels/0/weight/unit".into(),
            "unknown variant `g`, expected `kg` or `lb`".into()
        )
    );
    assert_eq!(
        errors[2],
        (
            "/sort".into(),
            "unknown variant `cheapest`, expected `price` or `delivery`".into()
        )
    );
}

#[test]
fn syntax_errors_and_non_objects_are_one_error_on_the_body() {
    let e = parse_rate_request(b"{\"origin\": {", NOW).unwrap_err();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].path, "");
    assert!(
        e[0].message
            .starts_with("the body is not valid JSON: EOF while parsing"),
        "{}",
        e[0].message
    );
    let e = parse_rate_request(b"[1, 2]", NOW).unwrap_err();
    assert_eq!(
        e,
        [FieldError {
            path: String::new(),
            message: "must be a JSON object".into()
        }]
    );
}

#[test]
fn a_body_over_the_limit_is_413_and_one_at_it_is_read() {
    assert_eq!(oversized_body_problem(&vec![b' '; MAX_BODY_BYTES]), None);
    let p = oversized_body_problem(&vec![b' '; MAX_BODY_BYTES + 1]).unwrap();
    assert_eq!(p.status, 413);
    assert!(p.to_json().contains("payload-too-large"), "{}", p.to_json());
    assert!(
        p.to_json().contains("at most 65536 bytes"),
        "{}",
        p.to_json()
    );
}

#[test]
fn missing_and_null_members() {
    assert_eq!(
        paths(&json!({})),
        ["/origin", "/destination", "/parcels", "/ship_date"]
    );
    let mut body = valid();
    body["currency"] = Value::Null;
    body["origin"]["state"] = Value::Null;
    let r = parse(&body).unwrap();
    assert_eq!(
        (r.currency.as_str(), r.origin.state),
        ("USD", None),
        "null = absent"
    );
    body["ship_date"] = Value::Null;
    assert_eq!(errors(&body), [("/ship_date".into(), "is required".into())]);
}

#[test]
fn parcels_need_one_and_at_most_fifty() {
    let mut body = valid();
    body["parcels"] = json!([]);
    assert_eq!(
        errors(&body),
        [("/parcels".into(), "must hold at least one parcel".into())]
    );
    body["parcels"] = Value::Array(vec![valid()["parcels"][0].clone(); MAX_PARCELS]);
    assert!(parse(&body).is_ok());
    body["parcels"] = Value::Array(vec![valid()["parcels"][0].clone(); MAX_PARCELS + 1]);
    assert_eq!(paths(&body), ["/parcels"]);
    body["parcels"] = json!({"weight": 1});
    assert_eq!(
        errors(&body),
        [("/parcels".into(), "must be an array".into())]
    );
}

#[test]
fn ship_date_window_runs_from_yesterday_to_sixty_days_ahead() {
    let check = |date: &str| {
        let mut body = valid();
        body["ship_date"] = json!(date);
        parse(&body).map(|_| ()).map_err(|e| e[0].message.clone())
    };
    assert_eq!(check("2026-11-28"), Ok(()), "yesterday in UTC");
    assert_eq!(check("2026-11-27"), Err("must not be in the past".into()));
    assert_eq!(check("2027-01-28"), Ok(()), "60 days ahead");
    assert_eq!(
        check("2027-01-29"),
        Err("must be at most 60 days from today".into())
    );
    for bad in [
        "2026-13-01",
        "2026-12-1",
        "01.12.2026",
        "2026-12-01T00:00:00Z",
    ] {
        assert_eq!(
            check(bad),
            Err("must be a calendar date as YYYY-MM-DD".into()),
            "{bad}"
        );
    }
}

#[test]
fn measures_are_positive_and_bounded() {
    let check = |pointer: &str, value: Value| {
        let mut body = valid();
        *body.pointer_mut(pointer).unwrap() = value;
        parse(&body).map(|_| ()).map_err(|e| e[0].message.clone())
    };
    assert_eq!(check("/parcels/0/weight/value", json!(1000)), Ok(()));
    assert_eq!(
        check("/parcels/0/weight/value", json!(1000.01)),
        Err("must be at most 1000".into())
    );
    assert_eq!(
        check("/parcels/0/dimensions/height", json!(0)),
        Err("must be greater than 0".into())
    );
    assert_eq!(
        check("/parcels/0/dimensions/height", json!("4")),
        Err("must be a number".into())
    );
    assert_eq!(check("/parcels/0/dimensions/height", json!(0.5)), Ok(()));
}

#[test]
fn filters_are_checked_and_deduplicated() {
    let mut body = valid();
    body["carriers"] = json!(["ups", "fedex", "ups"]);
    body["service_levels"] = json!(["ground", "two_day", "ground"]);
    body["sort"] = json!("delivery");
    body["currency"] = json!("EUR");
    let r = parse(&body).unwrap();
    assert_eq!(r.carriers.unwrap(), ["ups", "fedex"]);
    assert_eq!(
        r.service_levels.unwrap(),
        [ServiceLevel::Ground, ServiceLevel::TwoDay]
    );
    assert_eq!((r.sort, r.currency.as_str()), (Sort::Delivery, "EUR"));
    body["carriers"] = json!([]);
    body["service_levels"] = json!([]);
    assert_eq!(paths(&body), ["/carriers", "/service_levels"]);
}

#[test]
fn unknown_field_names_are_escaped_in_pointers() {
    let mut body = valid();
    body["origin"]["a/b~c"] = json!(1);
    assert_eq!(paths(&body), ["/origin/a~1b~0c"]);
}

#[test]
fn the_problem_lists_every_error() {
    let errors = parse(&json!({"ship_date": "x"})).unwrap_err();
    let p = invalid_request_problem(&errors);
    let v: Value = serde_json::from_str(&p.to_json()).unwrap();
    assert_eq!(v["status"], 400);
    assert_eq!(v["type"], "https://waypost.dev/problems/invalid-request");
    assert_eq!(v["detail"], "The request has 4 errors; see `errors`.");
    assert_eq!(v["errors"].as_array().unwrap().len(), 4);
    assert_eq!(
        v["errors"][3],
        json!({"path": "/ship_date", "message": "must be a calendar date as YYYY-MM-DD"})
    );
    let one = invalid_request_problem(&[FieldError {
        path: "/currency".into(),
        message: "must be an ISO 4217 currency code in upper case, e.g. `USD`".into(),
    }]);
    assert_eq!(
        one.detail.as_deref(),
        Some("/currency: must be an ISO 4217 currency code in upper case, e.g. `USD`.")
    );
}
