use super::*;
use crate::config::{HeaderMatch, Residency};
use crate::kv::MemoryKv;
use crate::routing::breaker::BreakerState;
use crate::routing::outcome::{
    Outcome, carrier_breaker_states, record_outcome, upstream_state_after,
};
use crate::routing::testkit::{carrier, platform_entry, region, tenant, upstream};
use crate::routing::upstreams::next_random;
use std::sync::{Arc, Barrier};

const NOW: u64 = 1_750_000_000_000;

/// One deployment with its store and carriers.
struct World {
    kv: MemoryKv,
    deployment: RegionRecord,
    carriers: Vec<Carrier>,
}

/// A request: carrier, pass-through path, headers, fallback allowed.
struct Ask<'a> {
    carrier: &'a str,
    path: &'a str,
    headers: Vec<(String, String)>,
    fallback: bool,
}

fn ask(carrier: &str) -> Ask<'_> {
    Ask {
        carrier,
        path: "/x",
        headers: Vec::new(),
        fallback: false,
    }
}

impl<'a> Ask<'a> {
    fn path(mut self, path: &'a str) -> Self {
        self.path = path;
        self
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    fn with_fallback(mut self) -> Self {
        self.fallback = true;
        self
    }
}

impl World {
    /// The EU deployment with UPS (us + eu, falls back to FedEx), FedEx (us + eu) and
    /// DHL (eu, with a tracking upstream under `/track/`).
    fn eu() -> World {
        World::new(region("eu", &[]))
    }

    fn new(deployment: RegionRecord) -> World {
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
        World {
            kv: MemoryKv::new(),
            deployment,
            carriers: vec![ups, fedex, dhl],
        }
    }

    fn carrier_mut(&mut self, id: &str) -> &mut Carrier {
        self.carriers.iter_mut().find(|c| c.id == id).unwrap()
    }

    fn carrier(&self, id: &str) -> &Carrier {
        self.carriers.iter().find(|c| c.id == id).unwrap()
    }

    fn decide(&self, t: &Tenant, a: &Ask<'_>, random: u64, now_ms: u64) -> Decision {
        let request = RouteRequest {
            carrier: a.carrier,
            facts: RequestFacts {
                path: a.path,
                host: None,
                headers: &a.headers,
            },
            allow_fallback: a.fallback,
        };
        decide(
            &self.kv,
            &self.deployment,
            t,
            &self.carriers[..],
            &request,
            random,
            now_ms,
        )
        .unwrap()
    }

    fn route(&self, t: &Tenant, a: &Ask<'_>, random: u64, now_ms: u64) -> Routed {
        match self.decide(t, a, random, now_ms) {
            Decision::Route(r) => *r,
            Decision::Refuse(e) => panic!("expected a route, got {e}"),
        }
    }

    fn refuse(&self, t: &Tenant, a: &Ask<'_>, now_ms: u64) -> RoutingError {
        match self.decide(t, a, 0, now_ms) {
            Decision::Refuse(e) => e,
            Decision::Route(r) => panic!("expected a refusal, routed to {}", r.upstream.id),
        }
    }

    /// Opens the carrier-wide breaker of one upstream at `NOW`.
    fn break_upstream(&self, carrier_id: &str, upstream_id: &str) {
        let c = self.carrier(carrier_id);
        let u = c.upstreams.iter().find(|u| u.id == upstream_id).unwrap();
        let key = upstream_breaker_key(&u.region, carrier_id, upstream_id);
        for _ in 0..c.breaker.failures {
            breaker::record(
                &self.kv,
                &key,
                &carrier_thresholds(c),
                None,
                breaker::Verdict::Failure,
                NOW,
            )
            .unwrap();
        }
    }

