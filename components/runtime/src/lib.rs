//! What every Waypost component needs from Spin, behind the traits `waypost-core`
//! defines: the key-value store (`wasi:keyvalue@0.2.0-draft2`, whose atomics core's
//! limits and dedup rely on) and problem+json responses.

pub mod carrier;
pub mod config;
pub mod identity;
pub mod request;

use spin_sdk::experimental::wasi::keyvalue::{atomics, store};
use spin_sdk::http::{HeaderMap, HeaderValue, StatusCode};
use waypost_core::kv::{KeyValue, KvError, KvResult};
use waypost_core::problem::{CONTENT_TYPE, Problem};

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
pub type Reply = (StatusCode, HeaderMap, String);

pub fn problem(p: &Problem) -> Reply {
    problem_body(p.status, p.to_json())
}

/// A problem+json response from an already serialized problem document.
pub fn problem_body(status: u16, body: String) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers,
        body,
    )
}

pub fn json(status: u16, body: &impl serde::Serialize) -> Reply {
    let mut headers = HeaderMap::new();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        headers,
        serde_json::to_string(body).expect("response body serializes"),
    )
}
