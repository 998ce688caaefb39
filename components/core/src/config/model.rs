//! The region's config document as Rust types: one TOML file per region
//! (`infra/regions/<region>/gateway.toml`), deserialized with unknown fields denied.
//!
//! The types are deliberately close to the text. Values with a format (ids, variable
//! names, key hashes, URLs, timestamps, PEM keys, JSON pointers) are kept as written
//! and checked by [`super::validate`], so that one pass reports every bad value with
//! its path instead of stopping at the first. A [`Document`] returned by
//! [`super::parse_and_validate`] has passed every check: its accessors that return
//! `Option` only return `None` for a document that did not.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// The whole document.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Document {
    /// This deployment.
    pub region: Region,
    /// Every region's public base URL, this one included: `eu = "https://eu.example"`.
    /// The keys are the known region names; a strict tenant homed elsewhere gets 421
    /// naming its home region's URL from here.
    pub regions: BTreeMap<String, HttpUrl>,
    #[serde(default)]
    pub tenants: Vec<Tenant>,
    #[serde(default)]
    pub issuers: Vec<Issuer>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub carriers: Vec<Carrier>,
    #[serde(default)]
    pub plans: Vec<Plan>,
    /// Budgets of shared carrier accounts, one per (carrier, account), across tenants.
    #[serde(default)]
    pub account_limits: Vec<AccountLimit>,
    /// Carrier webhook intake, at most one per carrier.
    #[serde(default)]
    pub webhooks: Vec<WebhookIntake>,
    /// Tenants' endpoints that receive normalized events.
    #[serde(default)]
    pub subscriptions: Vec<Subscription>,
    /// Delivery retry schedules; `default` is built in (see [`DEFAULT_SCHEDULE_SECS`]).
    #[serde(default)]
    pub tiers: Vec<DeliveryTier>,
}

/// This deployment's identity.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Region {
    /// This region's name, a key of `[regions]`.
    pub id: String,
    /// The home regions whose tenants are at home here (default: just `id`). The local
    /// demo runs as region `local` serving `eu` and `us`.
    #[serde(default)]
    pub serves: Vec<String>,
}

// ---------------------------------------------------------------------------- tenants

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tenant {
    /// `[a-z0-9-]+` (no `_`: API keys are `<tenant>_<secret>`).
    pub id: String,
    /// Display name, for logs and the admin API.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The tenant's home region (a key of `[regions]`).
    pub home: String,
    pub residency: Residency,
    /// Relaxed tenants only: regions besides `home` where they may be served.
    #[serde(default)]
    pub allowed_regions: Vec<String>,
    /// A plan id: the tenant's limits.
    pub plan: String,
    /// Ids of the JWT issuers whose tokens may name this tenant.
    #[serde(default)]
    pub issuers: Vec<String>,
    /// API keys, by hash.
    #[serde(default)]
    pub keys: Vec<ApiKey>,
    /// The carriers this tenant uses, and through which account.
    #[serde(default)]
    pub carriers: Vec<TenantCarrier>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Residency {
    /// Served only in its home region; elsewhere: 421 and nothing stored or forwarded.
    Strict,
    /// Served in its home region and in `allowed_regions`.
    Relaxed,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKey {
    /// `sha256:` + 64 lowercase hex digits of the whole key `<tenant>_<secret>`.
    pub hash: KeyHash,
    pub state: KeyState,
    /// RFC 3339 instant after which the key is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<Timestamp>,
    /// Scopes the key grants; absent = every scope (a full-access key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// A note for humans ("ci", "warehouse scanner").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeyState {
    Active,
    Revoked,
}

/// A carrier a tenant uses.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TenantCarrier {
    /// A carrier id.
    pub carrier: String,
    /// `"platform"` (the platform's account) or the tenant's own account number.
    pub account: String,
    /// Own account only: credential role → Spin variable name (roles per adapter:
    /// [`Adapter::credential_roles`]).
    #[serde(default)]
    pub credentials: BTreeMap<String, VarName>,
    /// Tenant preference: pin this tenant to one upstream (by id) of the carrier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

/// The reserved account name for the platform's own carrier account.
pub const PLATFORM_ACCOUNT: &str = "platform";

impl TenantCarrier {
    pub fn is_platform(&self) -> bool {
        self.account == PLATFORM_ACCOUNT
    }
}

// ---------------------------------------------------------------------------- issuers

/// A JWT issuer trusted by the tenants that list it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    pub id: String,
    /// The `iss` claim tokens must carry (unique across issuers).
    pub iss: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audiences: Vec<String>,
    /// The claim naming the tenant (the tenant must exist and list this issuer).
    pub tenant_claim: String,
    /// Clock leeway for `exp`, `nbf`, `iat`, in seconds (at most 300).
    #[serde(default = "default_leeway_secs")]
    pub leeway_secs: u32,
    /// Largest accepted token age (now - `iat`), in seconds; absent = no limit but `exp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_age_secs: Option<u32>,
    /// A claim whose presence marks the token as issued to an AI agent (principal kind
    /// `agent`, `sub` = the agent id); its value names the sponsoring human or service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_claim: Option<String>,
    /// DPoP (RFC 9449): `optional` (bound tokens need a proof, unbound ones pass) or
    /// `required` (every token must be bound).
    #[serde(default)]
    pub dpop: DpopPolicy,
    /// Verification keys, chosen by the token's `kid` (or the only key).
    pub keys: Vec<IssuerKey>,
}

fn default_leeway_secs() -> u32 {
    30
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DpopPolicy {
    #[default]
    Optional,
    Required,
}

/// One verification key with its pinned algorithm.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerKey {
    pub kid: String,
    /// The only algorithm accepted with this key; a token whose `alg` differs is refused.
    pub alg: Alg,
    /// HMAC algorithms: the Spin variable holding the shared secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<VarName>,
    /// Asymmetric algorithms: the public key, PEM (`-----BEGIN PUBLIC KEY-----`).
    /// Public keys are not secrets, so they are literals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<PublicKeyPem>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    ES256,
    ES384,
    EdDSA,
}

impl Alg {
    /// HMAC algorithms take a shared secret (a variable); the others a public key.
    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Alg::HS256 => "HS256",
            Alg::HS384 => "HS384",
            Alg::HS512 => "HS512",
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }
}