    /// When breakers opened at `NOW` turn half-open.
    fn half_open(&self) -> u64 {
        NOW + u64::from(self.carriers[0].breaker.open_secs) * 1000
    }
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

// ------------------------------------------------------------------ refusals in order

#[test]
fn an_unknown_carrier_is_404_and_a_carrier_the_tenant_does_not_use_is_403() {
    let w = World::eu();
    assert_eq!(
        w.refuse(&nordlicht(), &ask("acme-freight"), NOW),
        RoutingError::UnknownCarrier {
            carrier: "acme-freight".into()
        }
    );
    let only_dhl = with_carriers(tenant("small", "eu", Residency::Strict, &[]), &["dhl"]);
    let e = w.refuse(&only_dhl, &ask("ups"), NOW);
    assert_eq!((e.status(), e.kind()), (403, "carrier-not-enabled"));
}

#[test]
fn a_strict_eu_tenant_is_refused_in_the_us_even_when_the_carrier_is_down() {
    let w = World::new(region("us", &[]));
    w.break_upstream("ups", "ups-us");
    let e = w.refuse(&nordlicht(), &ask("ups"), NOW);
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
    let w = World::new(region("local", &["eu", "us"]));
    for seed in 0..200 {
        let r = w.route(&nordlicht(), &ask("ups"), next_random(seed), NOW);
        assert_eq!(r.upstream.id, "ups-eu");
    }
}

#[test]
fn a_relaxed_tenant_prefers_home_then_uses_the_allowed_region_it_is_in() {
    let w = World::new(region("local", &["eu", "us"]));
    assert_eq!(
        w.route(&globex(), &ask("ups"), 1, NOW).upstream.id,
        "ups-us"
    );
    // Home upstream open: the allowed region serves.
    w.break_upstream("ups", "ups-us");
    assert_eq!(
        w.route(&globex(), &ask("ups"), 1, NOW).upstream.id,
        "ups-eu"
    );
    // In the EU deployment, the EU upstream.
    let eu = World::eu();
    assert_eq!(
        eu.route(&globex(), &ask("ups"), 1, NOW).upstream.id,
        "ups-eu"
    );
}

#[test]
fn no_upstream_here_sends_a_relaxed_tenant_home_with_421() {
    // Globex in the EU deployment; a US-only carrier.
    let mut w = World::eu();
    w.carriers
        .push(carrier("usps", &[upstream("usps-us", "us")]));
    let t = with_carriers(
        tenant("globex", "us", Residency::Relaxed, &["eu"]),
        &["usps"],
    );
    assert_eq!(
        w.refuse(&t, &ask("usps"), NOW),
        RoutingError::WrongRegion {
            home: "us".into(),
            home_url: Some("https://us.waypost.example".into())
        }
    );
}

#[test]
fn no_fitting_upstream_at_home_is_503_no_upstream() {
    let mut w = World::eu();
    w.carrier_mut("dhl").upstreams.remove(0);
    let e = w.refuse(&nordlicht(), &ask("dhl").path("/rates"), NOW);
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
    let w = World::eu();
    let t = nordlicht();
    let track = w.route(&t, &ask("dhl").path("/track/shipments"), 0, NOW);
    assert_eq!(track.upstream.id, "dhl-track");
    let rates = w.route(&t, &ask("dhl").path("/mydhlapi/rates"), 0, NOW);
    assert_eq!(rates.upstream.id, "dhl-eu");
}

#[test]
fn a_canary_header_picks_the_canary_and_falls_back_to_stable_when_it_is_open() {
    let mut w = World::eu();
    let mut canary = upstream("ups-eu-canary", "eu");
    canary.weight = 0;
    canary.header = Some(HeaderMatch {
        name: "x-carrier-canary".into(),
        value: "ups-v2".into(),
    });
    w.carrier_mut("ups").upstreams.push(canary);
    let with = ask("ups").header("X-Carrier-Canary", "ups-v2");
    let without = ask("ups");
    for seed in 0..50 {
        assert_eq!(
            w.route(&nordlicht(), &with, seed, NOW).upstream.id,
            "ups-eu-canary"
        );
        assert_eq!(
            w.route(&nordlicht(), &without, seed, NOW).upstream.id,
            "ups-eu",
            "weight 0: never without the header"
        );
    }
    w.break_upstream("ups", "ups-eu-canary");
    assert_eq!(w.route(&nordlicht(), &with, 0, NOW).upstream.id, "ups-eu");
}

#[test]
fn weights_split_traffic_for_a_gradual_shift() {
    let mut w = World::eu();
    let ups = w.carrier_mut("ups");
    ups.upstreams = vec![upstream("old", "eu"), upstream("new", "eu")];
    ups.upstreams[0].weight = 75;
    ups.upstreams[1].weight = 25;
    let mut to_new = 0;
    let mut random = 42;
    let n = 8_000;
    for _ in 0..n {
        random = next_random(random);
        if w.route(&nordlicht(), &ask("ups"), random, NOW).upstream.id == "new" {
            to_new += 1;
        }
    }
    let share = f64::from(to_new) / f64::from(n);
    assert!((0.22..0.28).contains(&share), "new got {share}");
}

#[test]
fn balance_skips_open_upstreams() {
    let mut w = World::eu();
    w.carrier_mut("ups").upstreams = vec![
        upstream("a", "eu"),
        upstream("b", "eu"),
        upstream("c", "eu"),
    ];
    w.break_upstream("ups", "b");
    let seen: std::collections::BTreeSet<String> = (0..300)
        .map(|seed| {
            w.route(&nordlicht(), &ask("ups"), next_random(seed), NOW)
                .upstream
                .id
        })
        .collect();
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), ["a", "c"]);
}

