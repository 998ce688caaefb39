//! What an adapter hands the component and gets back: the upstream call as data
//! ([`CarrierHttpRequest`]), the carrier's answer ([`CarrierResponse`]), and what went
//! wrong ([`CarrierError`], [`BuildError`]), with the carrier's own message kept in a
//! form safe to show the caller.

use crate::config::HttpUrl;
use std::time::{Duration, UNIX_EPOCH};

/// Longest carrier message passed on, in characters.
pub const MAX_MESSAGE_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// One upstream call, as data: the component sends it to the carrier's upstream with
/// the `Authorization` header from [`super::auth::authorization_header`].
#[derive(Debug, Clone, PartialEq)]
pub struct CarrierHttpRequest {
    pub method: Method,
    /// Relative to the upstream's base URL (`Upstream.url`), starting with `/`.
    pub path: String,
    /// Query parameters, not yet encoded, in order.
    pub query: Vec<(String, String)>,
    /// Every header but `Authorization`; names in lower case.
    pub headers: Vec<(String, String)>,
    /// The JSON body, if any (`content-type: application/json` is among the headers).
    pub body: Option<serde_json::Value>,
}

impl CarrierHttpRequest {
    /// `POST path` with a JSON body (and `content-type`/`accept: application/json`).
    pub fn post_json(path: impl Into<String>, body: serde_json::Value) -> Self {
        CarrierHttpRequest {
            method: Method::Post,
            path: path.into(),
            query: Vec::new(),
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("accept".into(), "application/json".into()),
            ],
            body: Some(body),
        }
    }

    /// Adds a header (name in lower case).
    pub fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_ascii_lowercase(), value.into()));
        self
    }

    /// The absolute URL under `base` (a trailing `/` of the base is dropped).
    pub fn url(&self, base: &HttpUrl) -> String {
        let mut url = format!("{}{}", base.base(), self.path);
        if !self.query.is_empty() {
            let query = form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&self.query)
                .finish();
            url.push('?');
            url.push_str(&query);
        }
        url
    }

    /// The body as bytes.
    pub fn body_bytes(&self) -> Option<Vec<u8>> {
        self.body
            .as_ref()
            .map(|b| serde_json::to_vec(b).expect("a JSON value serializes"))
    }

    /// The value of a header (names compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What an adapter needs besides the rate request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CarrierContext {
    /// The carrier id of the config (`ups`), put on every quote.
    pub carrier: String,
    /// The account the call bills: the tenant's own account, or the platform's
    /// `account_number` (`routing::CredentialPlan::account_number`). UPS: shipper number;
    /// FedEx and DHL: account number (required); USPS: EPS account (optional).
    pub account_number: Option<String>,
    /// The request id: UPS `transId`, FedEx `x-customer-transaction-id`, DHL
    /// `Message-Reference` (each trimmed to what the carrier accepts).
    pub transaction_id: String,
}

/// A carrier's answer, as the component received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CarrierResponse<'a> {
    pub status: u16,
    pub body: &'a [u8],
    /// `Retry-After`, read with [`retry_after_secs`].
    pub retry_after_secs: Option<u32>,
}

/// A `Retry-After` value in seconds from now: delta-seconds, or an HTTP-date
/// (`now_unix` in seconds). A date in the past gives 0.
pub fn retry_after_secs(value: &str, now_unix: i64) -> Option<u32> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u32>() {
        return Some(secs);
    }
    let at = httpdate::parse_http_date(value).ok()?;
    let at = at
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let at = i64::try_from(at).ok()?;
    Some(u32::try_from((at - now_unix).max(0)).unwrap_or(u32::MAX))
}

/// Why a carrier gave no quotes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CarrierError {
    /// 429: the carrier's quota for this account is spent.
    RateLimited {
        retry_after_secs: Option<u32>,
        message: String,
    },
    /// 401 or 403 (or a refused token request): the account's credentials were
    /// refused. Counts toward the tenant's credential breaker, not the carrier's.
    CredentialsRefused { status: u16, message: String },
    /// Another 4xx: the carrier refused this shipment (bad postal code, no service).
    Rejected { status: u16, message: String },
    /// 5xx or another unexpected status: the carrier failed.
    Failed {
        status: u16,
        retry_after_secs: Option<u32>,
        message: String,
    },
    /// A success status with a body that is not the carrier's answer.
    Malformed { message: String },
}

