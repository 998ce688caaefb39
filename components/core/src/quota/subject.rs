//! Who and what a request is charged to, and which of a plan's limits count it.

use crate::auth::{Identity, Principal};
use crate::config::{Limit, LimitKey, Route};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use sha2::{Digest, Sha256};

/// What the quota middleware knows of a request once auth has run: the verified
/// identity headers (`x-waypost-tenant`, `x-waypost-principal`) and the route the
/// request matched. Build it with [`Subject::new`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    /// The tenant id: every budget key carries it.
    pub tenant: String,
    /// The caller: an API key (by its hash id), a user or service (the token's `sub`),
    /// or an AI agent (its id).
    pub principal: Principal,
    /// The id of the route the request matched.
    pub route: String,
    /// What the request costs, in quota units (the route's `weight`).
    pub weight: u32,
}

impl Subject {
    pub fn new(identity: &Identity, route: &Route) -> Subject {
        Subject {
            tenant: identity.tenant.clone(),
            principal: identity.principal.clone(),
            route: route.id.clone(),
            weight: route.weight,
        }
    }

    /// Whether `limit` counts this request:
    /// - a limit with a `route` counts only requests on that route (whatever its `per`);
    /// - a `per = "agent"` limit counts only requests from agents;
    /// - every other limit counts every request.
    pub fn counted_by(&self, limit: &Limit) -> bool {
        if limit
            .route
            .as_ref()
            .is_some_and(|route| *route != self.route)
        {
            return false;
        }
        limit.per != LimitKey::Agent || matches!(self.principal, Principal::Agent { .. })
    }

    /// The key prefix of this request's budget under `limit` (see the module docs):
    /// `quota/tenant/<tenant>/<limit>/<partition>`, the partition being
    /// - `per = "api_key"`: `key/<key id>`, `user/<sub>` or `agent/<id>` (JWT callers
    ///   are counted per principal);
    /// - `per = "tenant"`: `all`;
    /// - `per = "route"`: `route/<route id>`;
    /// - `per = "agent"`: `agent/<id>`.
    pub fn budget(&self, limit: &Limit) -> String {
        let partition = match limit.per {
            LimitKey::ApiKey => format!(
                "{}/{}",
                self.principal.kind(),
                key_segment(self.principal.id())
            ),
            LimitKey::Tenant => "all".to_string(),
            LimitKey::Route => format!("route/{}", key_segment(&self.route)),
            LimitKey::Agent => format!("agent/{}", key_segment(self.principal.id())),
        };
        format!(
            "quota/tenant/{}/{}/{partition}",
            key_segment(&self.tenant),
            key_segment(&limit.id)
        )
    }
}

/// Characters kept as they are in a key segment: those of config ids, plus `.`, `_`,
/// `~`. Everything else (`/` above all) is percent-encoded.
const SEGMENT_ESCAPES: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Longest key segment kept readable; longer ones (a long token `sub`) are replaced by
/// their hash, so keys stay short whatever a token carries.
const MAX_SEGMENT: usize = 96;

/// One segment of a quota key, from a value that may hold any character.
pub(crate) fn key_segment(value: &str) -> String {
    let escaped = utf8_percent_encode(value, SEGMENT_ESCAPES).to_string();
    if escaped.len() <= MAX_SEGMENT {
        return escaped;
    }
    let digest = Sha256::digest(value.as_bytes());
    let hex = base16ct::lower::encode_string(&digest[..16]);
    format!("sha256-{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::FailMode;

    fn limit(per: LimitKey, route: Option<&str>) -> Limit {
        Limit {
            id: "l".into(),
            per,
            route: route.map(str::to_string),
            rate: 10,
            window_secs: 1,
            fail: FailMode::Open,
        }
    }

    fn subject(principal: Principal, route: &str) -> Subject {
        Subject {
            tenant: "acme".into(),
            principal,
            route: route.into(),
            weight: 1,
        }
    }

    fn key() -> Principal {
        Principal::Key {
            id: "0123456789abcdef".into(),
        }
    }

    fn agent() -> Principal {
        Principal::Agent {
            id: "bot/7".into(),
            sponsor: "ops@acme.example".into(),
        }
    }

    #[test]
    fn a_route_limit_counts_only_its_route() {
        let rates = limit(LimitKey::Route, Some("rates"));
        assert!(subject(key(), "rates").counted_by(&rates));
        assert!(!subject(key(), "carriers").counted_by(&rates));
        let scoped_key_limit = limit(LimitKey::ApiKey, Some("rates"));
        assert!(!subject(key(), "carriers").counted_by(&scoped_key_limit));
        assert!(subject(key(), "carriers").counted_by(&limit(LimitKey::Route, None)));
    }

    #[test]
    fn an_agent_limit_counts_only_agents() {
        let agents = limit(LimitKey::Agent, None);
        assert!(subject(agent(), "rates").counted_by(&agents));
        assert!(!subject(key(), "rates").counted_by(&agents));
        let user = Principal::User {
            subject: "ann".into(),
        };
        assert!(!subject(user, "rates").counted_by(&agents));
    }

    #[test]
    fn budgets_are_per_tenant_and_partition() {
        let s = subject(agent(), "rates");
        assert_eq!(
            s.budget(&limit(LimitKey::ApiKey, None)),
            "quota/tenant/acme/l/agent/bot%2F7"
        );
        assert_eq!(
            s.budget(&limit(LimitKey::Tenant, None)),
            "quota/tenant/acme/l/all"
        );
        assert_eq!(
            s.budget(&limit(LimitKey::Route, None)),
            "quota/tenant/acme/l/route/rates"
        );
        assert_eq!(
            s.budget(&limit(LimitKey::Agent, None)),
            "quota/tenant/acme/l/agent/bot%2F7"
        );
        assert_eq!(
            subject(key(), "rates").budget(&limit(LimitKey::ApiKey, None)),
            "quota/tenant/acme/l/key/0123456789abcdef"
        );
    }

    #[test]
    fn long_segments_are_hashed() {
        let long = "x".repeat(500);
        let segment = key_segment(&long);
        assert!(segment.starts_with("sha256-") && segment.len() < MAX_SEGMENT);
        assert_ne!(segment, key_segment(&"y".repeat(500)));
    }
}