#[test]
fn a_pinned_upstream_is_used_whatever_the_weights_and_never_swapped_silently() {
    let mut w = World::eu();
    let mut dedicated = upstream("ups-eu-dedicated", "eu");
    dedicated.weight = 0;
    w.carrier_mut("ups").upstreams.push(dedicated);
    let mut t = nordlicht();
    t.carriers[0].upstream = Some("ups-eu-dedicated".into());
    for seed in 0..50 {
        assert_eq!(
            w.route(&t, &ask("ups"), seed, NOW).upstream.id,
            "ups-eu-dedicated"
        );
    }
    w.break_upstream("ups", "ups-eu-dedicated");
    assert_eq!(w.refuse(&t, &ask("ups"), NOW).kind(), "circuit-open");
    // Not to another UPS upstream; to the fallback carrier the tenant enabled, which
    // the answer names (`fell_back_from`).
    let r = w.route(&t, &ask("ups").with_fallback(), 0, NOW);
    assert_eq!(
        (r.carrier.id.as_str(), r.fell_back_from.as_deref()),
        ("fedex", Some("ups"))
    );
}

#[test]
fn a_pin_to_a_region_unusable_here_does_not_apply() {
    // Globex pinned to the US upstream, served in the EU.
    let mut t = globex();
    t.carriers[0].upstream = Some("ups-us".into());
    assert_eq!(
        World::eu().route(&t, &ask("ups"), 0, NOW).upstream.id,
        "ups-eu"
    );
}

// ------------------------------------------------------------------ breakers

#[test]
fn the_breaker_opens_after_failures_and_closes_after_a_good_probe() {
    let w = World::eu();
    let t = nordlicht();
    for i in 0..u64::from(w.carrier("ups").breaker.failures) {
        let r = w.route(&t, &ask("ups"), 0, NOW + i);
        record_outcome(&w.kv, &r.ticket, Outcome::of_status(502), NOW + i).unwrap();
    }
    let open_secs = u64::from(w.carrier("ups").breaker.open_secs);
    let e = w.refuse(&t, &ask("ups"), NOW + 1_000);
    assert_eq!(
        e,
        RoutingError::CircuitOpen {
            carrier: "ups".into(),
            retry_after_secs: open_secs
        }
    );
    assert_eq!(e.headers(), [("retry-after".into(), open_secs.to_string())]);
    // Half-open: one probe; it succeeds and the breaker closes.
    let later = w.half_open() + 10;
    let probe = w.route(&t, &ask("ups"), 0, later);
    assert!(probe.ticket.is_probe());
    assert_eq!(w.refuse(&t, &ask("ups"), later).kind(), "circuit-open");
    record_outcome(&w.kv, &probe.ticket, Outcome::Success, later + 50).unwrap();
    assert!(!w.route(&t, &ask("ups"), 0, later + 60).ticket.is_probe());
}

