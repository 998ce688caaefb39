//! The webhooks module as the component uses it: intake to delivery, the outbox's
//! state machine, dead letters, concurrency and bounded storage.

use super::testkit::{DEMO, demo_kv, event, subscription};
use super::*;
use crate::config::store::ConfigStore;
use crate::config::{DEFAULT_SCHEDULE_SECS, DeliveryTier, Signature};
use crate::kv::MemoryKv;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;
use std::collections::HashSet;
use std::sync::Arc;

const NOW: u64 = 1_800_000_000;
const FEDEX_SECRET: &str = "fedex-security-token";
const SUBSCRIBER_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn fedex_body(tracking_number: &str) -> Vec<u8> {
    serde_json::json!({
        "trackingNumberInfo": { "trackingNumber": tracking_number },
        "latestStatusDetail": { "derivedCode": "DL", "description": "Delivered" },
        "scanEvents": [{ "date": "2026-04-02T10:00:00-05:00", "eventType": "DL", "eventDescription": "Delivered" }]
    })
    .to_string()
    .into_bytes()
}

fn fedex_headers(body: &[u8], secret: &str) -> HeaderMap {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    let mut h = HeaderMap::new();
    let sig = STANDARD.encode(mac.finalize().into_bytes());
    h.insert("fdx-signature", HeaderValue::from_str(&sig).unwrap());
    h
}

