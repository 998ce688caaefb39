use super::*;
use crate::config::{HeaderMatch, Residency};
use crate::kv::MemoryKv;
use crate::routing::outcome::{Outcome, record_outcome};
use crate::routing::testkit::{carrier, platform_entry, region, tenant, upstream};
use crate::routing::upstreams::next_random;
use std::sync::{Arc, Barrier};

const NOW: u64 = 1_750_000_000_000;

fn no_headers() -> Vec<(String, String)> {
    Vec::new()
}

fn request<'a>(carrier: &'a str, path: &'a str, headers: &'a Headers) -> RouteRequest<'a> {
    RouteRequest {
        carrier,
        facts: RequestFacts {
            path,
            host: None,
            headers,
        },
        allow_fallback: false,
    }
}

use crate::auth::credential::Headers;

/// UPS (us + eu upstreams), FedEx (both), DHL (eu only) with a tracking upstream.
fn carriers() -> Vec<Carrier> {
    let mut ups = carrier("ups", &[upstream("ups-us", "us"), upstream("ups-eu", "eu")]);
    ups.fallback = vec!["fedex".into()];
    let fedex = carrier(
        "fedex",
        &[upstream("fedex-us", "us"), upstream("fedex-eu", "eu")],
    );
    let mut dhl = carrier(
        "dhl",
        &[upstream("dhl-eu", "eu"), upstream("dhl-track", "eu")],
    );
    dhl.upstreams[1].path_prefix = Some("/track/".into());
    vec![ups, fedex, dhl]
}

fn with_carriers(mut t: Tenant, ids: &[&str]) -> Tenant {
    t.carriers = ids.iter().map(|c| platform_entry(c)).collect();
    t
}

/// Strict EU tenant using every carrier.
fn nordlicht() -> Tenant {
    with_carriers(
        tenant("nordlicht", "eu", Residency::Strict, &[]),
        &["ups", "fedex", "dhl"],
    )
}

/// Relaxed US tenant, allowed in the EU.
fn globex() -> Tenant {
    with_carriers(
        tenant("globex", "us", Residency::Relaxed, &["eu"]),
        &["ups", "fedex", "dhl"],
    )
}

fn routed(decision: Decision) -> Routed {
    match decision {
        Decision::Route(r) => *r,
        Decision::Refuse(e) => panic!("expected a route, got {e}"),
    }
}

fn refused(decision: Decision) -> RoutingError {
    match decision {
        Decision::Refuse(e) => e,
        Decision::Route(r) => panic!("expected a refusal, routed to {}", r.upstream.id),
    }
}

fn decide_now(
    kv: &MemoryKv,
    deployment: &RegionRecord,
    t: &Tenant,
    cs: &[Carrier],
    req: &RouteRequest<'_>,
    random: u64,
    now_ms: u64,
) -> Decision {
    decide(kv, deployment, t, cs, req, random, now_ms).unwrap()
}

/// Opens the carrier-wide breaker of `upstream` with `failures` carrier failures.
fn break_upstream(kv: &MemoryKv, cs: &[Carrier], carrier_id: &str, upstream_id: &str) {
    let c = cs.iter().find(|c| c.id == carrier_id).unwrap();
    let u = c.upstreams.iter().find(|u| u.id == upstream_id).unwrap();
    let key = upstream_breaker_key(&u.region, carrier_id, upstream_id);
    for _ in 0..c.breaker.failures {
        breaker::record(
            kv,
            &key,
            &carrier_thresholds(c),
            None,
            breaker::Verdict::Failure,
            NOW,
        )
        .unwrap();
    }
}

// ------------------------------------------------------------------ refusals in order

#[test]
fn an_unknown_carrier_is_404_and_a_carrier_the_tenant_does_not_use_is_403() {
    let kv = MemoryKv::new();
    let eu = region("eu", &[]);
    let h = no_headers();
    let cs = carriers();
    assert_eq!(
        refused(decide_now(
            &kv,
            &eu,
            &nordlicht(),
            &cs,
            &request("acme-freight", "/x", &h),
            0,
            NOW
        )),
        RoutingError::UnknownCarrier {
            carrier: "acme-freight".into()
        }
    );
    let only_dhl = with_carriers(tenant("small", "eu", Residency::Strict, &[]), &["dhl"]);
    let e = refused(decide_now(
        &kv,
        &eu,
        &only_dhl,
        &cs,
        &request("ups", "/x", &h),
        0,
        NOW,
    ));
    assert_eq!(e.status(), 403);
    assert_eq!(e.kind(), "carrier-not-enabled");
}

