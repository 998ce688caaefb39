//! For the handlers behind `auth`: the identity it set, verified by its MAC. A request
//! that reached a handler without passing auth (missing or forged identity headers) is
//! refused with 401.

use crate::config::var;
use crate::request::header_pairs;
use spin_sdk::http::HeaderMap;
use waypost_core::auth::{AuthError, Identity, IdentityKey, verify_identity};
use waypost_core::problem::Problem;

/// The verified identity of the request, or the problem to answer with.
pub async fn verified(headers: &HeaderMap) -> Result<Identity, Problem> {
    let key = IdentityKey::new(var("identity_secret").await.as_bytes()).map_err(|_| {
        AuthError::Misconfigured("variable `identity_secret` is shorter than 32 bytes".into())
            .problem(None)
    })?;
    verify_identity(&header_pairs(headers), &key).map_err(|e| e.problem(None))
}
