//! The quota phase as a user sees it: who gets through, what the 429 says, what the
//! store holds afterwards.

use super::testkit::{Hooked, concurrently};
use super::*;
use crate::auth::Principal;
use crate::config::{AccountLimit, FailMode, Limit, LimitKey, Plan};
use crate::kv::{KvError, MemoryKv};

/// 2027-01-01T00:00:00Z in ms: the start of a window for every window length used here.
const T0: u64 = 1_798_761_600_000;

fn limit(id: &str, per: LimitKey, rate: u32, window_secs: u32) -> Limit {
    Limit {
        id: id.into(),
        per,
        route: None,
        rate,
        window_secs,
        fail: FailMode::Open,
    }
}

fn plan(limits: Vec<Limit>) -> Plan {
    Plan {
        id: "p".into(),
        limits,
    }
}

fn key(id: &str) -> Principal {
    Principal::Key { id: id.into() }
}

fn agent(id: &str) -> Principal {
    Principal::Agent {
        id: id.into(),
        sponsor: "ops@acme.example".into(),
    }
}

fn request(tenant: &str, principal: Principal, route: &str, weight: u32) -> Subject {
    Subject {
        tenant: tenant.into(),
        principal,
        route: route.into(),
        weight,
    }
}

fn acme_key() -> Subject {
    request("acme", key("k1"), "carriers", 1)
}

fn account_limit(account: &str, rate: u32, fail: FailMode) -> AccountLimit {
    AccountLimit {
        carrier: "ups".into(),
        account: account.into(),
        rate,
        window_secs: 10,
        fail,
    }
}

/// The name of the limit that refused, or `None` if admitted.
fn refused_by(decision: &Decision) -> Option<&str> {
    match &decision.outcome {
        Outcome::Limited { usage, .. } => Some(&usage.name),
        _ => None,
    }
}

fn retry_after(decision: &Decision) -> u64 {
    let (_, value) = decision
        .headers()
        .into_iter()
        .find(|(name, _)| *name == "retry-after")
        .expect("a Retry-After header");
    value.parse().unwrap()
}

fn header(decision: &Decision, name: &str) -> Option<String> {
    decision
        .headers()
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Admits `n` requests at `now_ms` and counts the admitted ones.
fn admitted(kv: &MemoryKv, plan: &Plan, subject: &Subject, n: usize, now_ms: u64) -> usize {
    (0..n)
        .filter(|_| admit(kv, plan, subject, now_ms).admitted())
        .count()
}

#[test]
fn of_200_concurrent_requests_against_a_limit_of_50_exactly_50_pass() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("per-key", LimitKey::ApiKey, 50, 60)]);
    let subject = acme_key();
    // Spread over the first second of the window, clocks a little apart.
    let passed = concurrently(200, |i| admit(&kv, &plan, &subject, T0 + i * 5).admitted());
    assert_eq!(passed, 50);
}

#[test]
fn concurrent_requests_across_a_window_edge_admit_at_most_one_quota_per_window() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("per-key", LimitKey::ApiKey, 20, 1)]);
    let subject = acme_key();
    // Half the callers say the first window, half the second.
    let passed = concurrently(120, |i| {
        admit(&kv, &plan, &subject, T0 + 900 + (i % 2) * 200).admitted()
    });
    assert!(passed <= 40, "{passed}");
    assert!(kv.keys().len() <= 2, "{:?}", kv.keys());
}

#[test]
fn the_quota_is_per_window_and_refills_at_the_edge() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("per-key", LimitKey::ApiKey, 10, 1)]);
    let s = acme_key();
    assert_eq!(admitted(&kv, &plan, &s, 10, T0), 10);
    assert_eq!(
        refused_by(&admit(&kv, &plan, &s, T0 + 999)),
        Some("per-key")
    );
    assert_eq!(admitted(&kv, &plan, &s, 11, T0 + 1000), 10);
}

