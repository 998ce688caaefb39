//! The simulated FedEx: OAuth (`/oauth/token`, credentials in the form body), Rates and
//! Transit Times (`/rate/v1/rates/quotes`) and Track (`/track/v1/trackingnumbers`), in
//! FedEx's shapes: bare numbers for money, word enums for transit times, errors as
//! `{"transactionId","errors":[{"code","message"}]}`.

mod rates;
mod track;

use super::call::Call;
use super::credentials;
use super::failure::{ErrorShape, Failure, Kind};
use super::{CarrierApi, Route};
use serde_json::{Value, json};

pub(crate) struct Fedex;

pub(crate) enum Endpoint {
    Token,
    Rates,
    Track,
}

impl CarrierApi for Fedex {
    type Endpoint = Endpoint;

    fn route(method: &str, path: &str) -> Route<Endpoint> {
        let endpoint = match path.trim_end_matches('/') {
            "/oauth/token" => Endpoint::Token,
            "/rate/v1/rates/quotes" => Endpoint::Rates,
            "/track/v1/trackingnumbers" => Endpoint::Track,
            _ => return Route::NotFound,
        };
        Route::with_method(method, "POST", endpoint)
    }

    fn shape(_: Option<&Endpoint>) -> ErrorShape {
        ErrorShape::Fedex
    }

    fn serve(endpoint: &Endpoint, call: &Call<'_>) -> Result<Value, Failure> {
        match endpoint {
            Endpoint::Token => token(call),
            Endpoint::Rates => rates::rates(call),
            Endpoint::Track => track::track(call),
        }
    }
}

// ------------------------------------------------------------------------------ OAuth

const GRANTS: &[&str] = &[
    "client_credentials",
    "csp_credentials",
    "client_pc_credentials",
];

fn token(call: &Call<'_>) -> Result<Value, Failure> {
    let form = call.form();
    let field = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let (client_id, client_secret) = (field("client_id"), field("client_secret"));
    if !credentials::present(client_id, client_secret) {
        let message = "The client_id and client_secret form fields are required.";
        return Err(Failure::new(401, Kind::MissingCredentials, message)
            .with_challenge("Bearer realm=\"fedex\""));
    }
    match field("grant_type") {
        None | Some("") => return Err(Failure::missing("grant_type")),
        Some(g) if GRANTS.contains(&g) => {}
        Some(other) => {
            let message = format!("Unsupported grant_type {other:?}.");
            return Err(Failure::new(400, Kind::UnsupportedGrant, message));
        }
    }
    let issued = credentials::issue(
        call,
        client_id.unwrap_or_default(),
        client_secret.unwrap_or_default(),
    )?;
    Ok(json!({
        "access_token": issued.access_token,
        "token_type": "bearer",
        "expires_in": issued.expires_in,
        "scope": "CXS",
    }))
}

#[cfg(test)]
mod tests;
