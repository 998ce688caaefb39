//! The auth middleware, in front of every `/v1` and `/admin` route: it decides who the
//! caller is (API key, JWT, agent token, DPoP-bound token; the admin token on `/admin`),
//! refuses what no configured route serves, checks the route's scopes, strips the
//! caller's credential and every incoming `x-waypost-*` header, sets the identity
//! headers with their MAC, and calls the next handler. The rules are in `waypost_core::auth`; this is the Spin glue.
//!
//! Spin middleware has no variables or stores of its own: it inherits the primary
//! component's (`inherit_configuration`), so each handler behind auth declares
//! `identity_secret`, the issuers' secret variables and `seed_demo_config`.

use spin_sdk::http::{BoxBody, HeaderValue, IntoResponse, Request, Response, box_body, next};
use spin_sdk::http_service;
use spin_sdk::wasip3::http::types::{self, ErrorCode};
use std::collections::HashMap;
use waypost_core::admin::{access_problem, admin_access, admin_challenge};
use waypost_core::auth::{
    self, AuthError, AuthRequest, Identity, IdentityKey, authorize, strip_incoming,
};
use waypost_core::config::serving_route;
use waypost_core::config::store::RegionRecord;
use waypost_core::problem::Problem;
use waypost_core::routing::check_residency;
use waypost_runtime::SpinKv;
use waypost_runtime::config::{active_view, config_store, store_unavailable, var};
use waypost_runtime::relay;
use waypost_runtime::request::{RequestLog, header_pairs, request_id, unix_secs};

#[http_service]
async fn handle(req: Request) -> Result<types::Response, ErrorCode> {
    let request_id = request_id(req.headers());
    let mut log = RequestLog::start("auth", &request_id, req.uri().path());
    let identified = if req.uri().path().starts_with("/admin") {
        operator(&req, &request_id).await
    } else {
        authenticate(&req, &request_id).await
    };
    let (identity, key) = match identified {
        Ok(identified) => identified,
        Err(refusal) => {
            log.set("refusal", refusal.reason.clone());
            log.finish(refusal.problem.status);
            return refused(&refusal, &request_id).into_response();
        }
    };
    log.set("tenant", identity.tenant.clone());
    log.set("principal", identity.principal.kind());

    let (mut parts, body) = req.into_parts();
    for name in strip_incoming(&header_pairs(&parts.headers)) {
        parts.headers.remove(name.as_str());
    }
    for (name, value) in identity.headers(&key) {
        if let (Ok(name), Ok(value)) = (
            spin_sdk::http::HeaderName::try_from(name),
            HeaderValue::from_str(&value),
        ) {
            parts.headers.insert(name, value);
        }
    }
    set_request_id(&mut parts.headers, &request_id);
    let response = next(relay::request(Request::from_parts(parts, body))?).await;
    let (mut parts, body) = match response {
        Ok(response) => response.into_parts(),
        Err(e) => {
            log.finish(502);
            return Err(e);
        }
    };
    set_request_id(&mut parts.headers, &request_id);
    // For the host's access log and metrics (it removes the header); the caller's own
    // tenant, so nothing leaks where a runtime passes it on.
    if let Ok(tenant) = HeaderValue::from_str(&identity.tenant) {
        parts.headers.insert("x-waypost-tenant", tenant);
    }
    log.finish(parts.status.as_u16());
    relay::response(Response::from_parts(parts, body))
}

