//! Route scopes: the route that serves a request (`config::serving_route`, which
//! refuses a request no route serves) names the scopes a caller must hold, all of them.

use super::errors::AuthError;
use super::principal::Authenticated;
use crate::config::Route;

/// The authorization phase: 403 `insufficient-scope` naming every scope the route
/// requires when the caller lacks any of them.
pub fn authorize(authenticated: &Authenticated, route: &Route) -> Result<(), AuthError> {
    if route.scopes.iter().all(|s| authenticated.scopes.grants(s)) {
        Ok(())
    } else {
        Err(AuthError::InsufficientScope {
            required: route.scopes.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::principal::{Principal, Scopes};
    use crate::config::{parse_and_validate, serving_route};

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

    fn route(method: &str, path: &str) -> Route {
        let routes = parse_and_validate(DEMO).unwrap().routes;
        serving_route(&routes, method, path).unwrap().clone()
    }

    #[test]
    fn rate_shopping_requires_the_rates_scope() {
        assert_eq!(route("POST", "/v1/rates").scopes, ["rates".to_string()]);
        assert!(authorize(&caller("rates"), &route("POST", "/v1/rates")).is_ok());
    }

    #[test]
    fn a_carriers_only_caller_is_refused_rate_shopping_with_403() {
        let err = authorize(&caller("carriers"), &route("POST", "/v1/rates")).unwrap_err();
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
        let r = route("GET", "/v1/carriers/ups/api/rating/v1601/Rate");
        assert_eq!(r.id, "ups-rating-v1601");
        assert!(authorize(&caller("carriers"), &r).is_ok());
        assert!(authorize(&caller("rates"), &r).is_err());
    }

    #[test]
    fn a_full_access_key_holds_every_scope() {
        assert!(authorize(&caller("*"), &route("POST", "/v1/rates")).is_ok());
    }
}
