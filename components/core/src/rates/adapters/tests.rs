//! Each adapter against recorded answers in its carrier's real format
//! (`tests/fixtures/carriers/<carrier>/`), and the calls it builds.

use super::*;
use crate::rates::carrier::CarrierContext;
use crate::rates::quote::ServiceLevel;
use crate::rates::request::{
    Address, Dimensions, LengthUnit, Parcel, RateRequest, Sort, Weight, WeightUnit,
};
use serde_json::json;

fn address(country: &str, postal_code: &str, city: &str, state: Option<&str>) -> Address {
    Address {
        country: country.into(),
        postal_code: postal_code.into(),
        city: city.into(),
        state: state.map(Into::into),
        address_lines: Vec::new(),
        residential: None,
    }
}

fn parcel(weight: f64, wu: WeightUnit, sides: [f64; 3], lu: LengthUnit) -> Parcel {
    Parcel {
        weight: Weight {
            value: weight,
            unit: wu,
        },
        dimensions: Dimensions {
            length: sides[0],
            width: sides[1],
            height: sides[2],
            unit: lu,
        },
    }
}

/// Alpharetta, GA → New York, NY; one 5.5 lb parcel of 12 × 8 × 4 in.
fn domestic_us() -> RateRequest {
    let mut destination = address("US", "10001", "New York", Some("NY"));
    destination.residential = Some(true);
    RateRequest {
        origin: address("US", "30005", "Alpharetta", Some("GA")),
        destination,
        parcels: vec![parcel(
            5.5,
            WeightUnit::Lb,
            [12.0, 8.0, 4.0],
            LengthUnit::In,
        )],
        ship_date: "2026-12-01".into(),
        carriers: None,
        service_levels: None,
        currency: "USD".into(),
        sort: Sort::Price,
    }
}

/// Bonn, DE → New York, NY; 2.5 kg of 30 × 20 × 10 cm.
fn de_to_us() -> RateRequest {
    RateRequest {
        origin: address("DE", "53113", "Bonn", None),
        destination: address("US", "10001", "New York", Some("NY")),
        parcels: vec![parcel(
            2.5,
            WeightUnit::Kg,
            [30.0, 20.0, 10.0],
            LengthUnit::Cm,
        )],
        ..domestic_us()
    }
}

fn ctx(carrier: &str, account: Option<&str>) -> CarrierContext {
    CarrierContext {
        carrier: carrier.into(),
        account_number: account.map(Into::into),
        transaction_id: "d0e7832e-5c98-11ea-bc55-0242ac130003".into(),
    }
}

fn reply(status: u16, body: &[u8]) -> CarrierResponse<'_> {
    CarrierResponse {
        status,
        body,
        retry_after_secs: None,
    }
}

fn find<'q>(quotes: &'q [Quote], code: &str) -> &'q Quote {
    quotes
        .iter()
        .find(|q| q.service_code == code)
        .unwrap_or_else(|| panic!("no quote for {code} in {quotes:?}"))
}

// ---------------------------------------------------------------------------------- UPS