#[test]
fn a_request_after_retry_after_passes() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("tenant", LimitKey::Tenant, 3, 60)]);
    let s = acme_key();
    assert_eq!(admitted(&kv, &plan, &s, 3, T0 + 20_500), 3);
    let refused = admit(&kv, &plan, &s, T0 + 20_500);
    assert_eq!(refused.status(), Some(429));
    // 39.5 s are left in the window: rounded up.
    assert_eq!(retry_after(&refused), 40);
    let just_before = T0 + 20_500 + 39_000;
    assert!(!admit(&kv, &plan, &s, just_before).admitted());
    let after = T0 + 20_500 + retry_after(&refused) * 1000;
    assert!(admit(&kv, &plan, &s, after).admitted());
}

#[test]
fn with_two_limits_spent_retry_after_waits_for_the_later_one() {
    let kv = MemoryKv::new();
    // The demo's order: a per-key limit per second first, the tenant's per minute next.
    let plan = plan(vec![
        limit("per-key", LimitKey::ApiKey, 2, 1),
        limit("tenant", LimitKey::Tenant, 3, 60),
    ]);
    let s = acme_key();
    assert_eq!(admitted(&kv, &plan, &s, 1, T0 + 1_500), 1);
    // Second 2: per-key's 2, the second of them the tenant's last one.
    assert_eq!(admitted(&kv, &plan, &s, 2, T0 + 2_100), 2);
    let refused = admit(&kv, &plan, &s, T0 + 2_200);
    assert_eq!(refused_by(&refused), Some("per-key"));
    // per-key frees up in 0.8 s, the tenant's minute in 57.8 s: a retry after 1 s would
    // be refused by the tenant's limit.
    assert_eq!(retry_after(&refused), 58);
    assert!(!admit(&kv, &plan, &s, T0 + 3_200).admitted());
    let after = T0 + 2_200 + retry_after(&refused) * 1000;
    assert!(admit(&kv, &plan, &s, after).admitted());
}

#[test]
fn a_route_costs_its_weight_and_a_heavy_refusal_leaves_room_for_light_requests() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("tenant", LimitKey::Tenant, 10, 60)]);
    let heavy = request("acme", key("k1"), "rates", 3);
    let light = request("acme", key("k1"), "carriers", 1);
    assert_eq!(admitted(&kv, &plan, &heavy, 4, T0), 3);
    let refused = admit(&kv, &plan, &heavy, T0);
    assert_eq!(
        header(&refused, "ratelimit").as_deref(),
        Some(r#""tenant";r=1;t=60"#)
    );
    assert_eq!(
        refused.problem(None).unwrap().detail.as_deref(),
        Some(
            "Limit \"tenant\" (10 units per 60 s) has 1 left, less than this request costs; \
             retry after 60 s."
        )
    );
    assert!(admit(&kv, &plan, &light, T0).admitted());
    assert!(!admit(&kv, &plan, &light, T0).admitted());
}

#[test]
fn the_limit_that_refuses_is_named_and_the_others_are_given_back() {
    let kv = MemoryKv::new();
    let plan = plan(vec![
        limit("tenant", LimitKey::Tenant, 3, 60),
        limit("per-key", LimitKey::ApiKey, 2, 60),
    ]);
    let a = request("acme", key("a"), "carriers", 1);
    let b = request("acme", key("b"), "carriers", 1);
    assert_eq!(admitted(&kv, &plan, &a, 2, T0), 2);
    let refused = admit(&kv, &plan, &a, T0);
    assert_eq!(refused_by(&refused), Some("per-key"));
    let problem = refused.problem(Some("req-1")).unwrap();
    assert_eq!(
        problem.type_uri,
        "https://waypost.dev/problems/rate-limited"
    );
    assert_eq!(
        problem.detail.as_deref(),
        Some("Limit \"per-key\" (2 units per 60 s) is used up; retry after 60 s.")
    );
    // The refused request took nothing from the tenant's budget: b gets the third unit.
    assert!(admit(&kv, &plan, &b, T0).admitted());
    assert_eq!(refused_by(&admit(&kv, &plan, &b, T0)), Some("tenant"));
}

