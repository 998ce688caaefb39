//! A lingering close for request bodies, as NGINX does: a body dropped before its end
//! (a 413, a component that answered without reading it) is read and discarded in the
//! background, up to `DRAIN_BYTES` or `DRAIN_TIME`. A client still sending then gets to
//! read the answer; without it, the connection closes under the client's writes and it
//! sees a broken pipe instead of the 413. A body that stalled (408) is not drained:
//! its client is not sending.

use crate::request_body::{Cut, CutShort};
use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

const DRAIN_BYTES: usize = 8 << 20;
const DRAIN_TIME: Duration = Duration::from_secs(5);

pub struct DrainOnDrop {
    body: Option<Incoming>,
    cut: CutShort,
}

impl DrainOnDrop {
    pub fn new(body: Incoming, cut: CutShort) -> Self {
        Self {
            body: Some(body),
            cut,
        }
    }
}

impl Body for DrainOnDrop {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        match self.body.as_mut() {
            Some(body) => Pin::new(body).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.as_ref().is_none_or(Body::is_end_stream)
    }

    fn size_hint(&self) -> SizeHint {
        self.body.as_ref().map(Body::size_hint).unwrap_or_default()
    }
}

impl Drop for DrainOnDrop {
    fn drop(&mut self) {
        let Some(mut body) = self.body.take() else {
            return;
        };
        if body.is_end_stream() || matches!(self.cut.get(), Some(Cut::Stalled(_))) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            let drain = async {
                let mut read = 0;
                while read < DRAIN_BYTES {
                    match body.frame().await {
                        Some(Ok(frame)) => read += frame.data_ref().map_or(0, Bytes::len),
                        _ => break,
                    }
                }
            };
            let _ = tokio::time::timeout(DRAIN_TIME, drain).await;
        });
    }
}