#[test]
fn ups_shops_every_service_with_transit_times() {
    let call = RateAdapter::Ups
        .build_request(&domestic_us(), &ctx("ups", Some("W4YP05")))
        .unwrap();
    assert_eq!(call.method.as_str(), "POST");
    assert_eq!(call.path, "/api/rating/v2409/Shoptimeintransit");
    assert_eq!(
        call.header("transId"),
        Some("d0e7832e-5c98-11ea-bc55-0242ac13")
    );
    assert_eq!(call.header("transactionSrc"), Some("waypost"));
    assert_eq!(call.header("content-type"), Some("application/json"));
    assert_eq!(call.header("authorization"), None);
    let body = call.body.unwrap();
    let shipment = &body["RateRequest"]["Shipment"];
    assert_eq!(shipment["Shipper"]["ShipperNumber"], "W4YP05");
    assert_eq!(shipment["Shipper"]["Address"]["PostalCode"], "30005");
    assert_eq!(shipment["Shipper"]["Address"]["StateProvinceCode"], "GA");
    assert_eq!(
        shipment["ShipTo"]["Address"]["ResidentialAddressIndicator"],
        "Y"
    );
    assert_eq!(shipment["ShipFrom"]["Address"]["CountryCode"], "US");
    assert_eq!(
        shipment["PaymentDetails"]["ShipmentCharge"][0],
        json!({"Type": "01", "BillShipper": {"AccountNumber": "W4YP05"}})
    );
    assert_eq!(
        shipment["ShipmentRatingOptions"]["NegotiatedRatesIndicator"],
        "Y"
    );
    assert_eq!(
        shipment["DeliveryTimeInformation"]["Pickup"]["Date"],
        "20261201"
    );
    assert_eq!(shipment["DeliveryTimeInformation"]["PackageBillType"], "03");
    assert!(
        shipment.get("Service").is_none(),
        "Shop rates every service"
    );
    assert_eq!(shipment["NumOfPieces"], "1");
    let package = &shipment["Package"][0];
    assert_eq!(package["PackagingType"]["Code"], "02");
    assert_eq!(package["PackageWeight"]["UnitOfMeasurement"]["Code"], "LBS");
    assert_eq!(
        package["PackageWeight"]["Weight"], "5.5",
        "scalars are strings"
    );
    assert_eq!(package["Dimensions"]["UnitOfMeasurement"]["Code"], "IN");
    assert_eq!(package["Dimensions"]["Length"], "12");
    assert_eq!(shipment["ShipmentTotalWeight"]["Weight"], "5.5");
    assert_eq!(
        body["RateRequest"]["Request"]["TransactionReference"]["CustomerContext"],
        "d0e7832e-5c98-11ea-bc55-0242ac130003"
    );
}

#[test]
fn ups_rates_metric_origins_in_kilograms_and_without_an_account_publicly() {
    let call = RateAdapter::Ups
        .build_request(&de_to_us(), &ctx("ups", None))
        .unwrap();
    let shipment = &call.body.unwrap()["RateRequest"]["Shipment"];
    let package = &shipment["Package"][0];
    assert_eq!(package["PackageWeight"]["UnitOfMeasurement"]["Code"], "KGS");
    assert_eq!(package["PackageWeight"]["Weight"], "2.5");
    assert_eq!(package["Dimensions"]["UnitOfMeasurement"]["Code"], "CM");
    assert_eq!(package["Dimensions"]["Height"], "10");
    assert!(shipment["Shipper"].get("ShipperNumber").is_none());
    assert!(shipment.get("PaymentDetails").is_none());
    assert!(shipment.get("ShipmentRatingOptions").is_none());
    assert!(
        shipment["Shipper"]["Address"]
            .get("StateProvinceCode")
            .is_none()
    );
}

#[test]
fn ups_answer_becomes_quotes_with_negotiated_prices() {
    let quotes = RateAdapter::Ups
        .parse_response(
            &domestic_us(),
            &ctx("ups", None),
            &reply(200, fixture!("ups/shop-ok.json")),
        )
        .unwrap();
    assert_eq!(quotes.len(), 3);
    let ground = find(&quotes, "03");
    assert_eq!(ground.carrier, "ups");
    assert_eq!(ground.service_name, "UPS Ground");
    assert_eq!(ground.service_level, ServiceLevel::Ground);
    assert_eq!(
        ground.price.amount_minor, 1137,
        "the negotiated total, not the list 14.21"
    );
    assert_eq!(ground.price.currency, "USD");
    assert_eq!(ground.transit_days, Some(3));
    assert_eq!(
        ground.estimated_delivery_date.as_deref(),
        Some("2026-12-04")
    );
    let two_day = find(&quotes, "02");
    assert_eq!(
        (two_day.price.amount_minor, two_day.transit_days),
        (3112, Some(2))
    );
    let next_day = find(&quotes, "01");
    assert_eq!(next_day.price.amount_minor, 8945);
    assert_eq!(next_day.transit_days, Some(1), "from GuaranteedDelivery");
    assert_eq!(next_day.estimated_delivery_date, None);
    assert_eq!(next_day.service_level, ServiceLevel::Overnight);
}

#[test]
fn ups_single_rated_shipment_as_a_bare_object_is_read() {
    let quotes = RateAdapter::Ups
        .parse_response(
            &de_to_us(),
            &ctx("ups", None),
            &reply(200, fixture!("ups/shop-single-object.json")),
        )
        .unwrap();
    assert_eq!(quotes.len(), 1);
    assert_eq!(quotes[0].service_name, "UPS Standard");
    assert_eq!(quotes[0].price.amount_minor, 2460);
    assert_eq!(quotes[0].price.currency, "EUR");
}

