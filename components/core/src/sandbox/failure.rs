//! Every refusal a simulated carrier gives, and how each carrier's API writes it.
//!
//! A handler says *what* went wrong ([`Failure`]); the endpoint's [`ErrorShape`] says how
//! the real API would put it on the wire (CARRIERS.md, "Errors" of each section).

use super::SandboxResponse;
use super::call::Call;
use serde_json::{Value, json};

/// What went wrong, independent of the carrier.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Kind {
    /// The body is not the JSON (or form) the endpoint reads.
    Malformed,
    /// A required field (dotted path in the carrier's own names) is absent or blank.
    MissingField(String),
    /// A field is present but unusable (not a number, unknown code, bad date, ...).
    InvalidField(String),
    /// The carrier offers no (requested) service between the two places.
    NoService,
    /// No client credentials, or no `Authorization` of the expected scheme.
    MissingCredentials,
    /// Credentials present but refused (`x-sandbox-reject-token`).
    RejectedCredentials,
    /// A `grant_type` the token endpoint does not serve.
    UnsupportedGrant,
    /// A tracking number the carrier does not know.
    UnknownShipment,
    NotFound,
    /// The path exists with other methods (the `Allow` value).
    MethodNotAllowed(&'static str),
    /// `x-sandbox-429`: too many requests, with the `Retry-After` seconds.
    RateLimited(u64),
    /// A 5xx: injected with `x-sandbox-fail` or `x-sandbox-error-rate`.
    Unavailable,
    /// Any other status injected with `x-sandbox-status`.
    Injected,
}

/// A refusal: the status, what went wrong, a human message, and optionally the exact
/// carrier code and `WWW-Authenticate` challenge when the endpoint knows better than
/// the shape's default.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Failure {
    pub status: u16,
    pub kind: Kind,
    pub message: String,
    pub code: Option<&'static str>,
    pub challenge: Option<String>,
}

impl Failure {
    pub fn new(status: u16, kind: Kind, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            code: None,
            challenge: None,
        }
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(400, Kind::Malformed, message)
    }

    pub fn missing(field: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("Missing or empty required field: {field}");
        Self::new(400, Kind::MissingField(field), message)
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(400, Kind::InvalidField(field.into()), message)
    }

    pub fn no_service(message: impl Into<String>) -> Self {
        Self::new(400, Kind::NoService, message)
    }

    pub fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    pub fn with_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.challenge = Some(challenge.into());
        self
    }

    /// The field a 400 is about, if any.
    fn field(&self) -> Option<&str> {
        match &self.kind {
            Kind::MissingField(f) | Kind::InvalidField(f) => Some(f),
            _ => None,
        }
    }
}

/// The error format of one carrier API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ErrorShape {
    /// `{"response":{"errors":[{"code","message"}]}}` (OAuth, Rating, Tracking).
    Ups,
    /// `{"transactionId","customerTransactionId"?,"errors":[{"code","message","parameterList"?}]}`.
    Fedex,
    /// MyDHL: `application/problem+json`, `{"instance","detail","title","message","status":"400"}`.
    DhlExpress,
    /// Shipment Tracking – Unified: `{"title","detail","status":404,"instance"}`.
    DhlTracking,
    /// USPS v3 APIs: `{"apiVersion","error":{"code","message","errors":[...]}}`.
    Usps { api_version: &'static str },
    /// USPS OAuth: `{"error","error_description"}`.
    UspsOAuth,
}

/// The response for `failure` in `shape`.
pub(crate) fn render(shape: ErrorShape, failure: &Failure, call: &Call<'_>) -> SandboxResponse {
    let (body, content_type) = match shape {
        ErrorShape::Ups => (ups_body(failure), JSON),
        ErrorShape::Fedex => (fedex_body(failure, call), JSON),
        ErrorShape::DhlExpress => (dhl_express_body(failure, call), PROBLEM_JSON),
        ErrorShape::DhlTracking => (dhl_tracking_body(failure, call), PROBLEM_JSON),
        ErrorShape::Usps { api_version } => (usps_body(failure, api_version), JSON),
        ErrorShape::UspsOAuth => (usps_oauth_body(failure), JSON),
    };
    let mut headers = vec![("content-type".to_string(), content_type.to_string())];
    if failure.status == 401 {
        let challenge = failure
            .challenge
            .clone()
            .unwrap_or_else(|| format!("Bearer realm=\"{}\"", call.carrier.as_str()));
        headers.push(("www-authenticate".into(), challenge));
    }
    match failure.kind {
        Kind::RateLimited(secs) => headers.push(("retry-after".into(), secs.to_string())),
        Kind::MethodNotAllowed(allow) => headers.push(("allow".into(), allow.into())),
        _ => {}
    }
    SandboxResponse {
        status: failure.status,
        headers,
        body: body.to_string().into_bytes(),
    }
}

