use super::*;
use crate::kv::MemoryKv;
use std::sync::{Arc, Barrier};

const DAY: u64 = 24 * 60 * 60 * 1000;
/// Some day in 2025.
const T0: u64 = 20_000 * DAY + 3_600_000;
const LEASE: u64 = 15_000;

fn key(k: &str) -> IdempotencyKey {
    IdempotencyKey::parse(k).unwrap()
}

fn label_request() -> Fingerprint {
    Fingerprint::of(
        "POST",
        "/v1/carriers/ups/api/shipments/v2409/ship",
        b"{\"to\":\"A\"}",
    )
}

fn created() -> StoredResponse {
    StoredResponse::new(
        201,
        &[
            ("Content-Type".to_string(), "application/json".to_string()),
            ("Set-Cookie".to_string(), "carrier-session=1".to_string()),
            ("x-request-id".to_string(), "req-1".to_string()),
        ],
        b"{\"tracking\":\"1Z999\"}",
    )
}

/// Globex sends the label request with key `k` at `now_ms`.
fn start(kv: &MemoryKv, k: &IdempotencyKey, now_ms: u64) -> Begin {
    begin(kv, "globex", k, &label_request(), LEASE, now_ms, now_ms).unwrap()
}

fn proceed(begin: Begin) -> Claim {
    match begin {
        Begin::Proceed(claim) => claim,
        other => panic!("expected to proceed, got {other:?}"),
    }
}

#[test]
fn keys_are_validated() {
    for ok in [
        "8e03978e-40d5-43e8-bc93-6894a57f9324",
        "\"8e03978e-40d5-43e8-bc93-6894a57f9324\"",
        "order:42/label+1=",
        &"k".repeat(MAX_KEY_LEN),
    ] {
        assert!(IdempotencyKey::parse(ok).is_ok(), "{ok}");
    }
    assert_eq!(key("\"abc\"").as_str(), "abc");
    for bad in [
        "",
        "\"\"",
        "has space",
        "semi;colon",
        "ü",
        &"k".repeat(MAX_KEY_LEN + 1),
    ] {
        assert_eq!(
            IdempotencyKey::parse(bad),
            Err(RoutingError::InvalidIdempotencyKey),
            "{bad}"
        );
    }
    let twice = [
        ("Idempotency-Key".to_string(), "a".to_string()),
        ("idempotency-key".to_string(), "b".to_string()),
    ];
    assert_eq!(
        IdempotencyKey::from_headers(&twice),
        Err(RoutingError::InvalidIdempotencyKey)
    );
    assert_eq!(IdempotencyKey::from_headers(&[]), Ok(None));
    assert_eq!(RoutingError::InvalidIdempotencyKey.status(), 400);
}

#[test]
fn fingerprints_differ_by_method_path_and_body() {
    let base = Fingerprint::of("POST", "/a", b"x");
    assert_eq!(base, Fingerprint::of("post", "/a", b"x"));
    assert_ne!(base, Fingerprint::of("PUT", "/a", b"x"));
    assert_ne!(base, Fingerprint::of("POST", "/a?b=1", b"x"));
    assert_ne!(base, Fingerprint::of("POST", "/a", b"y"));
    // Moving bytes between parts changes it.
    assert_ne!(
        Fingerprint::of("POST", "/ab", b""),
        Fingerprint::of("POST", "/a", b"b")
    );
}

#[test]
fn a_repeat_gets_the_stored_response_marked_replayed() {
    let kv = MemoryKv::new();
    let k = key("label-1");
    let claim = proceed(start(&kv, &k, T0));
    assert!(complete(&kv, &claim, &created()).unwrap());
    let Begin::Replay(stored) = start(&kv, &k, T0 + 5_000) else {
        panic!("replay");
    };
    assert_eq!(stored.status, 201);
    assert_eq!(stored.body, b"{\"tracking\":\"1Z999\"}");
    assert_eq!(
        stored.replay_headers(),
        [
            ("content-type".to_string(), "application/json".to_string()),
            ("idempotent-replayed".to_string(), "true".to_string()),
        ],
        "only kept headers come back, no cookie, no old request id"
    );
}

#[test]
fn the_same_key_with_another_body_is_refused() {
    let kv = MemoryKv::new();
    let k = key("label-1");
    let claim = proceed(start(&kv, &k, T0));
    let other = Fingerprint::of(
        "POST",
        "/v1/carriers/ups/api/shipments/v2409/ship",
        b"{\"to\":\"B\"}",
    );
    assert_eq!(
        begin(&kv, "globex", &k, &other, LEASE, 2, T0 + 1).unwrap(),
        Begin::Refused(RoutingError::IdempotencyKeyReused),
        "while in flight"
    );
    complete(&kv, &claim, &created()).unwrap();
    let refused = begin(&kv, "globex", &k, &other, LEASE, 3, T0 + 2).unwrap();
    assert_eq!(refused, Begin::Refused(RoutingError::IdempotencyKeyReused));
    assert_eq!(RoutingError::IdempotencyKeyReused.status(), 422);
}

#[test]
fn keys_are_per_tenant() {
    let kv = MemoryKv::new();
    let k = key("same-key");
    let claim = proceed(start(&kv, &k, T0));
    complete(&kv, &claim, &created()).unwrap();
    proceed(begin(&kv, "nordlicht", &k, &label_request(), LEASE, 2, T0).unwrap());
    assert!(record_key("globex", &k).starts_with("idem:globex:"));
    assert!(!record_key("globex", &k).contains("same-key"));
}