#[test]
fn ups_errors_keep_the_carrier_message() {
    let r = |status, body| {
        RateAdapter::Ups
            .parse_response(&domestic_us(), &ctx("ups", None), &reply(status, body))
            .unwrap_err()
    };
    let e = r(400, fixture!("ups/error-400.json"));
    assert_eq!(
        e,
        CarrierError::Rejected {
            status: 400,
            message: "111285: The postal code 99999 is invalid for GA United States.".into()
        }
    );
    assert!(r(401, fixture!("ups/error-401.json")).is_credential_failure());
    let e = RateAdapter::Ups
        .parse_response(
            &domestic_us(),
            &ctx("ups", None),
            &CarrierResponse {
                status: 429,
                body: fixture!("ups/error-429.json"),
                retry_after_secs: Some(12),
            },
        )
        .unwrap_err();
    assert_eq!(
        e,
        CarrierError::RateLimited {
            retry_after_secs: Some(12),
            message: "10429: Too Many Requests".into()
        }
    );
    let e = r(502, b"<html><body>Bad Gateway</body></html>");
    assert_eq!(
        e.message(),
        "the carrier answered HTTP 502",
        "no HTML echoed"
    );
    assert!(e.is_carrier_failure());
    assert!(matches!(
        r(200, b"{\"unexpected\": true}"),
        CarrierError::Malformed { .. }
    ));
}

// -------------------------------------------------------------------------------- FedEx

#[test]
fn fedex_quotes_every_service_for_the_account() {
    let call = RateAdapter::Fedex
        .build_request(&de_to_us(), &ctx("fedex", Some("740561073")))
        .unwrap();
    assert_eq!(call.method.as_str(), "POST");
    assert_eq!(call.path, "/rate/v1/rates/quotes");
    assert_eq!(
        call.header("x-customer-transaction-id"),
        Some("d0e7832e-5c98-11ea-bc55-0242ac130003")
    );
    assert_eq!(call.header("x-locale"), Some("en_US"));
    let body = call.body.unwrap();
    assert_eq!(body["accountNumber"], json!({"value": "740561073"}));
    assert_eq!(
        body["rateRequestControlParameters"]["returnTransitTimes"],
        true
    );
    let shipment = &body["requestedShipment"];
    assert_eq!(
        shipment["shipper"]["address"],
        json!({"postalCode": "53113", "countryCode": "DE", "city": "Bonn"})
    );
    assert_eq!(
        shipment["recipient"]["address"]["stateOrProvinceCode"],
        "NY"
    );
    assert_eq!(shipment["pickupType"], "DROPOFF_AT_FEDEX_LOCATION");
    assert_eq!(shipment["packagingType"], "YOUR_PACKAGING");
    assert_eq!(shipment["rateRequestType"], json!(["ACCOUNT", "LIST"]));
    assert_eq!(shipment["shipDateStamp"], "2026-12-01");
    assert_eq!(shipment["preferredCurrency"], "USD");
    assert_eq!(shipment["totalPackageCount"], 1);
    assert!(shipment.get("serviceType").is_none(), "all services");
    assert_eq!(
        shipment["requestedPackageLineItems"][0],
        json!({
            "weight": {"units": "KG", "value": 2.5},
            "dimensions": {"length": 30, "width": 20, "height": 10, "units": "CM"}
        })
    );
    let us = RateAdapter::Fedex
        .build_request(&domestic_us(), &ctx("fedex", Some("740561073")))
        .unwrap()
        .body
        .unwrap();
    let item = &us["requestedShipment"]["requestedPackageLineItems"][0];
    assert_eq!(item["weight"], json!({"units": "LB", "value": 5.5}));
    assert_eq!(item["dimensions"]["units"], "IN");
    assert_eq!(
        us["requestedShipment"]["recipient"]["address"]["residential"],
        true
    );
}

#[test]
fn fedex_needs_an_account_number() {
    assert_eq!(
        RateAdapter::Fedex.build_request(&domestic_us(), &ctx("fedex", None)),
        Err(BuildError::MissingAccountNumber)
    );
}

