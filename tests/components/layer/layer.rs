//! Shared body of the `layer-outer` and `layer-inner` test middleware (Spin 4.1 HTTP
//! middleware: exports `wasi:http/handler@0.3.0` and imports it as the next item in the
//! chain). Spin middleware has no configuration of its own, so each crate compiles its
//! name in. On the way in it appends the name to the
//! request header `x-layers` (comma-separated) and forwards the request, body streamed,
//! to `next`; on the way out it appends the name to the response header `x-layers-out`.
//! A request with `x-stop-at: <its name>` is answered 418 `stopped at <name>` without
//! calling `next`. `x-layer-probe-var: NAME` makes it read the (inherited) variable NAME
//! and echo it in `x-layer-var`, so tests can observe what a middleware may access.

use spin_sdk::http::{
    BoxBody, HeaderMap, HeaderValue, Request, Response, StatusCode, box_body, next,
};
use spin_sdk::wasip3::http::types::ErrorCode;

pub async fn handle_as(name: &str, req: Request) -> Result<Response<BoxBody>, ErrorCode> {
    let probed = match req
        .headers()
        .get("x-layer-probe-var")
        .and_then(|v| v.to_str().ok())
    {
        Some(var) => match spin_sdk::variables::get(var).await {
            Ok(value) => Some(value),
            Err(e) => return Ok(reply(500, format!("variable `{var}`: {e:?}"))),
        },
        None => None,
    };
    if req.headers().get("x-stop-at").is_some_and(|v| v == name) {
        return Ok(reply(418, format!("stopped at {name}")));
    }

    // The body must be re-wrapped: a request whose body is still the untouched incoming
    // body is forwarded as the original wasi:http request, and header edits are lost.
    let (mut parts, body) = req.into_parts();
    append(&mut parts.headers, "x-layers", name);
    let resp = next(Request::<BoxBody>::from_parts(parts, box_body(body))).await?;

    // Likewise for the response.
    let (mut parts, body) = resp.into_parts();
    append(&mut parts.headers, "x-layers-out", name);
    if let Some(value) = probed.and_then(|v| HeaderValue::from_str(&v).ok()) {
        parts.headers.insert("x-layer-var", value);
    }
    Ok(Response::<BoxBody>::from_parts(parts, box_body(body)))
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

fn reply(status: u16, body: String) -> Response<BoxBody> {
    let mut resp = Response::<BoxBody>::new(box_body(body));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap();
    resp
}