#[test]
fn a_strict_eu_tenant_is_refused_in_the_us_even_when_the_carrier_is_down() {
    let kv = MemoryKv::new();
    let cs = carriers();
    break_upstream(&kv, &cs, "ups", "ups-us");
    let us = region("us", &[]);
    let h = no_headers();
    let e = refused(decide_now(
        &kv,
        &us,
        &nordlicht(),
        &cs,
        &request("ups", "/x", &h),
        0,
        NOW,
    ));
    assert_eq!(
        e,
        RoutingError::WrongRegion {
            home: "eu".into(),
            home_url: Some("https://eu.waypost.example".into())
        }
    );
    assert_eq!(e.status(), 421);
}

#[test]
fn a_strict_tenant_only_uses_its_home_region_upstreams() {
    let kv = MemoryKv::new();
    let local = region("local", &["eu", "us"]);
    let h = no_headers();
    for seed in 0..200 {
        let r = routed(decide_now(
            &kv,
            &local,
            &nordlicht(),
            &carriers(),
            &request("ups", "/x", &h),
            next_random(seed),
            NOW,
        ));
        assert_eq!(r.upstream.id, "ups-eu");
    }
}

#[test]
fn a_relaxed_tenant_prefers_home_then_uses_the_allowed_region_it_is_in() {
    let kv = MemoryKv::new();
    let cs = carriers();
    let h = no_headers();
    let local = region("local", &["eu", "us"]);
    let r = routed(decide_now(
        &kv,
        &local,
        &globex(),
        &cs,
        &request("ups", "/x", &h),
        1,
        NOW,
    ));
    assert_eq!(r.upstream.id, "ups-us");
    // Home upstream open: the allowed region serves.
    break_upstream(&kv, &cs, "ups", "ups-us");
    let r = routed(decide_now(
        &kv,
        &local,
        &globex(),
        &cs,
        &request("ups", "/x", &h),
        1,
        NOW,
    ));
    assert_eq!(r.upstream.id, "ups-eu");
    // In the EU deployment, the EU upstream.
    let eu = region("eu", &[]);
    let r = routed(decide_now(
        &MemoryKv::new(),
        &eu,
        &globex(),
        &cs,
        &request("ups", "/x", &h),
        1,
        NOW,
    ));
    assert_eq!(r.upstream.id, "ups-eu");
}

#[test]
fn no_upstream_here_sends_a_relaxed_tenant_home_with_421() {
    // Globex in the EU deployment; a US-only carrier.
    let kv = MemoryKv::new();
    let cs = vec![carrier("usps", &[upstream("usps-us", "us")])];
    let t = with_carriers(
        tenant("globex", "us", Residency::Relaxed, &["eu"]),
        &["usps"],
    );
    let h = no_headers();
    let e = refused(decide_now(
        &kv,
        &region("eu", &[]),
        &t,
        &cs,
        &request("usps", "/x", &h),
        0,
        NOW,
    ));
    assert_eq!(
        e,
        RoutingError::WrongRegion {
            home: "us".into(),
            home_url: Some("https://us.waypost.example".into())
        }
    );
    // At home, with no fitting upstream, 503 no-upstream.
    let mut only_tracking = carrier("dhl", &[upstream("dhl-track", "eu")]);
    only_tracking.upstreams[0].path_prefix = Some("/track/".into());
    let n = with_carriers(tenant("n", "eu", Residency::Strict, &[]), &["dhl"]);
    let e = refused(decide_now(
        &kv,
        &region("eu", &[]),
        &n,
        &[only_tracking],
        &request("dhl", "/rates", &h),
        0,
        NOW,
    ));
    assert_eq!(
        e,
        RoutingError::NoUpstream {
            carrier: "dhl".into()
        }
    );
    assert_eq!(e.status(), 503);
}

// ------------------------------------------------------------------ matching and balance

#[test]
fn tracking_paths_go_to_the_tracking_upstream() {
    let kv = MemoryKv::new();
    let eu = region("eu", &[]);
    let h = no_headers();
    let cs = carriers();
    let r = routed(decide_now(
        &kv,
        &eu,
        &nordlicht(),
        &cs,
        &request("dhl", "/track/shipments", &h),
        0,
        NOW,
    ));
    assert_eq!(r.upstream.id, "dhl-track");
    let r = routed(decide_now(
        &kv,
        &eu,
        &nordlicht(),
        &cs,
        &request("dhl", "/mydhlapi/rates", &h),
        0,
        NOW,
    ));
    assert_eq!(r.upstream.id, "dhl-eu");
}