#[test]
fn fedex_answer_prefers_account_rates_and_reads_word_transit_times() {
    let quotes = RateAdapter::Fedex
        .parse_response(
            &domestic_us(),
            &ctx("fedex", None),
            &reply(200, fixture!("fedex/quotes-ok.json")),
        )
        .unwrap();
    assert_eq!(quotes.len(), 3);
    let ground = find(&quotes, "FEDEX_GROUND");
    assert_eq!(
        ground.price.amount_minor, 1304,
        "ACCOUNT 13.04 over LIST 15.74"
    );
    assert_eq!(ground.service_name, "FedEx Ground®");
    assert_eq!(ground.transit_days, Some(3));
    assert_eq!(
        ground.estimated_delivery_date.as_deref(),
        Some("2026-12-04")
    );
    assert_eq!(ground.service_level, ServiceLevel::Ground);
    let two_day = find(&quotes, "FEDEX_2_DAY");
    assert_eq!(two_day.price.amount_minor, 4210);
    assert_eq!(
        two_day.transit_days,
        Some(2),
        "operationalDetail.transitTime"
    );
    assert_eq!(
        two_day.estimated_delivery_date.as_deref(),
        Some("2026-12-03")
    );
    let overnight = find(&quotes, "PRIORITY_OVERNIGHT");
    assert_eq!(overnight.price.amount_minor, 9867);
    assert_eq!(overnight.transit_days, Some(1));
    assert_eq!(overnight.service_level, ServiceLevel::Overnight);
}

#[test]
fn fedex_errors_keep_code_and_message() {
    let r = |status, body| {
        RateAdapter::Fedex
            .parse_response(&domestic_us(), &ctx("fedex", None), &reply(status, body))
            .unwrap_err()
    };
    let e = r(400, fixture!("fedex/error-400.json"));
    assert!(matches!(e, CarrierError::Rejected { status: 400, .. }));
    assert!(
        e.message()
            .starts_with("ACCOUNT.NUMBER.MISMATCH: When payment Type is SENDER")
    );
    assert!(r(401, fixture!("fedex/error-401.json")).is_credential_failure());
    let e = r(503, fixture!("fedex/error-503.json"));
    assert!(e.is_carrier_failure());
    assert!(e.message().starts_with("SERVICE.UNAVAILABLE.ERROR: "));
    assert!(e.message().chars().count() <= crate::rates::carrier::MAX_MESSAGE_CHARS);
}

// ---------------------------------------------------------------------------------- DHL

#[test]
fn dhl_posts_every_parcel_in_one_rates_call() {
    let mut request = de_to_us();
    request.parcels.push(parcel(
        1.0,
        WeightUnit::Lb,
        [10.0, 10.0, 10.0],
        LengthUnit::In,
    ));
    let call = RateAdapter::Dhl
        .build_request(&request, &ctx("dhl", Some("123456789")))
        .unwrap();
    assert_eq!(call.method.as_str(), "POST");
    assert_eq!(call.path, "/rates");
    assert_eq!(
        call.header("message-reference"),
        Some("d0e7832e-5c98-11ea-bc55-0242ac130003")
    );
    let body = call.body.unwrap();
    assert_eq!(
        body["customerDetails"]["shipperDetails"],
        json!({"postalCode": "53113", "cityName": "Bonn", "countryCode": "DE"})
    );
    assert_eq!(
        body["customerDetails"]["receiverDetails"]["provinceCode"],
        "NY"
    );
    assert_eq!(
        body["accounts"],
        json!([{"typeCode": "shipper", "number": "123456789"}])
    );
    assert_eq!(
        body["plannedShippingDateAndTime"],
        "2026-12-01T12:00:00GMT+00:00"
    );
    assert_eq!(body["unitOfMeasurement"], "metric");
    assert_eq!(body["isCustomsDeclarable"], true);
    assert_eq!(body["nextBusinessDay"], true);
    assert_eq!(
        body["estimatedDeliveryDate"],
        json!({"isRequested": true, "typeCode": "QDDC"})
    );
    assert_eq!(
        body["packages"],
        json!([
            {"weight": 2.5, "dimensions": {"length": 30, "width": 20, "height": 10}},
            {"weight": 0.454, "dimensions": {"length": 26, "width": 26, "height": 26}}
        ]),
        "one unit system: the lb/in parcel converted to kg/cm, rounded up"
    );
}