/// What the component does for one carrier request, up to recording.
fn take_in(
    kv: &MemoryKv,
    carrier: &str,
    tenant: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Recorded, IntakeError> {
    let store = ConfigStore::new(kv);
    let view = store.view().unwrap().unwrap();
    let intake = intake(&view, carrier)?;
    let received = receive(
        &view,
        &intake,
        &[FEDEX_SECRET.to_string()],
        headers,
        body,
        tenant,
        NOW,
    )?;
    record_received(kv, &view, &received, NOW, 7, None)
}

fn webhook_keys(kv: &MemoryKv) -> Vec<String> {
    kv.keys()
        .into_iter()
        .filter(|k| k.starts_with("webhooks:"))
        .collect()
}

fn failed() -> AttemptOutcome {
    AttemptOutcome::from_response(503, None)
}

fn delivered() -> AttemptOutcome {
    AttemptOutcome::from_response(200, None)
}

fn tier(id: &str, delays: &[u32]) -> DeliveryTier {
    DeliveryTier {
        id: id.into(),
        schedule_secs: delays.to_vec(),
    }
}

/// Records one event for one subscription of `tier`; returns what `record` did.
fn record_one(
    kv: &MemoryKv,
    source_id: &str,
    tiers: &[DeliveryTier],
    tier_id: &str,
    now: u64,
) -> Recorded {
    let e = event("acme", "ups", source_id, TrackingStatus::Delivered);
    let subs = [subscription(
        "acme-hooks",
        "acme",
        &["tracking.*"],
        &[],
        tier_id,
    )];
    record(kv, &e, 3600, &subs, tiers, now, 11, None).unwrap()
}

// ------------------------------------------------------------------------ intake

#[test]
fn a_signed_carrier_event_is_recorded_once_and_delivered_signed() {
    let kv = demo_kv();
    let body = fedex_body("794698111111");
    let headers = fedex_headers(&body, FEDEX_SECRET);
    let first = take_in(&kv, "fedex", Some("nordlicht"), &headers, &body).unwrap();
    assert_eq!(first.claim, Claim::First);
    assert_eq!(first.matched, 1, "nordlicht-tracking wants tracking.*");
    let [delivery] = first.deliveries.as_slice() else {
        panic!("the default tier's first attempt is immediate: {first:?}");
    };
    assert_eq!(delivery.url, "https://hooks.nordlicht.example/waypost");
    assert_eq!(delivery.secret, "nordlicht_webhook_secret");
    assert_eq!(delivery.event_type, "tracking.delivered");

    // The component signs and sends it; the subscriber verifies with the same secret.
    let request = outbound_request(delivery, SUBSCRIBER_SECRET, NOW).unwrap();
    let mut sent = HeaderMap::new();
    for (name, value) in &request.headers {
        sent.insert(*name, HeaderValue::from_str(value).unwrap());
    }
    assert_eq!(
        standard_webhooks::verify(
            &sent,
            request.body.as_bytes(),
            &[SUBSCRIBER_SECRET],
            NOW + 1,
            300
        ),
        Ok(())
    );
    assert_eq!(sent["webhook-id"], delivery.event_id.as_str());
    let payload: serde_json::Value = serde_json::from_str(&request.body).unwrap();
    assert_eq!(payload["data"]["tracking_number"], "794698111111");
    assert_eq!(payload["data"]["tenant"], "nordlicht");
    assert_eq!(
        record_result(&kv, delivery, &delivered(), NOW + 1, 1).unwrap(),
        Next::Delivered
    );

    let again = take_in(&kv, "fedex", Some("nordlicht"), &headers, &body).unwrap();
    assert_eq!(again.claim, Claim::Duplicate);
    assert!(again.deliveries.is_empty());
    assert_eq!(again.matched, 0);
}

#[test]
fn bad_input_stores_nothing_and_claims_nothing() {
    let kv = demo_kv();
    let before = kv.keys();
    let body = fedex_body("794698111111");
    let signed = fedex_headers(&body, FEDEX_SECRET);
    // (carrier, path tenant, headers, body, expected problem)
    type Case<'a> = (&'a str, Option<&'a str>, HeaderMap, Vec<u8>, &'a str);
    let cases: Vec<Case> = vec![
        (
            "fedex",
            Some("nordlicht"),
            HeaderMap::new(),
            body.clone(),
            "missing-signature",
        ),
        (
            "fedex",
            Some("nordlicht"),
            fedex_headers(&body, "guess"),
            body.clone(),
            "bad-signature",
        ),
        (
            "fedex",
            Some("nordlicht"),
            signed.clone(),
            fedex_body("794698111112"),
            "bad-signature",
        ),
        (
            "acme-freight",
            Some("nordlicht"),
            signed.clone(),
            body.clone(),
            "unknown-carrier",
        ),
        (
            "fedex",
            Some("nobody"),
            signed.clone(),
            body.clone(),
            "unknown-tenant",
        ),
        (
            "fedex",
            None,
            signed.clone(),
            body.clone(),
            "unknown-tenant",
        ),
        (
            "fedex",
            Some("nordlicht"),
            fedex_headers(b"{not json", FEDEX_SECRET),
            b"{not json".to_vec(),
            "invalid-payload",
        ),
        (
            "fedex",
            Some("nordlicht"),
            fedex_headers(b"{\"a\":1}", FEDEX_SECRET),
            b"{\"a\":1}".to_vec(),
            "invalid-payload",
        ),
    ];
    for (carrier, tenant, headers, body, kind) in cases {
        let err = take_in(&kv, carrier, tenant, &headers, &body).unwrap_err();
        assert_eq!(err.kind(), kind, "{carrier} {tenant:?}: {err:?}");
        assert_eq!(kv.keys(), before, "{kind} stored something");
    }
    // A stale Standard Webhooks request changes nothing either.
    let store = ConfigStore::new(&kv);
    let view = store.view().unwrap().unwrap();
    let mut standard = intake(&view, "fedex").unwrap();
    standard.signature = Signature::StandardWebhooks {};
    let signed = standard_webhooks::sign("msg_1", NOW - 301, &body, SUBSCRIBER_SECRET).unwrap();
    let mut headers = HeaderMap::new();
    for (name, value) in signed.pairs() {
        headers.insert(name, HeaderValue::from_str(value).unwrap());
    }
    let secrets = [SUBSCRIBER_SECRET.to_string()];
    let err = receive(
        &view,
        &standard,
        &secrets,
        &headers,
        &body,
        Some("nordlicht"),
        NOW,
    )
    .unwrap_err();
    assert_eq!(err, IntakeError::StaleTimestamp);
    assert_eq!(kv.keys(), before);
    // The real event afterwards is still the first.
    let ok = take_in(
        &kv,
        "fedex",
        Some("nordlicht"),
        &fedex_headers(&body, FEDEX_SECRET),
        &body,
    );
    assert_eq!(ok.unwrap().claim, Claim::First);
}

