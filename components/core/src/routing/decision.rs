//! The routing decision: which upstream of which carrier serves a request, or which
//! problem answers it instead.
//!
//! [`decide`] runs, in order:
//!
//! 1. **residency** ([`check_residency`]): a tenant that may not be served in this
//!    deployment gets 421 `wrong-region` before anything else, whatever the state of
//!    the carrier (the same check the component already ran before reading the body);
//! 2. **tenant preference**: the carrier must exist (404 `unknown-carrier`) and be one
//!    of the tenant's (403 `carrier-not-enabled`); the tenant's entry picks the account
//!    and may pin an upstream; the tenant's own credential breaker for the carrier must
//!    let the call through (503 `carrier-credentials-failing`);
//! 3. **carrier availability** and the **geographic constraint**: only upstreams in
//!    regions the tenant may use from here count (see [`upstream_regions`]: the home
//!    region first); among those that fit the request (path, header, host: see
//!    [`super::upstreams`]) the carrier-wide breakers decide which may be called. All
//!    of them open → 503 `circuit-open` with `Retry-After` (unless a fallback carrier
//!    serves); none fitting → 421 `wrong-region` when the tenant's home region is
//!    called by another deployment (which has upstreams there), else 503 `no-upstream`;
//! 4. **balance**: a weighted choice among the available upstreams of the most
//!    preferred region that has one, from the caller's random number. A half-open
//!    upstream takes part; the request that picks it must win its one probe claim, or
//!    the choice is made again among the others.
//!
//! A pinned upstream (the tenant's `upstream`) is used whenever its region is usable
//! from here and its `path_prefix` (if any) fits the path, whatever the header, host or
//! weight; if its breaker is open the answer is `circuit-open`: the tenant is never
//! moved silently to another upstream of the carrier (a fallback carrier the tenant
//! has enabled may serve, and the answer names it). Otherwise the pin does not apply.
//!
//! **Fallback** (only when the request allows it: the router's pass-through does;
//! rates does not, as it asks every carrier the tenant uses anyway): when every upstream
//! of the carrier is open, the carrier's `fallback` carriers that the tenant has enabled
//! are tried in order, one hop only (a fallback's own fallbacks are not followed). The
//! config lets a carrier fall back only to carriers of the same API (adapter), so the
//! request goes on as it came. When more than half of these carriers (the requested one
//! included) are open, the request fails fast with `circuit-open` instead of piling the
//! load on the survivors.
//!
//! Breaker records that cannot be read (a key-value fault) count as closed: a store
//! outage must not take every carrier down. The decision says so
//! ([`Routed::breakers_unavailable`]) for the log line.

use super::breaker::{self, Admission, Peek, ProbeClaim};
use super::errors::RoutingError;
use super::outcome::{
    self, BreakerRef, Ticket, carrier_thresholds, credential_thresholds, tenant_breaker_key,
    upstream_breaker_key,
};
use super::residency::{check_residency, home_is_here, upstream_regions, wrong_region};
use super::upstreams::{RequestFacts, next_random, pick_weighted, pin_fits, tiers};
use crate::config::store::{ConfigView, RegionRecord};
use crate::config::{Carrier, Tenant, TenantCarrier, Upstream};
use crate::kv::{KeyValue, KvError};

/// Where carrier records come from: the config version a request reads
/// ([`ConfigView`]), or a slice in tests.
pub trait CarrierSource {
    fn carrier(&self, id: &str) -> Result<Option<Carrier>, KvError>;
}

impl<K: KeyValue + ?Sized> CarrierSource for ConfigView<'_, '_, K> {
    fn carrier(&self, id: &str) -> Result<Option<Carrier>, KvError> {
        ConfigView::carrier(self, id)
    }
}

impl CarrierSource for [Carrier] {
    fn carrier(&self, id: &str) -> Result<Option<Carrier>, KvError> {
        Ok(self.iter().find(|c| c.id == id).cloned())
    }
}

/// What the decision reads from a request.
#[derive(Debug, Clone, Copy)]
pub struct RouteRequest<'a> {
    /// The carrier id from the path.
    pub carrier: &'a str,
    pub facts: RequestFacts<'a>,
    /// Whether another carrier may answer when this one is open (see the module doc).
    pub allow_fallback: bool,
}

/// A request routed to one upstream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routed {
    /// The carrier called: the requested one, or its fallback.
    pub carrier: Carrier,
    /// The tenant's entry for that carrier (account, credentials, pin).
    pub entry: TenantCarrier,
    pub upstream: Upstream,
    /// The requested carrier, when a fallback carrier serves instead.
    pub fell_back_from: Option<String>,
    /// Report each attempt's outcome with this ([`super::record_outcome`]).
    pub ticket: Ticket,
    /// A breaker record could not be read and was taken as closed.
    pub breakers_unavailable: bool,
}