#[test]
fn a_canary_header_picks_the_canary_and_falls_back_to_stable_when_it_is_open() {
    let mut cs = carriers();
    let mut canary = upstream("ups-eu-canary", "eu");
    canary.weight = 0;
    canary.header = Some(HeaderMatch {
        name: "x-waypost-canary".into(),
        value: "ups-v2".into(),
    });
    cs[0].upstreams.push(canary);
    let kv = MemoryKv::new();
    let eu = region("eu", &[]);
    let with = vec![("X-Waypost-Canary".to_string(), "ups-v2".to_string())];
    let without = no_headers();
    for seed in 0..50 {
        let r = routed(decide_now(
            &kv,
            &eu,
            &nordlicht(),
            &cs,
            &request("ups", "/x", &with),
            seed,
            NOW,
        ));
        assert_eq!(r.upstream.id, "ups-eu-canary");
        let r = routed(decide_now(
            &kv,
            &eu,
            &nordlicht(),
            &cs,
            &request("ups", "/x", &without),
            seed,
            NOW,
        ));
        assert_eq!(
            r.upstream.id, "ups-eu",
            "weight 0: never without the header"
        );
    }
    break_upstream(&kv, &cs, "ups", "ups-eu-canary");
    let r = routed(decide_now(
        &kv,
        &eu,
        &nordlicht(),
        &cs,
        &request("ups", "/x", &with),
        0,
        NOW,
    ));
    assert_eq!(r.upstream.id, "ups-eu");
}

#[test]
fn weights_split_traffic_for_a_gradual_shift() {
    let mut cs = carriers();
    cs[0].upstreams = vec![upstream("old", "eu"), upstream("new", "eu")];
    cs[0].upstreams[0].weight = 75;
    cs[0].upstreams[1].weight = 25;
    let kv = MemoryKv::new();
    let eu = region("eu", &[]);
    let h = no_headers();
    let mut to_new = 0;
    let mut random = 42;
    let n = 8_000;
    for _ in 0..n {
        random = next_random(random);
        let r = routed(decide_now(
            &kv,
            &eu,
            &nordlicht(),
            &cs,
            &request("ups", "/x", &h),
            random,
            NOW,
        ));
        if r.upstream.id == "new" {
            to_new += 1;
        }
    }
    let share = f64::from(to_new) / f64::from(n);
    assert!((0.22..0.28).contains(&share), "new got {share}");
}

#[test]
fn balance_skips_open_upstreams() {
    let mut cs = carriers();
    cs[0].upstreams = vec![
        upstream("a", "eu"),
        upstream("b", "eu"),
        upstream("c", "eu"),
    ];
    let kv = MemoryKv::new();
    break_upstream(&kv, &cs, "ups", "b");
    let eu = region("eu", &[]);
    let h = no_headers();
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..300 {
        let r = routed(decide_now(
            &kv,
            &eu,
            &nordlicht(),
            &cs,
            &request("ups", "/x", &h),
            next_random(seed),
            NOW,
        ));
        seen.insert(r.upstream.id);
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["a", "c"]);
}

#[test]
fn a_pinned_upstream_is_used_whatever_the_weights_and_never_swapped_silently() {
    let mut cs = carriers();
    let mut dedicated = upstream("ups-eu-dedicated", "eu");
    dedicated.weight = 0;
    cs[0].upstreams.push(dedicated);
    let mut t = nordlicht();
    t.carriers[0].upstream = Some("ups-eu-dedicated".into());
    let kv = MemoryKv::new();
    let eu = region("eu", &[]);
    let h = no_headers();
    for seed in 0..50 {
        let r = routed(decide_now(
            &kv,
            &eu,
            &t,
            &cs,
            &request("ups", "/x", &h),
            seed,
            NOW,
        ));
        assert_eq!(r.upstream.id, "ups-eu-dedicated");
    }
    break_upstream(&kv, &cs, "ups", "ups-eu-dedicated");
    let e = refused(decide_now(
        &kv,
        &eu,
        &t,
        &cs,
        &request("ups", "/x", &h),
        0,
        NOW,
    ));
    assert_eq!(e.kind(), "circuit-open");
}