#[test]
fn dhl_customs_and_message_reference_rules() {
    let mut request = de_to_us();
    request.destination = address("FR", "75001", "Paris", None);
    let mut short = ctx("dhl", Some("123456789"));
    short.transaction_id = "req-1".into();
    let call = RateAdapter::Dhl.build_request(&request, &short).unwrap();
    assert_eq!(
        call.body.as_ref().unwrap()["isCustomsDeclarable"],
        false,
        "within the EU"
    );
    assert_eq!(
        call.header("message-reference"),
        None,
        "DHL wants 28-36 characters"
    );
    assert_eq!(
        RateAdapter::Dhl.build_request(&request, &ctx("dhl", None)),
        Err(BuildError::MissingAccountNumber)
    );
    let us = RateAdapter::Dhl
        .build_request(&domestic_us(), &ctx("dhl", Some("1")))
        .unwrap()
        .body
        .unwrap();
    assert_eq!(us["unitOfMeasurement"], "imperial");
    assert_eq!(us["packages"][0]["weight"], 5.5);
}

#[test]
fn dhl_answer_skips_unpriced_products_and_prefers_the_asked_currency() {
    let parse = |currency: &str| {
        let mut request = de_to_us();
        request.currency = currency.into();
        RateAdapter::Dhl
            .parse_response(
                &request,
                &ctx("dhl", None),
                &reply(200, fixture!("dhl/rates-ok.json")),
            )
            .unwrap()
    };
    let quotes = parse("USD");
    assert_eq!(quotes.len(), 2, "EXPRESS 12:00 has price 0: not a quote");
    let worldwide = find(&quotes, "P");
    assert_eq!(worldwide.service_name, "EXPRESS WORLDWIDE");
    assert_eq!(worldwide.service_level, ServiceLevel::Express);
    assert_eq!(
        (
            worldwide.price.amount_minor,
            worldwide.price.currency.as_str()
        ),
        (8435, "EUR"),
        "no USD price: the billing currency"
    );
    assert_eq!(worldwide.transit_days, Some(2));
    assert_eq!(
        worldwide.estimated_delivery_date.as_deref(),
        Some("2026-12-03")
    );
    let economy = find(&quotes, "W");
    assert_eq!(
        (economy.price.amount_minor, economy.price.currency.as_str()),
        (4575, "USD")
    );
    assert_eq!(economy.transit_days, Some(5));
    let economy = find(&parse("EUR"), "W").clone();
    assert_eq!(
        (economy.price.amount_minor, economy.price.currency.as_str()),
        (4190, "EUR")
    );
}

#[test]
fn dhl_only_unpriced_products_is_an_empty_answer() {
    let body = br#"{"products":[{"productName":"EXPRESS 12:00","productCode":"Y","totalPrice":[{"currencyType":"BILLC","priceCurrency":"EUR","price":0}]}],"warnings":["Price can't be calculated"]}"#;
    let quotes = RateAdapter::Dhl
        .parse_response(&de_to_us(), &ctx("dhl", None), &reply(200, body))
        .unwrap();
    assert!(quotes.is_empty());
}

#[test]
fn dhl_problem_errors_keep_their_details() {
    let r = |status, body| {
        RateAdapter::Dhl
            .parse_response(&de_to_us(), &ctx("dhl", None), &reply(status, body))
            .unwrap_err()
    };
    let e = r(400, fixture!("dhl/error-400.json"));
    assert_eq!(
        e.message(),
        "Bad request: Multiple problems found, see Additional Details: plannedShippingDateAndTime: must not be in the past: packages/0/weight: must be greater than or equal to 0.001"
    );
    assert!(r(401, fixture!("dhl/error-401.json")).is_credential_failure());
    let e = r(500, fixture!("dhl/error-500.json"));
    assert!(e.is_carrier_failure());
    assert_eq!(
        e.message(),
        "Process errors: 996: Not able to calculate the price"
    );
}

// --------------------------------------------------------------------------------- USPS

#[test]
fn usps_prices_three_mail_classes_for_one_parcel() {
    let mut request = domestic_us();
    request.parcels = vec![parcel(
        2.5,
        WeightUnit::Kg,
        [10.0, 30.0, 20.0],
        LengthUnit::Cm,
    )];
    request.destination.postal_code = "10001-1234".into();
    let call = RateAdapter::Usps
        .build_request(&request, &ctx("usps", None))
        .unwrap();
    assert_eq!(call.method.as_str(), "POST");
    assert_eq!(call.path, "/prices/v3/total-rates/search");
    assert_eq!(
        call.body.unwrap(),
        json!({
            "originZIPCode": "30005",
            "destinationZIPCode": "10001",
            "weight": 5.52,
            "length": 11.9,
            "width": 7.9,
            "height": 4,
            "mailClasses": ["USPS_GROUND_ADVANTAGE", "PRIORITY_MAIL", "PRIORITY_MAIL_EXPRESS"],
            "priceType": "RETAIL",
            "mailingDate": "2026-12-01"
        }),
        "pounds and inches, the longest side as length"
    );
    let with_account = RateAdapter::Usps
        .build_request(&request, &ctx("usps", Some("1000123456")))
        .unwrap()
        .body
        .unwrap();
    assert_eq!(with_account["priceType"], "COMMERCIAL");
    assert_eq!(with_account["accountType"], "EPS");
    assert_eq!(with_account["accountNumber"], "1000123456");
}

