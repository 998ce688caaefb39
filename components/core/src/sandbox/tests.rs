//! Fault injection and the echo endpoint, across carriers.

use super::Carrier::{self, Dhl, Fedex, Ups, Usps};
use super::testkit::{Req, req};
use super::{Reply, fingerprint};
use serde_json::Value;

fn echo(carrier: Carrier) -> Req {
    req(carrier, "POST", "/_echo")
}

/// The carrier's error code or status text, wherever its format keeps it.
fn carrier_code(carrier: Carrier, body: &Value) -> String {
    let code = match carrier {
        Ups => &body["response"]["errors"][0]["code"],
        Fedex => &body["errors"][0]["code"],
        Dhl => &body["status"],
        Usps => &body["error"]["code"],
    };
    code.as_str().unwrap().to_string()
}

// ------------------------------------------------------------------------------- echo

#[test]
fn the_echo_shows_what_arrived_without_the_credential() {
    let token = "super-secret-upstream-token";
    let mut request = req(Ups, "PUT", "/_echo/some/path")
        .query("a=1&b=two")
        .bearer(token)
        .header("X-Api-Key", "tenant_secretkey")
        .header("Accept", "application/json")
        .header("x-custom", "one")
        .header("X-Custom", "two");
    request.body = format!("client_secret={token}").into_bytes();
    let res = request.send();
    let text = String::from_utf8(res.0.body.clone()).unwrap();
    assert!(!text.contains(token), "{text}");
    assert!(!text.contains("secretkey"), "{text}");
    let body = res.expect(200);
    assert_eq!(body["carrier"], "ups");
    assert_eq!(body["method"], "PUT");
    assert_eq!(body["path"], "/_echo/some/path");
    assert_eq!(body["query"], "a=1&b=two");
    assert_eq!(
        body["headers"]["authorization"],
        format!("Bearer {}", fingerprint(token))
    );
    assert_eq!(
        body["headers"]["x-api-key"],
        fingerprint("tenant_secretkey")
    );
    assert_eq!(body["headers"]["accept"], "application/json");
    assert_eq!(body["headers"]["x-custom"], "one, two");
    assert_eq!(body["body_length"], "client_secret=".len() + token.len());
}

#[test]
fn the_echo_fingerprints_basic_credentials_and_serves_every_carrier() {
    for carrier in Carrier::ALL {
        let res = echo(carrier)
            .basic("user", "pa55word")
            .header("DHL-API-Key", "k3y")
            .send();
        let text = String::from_utf8(res.0.body.clone()).unwrap();
        assert!(!text.contains("dXNlcjpwYTU1d29yZA"), "{text}");
        assert!(!text.contains("k3y"), "{text}");
        let body = res.expect(200);
        assert_eq!(body["carrier"], carrier.as_str());
        assert!(
            body["headers"]["authorization"]
                .as_str()
                .unwrap()
                .starts_with("Basic sha256:")
        );
        assert_eq!(body["headers"]["dhl-api-key"], fingerprint("k3y"));
    }
    assert_eq!(req(Ups, "GET", "/_echoes").send().status(), 404);
}

// ---------------------------------------------------------------------------- latency

fn delay(request: &Req) -> u64 {
    request.send_delayed().1
}

#[test]
fn latency_applies_per_carrier_and_a_bare_value_to_all() {
    assert_eq!(delay(&echo(Ups).header("x-sandbox-latency-ms", "250")), 250);
    assert_eq!(delay(&echo(Ups)), 0);
    let scoped = "ups=200,fedex=50";
    assert_eq!(
        delay(&echo(Ups).header("x-sandbox-latency-ms", scoped)),
        200
    );
    assert_eq!(
        delay(&echo(Fedex).header("x-sandbox-latency-ms", scoped)),
        50
    );
    assert_eq!(delay(&echo(Dhl).header("x-sandbox-latency-ms", scoped)), 0);
    // The carrier's own entry wins over a bare one, in any order; lines are one list.
    let mixed = echo(Usps)
        .header("x-sandbox-latency-ms", "usps=5")
        .header("x-sandbox-latency-ms", "100");
    assert_eq!(delay(&mixed), 5);
    assert_eq!(
        delay(&echo(Dhl).header("x-sandbox-latency-ms", "usps=5, 100")),
        100
    );
}

