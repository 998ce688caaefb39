//! The request body as a component reads it: bounded in size (`--max-request-body`)
//! and in how long the client may keep the host waiting for its next bytes
//! (`--body-read-timeout`), and drained when dropped unread (`crate::drain`).
//!
//! A component sees a body the host cut short only as a failed read, and may answer
//! anything: 400, or worse, a 2xx after taking what arrived for the whole body. So
//! the host records why it cut the body (`Cut`) and answers that itself (413, 408)
//! in place of the component's answer.

use crate::drain::DrainOnDrop;
use http_body::Body;
use http_body_util::{BodyExt, Either, LengthLimitError, Limited};
use hyper::body::Incoming;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tower_http::timeout::{TimeoutBody, TimeoutError};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

/// What the host allows a request body.
pub struct Bounds {
    pub max_bytes: usize,
    /// How long a read may wait for the client's next bytes; `None`: no limit.
    pub read_timeout: Option<Duration>,
}

/// Why the host cut a request body short.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// More than `Bounds::max_bytes` arrived.
    TooLarge,
    /// The client sent nothing for this long (`Bounds::read_timeout`) while a read
    /// waited.
    Stalled(Duration),
}

/// Whether, and why, the host cut one request's body short; set at most once, by the
/// body, when it fails a read.
#[derive(Clone, Default)]
pub struct CutShort(Arc<OnceLock<Cut>>);

impl CutShort {
    pub fn get(&self) -> Option<Cut> {
        self.0.get().copied()
    }
}

/// `body` bounded as `bounds` says, and where to learn whether it was cut. A body
/// that has already ended (no body, `content-length: 0`) has nothing to bound.
pub fn bounded(body: Incoming, bounds: &Bounds) -> (WasiBody, Option<CutShort>) {
    if body.is_end_stream() {
        let body = body
            .map_err(|_| HttpError::HttpProtocolError)
            .boxed_unsync();
        return (body, None);
    }
    let cut = CutShort::default();
    let drained = DrainOnDrop::new(body, cut.clone());
    let timed = match bounds.read_timeout {
        Some(timeout) => Either::Left(TimeoutBody::new(timeout, drained)),
        None => Either::Right(drained),
    };
    let record = cut.clone();
    let limit = bounds.max_bytes;
    let waited = bounds.read_timeout.unwrap_or_default();
    let body = Limited::new(timed, limit)
        .map_err(move |e| {
            let (why, code) = if e.is::<LengthLimitError>() {
                (
                    Cut::TooLarge,
                    HttpError::HttpRequestBodySize(Some(limit as u64)),
                )
            } else if e.is::<TimeoutError>() {
                (Cut::Stalled(waited), HttpError::ConnectionReadTimeout)
            } else {
                return HttpError::HttpProtocolError;
            };
            let _ = record.0.set(why);
            code
        })
        .boxed_unsync();
    (body, Some(cut))
}