/// The routing decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Route(Box<Routed>),
    Refuse(RoutingError),
}

/// Decides where `request` from `tenant` goes (see the module doc for the order).
/// `random` is any random `u64` from the caller; `now_ms` is Unix milliseconds.
/// Half-open breakers are claimed here, so a [`Decision::Route`] must be followed by a
/// call and a [`super::record_outcome`] (with [`super::outcome::Outcome::Abandoned`]
/// if the call is not made). `Err` only when a carrier record cannot be read (the
/// component answers 503, as for any config read failure).
pub fn decide<K, C>(
    kv: &K,
    region: &RegionRecord,
    tenant: &Tenant,
    carriers: &C,
    request: &RouteRequest<'_>,
    random: u64,
    now_ms: u64,
) -> Result<Decision, KvError>
where
    K: KeyValue + ?Sized,
    C: CarrierSource + ?Sized,
{
    if let Err(refusal) = check_residency(region, tenant) {
        return Ok(Decision::Refuse(refusal));
    }
    let Some(primary) = carriers.carrier(request.carrier)? else {
        return Ok(Decision::Refuse(RoutingError::UnknownCarrier {
            carrier: request.carrier.to_string(),
        }));
    };
    let Some(entry) = entry_of(tenant, &primary.id) else {
        return Ok(Decision::Refuse(RoutingError::CarrierNotEnabled {
            carrier: primary.id.clone(),
        }));
    };
    let ctx = Context {
        kv,
        tenant,
        regions: upstream_regions(region, tenant),
        facts: &request.facts,
        now_ms,
    };
    let retry_after_secs = match ctx.route(&primary, entry, random) {
        Attempt::Routed(routed) => return Ok(Decision::Route(routed)),
        Attempt::Refused(e) => return Ok(Decision::Refuse(e)),
        Attempt::NoUpstream if home_is_here(region, tenant) => {
            return Ok(Decision::Refuse(RoutingError::NoUpstream {
                carrier: primary.id.clone(),
            }));
        }
        Attempt::NoUpstream => return Ok(Decision::Refuse(wrong_region(region, tenant))),
        Attempt::Open { retry_after_secs } => retry_after_secs,
    };
    let open = RoutingError::CircuitOpen {
        carrier: primary.id.clone(),
        retry_after_secs,
    };
    if !request.allow_fallback || primary.fallback.is_empty() {
        return Ok(Decision::Refuse(open));
    }
    // The route's carriers: the requested one and its fallbacks the tenant uses.
    let mut fallbacks = Vec::new();
    for id in &primary.fallback {
        if let Some(entry) = entry_of(tenant, id)
            && let Some(carrier) = carriers.carrier(id)?
        {
            let available = ctx.available(&carrier, entry);
            fallbacks.push((carrier, entry, available));
        }
    }
    let unavailable = 1 + fallbacks.iter().filter(|(_, _, a)| !a).count();
    if unavailable * 2 > 1 + fallbacks.len() {
        return Ok(Decision::Refuse(open));
    }
    let mut random = random;
    for (carrier, entry, _) in fallbacks.iter().filter(|(_, _, a)| *a) {
        random = next_random(random);
        if let Attempt::Routed(mut routed) = ctx.route(carrier, entry, random) {
            routed.fell_back_from = Some(primary.id.clone());
            return Ok(Decision::Route(routed));
        }
    }
    Ok(Decision::Refuse(open))
}

fn entry_of<'t>(tenant: &'t Tenant, carrier: &str) -> Option<&'t TenantCarrier> {
    tenant.carriers.iter().find(|c| c.carrier == carrier)
}

enum Attempt {
    Routed(Box<Routed>),
    Refused(RoutingError),
    Open { retry_after_secs: u64 },
    NoUpstream,
}

/// What a breaker says about one upstream, in claiming or looking-only mode.
enum Gate {
    Pass(Option<ProbeClaim>),
    Refused(u64),
}

enum Choice<'c> {
    Chosen(&'c Upstream, Option<ProbeClaim>),
    Open(u64),
    NoUpstream,
}

struct Context<'a, K: ?Sized> {
    kv: &'a K,
    tenant: &'a Tenant,
    regions: Vec<&'a str>,
    facts: &'a RequestFacts<'a>,
    now_ms: u64,
}

