//! Every way authentication or authorization can fail, and the one answer each gets:
//! a status, a `WWW-Authenticate` challenge (RFC 6750, RFC 9449 §7.1) and a problem
//! (RFC 9457).
//!
//! No variant carries any part of a credential: descriptions are fixed sentences (or
//! name a config value, such as the tenant claim), so neither a response nor a log line
//! built from an `AuthError` can echo a key, a token or a signature.

use crate::kv::KvError;
use crate::problem::Problem;
use std::fmt;

/// The realm in every challenge.
pub const REALM: &str = "waypost";

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    /// Neither `Authorization` nor `X-Api-Key` was sent.
    MissingCredential,
    /// A credential was sent but cannot be read (RFC 6750 `invalid_request`).
    Malformed(Malformed),
    /// A readable credential that is not accepted (RFC 6750 `invalid_token`).
    Refused(Refusal),
    /// A DPoP proof that is missing or not accepted (RFC 9449 `invalid_dpop_proof`).
    Proof(ProofRefusal),
    /// The caller lacks scopes the route requires: 403 `insufficient_scope`.
    InsufficientScope { required: Vec<String> },
    /// Behind auth: identity headers missing or not signed by auth.
    Identity(IdentityRefusal),
    /// The key-value store failed: authentication fails closed with 503.
    Unavailable(String),
    /// A configured key or secret cannot be used (a missing variable, a secret
    /// shorter than the algorithm allows): 500, for the operator to fix.
    Misconfigured(String),
}

/// Credentials that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Both `Authorization` and `X-Api-Key`.
    TwoCredentials,
    /// A credential header sent more than once.
    RepeatedHeader,
    /// `Authorization` with a scheme other than `Bearer` or `DPoP`.
    UnsupportedScheme,
    /// `Authorization` without a token after the scheme, or with spaces inside it.
    BadAuthorization,
    /// An API key not of the form `<tenant>_<secret>`.
    BadApiKey,
    /// A bearer token that is not a compact JWS.
    NotAJwt,
}

/// Readable credentials that are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    UnknownApiKey,
    ApiKeyRevoked,
    ApiKeyExpired,
    /// The key's `<tenant>_` prefix names another tenant than the one owning the key.
    ApiKeyOfAnotherTenant,
    /// The tenant (owning the key, or named by the token) does not exist.
    UnknownTenant,
    /// No issuer has the token's `iss`.
    UnknownIssuer,
    /// The tenant named by the token does not list the token's issuer.
    IssuerNotTrusted,
    /// No key of the issuer has the token's `kid` (or the token has none and the
    /// issuer has several keys).
    UnknownKey,
    /// The token's `alg` is not the one pinned for its key (`none` included).
    AlgorithmMismatch,
    BadSignature,
    Expired,
    /// `nbf` or `iat` is in the future beyond the leeway.
    NotYetValid,
    /// `iat` is older than the issuer's `max_age_secs`.
    TooOld,
    WrongAudience,
    WrongIssuer,
    /// A required claim is absent (the claim's name).
    MissingClaim(String),
    /// A claim has the wrong type or an unusable value (the claim's name).
    InvalidClaim(String),
    /// A `cnf` confirmation other than `jkt` (e.g. an mTLS `x5t#S256`): the binding
    /// cannot be checked here, so the token is not accepted at all.
    UnsupportedBinding,
    /// A DPoP-bound token under the `Bearer` scheme (RFC 9449 §7.2).
    BoundTokenAsBearer,
    /// The issuer requires DPoP and the token is not bound.
    BindingRequired,
    /// The `DPoP` scheme with a token that has no `cnf.jkt`.
    UnboundTokenWithDpopScheme,
    /// The token could not be verified for another reason (a signature that is not
    /// base64url, claims that are not JSON, a `crit` header, ...).
    Unreadable,
}

/// DPoP proofs that are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofRefusal {
    /// A bound token without a `DPoP` header.
    Missing,
    /// More than one `DPoP` header.
    Repeated,
    /// Not a compact JWS with JSON header and claims.
    Malformed,
    /// Header `typ` is not `dpop+jwt`.
    WrongType,
    /// Header `alg` is not one of [`super::dpop::PROOF_ALGS`].
    UnsupportedAlg,
    /// Header `jwk` is missing, private, or not a key of the `alg`.
    BadKey,
    /// The `jwk`'s RFC 7638 thumbprint is not the token's `cnf.jkt`.
    KeyMismatch,
    BadSignature,
    /// A required proof claim is absent or not of its type.
    MissingClaim(&'static str),
    WrongMethod,
    WrongUrl,
    /// `iat` outside the acceptance window.
    Stale,
    /// `ath` is not the hash of the presented access token.
    WrongAccessTokenHash,
    /// The `jti` was already used within the window.
    Replayed,
}