impl fmt::Display for Alg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

// ----------------------------------------------------------------------------- routes

/// A public route: what it requires (scopes), what it costs (quota weight), whether it
/// is on its way out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub id: String,
    /// A path pattern: literal segments, `{name}` (one segment), `{*name}` (the rest,
    /// last only), e.g. `/v1/carriers/{carrier}/{*path}`. The most specific match wins
    /// (see [`PathPattern::specificity`]).
    pub path: String,
    /// HTTP methods (upper case); empty = any.
    #[serde(default)]
    pub methods: Vec<String>,
    /// Scopes a caller must hold (all of them); missing → 403.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// What one request costs against quota limits.
    #[serde(default = "one")]
    pub weight: u32,
    /// Adds `Deprecation` (and `Sunset`) headers; use is logged per tenant.
    #[serde(default)]
    pub deprecated: bool,
    /// When the route goes away (RFC 3339); only with `deprecated = true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sunset: Option<Timestamp>,
    /// The request's deadline when the caller sends no `x-waypost-deadline`, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_ms: Option<u32>,
}

fn one() -> u32 {
    1
}

/// One segment of a route's path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSegment {
    Literal(String),
    /// `{name}`: exactly one segment.
    Param(String),
    /// `{*name}`: the rest of the path (one or more segments); last only.
    Rest(String),
}

/// A parsed route path pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    pub segments: Vec<PathSegment>,
}

impl PathPattern {
    pub fn parse(pattern: &str) -> Result<PathPattern, String> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err(format!("path pattern {pattern:?} must start with `/`"));
        };
        let mut segments = Vec::new();
        let mut names = BTreeSet::new();
        let parts: Vec<&str> = rest.split('/').collect();
        for (i, part) in parts.iter().enumerate() {
            let last = i + 1 == parts.len();
            let segment = if let Some(inner) =
                part.strip_prefix('{').and_then(|p| p.strip_suffix('}'))
            {
                let (rest_param, name) = match inner.strip_prefix('*') {
                    Some(name) => (true, name),
                    None => (false, inner),
                };
                if !is_param_name(name) {
                    return Err(format!(
                        "bad placeholder `{part}` in {pattern:?}: names are `[a-z_][a-z0-9_]*`"
                    ));
                }
                if !names.insert(name.to_string()) {
                    return Err(format!("placeholder `{name}` appears twice in {pattern:?}"));
                }
                if rest_param {
                    if !last {
                        return Err(format!("`{part}` must be the last segment of {pattern:?}"));
                    }
                    PathSegment::Rest(name.to_string())
                } else {
                    PathSegment::Param(name.to_string())
                }
            } else if part.is_empty() {
                if last && i > 0 {
                    return Err(format!("path pattern {pattern:?} must not end with `/`"));
                }
                if !last {
                    return Err(format!("path pattern {pattern:?} has an empty segment"));
                }
                // The root pattern "/".
                continue;
            } else if part.chars().all(is_literal_char) {
                PathSegment::Literal(part.to_string())
            } else {
                return Err(format!(
                    "segment {part:?} of {pattern:?} has a character not allowed in a path \
                     (`{{`, `}}`, `?`, `#`, `%`, space)"
                ));
            };
            segments.push(segment);
        }
        Ok(PathPattern { segments })
    }

    /// Matches a request path (no query), returning the placeholders' values.
    pub fn matches<'p>(&self, path: &'p str) -> Option<Vec<(&str, &'p str)>> {
        let rest = path.strip_prefix('/')?;
        let mut captures = Vec::new();
        let mut remaining = if rest.is_empty() { None } else { Some(rest) };
        for segment in &self.segments {
            let current = remaining?;
            if let PathSegment::Rest(name) = segment {
                captures.push((name.as_str(), current));
                remaining = None;
                continue;
            }
            let (head, tail) = match current.split_once('/') {
                Some((h, t)) => (h, Some(t)),
                None => (current, None),
            };
            match segment {
                PathSegment::Literal(l) if l == head => {}
                PathSegment::Param(name) if !head.is_empty() => {
                    captures.push((name.as_str(), head))
                }
                _ => return None,
            }
            remaining = tail;
        }
        match remaining {
            None => Some(captures),
            Some(_) => None,
        }
    }

    /// Orders overlapping patterns: a literal beats a placeholder, which beats the rest,
    /// segment by segment from the left. Higher is more specific.
    pub fn specificity(&self) -> Vec<u8> {
        self.segments
            .iter()
            .map(|s| match s {
                PathSegment::Literal(_) => 3,
                PathSegment::Param(_) => 2,
                PathSegment::Rest(_) => 1,
            })
            .collect()
    }

    /// The pattern with placeholder names erased: two routes with the same shape
    /// match the same paths.
    pub fn shape(&self) -> String {
        let mut out = String::new();
        for s in &self.segments {
            out.push('/');
            match s {
                PathSegment::Literal(l) => out.push_str(l),
                PathSegment::Param(_) => out.push_str("{}"),
                PathSegment::Rest(_) => out.push_str("{*}"),
            }
        }
        if out.is_empty() {
            out.push('/');
        }
        out
    }
}

