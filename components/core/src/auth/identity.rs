//! Identity between components (DESIGN.md): after authentication, auth strips the
//! caller's credential and every incoming `x-waypost-*` header, then sets
//!
//! - `x-waypost-tenant`: the tenant id;
//! - `x-waypost-principal`: `key:<id>`, `user:<sub>` or `agent:<id>;sponsor=<sponsor>`;
//! - `x-waypost-scopes`: space-separated scopes, or `*` for a full-access key;
//! - `x-waypost-request-id`;
//! - `x-waypost-identity-mac`: base64url(HMAC-SHA256(app secret, canonical encoding)).
//!
//! The canonical encoding is the tag `waypost-identity-v1`, then each of the four
//! values in that order as a 4-byte big-endian length and its bytes, so no two
//! different identities encode alike. Components behind auth call [`verify_identity`]
//! and refuse (401) a request whose identity headers are missing or forged.
//!
//! The MAC binds the four values to each other, not to one request: a set of identity
//! headers copied from inside the chain could be replayed to a component reached
//! directly. Keep components reachable only through the chain.

use super::credential::{API_KEY, AUTHORIZATION, DPOP, Headers, single_header};
use super::errors::{AuthError, IdentityRefusal};
use super::principal::{Authenticated, Principal, Scopes};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const TENANT: &str = "x-waypost-tenant";
pub const PRINCIPAL: &str = "x-waypost-principal";
pub const SCOPES: &str = "x-waypost-scopes";
pub const REQUEST_ID: &str = "x-waypost-request-id";
pub const IDENTITY_MAC: &str = "x-waypost-identity-mac";

/// The prefix of Waypost's own headers.
pub const WAYPOST_PREFIX: &str = "x-waypost-";

/// `x-waypost-*` headers that are the caller's to send, and pass through auth: the
/// request's deadline (DESIGN.md, Deadlines) and the mark of a retried request (a
/// caller that retries tells us not to retry again). They carry no identity and no MAC.
pub const CALLER_HEADERS: [&str; 2] = ["x-waypost-deadline", "x-waypost-retry"];

const MAC_TAG: &[u8] = b"waypost-identity-v1";

/// Shortest app secret accepted for the identity MAC, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// Who a request is from, as passed between components.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub tenant: String,
    pub principal: Principal,
    pub scopes: Scopes,
    pub request_id: String,
}

/// The app secret keying the identity MAC (a Spin variable).
#[derive(Clone)]
pub struct IdentityKey(Vec<u8>);

/// The app secret is shorter than [`MIN_SECRET_LEN`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakIdentitySecret;

impl IdentityKey {
    pub fn new(secret: &[u8]) -> Result<IdentityKey, WeakIdentitySecret> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(WeakIdentitySecret);
        }
        Ok(IdentityKey(secret.to_vec()))
    }

    fn mac(&self, values: [&str; 4]) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(MAC_TAG);
        for value in values {
            let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
            mac.update(&len.to_be_bytes());
            mac.update(value.as_bytes());
        }
        mac
    }
}

impl std::fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IdentityKey(..)")
    }
}

impl Identity {
    /// The identity of an authenticated request. `request_id` is the request's
    /// `x-request-id` (the component creates one when absent).
    pub fn of(authenticated: &Authenticated, request_id: &str) -> Identity {
        Identity {
            tenant: authenticated.tenant.id.clone(),
            principal: authenticated.principal.clone(),
            scopes: authenticated.scopes.clone(),
            request_id: request_id.trim().to_string(),
        }
    }

    /// The identity of an `/admin` request that presented the admin token: the
    /// operator, no tenant, every scope.
    pub fn operator(request_id: &str) -> Identity {
        Identity {
            tenant: String::new(),
            principal: Principal::Operator,
            scopes: Scopes::All,
            request_id: request_id.trim().to_string(),
        }
    }