#[test]
fn jitter_is_drawn_from_the_seed() {
    let request = echo(Fedex)
        .header("x-sandbox-latency-ms", "100")
        .header("x-sandbox-jitter-ms", "50");
    let delays: Vec<u64> = (0..64)
        .map(|seed| match request.reply_seeded(seed) {
            Reply::Answer { delay_ms, .. } => delay_ms,
            Reply::Hang => unreachable!(),
        })
        .collect();
    assert!(delays.iter().all(|d| (100..=150).contains(d)), "{delays:?}");
    assert!(
        delays.iter().any(|d| *d != delays[0]),
        "jitter varies with the seed"
    );
    assert_eq!(request.reply_seeded(7), request.reply_seeded(7));
}

#[test]
fn latency_delays_injected_failures_too() {
    let request = echo(Ups)
        .header("x-sandbox-latency-ms", "300")
        .header("x-sandbox-fail", "503");
    let (res, delay) = request.send_delayed();
    assert_eq!((res.status(), delay), (503, 300));
}

// ------------------------------------------------------------------------------ fail

#[test]
fn fail_answers_the_status_in_each_carriers_error_format() {
    let expected = [
        (Ups, "10004"),
        (Fedex, "SERVICE.UNAVAILABLE.ERROR"),
        (Dhl, "503"),
        (Usps, "503"),
    ];
    for (carrier, code) in expected {
        let body = echo(carrier)
            .header("x-sandbox-fail", "503")
            .send()
            .expect(503);
        assert_eq!(carrier_code(carrier, &body), code, "{carrier:?}");
    }
    let fedex = echo(Fedex)
        .header("x-sandbox-fail", "500")
        .send()
        .expect(500);
    assert_eq!(carrier_code(Fedex, &fedex), "INTERNAL.SERVER.ERROR");
    let res = req(Dhl, "GET", "/rates")
        .header("x-sandbox-fail", "502")
        .send();
    assert_eq!(res.header("content-type"), Some("application/problem+json"));
    assert_eq!(res.expect(502)["title"], "Bad Gateway");
    let oauth = req(Usps, "POST", "/oauth2/v3/token")
        .header("x-sandbox-fail", "500")
        .send();
    assert_eq!(oauth.expect(500)["error"], "server_error");
}

#[test]
fn a_scoped_fail_hits_only_its_carrier() {
    let header = "ups=503";
    assert_eq!(
        echo(Ups).header("x-sandbox-fail", header).send().status(),
        503
    );
    assert_eq!(
        echo(Fedex).header("x-sandbox-fail", header).send().status(),
        200
    );
    let both = "fedex=500,ups=502";
    assert_eq!(
        echo(Fedex).header("x-sandbox-fail", both).send().status(),
        500
    );
    assert_eq!(
        echo(Ups).header("x-sandbox-fail", both).send().status(),
        502
    );
}