fn is_param_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z' | '_'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

fn is_literal_char(c: char) -> bool {
    c.is_ascii_graphic() && !matches!(c, '{' | '}' | '?' | '#' | '%' | '/')
}

// --------------------------------------------------------------------------- carriers

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Carrier {
    /// The id in `/v1/carriers/{carrier}/...` and `/webhooks/{carrier}`.
    pub id: String,
    /// Which adapter speaks to it (auth flow, payload shapes).
    pub adapter: Adapter,
    /// Where calls go, per region.
    pub upstreams: Vec<Upstream>,
    /// OAuth2 client-credentials token endpoint (adapters `ups`, `fedex`, `usps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<HttpUrl>,
    /// The platform's own account, used by tenants with `account = "platform"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<PlatformAccount>,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u32,
    /// Total time for one upstream call, capped by the request's remaining deadline.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u32,
    #[serde(default)]
    pub breaker: Breaker,
    #[serde(default)]
    pub retry: Retry,
    /// Carriers of the same API (adapter) that serve this one's pass-through requests
    /// (at most one hop) when every upstream of this one is open.
    #[serde(default)]
    pub fallback: Vec<String>,
    /// Rate shopping: send a second, identical rate request when the first has not
    /// answered after this many ms; the first answer wins. Off when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge_after_ms: Option<u32>,
}

fn default_connect_timeout_ms() -> u32 {
    2_000
}
fn default_timeout_ms() -> u32 {
    10_000
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Adapter {
    Ups,
    Fedex,
    Dhl,
    Usps,
    /// A pass-through carrier API with no built-in knowledge; credentials are free-form.
    Generic,
}

impl Adapter {
    /// (required, optional) credential roles, or `None` when any role goes (`generic`).
    pub fn credential_roles(self) -> Option<(&'static [&'static str], &'static [&'static str])> {
        match self {
            // OAuth2 client credentials (UPS: HTTP Basic; FedEx, USPS: form body).
            Adapter::Ups | Adapter::Fedex | Adapter::Usps => {
                Some((&["client_id", "client_secret"], &[]))
            }
            // MyDHL: HTTP Basic; Shipment Tracking: `DHL-API-Key`.
            Adapter::Dhl => Some((&["username", "password"], &["api_key"])),
            Adapter::Generic => None,
        }
    }

    /// Whether the carrier's API takes an OAuth2 client-credentials token (`token_url`).
    pub fn uses_oauth(self) -> bool {
        matches!(self, Adapter::Ups | Adapter::Fedex | Adapter::Usps)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Adapter::Ups => "ups",
            Adapter::Fedex => "fedex",
            Adapter::Dhl => "dhl",
            Adapter::Usps => "usps",
            Adapter::Generic => "generic",
        }
    }
}

