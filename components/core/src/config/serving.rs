//! Which configured route serves a request, or why none does. The config's routes are
//! what a tenant may call: their scopes, weights and deadlines apply to every request
//! behind `auth`. Spin's routes are wider (`/v1/carriers/...` takes `/v1/carriers/ups`,
//! and Spin ignores a trailing `/`), so a request that no configured route serves is
//! refused before anything behind auth counts or forwards it.

use super::model::{PathPattern, Route, route_for};
use crate::problem::Problem;

/// A request that no route of the config serves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unrouted {
    /// No route's path matches: 404 `no-route`.
    Path,
    /// Routes match the path for other methods only: 405 with `Allow`.
    Method { allow: Vec<String> },
}

/// The route that serves `method` on `path` ([`route_for`]), or why none does.
pub fn serving_route<'r>(
    routes: &'r [Route],
    method: &str,
    path: &str,
) -> Result<&'r Route, Unrouted> {
    if let Some(route) = route_for(routes, method, path) {
        return Ok(route);
    }
    let mut allow: Vec<String> = routes
        .iter()
        .filter(|r| PathPattern::parse(&r.path).is_ok_and(|p| p.matches(path).is_some()))
        .flat_map(|r| r.methods.iter().map(|m| m.to_ascii_uppercase()))
        .collect();
    if allow.is_empty() {
        return Err(Unrouted::Path);
    }
    if allow.iter().any(|m| m == "GET") {
        allow.push("HEAD".into());
    }
    allow.sort();
    allow.dedup();
    Err(Unrouted::Method { allow })
}

impl Unrouted {
    pub fn problem(&self, method: &str, path: &str) -> Problem {
        match self {
            Unrouted::Path => Problem::new(404, "no-route", "Not Found")
                .with_detail(format!("No route of this gateway serves {path}.")),
            Unrouted::Method { allow } => {
                Problem::new(405, "method-not-allowed", "Method Not Allowed")
                    .with_detail(format!("{path} takes {}, not {method}.", allow.join(", ")))
            }
        }
    }

    /// The `Allow` header of a 405.
    pub fn allow(&self) -> Option<String> {
        match self {
            Unrouted::Path => None,
            Unrouted::Method { allow } => Some(allow.join(", ")),
        }
    }

    /// The headers of the refusal: `Allow` on a 405, none on a 404.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        self.allow()
            .map(|allow| ("allow", allow))
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse_and_validate;

    const DEMO: &str = include_str!("../../../../infra/regions/local/gateway.toml");

    fn routes() -> Vec<Route> {
        parse_and_validate(DEMO).unwrap().routes
    }

    fn served(method: &str, path: &str) -> Result<String, Unrouted> {
        serving_route(&routes(), method, path).map(|r| r.id.to_string())
    }

    #[test]
    fn the_demo_routes_serve_their_paths() {
        assert_eq!(served("POST", "/v1/rates").unwrap(), "rates");
        assert_eq!(
            served("GET", "/v1/carriers/ups/track/1Z").unwrap(),
            "carriers"
        );
        assert_eq!(served("DELETE", "/v1/carriers/ups/x").unwrap(), "carriers");
        assert_eq!(
            served("GET", "/v1/carriers/ups/api/rating/v1601/Shop").unwrap(),
            "ups-rating-v1601"
        );
        // The carrier's root, as `/v1/carriers/ups/` names it.
        assert_eq!(served("GET", "/v1/carriers/ups/").unwrap(), "carriers");
    }

    #[test]
    fn paths_spin_takes_and_no_route_serves_are_404() {
        for path in [
            "/v1/rates/",
            "//v1/rates",
            "/v1/carriers/ups",
            "/v1/carriers",
            "/v1/other",
        ] {
            assert_eq!(served("POST", path), Err(Unrouted::Path), "{path}");
        }
        let p = Unrouted::Path.problem("POST", "/v1/rates/");
        assert_eq!(
            (p.status, p.type_uri.as_str()),
            (404, "https://waypost.dev/problems/no-route")
        );
        assert_eq!(Unrouted::Path.allow(), None);
        assert!(Unrouted::Path.headers().is_empty());
    }

    #[test]
    fn another_method_on_a_served_path_is_405_with_allow() {
        let refused = served("GET", "/v1/rates").unwrap_err();
        assert_eq!(
            refused,
            Unrouted::Method {
                allow: vec!["POST".into()]
            }
        );
        assert_eq!(refused.allow().as_deref(), Some("POST"));
        assert_eq!(refused.headers(), [("allow", "POST".to_string())]);
        let p = refused.problem("GET", "/v1/rates");
        assert_eq!(p.status, 405);
        assert_eq!(p.detail.as_deref(), Some("/v1/rates takes POST, not GET."));
    }

    #[test]
    fn head_is_served_by_a_get_route_not_by_a_wider_one() {
        let doc = DEMO.replace(
            "id = \"ups-rating-v1601\"\npath = \"/v1/carriers/ups/api/rating/v1601/{*path}\"\n",
            "id = \"ups-rating-v1601\"\npath = \"/v1/carriers/ups/api/rating/v1601/{*path}\"\nmethods = [\"GET\"]\n",
        );
        let routes = parse_and_validate(&doc).unwrap().routes;
        let head = serving_route(&routes, "HEAD", "/v1/carriers/ups/api/rating/v1601/Shop");
        assert_eq!(head.unwrap().id.to_string(), "ups-rating-v1601");
        let only_get = [Route {
            methods: vec!["GET".into()],
            ..routes[0].clone()
        }];
        assert_eq!(
            serving_route(&only_get, "POST", "/v1/rates"),
            Err(Unrouted::Method {
                allow: vec!["GET".into(), "HEAD".into()]
            })
        );
    }
}