#[test]
fn the_state_after_each_outcome_is_what_operators_see() {
    let w = World::eu();
    let t = nordlicht();
    let failures = u64::from(w.carrier("ups").breaker.failures);
    let mut upstream = String::new();
    for i in 0..failures {
        let r = w.route(&t, &ask("ups"), 0, NOW + i);
        upstream = r.upstream.id.clone();
        record_outcome(&w.kv, &r.ticket, Outcome::CarrierFailure, NOW + i).unwrap();
        let state = upstream_state_after(&w.kv, &r.ticket, Outcome::CarrierFailure, NOW + i);
        let expected = if i + 1 < failures {
            BreakerState::Closed
        } else {
            BreakerState::Open
        };
        assert_eq!(state.unwrap(), expected, "after failure {}", i + 1);
    }
    let states = carrier_breaker_states(&w.kv, w.carrier("ups"), NOW + failures);
    assert!(
        states.contains(&(upstream.clone(), BreakerState::Open)),
        "{states:?}"
    );
    assert_eq!(states.len(), w.carrier("ups").upstreams.len());
    // The half-open probe succeeds: closed again.
    let later = w.half_open() + 10;
    let states = carrier_breaker_states(&w.kv, w.carrier("ups"), later);
    assert!(
        states.contains(&(upstream, BreakerState::HalfOpen)),
        "{states:?}"
    );
    let probe = w.route(&t, &ask("ups"), 0, later);
    record_outcome(&w.kv, &probe.ticket, Outcome::Success, later + 1).unwrap();
    assert_eq!(
        upstream_state_after(&w.kv, &probe.ticket, Outcome::Success, later + 1).unwrap(),
        BreakerState::Closed
    );
}

