//! The simulated USPS: OAuth (`/oauth2/v3/token`, JSON or form body), Domestic Prices
//! (`/prices/v3/base-rates/search`, `/prices/v3/total-rates/search`: USD numbers, no
//! currency, no transit), Shipping Options (`/shipments/v3/options/search`: delivery
//! dates) and Tracking (`/tracking/v3/tracking/{n}`). API errors are
//! `{"apiVersion","error":{"code","message","errors":[...]}}`; OAuth errors
//! `{"error","error_description"}`.

mod options;
mod prices;
mod track;

use super::call::Call;
use super::credentials;
use super::failure::{ErrorShape, Failure, Kind};
use super::fields::text;
use super::{CarrierApi, Route};
use serde_json::{Map, Value, json};

pub(crate) struct Usps;

pub(crate) enum Endpoint {
    Token,
    BaseRates,
    TotalRates,
    ShippingOptions,
    Track(String),
}

impl CarrierApi for Usps {
    type Endpoint = Endpoint;

    fn route(method: &str, path: &str) -> Route<Endpoint> {
        let path = path.trim_end_matches('/');
        let (endpoint, allow) = match path {
            "/oauth2/v3/token" => (Endpoint::Token, "POST"),
            "/prices/v3/base-rates/search" => (Endpoint::BaseRates, "POST"),
            "/prices/v3/total-rates/search" => (Endpoint::TotalRates, "POST"),
            "/shipments/v3/options/search" => (Endpoint::ShippingOptions, "POST"),
            _ => match path.strip_prefix("/tracking/v3/tracking/") {
                Some(n) if !n.is_empty() && !n.contains('/') => {
                    (Endpoint::Track(n.to_string()), "GET")
                }
                _ => return Route::NotFound,
            },
        };
        Route::with_method(method, allow, endpoint)
    }

    fn shape(endpoint: Option<&Endpoint>) -> ErrorShape {
        let api_version = match endpoint {
            Some(Endpoint::Token) => return ErrorShape::UspsOAuth,
            Some(Endpoint::BaseRates | Endpoint::TotalRates) => "/prices/v3",
            Some(Endpoint::ShippingOptions) => "/shipments/v3",
            Some(Endpoint::Track(_)) => "/tracking/v3",
            None => "v3",
        };
        ErrorShape::Usps { api_version }
    }

    fn serve(endpoint: &Endpoint, call: &Call<'_>) -> Result<Value, Failure> {
        if !matches!(endpoint, Endpoint::Token) {
            credentials::require_bearer(call)?;
        }
        match endpoint {
            Endpoint::Token => token(call),
            Endpoint::BaseRates => prices::base_rates(call),
            Endpoint::TotalRates => prices::total_rates(call),
            Endpoint::ShippingOptions => options::shipping_options(call),
            Endpoint::Track(number) => track::track(number, call),
        }
    }
}

// ------------------------------------------------------------------------------ OAuth

fn token(call: &Call<'_>) -> Result<Value, Failure> {
    let body = if call.body_is_json() {
        call.json()?
    } else {
        let form: Map<String, Value> = call
            .form()
            .into_iter()
            .map(|(k, v)| (k, Value::String(v)))
            .collect();
        Value::Object(form)
    };
    let (client_id, client_secret) = (text(&body, "client_id"), text(&body, "client_secret"));
    if !credentials::present(client_id.as_deref(), client_secret.as_deref()) {
        let message = "Client authentication failed: client_id and client_secret are required.";
        return Err(Failure::new(401, Kind::MissingCredentials, message)
            .with_challenge("Basic realm=\"USPS OAuth\""));
    }
    match text(&body, "grant_type").as_deref() {
        None => return Err(Failure::missing("grant_type")),
        Some("client_credentials") => {}
        Some(other) => {
            let message =
                format!("The sandbox issues client_credentials tokens only, not {other:?}.");
            return Err(Failure::new(400, Kind::UnsupportedGrant, message));
        }
    }
    let (client_id, client_secret) = (
        client_id.unwrap_or_default(),
        client_secret.unwrap_or_default(),
    );
    let issued = credentials::issue(call, &client_id, &client_secret)?;
    Ok(json!({
        "access_token": issued.access_token,
        "token_type": "Bearer",
        "issued_at": issued.issued_at_ms,
        "expires_in": issued.expires_in,
        "status": "approved",
        "scope": text(&body, "scope").unwrap_or_else(|| "prices shipments tracking".into()),
        "issuer": "api.usps.com",
        "client_id": client_id,
        "application_name": "Waypost sandbox",
        "api_products": "[Domestic Prices, Shipping Options, Tracking]",
        "public_key": "",
    }))
}

#[cfg(test)]
mod tests;