#[test]
fn fault_headers_that_do_not_parse_are_a_400_naming_the_header() {
    for (name, value) in [
        ("x-sandbox-fail", "418"),
        ("x-sandbox-fail", "ontrac=503"),
        ("x-sandbox-fail", "ups=503,ups=502"),
        ("x-sandbox-latency-ms", "fast"),
        ("x-sandbox-latency-ms", "600001"),
        ("x-sandbox-error-rate", "1.5"),
        ("x-sandbox-429", "-1"),
        ("x-sandbox-hang", "yes"),
        ("x-sandbox-status", "99"),
    ] {
        let res = echo(Ups).header(name, value).send();
        let body = res.expect(400);
        let message = body["response"]["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(name), "{name}: {value}: {message}");
    }
    // An entry for another carrier is still checked.
    assert_eq!(
        echo(Ups)
            .header("x-sandbox-fail", "fedex=200")
            .send()
            .status(),
        400
    );
}

// ------------------------------------------------------------------------------- 429

#[test]
fn too_many_requests_carries_retry_after_in_the_carriers_format() {
    for carrier in Carrier::ALL {
        let res = echo(carrier).header("x-sandbox-429", "17").send();
        assert_eq!(res.header("retry-after"), Some("17"));
        let body = res.expect(429);
        let code = carrier_code(carrier, &body);
        assert!(
            ["10429", "TOO.MANY.REQUESTS.ERROR", "429"].contains(&code.as_str()),
            "{code}"
        );
    }
    let scoped = echo(Dhl).header("x-sandbox-429", "ups=5");
    assert_eq!(scoped.send().status(), 200);
    let status_only = echo(Ups).header("x-sandbox-status", "429").send();
    assert_eq!(status_only.status(), 429);
    assert_eq!(status_only.header("retry-after"), None);
}

// ------------------------------------------------------------------------------ hang

#[test]
fn hang_never_answers_and_wins_over_everything() {
    let hang = echo(Usps)
        .header("x-sandbox-hang", "1")
        .header("x-sandbox-fail", "500");
    assert_eq!(hang.reply(), Reply::Hang);
    assert_eq!(
        echo(Usps).header("x-sandbox-hang", "0").send().status(),
        200
    );
    assert_eq!(
        echo(Usps)
            .header("x-sandbox-hang", "fedex=1")
            .send()
            .status(),
        200
    );
    assert_eq!(
        echo(Fedex).header("x-sandbox-hang", "fedex=1").reply(),
        Reply::Hang
    );
}

// ------------------------------------------------------------------------ error rate

#[test]
fn the_error_rate_fails_that_share_of_seeds() {
    let statuses = |rate: &str| -> Vec<u16> {
        let request = echo(Ups).header("x-sandbox-error-rate", rate);
        (0..400)
            .map(|seed| match request.reply_seeded(seed) {
                Reply::Answer { response, .. } => response.status,
                Reply::Hang => unreachable!(),
            })
            .collect()
    };
    assert!(statuses("0").iter().all(|s| *s == 200));
    assert!(statuses("1.0").iter().all(|s| *s == 503));
    let half = statuses("0.5");
    let failed = half.iter().filter(|s| **s == 503).count();
    assert!((140..=260).contains(&failed), "{failed} of 400");
    assert_eq!(
        half,
        statuses("0.5"),
        "the same seed draws the same outcome"
    );
    let scoped = echo(Fedex).header("x-sandbox-error-rate", "ups=1.0");
    assert_eq!(scoped.send().status(), 200);
}

// ---------------------------------------------------------------------------- status

#[test]
fn an_injected_error_status_answers_in_the_carriers_format() {
    let body = echo(Fedex)
        .header("x-sandbox-status", "403")
        .send()
        .expect(403);
    assert_eq!(carrier_code(Fedex, &body), "FORBIDDEN.ERROR");
    let body = echo(Ups)
        .header("x-sandbox-status", "418")
        .send()
        .expect(418);
    assert_eq!(carrier_code(Ups, &body), "418");
    let res = echo(Usps).header("x-sandbox-status", "401").send();
    assert!(res.header("www-authenticate").is_some());
    assert_eq!(res.status(), 401);
}

#[test]
fn an_injected_success_status_replaces_only_a_successful_answer() {
    let created = echo(Dhl)
        .header("x-sandbox-status", "201")
        .send()
        .expect(201);
    assert_eq!(created["carrier"], "dhl");
    let empty = echo(Dhl).header("x-sandbox-status", "204").send();
    assert_eq!((empty.status(), empty.0.body.len()), (204, 0));
    // A request the carrier refuses stays refused.
    let refused = req(Ups, "POST", "/api/rating/v2409/Shop").header("x-sandbox-status", "201");
    assert_eq!(refused.send().status(), 401);
}

#[test]
fn precedence_is_hang_fail_429_error_rate_status() {
    let all = echo(Ups)
        .header("x-sandbox-fail", "502")
        .header("x-sandbox-429", "3")
        .header("x-sandbox-error-rate", "1")
        .header("x-sandbox-status", "418");
    assert_eq!(all.send().status(), 502);
    let no_fail = echo(Ups)
        .header("x-sandbox-429", "3")
        .header("x-sandbox-error-rate", "1")
        .header("x-sandbox-status", "418");
    assert_eq!(no_fail.send().status(), 429);
    let rate_and_status = echo(Ups)
        .header("x-sandbox-error-rate", "1")
        .header("x-sandbox-status", "418");
    assert_eq!(rate_and_status.send().status(), 503);
}

#[test]
fn faults_apply_to_token_endpoints_too() {
    let token = req(Fedex, "POST", "/oauth/token").form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "k"),
        ("client_secret", "s"),
    ]);
    assert_eq!(token.send().status(), 200);
    let failing = token.header("x-sandbox-fail", "fedex=503");
    assert_eq!(
        carrier_code(Fedex, &failing.send().expect(503)),
        "SERVICE.UNAVAILABLE.ERROR"
    );
}
