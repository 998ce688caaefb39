//! The HTTP trigger's route table, with Spin's syntax and precedence (Spin uses
//! routefinder 0.5): segments compare left to right, exact beats `:name` beats the
//! trailing `/...` wildcard, the first difference decides, and on a full tie the
//! shorter route wins. Paths match with leading and trailing `/` trimmed, so `/foo`
//! also serves `/foo/`.

use anyhow::bail;
use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Exact(String),
    Param(String),
}

/// One parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    raw: String,
    segments: Vec<Segment>,
    wildcard: bool,
}

/// What a request matched: the values Spin puts in the `spin-*` request headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteMatch {
    /// The route as written in the manifest (`spin-raw-component-route`).
    pub raw_route: String,
    /// The route with one trailing `/` removed, `""` for `/` (`spin-matched-route`).
    pub based_route: String,
    /// The route without its `/...` (`spin-component-route`).
    pub component_route: String,
    /// The part of the path matched by `/...` (`spin-path-info`), `""` when none.
    pub path_info: String,
    /// `:name` captures (`spin-path-match-<name>`).
    pub params: Vec<(String, String)>,
}

impl RoutePattern {
    pub fn parse(raw: &str) -> anyhow::Result<Self> {
        if !raw.starts_with('/') {
            bail!("route `{raw}` must start with `/`");
        }
        let (body, wildcard) = match raw.strip_suffix("/...") {
            Some(prefix) => (prefix, true),
            None if raw == "/..." => ("", true),
            None => (raw, false),
        };
        let mut segments = Vec::new();
        let mut names = Vec::new();
        for seg in body.split('/').filter(|s| !s.is_empty()) {
            if seg == "..." || seg.contains("...") {
                bail!("route `{raw}`: `...` is only allowed as the last segment");
            }
            if let Some(name) = seg.strip_prefix(':') {
                if name.is_empty() {
                    bail!("route `{raw}`: a `:` parameter needs a name");
                }
                if names.contains(&name) {
                    bail!("route `{raw}`: parameter `:{name}` appears twice");
                }
                names.push(name);
                segments.push(Segment::Param(name.to_string()));
            } else {
                segments.push(Segment::Exact(seg.to_string()));
            }
        }
        Ok(Self {
            raw: raw.to_string(),
            segments,
            wildcard,
        })
    }

    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// Matches a request path (without query).
    pub fn matches(&self, path: &str) -> Option<RouteMatch> {
        let trimmed = path.trim_start_matches('/').trim_end_matches('/');
        let parts: Vec<&str> = if trimmed.is_empty() {
            Vec::new()
        } else {
            trimmed.split('/').collect()
        };
        if parts.len() < self.segments.len()
            || (!self.wildcard && parts.len() != self.segments.len())
        {
            return None;
        }
        let mut params = Vec::new();
        for (seg, part) in self.segments.iter().zip(&parts) {
            match seg {
                Segment::Exact(s) if s == part => {}
                Segment::Exact(_) => return None,
                Segment::Param(_) if part.is_empty() => return None,
                Segment::Param(name) => params.push((name.clone(), part.to_string())),
            }
        }
        // Spin re-adds the slashes routefinder trims: `/foo/...` gives "" for `/foo`,
        // "/" for `/foo/`, "/bar" for `/foo/bar` and "/bar/" for `/foo/bar/`.
        let path_info = if self.wildcard {
            let rest = parts[self.segments.len()..].join("/");
            match (rest.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_string(),
                (false, false) => format!("/{rest}"),
                (false, true) => format!("/{rest}/"),
            }
        } else {
            String::new()
        };
        Some(RouteMatch {
            raw_route: self.raw.clone(),
            based_route: self.raw.strip_suffix('/').unwrap_or(&self.raw).to_string(),
            component_route: self.component_route(),
            path_info,
            params,
        })
    }

    fn component_route(&self) -> String {
        let stripped = self.raw.strip_suffix("/...").unwrap_or(&self.raw);
        if stripped.is_empty() {
            String::new()
        } else {
            stripped.to_string()
        }
    }

