//! Route scopes: the route a request matches (from the config's `routes` record, with
//! the config's own matcher) names the scopes a caller must hold, all of them.

use super::errors::AuthError;
use super::principal::Authenticated;
use crate::config::{Route, route_for};

/// The scopes the request's route requires; none when no route matches (the handler
/// answers 404 then, after authentication).
pub fn required_scopes<'r>(routes: &'r [Route], method: &str, path: &str) -> &'r [String] {
    route_for(routes, method, path).map_or(&[], |r| r.scopes.as_slice())
}

/// The authorization phase: 403 `insufficient_scope` naming every scope the route
/// requires when the caller lacks any of them.
pub fn authorize(
    authenticated: &Authenticated,
    routes: &[Route],
    method: &str,
    path: &str,
) -> Result<(), AuthError> {
    let required = required_scopes(routes, method, path);
    if required.iter().all(|s| authenticated.scopes.grants(s)) {
        Ok(())
    } else {
        Err(AuthError::InsufficientScope {
            required: required.to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::principal::{Principal, Scopes};
    use crate::config::parse_and_validate;

    const DEMO: &str = include_str!("../../../../infra/regions/local/gateway.toml");

    fn caller(scopes: &str) -> Authenticated {
        let doc = parse_and_validate(DEMO).unwrap();
        Authenticated {
            tenant: doc.tenants[0].clone(),
            principal: Principal::User {
                subject: "u1".into(),
            },
            scopes: Scopes::parse(scopes).unwrap(),
        }
    }

    fn routes() -> Vec<Route> {
        parse_and_validate(DEMO).unwrap().routes
    }

    #[test]
    fn rate_shopping_requires_the_rates_scope() {
        assert_eq!(
            required_scopes(&routes(), "POST", "/v1/rates"),
            ["rates".to_string()]
        );
        assert!(authorize(&caller("rates"), &routes(), "POST", "/v1/rates").is_ok());
    }

    #[test]
    fn a_carriers_only_caller_is_refused_rate_shopping_with_403() {
        let err = authorize(&caller("carriers"), &routes(), "POST", "/v1/rates").unwrap_err();
        assert_eq!(
            err,
            AuthError::InsufficientScope {
                required: vec!["rates".into()]
            }
        );
        assert_eq!(err.status(), 403);
    }

    #[test]
    fn the_most_specific_route_decides() {
        let r = routes();
        let path = "/v1/carriers/ups/api/rating/v1601/Rate";
        assert_eq!(required_scopes(&r, "GET", path), ["carriers".to_string()]);
        assert!(authorize(&caller("carriers"), &r, "GET", path).is_ok());
        assert!(authorize(&caller("rates"), &r, "GET", path).is_err());
    }

    #[test]
    fn a_full_access_key_holds_every_scope() {
        assert!(authorize(&caller("*"), &routes(), "POST", "/v1/rates").is_ok());
    }

    #[test]
    fn a_path_without_a_route_requires_nothing() {
        assert!(required_scopes(&routes(), "GET", "/v1/unknown").is_empty());
        // The method matters: `rates` is POST only.
        assert!(required_scopes(&routes(), "GET", "/v1/rates").is_empty());
        assert!(authorize(&caller(""), &routes(), "GET", "/v1/unknown").is_ok());
    }
}
