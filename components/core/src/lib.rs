//! Waypost's gateway logic as plain Rust, shared by every component and unit-tested
//! natively. Components are thin: they read the request, call into here, and write
//! the response.

pub mod admin;
pub mod auth;
pub mod config;
pub mod health;
pub mod kv;
pub mod problem;
pub mod quota;
pub mod rates;
pub mod report;
pub mod routing;
pub mod sandbox;
pub mod snapshot;
pub mod webhooks;
