//! What every Waypost component needs from Spin, behind the traits `waypost-core`
//! defines: the key-value store (`wasi:keyvalue@0.2.0-draft2`, whose atomics core's
//! limits and dedup rely on) and problem+json responses.

pub mod carrier;
pub mod config;
pub mod identity;
pub mod relay;
pub mod request;

use bytes::Bytes;
use spin_sdk::experimental::wasi::keyvalue::{atomics, store};
use spin_sdk::http::{FullBody, HeaderMap, HeaderName, HeaderValue, StatusCode};
use waypost_core::kv::{KeyValue, KvError, KvResult};
use waypost_core::problem::{CONTENT_TYPE, Problem};
use waypost_core::routing::RoutingError;

/// A Spin key-value store opened by label.
pub struct SpinKv(store::Bucket);

impl SpinKv {
    pub fn open(label: &str) -> KvResult<Self> {
        store::open(label).map(SpinKv).map_err(err)
    }

    pub fn open_default() -> KvResult<Self> {
        Self::open("default")
    }
}

fn err(e: store::Error) -> KvError {
    KvError(match e {
        store::Error::NoSuchStore => "no such store".into(),
        store::Error::AccessDenied => "access denied".into(),
        store::Error::Other(msg) => msg,
    })
}

impl KeyValue for SpinKv {
    fn get(&self, key: &str) -> KvResult<Option<Vec<u8>>> {
        self.0.get(key).map_err(err)
    }

    fn set(&self, key: &str, value: &[u8]) -> KvResult<()> {
        self.0.set(key, value).map_err(err)
    }

    fn delete(&self, key: &str) -> KvResult<()> {
        self.0.delete(key).map_err(err)
    }

    fn increment(&self, key: &str, delta: i64) -> KvResult<i64> {
        atomics::increment(&self.0, key, delta).map_err(err)
    }

    fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> KvResult<bool> {
        let cas = atomics::Cas::new(&self.0, key).map_err(err)?;
        // `current` is what the swap is conditional on (Spin records it here).
        if cas.current().map_err(err)?.as_deref() != expected {
            return Ok(false);
        }
        match atomics::swap(cas, new) {
            Ok(()) => Ok(true),
            Err(atomics::CasError::CasFailed(_)) => Ok(false),
            Err(atomics::CasError::StoreError(e)) => Err(err(e)),
        }
    }
}

/// A response triple spin-sdk turns into an HTTP response.
pub type Reply = (StatusCode, HeaderMap, FullBody<Bytes>);

pub fn problem(p: &Problem) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    (
        status_code(p.status),
        headers,
        FullBody::new(Bytes::from(p.to_json())),
    )
}

/// A problem response that names the request it answers.
pub fn problem_for(p: Problem, request_id: &str) -> Reply {
    problem(&p.with_request_id(Some(request_id)))
}

/// 405 `method-not-allowed` with the `Allow` header RFC 9110 requires in one;
/// `allow` lists the path's methods (`"GET, PUT"`).
pub fn method_not_allowed(allow: &'static str, request_id: &str) -> Reply {
    let p = Problem::new(405, "method-not-allowed", "Method Not Allowed");
    let mut reply = problem_for(p, request_id);
    reply.1.insert("allow", HeaderValue::from_static(allow));
    reply
}

/// A routing refusal: its problem and its headers (`Retry-After`).
pub fn routing_problem(e: &RoutingError, request_id: &str) -> Reply {
    with_headers(problem(&e.problem(Some(request_id))), &e.headers())
}

pub fn json(status: u16, body: &impl serde::Serialize) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    let body = serde_json::to_vec(body).expect("response body serializes");
    (
        status_code(status),
        headers,
        FullBody::new(Bytes::from(body)),
    )
}

/// A response with these headers and body (a carrier's answer passed on).
pub fn reply(status: u16, headers: &[(String, String)], body: Bytes) -> Reply {
    with_headers(
        (status_code(status), HeaderMap::new(), FullBody::new(body)),
        headers,
    )
}

/// `reply` naming its request in `x-request-id` (`auth` does this for the routes
/// behind it).
pub fn with_request_id(reply: Reply, request_id: &str) -> Reply {
    with_headers(reply, &[("x-request-id".into(), request_id.into())])
}

/// `reply` with `headers` appended (pairs that are not valid HTTP are left out).
pub fn with_headers(mut reply: Reply, headers: &[(String, String)]) -> Reply {
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            reply.1.append(name, value);
        }
    }
    reply
}

fn status_code(status: u16) -> StatusCode {
    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}