#[test]
fn a_pin_to_a_region_unusable_here_does_not_apply() {
    // Globex pinned to the US upstream, served in the EU.
    let mut t = globex();
    t.carriers[0].upstream = Some("ups-us".into());
    let kv = MemoryKv::new();
    let h = no_headers();
    let r = routed(decide_now(
        &kv,
        &region("eu", &[]),
        &t,
        &carriers(),
        &request("ups", "/x", &h),
        0,
        NOW,
    ));
    assert_eq!(r.upstream.id, "ups-eu");
}

// ------------------------------------------------------------------ breakers

#[test]
fn the_breaker_opens_after_failures_and_closes_after_a_good_probe() {
    let cs = carriers();
    let kv = MemoryKv::new();
    let eu = region("eu", &[]);
    let h = no_headers();
    let t = nordlicht();
    let failures = cs[0].breaker.failures;
    for i in 0..failures {
        let r = routed(decide_now(
            &kv,
            &eu,
            &t,
            &cs,
            &request("ups", "/x", &h),
            0,
            NOW + u64::from(i),
        ));
        record_outcome(&kv, &r.ticket, Outcome::of_status(502), NOW + u64::from(i)).unwrap();
    }
    let e = refused(decide_now(
        &kv,
        &eu,
        &t,
        &cs,
        &request("ups", "/x", &h),
        0,
        NOW + 1_000,
    ));
    let open_secs = u64::from(cs[0].breaker.open_secs);
    assert_eq!(
        e,
        RoutingError::CircuitOpen {
            carrier: "ups".into(),
            retry_after_secs: open_secs
        }
    );
    assert_eq!(e.headers(), [("retry-after".into(), open_secs.to_string())]);
    // Half-open: one probe; it succeeds and the breaker closes.
    let later = NOW + open_secs * 1000 + 10;
    let probe = routed(decide_now(
        &kv,
        &eu,
        &t,
        &cs,
        &request("ups", "/x", &h),
        0,
        later,
    ));
    assert!(probe.ticket.is_probe());
    assert!(matches!(
        decide_now(&kv, &eu, &t, &cs, &request("ups", "/x", &h), 0, later),
        Decision::Refuse(RoutingError::CircuitOpen { .. })
    ));
    record_outcome(&kv, &probe.ticket, Outcome::Success, later + 50).unwrap();
    let r = routed(decide_now(
        &kv,
        &eu,
        &t,
        &cs,
        &request("ups", "/x", &h),
        0,
        later + 60,
    ));
    assert!(!r.ticket.is_probe());
}

#[test]
fn many_concurrent_requests_in_half_open_admit_one_probe() {
    let cs = Arc::new(carriers());
    let kv = Arc::new(MemoryKv::new());
    // Strict EU tenant: UPS has one EU upstream.
    break_upstream(&kv, &cs, "ups", "ups-eu");
    let half_open = NOW + u64::from(cs[0].breaker.open_secs) * 1000;
    let threads = 32;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads as u64)
        .map(|i| {
            let (kv, cs, barrier) = (Arc::clone(&kv), Arc::clone(&cs), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let h = no_headers();
                let eu = region("eu", &[]);
                barrier.wait();
                decide(
                    &*kv,
                    &eu,
                    &nordlicht(),
                    &cs[..],
                    &request("ups", "/x", &h),
                    i,
                    half_open,
                )
                .unwrap()
            })
        })
        .collect();
    let decisions: Vec<Decision> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let probes: Vec<&Routed> = decisions
        .iter()
        .filter_map(|d| match d {
            Decision::Route(r) => Some(&**r),
            Decision::Refuse(_) => None,
        })
        .collect();
    assert_eq!(probes.len(), 1);
    assert!(probes[0].ticket.is_probe());
    assert_eq!(
        decisions
            .iter()
            .filter(|d| matches!(d, Decision::Refuse(RoutingError::CircuitOpen { .. })))
            .count(),
        threads - 1
    );
}

#[test]
fn a_bad_probe_reopens_the_breaker() {
    let cs = carriers();
    let kv = MemoryKv::new();
    break_upstream(&kv, &cs, "ups", "ups-eu");
    let eu = region("eu", &[]);
    let h = no_headers();
    let half_open = NOW + u64::from(cs[0].breaker.open_secs) * 1000;
    let probe = routed(decide_now(
        &kv,
        &eu,
        &nordlicht(),
        &cs,
        &request("ups", "/x", &h),
        0,
        half_open,
    ));
    record_outcome(&kv, &probe.ticket, Outcome::CarrierFailure, half_open + 100).unwrap();
    let e = refused(decide_now(
        &kv,
        &eu,
        &nordlicht(),
        &cs,
        &request("ups", "/x", &h),
        0,
        half_open + 200,
    ));
    assert_eq!(
        e.retry_after_secs(),
        Some(u64::from(cs[0].breaker.open_secs))
    );
}

