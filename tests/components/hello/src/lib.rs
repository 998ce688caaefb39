//! The smallest spin-sdk HTTP handler: `200 hello` for every request.

use spin_sdk::http::{IntoResponse, Request};

#[spin_sdk::http_service]
async fn handle(_req: Request) -> impl IntoResponse {
    "hello"
}