#[test]
fn concurrent_repeats_reach_the_carrier_once() {
    let kv = Arc::new(MemoryKv::new());
    let threads = 24;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads as u64)
        .map(|i| {
            let (kv, barrier) = (Arc::clone(&kv), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                begin(
                    &*kv,
                    "globex",
                    &key("label-1"),
                    &label_request(),
                    LEASE,
                    i,
                    T0,
                )
                .unwrap()
            })
        })
        .collect();
    let results: Vec<Begin> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let proceeding = results
        .iter()
        .filter(|b| matches!(b, Begin::Proceed(_)))
        .count();
    assert_eq!(proceeding, 1);
    for b in results.iter().filter(|b| !matches!(b, Begin::Proceed(_))) {
        let Begin::Refused(e) = b else {
            panic!("{b:?}")
        };
        assert_eq!(e.status(), 409);
        assert_eq!(e.headers(), [("retry-after".to_string(), "1".to_string())]);
    }
}

#[test]
fn a_retryable_answer_releases_the_key() {
    let kv = MemoryKv::new();
    let k = key("label-2");
    let claim = proceed(start(&kv, &k, T0));
    let unavailable = StoredResponse::new(503, &[], b"");
    assert!(complete(&kv, &claim, &unavailable).unwrap());
    proceed(start(&kv, &k, T0 + 1));
    assert!(is_final(400) && is_final(201) && is_final(404));
    assert!(!is_final(429) && !is_final(500) && !is_final(409));
}

#[test]
fn a_dead_first_request_loses_its_claim_after_the_lease() {
    let kv = MemoryKv::new();
    let k = key("label-3");
    let dead = proceed(start(&kv, &k, T0));
    assert!(matches!(
        start(&kv, &k, T0 + LEASE - 1),
        Begin::Refused(RoutingError::IdempotencyInFlight { .. })
    ));
    let claim = proceed(start(&kv, &k, T0 + LEASE));
    // The dead request's late completion does not overwrite the new claim.
    assert!(!complete(&kv, &dead, &created()).unwrap());
    assert!(complete(&kv, &claim, &created()).unwrap());
}

#[test]
fn a_response_too_large_to_keep_is_never_executed_again() {
    let kv = MemoryKv::new();
    let k = key("big-label");
    let claim = proceed(start(&kv, &k, T0));
    let big = StoredResponse::new(200, &[], &vec![b'x'; MAX_STORED_BODY + 1]);
    assert!(complete(&kv, &claim, &big).unwrap());
    assert_eq!(
        start(&kv, &k, T0 + 1),
        Begin::Refused(RoutingError::IdempotencyResponseNotKept)
    );
}

#[test]
fn records_expire_after_24_hours() {
    let kv = MemoryKv::new();
    let k = key("label-4");
    let claim = proceed(start(&kv, &k, T0));
    complete(&kv, &claim, &created()).unwrap();
    assert!(matches!(
        start(&kv, &k, T0 + RETENTION_MS - 1),
        Begin::Replay(_)
    ));
    // Expired: the key may be used again, even for another request.
    let other = Fingerprint::of("POST", "/other", b"");
    proceed(begin(&kv, "globex", &k, &other, LEASE, 3, T0 + RETENTION_MS).unwrap());
}

#[test]
fn storage_stays_bounded_as_days_pass() {
    let kv = MemoryKv::new();
    let records = |kv: &MemoryKv| kv.keys().iter().filter(|k| k.starts_with("idem:")).count();
    // 30 days, 20 new keys a day, each completed.
    for day in 0..30u64 {
        for i in 0..20u64 {
            let now = T0 + day * DAY + i * 1000;
            let k = key(&format!("d{day}-k{i}"));
            let claim = proceed(start(&kv, &k, now));
            complete(&kv, &claim, &created()).unwrap();
        }
        assert!(records(&kv) <= 60, "day {day}: {} records", records(&kv));
    }
    // Everything older than two days is gone, logs included.
    assert!(records(&kv) <= 60);
    assert!(kv.keys().len() <= 60 + 60 + 8, "{} keys", kv.keys().len());
    // A record that is still valid is never swept.
    let k = key("d29-k19");
    assert!(matches!(
        start(&kv, &k, T0 + 29 * DAY + 20_000),
        Begin::Replay(_)
    ));
}

#[test]
fn a_key_reused_after_expiry_is_not_swept_while_valid() {
    let kv = MemoryKv::new();
    let k = key("reused");
    let claim = proceed(start(&kv, &k, T0));
    complete(&kv, &claim, &created()).unwrap();
    // Claimed again on day 2 (after expiry), then days pass with other traffic.
    let again = T0 + 2 * DAY;
    let claim = proceed(start(&kv, &k, again));
    complete(&kv, &claim, &created()).unwrap();
    for i in 0..10u64 {
        let k = key(&format!("other-{i}"));
        proceed(start(&kv, &k, again + 1000 + i));
    }
    assert!(matches!(start(&kv, &k, again + 20_000), Begin::Replay(_)));
}

#[test]
fn store_faults_are_errors() {
    let kv = MemoryKv::new();
    kv.set_failing(true);
    assert!(begin(&kv, "globex", &key("a"), &label_request(), LEASE, 1, T0).is_err());
    assert_eq!(RoutingError::IdempotencyUnavailable.status(), 503);
}
