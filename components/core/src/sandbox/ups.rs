//! The simulated UPS: OAuth (`security/v1`), Rating (`/api/rating/{version}/...`) and
//! Track (`/api/track/v1/details/{n}`), in UPS's shapes: every scalar a JSON string,
//! errors as `{"response":{"errors":[{"code","message"}]}}`.

mod rating;
mod track;

use super::call::Call;
use super::credentials::{self, Issued};
use super::failure::{ErrorShape, Failure, Kind};
use super::{CarrierApi, Route};
use serde_json::{Value, json};

pub(crate) struct Ups;

pub(crate) enum Endpoint {
    Token,
    /// `requestoption` as sent (validated when served).
    Rate(String),
    Track(String),
}

impl CarrierApi for Ups {
    type Endpoint = Endpoint;

    fn route(method: &str, path: &str) -> Route<Endpoint> {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (endpoint, allow) = match segments.as_slice() {
            ["security", "v1", "oauth", "token"] => (Endpoint::Token, "POST"),
            ["api", "rating", _version, option] => (Endpoint::Rate(option.to_string()), "POST"),
            ["api", "track", "v1", "details", n] if !n.is_empty() => {
                (Endpoint::Track(n.to_string()), "GET")
            }
            _ => return Route::NotFound,
        };
        Route::with_method(method, allow, endpoint)
    }

    fn shape(_: Option<&Endpoint>) -> ErrorShape {
        ErrorShape::Ups
    }

    fn serve(endpoint: &Endpoint, call: &Call<'_>) -> Result<Value, Failure> {
        match endpoint {
            Endpoint::Token => token(call),
            Endpoint::Rate(option) => rating::rate(option, call),
            Endpoint::Track(number) => track::track(number, call),
        }
    }
}

// ------------------------------------------------------------------------------ OAuth

fn token(call: &Call<'_>) -> Result<Value, Failure> {
    let credentials =
        credentials::basic(call).filter(|(id, s)| credentials::present(Some(id), Some(s)));
    let Some((client_id, client_secret)) = credentials else {
        let message = "Invalid/Missing Authorization Header";
        return Err(Failure::new(401, Kind::MissingCredentials, message)
            .with_code("10400")
            .with_challenge("Basic realm=\"UPS OAuth\""));
    };
    let form = call.form();
    match form
        .iter()
        .find(|(k, _)| k == "grant_type")
        .map(|(_, v)| v.as_str())
    {
        None | Some("") => return Err(Failure::missing("grant_type").with_code("10400")),
        Some("client_credentials") => {}
        Some(other) => {
            let message = format!("Unsupported grant_type {other:?}: use client_credentials.");
            return Err(Failure::new(400, Kind::UnsupportedGrant, message));
        }
    }
    let Issued {
        access_token,
        issued_at_ms,
        expires_in,
    } = credentials::issue(call, &client_id, &client_secret)?;
    Ok(json!({
        "token_type": "Bearer",
        "issued_at": issued_at_ms.to_string(),
        "client_id": client_id,
        "access_token": access_token,
        "scope": "",
        "expires_in": expires_in.to_string(),
        "refresh_count": "0",
        "status": "approved",
    }))
}

#[cfg(test)]
mod tests;
