//! How each carrier authenticates rating calls (CARRIERS.md §1.1, §2.1, §3.1, §4.1),
//! as pure functions: the token request to send, the token answer to read, and the
//! `Authorization` value of a call.
//!
//! | adapter | scheme | client authentication at `token_url` |
//! |---|---|---|
//! | UPS | OAuth2 client credentials | HTTP Basic `client_id:client_secret`; body `grant_type=client_credentials`; `x-merchant-id` = account |
//! | FedEx | OAuth2 client credentials | form body `grant_type`, `client_id`, `client_secret` |
//! | USPS | OAuth2 client credentials | form body `grant_type`, `client_id`, `client_secret` |
//! | DHL | HTTP Basic `username:password` on every call | (no token step) |
//!
//! Credential roles are those of [`crate::config::Adapter::credential_roles`].

use super::adapters::RateAdapter;
use super::carrier::CarrierError;
use crate::config::HttpUrl;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;

/// Lifetime assumed when a token answer has no readable `expires_in`.
pub const DEFAULT_TOKEN_LIFETIME_SECS: u64 = 600;

/// How calls to a carrier are authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthScheme {
    /// OAuth 2.0 client credentials at the carrier's `token_url`; calls carry
    /// `Bearer <access_token>`.
    ClientCredentials(ClientAuth),
    /// HTTP Basic with the account's `username` and `password` on every call.
    Basic,
}

/// How the client id and secret reach the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// `Authorization: Basic base64(client_id:client_secret)` (`client_secret_basic`).
    BasicHeader,
    /// `client_id` and `client_secret` as form fields (`client_secret_post`).
    FormBody,
}

impl RateAdapter {
    pub fn auth_scheme(self) -> AuthScheme {
        match self {
            RateAdapter::Ups => AuthScheme::ClientCredentials(ClientAuth::BasicHeader),
            RateAdapter::Fedex | RateAdapter::Usps => {
                AuthScheme::ClientCredentials(ClientAuth::FormBody)
            }
            RateAdapter::Dhl => AuthScheme::Basic,
        }
    }
}

/// Credential values by role (`client_id`, `client_secret`, `username`, ...), read by
/// the component from the Spin variables the config names (`routing::credentials_for`
/// gives role → variable). `Debug` shows the roles only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    values: BTreeMap<String, String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("roles", &self.values.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Credentials {
    pub fn new(values: BTreeMap<String, String>) -> Self {
        Credentials { values }
    }

    pub fn get(&self, role: &str) -> Option<&str> {
        self.values
            .get(role)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn require(&self, role: &'static str) -> Result<&str, AuthError> {
        self.get(role).ok_or(AuthError::MissingCredential(role))
    }
}

/// Why no authenticated call can be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthError {
    /// A required credential role has no (non-empty) value.
    MissingCredential(&'static str),
    /// An OAuth carrier's carrier record has no `token_url`.
    MissingTokenUrl,
    /// An OAuth carrier's call needs a token and none was given.
    TokenRequired,
    /// The carrier has no token step (DHL: Basic on every call).
    NoTokenStep,
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MissingCredential(role) => {
                write!(f, "the carrier credential `{role}` is not configured")
            }
            AuthError::MissingTokenUrl => f.write_str("the carrier has no token_url configured"),
            AuthError::TokenRequired => f.write_str("no access token for the carrier"),
            AuthError::NoTokenStep => f.write_str("the carrier takes no access token"),
        }
    }
}

/// A token request: `POST url` with these headers and form body. Holds secrets:
/// `Debug` shows the URL only.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenRequest {
    pub url: String,
    /// Lower-case names; includes `authorization` for UPS.
    pub headers: Vec<(String, String)>,
    /// `application/x-www-form-urlencoded`.
    pub body: String,
}

impl fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenRequest")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

/// The token request of an OAuth carrier. `account_number` goes to UPS as
/// `x-merchant-id`.
pub fn token_request(
    adapter: RateAdapter,
    token_url: Option<&HttpUrl>,
    credentials: &Credentials,
    account_number: Option<&str>,
) -> Result<TokenRequest, AuthError> {
    let AuthScheme::ClientCredentials(client_auth) = adapter.auth_scheme() else {
        return Err(AuthError::NoTokenStep);
    };
    let url = token_url.ok_or(AuthError::MissingTokenUrl)?;
    let client_id = credentials.require("client_id")?;
    let client_secret = credentials.require("client_secret")?;
    let mut headers = vec![
        (
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        ),
        ("accept".to_string(), "application/json".to_string()),
    ];
    let mut form = form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    match client_auth {
        ClientAuth::BasicHeader => {
            headers.push(("authorization".to_string(), basic(client_id, client_secret)));
        }
        ClientAuth::FormBody => {
            form.append_pair("client_id", client_id);
            form.append_pair("client_secret", client_secret);
        }
    }
    if adapter == RateAdapter::Ups
        && let Some(account) = account_number
    {
        headers.push(("x-merchant-id".to_string(), account.to_string()));
    }
    Ok(TokenRequest {
        url: url.as_str().to_string(),
        headers,
        body: form.finish(),
    })
}