#[test]
fn the_tenant_can_come_from_the_payload_account() {
    let text = DEMO.replace(
        "carrier = \"ups\"\nsignature",
        "carrier = \"ups\"\naccount_pointer = \"/shipperAccountNumber\"\nsignature",
    );
    assert_ne!(text, DEMO, "the demo's UPS intake moved; update this test");
    let kv = MemoryKv::new();
    ConfigStore::new(&kv).apply(&text, None).unwrap();
    let store = ConfigStore::new(&kv);
    let view = store.view().unwrap().unwrap();
    let ups = intake(&view, "ups").unwrap();
    let body = serde_json::json!({
        "trackingNumber": "1Z023E2X0214323462",
        "shipperAccountNumber": "G10B3X",
        "activityStatus": { "type": "I", "code": "OT", "description": "Out For Delivery Today" }
    })
    .to_string();
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_static("Bearer ups-credential"),
    );
    let secrets = ["ups-credential".to_string()];
    let received = receive(&view, &ups, &secrets, &headers, body.as_bytes(), None, NOW).unwrap();
    assert_eq!(received.tenant.id, "globex");
    assert_eq!(received.event.status, TrackingStatus::OutForDelivery);
}

#[test]
fn fifty_concurrent_duplicates_make_one_delivery() {
    let kv = Arc::new(MemoryKv::new());
    let handles: Vec<_> = (0..50)
        .map(|_| {
            let kv = Arc::clone(&kv);
            std::thread::spawn(move || record_one(&kv, "same", &[], "default", NOW))
        })
        .collect();
    let results: Vec<Recorded> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let firsts = results.iter().filter(|r| r.claim == Claim::First).count();
    let leased: usize = results.iter().map(|r| r.deliveries.len()).sum();
    assert_eq!(firsts, 1);
    assert_eq!(leased, 1, "one attempt, sent by one request");
    let records = kv
        .keys()
        .iter()
        .filter(|k| k.starts_with("webhooks:delivery:"))
        .count();
    assert_eq!(records, 1);
}

#[test]
fn a_retry_after_a_crash_mid_recording_finishes_the_fan_out() {
    let kv = MemoryKv::new();
    let e = event("acme", "ups", "e1", TrackingStatus::Delivered);
    // The first request claimed, then died before enqueuing anything.
    assert_eq!(
        claim(&kv, "acme", "ups", &e.id, NOW, 3600).unwrap(),
        Claim::First
    );
    let subs = [subscription("acme-hooks", "acme", &["*"], &[], "default")];
    let retry = record(&kv, &e, 3600, &subs, &[], NOW + 30, 1, None).unwrap();
    assert_eq!(retry.claim, Claim::Unfinished);
    assert_eq!(retry.deliveries.len(), 1);
    let third = record(&kv, &e, 3600, &subs, &[], NOW + 60, 1, None).unwrap();
    assert_eq!(third.claim, Claim::Duplicate);
}

#[test]
fn subscriptions_filter_by_event_type_and_carrier() {
    let kv = MemoryKv::new();
    let e = event("acme", "fedex", "e1", TrackingStatus::Delivered);
    let subs = [
        subscription("all", "acme", &["*"], &[], "default"),
        subscription("delivered", "acme", &["tracking.delivered"], &[], "default"),
        subscription(
            "exceptions",
            "acme",
            &["tracking.exception"],
            &[],
            "default",
        ),
        subscription("ups-only", "acme", &["tracking.*"], &["ups"], "default"),
        subscription("fedex-only", "acme", &["tracking.*"], &["fedex"], "default"),
        subscription("other-tenant", "globex", &["*"], &[], "default"),
    ];
    let recorded = record(&kv, &e, 3600, &subs, &[], NOW, 3, None).unwrap();
    let mut got: Vec<&str> = recorded
        .deliveries
        .iter()
        .map(|d| d.subscription.as_str())
        .collect();
    got.sort();
    assert_eq!(got, vec!["all", "delivered", "fedex-only"]);
}