#[test]
fn admitted_requests_carry_the_tightest_limit() {
    let kv = MemoryKv::new();
    let plan = plan(vec![
        limit("tenant", LimitKey::Tenant, 100, 60),
        limit("per-key", LimitKey::ApiKey, 10, 1),
    ]);
    let s = acme_key();
    let first = admit(&kv, &plan, &s, T0 + 250);
    // per-key: 9 of 10 left; tenant: 99 of 100.
    assert_eq!(
        first.headers(),
        [
            ("ratelimit-policy", r#""per-key";q=10;w=1"#.to_string()),
            ("ratelimit", r#""per-key";r=9;t=1"#.to_string()),
        ]
    );
    assert_eq!(header(&first, "retry-after"), None);
    for _ in 0..8 {
        admit(&kv, &plan, &s, T0 + 1250);
    }
    // A new second: per-key 1 of 10 left, tenant 90 of 100.
    let later = admit(&kv, &plan, &s, T0 + 1250);
    assert_eq!(
        header(&later, "ratelimit").as_deref(),
        Some(r#""per-key";r=1;t=1"#)
    );
    let fresh_key = request("acme", key("k2"), "carriers", 1);
    let other = admit(&kv, &plan, &fresh_key, T0 + 59_500);
    assert_eq!(
        header(&other, "ratelimit").as_deref(),
        Some(r#""tenant";r=89;t=1"#)
    );
}

#[test]
fn a_429_carries_retry_after_and_the_refusing_policy() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("per-key", LimitKey::ApiKey, 1, 10)]);
    let s = acme_key();
    admit(&kv, &plan, &s, T0 + 2_000);
    let refused = admit(&kv, &plan, &s, T0 + 2_000);
    assert_eq!(
        refused.headers(),
        [
            ("retry-after", "8".to_string()),
            ("ratelimit-policy", r#""per-key";q=1;w=10"#.to_string()),
            ("ratelimit", r#""per-key";r=0;t=8"#.to_string()),
        ]
    );
    let body: serde_json::Value =
        serde_json::from_str(&refused.problem(Some("req-9")).unwrap().to_json()).unwrap();
    assert_eq!(body["status"], 429);
    assert_eq!(body["request_id"], "req-9");
}

#[test]
fn a_clock_behind_counts_in_the_current_window_and_never_resets_it() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("per-key", LimitKey::ApiKey, 5, 1)]);
    let s = acme_key();
    // Instance A is at 10.2 s and uses the whole second.
    assert_eq!(admitted(&kv, &plan, &s, 5, T0 + 10_200), 5);
    // Instance B's clock is 300 ms behind: it still says second 9.
    let behind = admit(&kv, &plan, &s, T0 + 9_900);
    assert_eq!(refused_by(&behind), Some("per-key"));
    assert_eq!(
        retry_after(&behind),
        2,
        "until second 10 closes, by B's clock"
    );
    assert!(
        kv.keys().iter().all(|k| !k.ends_with("/9")),
        "no counter for a closed window: {:?}",
        kv.keys()
    );
    // Second 11 by A's clock opens a new window; B, still behind, counts in it.
    assert!(admit(&kv, &plan, &s, T0 + 11_000).admitted());
    assert_eq!(admitted(&kv, &plan, &s, 5, T0 + 10_950), 4);
}

