//! The admin handler. `GET /healthz`: liveness, region and active config version.

use spin_sdk::http::{IntoResponse, Request, StatusCode};
use spin_sdk::{http_service, variables};
use waypost_core::health::Health;
use waypost_core::problem::{CONTENT_TYPE, Problem};

#[http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let route = req
        .headers()
        .get("spin-matched-route")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    match (req.method().as_str(), route.as_str()) {
        ("GET" | "HEAD", "/healthz") => healthz().await,
        (_, "/healthz") => problem(Problem::new(
            405,
            "method-not-allowed",
            "Method Not Allowed",
        )),
        _ => problem(Problem::new(404, "not-found", "Not Found")),
    }
}

async fn healthz() -> (StatusCode, spin_sdk::http::HeaderMap, String) {
    let region = variables::get("region")
        .await
        .unwrap_or_else(|_| "unknown".into());
    let body = serde_json::to_string(&Health::ok(region, None)).expect("health serializes");
    let mut headers = spin_sdk::http::HeaderMap::new();
    headers.insert("content-type", "application/json".parse().unwrap());
    headers.insert("cache-control", "no-store".parse().unwrap());
    (StatusCode::OK, headers, body)
}

fn problem(p: Problem) -> (StatusCode, spin_sdk::http::HeaderMap, String) {
    let mut headers = spin_sdk::http::HeaderMap::new();
    headers.insert("content-type", CONTENT_TYPE.parse().unwrap());
    (
        StatusCode::from_u16(p.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers,
        p.to_json(),
    )
}