/// One upstream base URL of a carrier in one region.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// Unique within the carrier (breaker state and logs name it).
    pub id: String,
    /// The region whose deployment calls it (a key of `[regions]`).
    pub region: String,
    /// Base URL; the pass-through path is appended.
    pub url: HttpUrl,
    /// Share of traffic among the region's matching upstreams; 0 = only when picked by
    /// `header` or pinned by a tenant.
    #[serde(default = "default_weight")]
    pub weight: u32,
    /// Only requests carrying this header value (a canary or beta switch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderMatch>,
    /// Only pass-through paths starting with this prefix (e.g. DHL tracking, `/track/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_prefix: Option<String>,
    /// Only requests whose `Host` (without port) is this name, e.g. a beta hostname
    /// `ups-beta.us.waypost.example` (lower case).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

fn default_weight() -> u32 {
    100
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    pub name: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformAccount {
    /// The platform's account number with the carrier, where calls need one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_number: Option<String>,
    /// Credential role → Spin variable name.
    pub credentials: BTreeMap<String, VarName>,
}

/// Circuit breaker settings.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Breaker {
    /// Carrier failures (5xx, timeouts) within `window_secs` that open the carrier-wide
    /// breaker of a region.
    #[serde(default = "default_breaker_failures")]
    pub failures: u32,
    /// Credential failures (401/403 from the carrier) that open a tenant's own breaker.
    #[serde(default = "default_credential_failures")]
    pub credential_failures: u32,
    #[serde(default = "default_breaker_window_secs")]
    pub window_secs: u32,
    /// How long an open breaker stays open before a half-open probe.
    #[serde(default = "default_breaker_open_secs")]
    pub open_secs: u32,
}

fn default_breaker_failures() -> u32 {
    5
}
fn default_credential_failures() -> u32 {
    3
}
fn default_breaker_window_secs() -> u32 {
    30
}
fn default_breaker_open_secs() -> u32 {
    30
}

impl Default for Breaker {
    fn default() -> Self {
        Breaker {
            failures: default_breaker_failures(),
            credential_failures: default_credential_failures(),
            window_secs: default_breaker_window_secs(),
            open_secs: default_breaker_open_secs(),
        }
    }
}

/// Retries of idempotent calls.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// Retries per call (0 = none).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Retries allowed as a percentage of calls, per carrier and region (a retry budget).
    #[serde(default = "default_budget_percent")]
    pub budget_percent: u32,
}

fn default_max_retries() -> u32 {
    1
}
fn default_budget_percent() -> u32 {
    20
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            max_retries: default_max_retries(),
            budget_percent: default_budget_percent(),
        }
    }
}

// ----------------------------------------------------------------------------- limits

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub id: String,
    /// Every limit is checked on every request.
    #[serde(default)]
    pub limits: Vec<Limit>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Unique within the plan; named in `RateLimit-Policy` and 429 bodies.
    pub id: String,
    /// What the budget is kept per.
    pub per: LimitKey,
    /// Count only requests on this route (a route id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Requests (times route weight) allowed per window.
    pub rate: u32,
    pub window_secs: u32,
    /// When the KV store fails: `open` (admit and log, the default for plan limits) or
    /// `closed` (503 with Retry-After).
    #[serde(default = "FailMode::open")]
    pub fail: FailMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKey {
    /// One budget per API key (JWT callers: per principal).
    ApiKey,
    /// One budget per tenant.
    Tenant,
    /// One budget per tenant and route.
    Route,
    /// One budget per tenant and agent (principals of kind `agent` only).
    Agent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailMode {
    Open,
    Closed,
}

impl FailMode {
    pub fn open() -> FailMode {
        FailMode::Open
    }
    pub fn closed() -> FailMode {
        FailMode::Closed
    }
}

/// One budget for a carrier account shared by every tenant that uses it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AccountLimit {
    pub carrier: String,
    /// `"platform"` or a tenant's own account number with that carrier.
    pub account: String,
    /// Carrier calls allowed per window.
    pub rate: u32,
    pub window_secs: u32,
    /// Default `closed`: a carrier contract limit is not exceeded on a KV fault.
    #[serde(default = "FailMode::closed")]
    pub fail: FailMode,
}

// --------------------------------------------------------------------------- webhooks

/// How `/webhooks/{carrier}` verifies and identifies a carrier's events.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookIntake {
    pub carrier: String,
    pub signature: Signature,
    /// Spin variables holding the verification secrets; any one may match (rotation).
    pub secrets: Vec<VarName>,
    /// Largest accepted age of a signed timestamp, in seconds (schemes that sign one).
    #[serde(default = "default_tolerance_secs")]
    pub tolerance_secs: u32,
    /// Where the event's id comes from, for exactly-once intake.
    pub event_id: EventIdSource,
    /// How long an event id is remembered, in seconds (default 72 h).
    #[serde(default = "default_dedup_window_secs")]
    pub dedup_window_secs: u32,
    /// JSON pointer to the carrier account number in the payload, to find the tenant
    /// when the path does not name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_pointer: Option<JsonPointer>,
}

fn default_tolerance_secs() -> u32 {
    300
}
fn default_dedup_window_secs() -> u32 {
    72 * 3600
}

