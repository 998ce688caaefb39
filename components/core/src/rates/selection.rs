//! Which carriers a rate request asks, and with which account.

use super::answer::CarrierOutcome;
use crate::config::{Carrier, Tenant, TenantCarrier, VarName};
use std::collections::BTreeMap;

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

/// The account number calls bill: the tenant's own account, or the platform's
/// `account_number` for `account = "platform"`.
pub fn account_number(tc: &TenantCarrier, carrier: &Carrier) -> Option<String> {
    if tc.is_platform() {
        carrier.platform.as_ref()?.account_number.clone()
    } else {
        Some(tc.account.clone())
    }
}

/// The Spin variables holding the credentials (role → variable): the tenant's own,
/// or the platform account's. `None` when the platform account is not configured.
pub fn credential_variables<'a>(
    tc: &'a TenantCarrier,
    carrier: &'a Carrier,
) -> Option<&'a BTreeMap<String, VarName>> {
    if tc.is_platform() {
        carrier.platform.as_ref().map(|p| &p.credentials)
    } else {
        Some(&tc.credentials)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_and_validate;

    fn demo() -> crate::config::Document {
        let text = include_str!("../../../../infra/regions/local/gateway.toml");
        parse_and_validate(text).expect("the demo document is valid")
    }

    #[test]
    fn without_a_filter_every_tenant_carrier_is_asked() {
        let doc = demo();
        let s = select_carriers(doc.tenant("globex").unwrap(), None);
        let ids: Vec<&str> = s.ask.iter().map(|c| c.carrier.as_str()).collect();
        assert_eq!(ids, ["ups", "dhl", "fedex", "usps"]);
        assert!(s.not_enabled.is_empty());
        assert!(!s.named);
    }

    #[test]
    fn a_filter_narrows_and_unknown_carriers_are_not_enabled() {
        let doc = demo();
        let filter = vec!["usps".to_string(), "dhl".to_string(), "usps".to_string()];
        let s = select_carriers(doc.tenant("nordlicht").unwrap(), Some(&filter));
        let ids: Vec<&str> = s.ask.iter().map(|c| c.carrier.as_str()).collect();
        assert_eq!(ids, ["dhl"]);
        assert_eq!(s.not_enabled.len(), 1, "usps once, though named twice");
        assert_eq!(s.not_enabled[0].carrier, "usps");
        assert!(s.named);
    }

    #[test]
    fn accounts_come_from_the_tenant_or_the_platform() {
        let doc = demo();
        let globex = doc.tenant("globex").unwrap();
        let ups = doc.carrier("ups").unwrap();
        let own = globex.carriers.iter().find(|c| c.carrier == "ups").unwrap();
        assert_eq!(account_number(own, ups).as_deref(), Some("G10B3X"));
        assert_eq!(
            credential_variables(own, ups).unwrap()["client_id"].as_str(),
            "globex_ups_client_id"
        );
        let usps = doc.carrier("usps").unwrap();
        let platform = globex
            .carriers
            .iter()
            .find(|c| c.carrier == "usps")
            .unwrap();
        assert_eq!(account_number(platform, usps), None);
        assert_eq!(
            credential_variables(platform, usps).unwrap()["client_id"].as_str(),
            "usps_client_id"
        );
    }
}