/// Identity headers refused by a component behind auth.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityRefusal {
    /// No identity headers: the request did not come through auth.
    Missing,
    /// Identity headers whose MAC does not verify, repeated, or unreadable.
    Forged,
}

impl Malformed {
    pub fn description(self) -> &'static str {
        match self {
            Malformed::TwoCredentials => {
                "Send one credential: either Authorization or X-Api-Key, not both."
            }
            Malformed::RepeatedHeader => "A credential header was sent more than once.",
            Malformed::UnsupportedScheme => {
                "The Authorization scheme is not supported: use Bearer or DPoP."
            }
            Malformed::BadAuthorization => {
                "The Authorization header must be the scheme, one space and the token."
            }
            Malformed::BadApiKey => "The API key is not of the form <tenant>_<secret>.",
            Malformed::NotAJwt => "The bearer token is not a JWT.",
        }
    }
}

impl Refusal {
    pub fn description(&self) -> String {
        let fixed = match self {
            Refusal::UnknownApiKey => "The API key is not known.",
            Refusal::ApiKeyRevoked => "The API key has been revoked.",
            Refusal::ApiKeyExpired => "The API key has expired.",
            Refusal::ApiKeyOfAnotherTenant => "The API key's prefix does not name its tenant.",
            Refusal::UnknownTenant => "The tenant does not exist.",
            Refusal::UnknownIssuer => "The token's issuer is not known.",
            Refusal::IssuerNotTrusted => "The tenant does not trust the token's issuer.",
            Refusal::UnknownKey => "No key of the issuer matches the token's kid.",
            Refusal::AlgorithmMismatch => "The token's alg is not the algorithm of its key.",
            Refusal::BadSignature => "The token's signature does not verify.",
            Refusal::Expired => "The token has expired.",
            Refusal::NotYetValid => "The token is not valid yet.",
            Refusal::TooOld => "The token was issued too long ago.",
            Refusal::WrongAudience => "The token is not meant for this audience.",
            Refusal::WrongIssuer => "The token's iss does not match its issuer.",
            Refusal::MissingClaim(claim) => return format!("The token has no `{claim}` claim."),
            Refusal::InvalidClaim(claim) => {
                return format!("The token's `{claim}` claim is not valid.");
            }
            Refusal::UnsupportedBinding => {
                "The token is bound by a confirmation method other than DPoP."
            }
            Refusal::BoundTokenAsBearer => {
                "The token is DPoP-bound: send it with the DPoP scheme and a DPoP proof."
            }
            Refusal::BindingRequired => "The issuer requires DPoP-bound tokens.",
            Refusal::UnboundTokenWithDpopScheme => {
                "The DPoP scheme needs a DPoP-bound token (cnf.jkt)."
            }
            Refusal::Unreadable => "The token could not be verified.",
        };
        fixed.to_string()
    }
}

impl ProofRefusal {
    pub fn description(&self) -> String {
        let fixed = match self {
            ProofRefusal::Missing => "The token is DPoP-bound and the request has no DPoP proof.",
            ProofRefusal::Repeated => "Send exactly one DPoP header.",
            ProofRefusal::Malformed => "The DPoP proof is not a JWT.",
            ProofRefusal::WrongType => "The DPoP proof's typ must be dpop+jwt.",
            ProofRefusal::UnsupportedAlg => "The DPoP proof's alg is not supported.",
            ProofRefusal::BadKey => "The DPoP proof's jwk is not a public key of its alg.",
            ProofRefusal::KeyMismatch => {
                "The DPoP proof's key is not the key the token is bound to."
            }
            ProofRefusal::BadSignature => "The DPoP proof's signature does not verify.",
            ProofRefusal::MissingClaim(claim) => {
                return format!("The DPoP proof has no valid `{claim}` claim.");
            }
            ProofRefusal::WrongMethod => "The DPoP proof's htm is not the request method.",
            ProofRefusal::WrongUrl => "The DPoP proof's htu is not the request URL.",
            ProofRefusal::Stale => "The DPoP proof's iat is outside the accepted window.",
            ProofRefusal::WrongAccessTokenHash => {
                "The DPoP proof's ath is not the hash of the access token."
            }
            ProofRefusal::Replayed => "The DPoP proof has been used before.",
        };
        fixed.to_string()
    }
}

impl AuthError {
    pub fn status(&self) -> u16 {
        match self {
            AuthError::InsufficientScope { .. } => 403,
            AuthError::Unavailable(_) => 503,
            AuthError::Misconfigured(_) => 500,
            _ => 401,
        }
    }