    /// The five headers auth sets, MAC last.
    pub fn headers(&self, key: &IdentityKey) -> Vec<(String, String)> {
        let principal = self.principal.to_string();
        let scopes = self.scopes.to_string();
        let values = [
            self.tenant.as_str(),
            principal.as_str(),
            scopes.as_str(),
            self.request_id.as_str(),
        ];
        let mac = URL_SAFE_NO_PAD.encode(key.mac(values).finalize().into_bytes());
        vec![
            (TENANT.into(), self.tenant.clone()),
            (PRINCIPAL.into(), principal),
            (SCOPES.into(), scopes),
            (REQUEST_ID.into(), self.request_id.clone()),
            (IDENTITY_MAC.into(), mac),
        ]
    }
}

/// For components behind auth: the identity in `headers`, if auth set it. Missing
/// headers (all of them) → [`IdentityRefusal::Missing`]; some missing, repeated,
/// unreadable, or a MAC that does not verify (compared in constant time) →
/// [`IdentityRefusal::Forged`].
pub fn verify_identity(headers: &Headers, key: &IdentityKey) -> Result<Identity, AuthError> {
    let forged = || AuthError::Identity(IdentityRefusal::Forged);
    let mut values = [None; 5];
    for (slot, name) in values
        .iter_mut()
        .zip([TENANT, PRINCIPAL, SCOPES, REQUEST_ID, IDENTITY_MAC])
    {
        *slot = single_header(headers, name).map_err(|_| forged())?;
    }
    let [
        Some(tenant),
        Some(principal),
        Some(scopes),
        Some(request_id),
        Some(mac),
    ] = values
    else {
        return Err(if values.iter().all(Option::is_none) {
            AuthError::Identity(IdentityRefusal::Missing)
        } else {
            forged()
        });
    };
    let tag = URL_SAFE_NO_PAD.decode(mac).map_err(|_| forged())?;
    key.mac([tenant, principal, scopes, request_id])
        .verify_slice(&tag)
        .map_err(|_| forged())?;
    Ok(Identity {
        tenant: tenant.to_string(),
        principal: Principal::parse(principal).ok_or_else(forged)?,
        scopes: Scopes::parse(scopes).ok_or_else(forged)?,
        request_id: request_id.to_string(),
    })
}

/// Whether auth removes this incoming header: every `x-waypost-*` header but
/// [`CALLER_HEADERS`], and the credential headers (`authorization`, `x-api-key`,
/// `dpop`).
pub fn is_stripped(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [AUTHORIZATION, API_KEY, DPOP].contains(&name.as_str())
        || (name.starts_with(WAYPOST_PREFIX) && !CALLER_HEADERS.contains(&name.as_str()))
}

