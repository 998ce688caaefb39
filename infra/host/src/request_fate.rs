//! What became of the instance that took a request, while the request or its response
//! body was still with it. Wasmtime reports a request whose instance its expiry
//! (`workers::IdleExpiry`) ended as a lost worker, not as expired, and ends a response
//! body cleanly when the instance writing it is dropped; `App::run` reads a request's
//! fate to answer a timeout as one and to cut such a body off as an error instead.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, ready};
use wasmtime_wasi_http::{Error as HttpError, WasiBody};

const WITH_ITS_INSTANCE: u8 = 0;
const TIMED_OUT: u8 = 1;
const INSTANCE_LOST: u8 = 2;

/// One request's fate: it stays with its instance until the instance is dropped while
/// still holding it, on its request timeout or on a trap.
#[derive(Default)]
pub struct Fate(AtomicU8);

impl Fate {
    /// The instance was dropped when the request timeout ran out.
    pub fn timed_out(&self) -> bool {
        self.0.load(Ordering::SeqCst) == TIMED_OUT
    }

    /// The instance was dropped, for whatever reason, while it held the request.
    pub fn instance_dropped(&self) -> bool {
        self.0.load(Ordering::SeqCst) != WITH_ITS_INSTANCE
    }

    fn settle(&self, fate: u8) {
        let _ =
            self.0
                .compare_exchange(WITH_ITS_INSTANCE, fate, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// The fates of the requests one instance has taken, as long as someone still reads
/// them: settled when the instance is dropped.
#[derive(Default)]
pub struct Taken(Mutex<Vec<Weak<Fate>>>);

impl Taken {
    pub fn add(&self, fate: &Arc<Fate>) {
        let mut fates = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        push_weak(&mut fates, fate);
    }

    /// The instance's request timeout ran out: it is about to be dropped.
    pub fn time_out(&self) {
        self.settle_all(TIMED_OUT);
    }

    /// The instance is being dropped with requests or responses unfinished.
    pub fn lose(&self) {
        self.settle_all(INSTANCE_LOST);
    }

    fn settle_all(&self, fate: u8) {
        let fates = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for taken in fates.iter().filter_map(Weak::upgrade) {
            taken.settle(fate);
        }
    }
}

/// Adds `item` to `list`, whose entries nothing else holds any more go when it would
/// grow: it grows only to twice the entries alive, so this costs O(1) per entry.
pub fn push_weak<T>(list: &mut Vec<Weak<T>>, item: &Arc<T>) {
    if list.len() == list.capacity() {
        list.retain(|entry| entry.strong_count() > 0);
        let alive = list.len();
        list.reserve(alive.max(4));
    }
    list.push(Arc::downgrade(item));
}

/// A response body that ends in an error, not as if whole, when its instance was
/// dropped before writing all of it: the client then sees the response broken off
/// (no last chunk over HTTP/1.1, a reset stream over HTTP/2).
pub struct CutShortIsAnError {
    body: WasiBody,
    fate: Arc<Fate>,
}

impl CutShortIsAnError {
    /// `body`, which the instance that took the request of `fate` writes.
    pub fn wrap(body: WasiBody, fate: Arc<Fate>) -> WasiBody {
        http_body_util::BodyExt::boxed_unsync(Self { body, fate })
    }
}

impl Body for CutShortIsAnError {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
            None if self.fate.instance_dropped() => {
                Poll::Ready(Some(Err(HttpError::InternalError(Some(
                    "the component's instance was dropped before its response ended".into(),
                )))))
            }
            frame => Poll::Ready(frame),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream() && !self.fate.instance_dropped()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, Full};

    fn body(text: &'static str) -> WasiBody {
        Full::new(Bytes::from(text))
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    #[tokio::test]
    async fn a_body_whose_instance_lives_on_ends_as_it_is() {
        let fate = Arc::new(Fate::default());
        let collected = CutShortIsAnError::wrap(body("whole"), fate.clone())
            .collect()
            .await
            .unwrap();
        assert_eq!(collected.to_bytes(), "whole");
    }

    #[tokio::test]
    async fn a_body_whose_instance_was_dropped_ends_in_an_error() {
        let (taken, fate) = (Taken::default(), Arc::new(Fate::default()));
        taken.add(&fate);
        taken.lose();
        let error = CutShortIsAnError::wrap(body("part"), fate.clone())
            .collect()
            .await
            .expect_err("cut short");
        assert!(error.to_string().contains("dropped"), "{error}");
        assert!(!fate.timed_out());
    }

    #[test]
    fn the_first_fate_stays() {
        let (taken, fate) = (Taken::default(), Arc::new(Fate::default()));
        taken.add(&fate);
        assert!(!fate.instance_dropped());
        taken.time_out();
        taken.lose();
        assert!(fate.timed_out() && fate.instance_dropped());
    }

    #[test]
    fn fates_no_one_reads_are_not_kept() {
        let taken = Taken::default();
        for _ in 0..10_000 {
            taken.add(&Arc::new(Fate::default()));
        }
        let kept = taken.0.lock().unwrap().len();
        assert!(kept < 100, "{kept} kept");
    }
}