    /// The sentence for `error_description` and the problem's `detail`.
    pub fn description(&self) -> String {
        match self {
            AuthError::MissingCredential => {
                "Send a credential: Authorization: Bearer <token> or X-Api-Key: <key>.".into()
            }
            AuthError::Malformed(m) => m.description().into(),
            AuthError::Refused(r) => r.description(),
            AuthError::Proof(p) => p.description(),
            AuthError::InsufficientScope { required } => {
                format!("This route requires the scopes: {}.", required.join(" "))
            }
            AuthError::Identity(IdentityRefusal::Missing) => {
                "The request did not pass through authentication.".into()
            }
            AuthError::Identity(IdentityRefusal::Forged) => {
                "The identity headers are not signed by authentication.".into()
            }
            AuthError::Unavailable(_) => "Authentication is temporarily unavailable.".into(),
            AuthError::Misconfigured(_) => "Authentication is misconfigured.".into(),
        }
    }

    /// The `WWW-Authenticate` value, for 401 and 403 answers.
    pub fn www_authenticate(&self) -> Option<String> {
        let bearer = |error: &str| {
            format!(
                "Bearer realm=\"{REALM}\", error=\"{error}\", error_description=\"{}\"",
                quoted(&self.description())
            )
        };
        Some(match self {
            // RFC 6750 §3.1: no error code when the request had no credential.
            AuthError::MissingCredential | AuthError::Identity(IdentityRefusal::Missing) => {
                format!("Bearer realm=\"{REALM}\"")
            }
            AuthError::Malformed(_) => bearer("invalid_request"),
            AuthError::Refused(_) | AuthError::Identity(IdentityRefusal::Forged) => {
                bearer("invalid_token")
            }
            AuthError::Proof(_) => format!(
                "DPoP realm=\"{REALM}\", algs=\"{}\", error=\"invalid_dpop_proof\", \
                 error_description=\"{}\"",
                super::dpop::PROOF_ALGS.join(" "),
                quoted(&self.description())
            ),
            AuthError::InsufficientScope { required } => format!(
                "{}, scope=\"{}\"",
                bearer("insufficient_scope"),
                quoted(&required.join(" "))
            ),
            AuthError::Unavailable(_) | AuthError::Misconfigured(_) => return None,
        })
    }

    /// The problem+json body. Internal reasons (store errors, variable names) stay out.
    pub fn problem(&self, request_id: Option<&str>) -> Problem {
        let problem = match self.status() {
            403 => Problem::new(403, "insufficient-scope", "Forbidden"),
            503 => Problem::new(503, "store-unavailable", "Service Unavailable"),
            500 => Problem::new(500, "internal", "Internal Server Error"),
            _ => Problem::new(401, "unauthorized", "Unauthorized"),
        };
        problem
            .with_detail(self.description())
            .with_request_id(request_id)
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // For logs: the internal reason, which names no credential either.
            AuthError::Unavailable(reason) | AuthError::Misconfigured(reason) => {
                write!(f, "{} ({reason})", self.description())
            }
            _ => f.write_str(&self.description()),
        }
    }
}

impl std::error::Error for AuthError {}

impl From<KvError> for AuthError {
    fn from(e: KvError) -> Self {
        AuthError::Unavailable(e.to_string())
    }
}