impl CarrierError {
    /// The error for a non-2xx status, with the carrier's message (already extracted
    /// from its error format; `None` when the body had none).
    pub fn from_status(
        status: u16,
        message: Option<String>,
        retry_after_secs: Option<u32>,
    ) -> Self {
        let message = message
            .map(|m| sanitize_message(&m))
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| format!("the carrier answered HTTP {status}"));
        match status {
            429 => CarrierError::RateLimited {
                retry_after_secs,
                message,
            },
            401 | 403 => CarrierError::CredentialsRefused { status, message },
            400..=499 => CarrierError::Rejected { status, message },
            _ => CarrierError::Failed {
                status,
                retry_after_secs,
                message,
            },
        }
    }

    /// A 2xx body that could not be read.
    pub fn malformed(reason: impl std::fmt::Display) -> Self {
        CarrierError::Malformed {
            message: sanitize_message(&format!("unreadable carrier answer: {reason}")),
        }
    }

    /// The message for the caller (sanitized, at most [`MAX_MESSAGE_CHARS`]).
    pub fn message(&self) -> &str {
        match self {
            CarrierError::RateLimited { message, .. }
            | CarrierError::CredentialsRefused { message, .. }
            | CarrierError::Rejected { message, .. }
            | CarrierError::Failed { message, .. }
            | CarrierError::Malformed { message } => message,
        }
    }

    /// Whether this counts toward the carrier-wide breaker (the carrier is failing,
    /// whoever calls it).
    pub fn is_carrier_failure(&self) -> bool {
        matches!(
            self,
            CarrierError::Failed { .. } | CarrierError::Malformed { .. }
        )
    }

    /// Whether this counts toward the tenant's credential breaker.
    pub fn is_credential_failure(&self) -> bool {
        matches!(self, CarrierError::CredentialsRefused { .. })
    }

    /// `Retry-After` from the carrier, if it sent one.
    pub fn retry_after_secs(&self) -> Option<u32> {
        match self {
            CarrierError::RateLimited {
                retry_after_secs, ..
            }
            | CarrierError::Failed {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => None,
        }
    }
}

/// Why no upstream call can be built for this request: the carrier cannot rate it
/// (reported as the carrier's `error` status; nothing is sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// FedEx and DHL rate only with an account number, and the account has none.
    MissingAccountNumber,
    /// The request is outside what the carrier's rating API covers.
    Unsupported(String),
}

impl BuildError {
    pub fn message(&self) -> String {
        match self {
            BuildError::MissingAccountNumber => {
                "no account number is configured for this carrier".to_string()
            }
            BuildError::Unsupported(why) => why.clone(),
        }
    }
}

/// A carrier's text made safe to pass on: control characters and runs of whitespace
/// become one space, and it is cut to [`MAX_MESSAGE_CHARS`] characters (with `…`).
pub fn sanitize_message(text: &str) -> String {
    let mut out = String::new();
    let mut count = 0;
    for word in text.split(|c: char| c.is_whitespace() || c.is_control()) {
        if word.is_empty() {
            continue;
        }
        for c in (!out.is_empty())
            .then_some(' ')
            .into_iter()
            .chain(word.chars())
        {
            if count == MAX_MESSAGE_CHARS {
                out.pop();
                out.push('…');
                return out;
            }
            out.push(c);
            count += 1;
        }
    }
    out
}

/// A header-safe token of at most `max` characters from `id` (letters, digits, `-`,
/// `_`, `.`), for carriers' transaction-id headers.
pub(crate) fn header_token(id: &str, max: usize) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_single_line_and_capped() {
        assert_eq!(
            sanitize_message("  Invalid\r\n postal\tcode \u{1b}[31m "),
            "Invalid postal code [31m"
        );
        let long = "x".repeat(500);
        let cut = sanitize_message(&long);
        assert_eq!(cut.chars().count(), MAX_MESSAGE_CHARS);
        assert!(cut.ends_with('…'));
        assert_eq!(sanitize_message(&"é".repeat(300)).chars().count(), 200);
    }

    #[test]
    fn statuses_map_to_error_kinds() {
        let e = CarrierError::from_status(429, Some("Too Many Requests".into()), Some(30));
        assert_eq!(e.retry_after_secs(), Some(30));
        assert!(matches!(e, CarrierError::RateLimited { .. }));
        let e = CarrierError::from_status(401, None, None);
        assert!(e.is_credential_failure() && !e.is_carrier_failure());
        assert_eq!(e.message(), "the carrier answered HTTP 401");
        let e = CarrierError::from_status(400, Some("bad zip".into()), None);
        assert!(!e.is_carrier_failure() && !e.is_credential_failure());
        assert!(CarrierError::from_status(503, None, None).is_carrier_failure());
    }

    #[test]
    fn retry_after_in_seconds_or_http_date() {
        assert_eq!(retry_after_secs("30", 0), Some(30));
        // Sun, 06 Nov 1994 08:49:37 GMT = 784111777.
        assert_eq!(
            retry_after_secs("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_767),
            Some(10)
        );
        assert_eq!(
            retry_after_secs("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_800),
            Some(0)
        );
        assert_eq!(retry_after_secs("soon", 0), None);
    }

    #[test]
    fn urls_join_base_path_and_query() {
        let call = CarrierHttpRequest {
            method: Method::Get,
            path: "/rates".into(),
            query: vec![("a".into(), "x y".into()), ("b".into(), "1&2".into())],
            headers: vec![],
            body: None,
        };
        let base = HttpUrl("http://sandbox.spin.internal/dhl/".into());
        assert_eq!(
            call.url(&base),
            "http://sandbox.spin.internal/dhl/rates?a=x+y&b=1%262"
        );
    }
}
