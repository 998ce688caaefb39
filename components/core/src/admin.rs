//! The admin API's decisions: who may call it and what a config push answers.

use crate::config::ConfigError;
use crate::config::store::{Applied, ApplyConfigError};
use crate::problem::Problem;
use crate::snapshot::Pointer;
use serde::Serialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether the admin API may be used by a request carrying `authorization`.
#[derive(Debug, PartialEq, Eq)]
pub enum AdminAccess {
    Granted,
    /// No admin token is configured: the admin API is off.
    Disabled,
    /// Missing, malformed or wrong credentials.
    Denied,
}

/// Checks `Authorization: Bearer <token>` against the configured admin token, in
/// constant time (both sides are hashed first, so lengths do not leak either).
pub fn admin_access(authorization: Option<&str>, configured: &str) -> AdminAccess {
    if configured.is_empty() {
        return AdminAccess::Disabled;
    }
    let Some(presented) = authorization.and_then(|h| h.strip_prefix("Bearer ")) else {
        return AdminAccess::Denied;
    };
    let (a, b) = (Sha256::digest(presented.trim()), Sha256::digest(configured));
    if bool::from(a.ct_eq(&b)) {
        AdminAccess::Granted
    } else {
        AdminAccess::Denied
    }
}

/// The `WWW-Authenticate` of a 401 from the admin API (RFC 6750 3.1): no error code
/// when no credential was sent, `invalid_request` for one that is not a bearer token,
/// `invalid_token` for a token that is not the admin token.
pub fn admin_challenge(authorization: Option<&str>) -> String {
    const REALM: &str = "Bearer realm=\"waypost-admin\"";
    match authorization {
        None => REALM.to_string(),
        Some(h) if !h.starts_with("Bearer ") => format!(
            "{REALM}, error=\"invalid_request\", \
             error_description=\"The admin API takes a bearer token.\""
        ),
        Some(_) => format!(
            "{REALM}, error=\"invalid_token\", \
             error_description=\"The token is not the admin token.\""
        ),
    }
}

/// The problem for a refused admin call.
pub fn access_problem(access: &AdminAccess) -> Option<Problem> {
    match access {
        AdminAccess::Granted => None,
        AdminAccess::Disabled => Some(
            Problem::new(403, "admin-disabled", "Admin API disabled")
                .with_detail("Set the `admin_token` variable to enable the admin API."),
        ),
        AdminAccess::Denied => Some(
            Problem::new(401, "unauthorized", "Unauthorized")
                .with_detail("The admin API needs `Authorization: Bearer <admin token>`."),
        ),
    }
}

/// The body of a successful push and of `GET /admin/config`.
#[derive(Debug, Serialize, PartialEq)]
pub struct ConfigStatus {
    pub version: u64,
    pub hash: String,
    pub previous: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<bool>,
}

impl From<&Pointer> for ConfigStatus {
    fn from(p: &Pointer) -> Self {
        Self {
            version: p.version,
            hash: p.hash.clone(),
            previous: p.previous,
            unchanged: None,
        }
    }
}

impl From<&Applied> for ConfigStatus {
    fn from(a: &Applied) -> Self {
        Self {
            unchanged: Some(a.unchanged),
            ..Self::from(&a.pointer)
        }
    }
}

/// One config error as the `errors` member of an `invalid-config` problem lists it.
#[derive(Debug, Serialize)]
pub struct ConfigErrorBody {
    pub path: String,
    pub line: Option<usize>,
    pub message: String,
}

/// The problem a failed push answers (an `invalid-config` one lists every error in
/// its `errors` member).
pub fn push_failure(e: &ApplyConfigError) -> Problem {
    match e {
        ApplyConfigError::Invalid(errors) => {
            Problem::new(400, "invalid-config", "Invalid config document")
                .with_detail(format!(
                    "The document has {} error(s); nothing was applied.",
                    errors.len()
                ))
                .with_extension("errors", errors.iter().map(error_body).collect::<Vec<_>>())
        }
        ApplyConfigError::Conflict { active } => {
            let detail = match active {
                Some(p) => format!("The active version is now {} ({}).", p.version, p.hash),
                None => "No version is active.".to_string(),
            };
            Problem::new(409, "config-conflict", "Config changed concurrently").with_detail(detail)
        }
        ApplyConfigError::Store(_) => {
            Problem::new(503, "store-unavailable", "Config store unavailable")
                .with_detail("The key-value store failed; nothing was applied. Retry later.")
        }
    }
}

fn error_body(e: &ConfigError) -> ConfigErrorBody {
    ConfigErrorBody {
        path: e.path.clone(),
        line: e.line,
        message: e.message.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_right_bearer_token_is_granted() {
        assert_eq!(
            admin_access(Some("Bearer s3cret"), "s3cret"),
            AdminAccess::Granted
        );
    }

    #[test]
    fn a_wrong_missing_or_non_bearer_credential_is_denied() {
        assert_eq!(
            admin_access(Some("Bearer nope"), "s3cret"),
            AdminAccess::Denied
        );
        assert_eq!(
            admin_access(Some("Bearer s3cre"), "s3cret"),
            AdminAccess::Denied
        );
        assert_eq!(admin_access(None, "s3cret"), AdminAccess::Denied);
        assert_eq!(
            admin_access(Some("Basic czNjcmV0"), "s3cret"),
            AdminAccess::Denied
        );
    }

    #[test]
    fn a_refused_admin_call_says_why_in_its_challenge() {
        assert_eq!(admin_challenge(None), "Bearer realm=\"waypost-admin\"");
        assert!(admin_challenge(Some("Basic czNjcmV0")).contains("error=\"invalid_request\""));
        let wrong = admin_challenge(Some("Bearer nope"));
        assert!(wrong.contains("error=\"invalid_token\""), "{wrong}");
        assert!(
            !wrong.contains("nope"),
            "the token is never echoed: {wrong}"
        );
    }

    #[test]
    fn no_configured_token_disables_the_admin_api() {
        assert_eq!(admin_access(Some("Bearer "), ""), AdminAccess::Disabled);
        assert_eq!(access_problem(&AdminAccess::Disabled).unwrap().status, 403);
        assert_eq!(access_problem(&AdminAccess::Denied).unwrap().status, 401);
    }

    #[test]
    fn an_invalid_push_lists_every_error() {
        let errors = vec![
            ConfigError {
                path: "tenants[0].plan".into(),
                line: Some(7),
                message: "unknown plan".into(),
            },
            ConfigError {
                path: "carriers[1].id".into(),
                line: Some(30),
                message: "duplicate".into(),
            },
        ];
        let problem = push_failure(&ApplyConfigError::Invalid(errors));
        assert_eq!(problem.status, 400);
        let v: serde_json::Value = serde_json::from_str(&problem.to_json()).unwrap();
        assert_eq!(v["type"], "https://waypost.dev/problems/invalid-config");
        assert_eq!(v["errors"].as_array().unwrap().len(), 2);
        assert_eq!(v["errors"][0]["path"], "tenants[0].plan");
        assert_eq!(v["errors"][0]["line"], 7);
    }
}