#[test]
fn the_intake_trace_context_goes_with_every_attempt_and_a_malformed_one_is_dropped() {
    let kv = MemoryKv::new();
    let subs = [subscription("acme-hooks", "acme", &["*"], &[], "default")];
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let e = event("acme", "ups", "e1", TrackingStatus::Delivered);
    let traced = record(&kv, &e, 3600, &subs, &[], NOW, 1, Some(traceparent)).unwrap();
    let request = outbound_request(&traced.deliveries[0], SUBSCRIBER_SECRET, NOW).unwrap();
    assert!(
        request
            .headers
            .iter()
            .any(|(name, value)| *name == "traceparent" && value == traceparent),
        "{:?}",
        request.headers
    );
    let forged = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nx-evil: 1";
    for (id, bad) in [
        ("e2", forged),
        (
            "e3",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ),
    ] {
        let e = event("acme", "ups", id, TrackingStatus::Delivered);
        let untraced = record(&kv, &e, 3600, &subs, &[], NOW, 1, Some(bad)).unwrap();
        assert_eq!(untraced.deliveries[0].traceparent, None);
        let request = outbound_request(&untraced.deliveries[0], SUBSCRIBER_SECRET, NOW).unwrap();
        assert!(
            request
                .headers
                .iter()
                .all(|(name, _)| *name != "traceparent")
        );
    }
}

// ------------------------------------------------------------------------ outbox

#[test]
fn a_tier_that_waits_schedules_the_first_attempt() {
    let kv = MemoryKv::new();
    let tiers = [tier("later", &[30, 60])];
    let r = record_one(&kv, "e1", &tiers, "later", NOW);
    assert!(r.deliveries.is_empty());
    assert_eq!(r.matched, 1);
    assert!(
        due(&kv, NOW + 26, 10).unwrap().is_empty(),
        "not before 30 s - 10 %"
    );
    let leased = due(&kv, NOW + 33, 10).unwrap();
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].attempt, 0);
    assert!(due(&kv, NOW + 34, 10).unwrap().is_empty(), "leased once");
}

/// Fails every attempt of one delivery, each when due; returns the attempt times.
fn fail_every_attempt(kv: &MemoryKv, first: Delivery, start: u64) -> (Vec<u64>, Next) {
    let mut times = vec![start];
    let mut current = first;
    let mut now = start;
    loop {
        match record_result(kv, &current, &failed(), now, now).unwrap() {
            Next::RetryAt(at) => {
                assert!(
                    due(kv, at - 1, 10).unwrap().is_empty(),
                    "not due before {at}"
                );
                now = at;
                let mut leased = due(kv, now, 10).unwrap();
                assert_eq!(leased.len(), 1, "due at {at}");
                current = leased.remove(0);
                times.push(now);
            }
            other => return (times, other),
        }
    }
}

#[test]
fn retries_follow_the_default_schedule_then_dead_letter() {
    let kv = MemoryKv::new();
    let r = record_one(&kv, "e1", &[], "default", NOW);
    let first = r.deliveries[0].clone();
    let again = record_one(&kv, "e1", &[], "default", NOW);
    assert!(again.deliveries.is_empty(), "a duplicate adds no delivery");
    assert_eq!(outbox_depth(&kv).unwrap(), 1);
    let (times, end) = fail_every_attempt(&kv, first, NOW);
    assert_eq!(end, Next::DeadLettered);
    assert_eq!(
        (outbox_depth(&kv).unwrap(), dead_letter_count(&kv).unwrap()),
        (0, 1),
        "retries leave the depth alone; the dead letter moves it"
    );
    assert_eq!(times.len(), DEFAULT_SCHEDULE_SECS.len(), "eight attempts");
    for (gap, scheduled) in times
        .windows(2)
        .map(|w| w[1] - w[0])
        .zip(&DEFAULT_SCHEDULE_SECS[1..])
    {
        let s = u64::from(*scheduled);
        assert!(gap >= s - s / 10 && gap <= s + s / 10, "gap {gap} for {s}");
    }
    let dead = dead_letters(&kv, Some("acme"), 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].attempts.len(), 8);
    assert_eq!(dead[0].reason, "HTTP 503");
    assert_eq!(dead_letters(&kv, None, 10).unwrap(), dead);
    assert!(dead_letters(&kv, Some("globex"), 10).unwrap().is_empty());
    assert!(
        dead_letters(&kv, Some("_all"), 10).unwrap().is_empty(),
        "not a tenant id"
    );
}

