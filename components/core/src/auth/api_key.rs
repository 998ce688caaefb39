//! `X-Api-Key: <tenant>_<secret>`: looked up by its SHA-256 hash (the only form the
//! config holds), compared in constant time, and accepted only when active, unexpired,
//! owned by the tenant its prefix names, and that tenant exists.

use super::errors::{AuthError, Malformed, Refusal};
use super::principal::{Authenticated, Principal, Scopes};
use crate::config::store::ConfigView;
use crate::config::{KeyHash, KeyState, api_key_tenant};
use crate::kv::KeyValue;
use subtle::ConstantTimeEq;

/// Hex digits of the key's hash that name it as a principal (`key:<id>`).
pub const KEY_ID_LEN: usize = 16;

/// Authenticates an API key against the config version `config` at `now` (Unix
/// seconds). Reads two records: the key's and its tenant's.
pub fn authenticate_api_key<K: KeyValue + ?Sized>(
    key: &str,
    config: &ConfigView<'_, '_, K>,
    now: i64,
) -> Result<Authenticated, AuthError> {
    let prefix = api_key_tenant(key)
        .filter(|_| key.bytes().all(|b| b.is_ascii_graphic()))
        .ok_or(AuthError::Malformed(Malformed::BadApiKey))?;
    let hash = KeyHash::of_key(key);
    let record = config
        .api_key(hash.as_str())?
        .ok_or(AuthError::Refused(Refusal::UnknownApiKey))?;
    // The record was found under this hash; comparing again, in constant time, keeps a
    // store whose lookups are not exact (case folding, prefix scans) from admitting
    // a near miss.
    let same = record
        .key
        .hash
        .as_str()
        .as_bytes()
        .ct_eq(hash.as_str().as_bytes());
    if !bool::from(same) {
        return Err(AuthError::Refused(Refusal::UnknownApiKey));
    }
    if record.tenant != prefix {
        return Err(AuthError::Refused(Refusal::ApiKeyOfAnotherTenant));
    }
    if record.key.state != KeyState::Active {
        return Err(AuthError::Refused(Refusal::ApiKeyRevoked));
    }
    if let Some(expires) = &record.key.expires {
        // A validated document always has the instant; an unreadable one fails closed.
        match expires.unix_seconds() {
            Some(at) if now < at => {}
            _ => return Err(AuthError::Refused(Refusal::ApiKeyExpired)),
        }
    }
    let tenant = config
        .tenant(&record.tenant)?
        .ok_or(AuthError::Refused(Refusal::UnknownTenant))?;
    let scopes = match record.key.scopes {
        None => Scopes::All,
        Some(list) => Scopes::Only(list.into_iter().collect()),
    };
    Ok(Authenticated {
        tenant,
        principal: Principal::Key {
            id: hash.hex()[..KEY_ID_LEN].to_string(),
        },
        scopes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testkit::{self, NOW};
    use crate::config::store::ConfigStore;
    use crate::kv::MemoryKv;

    const DEMO: &str = include_str!("../../../../infra/regions/local/gateway.toml");
    // Public demo keys (infra/regions/local/DEMO-KEYS.md).
    const NORDLICHT: &str = "nordlicht_YW-iF_WcMN_yDuRQHFVssr35wwfd2a3j7u-WwrteQoM";
    const NORDLICHT_REVOKED: &str = "nordlicht_UA0Sk8j3if4Vpi_qtYXEt2-qpQGGKVIiYbz6Ggc5Q58";
    const PRAIRIE_EXPIRED: &str = "prairie-supply_z-RnKWNORLvT7PN0yu0hI-WYhcUcaU9xsJyE0CVYus4";
    const GLOBEX_SCANNER: &str = "globex_n0igoyTYOJ8OueFREuxBfxlQNjur5DsKezoDQsE7Q70";

    fn check(text: &str, key: &str, now: i64) -> Result<Authenticated, AuthError> {
        let kv = MemoryKv::new();
        let store = ConfigStore::new(&kv);
        store.apply(text, None).expect("test document applies");
        let view = store.view().unwrap().unwrap();
        authenticate_api_key(key, &view, now)
    }

    #[test]
    fn an_active_demo_key_authenticates_its_tenant_with_every_scope() {
        let auth = check(DEMO, NORDLICHT, NOW).unwrap();
        assert_eq!(auth.tenant.id, "nordlicht");
        assert_eq!(auth.scopes, Scopes::All);
        assert_eq!(
            auth.principal,
            Principal::Key {
                id: "7df7805936c5e360".into()
            }
        );
        assert_eq!(auth.principal.to_string(), "key:7df7805936c5e360");
    }

    #[test]
    fn a_key_with_scopes_holds_only_those() {
        let auth = check(DEMO, GLOBEX_SCANNER, NOW).unwrap();
        assert_eq!(auth.scopes, Scopes::parse("carriers").unwrap());
    }

    #[test]
    fn a_revoked_key_is_refused() {
        assert_eq!(
            check(DEMO, NORDLICHT_REVOKED, NOW).unwrap_err(),
            AuthError::Refused(Refusal::ApiKeyRevoked)
        );
    }

    #[test]
    fn an_expired_key_is_refused_from_its_expiry_on() {
        // Expires 2025-01-01T00:00:00Z.
        let expiry = 1_735_689_600;
        assert!(check(DEMO, PRAIRIE_EXPIRED, expiry - 1).is_ok());
        assert_eq!(
            check(DEMO, PRAIRIE_EXPIRED, expiry).unwrap_err(),
            AuthError::Refused(Refusal::ApiKeyExpired)
        );
    }

    #[test]
    fn an_unknown_key_is_refused() {
        let unknown = "nordlicht_not-a-key-anyone-was-given";
        assert_eq!(
            check(DEMO, unknown, NOW).unwrap_err(),
            AuthError::Refused(Refusal::UnknownApiKey)
        );
    }

    #[test]
    fn a_key_whose_prefix_names_another_tenant_is_refused() {
        // globex owns a key whose text starts with `nordlicht_`.
        let key = "nordlicht_planted-by-globex";
        let text = testkit::document_with_globex_key(key);
        assert_eq!(
            check(&text, key, NOW).unwrap_err(),
            AuthError::Refused(Refusal::ApiKeyOfAnotherTenant)
        );
    }

    #[test]
    fn a_key_without_a_tenant_prefix_is_malformed() {
        for bad in ["no-underscore", "_secret", "nordlicht_", "nordlicht_a b"] {
            assert_eq!(
                check(DEMO, bad, NOW).unwrap_err(),
                AuthError::Malformed(Malformed::BadApiKey),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_store_outage_fails_closed() {
        let kv = MemoryKv::new();
        let store = ConfigStore::new(&kv);
        store.apply(DEMO, None).unwrap();
        let view = store.view().unwrap().unwrap();
        kv.set_failing(true);
        assert!(matches!(
            authenticate_api_key(NORDLICHT, &view, NOW),
            Err(AuthError::Unavailable(_))
        ));
    }
}
