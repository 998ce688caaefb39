//! Carrier access tokens kept in key-value between requests, so a rate request does
//! not pay a token round trip (or spend USPS's hourly quota) every time.
//!
//! One key per carrier and credential owner, overwritten on refresh, so storage stays
//! bounded by (carriers × tenants with their own account):
//! - `carrier-token/<carrier>/platform` — the platform's account;
//! - `carrier-token/<carrier>/tenant/<tenant>` — a tenant's own account.
//!
//! Plain `set` is right here: two requests refreshing at once both hold valid tokens,
//! and whichever write lands last is as good as the other. A token the carrier
//! refuses (401) is deleted with [`forget_token`] so the next request fetches anew.

use super::auth::AccessToken;
use crate::config::TenantCarrier;
use crate::kv::{KeyValue, KvError};

/// The key of the token used for `tenant`'s calls to `tc.carrier`.
pub fn token_key(tenant: &str, tc: &TenantCarrier) -> String {
    if tc.is_platform() {
        format!("carrier-token/{}/platform", tc.carrier)
    } else {
        format!("carrier-token/{}/tenant/{tenant}", tc.carrier)
    }
}

/// The cached token if it is still fresh at `now_unix`; an unreadable entry counts
/// as none.
pub fn cached_token<K: KeyValue + ?Sized>(
    kv: &K,
    key: &str,
    now_unix: i64,
) -> Result<Option<AccessToken>, KvError> {
    Ok(kv
        .get(key)?
        .and_then(|bytes| serde_json::from_slice::<AccessToken>(&bytes).ok())
        .filter(|t| t.is_fresh(now_unix)))
}

pub fn store_token<K: KeyValue + ?Sized>(
    kv: &K,
    key: &str,
    token: &AccessToken,
) -> Result<(), KvError> {
    kv.set(key, &serde_json::to_vec(token).expect("a token serializes"))
}

pub fn forget_token<K: KeyValue + ?Sized>(kv: &K, key: &str) -> Result<(), KvError> {
    kv.delete(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::MemoryKv;
    use std::collections::BTreeMap;

    fn tc(account: &str) -> TenantCarrier {
        TenantCarrier {
            carrier: "ups".into(),
            account: account.into(),
            credentials: BTreeMap::new(),
            upstream: None,
        }
    }

    #[test]
    fn keys_separate_platform_and_own_accounts() {
        assert_eq!(
            token_key("globex", &tc("platform")),
            "carrier-token/ups/platform"
        );
        assert_eq!(
            token_key("globex", &tc("G10B3X")),
            "carrier-token/ups/tenant/globex"
        );
    }

    #[test]
    fn a_token_is_served_until_shortly_before_it_expires() {
        let kv = MemoryKv::new();
        let token = AccessToken {
            access_token: "t".into(),
            expires_at: 1_000,
        };
        store_token(&kv, "k", &token).unwrap();
        assert_eq!(cached_token(&kv, "k", 900).unwrap(), Some(token.clone()));
        assert_eq!(
            cached_token(&kv, "k", 940).unwrap(),
            None,
            "inside the margin"
        );
        forget_token(&kv, "k").unwrap();
        assert_eq!(cached_token(&kv, "k", 0).unwrap(), None);
        kv.set("k", b"not json").unwrap();
        assert_eq!(cached_token(&kv, "k", 0).unwrap(), None);
        kv.set_failing(true);
        assert!(cached_token(&kv, "k", 0).is_err());
    }
}