#[test]
fn an_agent_limit_counts_agents_only() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("agents", LimitKey::Agent, 2, 60)]);
    let bot = request("acme", agent("bot-1"), "rates", 1);
    let other_bot = request("acme", agent("bot-2"), "rates", 1);
    assert_eq!(admitted(&kv, &plan, &bot, 3, T0), 2);
    assert_eq!(admitted(&kv, &plan, &other_bot, 1, T0), 1, "per agent");
    let person = request(
        "acme",
        Principal::User {
            subject: "ann".into(),
        },
        "rates",
        1,
    );
    assert_eq!(admitted(&kv, &plan, &person, 5, T0), 5);
    assert_eq!(admitted(&kv, &plan, &acme_key(), 5, T0), 5);
}

#[test]
fn a_route_limit_counts_its_route_only() {
    let kv = MemoryKv::new();
    let mut rates = limit("rates", LimitKey::Route, 2, 60);
    rates.route = Some("rates".into());
    let plan = plan(vec![rates]);
    let shopping = request("acme", key("k1"), "rates", 1);
    let passing_through = request("acme", key("k1"), "carriers", 1);
    assert_eq!(admitted(&kv, &plan, &shopping, 3, T0), 2);
    assert_eq!(admitted(&kv, &plan, &passing_through, 5, T0), 5);
    let quiet = admit(&kv, &plan, &passing_through, T0);
    assert!(quiet.headers().is_empty(), "no limit counted it");
}

#[test]
fn tenants_have_budgets_of_their_own() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("tenant", LimitKey::Tenant, 2, 60)]);
    let acme = request("acme", key("k1"), "carriers", 1);
    let globex = request("globex", key("k1"), "carriers", 1);
    assert_eq!(admitted(&kv, &plan, &acme, 3, T0), 2);
    assert_eq!(admitted(&kv, &plan, &globex, 3, T0), 2);
    assert!(
        kv.keys()
            .iter()
            .any(|k| k.starts_with("quota/tenant/acme/"))
    );
    assert!(
        kv.keys()
            .iter()
            .any(|k| k.starts_with("quota/tenant/globex/"))
    );
}

#[test]
fn a_shared_carrier_account_is_one_budget_for_every_tenant() {
    let kv = MemoryKv::new();
    let platform = account_limit("platform", 3, FailMode::Closed);
    let own = account_limit("G10B3X", 1, FailMode::Closed);
    // Calls for acme, globex, acme: one budget, whoever calls.
    for _ in 0..3 {
        assert!(charge_account(&kv, &platform, T0 + 1_000).admitted());
    }
    let refused = charge_account(&kv, &platform, T0 + 1_000);
    assert_eq!(refused.status(), Some(429));
    assert_eq!(
        refused.headers(),
        [("retry-after", "9".to_string())],
        "no RateLimit fields about a shared budget"
    );
    let problem = refused.problem(None).unwrap();
    assert_eq!(
        problem.type_uri,
        "https://waypost.dev/problems/carrier-rate-limited"
    );
    assert!(
        charge_account(&kv, &own, T0 + 1_000).admitted(),
        "another account"
    );
    assert!(charge_account(&kv, &platform, T0 + 10_000).admitted());
    assert!(
        kv.keys()
            .iter()
            .all(|k| k.starts_with("quota/account/ups/platform/")
                || k.starts_with("quota/account/ups/G10B3X/"))
    );
}

#[test]
fn concurrent_carrier_calls_of_several_tenants_share_one_account_budget() {
    let kv = MemoryKv::new();
    let platform = account_limit("platform", 30, FailMode::Closed);
    let passed = concurrently(100, |_| {
        charge_account(&kv, &platform, T0 + 3_000).admitted()
    });
    assert_eq!(passed, 30);
}

#[test]
fn a_store_outage_admits_fail_open_limits_and_names_them() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("tenant", LimitKey::Tenant, 1, 60)]);
    kv.set_failing(true);
    let decision = admit(&kv, &plan, &acme_key(), T0);
    assert!(decision.admitted());
    assert_eq!(decision.unchecked, ["tenant"]);
    assert!(decision.headers().is_empty());
}