#[test]
fn many_concurrent_requests_in_half_open_admit_one_probe() {
    let w = Arc::new(World::eu());
    // The strict EU tenant has one UPS upstream.
    w.break_upstream("ups", "ups-eu");
    let threads = 32;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads as u64)
        .map(|i| {
            let (w, barrier) = (Arc::clone(&w), Arc::clone(&barrier));
            std::thread::spawn(move || {
                let t = nordlicht();
                barrier.wait();
                w.decide(&t, &ask("ups"), i, w.half_open())
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
    let open = decisions
        .iter()
        .filter(|d| matches!(d, Decision::Refuse(RoutingError::CircuitOpen { .. })))
        .count();
    assert_eq!(open, threads - 1);
}

#[test]
fn a_bad_probe_reopens_the_breaker() {
    let w = World::eu();
    w.break_upstream("ups", "ups-eu");
    let probe = w.route(&nordlicht(), &ask("ups"), 0, w.half_open());
    record_outcome(
        &w.kv,
        &probe.ticket,
        Outcome::CarrierFailure,
        w.half_open() + 100,
    )
    .unwrap();
    let e = w.refuse(&nordlicht(), &ask("ups"), w.half_open() + 200);
    assert_eq!(
        e.retry_after_secs(),
        Some(u64::from(w.carrier("ups").breaker.open_secs))
    );
}

#[test]
fn one_tenants_broken_credentials_never_open_the_carrier_for_others() {
    let w = World::eu();
    let broken = nordlicht();
    let other = with_carriers(tenant("other", "eu", Residency::Strict, &[]), &["ups"]);
    let b = &w.carrier("ups").breaker;
    // Many 401s, more than the carrier-wide threshold too.
    for i in 0..u64::from(b.credential_failures + b.failures) {
        let Decision::Route(r) = w.decide(&broken, &ask("ups"), 0, NOW + i) else {
            break;
        };
        record_outcome(&w.kv, &r.ticket, Outcome::of_status(401), NOW + i).unwrap();
    }
    let e = w.refuse(&broken, &ask("ups"), NOW + 100);
    assert_eq!((e.status(), e.kind()), (503, "carrier-credentials-failing"));
    assert!(e.retry_after_secs().is_some());
    // The other tenant still reaches UPS, and the broken tenant still reaches FedEx.
    w.route(&other, &ask("ups"), 0, NOW + 100);
    w.route(&broken, &ask("fedex"), 0, NOW + 100);
}

#[test]
fn a_tenant_probe_with_good_credentials_closes_its_breaker() {
    let w = World::eu();
    let t = nordlicht();
    for i in 0..u64::from(w.carrier("ups").breaker.credential_failures) {
        let r = w.route(&t, &ask("ups"), 0, NOW + i);
        record_outcome(&w.kv, &r.ticket, Outcome::CredentialFailure, NOW + i).unwrap();
    }
    let later = w.half_open() + 10;
    let probe = w.route(&t, &ask("ups"), 0, later);
    assert!(probe.ticket.is_probe());
    // A 5xx says nothing about credentials: the tenant stays half-open.
    record_outcome(&w.kv, &probe.ticket, Outcome::CarrierFailure, later + 1).unwrap();
    let probe = w.route(&t, &ask("ups"), 0, later + 2);
    assert!(probe.ticket.is_probe());
    record_outcome(&w.kv, &probe.ticket, Outcome::Success, later + 3).unwrap();
    assert!(!w.route(&t, &ask("ups"), 0, later + 4).ticket.is_probe());
}

#[test]
fn unreadable_breakers_count_as_closed() {
    let w = World::eu();
    w.kv.set_failing(true);
    let r = w.route(&nordlicht(), &ask("ups"), 0, NOW);
    assert!(r.breakers_unavailable);
    assert!(record_outcome(&w.kv, &r.ticket, Outcome::CarrierFailure, NOW).is_err());
}

// ------------------------------------------------------------------ fallback

#[test]
fn an_open_carrier_falls_back_one_hop_when_allowed() {
    let mut w = World::eu();
    // FedEx would fall back to DHL: a second hop, never taken.
    w.carrier_mut("fedex").fallback = vec!["dhl".into()];
    w.break_upstream("ups", "ups-eu");
    assert_eq!(
        w.refuse(&nordlicht(), &ask("ups"), NOW).kind(),
        "circuit-open",
        "a request that does not allow it (rates) does not fall back"
    );
    let r = w.route(&nordlicht(), &ask("ups").with_fallback(), 0, NOW);
    assert_eq!(r.carrier.id, "fedex");
    assert_eq!(r.fell_back_from.as_deref(), Some("ups"));
    w.break_upstream("fedex", "fedex-eu");
    assert_eq!(
        w.refuse(&nordlicht(), &ask("ups").with_fallback(), NOW),
        RoutingError::CircuitOpen {
            carrier: "ups".into(),
            retry_after_secs: u64::from(w.carrier("ups").breaker.open_secs)
        },
        "no second hop to DHL"
    );
}

#[test]
fn when_most_of_the_routes_carriers_are_open_it_fails_fast() {
    let mut w = World::eu();
    w.carriers
        .push(carrier("usps", &[upstream("usps-eu", "eu")]));
    // UPS falls back to FedEx, DHL, USPS.
    w.carrier_mut("ups").fallback = vec!["fedex".into(), "dhl".into(), "usps".into()];
    let t = with_carriers(
        tenant("nordlicht", "eu", Residency::Strict, &[]),
        &["ups", "fedex", "dhl", "usps"],
    );
    let request = ask("ups").with_fallback();
    w.break_upstream("ups", "ups-eu");
    w.break_upstream("fedex", "fedex-eu");
    // 2 of 4 open: not more than half, DHL serves.
    assert_eq!(w.route(&t, &request, 0, NOW).carrier.id, "dhl");
    // 3 of 4 open: fail fast, although USPS is still up.
    w.break_upstream("dhl", "dhl-eu");
    assert_eq!(w.refuse(&t, &request, NOW).kind(), "circuit-open");
}

#[test]
fn fallbacks_the_tenant_does_not_use_are_not_tried() {
    let w = World::eu();
    w.break_upstream("ups", "ups-eu");
    let t = with_carriers(tenant("n", "eu", Residency::Strict, &[]), &["ups"]);
    assert_eq!(
        w.refuse(&t, &ask("ups").with_fallback(), NOW).kind(),
        "circuit-open"
    );
}

#[test]
fn problems_never_name_upstreams_or_urls() {
    let w = World::eu();
    w.break_upstream("ups", "ups-eu");
    let problem = w
        .refuse(&nordlicht(), &ask("ups"), NOW)
        .problem(Some("req-9"));
    assert!(problem.detail.as_deref().unwrap().contains("\"ups\""));
    let json = problem.to_json();
    assert!(!json.contains("ups-eu"), "{json}");
    assert!(!json.contains("carrier.example"), "{json}");
}