#[test]
fn the_dead_letter_query_names_one_valid_tenant_or_none() {
    use super::dead_letter::tenant_filter;
    assert_eq!(tenant_filter(None), Ok(None));
    assert_eq!(tenant_filter(Some("")), Ok(None));
    assert_eq!(tenant_filter(Some("tenant=acme")), Ok(Some("acme".into())));
    assert_eq!(
        tenant_filter(Some("tenant=acme%2Dwest")),
        Ok(Some("acme-west".into())),
        "form-encoded"
    );
    for (query, says) in [
        ("tenant=_all", "not a valid tenant id"),
        ("tenant=", "not a valid tenant id"),
        ("tenant=Acme", "not a valid tenant id"),
        ("tenant=acme&tenant=globex", "more than once"),
        ("tenat=acme", "Unknown query parameter \"tenat\""),
    ] {
        let p = tenant_filter(Some(query))
            .unwrap_err()
            .problem(Some("req-1"));
        assert_eq!(p.request_id.as_deref(), Some("req-1"));
        assert_eq!(
            (p.status, p.type_uri.rsplit('/').next()),
            (400, Some("invalid-query"))
        );
        let detail = p.detail.unwrap_or_default();
        assert!(detail.contains(says), "{query}: {detail}");
    }
}

#[test]
fn tiers_set_the_number_of_attempts() {
    let tiers = [
        tier("bulk", &[0, 60, 1800, 21600]),
        tier("urgent", &[0, 1, 5, 30, 60, 300]),
    ];
    for (id, attempts) in [("bulk", 4), ("urgent", 6)] {
        let kv = MemoryKv::new();
        let r = record_one(&kv, "e1", &tiers, id, NOW);
        let (times, end) = fail_every_attempt(&kv, r.deliveries[0].clone(), NOW);
        assert_eq!((times.len(), end), (attempts, Next::DeadLettered), "{id}");
    }
}

#[test]
fn a_dead_letter_is_replayed_and_then_delivered() {
    let kv = MemoryKv::new();
    let r = record_one(&kv, "e1", &[tier("once", &[0])], "once", NOW);
    let d = r.deliveries[0].clone();
    assert_eq!(outbox_depth(&kv).unwrap(), 1, "in flight");
    assert_eq!(
        record_result(&kv, &d, &failed(), NOW, 0).unwrap(),
        Next::DeadLettered
    );
    assert_eq!(
        (outbox_depth(&kv).unwrap(), dead_letter_count(&kv).unwrap()),
        (0, 1)
    );
    let [letter] = dead_letters(&kv, Some("acme"), 10)
        .unwrap()
        .try_into()
        .unwrap();
    assert_eq!(letter.id, d.id);

    let later = NOW + 3_600;
    let replayed = replay(&kv, &letter.id, later).unwrap();
    assert_eq!(replayed.state, DeliveryState::Pending { due: later });
    assert_eq!(replay(&kv, &letter.id, later), Err(ReplayError::NotDead));
    assert!(
        dead_letters(&kv, Some("acme"), 10).unwrap().is_empty(),
        "no longer dead"
    );
    assert_eq!(
        (outbox_depth(&kv).unwrap(), dead_letter_count(&kv).unwrap()),
        (1, 0)
    );
    let mut leased = due(&kv, later, 10).unwrap();
    assert_eq!(leased.len(), 1);
    let again = leased.remove(0);
    assert_eq!(
        (again.attempt, again.event_id.as_str()),
        (0, d.event_id.as_str())
    );
    assert_eq!(
        record_result(&kv, &again, &delivered(), later, 0).unwrap(),
        Next::Delivered
    );
    assert_eq!(outbox_depth(&kv).unwrap(), 0);
    assert_eq!(replay(&kv, &letter.id, later), Err(ReplayError::NotDead));
    assert_eq!(
        replay(&kv, "acme.0123456789abcdef0123456789abcdef", later),
        Err(ReplayError::NotFound)
    );
    assert_eq!(replay(&kv, "../etc", later), Err(ReplayError::NotFound));
}

