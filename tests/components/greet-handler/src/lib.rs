//! `GET /?name=NAME` answers what its dependency's `greet` says, then what the
//! dependency and this component each see of `REGION_HINT`:
//!
//! ```text
//! hello, ada
//! dependency region: eu
//! own region: eu
//! ```

use spin_sdk::http::{IntoResponse, Request};

mod greeting {
    spin_sdk::wit_bindgen::generate!({
        runtime_path: "spin_sdk::wit_bindgen::rt",
        path: "../../../wit/deps/waypost-greeting@0.1.0",
        world: "waypost:greeting/greeted",
    });
}

use greeting::waypost::greeting::{greet, region};

#[spin_sdk::http_service]
async fn handle(req: Request) -> impl IntoResponse {
    let name = req
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|pair| pair.strip_prefix("name=")))
        .unwrap_or("world");
    let seen = |hint: Option<String>| hint.unwrap_or_else(|| "none".to_string());
    format!(
        "{}\ndependency region: {}\nown region: {}\n",
        greet::greet(name),
        seen(region::hint()),
        seen(std::env::var("REGION_HINT").ok()),
    )
}
