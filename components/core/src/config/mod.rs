//! The region's config document: one declarative TOML file per region with tenants,
//! credentials (by hash or by Spin variable name), JWT issuers, routes, carriers,
//! limits, webhook intake and subscriptions.
//!
//! - [`model`]: the document as Rust types.
//! - [`store`]: the document compiled into per-entity key-value records, applied
//!   atomically and read one record at a time.
//! - [`cache`]: decoded records kept between requests, per content hash.
//! - [`serving`]: the route that serves a request, or 404/405 when none does.
//! - [`validate`]: [`parse_and_validate`], which reports every error with its path
//!   and line (`waypost config check` and `PUT /admin/config` use it).

pub mod cache;
pub mod model;
pub mod serving;
pub mod store;
pub mod validate;

pub use model::*;
pub use serving::{Unrouted, serving_route};
pub use validate::{ConfigError, parse_and_validate};