#[test]
fn one_tenants_broken_credentials_never_open_the_carrier_for_others() {
    let cs = carriers();
    let kv = MemoryKv::new();
    let eu = region("eu", &[]);
    let h = no_headers();
    let broken = nordlicht();
    let other = with_carriers(tenant("other", "eu", Residency::Strict, &[]), &["ups"]);
    let credential_failures = cs[0].breaker.credential_failures;
    // Many 401s, more than the carrier-wide threshold too.
    for i in 0..(credential_failures + cs[0].breaker.failures) {
        let Decision::Route(r) = decide_now(
            &kv,
            &eu,
            &broken,
            &cs,
            &request("ups", "/x", &h),
            0,
            NOW + u64::from(i),
        ) else {
            break;
        };
        record_outcome(&kv, &r.ticket, Outcome::of_status(401), NOW + u64::from(i)).unwrap();
    }
    let e = refused(decide_now(
        &kv,
        &eu,
        &broken,
        &cs,
        &request("ups", "/x", &h),
        0,
        NOW + 100,
    ));
    assert_eq!(e.kind(), "carrier-credentials-failing");
    assert_eq!(e.status(), 503);
    assert!(e.retry_after_secs().is_some());
    // The other tenant still reaches UPS, and the broken tenant still reaches FedEx.
    routed(decide_now(
        &kv,
        &eu,
        &other,
        &cs,
        &request("ups", "/x", &h),
        0,
        NOW + 100,
    ));
    routed(decide_now(
        &kv,
        &eu,
        &broken,
        &cs,
        &request("fedex", "/x", &h),
        0,
        NOW + 100,
    ));
}

#[test]
fn a_tenant_probe_with_good_credentials_closes_its_breaker() {
    let cs = carriers();
    let kv = MemoryKv::new();
    let eu = region("eu", &[]);
    let h = no_headers();
    let t = nordlicht();
    for i in 0..cs[0].breaker.credential_failures {
        let r = routed(decide_now(
            &kv,
            &eu,
            &t,
            &cs,
            &request("ups", "/x", &h),
            0,
            NOW + u64::from(i),
        ));
        record_outcome(
            &kv,
            &r.ticket,
            Outcome::CredentialFailure,
            NOW + u64::from(i),
        )
        .unwrap();
    }
    let half_open = NOW + u64::from(cs[0].breaker.open_secs) * 1000 + 10;
    let probe = routed(decide_now(
        &kv,
        &eu,
        &t,
        &cs,
        &request("ups", "/x", &h),
        0,
        half_open,
    ));
    assert!(probe.ticket.is_probe());
    // A 5xx says nothing about credentials: the tenant stays half-open.
    record_outcome(&kv, &probe.ticket, Outcome::CarrierFailure, half_open + 1).unwrap();
    let probe = routed(decide_now(
        &kv,
        &eu,
        &t,
        &cs,
        &request("ups", "/x", &h),
        0,
        half_open + 2,
    ));
    assert!(probe.ticket.is_probe());
    record_outcome(&kv, &probe.ticket, Outcome::Success, half_open + 3).unwrap();
    let r = routed(decide_now(
        &kv,
        &eu,
        &t,
        &cs,
        &request("ups", "/x", &h),
        0,
        half_open + 4,
    ));
    assert!(!r.ticket.is_probe());
}

#[test]
fn unreadable_breakers_count_as_closed() {
    struct Failing;
    impl KeyValue for Failing {
        fn get(&self, _: &str) -> crate::kv::KvResult<Option<Vec<u8>>> {
            Err(KvError("down".into()))
        }
        fn set(&self, _: &str, _: &[u8]) -> crate::kv::KvResult<()> {
            Err(KvError("down".into()))
        }
        fn delete(&self, _: &str) -> crate::kv::KvResult<()> {
            Err(KvError("down".into()))
        }
        fn increment(&self, _: &str, _: i64) -> crate::kv::KvResult<i64> {
            Err(KvError("down".into()))
        }
        fn compare_and_swap(
            &self,
            _: &str,
            _: Option<&[u8]>,
            _: &[u8],
        ) -> crate::kv::KvResult<bool> {
            Err(KvError("down".into()))
        }
    }
    let h = no_headers();
    let r = routed(
        decide(
            &Failing,
            &region("eu", &[]),
            &nordlicht(),
            &carriers()[..],
            &request("ups", "/x", &h),
            0,
            NOW,
        )
        .unwrap(),
    );
    assert!(r.breakers_unavailable);
    assert!(record_outcome(&Failing, &r.ticket, Outcome::CarrierFailure, NOW).is_err());
}

