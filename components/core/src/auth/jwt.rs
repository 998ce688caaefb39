//! `Authorization: Bearer <JWT>`: verified with `jwt-simple` against the issuer named
//! by the token's `iss`, with the key chosen by `kid` (or the issuer's only key) and
//! the algorithm pinned to that key.
//!
//! Before the signature is checked, only two things are read from the token, and only
//! to find the key: the header (`alg`, `kid`) and the `iss` claim. Everything else
//! (tenant, subject, scopes, binding) is read from verified claims.
//!
//! Rules, in order:
//! - `iss` names a configured issuer; `kid` names one of its keys (or the token has no
//!   `kid` and the issuer has exactly one key);
//! - the header `alg` is exactly the key's configured `alg`: `none`, and HS/RS
//!   confusion (a public key used as an HMAC secret), never reach a verifier;
//! - signature; `exp` (required), `nbf`, `iat` (not in the future), each with the
//!   issuer's leeway; `iss`; `aud` (one of the issuer's audiences);
//! - with `max_age_secs`: `iat` required and at most that old (plus leeway);
//! - `sub` required; the tenant claim names an existing tenant that lists the issuer;
//! - scopes from `scope` (space separated) or, when absent, `scp` (array or string);
//! - `cnf.jkt` is returned for the DPoP check; any other `cnf` is refused;
//! - the issuer's `agent_claim`, when present, makes the principal an agent.

use super::credential::MAX_CREDENTIAL_LEN;
use super::errors::{AuthError, Malformed, Refusal};
use super::principal::{Authenticated, Principal, Scopes, is_scope_token};
use crate::config::store::ConfigView;
use crate::config::{Alg, DpopPolicy, Issuer, IssuerKey, Tenant, check_id};
use crate::kv::KeyValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwt_simple::JWTError;
use jwt_simple::prelude::*;
use serde_json::{Map, Value};
use std::collections::BTreeSet;

/// Longest `iss` looked up.
pub const MAX_ISS_LEN: usize = 1024;

/// Claims beyond the registered ones, as JSON.
type Extra = Map<String, Value>;

/// A token whose signature and claims verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedToken {
    pub authenticated: Authenticated,
    /// The JWK thumbprint the token is bound to (`cnf.jkt`, RFC 9449), if any.
    pub jkt: Option<String>,
    /// The issuer's DPoP policy.
    pub dpop: DpopPolicy,
}

/// Verifies a bearer token. `variables` resolves Spin variables (HMAC secrets) by
/// name; `now` is Unix seconds. Reads two config records: the issuer and the tenant.
pub fn verify_token<K, V>(
    token: &str,
    config: &ConfigView<'_, '_, K>,
    variables: V,
    now: i64,
) -> Result<VerifiedToken, AuthError>
where
    K: KeyValue + ?Sized,
    V: Fn(&str) -> Option<String>,
{
    let not_a_jwt = AuthError::Malformed(Malformed::NotAJwt);
    if token.split('.').count() != 3 {
        return Err(not_a_jwt);
    }
    let header = Token::decode_metadata(token).map_err(|_| not_a_jwt.clone())?;
    let iss = unverified_iss(token)?;
    let issuer = config
        .issuer(&iss)?
        .ok_or(AuthError::Refused(Refusal::UnknownIssuer))?;
    let key = choose_key(&issuer, header.key_id())?;
    if header.algorithm() != key.alg.as_str() {
        return Err(AuthError::Refused(Refusal::AlgorithmMismatch));
    }
    let claims = verify_signature(token, key, options(&issuer, now), &variables)?;
    let refused = |r| AuthError::Refused(r);
    let missing = |claim: &str| refused(Refusal::MissingClaim(claim.into()));

    claims.expires_at.ok_or_else(|| missing("exp"))?;
    if let Some(max_age) = issuer.max_age_secs {
        let iat = claims.issued_at.ok_or_else(|| missing("iat"))?.as_secs() as i64;
        if now - iat > i64::from(max_age) + i64::from(issuer.leeway_secs) {
            return Err(refused(Refusal::TooOld));
        }
    }
    let subject = claims
        .subject
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| missing("sub"))?;
    let tenant = tenant(&claims, &issuer, config)?;
    let scopes = scopes(&claims.custom)?;
    let jkt = binding(&claims.custom)?;
    let principal = principal(&claims, &issuer, subject)?;
    Ok(VerifiedToken {
        authenticated: Authenticated {
            tenant,
            principal,
            scopes,
        },
        jkt,
        dpop: issuer.dpop,
    })
}