/// Why a request was refused: the problem for the client with its headers
/// (`WWW-Authenticate`, `Allow`), the reason for the log (never the credential).
struct Refusal {
    problem: Problem,
    headers: Vec<(&'static str, String)>,
    reason: String,
}

impl From<AuthError> for Refusal {
    fn from(e: AuthError) -> Self {
        Refusal {
            problem: e.problem(None),
            headers: e
                .www_authenticate()
                .map(|c| ("www-authenticate", c))
                .into_iter()
                .collect(),
            reason: e.to_string(),
        }
    }
}

impl From<Problem> for Refusal {
    fn from(problem: Problem) -> Self {
        Refusal {
            reason: problem.title.clone(),
            problem,
            headers: Vec::new(),
        }
    }
}

async fn identity_key() -> Result<IdentityKey, Refusal> {
    IdentityKey::new(var("identity_secret").await.as_bytes()).map_err(|_| {
        AuthError::Misconfigured("variable `identity_secret` is shorter than 32 bytes".into())
            .into()
    })
}

/// `/admin`: the operator, by the admin token (constant-time; an empty `admin_token`
/// turns the admin API off).
async fn operator(req: &Request, request_id: &str) -> Result<(Identity, IdentityKey), Refusal> {
    let authorization = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    let access = admin_access(authorization, &var("admin_token").await);
    if let Some(problem) = access_problem(&access) {
        let challenge =
            (problem.status == 401).then(|| ("www-authenticate", admin_challenge(authorization)));
        return Err(Refusal {
            reason: problem.title.clone(),
            problem,
            headers: challenge.into_iter().collect(),
        });
    }
    Ok((Identity::operator(request_id), identity_key().await?))
}

/// The caller, authenticated and authorized for the route, with the identity key.
async fn authenticate(req: &Request, request_id: &str) -> Result<(Identity, IdentityKey), Refusal> {
    let identity_key = identity_key().await?;
    let kv = SpinKv::open_default().map_err(|_| store_unavailable())?;
    let store = config_store(&kv);
    let view = active_view(&store).await?;
    let headers = header_pairs(req.headers());
    let mut secrets = HashMap::new();
    for name in auth::secret_variables(&headers, &view) {
        if let Ok(value) = spin_sdk::variables::get(&name).await {
            secrets.insert(name, value);
        }
    }
    let path = req.uri().path();
    let method = req.method().as_str();
    let region = view
        .region()
        .map_err(AuthError::from)?
        .ok_or_else(|| AuthError::Misconfigured("no region record".into()))?;
    let url = public_url(req, &region);
    let request = AuthRequest {
        method,
        url: &url,
        headers: &headers,
    };
    let (authenticated, proof) = auth::authenticate_unclaimed(
        &request,
        &view,
        |name| secrets.get(name).cloned(),
        unix_secs(),
    )?;
    let routes = view.routes().map_err(AuthError::from)?;
    // Residency, before anything counts, stores or forwards anything of a tenant that
    // is not served in this region (its DPoP replay record included): 421 naming its
    // region's URL.
    check_residency(&region, &authenticated.tenant).map_err(|e| Refusal {
        reason: e.kind().to_string(),
        problem: e.problem(None),
        headers: Vec::new(),
    })?;
    if let Some(proof) = proof {
        proof.claim(&kv)?;
    }
    // Only what a configured route serves goes on: its scopes, weight and deadline
    // apply to every request behind auth.
    let route = serving_route(&routes, method, path).map_err(|e| {
        let problem = e.problem(method, path);
        Refusal {
            reason: problem.title.clone(),
            problem,
            headers: e.headers(),
        }
    })?;
    authorize(&authenticated, route)?;
    Ok((Identity::of(&authenticated, request_id), identity_key))
}

/// The URL the client called, for the DPoP `htu`: this region's public base URL (from
/// the config, not from a `Host` header a client could choose) and the request path.
fn public_url(req: &Request, region: &RegionRecord) -> String {
    let base = region
        .regions
        .get(&region.region.id)
        .map(|u| u.0.trim_end_matches('/').to_string())
        .unwrap_or_default();
    format!("{base}{}", req.uri().path())
}

fn refused(refusal: &Refusal, request_id: &str) -> Response<BoxBody> {
    let problem = refusal.problem.clone().with_request_id(Some(request_id));
    let (status, mut headers, body) = waypost_runtime::problem(&problem);
    for (name, value) in &refusal.headers {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(*name, value);
        }
    }
    set_request_id(&mut headers, request_id);
    let mut response = Response::new(box_body(body));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

fn set_request_id(headers: &mut spin_sdk::http::HeaderMap, request_id: &str) {
    if let Ok(value) = HeaderValue::from_str(request_id) {
        headers.insert("x-request-id", value);
    }
}