    /// Orders two patterns by specificity (greater = more specific).
    fn specificity(&self, other: &Self) -> Ordering {
        // Ranks per position, the wildcard counting as one more (lowest) segment.
        let ranks = |p: &Self| {
            let mut r: Vec<u8> = p
                .segments
                .iter()
                .map(|s| match s {
                    Segment::Exact(_) => 2,
                    Segment::Param(_) => 1,
                })
                .collect();
            if p.wildcard {
                r.push(0);
            }
            r
        };
        let (mine, theirs) = (ranks(self), ranks(other));
        for (a, b) in mine.iter().zip(&theirs) {
            match a.cmp(b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        theirs.len().cmp(&mine.len())
    }
}

/// Routes to targets (a trigger index, say).
#[derive(Debug, Clone)]
pub struct Router<T> {
    routes: Vec<(RoutePattern, T)>,
}

impl<T> Router<T> {
    /// Builds the table. As in Spin, when two triggers declare the same route the
    /// last one wins; the shadowed ones are reported in `shadowed`.
    pub fn new(routes: Vec<(RoutePattern, T)>) -> Self {
        let mut kept: Vec<(RoutePattern, T)> = Vec::new();
        for (pattern, target) in routes {
            kept.retain(|(p, _)| p.raw != pattern.raw);
            kept.push((pattern, target));
        }
        Self { routes: kept }
    }

    /// Raw routes declared more than once (only the last declaration is served).
    pub fn duplicates(raw_routes: &[&str]) -> Vec<String> {
        let mut seen = std::collections::HashSet::new();
        let mut dups: Vec<String> = raw_routes
            .iter()
            .filter(|r| !seen.insert(**r))
            .map(|r| r.to_string())
            .collect();
        dups.dedup();
        dups
    }

    pub fn route(&self, path: &str) -> Option<(RouteMatch, &T)> {
        let mut best: Option<(&RoutePattern, RouteMatch, &T)> = None;
        for (pattern, target) in &self.routes {
            if let Some(m) = pattern.matches(path) {
                let better = match &best {
                    None => true,
                    Some((current, _, _)) => pattern.specificity(current) == Ordering::Greater,
                };
                if better {
                    best = Some((pattern, m, target));
                }
            }
        }
        best.map(|(_, m, t)| (m, t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[&str]) -> Router<String> {
        Router::new(
            routes
                .iter()
                .map(|r| (RoutePattern::parse(r).unwrap(), r.to_string()))
                .collect(),
        )
    }

    fn pick(r: &Router<String>, path: &str) -> Option<String> {
        r.route(path).map(|(_, t)| t.clone())
    }

    #[test]
    fn exact_beats_parameter_beats_wildcard() {
        let r = router(&["/users/...", "/users/:id", "/users/me", "/..."]);
        assert_eq!(pick(&r, "/users/me").unwrap(), "/users/me");
        assert_eq!(pick(&r, "/users/42").unwrap(), "/users/:id");
        assert_eq!(pick(&r, "/users/42/orders").unwrap(), "/users/...");
        assert_eq!(pick(&r, "/users").unwrap(), "/users/...");
        assert_eq!(pick(&r, "/other").unwrap(), "/...");
    }

    #[test]
    fn longer_wildcard_prefix_wins() {
        let r = router(&["/v1/...", "/v1/carriers/..."]);
        assert_eq!(
            pick(&r, "/v1/carriers/ups/track").unwrap(),
            "/v1/carriers/..."
        );
        assert_eq!(pick(&r, "/v1/rates").unwrap(), "/v1/...");
    }

    #[test]
    fn exact_route_does_not_match_longer_paths() {
        let r = router(&["/healthz"]);
        assert!(pick(&r, "/healthz").is_some());
        assert!(pick(&r, "/healthz/x").is_none());
        assert!(pick(&r, "/other").is_none());
    }

    #[test]
    fn match_reports_spin_header_values() {
        let r = router(&["/v1/carriers/:carrier/..."]);
        let (m, _) = r.route("/v1/carriers/ups/track/1Z").unwrap();
        assert_eq!(m.raw_route, "/v1/carriers/:carrier/...");
        assert_eq!(m.component_route, "/v1/carriers/:carrier");
        assert_eq!(m.path_info, "/track/1Z");
        assert_eq!(m.params, vec![("carrier".to_string(), "ups".to_string())]);
    }

    #[test]
    fn root_wildcard_has_empty_component_route() {
        let r = router(&["/..."]);
        let (m, _) = r.route("/a/b").unwrap();
        assert_eq!(m.component_route, "");
        assert_eq!(m.based_route, "/...");
        assert_eq!(m.path_info, "/a/b");
        let (m, _) = r.route("/").unwrap();
        assert_eq!(m.path_info, "/");
    }

    #[test]
    fn bad_routes_are_rejected() {
        assert!(RoutePattern::parse("users").is_err());
        assert!(RoutePattern::parse("/a/.../b").is_err());
        assert!(RoutePattern::parse("/a/:").is_err());
        assert!(RoutePattern::parse("/a/:x/:x").is_err());
    }

    #[test]
    fn leftmost_specificity_beats_length() {
        let r = router(&["/:x/b", "/a/..."]);
        assert_eq!(pick(&r, "/a/b").unwrap(), "/a/...");
    }

    #[test]
    fn exact_beats_wildcard_of_same_prefix_and_trailing_slash_is_ignored() {
        let r = router(&["/a/b/...", "/a/b"]);
        assert_eq!(pick(&r, "/a/b").unwrap(), "/a/b");
        assert_eq!(pick(&r, "/a/b/").unwrap(), "/a/b");
        assert_eq!(pick(&r, "/a/b/c").unwrap(), "/a/b/...");
    }

    #[test]
    fn the_last_duplicate_wins() {
        let r = Router::new(vec![
            (RoutePattern::parse("/a").unwrap(), 0),
            (RoutePattern::parse("/a").unwrap(), 1),
        ]);
        assert_eq!(r.route("/a").map(|(_, t)| *t), Some(1));
        assert_eq!(
            Router::<()>::duplicates(&["/a", "/b", "/a"]),
            vec!["/a".to_string()]
        );
    }
}
