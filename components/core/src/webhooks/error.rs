//! Every way a carrier's webhook can be refused, and the one problem each gets.
//!
//! No variant carries a secret, a signature or a token: details are fixed sentences
//! or name config values (a header name, a JSON field).

use crate::kv::KvError;
use crate::problem::Problem;
use std::fmt;

/// Why `POST /webhooks/{carrier}` is refused. Every one of these is decided before
/// anything is stored or claimed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntakeError {
    /// No webhook intake is configured for the carrier: 404.
    UnknownCarrier,
    /// The signature (or token, or a Standard Webhooks header) is absent: 401. Names
    /// the header expected.
    MissingSignature(String),
    /// The signature or token does not match any active secret, or cannot be read: 401.
    BadSignature,
    /// The signed timestamp is outside the tolerance: 401.
    StaleTimestamp,
    /// The body is not JSON or not a tracking event this carrier sends: 400. Says
    /// what is wrong (a field name), never a value.
    InvalidPayload(String),
    /// Neither the path nor the payload names a tenant that uses this carrier: 404.
    UnknownTenant,
    /// The path names one tenant and the payload an account another tenant owns: 403.
    AccountOfAnotherTenant,
    /// The intake cannot verify anything (no secret is set, a `whsec_` secret is not
    /// base64): 500, for the operator. The reason is for logs only.
    Misconfigured(String),
    /// The key-value store failed: 503, the carrier retries. For logs only.
    Unavailable(String),
}

impl IntakeError {
    pub fn status(&self) -> u16 {
        match self {
            IntakeError::UnknownCarrier | IntakeError::UnknownTenant => 404,
            IntakeError::MissingSignature(_)
            | IntakeError::BadSignature
            | IntakeError::StaleTimestamp => 401,
            IntakeError::InvalidPayload(_) => 400,
            IntakeError::AccountOfAnotherTenant => 403,
            IntakeError::Misconfigured(_) => 500,
            IntakeError::Unavailable(_) => 503,
        }
    }

    /// The stable suffix of the problem `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            IntakeError::UnknownCarrier => "unknown-carrier",
            IntakeError::MissingSignature(_) => "missing-signature",
            IntakeError::BadSignature => "bad-signature",
            IntakeError::StaleTimestamp => "stale-timestamp",
            IntakeError::InvalidPayload(_) => "invalid-payload",
            IntakeError::UnknownTenant => "unknown-tenant",
            IntakeError::AccountOfAnotherTenant => "account-of-another-tenant",
            IntakeError::Misconfigured(_) => "internal",
            IntakeError::Unavailable(_) => "store-unavailable",
        }
    }

    fn title(&self) -> &'static str {
        match self.status() {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        }
    }

    /// The problem's `detail`.
    pub fn description(&self) -> String {
        match self {
            IntakeError::UnknownCarrier => {
                "No webhook intake is configured for this carrier.".into()
            }
            IntakeError::MissingSignature(header) => {
                format!("The request has no `{header}` header.")
            }
            IntakeError::BadSignature => "The webhook signature does not verify.".into(),
            IntakeError::StaleTimestamp => {
                "The webhook timestamp is outside the accepted window.".into()
            }
            IntakeError::InvalidPayload(what) => format!("The payload is not readable: {what}."),
            IntakeError::UnknownTenant => {
                "No tenant using this carrier is named by the path or the payload.".into()
            }
            IntakeError::AccountOfAnotherTenant => {
                "The payload names a carrier account of another tenant than the path.".into()
            }
            IntakeError::Misconfigured(_) => "The webhook intake is misconfigured.".into(),
            IntakeError::Unavailable(_) => "Webhook intake is temporarily unavailable.".into(),
        }
    }

    /// The problem+json body.
    pub fn problem(&self, request_id: Option<&str>) -> Problem {
        Problem::new(self.status(), self.kind(), self.title())
            .with_detail(self.description())
            .with_request_id(request_id)
    }

    /// The `WWW-Authenticate` value of a 401 (RFC 9110 requires one); `None` otherwise.
    pub fn www_authenticate(&self) -> Option<&'static str> {
        (self.status() == 401).then_some("Signature realm=\"waypost-webhooks\"")
    }
}

impl fmt::Display for IntakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // For logs: the internal reason, which names no secret either.
            IntakeError::Misconfigured(reason) | IntakeError::Unavailable(reason) => {
                write!(f, "{} ({reason})", self.description())
            }
            _ => f.write_str(&self.description()),
        }
    }
}

impl std::error::Error for IntakeError {}

impl From<KvError> for IntakeError {
    fn from(e: KvError) -> Self {
        IntakeError::Unavailable(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_maps_to_one_problem() {
        let cases = [
            (IntakeError::UnknownCarrier, 404, "unknown-carrier"),
            (
                IntakeError::MissingSignature("x-hmac".into()),
                401,
                "missing-signature",
            ),
            (IntakeError::BadSignature, 401, "bad-signature"),
            (IntakeError::StaleTimestamp, 401, "stale-timestamp"),
            (
                IntakeError::InvalidPayload("not JSON".into()),
                400,
                "invalid-payload",
            ),
            (IntakeError::UnknownTenant, 404, "unknown-tenant"),
            (
                IntakeError::Misconfigured("no secret".into()),
                500,
                "internal",
            ),
            (
                IntakeError::Unavailable("down".into()),
                503,
                "store-unavailable",
            ),
        ];
        for (error, status, kind) in cases {
            let p = error.problem(Some("req-1"));
            assert_eq!(p.status, status);
            assert_eq!(p.type_uri, format!("{}{kind}", crate::problem::TYPE_BASE));
            assert_eq!(p.request_id.as_deref(), Some("req-1"));
            assert_eq!(error.www_authenticate().is_some(), status == 401);
        }
    }

    #[test]
    fn internal_reasons_stay_out_of_the_problem() {
        let p = IntakeError::Misconfigured("variable fedex_webhook_secret is empty".into())
            .problem(None);
        assert!(!p.to_json().contains("fedex_webhook_secret"));
        let p = IntakeError::Unavailable("redis at 10.0.0.1 refused".into()).problem(None);
        assert!(!p.to_json().contains("10.0.0.1"));
    }
}