#[test]
fn usps_cannot_rate_abroad_or_several_parcels() {
    assert!(matches!(
        RateAdapter::Usps.build_request(&de_to_us(), &ctx("usps", None)),
        Err(BuildError::Unsupported(_))
    ));
    let mut two = domestic_us();
    two.parcels.push(two.parcels[0].clone());
    assert_eq!(
        RateAdapter::Usps.build_request(&two, &ctx("usps", None)),
        Err(BuildError::Unsupported(
            "USPS prices one parcel per request".into()
        ))
    );
    let mut bad_zip = domestic_us();
    bad_zip.origin.postal_code = "3000".into();
    assert!(
        RateAdapter::Usps
            .build_request(&bad_zip, &ctx("usps", None))
            .is_err()
    );
}

#[test]
fn usps_answer_keeps_the_cheapest_parcel_price_per_mail_class() {
    let quotes = RateAdapter::Usps
        .parse_response(
            &domestic_us(),
            &ctx("usps", None),
            &reply(200, fixture!("usps/total-rates-ok.json")),
        )
        .unwrap();
    let prices: Vec<(&str, i64)> = quotes
        .iter()
        .map(|q| (q.service_code.as_str(), q.price.amount_minor))
        .collect();
    assert_eq!(
        prices,
        [
            ("PRIORITY_MAIL", 1120),
            ("PRIORITY_MAIL_EXPRESS", 4850),
            ("USPS_GROUND_ADVANTAGE", 935)
        ],
        "the flat-rate envelope (10.40) needs USPS packaging; DR 13.75 is dearer"
    );
    assert!(
        quotes
            .iter()
            .all(|q| q.price.currency == "USD" && q.transit_days.is_none())
    );
    assert_eq!(
        find(&quotes, "PRIORITY_MAIL").service_level,
        ServiceLevel::TwoDay
    );
    assert_eq!(
        find(&quotes, "USPS_GROUND_ADVANTAGE").service_name,
        "USPS Ground Advantage"
    );
}

#[test]
fn usps_errors_and_retry_after() {
    let e = RateAdapter::Usps
        .parse_response(
            &domestic_us(),
            &ctx("usps", None),
            &reply(400, fixture!("usps/error-400.json")),
        )
        .unwrap_err();
    assert_eq!(
        e.message(),
        "400: No valid rates found. (030020: No rates were found for the given rate ingredients.)"
    );
    let e = RateAdapter::Usps
        .parse_response(
            &domestic_us(),
            &ctx("usps", None),
            &CarrierResponse {
                status: 429,
                body: fixture!("usps/error-429.json"),
                retry_after_secs: Some(30),
            },
        )
        .unwrap_err();
    assert_eq!(e.retry_after_secs(), Some(30));
    assert!(matches!(e, CarrierError::RateLimited { .. }));
    let repeated = br#"{"apiVersion":"/prices/v3","error":{"code":"503","message":"Try later.","errors":[{"status":"503","code":"503","title":"Service Unavailable","detail":"Try later."}]}}"#;
    let e = RateAdapter::Usps
        .parse_response(&domestic_us(), &ctx("usps", None), &reply(503, repeated))
        .unwrap_err();
    assert_eq!(
        e.message(),
        "503: Try later.",
        "a detail that repeats is left out"
    );
}

// ------------------------------------------------------------------------------ dispatch

#[test]
fn generic_carriers_have_no_rating_adapter() {
    use crate::config::Adapter;
    assert_eq!(RateAdapter::for_adapter(Adapter::Generic), None);
    for a in [Adapter::Ups, Adapter::Fedex, Adapter::Dhl, Adapter::Usps] {
        assert_eq!(
            RateAdapter::for_adapter(a).map(RateAdapter::adapter),
            Some(a)
        );
    }
}
