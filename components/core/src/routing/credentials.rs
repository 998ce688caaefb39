//! Which carrier account a call uses, and the Spin variables holding its credentials.
//!
//! A tenant's carrier entry names either the platform's account (`account =
//! "platform"`: the carrier's `platform` credentials, shared by every such tenant) or
//! its own account (its own `credentials`). This module only names variables; the
//! component resolves their values (`spin_sdk::variables::get`), so no secret passes
//! through here or appears in a plan's `Debug`.

use super::errors::RoutingError;
use super::token_cache::TokenCacheKey;
use crate::config::{Carrier, HttpUrl, TenantCarrier, VarName};
use std::collections::BTreeMap;

/// The account a carrier call is made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Account {
    /// The platform's account, shared by every tenant using `account = "platform"`.
    Platform { account_number: Option<String> },
    /// The tenant's own account with the carrier.
    Own { tenant: String, account: String },
}

/// Everything the component needs to authenticate one carrier call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialPlan {
    pub carrier: String,
    pub account: Account,
    /// Credential role (`client_id`, `client_secret`, `username`, ...) → the Spin
    /// variable holding its value.
    pub variables: BTreeMap<String, VarName>,
    /// The OAuth2 client-credentials token endpoint, for adapters that use one.
    pub token_url: Option<HttpUrl>,
}

/// The credentials of `tenant`'s calls to `carrier` through its entry `entry`.
/// A platform-account entry on a carrier without a platform account (a config that
/// failed validation) is 500 `carrier-not-configured`.
pub fn credentials_for(
    tenant: &str,
    entry: &TenantCarrier,
    carrier: &Carrier,
) -> Result<CredentialPlan, RoutingError> {
    let token_url = if carrier.adapter.uses_oauth() {
        carrier.token_url.clone()
    } else {
        None
    };
    let (account, variables) = if entry.is_platform() {
        let Some(platform) = &carrier.platform else {
            return Err(RoutingError::CarrierNotConfigured {
                carrier: carrier.id.clone(),
            });
        };
        (
            Account::Platform {
                account_number: platform.account_number.clone(),
            },
            platform.credentials.clone(),
        )
    } else {
        (
            Account::Own {
                tenant: tenant.to_string(),
                account: entry.account.clone(),
            },
            entry.credentials.clone(),
        )
    };
    Ok(CredentialPlan {
        carrier: carrier.id.clone(),
        account,
        variables,
        token_url,
    })
}

impl CredentialPlan {
    /// The Spin variable holding the credential with this role.
    pub fn variable(&self, role: &str) -> Option<&str> {
        self.variables.get(role).map(VarName::as_str)
    }

    /// The account number to send to the carrier where its API wants one (the
    /// platform's `account_number`, or the tenant's own account).
    pub fn account_number(&self) -> Option<&str> {
        match &self.account {
            Account::Platform { account_number } => account_number.as_deref(),
            Account::Own { account, .. } => Some(account),
        }
    }

    /// The token cache entry for this account's OAuth2 token, given the resolved
    /// client id (see [`TokenCacheKey`]).
    pub fn token_cache_key(&self, client_id: &str) -> TokenCacheKey {
        TokenCacheKey::new(&self.carrier, &self.account, client_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::testkit::{carrier, upstream};

    fn ups() -> Carrier {
        let mut ups = carrier("ups", &[upstream("us", "us")]);
        ups.adapter = crate::config::Adapter::Ups;
        ups.token_url = Some(HttpUrl("https://ups.example/token".into()));
        ups.platform = Some(crate::config::PlatformAccount {
            account_number: Some("W4YP05".into()),
            credentials: [
                ("client_id".to_string(), VarName("ups_client_id".into())),
                (
                    "client_secret".to_string(),
                    VarName("ups_client_secret".into()),
                ),
            ]
            .into(),
        });
        ups
    }

    fn entry(account: &str, creds: &[(&str, &str)]) -> TenantCarrier {
        TenantCarrier {
            carrier: "ups".into(),
            account: account.into(),
            credentials: creds
                .iter()
                .map(|(r, v)| (r.to_string(), VarName(v.to_string())))
                .collect(),
            upstream: None,
        }
    }

    #[test]
    fn a_platform_tenant_uses_the_platform_variables() {
        let plan = credentials_for("prairie", &entry("platform", &[]), &ups()).unwrap();
        assert_eq!(plan.variable("client_id"), Some("ups_client_id"));
        assert_eq!(plan.account_number(), Some("W4YP05"));
        assert_eq!(
            plan.token_url.as_ref().map(HttpUrl::as_str),
            Some("https://ups.example/token")
        );
    }

    #[test]
    fn a_tenant_with_its_own_account_uses_its_own_variables() {
        let own = entry(
            "G10B3X",
            &[
                ("client_id", "globex_ups_client_id"),
                ("client_secret", "globex_ups_client_secret"),
            ],
        );
        let plan = credentials_for("globex", &own, &ups()).unwrap();
        assert_eq!(
            plan.variable("client_secret"),
            Some("globex_ups_client_secret")
        );
        assert_eq!(
            plan.account,
            Account::Own {
                tenant: "globex".into(),
                account: "G10B3X".into()
            }
        );
        assert_eq!(plan.account_number(), Some("G10B3X"));
    }

    #[test]
    fn a_carrier_without_a_platform_account_is_not_configured() {
        let mut carrier = ups();
        carrier.platform = None;
        assert_eq!(
            credentials_for("prairie", &entry("platform", &[]), &carrier),
            Err(RoutingError::CarrierNotConfigured {
                carrier: "ups".into()
            })
        );
    }
}