#[test]
fn retry_after_is_honoured_and_gone_dead_letters_at_once() {
    let kv = MemoryKv::new();
    let r = record_one(&kv, "e1", &[], "default", NOW);
    let d = r.deliveries[0].clone();
    let throttled = AttemptOutcome::from_response(429, Some("120"));
    assert_eq!(
        record_result(&kv, &d, &throttled, NOW, 0).unwrap(),
        Next::RetryAt(NOW + 120)
    );
    let d = due(&kv, NOW + 120, 1).unwrap().remove(0);
    let gone = AttemptOutcome::from_response(410, None);
    assert_eq!(
        record_result(&kv, &d, &gone, NOW + 120, 0).unwrap(),
        Next::DeadLettered
    );
    assert_eq!(
        dead_letters(&kv, Some("acme"), 10).unwrap()[0].reason,
        "HTTP 410"
    );
}

#[test]
fn an_expired_lease_is_taken_again_and_the_late_holder_is_refused() {
    let kv = MemoryKv::new();
    let r = record_one(&kv, "e1", &[], "default", NOW);
    let abandoned = r.deliveries[0].clone();
    let expiry = NOW + delivery::LEASE_SECS;
    assert!(
        due(&kv, expiry - 1, 10).unwrap().is_empty(),
        "the lease holds"
    );
    let mut again = due(&kv, expiry, 10).unwrap();
    assert_eq!(again.len(), 1);
    let retaken = again.remove(0);
    assert_eq!(retaken.attempt, 0, "the same attempt, not a new one");
    assert_eq!(
        record_result(&kv, &abandoned, &delivered(), expiry + 1, 0).unwrap(),
        Next::LeaseLost
    );
    assert_eq!(
        record_result(&kv, &retaken, &delivered(), expiry + 1, 0).unwrap(),
        Next::Delivered
    );
    assert!(
        due(&kv, expiry + 3 * delivery::LEASE_SECS, 10)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_tick_after_a_long_pause_catches_up_over_several_calls() {
    let kv = MemoryKv::new();
    let r = record_one(&kv, "e1", &[tier("once", &[0])], "once", NOW);
    record_result(&kv, &r.deliveries[0], &failed(), NOW, 0).unwrap();
    let later = NOW + 3 * 86_400;
    let replayed = replay(&kv, &r.deliveries[0].id, later).unwrap();
    let mut calls = 0;
    let leased = loop {
        calls += 1;
        let leased = due(&kv, later, 10).unwrap();
        if !leased.is_empty() || calls > 10 {
            break leased;
        }
    };
    assert_eq!(leased.len(), 1);
    assert_eq!(leased[0].id, replayed.id);
    assert_eq!(calls, 4, "three days of buckets, one day per call");
}

#[test]
fn concurrent_ticks_never_lease_the_same_attempt() {
    let kv = Arc::new(MemoryKv::new());
    let tiers = [tier("later", &[10])];
    for i in 0..200 {
        record_one(&kv, &format!("e{i}"), &tiers, "later", NOW);
    }
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let kv = Arc::clone(&kv);
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let batch = due(&*kv, NOW + 20, 7).unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    mine.extend(batch.into_iter().map(|d| d.id));
                }
            })
        })
        .collect();
    let all: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let unique: HashSet<&String> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "an attempt was leased twice");
    assert_eq!(all.len(), 200);
}