/// Text safe inside an RFC 7230 quoted-string of a challenge: RFC 6750 allows
/// %x20-21 / %x23-5B / %x5D-7E in `error_description` and `scope`.
fn quoted(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            ' ' | '!' | '#'..='[' | ']'..='~' => c,
            _ => '?',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_error() -> Vec<AuthError> {
        let mut all = vec![
            AuthError::MissingCredential,
            AuthError::InsufficientScope {
                required: vec!["rates".into(), "carriers".into()],
            },
            AuthError::Identity(IdentityRefusal::Missing),
            AuthError::Identity(IdentityRefusal::Forged),
            AuthError::Unavailable("key-value store: down".into()),
            AuthError::Misconfigured("variable `dev_jwt_secret` is not set".into()),
        ];
        all.extend(
            [
                Malformed::TwoCredentials,
                Malformed::RepeatedHeader,
                Malformed::UnsupportedScheme,
                Malformed::BadAuthorization,
                Malformed::BadApiKey,
                Malformed::NotAJwt,
            ]
            .map(AuthError::Malformed),
        );
        all.extend(
            [
                Refusal::UnknownApiKey,
                Refusal::ApiKeyRevoked,
                Refusal::ApiKeyExpired,
                Refusal::ApiKeyOfAnotherTenant,
                Refusal::UnknownTenant,
                Refusal::UnknownIssuer,
                Refusal::IssuerNotTrusted,
                Refusal::UnknownKey,
                Refusal::AlgorithmMismatch,
                Refusal::BadSignature,
                Refusal::Expired,
                Refusal::NotYetValid,
                Refusal::TooOld,
                Refusal::WrongAudience,
                Refusal::WrongIssuer,
                Refusal::MissingClaim("tenant".into()),
                Refusal::InvalidClaim("scp".into()),
                Refusal::UnsupportedBinding,
                Refusal::BoundTokenAsBearer,
                Refusal::BindingRequired,
                Refusal::UnboundTokenWithDpopScheme,
                Refusal::Unreadable,
            ]
            .map(AuthError::Refused),
        );
        all.extend(
            [
                ProofRefusal::Missing,
                ProofRefusal::Repeated,
                ProofRefusal::Malformed,
                ProofRefusal::WrongType,
                ProofRefusal::UnsupportedAlg,
                ProofRefusal::BadKey,
                ProofRefusal::KeyMismatch,
                ProofRefusal::BadSignature,
                ProofRefusal::MissingClaim("jti"),
                ProofRefusal::WrongMethod,
                ProofRefusal::WrongUrl,
                ProofRefusal::Stale,
                ProofRefusal::WrongAccessTokenHash,
                ProofRefusal::Replayed,
            ]
            .map(AuthError::Proof),
        );
        all
    }

    #[test]
    fn an_expired_token_is_a_401_invalid_token_challenge() {
        let e = AuthError::Refused(Refusal::Expired);
        assert_eq!(e.status(), 401);
        assert_eq!(
            e.www_authenticate().unwrap(),
            "Bearer realm=\"waypost\", error=\"invalid_token\", \
             error_description=\"The token has expired.\""
        );
        let p = e.problem(Some("req-1"));
        assert_eq!(p.type_uri, "https://waypost.dev/problems/unauthorized");
        assert_eq!(p.status, 401);
        assert_eq!(p.request_id.as_deref(), Some("req-1"));
    }

    #[test]
    fn a_malformed_credential_is_invalid_request() {
        let e = AuthError::Malformed(Malformed::BadApiKey);
        assert_eq!(e.status(), 401);
        assert!(
            e.www_authenticate()
                .unwrap()
                .contains("error=\"invalid_request\"")
        );
    }

    #[test]
    fn no_credential_gets_a_challenge_without_an_error_code() {
        let e = AuthError::MissingCredential;
        assert_eq!(e.www_authenticate().unwrap(), "Bearer realm=\"waypost\"");
        assert_eq!(e.status(), 401);
    }

    #[test]
    fn a_missing_scope_is_403_naming_the_scopes() {
        let e = AuthError::InsufficientScope {
            required: vec!["rates".into()],
        };
        assert_eq!(e.status(), 403);
        let challenge = e.www_authenticate().unwrap();
        assert!(challenge.contains("error=\"insufficient_scope\""));
        assert!(challenge.ends_with("scope=\"rates\""));
        let p = e.problem(None);
        assert_eq!(
            p.type_uri,
            "https://waypost.dev/problems/insufficient-scope"
        );
        assert_eq!(p.status, 403);
    }

    #[test]
    fn a_dpop_failure_is_a_dpop_challenge_listing_the_algorithms() {
        let e = AuthError::Proof(ProofRefusal::Replayed);
        assert_eq!(
            e.www_authenticate().unwrap(),
            "DPoP realm=\"waypost\", algs=\"ES256 EdDSA\", error=\"invalid_dpop_proof\", \
             error_description=\"The DPoP proof has been used before.\""
        );
    }

    #[test]
    fn store_faults_fail_closed_without_internals() {
        let e = AuthError::Unavailable("key-value store: redis at 10.0.0.3 refused".into());
        assert_eq!(e.status(), 503);
        assert_eq!(e.www_authenticate(), None);
        let json = e.problem(None).to_json();
        assert!(!json.contains("10.0.0.3"), "{json}");
        let e = AuthError::Misconfigured("variable `dev_jwt_secret` is not set".into());
        assert_eq!(e.status(), 500);
        assert!(!e.problem(None).to_json().contains("dev_jwt_secret"));
    }

    #[test]
    fn every_challenge_is_a_valid_quoted_string() {
        for e in every_error() {
            if let Some(challenge) = e.www_authenticate() {
                for value in challenge.split('"').skip(1).step_by(2) {
                    assert!(
                        value
                            .chars()
                            .all(|c| matches!(c, ' ' | '!' | '#'..='[' | ']'..='~')),
                        "{value:?}"
                    );
                }
            }
            let p = e.problem(None);
            assert_eq!(p.status, e.status());
            assert!(p.type_uri.starts_with(crate::problem::TYPE_BASE));
        }
    }

    #[test]
    fn quoting_replaces_what_a_quoted_string_cannot_hold() {
        assert_eq!(quoted("a\"b\\c\nd"), "a?b?c?d");
    }
}