/// The names (lower case, each once, in order of appearance) of the incoming headers
/// auth must remove before calling the next handler.
pub fn strip_incoming(headers: &Headers) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for (name, _) in headers {
        let lower = name.to_ascii_lowercase();
        if is_stripped(&lower) && !names.contains(&lower) {
            names.push(lower);
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"an app secret of at least 32 bytes, for tests";

    fn key() -> IdentityKey {
        IdentityKey::new(SECRET).unwrap()
    }

    fn agent_identity() -> Identity {
        Identity {
            tenant: "globex".into(),
            principal: Principal::Agent {
                id: "agent-7".into(),
                sponsor: "ops@globex.example".into(),
            },
            scopes: Scopes::parse("rates carriers").unwrap(),
            request_id: "req-42".into(),
        }
    }

    fn pairs(h: &[(&str, &str)]) -> Vec<(String, String)> {
        h.iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    fn replace(headers: &mut [(String, String)], name: &str, value: &str) {
        headers.iter_mut().find(|(n, _)| n == name).unwrap().1 = value.into();
    }

    #[test]
    fn identity_headers_set_by_auth_verify_behind_it() {
        let identity = agent_identity();
        let headers = identity.headers(&key());
        assert_eq!(
            headers[..4],
            pairs(&[
                (TENANT, "globex"),
                (PRINCIPAL, "agent:agent-7;sponsor=ops@globex.example"),
                (SCOPES, "carriers rates"),
                (REQUEST_ID, "req-42"),
            ])
        );
        assert_eq!(verify_identity(&headers, &key()), Ok(identity));
    }

    #[test]
    fn the_operator_identity_has_no_tenant_and_verifies() {
        let operator = Identity::operator("req-1");
        let headers = operator.headers(&key());
        assert_eq!(headers[0], (TENANT.to_string(), String::new()));
        assert_eq!(headers[1], (PRINCIPAL.to_string(), "operator:admin".into()));
        assert_eq!(verify_identity(&headers, &key()), Ok(operator));
        let mut forged = agent_identity().headers(&key());
        replace(&mut forged, PRINCIPAL, "operator:admin");
        assert!(verify_identity(&forged, &key()).is_err());
    }

    #[test]
    fn a_forged_tenant_is_refused() {
        let mut headers = agent_identity().headers(&key());
        replace(&mut headers, TENANT, "nordlicht");
        assert_eq!(
            verify_identity(&headers, &key()),
            Err(AuthError::Identity(IdentityRefusal::Forged))
        );
    }

    #[test]
    fn forged_scopes_or_principal_are_refused() {
        for (name, value) in [
            (SCOPES, "*"),
            (PRINCIPAL, "user:admin"),
            (REQUEST_ID, "req-43"),
        ] {
            let mut headers = agent_identity().headers(&key());
            replace(&mut headers, name, value);
            assert!(verify_identity(&headers, &key()).is_err(), "{name}");
        }
    }

    #[test]
    fn a_mac_made_with_another_secret_is_refused() {
        let other = IdentityKey::new(b"another app secret, also 32 bytes long").unwrap();
        let headers = agent_identity().headers(&other);
        assert_eq!(
            verify_identity(&headers, &key()),
            Err(AuthError::Identity(IdentityRefusal::Forged))
        );
    }

    #[test]
    fn headers_without_a_mac_are_forged_and_no_headers_are_missing() {
        let mut headers = agent_identity().headers(&key());
        headers.retain(|(n, _)| n != IDENTITY_MAC);
        assert_eq!(
            verify_identity(&headers, &key()),
            Err(AuthError::Identity(IdentityRefusal::Forged))
        );
        assert_eq!(
            verify_identity(&pairs(&[("accept", "*/*")]), &key()),
            Err(AuthError::Identity(IdentityRefusal::Missing))
        );
        assert_eq!(AuthError::Identity(IdentityRefusal::Missing).status(), 401);
    }

    #[test]
    fn a_repeated_identity_header_is_forged() {
        let mut headers = agent_identity().headers(&key());
        headers.push((TENANT.into(), "nordlicht".into()));
        assert_eq!(
            verify_identity(&headers, &key()),
            Err(AuthError::Identity(IdentityRefusal::Forged))
        );
    }

    #[test]
    fn the_encoding_is_unambiguous() {
        // Moving a character between adjacent values changes the MAC.
        let a = key().mac(["ab", "c", "", ""]).finalize().into_bytes();
        let b = key().mac(["a", "bc", "", ""]).finalize().into_bytes();
        assert_ne!(a, b);
    }

    #[test]
    fn a_short_app_secret_is_refused() {
        assert_eq!(IdentityKey::new(b"short").unwrap_err(), WeakIdentitySecret);
        assert!(!format!("{:?}", key()).contains("app secret"));
    }

    #[test]
    fn auth_strips_credentials_and_every_waypost_header_but_the_deadline_and_retry_mark() {
        let incoming = pairs(&[
            ("Authorization", "Bearer t"),
            ("X-Api-Key", "k"),
            ("DPoP", "p"),
            ("X-Waypost-Tenant", "nordlicht"),
            ("x-waypost-identity-mac", "forged"),
            ("x-waypost-anything", "x"),
            ("x-waypost-tenant", "again"),
            ("x-waypost-deadline", "5000"),
            ("x-waypost-retry", "1"),
            ("content-type", "application/json"),
            ("traceparent", "00-abc-def-01"),
        ]);
        assert_eq!(
            strip_incoming(&incoming),
            [
                "authorization",
                "x-api-key",
                "dpop",
                "x-waypost-tenant",
                "x-waypost-identity-mac",
                "x-waypost-anything",
            ]
        );
    }
}