pub(crate) const JSON: &str = "application/json";
const PROBLEM_JSON: &str = "application/problem+json";

fn ups_body(f: &Failure) -> Value {
    let default = match &f.kind {
        Kind::Malformed => Some("10001"),
        Kind::MissingField(_) | Kind::InvalidField(_) => Some("10002"),
        Kind::NoService => Some("111100"),
        Kind::MissingCredentials => Some("UJ0001"),
        Kind::RejectedCredentials => Some("250002"),
        Kind::UnsupportedGrant => Some("10400"),
        Kind::UnknownShipment => Some("TW0001"),
        Kind::RateLimited(_) => Some("10429"),
        Kind::Unavailable => Some("10004"),
        Kind::NotFound | Kind::MethodNotAllowed(_) | Kind::Injected => None,
    };
    let code = f
        .code
        .or(default)
        .map_or_else(|| f.status.to_string(), str::to_string);
    json!({ "response": { "errors": [ { "code": code, "message": f.message } ] } })
}

fn fedex_body(f: &Failure, call: &Call<'_>) -> Value {
    let code = f.code.unwrap_or(match (&f.kind, f.status) {
        (Kind::MissingCredentials | Kind::RejectedCredentials, _) | (_, 401) => {
            "NOT.AUTHORIZED.ERROR"
        }
        (Kind::UnknownShipment, _) | (Kind::NotFound, _) | (_, 404) => "NOT.FOUND.ERROR",
        (Kind::MethodNotAllowed(_), _) | (_, 405) => "METHOD.NOT.ALLOWED.ERROR",
        (Kind::RateLimited(_), _) | (_, 429) => "TOO.MANY.REQUESTS.ERROR",
        (_, 403) => "FORBIDDEN.ERROR",
        (_, 503) => "SERVICE.UNAVAILABLE.ERROR",
        (_, 500..) => "INTERNAL.SERVER.ERROR",
        (Kind::UnsupportedGrant, _) => "BAD.REQUEST.ERROR",
        _ => "INVALID.INPUT.EXCEPTION",
    });
    let mut error = json!({ "code": code, "message": f.message });
    if let Some(field) = f.field() {
        error["parameterList"] = json!([{ "key": "field", "value": field }]);
    }
    let mut body = json!({ "transactionId": call.transaction_id(), "errors": [error] });
    if let Some(id) = call.header("x-customer-transaction-id") {
        body["customerTransactionId"] = json!(id);
    }
    body
}

/// The reason phrase of a status (`title` of the DHL problems; MyDHL writes "Bad request").
fn title(status: u16) -> &'static str {
    match status {
        400 => "Bad request",
        s => http::StatusCode::from_u16(s)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("Error"),
    }
}

fn dhl_express_body(f: &Failure, call: &Call<'_>) -> Value {
    let message = match f.status {
        400 => "Wrong input parameters",
        500.. => "Process errors",
        s => title(s),
    };
    let mut body = json!({
        "instance": format!("/expressapi{}", super::dhl::express_path(call.path())),
        "detail": f.message,
        "title": title(f.status),
        "message": message,
        "status": f.status.to_string(),
    });
    if let Some(field) = f.field() {
        body["additionalDetails"] = json!([format!("{field}: {}", f.message)]);
    }
    body
}

fn dhl_tracking_body(f: &Failure, call: &Call<'_>) -> Value {
    let title = match f.kind {
        Kind::UnknownShipment => "No result found",
        _ => title(f.status),
    };
    json!({ "title": title, "detail": f.message, "status": f.status, "instance": call.path() })
}

fn usps_body(f: &Failure, api_version: &str) -> Value {
    let status = f.status.to_string();
    let code = f.code.map(str::to_string).unwrap_or_else(|| match f.kind {
        Kind::MissingField(_) => "030010".into(),
        Kind::NoService => "030020".into(),
        Kind::UnknownShipment => "150002".into(),
        _ => status.clone(),
    });
    let mut detail = json!({
        "status": status,
        "code": code,
        "title": title(f.status),
        "detail": f.message,
    });
    if let Some(field) = f.field() {
        detail["source"] = json!({ "parameter": field, "example": "" });
    }
    json!({
        "apiVersion": api_version,
        "error": { "code": status, "message": f.message, "errors": [detail] },
    })
}

fn usps_oauth_body(f: &Failure) -> Value {
    let error = match (&f.kind, f.status) {
        (Kind::MissingCredentials | Kind::RejectedCredentials, _) | (_, 401) => "invalid_client",
        (Kind::UnsupportedGrant, _) => "unsupported_grant_type",
        (Kind::RateLimited(_), _) | (_, 429 | 503) => "temporarily_unavailable",
        (_, 500..) => "server_error",
        (_, 403) => "access_denied",
        _ => "invalid_request",
    };
    json!({ "error": error, "error_description": f.message })
}