/// A carrier's signature scheme.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(tag = "scheme", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Signature {
    /// HMAC-SHA256 over the raw body, or over the concatenated values of `signed_fields`
    /// (JSON pointers into the body, no separator: USPS signs `timestamp` + `payload`).
    HmacSha256 {
        header: String,
        encoding: Encoding,
        /// Text before the signature in the header (e.g. `hmac-sha256-hex=`).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        signed_fields: Vec<JsonPointer>,
        /// One of `signed_fields` holding when the carrier sent the event (RFC 3339, or
        /// Unix seconds): further than `tolerance_secs` from now is refused, so a
        /// captured event cannot be replayed later (USPS signs `/timestamp`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timestamp: Option<JsonPointer>,
    },
    /// Standard Webhooks v1: `webhook-id`, `webhook-timestamp`, `webhook-signature`
    /// (`v1,<base64>` entries, space separated) over `id.timestamp.body`; `whsec_` secrets.
    StandardWebhooks {},
    /// A static shared token in a header, compared in constant time (DHL push).
    StaticToken {
        header: String,
        /// Text before the token (e.g. `Bearer `).
        #[serde(default, skip_serializing_if = "String::is_empty")]
        prefix: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Hex,
    Base64,
}

/// Where an event's id is found.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventIdSource {
    /// `{ header = "webhook-id" }`
    Header(String),
    /// `{ pointer = "/id" }` (RFC 6901 JSON pointer into the body)
    Pointer(JsonPointer),
    /// `"body-hash"`: SHA-256 of the raw body, for carriers that send no id.
    BodyHash,
}

// ---------------------------------------------------------------------- subscriptions

/// A tenant's endpoint for normalized events, signed with Standard Webhooks headers.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Subscription {
    pub id: String,
    pub tenant: String,
    pub url: HttpUrl,
    /// Event types delivered: exact (`tracking.delivered`) or prefix (`tracking.*`, `*`).
    #[serde(default = "all_events")]
    pub events: Vec<String>,
    /// Only events from these carriers (ids the tenant uses); empty = all.
    #[serde(default)]
    pub carriers: Vec<String>,
    /// The Spin variable holding the `whsec_` signing secret.
    pub secret: VarName,
    /// A delivery tier id (retry schedule).
    #[serde(default = "default_tier")]
    pub tier: String,
}

fn all_events() -> Vec<String> {
    vec!["*".to_string()]
}
fn default_tier() -> String {
    DEFAULT_TIER.to_string()
}

pub const DEFAULT_TIER: &str = "default";

/// The built-in `default` tier: Svix's published schedule (immediately, then 5 s, 5 min,
/// 30 min, 2 h, 5 h, 10 h, 10 h). A document may redefine `default`, never weaker.
pub const DEFAULT_SCHEDULE_SECS: [u32; 8] = [0, 5, 300, 1_800, 7_200, 18_000, 36_000, 36_000];

/// A delivery retry schedule.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryTier {
    pub id: String,
    /// Delay before each attempt, from the previous one, in seconds; the first entry is
    /// the delay of the first attempt (usually 0). After the last: dead letter.
    pub schedule_secs: Vec<u32>,
}

// ------------------------------------------------------------------ formatted strings

/// The name of a Spin variable (`[a-z][a-z0-9_]*`, no `__`, not ending in `_`):
/// where a secret lives. Secrets are never literals in the document.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(transparent)]
pub struct VarName(pub String);

impl VarName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Spin's rule for variable names.
    pub fn check(name: &str) -> Result<(), String> {
        let reason = if name.is_empty() {
            "is empty"
        } else if !name
            .chars()
            .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
        {
            "may contain only lowercase letters, digits and `_`"
        } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
            "must start with a lowercase letter"
        } else if name.ends_with('_') {
            "must not end with `_`"
        } else if name.contains("__") {
            "must not contain `__`"
        } else if ["whsec_", "whsk_", "whpk_"]
            .iter()
            .any(|p| name.starts_with(p))
        {
            "looks like a Standard Webhooks secret itself, not the name of the variable holding it"
        } else {
            return Ok(());
        };
        Err(format!(
            "{name:?} is not a Spin variable name: it {reason} (secrets are named by variable, never written here)"
        ))
    }
}

impl fmt::Display for VarName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `sha256:` + 64 lowercase hex digits: the SHA-256 of a whole API key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(transparent)]
pub struct KeyHash(pub String);

