//! For the handlers behind `auth`: the identity it set, verified by its MAC. A request
//! that reached a handler without passing auth (missing or forged identity headers) is
//! refused with 401.

use crate::config::var;
use crate::request::header_pairs;
use spin_sdk::http::HeaderMap;
use waypost_core::auth::{AuthError, Identity, IdentityKey, Principal, verify_identity};
use waypost_core::problem::Problem;

/// The verified identity of the request, or the problem to answer with.
pub async fn verified(headers: &HeaderMap) -> Result<Identity, Problem> {
    let key = IdentityKey::new(var("identity_secret").await.as_bytes()).map_err(|_| {
        AuthError::Misconfigured("variable `identity_secret` is shorter than 32 bytes".into())
            .problem(None)
    })?;
    verify_identity(&header_pairs(headers), &key).map_err(|e| e.problem(None))
}

/// For `/admin` handlers: the operator's verified identity (auth checked the admin
/// token), or 401 without auth's identity, 403 for anyone else.
pub async fn operator(headers: &HeaderMap) -> Result<Identity, Problem> {
    let identity = verified(headers).await?;
    if identity.principal != Principal::Operator {
        return Err(Problem::new(403, "forbidden", "Forbidden")
            .with_detail("The admin API is for the region's operator (the admin token)."));
    }
    Ok(identity)
}
