//! Residency: may this deployment serve a tenant at all, and from which regions may its
//! carrier calls leave.
//!
//! A deployment *serves* the home regions in `region.serves` (or just `region.id`). It
//! calls the upstreams whose `region` it serves (or is: `region.id`).
//!
//! - A strict tenant is served only where its home is served, and its calls use only
//!   upstreams in its home region.
//! - A relaxed tenant is served where its home or one of its `allowed_regions` is
//!   served; its calls prefer its home region's upstreams and otherwise use this
//!   deployment's regions that it allows.
//!
//! [`check_residency`] needs only the `region` record and the tenant, so the router,
//! rates and webhooks call it before reading a request body: a refused body is never
//! stored or forwarded.

use super::errors::RoutingError;
use crate::config::store::RegionRecord;
use crate::config::{Residency, Tenant};

/// The home regions this deployment serves: `region.serves`, or just `region.id`.
pub fn served_regions(region: &RegionRecord) -> Vec<&str> {
    if region.region.serves.is_empty() {
        vec![region.region.id.as_str()]
    } else {
        region.region.serves.iter().map(String::as_str).collect()
    }
}

/// Whether this deployment calls upstreams placed in `upstream_region`.
pub fn calls_region(region: &RegionRecord, upstream_region: &str) -> bool {
    region.region.id == upstream_region || served_regions(region).contains(&upstream_region)
}

/// The regions a tenant may be served in: its home, and for relaxed tenants its
/// `allowed_regions`.
fn allowed(tenant: &Tenant) -> impl Iterator<Item = &str> {
    let extra = match tenant.residency {
        Residency::Strict => &[][..],
        Residency::Relaxed => &tenant.allowed_regions[..],
    };
    std::iter::once(tenant.home.as_str()).chain(extra.iter().map(String::as_str))
}

/// Whether this deployment may serve `tenant`; otherwise 421 `wrong-region` naming the
/// tenant's home region's public URL (from the `region` record's `regions`).
pub fn check_residency(region: &RegionRecord, tenant: &Tenant) -> Result<(), RoutingError> {
    let served = served_regions(region);
    if allowed(tenant).any(|r| served.contains(&r)) {
        return Ok(());
    }
    Err(wrong_region(region, tenant))
}

/// 421 naming the tenant's home region.
pub fn wrong_region(region: &RegionRecord, tenant: &Tenant) -> RoutingError {
    RoutingError::WrongRegion {
        home: tenant.home.clone(),
        home_url: region.regions.get(&tenant.home).map(ToString::to_string),
    }
}

/// The upstream regions this deployment may call for `tenant`, most preferred first:
/// the home region when this deployment calls it, then (relaxed tenants only) the
/// regions of this deployment that the tenant allows, in the order of `region.serves`
/// then `region.id`. Empty when the tenant may not be served here.
pub fn upstream_regions<'a>(region: &'a RegionRecord, tenant: &'a Tenant) -> Vec<&'a str> {
    let mut order: Vec<&str> = Vec::new();
    if calls_region(region, &tenant.home) {
        order.push(&tenant.home);
    }
    if tenant.residency == Residency::Relaxed {
        let own = served_regions(region)
            .into_iter()
            .chain(std::iter::once(region.region.id.as_str()));
        for r in own {
            if !order.contains(&r) && allowed(tenant).any(|a| a == r) {
                order.push(r);
            }
        }
    }
    order
}

/// Whether this deployment calls the tenant's home region (so no other deployment
/// would route its calls better).
pub fn home_is_here(region: &RegionRecord, tenant: &Tenant) -> bool {
    calls_region(region, &tenant.home)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::testkit::{region, tenant};

    #[test]
    fn a_strict_eu_tenant_is_refused_in_the_us_with_the_eu_url() {
        let us = region("us", &[]);
        let nordlicht = tenant("nordlicht", "eu", Residency::Strict, &[]);
        assert_eq!(
            check_residency(&us, &nordlicht),
            Err(RoutingError::WrongRegion {
                home: "eu".into(),
                home_url: Some("https://eu.waypost.example".into()),
            })
        );
        assert!(upstream_regions(&us, &nordlicht).is_empty());
    }

    #[test]
    fn a_strict_tenant_is_served_where_its_home_is_served() {
        let local = region("local", &["eu", "us"]);
        let nordlicht = tenant("nordlicht", "eu", Residency::Strict, &[]);
        assert_eq!(check_residency(&local, &nordlicht), Ok(()));
        assert_eq!(upstream_regions(&local, &nordlicht), ["eu"]);
        let eu = region("eu", &[]);
        assert_eq!(check_residency(&eu, &nordlicht), Ok(()));
    }

    #[test]
    fn a_strict_tenant_never_uses_allowed_regions() {
        // `allowed_regions` on a strict tenant means nothing.
        let us = region("us", &[]);
        let odd = tenant("odd", "eu", Residency::Strict, &["us"]);
        assert!(check_residency(&us, &odd).is_err());
    }

    #[test]
    fn a_relaxed_tenant_is_served_in_its_allowed_regions_only() {
        let globex = tenant("globex", "us", Residency::Relaxed, &["eu"]);
        let eu = region("eu", &[]);
        assert_eq!(check_residency(&eu, &globex), Ok(()));
        assert_eq!(upstream_regions(&eu, &globex), ["eu"]);
        let ap = region("ap", &[]);
        assert_eq!(
            check_residency(&ap, &globex),
            Err(RoutingError::WrongRegion {
                home: "us".into(),
                home_url: Some("https://us.waypost.example".into()),
            })
        );
    }

    #[test]
    fn a_relaxed_tenant_prefers_its_home_region() {
        let local = region("local", &["eu", "us"]);
        let globex = tenant("globex", "us", Residency::Relaxed, &["eu"]);
        assert_eq!(upstream_regions(&local, &globex), ["us", "eu"]);
        assert!(home_is_here(&local, &globex));
        let eu = region("eu", &[]);
        assert!(!home_is_here(&eu, &globex));
    }
}
