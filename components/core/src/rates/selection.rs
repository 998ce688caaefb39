//! Which carriers a rate request asks. The account and credentials of each call come
//! from `routing::credentials_for` (its `CredentialPlan` gives the account number for
//! [`super::CarrierContext`] and the variables for [`super::Credentials`]).

use super::answer::CarrierOutcome;
use crate::config::{Tenant, TenantCarrier};

/// The carriers to ask, and those the request named that the tenant does not use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// The tenant's carriers to ask, in the tenant's order.
    pub ask: Vec<TenantCarrier>,
    /// Carriers named in the request's `carriers` filter that the tenant does not
    /// use: each is reported with status `not_enabled` (not a 400).
    pub not_enabled: Vec<CarrierOutcome>,
    /// Whether the request named its carriers (a named carrier that cannot rate is an
    /// `error`; an unnamed one is left out quietly).
    pub named: bool,
}

/// The tenant's carriers, narrowed to the request's `carriers` filter when it has one.
pub fn select_carriers(tenant: &Tenant, filter: Option<&[String]>) -> Selection {
    let mut ask: Vec<TenantCarrier> = Vec::new();
    let wanted = |id: &str| filter.is_none_or(|f| f.iter().any(|c| c == id));
    for tc in &tenant.carriers {
        if wanted(&tc.carrier) && !ask.iter().any(|a| a.carrier == tc.carrier) {
            ask.push(tc.clone());
        }
    }
    let mut not_enabled: Vec<CarrierOutcome> = Vec::new();
    for id in filter.unwrap_or_default() {
        if !tenant.carriers.iter().any(|tc| &tc.carrier == id)
            && !not_enabled.iter().any(|o| &o.carrier == id)
        {
            not_enabled.push(CarrierOutcome::not_enabled(id));
        }
    }
    Selection {
        ask,
        not_enabled,
        named: filter.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Residency;

    fn tenant(carriers: &[&str]) -> Tenant {
        Tenant {
            id: "acme".into(),
            name: None,
            home: "us".into(),
            residency: Residency::Strict,
            allowed_regions: Vec::new(),
            plan: "pro".into(),
            issuers: Vec::new(),
            keys: Vec::new(),
            carriers: carriers
                .iter()
                .map(|c| TenantCarrier {
                    carrier: c.to_string(),
                    account: "platform".into(),
                    credentials: Default::default(),
                    upstream: None,
                })
                .collect(),
        }
    }

    #[test]
    fn without_a_filter_every_tenant_carrier_is_asked() {
        let s = select_carriers(&tenant(&["ups", "dhl", "fedex", "usps"]), None);
        let ids: Vec<&str> = s.ask.iter().map(|c| c.carrier.as_str()).collect();
        assert_eq!(ids, ["ups", "dhl", "fedex", "usps"]);
        assert!(s.not_enabled.is_empty());
        assert!(!s.named);
    }

    #[test]
    fn a_filter_narrows_and_unknown_carriers_are_not_enabled() {
        let filter = vec!["usps".to_string(), "dhl".to_string(), "usps".to_string()];
        let s = select_carriers(&tenant(&["dhl", "fedex"]), Some(&filter));
        let ids: Vec<&str> = s.ask.iter().map(|c| c.carrier.as_str()).collect();
        assert_eq!(ids, ["dhl"]);
        assert_eq!(s.not_enabled.len(), 1, "usps once, though named twice");
        assert_eq!(s.not_enabled[0].carrier, "usps");
        assert!(s.named);
    }
}
