//! Which tenant a carrier event belongs to: the one the path names
//! (`/webhooks/{carrier}/{tenant}`), or the owner of the carrier account the payload
//! names (the intake's `account_pointer`, looked up in the `account/<carrier>/<account>`
//! config record). Either way the tenant must use the carrier. When the path names the
//! tenant and the payload names an account another tenant owns, the event is refused:
//! a carrier's secret is shared by every tenant, so the path alone must not move a
//! signed event to another tenant. Residency is the component's call, with the tenant
//! returned here.

use super::error::IntakeError;
use super::normalize::text_at;
use crate::config::store::ConfigView;
use crate::config::{Tenant, WebhookIntake, check_id};
use crate::kv::KeyValue;
use serde_json::Value;

/// The tenant of an event, read from the config (one or two records).
pub fn resolve_tenant<K: KeyValue + ?Sized>(
    view: &ConfigView<'_, '_, K>,
    intake: &WebhookIntake,
    path_tenant: Option<&str>,
    payload: &Value,
) -> Result<Tenant, IntakeError> {
    let id = match path_tenant {
        Some(id) => {
            if account_owner(view, intake, payload)?.is_some_and(|owner| owner != id) {
                return Err(IntakeError::AccountOfAnotherTenant);
            }
            id.to_string()
        }
        None => {
            let account = payload_account(intake, payload)?;
            view.account_tenant(&intake.carrier, &account)?
                .ok_or(IntakeError::UnknownTenant)?
        }
    };
    if check_id(&id, "tenant").is_err() {
        return Err(IntakeError::UnknownTenant);
    }
    let tenant = view.tenant(&id)?.ok_or(IntakeError::UnknownTenant)?;
    if !tenant.carriers.iter().any(|c| c.carrier == intake.carrier) {
        return Err(IntakeError::UnknownTenant);
    }
    Ok(tenant)
}

/// The tenant owning the account the payload names, if the intake reads accounts and
/// the payload names one that a tenant owns (not a shared platform account).
fn account_owner<K: KeyValue + ?Sized>(
    view: &ConfigView<'_, '_, K>,
    intake: &WebhookIntake,
    payload: &Value,
) -> Result<Option<String>, IntakeError> {
    if intake.account_pointer.is_none() {
        return Ok(None);
    }
    match payload_account(intake, payload) {
        Ok(account) => Ok(view.account_tenant(&intake.carrier, &account)?),
        Err(_) => Ok(None),
    }
}

/// The carrier account named by the payload. No `account_pointer`: no tenant can be
/// found (the path must name it). A pointer that finds nothing: an invalid payload.
fn payload_account(intake: &WebhookIntake, payload: &Value) -> Result<String, IntakeError> {
    let Some(pointer) = &intake.account_pointer else {
        return Err(IntakeError::UnknownTenant);
    };
    let account = text_at(payload, pointer.as_str()).ok_or_else(|| {
        IntakeError::InvalidPayload(format!("no carrier account at `{}`", pointer.as_str()))
    })?;
    // Account numbers in the config are `[A-Za-z0-9._-]`, at most 64: anything else
    // names no tenant (and never reaches a key name).
    let plausible = !account.is_empty()
        && account.len() <= 64
        && account
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !plausible {
        return Err(IntakeError::UnknownTenant);
    }
    Ok(account)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::JsonPointer;
    use crate::config::store::ConfigStore;
    use crate::kv::MemoryKv;
    use crate::webhooks::testkit::DEMO;
    use serde_json::json;

    fn ups_intake(kv: &MemoryKv, pointer: Option<&str>) -> WebhookIntake {
        let store = ConfigStore::new(kv);
        let view = store.view().unwrap().unwrap();
        let mut intake = view.webhook("ups").unwrap().unwrap();
        intake.account_pointer = pointer.map(|p| JsonPointer(p.into()));
        intake
    }

    fn resolve(
        kv: &MemoryKv,
        intake: &WebhookIntake,
        path: Option<&str>,
        payload: Value,
    ) -> Result<String, IntakeError> {
        let store = ConfigStore::new(kv);
        let view = store.view().unwrap().unwrap();
        resolve_tenant(&view, intake, path, &payload).map(|t| t.id)
    }

    fn demo() -> MemoryKv {
        let kv = MemoryKv::new();
        ConfigStore::new(&kv).apply(DEMO, None).unwrap();
        kv
    }

    #[test]
    fn the_path_names_the_tenant() {
        let kv = demo();
        let intake = ups_intake(&kv, None);
        assert_eq!(
            resolve(&kv, &intake, Some("globex"), json!({})),
            Ok("globex".into())
        );
        assert_eq!(
            resolve(&kv, &intake, Some("nobody"), json!({})),
            Err(IntakeError::UnknownTenant)
        );
        assert_eq!(
            resolve(&kv, &intake, Some("nordlicht"), json!({})),
            Err(IntakeError::UnknownTenant),
            "nordlicht does not use UPS"
        );
        assert_eq!(
            resolve(&kv, &intake, Some("../x"), json!({})),
            Err(IntakeError::UnknownTenant)
        );
    }

    #[test]
    fn the_payload_account_names_the_tenant() {
        let kv = demo();
        let intake = ups_intake(&kv, Some("/shipperAccountNumber"));
        let named = |account: Value| json!({"shipperAccountNumber": account});
        assert_eq!(
            resolve(&kv, &intake, None, named(json!("G10B3X"))),
            Ok("globex".into())
        );
        assert_eq!(
            resolve(&kv, &intake, None, named(json!("W4YP05"))),
            Err(IntakeError::UnknownTenant),
            "the platform account is shared"
        );
        assert_eq!(
            resolve(&kv, &intake, None, named(json!("a/b"))),
            Err(IntakeError::UnknownTenant)
        );
        assert!(matches!(
            resolve(&kv, &intake, None, json!({})),
            Err(IntakeError::InvalidPayload(_))
        ));
    }

    #[test]
    fn the_path_cannot_take_an_event_of_another_tenants_account() {
        let kv = demo();
        let intake = ups_intake(&kv, Some("/shipperAccountNumber"));
        let named = |account: &str| json!({"shipperAccountNumber": account});
        assert_eq!(
            resolve(&kv, &intake, Some("prairie-supply"), named("G10B3X")),
            Err(IntakeError::AccountOfAnotherTenant),
            "G10B3X is globex's own account"
        );
        assert_eq!(
            resolve(&kv, &intake, Some("globex"), named("G10B3X")),
            Ok("globex".into())
        );
        assert_eq!(
            resolve(&kv, &intake, Some("prairie-supply"), named("W4YP05")),
            Ok("prairie-supply".into()),
            "the platform account is shared: the path decides"
        );
        assert_eq!(
            resolve(&kv, &intake, Some("prairie-supply"), json!({})),
            Ok("prairie-supply".into()),
            "no account in the payload: the path decides"
        );
    }

    #[test]
    fn without_path_or_account_pointer_there_is_no_tenant() {
        let kv = demo();
        let intake = ups_intake(&kv, None);
        assert_eq!(
            resolve(&kv, &intake, None, json!({})),
            Err(IntakeError::UnknownTenant)
        );
    }
}