#[test]
fn a_store_outage_refuses_fail_closed_limits_with_503() {
    let kv = MemoryKv::new();
    let mut agents = limit("agents", LimitKey::Agent, 10, 60);
    agents.fail = FailMode::Closed;
    let plan = plan(vec![limit("tenant", LimitKey::Tenant, 10, 60), agents]);
    kv.set_failing(true);
    let decision = admit(&kv, &plan, &request("acme", agent("bot"), "rates", 1), T0);
    assert_eq!(decision.status(), Some(503));
    assert_eq!(decision.headers(), [("retry-after", "1".to_string())]);
    assert_eq!(decision.unchecked, ["tenant"]);
    let problem = decision.problem(None).unwrap();
    assert_eq!(
        problem.type_uri,
        "https://waypost.dev/problems/quota-unavailable"
    );
    assert_eq!(problem.status, 503);
    // The fail-closed limit does not count a key's request: it passes.
    assert!(admit(&kv, &plan, &acme_key(), T0).admitted());
}

#[test]
fn a_store_outage_stops_carrier_calls_unless_the_account_fails_open() {
    let kv = MemoryKv::new();
    kv.set_failing(true);
    let closed = charge_account(&kv, &account_limit("platform", 5, FailMode::Closed), T0);
    assert_eq!(closed.status(), Some(503));
    assert_eq!(retry_after(&closed), 1);
    let open = charge_account(&kv, &account_limit("platform", 5, FailMode::Open), T0);
    assert!(open.admitted());
    assert_eq!(open.unchecked, ["ups/platform"]);
}

#[test]
fn a_503_gives_back_what_the_other_limits_took() {
    let kv = MemoryKv::new();
    let mut strict = limit("strict", LimitKey::ApiKey, 10, 60);
    strict.fail = FailMode::Closed;
    let plan = plan(vec![limit("tenant", LimitKey::Tenant, 1, 60), strict]);
    let failing = Hooked {
        inner: &kv,
        hook: |_: &str, key: &str| match key.starts_with("quota/tenant/acme/strict/") {
            true => Err(KvError("store unavailable".into())),
            false => Ok(()),
        },
    };
    assert_eq!(admit(&failing, &plan, &acme_key(), T0).status(), Some(503));
    assert!(
        admit(&kv, &plan, &acme_key(), T0).admitted(),
        "tenant unit given back"
    );
}

#[test]
fn storage_stays_bounded_across_many_windows() {
    let kv = MemoryKv::new();
    let plan = plan(vec![
        limit("per-key", LimitKey::ApiKey, 5, 1),
        limit("tenant", LimitKey::Tenant, 50, 10),
    ]);
    let s = acme_key();
    for second in 0..1_000 {
        // Including requests that are refused, and a clock 300 ms behind.
        for _ in 0..7 {
            admit(&kv, &plan, &s, T0 + second * 1000 + 400);
        }
        admit(&kv, &plan, &s, T0 + second * 1000 + 100);
    }
    // Two budgets, each a window marker and one counter.
    assert_eq!(kv.keys().len(), 4, "{:?}", kv.keys());
}

#[test]
fn a_free_route_touches_nothing() {
    let kv = MemoryKv::new();
    let plan = plan(vec![limit("tenant", LimitKey::Tenant, 1, 60)]);
    let free = request("acme", key("k1"), "health", 0);
    for _ in 0..3 {
        assert!(admit(&kv, &plan, &free, T0).admitted());
    }
    assert!(kv.keys().is_empty());
}

#[test]
fn plan_limits_fail_open_and_account_limits_fail_closed_by_default() {
    let doc = crate::config::parse_and_validate(include_str!(
        "../../../../infra/regions/local/gateway.toml"
    ))
    .unwrap();
    let starter = doc.plan("starter").unwrap();
    assert!(starter.limits.iter().all(|l| l.fail == FailMode::Open));
    assert!(
        doc.account_limits
            .iter()
            .all(|l| l.fail == FailMode::Closed)
    );
}