/// The variables naming the HMAC secrets of the issuer `token` claims to be from.
pub(super) fn secret_variables<K: KeyValue + ?Sized>(
    token: &str,
    config: &ConfigView<'_, '_, K>,
) -> Vec<String> {
    let Ok(iss) = unverified_iss(token) else {
        return Vec::new();
    };
    let Ok(Some(issuer)) = config.issuer(&iss) else {
        return Vec::new();
    };
    issuer
        .keys
        .iter()
        .filter_map(|k| k.secret.as_ref())
        .map(|v| v.as_str().to_string())
        .collect()
}

/// The tenant named by the issuer's tenant claim: it must exist and list the issuer.
fn tenant<K: KeyValue + ?Sized>(
    claims: &JWTClaims<Extra>,
    issuer: &Issuer,
    config: &ConfigView<'_, '_, K>,
) -> Result<Tenant, AuthError> {
    let name = &issuer.tenant_claim;
    let id = match claim(claims, name) {
        None => return Err(AuthError::Refused(Refusal::MissingClaim(name.clone()))),
        Some(Value::String(id)) => id,
        Some(_) => return Err(AuthError::Refused(Refusal::InvalidClaim(name.clone()))),
    };
    let unknown = AuthError::Refused(Refusal::UnknownTenant);
    if check_id(&id, "tenant").is_err() {
        return Err(unknown);
    }
    let tenant = config.tenant(&id)?.ok_or(unknown)?;
    if !tenant.issuers.contains(&issuer.id) {
        return Err(AuthError::Refused(Refusal::IssuerNotTrusted));
    }
    Ok(tenant)
}

/// An agent when the issuer's `agent_claim` is present (its value names the sponsor),
/// a user otherwise.
fn principal(
    claims: &JWTClaims<Extra>,
    issuer: &Issuer,
    subject: String,
) -> Result<Principal, AuthError> {
    let Some(name) = issuer.agent_claim.as_deref() else {
        return Ok(Principal::User { subject });
    };
    match claim(claims, name) {
        None => Ok(Principal::User { subject }),
        Some(Value::String(sponsor)) if !sponsor.is_empty() => Ok(Principal::Agent {
            id: subject,
            sponsor,
        }),
        Some(_) => Err(AuthError::Refused(Refusal::InvalidClaim(name.into()))),
    }
}

/// The `iss` of a token not yet verified: used only to find the issuer's keys.
fn unverified_iss(token: &str) -> Result<String, AuthError> {
    let payload = token.split('.').nth(1).unwrap_or_default();
    let claims: Extra = URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or(AuthError::Malformed(Malformed::NotAJwt))?;
    match claims.get("iss") {
        // No issuer has a longer `iss`; refusing here keeps odd keys away from the store.
        Some(Value::String(iss)) if iss.len() > MAX_ISS_LEN => {
            Err(AuthError::Refused(Refusal::UnknownIssuer))
        }
        Some(Value::String(iss)) => Ok(iss.clone()),
        Some(_) => Err(AuthError::Refused(Refusal::InvalidClaim("iss".into()))),
        None => Err(AuthError::Refused(Refusal::MissingClaim("iss".into()))),
    }
}