impl KeyHash {
    /// The hash of an API key as written in the document.
    pub fn of_key(key: &str) -> KeyHash {
        KeyHash(format!("sha256:{:x}", Sha256::digest(key.as_bytes())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 64 hex digits.
    pub fn hex(&self) -> &str {
        self.0.strip_prefix("sha256:").unwrap_or(&self.0)
    }

    pub fn check(text: &str) -> Result<(), String> {
        match text.strip_prefix("sha256:") {
            Some(hex)
                if hex.len() == 64
                    && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
            {
                Ok(())
            }
            Some(_) => Err(format!(
                "{text:?} is not a key hash: `sha256:` must be followed by 64 lowercase hex digits"
            )),
            None => Err(format!(
                "{text:?} is not a key hash: expected `sha256:` + 64 lowercase hex digits (make one with `waypost keys new`)"
            )),
        }
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Longest id (they go into URLs, KV keys and API keys).
pub const MAX_ID_LEN: usize = 63;

/// The rule for every id in the document (tenants, carriers, routes, plans, regions,
/// ...): `[a-z0-9][a-z0-9-]*`, at most [`MAX_ID_LEN`] characters. `what` names the kind
/// of id in the message ("tenant", "carrier").
pub fn check_id(id: &str, what: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        return Ok(());
    }
    let hint = if id.contains('_') && what == "tenant" {
        " (no `_`: API keys are `<tenant>_<secret>`)"
    } else {
        ""
    };
    Err(format!(
        "{id:?} is not a valid {what} id: use `[a-z0-9][a-z0-9-]*`, at most {MAX_ID_LEN} characters{hint}"
    ))
}

/// The tenant id an API key claims: the part before the first `_`.
pub fn api_key_tenant(key: &str) -> Option<&str> {
    let (tenant, secret) = key.split_once('_')?;
    (!tenant.is_empty() && !secret.is_empty()).then_some(tenant)
}

/// An absolute `http` or `https` URL without credentials or fragment.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(transparent)]
pub struct HttpUrl(pub String);

impl HttpUrl {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL without a trailing `/`, ready to have a path appended.
    pub fn base(&self) -> &str {
        self.0.trim_end_matches('/')
    }

    pub fn check(url: &str) -> Result<(), String> {
        let rest = if let Some(r) = url.strip_prefix("https://") {
            r
        } else if let Some(r) = url.strip_prefix("http://") {
            r
        } else {
            return Err(format!("{url:?} is not an http or https URL"));
        };
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!("{url:?} contains whitespace"));
        }
        if url.contains('#') {
            return Err(format!("{url:?} has a fragment (`#`)"));
        }
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        if authority.contains('@') {
            return Err(format!(
                "{url:?} embeds credentials: put secrets in Spin variables, never in the document"
            ));
        }
        let (host, port) = if let Some(after) = authority.strip_prefix('[') {
            // An IPv6 literal: `[::1]` or `[::1]:8080`.
            let Some((inner, tail)) = after.split_once(']') else {
                return Err(format!("{url:?} has an unterminated IPv6 host"));
            };
            if inner.is_empty()
                || !inner
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'))
            {
                return Err(format!("{url:?} has an invalid IPv6 host"));
            }
            match tail {
                "" => ("[v6]", None),
                t => match t.strip_prefix(':') {
                    Some(p) => ("[v6]", Some(p)),
                    None => return Err(format!("{url:?} has garbage after its host")),
                },
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(format!("{url:?} has no host"));
        }
        if !host.starts_with('[')
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        {
            return Err(format!("{url:?} has an invalid host {host:?}"));
        }
        if let Some(port) = port
            && port.parse::<u16>().is_err()
        {
            return Err(format!("{url:?} has an invalid port {port:?}"));
        }
        Ok(())
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An RFC 6901 JSON pointer (`""` or `/a/b~1c`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(transparent)]
pub struct JsonPointer(pub String);

impl JsonPointer {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn check(pointer: &str) -> Result<(), String> {
        if !pointer.is_empty() && !pointer.starts_with('/') {
            return Err(format!(
                "{pointer:?} is not a JSON pointer: it must start with `/`"
            ));
        }
        let mut chars = pointer.chars();
        while let Some(c) = chars.next() {
            if c == '~' && !matches!(chars.next(), Some('0' | '1')) {
                return Err(format!(
                    "{pointer:?} is not a JSON pointer: `~` must be followed by `0` or `1`"
                ));
            }
        }
        Ok(())
    }
}

/// A public key in PEM (`-----BEGIN PUBLIC KEY-----`, SubjectPublicKeyInfo).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, Serialize)]
#[serde(transparent)]
pub struct PublicKeyPem(pub String);

impl PublicKeyPem {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An RFC 3339 instant, written as a TOML offset date-time (`2027-01-01T00:00:00Z`), a
/// TOML date (`2027-01-01`, midnight UTC) or a string holding either.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Timestamp {
    text: String,
    unix: Option<i64>,
}

impl Timestamp {
    pub fn parse(text: &str) -> Timestamp {
        Timestamp {
            text: text.to_string(),
            unix: parse_rfc3339(text),
        }
    }

    /// Seconds since the Unix epoch; `None` only in a document that failed validation.
    pub fn unix_seconds(&self) -> Option<i64> {
        self.unix
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // `toml::Value` understands TOML's native date-times as well as strings.
        match toml::Value::deserialize(d)? {
            toml::Value::String(s) => Ok(Timestamp::parse(&s)),
            toml::Value::Datetime(dt) => Ok(Timestamp::parse(&dt.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "invalid type: {}, expected an RFC 3339 date-time",
                other.type_str()
            ))),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// RFC 3339 date-time with an offset, or a full date (midnight UTC) → Unix seconds.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let dt: toml::value::Datetime = text.trim().parse().ok()?;
    let date = dt.date?;
    let days = days_from_civil(
        i64::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    )?;
    let mut secs = days * 86_400;
    match (dt.time, dt.offset) {
        (None, None) => {}
        (Some(t), Some(offset)) => {
            if t.hour > 23 || t.minute > 59 || t.second > 60 {
                return None;
            }
            secs +=
                i64::from(t.hour) * 3600 + i64::from(t.minute) * 60 + i64::from(t.second.min(59));
            if let toml::value::Offset::Custom { minutes } = offset {
                secs -= i64::from(minutes) * 60;
            }
        }
        // A local date-time: ambiguous without an offset.
        _ => return None,
    }
    Some(secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&month) || day == 0 || day > month_days[month as usize - 1] {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

// --------------------------------------------------------------------------- lookups

/// The route a request matches among `routes` (the document's, or the `routes` record a
/// request reads): the most specific pattern whose methods allow it (a route allowing
/// GET allows HEAD, RFC 9110 9.3.2); between equally specific patterns, one that names
/// the method beats one that allows any.
pub fn route_for<'r>(routes: &'r [Route], method: &str, path: &str) -> Option<&'r Route> {
    let head = method.eq_ignore_ascii_case("HEAD");
    let allows =
        |m: &String| m.eq_ignore_ascii_case(method) || (head && m.eq_ignore_ascii_case("GET"));
    routes
        .iter()
        .filter(|r| r.methods.is_empty() || r.methods.iter().any(allows))
        .filter_map(|r| {
            let pattern = PathPattern::parse(&r.path).ok()?;
            pattern.matches(path)?;
            Some((pattern.specificity(), !r.methods.is_empty(), r))
        })
        .max_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)))
        .map(|(_, _, r)| r)
}

impl Document {
    /// The home regions at home in this deployment (`region.serves`, or just `region.id`).
    pub fn served_regions(&self) -> Vec<&str> {
        if self.region.serves.is_empty() {
            vec![self.region.id.as_str()]
        } else {
            self.region.serves.iter().map(String::as_str).collect()
        }
    }

    /// Whether tenants homed in `region` are at home in this deployment.
    pub fn serves(&self, region: &str) -> bool {
        self.served_regions().contains(&region)
    }

    /// A region's public base URL (for 421 answers).
    pub fn region_url(&self, region: &str) -> Option<&HttpUrl> {
        self.regions.get(region)
    }

    pub fn tenant(&self, id: &str) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }

    pub fn carrier(&self, id: &str) -> Option<&Carrier> {
        self.carriers.iter().find(|c| c.id == id)
    }

    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    pub fn route(&self, id: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.id == id)
    }

    pub fn issuer(&self, id: &str) -> Option<&Issuer> {
        self.issuers.iter().find(|i| i.id == id)
    }

    /// The issuer whose `iss` is this.
    pub fn issuer_by_iss(&self, iss: &str) -> Option<&Issuer> {
        self.issuers.iter().find(|i| i.iss == iss)
    }

    pub fn webhook(&self, carrier: &str) -> Option<&WebhookIntake> {
        self.webhooks.iter().find(|w| w.carrier == carrier)
    }

    pub fn subscription(&self, id: &str) -> Option<&Subscription> {
        self.subscriptions.iter().find(|s| s.id == id)
    }

    /// A delivery tier's schedule; `default` is built in unless the document defines it.
    pub fn schedule(&self, tier: &str) -> Option<&[u32]> {
        match self.tiers.iter().find(|t| t.id == tier) {
            Some(t) => Some(&t.schedule_secs),
            None if tier == DEFAULT_TIER => Some(&DEFAULT_SCHEDULE_SECS),
            None => None,
        }
    }

    /// The API key with this hash and the tenant that owns it.
    pub fn api_key(&self, hash: &str) -> Option<(&Tenant, &ApiKey)> {
        self.tenants
            .iter()
            .find_map(|t| t.keys.iter().find(|k| k.hash.0 == hash).map(|k| (t, k)))
    }

    /// The route a request matches: the most specific pattern whose methods allow it.
    pub fn route_for(&self, method: &str, path: &str) -> Option<&Route> {
        route_for(&self.routes, method, path)
    }

    /// Every Spin variable the document names (each must be declared in `spin.toml`).
    pub fn variable_names(&self) -> BTreeSet<&str> {
        let mut names = BTreeSet::new();
        for t in &self.tenants {
            for c in &t.carriers {
                names.extend(c.credentials.values().map(VarName::as_str));
            }
        }
        for i in &self.issuers {
            names.extend(
                i.keys
                    .iter()
                    .filter_map(|k| k.secret.as_ref())
                    .map(VarName::as_str),
            );
        }
        for c in &self.carriers {
            if let Some(p) = &c.platform {
                names.extend(p.credentials.values().map(VarName::as_str));
            }
        }
        for w in &self.webhooks {
            names.extend(w.secrets.iter().map(VarName::as_str));
        }
        names.extend(self.subscriptions.iter().map(|s| s.secret.as_str()));
        names
    }

    /// `3 tenants, 6 API keys, 4 carriers, ...` for `waypost config check`.
    pub fn summary(&self) -> String {
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let keys: usize = self.tenants.iter().map(|t| t.keys.len()).sum();
        [
            format!("region {}", self.region.id),
            count(self.tenants.len(), "tenant", "tenants"),
            count(keys, "API key", "API keys"),
            count(self.issuers.len(), "issuer", "issuers"),
            count(self.routes.len(), "route", "routes"),
            count(self.carriers.len(), "carrier", "carriers"),
            count(self.plans.len(), "plan", "plans"),
            count(self.account_limits.len(), "account limit", "account limits"),
            count(self.webhooks.len(), "webhook intake", "webhook intakes"),
            count(self.subscriptions.len(), "subscription", "subscriptions"),
        ]
        .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2027-01-01T00:00:00Z"), Some(1_798_761_600));
        assert_eq!(
            parse_rfc3339("2027-01-01T01:00:00+01:00"),
            Some(1_798_761_600)
        );
        assert_eq!(parse_rfc3339("2027-01-01"), Some(1_798_761_600));
        assert_eq!(parse_rfc3339("2024-02-29T12:00:00.5Z"), Some(1_709_208_000));
        assert_eq!(parse_rfc3339("2027-01-01T00:00:00"), None, "no offset");
        assert_eq!(parse_rfc3339("2027-02-30T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("next tuesday"), None);
    }

    #[test]
    fn variable_names_follow_spin() {
        for ok in ["dev_jwt_secret", "a", "ups2_client_id"] {
            assert!(VarName::check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Dev",
            "1a",
            "a-b",
            "a__b",
            "a_",
            "_a",
            "sk_live_ABC",
            "whsec_abc",
        ] {
            assert!(VarName::check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn key_hash_and_prefix() {
        let h = KeyHash::of_key("acme_abc");
        assert!(KeyHash::check(h.as_str()).is_ok());
        assert_eq!(h.hex().len(), 64);
        assert_eq!(api_key_tenant("acme-eu_x_y"), Some("acme-eu"));
        assert_eq!(api_key_tenant("acme"), None);
        assert_eq!(api_key_tenant("_x"), None);
        assert!(KeyHash::check("sha256:ABC").is_err());
        assert!(KeyHash::check("md5:00").is_err());
    }

    #[test]
    fn urls() {
        for ok in [
            "https://eu.waypost.example",
            "http://sandbox.spin.internal/ups",
            "http://127.0.0.1:3000",
            "https://express.api.dhl.com/mydhlapi/",
            "http://[::1]:8080/x",
        ] {
            assert!(HttpUrl::check(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://x",
            "eu.waypost.example",
            "https://",
            "https://user:pw@host",
            "https://host:99999",
            "https://ho st",
            "https://h/#frag",
        ] {
            assert!(HttpUrl::check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn path_patterns_match_most_specific() {
        let p = PathPattern::parse("/v1/carriers/{carrier}/{*path}").unwrap();
        assert_eq!(
            p.matches("/v1/carriers/ups/api/track/v1/details/1Z"),
            Some(vec![
                ("carrier", "ups"),
                ("path", "api/track/v1/details/1Z")
            ])
        );
        assert_eq!(p.matches("/v1/carriers/ups"), None);
        assert_eq!(p.matches("/v1/rates"), None);
        let root = PathPattern::parse("/").unwrap();
        assert_eq!(root.matches("/"), Some(vec![]));
        assert_eq!(root.matches("/x"), None);
        let exact = PathPattern::parse("/v1/rates").unwrap();
        assert_eq!(exact.matches("/v1/rates"), Some(vec![]));
        assert_eq!(exact.matches("/v1/rates/x"), None);
        assert_eq!(p.shape(), "/v1/carriers/{}/{*}");
        for bad in [
            "v1",
            "/v1//x",
            "/v1/",
            "/{*rest}/x",
            "/{a}/{a}",
            "/{A}",
            "/a?b",
        ] {
            assert!(PathPattern::parse(bad).is_err(), "{bad}");
        }
    }
}