// ------------------------------------------------------------------ fallback

#[test]
fn an_open_carrier_falls_back_one_hop_when_allowed() {
    let mut cs = carriers();
    // FedEx would fall back to DHL: a second hop, never taken.
    cs[1].fallback = vec!["dhl".into()];
    let kv = MemoryKv::new();
    break_upstream(&kv, &cs, "ups", "ups-eu");
    let eu = region("eu", &[]);
    let h = no_headers();
    let mut req = request("ups", "/rates", &h);
    assert_eq!(
        refused(decide_now(&kv, &eu, &nordlicht(), &cs, &req, 0, NOW)).kind(),
        "circuit-open",
        "the pass-through does not fall back"
    );
    req.allow_fallback = true;
    let r = routed(decide_now(&kv, &eu, &nordlicht(), &cs, &req, 0, NOW));
    assert_eq!(r.carrier.id, "fedex");
    assert_eq!(r.fell_back_from.as_deref(), Some("ups"));
    break_upstream(&kv, &cs, "fedex", "fedex-eu");
    let e = refused(decide_now(&kv, &eu, &nordlicht(), &cs, &req, 0, NOW));
    assert_eq!(
        e,
        RoutingError::CircuitOpen {
            carrier: "ups".into(),
            retry_after_secs: u64::from(cs[0].breaker.open_secs)
        },
        "no second hop to DHL"
    );
}

#[test]
fn when_most_of_the_routes_carriers_are_open_it_fails_fast() {
    let mut cs = carriers();
    cs.push(carrier("usps", &[upstream("usps-eu", "eu")]));
    // UPS falls back to FedEx, DHL, USPS; with UPS and two of them open (3 of 4) it
    // fails fast even though one is still up.
    cs[0].fallback = vec!["fedex".into(), "dhl".into(), "usps".into()];
    let t = with_carriers(
        tenant("nordlicht", "eu", Residency::Strict, &[]),
        &["ups", "fedex", "dhl", "usps"],
    );
    let kv = MemoryKv::new();
    let eu = region("eu", &[]);
    let h = no_headers();
    let mut req = request("ups", "/rates", &h);
    req.allow_fallback = true;
    break_upstream(&kv, &cs, "ups", "ups-eu");
    break_upstream(&kv, &cs, "fedex", "fedex-eu");
    // 2 of 4 open: not more than half, DHL serves.
    assert_eq!(
        routed(decide_now(&kv, &eu, &t, &cs, &req, 0, NOW))
            .carrier
            .id,
        "dhl"
    );
    break_upstream(&kv, &cs, "dhl", "dhl-eu");
    assert_eq!(
        refused(decide_now(&kv, &eu, &t, &cs, &req, 0, NOW)).kind(),
        "circuit-open"
    );
}

#[test]
fn fallbacks_the_tenant_does_not_use_are_not_tried() {
    let cs = carriers();
    let kv = MemoryKv::new();
    break_upstream(&kv, &cs, "ups", "ups-eu");
    let t = with_carriers(tenant("n", "eu", Residency::Strict, &[]), &["ups"]);
    let h = no_headers();
    let mut req = request("ups", "/rates", &h);
    req.allow_fallback = true;
    assert_eq!(
        refused(decide_now(&kv, &region("eu", &[]), &t, &cs, &req, 0, NOW)).kind(),
        "circuit-open"
    );
}

#[test]
fn problems_never_name_upstreams_or_urls() {
    let cs = carriers();
    let kv = MemoryKv::new();
    break_upstream(&kv, &cs, "ups", "ups-eu");
    let h = no_headers();
    let e = refused(decide_now(
        &kv,
        &region("eu", &[]),
        &nordlicht(),
        &cs,
        &request("ups", "/x", &h),
        0,
        NOW,
    ));
    let problem = e.problem(Some("req-9"));
    assert!(problem.detail.as_deref().unwrap().contains("\"ups\""));
    let json = problem.to_json();
    assert!(!json.contains("ups-eu"), "{json}");
    assert!(!json.contains("carrier.example"), "{json}");
}