fn choose_key<'i>(issuer: &'i Issuer, kid: Option<&str>) -> Result<&'i IssuerKey, AuthError> {
    let key = match kid {
        Some(kid) => issuer.keys.iter().find(|k| k.kid == kid),
        None => match issuer.keys.as_slice() {
            [only] => Some(only),
            _ => None,
        },
    };
    key.ok_or(AuthError::Refused(Refusal::UnknownKey))
}

fn options(issuer: &Issuer, now: i64) -> VerificationOptions {
    VerificationOptions {
        allowed_issuers: Some(HashSet::from([issuer.iss.clone()])),
        allowed_audiences: Some(issuer.audiences.iter().cloned().collect()),
        time_tolerance: Some(Duration::from_secs(u64::from(issuer.leeway_secs))),
        artificial_time: Some(Duration::from_secs(now.max(0) as u64)),
        max_token_length: Some(MAX_CREDENTIAL_LEN),
        ..VerificationOptions::default()
    }
}

/// Checks the signature with the key's pinned algorithm, then the registered claims.
fn verify_signature(
    token: &str,
    key: &IssuerKey,
    options: VerificationOptions,
    variables: &dyn Fn(&str) -> Option<String>,
) -> Result<JWTClaims<Extra>, AuthError> {
    let options = Some(options);
    let result = match key.alg {
        Alg::HS256 => HS256Key::from_bytes(&secret(key, variables)?).verify_token(token, options),
        Alg::HS384 => HS384Key::from_bytes(&secret(key, variables)?).verify_token(token, options),
        Alg::HS512 => HS512Key::from_bytes(&secret(key, variables)?).verify_token(token, options),
        Alg::RS256 => public::<RS256PublicKey>(key)?.verify_token(token, options),
        Alg::RS384 => public::<RS384PublicKey>(key)?.verify_token(token, options),
        Alg::RS512 => public::<RS512PublicKey>(key)?.verify_token(token, options),
        Alg::PS256 => public::<PS256PublicKey>(key)?.verify_token(token, options),
        Alg::ES256 => public::<ES256PublicKey>(key)?.verify_token(token, options),
        Alg::ES384 => public::<ES384PublicKey>(key)?.verify_token(token, options),
        Alg::EdDSA => public::<Ed25519PublicKey>(key)?.verify_token(token, options),
    };
    result.map_err(|e| refusal(key, &e))
}