impl<K: KeyValue + ?Sized> Context<'_, K> {
    /// Routes to `carrier` through the tenant's `entry`, claiming probes.
    fn route(&self, carrier: &Carrier, entry: &TenantCarrier, random: u64) -> Attempt {
        let mut degraded = false;
        let tenant_key = tenant_breaker_key(&self.tenant.id, &carrier.id);
        let tenant_thresholds = credential_thresholds(carrier);
        let tenant_probe =
            match breaker::admit(self.kv, &tenant_key, &tenant_thresholds, self.now_ms) {
                Ok(Admission::Pass) => None,
                Ok(Admission::Probe(claim)) => Some(claim),
                Ok(Admission::Refused { retry_after_secs }) => {
                    return Attempt::Refused(RoutingError::CredentialsFailing {
                        carrier: carrier.id.clone(),
                        retry_after_secs,
                    });
                }
                Err(_) => {
                    degraded = true;
                    None
                }
            };
        let tenant_ref = BreakerRef {
            key: tenant_key,
            thresholds: tenant_thresholds,
            probe: tenant_probe,
        };
        let thresholds = carrier_thresholds(carrier);
        let choice = self.choose(carrier, entry, random, |up| {
            let key = upstream_breaker_key(&up.region, &carrier.id, &up.id);
            match breaker::admit(self.kv, &key, &thresholds, self.now_ms) {
                Ok(Admission::Pass) => Gate::Pass(None),
                Ok(Admission::Probe(claim)) => Gate::Pass(Some(claim)),
                Ok(Admission::Refused { retry_after_secs }) => Gate::Refused(retry_after_secs),
                Err(_) => {
                    degraded = true;
                    Gate::Pass(None)
                }
            }
        });
        let (upstream, probe) = match choice {
            Choice::Chosen(upstream, probe) => (upstream, probe),
            Choice::Open(retry_after_secs) => {
                outcome::release(self.kv, &tenant_ref, self.now_ms);
                return Attempt::Open { retry_after_secs };
            }
            Choice::NoUpstream => {
                outcome::release(self.kv, &tenant_ref, self.now_ms);
                return Attempt::NoUpstream;
            }
        };
        Attempt::Routed(Box::new(Routed {
            carrier: carrier.clone(),
            entry: entry.clone(),
            upstream: upstream.clone(),
            fell_back_from: None,
            ticket: Ticket {
                upstream: BreakerRef {
                    key: upstream_breaker_key(&upstream.region, &carrier.id, &upstream.id),
                    thresholds,
                    probe,
                },
                tenant: tenant_ref,
            },
            breakers_unavailable: degraded,
        }))
    }

    /// Whether `carrier` has an upstream for this request whose breaker is closed or
    /// half-open (claims nothing).
    fn available(&self, carrier: &Carrier, entry: &TenantCarrier) -> bool {
        let choice = self.choose(carrier, entry, 0, |up| {
            let key = upstream_breaker_key(&up.region, &carrier.id, &up.id);
            match breaker::peek(self.kv, &key, self.now_ms) {
                Ok(Peek::Open { retry_after_secs }) => Gate::Refused(retry_after_secs),
                Ok(Peek::Closed | Peek::HalfOpen) | Err(_) => Gate::Pass(None),
            }
        });
        matches!(choice, Choice::Chosen(..))
    }

    /// The pin, else a weighted choice tier by tier, region by region, skipping the
    /// upstreams `gate` refuses.
    fn choose<'c>(
        &self,
        carrier: &'c Carrier,
        entry: &TenantCarrier,
        random: u64,
        mut gate: impl FnMut(&Upstream) -> Gate,
    ) -> Choice<'c> {
        if let Some(pin) = entry
            .upstream
            .as_ref()
            .and_then(|id| carrier.upstreams.iter().find(|u| u.id == *id))
            && self.regions.contains(&pin.region.as_str())
            && pin_fits(pin, self.facts)
        {
            return match gate(pin) {
                Gate::Pass(probe) => Choice::Chosen(pin, probe),
                Gate::Refused(secs) => Choice::Open(secs),
            };
        }
        let mut soonest: Option<u64> = None;
        let mut random = random;
        for region in &self.regions {
            for mut tier in tiers(carrier, region, self.facts) {
                while let Some(i) =
                    pick_weighted(&tier.iter().map(|u| u.weight).collect::<Vec<_>>(), random)
                {
                    let upstream = tier.remove(i);
                    match gate(upstream) {
                        Gate::Pass(probe) => return Choice::Chosen(upstream, probe),
                        Gate::Refused(secs) => {
                            soonest = Some(soonest.map_or(secs, |s| s.min(secs)));
                        }
                    }
                    random = next_random(random);
                }
            }
        }
        match soonest {
            Some(secs) => Choice::Open(secs),
            None => Choice::NoUpstream,
        }
    }
}

#[cfg(test)]
mod tests;
