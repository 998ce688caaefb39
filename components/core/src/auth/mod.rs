//! The auth phases: who the caller is ([`authenticate`]), whether the route lets it in
//! ([`authorize`]), and the identity passed to the components behind auth
//! ([`identity`]). Each is a pure function over plain data: headers as pairs, the
//! config version as a [`ConfigView`], Spin variables as a closure, the time as Unix
//! seconds, and a [`KeyValue`] store for DPoP replay records.
//!
//! - [`credential`]: the one credential a request carries.
//! - [`api_key`]: `X-Api-Key: <tenant>_<secret>`.
//! - [`jwt`]: `Authorization: Bearer <JWT>` against the configured issuers.
//! - [`dpop`]: RFC 9449 proofs for tokens bound with `cnf.jkt`.
//! - [`scopes`]: the scopes a route requires.
//! - [`identity`]: the `x-waypost-*` identity headers and their MAC.
//! - [`errors`]: every refusal, with its status, challenge and problem.

pub mod api_key;
pub mod credential;
pub mod dpop;
pub mod errors;
pub mod identity;
pub mod jwt;
pub mod principal;
pub mod scopes;

#[cfg(test)]
mod testkit;

pub use errors::AuthError;
pub use identity::{Identity, IdentityKey, strip_incoming, verify_identity};
pub use principal::{Authenticated, Principal, Scopes};
pub use scopes::authorize;

use crate::config::DpopPolicy;
use crate::config::store::ConfigView;
use crate::kv::KeyValue;
use credential::{Credential, DPOP, Headers, Scheme, credential, single_header};
use errors::{ProofRefusal, Refusal};

/// What authentication reads from a request.
#[derive(Debug, Clone, Copy)]
pub struct AuthRequest<'a> {
    pub method: &'a str,
    /// The URL the client called, as it sees it (the public scheme and host): the
    /// DPoP `htu` is compared with it. Its query is ignored.
    pub url: &'a str,
    pub headers: &'a Headers,
}

/// The authentication phase. `config` is the active config version; `replays` is the
/// store for DPoP `jti` records; `variables` resolves Spin variables (HMAC secrets);
/// `now` is Unix seconds.
///
/// An API key or a bearer token is accepted by the rules of [`api_key`] and [`jwt`].
/// Then, for tokens:
/// - bound (`cnf.jkt`): only under the `DPoP` scheme, with a valid proof ([`dpop`]);
///   under `Bearer` it is refused even with a proof (no downgrade, RFC 9449 §7.2);
/// - unbound: refused under the `DPoP` scheme, and when the issuer's `dpop` is
///   `required`; a `DPoP` header sent with an unbound bearer token is ignored.
pub fn authenticate<K, R, V>(
    request: &AuthRequest<'_>,
    config: &ConfigView<'_, '_, K>,
    replays: &R,
    variables: V,
    now: i64,
) -> Result<Authenticated, AuthError>
where
    K: KeyValue + ?Sized,
    R: KeyValue + ?Sized,
    V: Fn(&str) -> Option<String>,
{
    let (authenticated, proof) = authenticate_unclaimed(request, config, variables, now)?;
    if let Some(proof) = proof {
        proof.claim(replays)?;
    }
    Ok(authenticated)
}

/// [`authenticate`] without the DPoP replay check: a bound token's proof comes back as
/// a [`dpop::ProofClaim`] the caller must claim before it lets the request in, after
/// its own checks (the auth component checks residency first, so that a tenant's
/// replay records are never stored in a region that does not serve it).
pub fn authenticate_unclaimed<K, V>(
    request: &AuthRequest<'_>,
    config: &ConfigView<'_, '_, K>,
    variables: V,
    now: i64,
) -> Result<(Authenticated, Option<dpop::ProofClaim>), AuthError>
where
    K: KeyValue + ?Sized,
    V: Fn(&str) -> Option<String>,
{
    let (scheme, token) = match credential(request.headers)? {
        Credential::ApiKey(key) => {
            return api_key::authenticate_api_key(key, config, now).map(|a| (a, None));
        }
        Credential::Token { scheme, token } => (scheme, token),
    };
    let verified = jwt::verify_token(token, config, variables, now)?;
    let refused = |r| Err(AuthError::Refused(r));
    match (verified.jkt.as_deref(), scheme) {
        (Some(_), Scheme::Bearer) => return refused(Refusal::BoundTokenAsBearer),
        (Some(jkt), Scheme::Dpop) => {
            let proof = single_header(request.headers, DPOP)
                .map_err(|_| AuthError::Proof(ProofRefusal::Repeated))?
                .ok_or(AuthError::Proof(ProofRefusal::Missing))?;
            let expected = dpop::ProofExpectation {
                method: request.method,
                url: request.url,
                access_token: token,
                jkt,
                tenant: &verified.authenticated.tenant.id,
            };
            let claim = dpop::check_proof(proof, &expected, now)?;
            return Ok((verified.authenticated, Some(claim)));
        }
        (None, Scheme::Dpop) => return refused(Refusal::UnboundTokenWithDpopScheme),
        (None, Scheme::Bearer) if verified.dpop == DpopPolicy::Required => {
            return refused(Refusal::BindingRequired);
        }
        (None, Scheme::Bearer) => {}
    }
    Ok((verified.authenticated, None))
}

/// The Spin variables [`authenticate`] will ask `variables` for on this request: the
/// HMAC secrets of the issuer its token names (none for API keys, asymmetric keys or
/// unreadable credentials). Spin resolves variables asynchronously and `authenticate`
/// is synchronous, so a component resolves these first. Costs one config read (the
/// issuer record) for tokens.
pub fn secret_variables<K: KeyValue + ?Sized>(
    headers: &credential::Headers,
    config: &ConfigView<'_, '_, K>,
) -> Vec<String> {
    let Ok(Credential::Token { token, .. }) = credential(headers) else {
        return Vec::new();
    };
    jwt::secret_variables(token, config)
}

#[cfg(test)]
mod tests;
