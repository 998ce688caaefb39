//! Test middleware `inner`: see `tests/components/layer/layer.rs`.

#[path = "../../layer/layer.rs"]
mod layer;

use spin_sdk::http::{BoxBody, Request, Response};
use spin_sdk::wasip3::http::types::ErrorCode;

#[spin_sdk::http_service]
async fn handle(req: Request) -> Result<Response<BoxBody>, ErrorCode> {
    layer::handle_as("inner", req).await
}