/// The HMAC secret, from the Spin variable the key names.
fn secret(
    key: &IssuerKey,
    variables: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<u8>, AuthError> {
    let name = key.secret.as_ref().map(|v| v.as_str()).unwrap_or_default();
    match variables(name) {
        Some(value) if !value.is_empty() => Ok(value.into_bytes()),
        _ => Err(AuthError::Misconfigured(format!(
            "key `{}`: variable `{name}` is not set",
            key.kid
        ))),
    }
}

/// Public keys that load from the PEM in the config.
trait FromPem: Sized {
    fn from_pem(pem: &str) -> Result<Self, jwt_simple::Error>;
}

macro_rules! from_pem {
    ($($t:ty),*) => {$(
        impl FromPem for $t {
            fn from_pem(pem: &str) -> Result<Self, jwt_simple::Error> {
                <$t>::from_pem(pem)
            }
        }
    )*};
}

from_pem!(
    RS256PublicKey,
    RS384PublicKey,
    RS512PublicKey,
    PS256PublicKey,
    ES256PublicKey,
    ES384PublicKey,
    Ed25519PublicKey
);

fn public<P: FromPem>(key: &IssuerKey) -> Result<P, AuthError> {
    let pem = key
        .public_key
        .as_ref()
        .map(|p| p.as_str())
        .unwrap_or_default();
    P::from_pem(pem).map_err(|_| {
        AuthError::Misconfigured(format!("key `{}`: the public key does not load", key.kid))
    })
}

/// Maps a `jwt-simple` failure to the rule the token broke.
fn refusal(key: &IssuerKey, e: &jwt_simple::Error) -> AuthError {
    let refused = AuthError::Refused;
    match e.downcast_ref::<JWTError>() {
        Some(JWTError::WeakKey) => AuthError::Misconfigured(format!(
            "key `{}`: the secret is shorter than {} allows",
            key.kid, key.alg
        )),
        Some(JWTError::AlgorithmMismatch) => refused(Refusal::AlgorithmMismatch),
        Some(JWTError::InvalidSignature | JWTError::InvalidAuthenticationTag) => {
            refused(Refusal::BadSignature)
        }
        Some(JWTError::TokenHasExpired) => refused(Refusal::Expired),
        Some(JWTError::TokenNotValidYet | JWTError::ClockDrift) => refused(Refusal::NotYetValid),
        Some(JWTError::TokenIsTooOld) => refused(Refusal::TooOld),
        Some(JWTError::RequiredAudienceMismatch | JWTError::RequiredAudienceMissing) => {
            refused(Refusal::WrongAudience)
        }
        Some(JWTError::RequiredIssuerMismatch | JWTError::RequiredIssuerMissing) => {
            refused(Refusal::WrongIssuer)
        }
        Some(JWTError::TokenTooLong | JWTError::HeaderTooLarge | JWTError::NotJWT) => {
            AuthError::Malformed(Malformed::NotAJwt)
        }
        _ => refused(Refusal::Unreadable),
    }
}

/// A claim by name, registered ones included (a tenant claim may be `sub`).
fn claim(claims: &JWTClaims<Extra>, name: &str) -> Option<Value> {
    let registered = match name {
        "sub" => &claims.subject,
        "iss" => &claims.issuer,
        "jti" => &claims.jwt_id,
        "nonce" => &claims.nonce,
        _ => return claims.custom.get(name).cloned(),
    };
    registered.clone().map(Value::String)
}

/// Scopes from `scope` (space separated) or, only when it is absent, `scp` (an array
/// or a space-separated string).
fn scopes(extra: &Extra) -> Result<Scopes, AuthError> {
    let (name, list): (&str, Vec<&str>) = match (extra.get("scope"), extra.get("scp")) {
        (Some(Value::String(s)), _) => ("scope", s.split(' ').collect()),
        (Some(_), _) => return Err(AuthError::Refused(Refusal::InvalidClaim("scope".into()))),
        (None, Some(Value::String(s))) => ("scp", s.split(' ').collect()),
        (None, Some(Value::Array(items))) => {
            let strings: Option<Vec<&str>> = items.iter().map(Value::as_str).collect();
            let strings = strings.ok_or(AuthError::Refused(Refusal::InvalidClaim("scp".into())))?;
            ("scp", strings)
        }
        (None, Some(_)) => return Err(AuthError::Refused(Refusal::InvalidClaim("scp".into()))),
        (None, None) => return Ok(Scopes::none()),
    };
    let mut held = BTreeSet::new();
    for scope in list.into_iter().filter(|s| !s.is_empty()) {
        if !is_scope_token(scope) {
            return Err(AuthError::Refused(Refusal::InvalidClaim(name.into())));
        }
        held.insert(scope.to_string());
    }
    Ok(Scopes::Only(held))
}

/// `cnf.jkt`, the only confirmation method checked here (RFC 9449 §6.1).
fn binding(extra: &Extra) -> Result<Option<String>, AuthError> {
    let Some(cnf) = extra.get("cnf") else {
        return Ok(None);
    };
    let unsupported = AuthError::Refused(Refusal::UnsupportedBinding);
    let Value::Object(cnf) = cnf else {
        return Err(AuthError::Refused(Refusal::InvalidClaim("cnf".into())));
    };
    match (cnf.get("jkt"), cnf.len()) {
        (Some(Value::String(jkt)), 1) if !jkt.is_empty() => Ok(Some(jkt.clone())),
        (Some(_), 1) => Err(AuthError::Refused(Refusal::InvalidClaim("cnf".into()))),
        _ => Err(unsupported),
    }
}

#[cfg(test)]
mod tests;
