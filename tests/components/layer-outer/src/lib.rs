//! Test middleware `outer`: see `tests/components/layer/layer.rs`.

#[path = "../../layer/layer.rs"]
mod layer;

use spin_sdk::http::Request;
use spin_sdk::wasip3::http::types::{ErrorCode, Response};

#[spin_sdk::http_service]
async fn handle(req: Request) -> Result<Response, ErrorCode> {
    layer::handle_as("outer", req).await
}