/// A token from a token endpoint: cache it with `routing::token_cache::store(kv,
/// &lease, &token.access_token, token.expires_in_secs, now_ms)`. `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct CarrierToken {
    pub access_token: String,
    /// `expires_in` as the carrier sent it (or [`DEFAULT_TOKEN_LIFETIME_SECS`]).
    pub expires_in_secs: u64,
}

impl fmt::Debug for CarrierToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CarrierToken")
            .field("expires_in_secs", &self.expires_in_secs)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: String,
    /// Seconds; a string at UPS (`"14399"`), a number at FedEx, either at USPS.
    expires_in: Option<serde_json::Value>,
}

/// OAuth errors (RFC 6749 §5.2), as USPS and others send them.
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

/// Reads a token endpoint's answer. A refused client
/// (401/403, or 400 `invalid_client`/`unauthorized_client`) is
/// [`CarrierError::CredentialsRefused`].
pub fn parse_token_response(
    adapter: RateAdapter,
    status: u16,
    body: &[u8],
    retry_after_secs: Option<u32>,
) -> Result<CarrierToken, CarrierError> {
    if !(200..300).contains(&status) {
        let oauth: Option<OAuthError> = serde_json::from_slice(body).ok();
        let refused_client = oauth
            .as_ref()
            .is_some_and(|e| matches!(e.error.as_str(), "invalid_client" | "unauthorized_client"));
        let message = adapter.error_message(body).or_else(|| {
            oauth.map(|e| match e.error_description {
                Some(d) => format!("{}: {d}", e.error),
                None => e.error,
            })
        });
        if refused_client && status == 400 {
            let message = message.map(|m| super::carrier::sanitize_message(&m));
            return Err(CarrierError::CredentialsRefused {
                status,
                message: message.unwrap_or_else(|| "the carrier refused the client".into()),
            });
        }
        return Err(CarrierError::from_status(status, message, retry_after_secs));
    }
    let answer: TokenAnswer = serde_json::from_slice(body).map_err(CarrierError::malformed)?;
    if answer.access_token.is_empty() {
        return Err(CarrierError::malformed("empty access_token"));
    }
    let expires_in_secs = match &answer.expires_in {
        Some(serde_json::Value::Number(n)) => n.as_u64(),
        Some(serde_json::Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|secs| *secs > 0)
    .unwrap_or(DEFAULT_TOKEN_LIFETIME_SECS);
    Ok(CarrierToken {
        access_token: answer.access_token,
        expires_in_secs,
    })
}

/// The `Authorization` value of a rating call: `Bearer <access token>` for OAuth
/// carriers (the cached or freshly fetched token), `Basic base64(username:password)`
/// for DHL.
pub fn authorization_header(
    adapter: RateAdapter,
    credentials: &Credentials,
    access_token: Option<&str>,
) -> Result<String, AuthError> {
    match adapter.auth_scheme() {
        AuthScheme::ClientCredentials(_) => access_token
            .map(|t| format!("Bearer {t}"))
            .ok_or(AuthError::TokenRequired),
        AuthScheme::Basic => Ok(basic(
            credentials.require("username")?,
            credentials.require("password")?,
        )),
    }
}

/// Credential headers a call carries besides `Authorization`: DHL's Shipment Tracking
/// API authenticates with the account's `api_key` as `DHL-API-Key` (CARRIERS.md §3.2),
/// while MyDHL takes Basic; both go on DHL calls when the key is configured.
pub fn api_key_headers(adapter: RateAdapter, credentials: &Credentials) -> Vec<(String, String)> {
    match (adapter, credentials.get("api_key")) {
        (RateAdapter::Dhl, Some(key)) => vec![("dhl-api-key".to_string(), key.to_string())],
        _ => Vec::new(),
    }
}

fn basic(user: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{user}:{password}")))
}

#[cfg(test)]
mod tests;
