//! A Spin middleware that does nothing: it hands the request resource to the next
//! handler in its chain and returns the next handler's response resource, both
//! untouched. No head is read or rebuilt and no body is copied, so a chain of these
//! costs what the host's middleware hop costs and nothing of the guest's own.
//!
//! `spin_sdk::http::next` would turn the response into `http` types and back; this
//! calls the `wasi:http/handler@0.3.0` import (the next item in the chain) directly.

use spin_sdk::wasip3::http::types::{ErrorCode, Request, Response};

mod next {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        inline: "package waypost:pass-fixture; world next { import wasi:http/handler@0.3.0; }",
        path: "../../../wit",
        world: "waypost:pass-fixture/next",
        with: { "wasi:http/types@0.3.0": spin_sdk::wasip3::http::types },
        generate_all,
    });
}

struct Pass;
spin_sdk::wasip3::http::service::export!(Pass);

// Not `#[spin_sdk::http_service]`: that turns the request into `http` types first.
impl spin_sdk::wasip3::exports::http::handler::Guest for Pass {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        next::wasi::http::handler::handle(request).await
    }
}