#[test]
fn storage_levels_off_and_empties_after_the_retentions() {
    let kv = MemoryKv::new();
    let tiers = [tier("once", &[0])];
    let subs = [subscription("acme-hooks", "acme", &["*"], &[], "once")];
    // Four days of one event a minute, each delivered, with a tick every minute.
    let mut per_day = Vec::new();
    for minute in 0..(4 * 24 * 60u64) {
        let now = NOW + minute * 60;
        let e = event(
            "acme",
            "ups",
            &format!("e{minute}"),
            TrackingStatus::InTransit,
        );
        let r = record(&kv, &e, 3600, &subs, &tiers, now, minute, None).unwrap();
        record_result(&kv, &r.deliveries[0], &delivered(), now, minute).unwrap();
        sweep_claims(&kv, now, 1_000).unwrap();
        due(&kv, now, 1_000).unwrap();
        if minute % (24 * 60) == 24 * 60 - 1 {
            per_day.push(webhook_keys(&kv).len());
        }
    }
    // After the first day (delivered records are kept a day) the store stops growing.
    let [_, day2, day3, day4] = per_day[..] else {
        unreachable!()
    };
    assert!(
        day3 <= day2 + day2 / 50 && day4 <= day2 + day2 / 50,
        "{per_day:?}"
    );

    // Ten deliveries die; forty days later (past every retention) the ticks have
    // deleted every record and claim: what is left are the index cursors and the dead
    // letter rings' slots, which point at nothing any more.
    let later = NOW + 5 * 86_400;
    for i in 0..10 {
        let e = event(
            "acme",
            "ups",
            &format!("dead{i}"),
            TrackingStatus::Exception,
        );
        let r = record(&kv, &e, 3600, &subs, &tiers, later, i, None).unwrap();
        record_result(&kv, &r.deliveries[0], &failed(), later, i).unwrap();
    }
    assert_eq!(dead_letters(&kv, Some("acme"), 100).unwrap().len(), 10);
    assert_eq!(dead_letter_count(&kv).unwrap(), 10);
    assert_eq!(outbox_depth(&kv).unwrap(), 0, "every delivery ended");
    let end = later + 40 * 86_400;
    // A tick walks at most a day of buckets: forty-odd ticks catch up.
    for _ in 0..50 {
        due(&kv, end, 100_000).unwrap();
        sweep_claims(&kv, end, 100_000).unwrap();
    }
    assert!(dead_letters(&kv, Some("acme"), 100).unwrap().is_empty());
    assert_eq!(dead_letter_count(&kv).unwrap(), 0, "deleted by retention");
    let left = webhook_keys(&kv);
    let expected_left = [
        "webhooks:claim-index:cursor",
        "webhooks:outbox-index:cursor",
        "webhooks:dead:acme:count",
        "webhooks:dead:_all:count",
        "webhooks:stats:outbox-depth",
        "webhooks:stats:dead-letters",
    ];
    let other: Vec<&String> = left
        .iter()
        .filter(|k| !expected_left.contains(&k.as_str()))
        .filter(|k| !k.starts_with("webhooks:dead:"))
        .collect();
    assert!(other.is_empty(), "{other:?}");
    assert_eq!(left.len(), expected_left.len() + 2 * 10, "{left:?}");
}

#[test]
fn a_tenants_dead_letters_are_capped() {
    let kv = MemoryKv::new();
    let tiers = [tier("once", &[0])];
    let kept = dead_letter::DEAD_LETTERS_KEPT as usize;
    for i in 0..kept + 5 {
        let r = record_one(&kv, &format!("e{i}"), &tiers, "once", NOW);
        record_result(&kv, &r.deliveries[0], &failed(), NOW, 0).unwrap();
    }
    let listed = dead_letters(&kv, Some("acme"), usize::MAX).unwrap();
    assert_eq!(listed.len(), kept);
    let records = kv
        .keys()
        .iter()
        .filter(|k| k.starts_with("webhooks:delivery:"))
        .count();
    assert_eq!(records, kept, "pushed-out letters are deleted");
    assert_eq!(dead_letter_count(&kv).unwrap(), kept as u64);
    assert_eq!(outbox_depth(&kv).unwrap(), 0);
    assert_eq!(dead_letters(&kv, Some("acme"), 3).unwrap().len(), 3);
}

#[test]
fn store_faults_surface_as_typed_errors() {
    let kv = demo_kv();
    let body = fedex_body("794698111111");
    let headers = fedex_headers(&body, FEDEX_SECRET);
    let store = ConfigStore::new(&kv);
    let view = store.view().unwrap().unwrap();
    let fedex = intake(&view, "fedex").unwrap();
    let received = receive(
        &view,
        &fedex,
        &[FEDEX_SECRET.into()],
        &headers,
        &body,
        Some("nordlicht"),
        NOW,
    )
    .unwrap();
    kv.set_failing(true);
    let err = record_received(&kv, &view, &received, NOW, 0, None).unwrap_err();
    assert_eq!(err.status(), 503);
    assert!(due(&kv, NOW, 10).is_err());
    assert!(matches!(
        replay(&kv, "acme.0123456789abcdef0123456789abcdef", NOW),
        Err(ReplayError::Store(_))
    ));
    kv.set_failing(false);
    // Nothing half-done blocks the carrier's retry.
    let retried = record_received(&kv, &view, &received, NOW + 5, 0, None).unwrap();
    assert_eq!(retried.claim, Claim::First);
}
