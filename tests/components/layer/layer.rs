//! Shared body of the `layer-outer` and `layer-inner` test middleware (Spin 4.1 HTTP
//! middleware: exports `wasi:http/handler@0.3.0` and imports it as the next item in the
//! chain). Spin middleware has no configuration of its own, so each crate compiles its
//! name in. On the way in it appends the name to the request header `x-layers`
//! (comma-separated) and forwards the request to `next`; on the way out it appends the
//! name to the response header `x-layers-out`. Bodies pass through as they are
//! (`waypost_runtime::relay`).
//! A request with `x-stop-at: <its name>` is answered 418 `stopped at <name>` without
//! calling `next`. `x-layer-probe-var: NAME` makes it read the (inherited) variable NAME
//! and echo it in `x-layer-var`, so tests can observe what a middleware may access.

use spin_sdk::http::{
    BoxBody, HeaderMap, HeaderValue, IntoResponse, Request, Response, StatusCode, box_body, next,
};
use spin_sdk::wasip3::http::types::{self, ErrorCode};
use waypost_runtime::relay;

pub async fn handle_as(name: &str, req: Request) -> Result<types::Response, ErrorCode> {
    let probed = match req
        .headers()
        .get("x-layer-probe-var")
        .and_then(|v| v.to_str().ok())
    {
        Some(var) => match spin_sdk::variables::get(var).await {
            Ok(value) => Some(value),
            Err(e) => return reply(500, format!("variable `{var}`: {e:?}")),
        },
        None => None,
    };
    if req.headers().get("x-stop-at").is_some_and(|v| v == name) {
        return reply(418, format!("stopped at {name}"));
    }

    // The bodies pass through as they are (`relay`), only the heads change.
    let (mut parts, body) = req.into_parts();
    append(&mut parts.headers, "x-layers", name);
    let resp = next(relay::request(Request::from_parts(parts, body))?).await?;

    let (mut parts, body) = resp.into_parts();
    append(&mut parts.headers, "x-layers-out", name);
    if let Some(value) = probed.and_then(|v| HeaderValue::from_str(&v).ok()) {
        parts.headers.insert("x-layer-var", value);
    }
    relay::response(Response::from_parts(parts, body))
}

/// Appends `name` to the comma-separated list in header `header`, creating it if absent.
fn append(headers: &mut HeaderMap, header: &'static str, name: &str) {
    let list = match headers.get(header).and_then(|v| v.to_str().ok()) {
        Some(existing) if !existing.is_empty() => format!("{existing},{name}"),
        _ => name.to_string(),
    };
    headers.insert(
        header,
        HeaderValue::from_str(&list).expect("valid header value"),
    );
}

fn reply(status: u16, body: String) -> Result<types::Response, ErrorCode> {
    let mut resp = Response::<BoxBody>::new(box_body(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp.into_response()
}
