//! A component's response body, read for a moment before hyper gets the response, so
//! that a short answer leaves in one write.
//!
//! A `wasi:http` response body has no length up front, so hyper sent every component's
//! answer chunked, and a guest's stream reports its end a few scheduler turns after its
//! last write (the stream closes, then the trailers future resolves). Hyper had by then
//! flushed the head and the data, so the chunked terminator went in a write of its own:
//! two writes and two TCP segments per response, and a client woken twice for one
//! answer (`strace -c`: 1.85 `writev` per request for the trivial component).
//!
//! `settle` polls the body until it ends, for at most `TURNS` turns of the serving
//! thread's scheduler (no timer, no system call) and `MAX_BYTES`. A body that ends in
//! time becomes one buffer with a `content-length`; any other body is passed on as it
//! is, after the frames already read, so a streaming response is delayed by those few
//! turns at most.

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Scheduler turns the body gets to end before it is streamed. The trivial component's
/// body ends within 4 at one connection and within 8 at 16 (`strace -c`: one `writev`
/// per request from 8 on); 16 leaves room.
const TURNS: u8 = 16;
/// Bodies longer than this are streamed whatever their pace.
const MAX_BYTES: usize = 64 << 10;

pub enum Settled<B: Body> {
    /// The whole body, read before the response left.
    Whole(Bytes),
    /// The body goes on: the frames read so far, then the rest.
    Streaming(Replay<B>),
}

/// Reads `body` until it ends, it pauses for `TURNS` turns, or it passes `MAX_BYTES`.
pub async fn settle<B>(mut body: B) -> Settled<B>
where
    B: Body<Data = Bytes> + Unpin,
{
    let mut read = VecDeque::new();
    let mut bytes = 0;
    let mut turns = 0;
    loop {
        let step = std::future::poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
            Poll::Pending if turns < TURNS => {
                turns += 1;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Pending => Poll::Ready(None),
            Poll::Ready(step) => Poll::Ready(Some(step)),
        })
        .await;
        match step {
            Some(None) => return Settled::Whole(concat(read)),
            Some(Some(Ok(frame))) if frame.is_data() => {
                bytes += frame.data_ref().map_or(0, Bytes::len);
                read.push_back(frame);
                if bytes > MAX_BYTES {
                    return Settled::Streaming(Replay::new(read, None, body));
                }
            }
            Some(Some(Ok(trailers))) => {
                read.push_back(trailers);
                return Settled::Streaming(Replay::new(read, None, body));
            }
            Some(Some(Err(e))) => return Settled::Streaming(Replay::new(read, Some(e), body)),
            None => return Settled::Streaming(Replay::new(read, None, body)),
        }
    }
}

fn concat(frames: VecDeque<Frame<Bytes>>) -> Bytes {
    let mut data = frames.into_iter().filter_map(|f| f.into_data().ok());
    let Some(first) = data.next() else {
        return Bytes::new();
    };
    let Some(second) = data.next() else {
        return first;
    };
    let mut all = BytesMut::from(&first[..]);
    all.extend_from_slice(&second);
    data.for_each(|d| all.extend_from_slice(&d));
    all.freeze()
}

/// The frames `settle` read, then the error it met, if any, then the rest of the body.
pub struct Replay<B: Body> {
    read: VecDeque<Frame<Bytes>>,
    error: Option<B::Error>,
    rest: B,
}

impl<B: Body> Replay<B> {
    fn new(read: VecDeque<Frame<Bytes>>, error: Option<B::Error>, rest: B) -> Self {
        Self { read, error, rest }
    }
}

impl<B> Body for Replay<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Unpin,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(frame) = this.read.pop_front() {
            return Poll::Ready(Some(Ok(frame)));
        }
        if let Some(e) = this.error.take() {
            return Poll::Ready(Some(Err(e)));
        }
        Pin::new(&mut this.rest).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.read.is_empty() && self.error.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let read: u64 = self
            .read
            .iter()
            .filter_map(Frame::data_ref)
            .map(|d| d.len() as u64)
            .sum();
        let rest = self.rest.size_hint();
        let mut hint = SizeHint::new();
        hint.set_lower(rest.lower() + read);
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + read);
        }
        hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    /// A body that plays a script: a frame, an error, or a turn with nothing ready.
    enum Step {
        Data(&'static str),
        Trailers,
        Fail,
        Wait(u8),
    }

    struct Scripted(VecDeque<Step>);

    impl Body for Scripted {
        type Data = Bytes;
        type Error = &'static str;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, &'static str>>> {
            match self.0.pop_front() {
                None => Poll::Ready(None),
                Some(Step::Data(d)) => Poll::Ready(Some(Ok(Frame::data(Bytes::from(d))))),
                Some(Step::Trailers) => {
                    let mut trailers = http::HeaderMap::new();
                    trailers.insert("x-check", "done".parse().unwrap());
                    Poll::Ready(Some(Ok(Frame::trailers(trailers))))
                }
                Some(Step::Fail) => Poll::Ready(Some(Err("broken"))),
                Some(Step::Wait(n)) => {
                    if n > 1 {
                        self.0.push_front(Step::Wait(n - 1));
                    }
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            }
        }
    }

    fn script(steps: Vec<Step>) -> Scripted {
        Scripted(steps.into())
    }

    /// Everything a body yields, in order: data as text, trailers as `[trailers]`, an
    /// error as `[error: ..]`.
    async fn drain(mut body: impl Body<Data = Bytes, Error = &'static str> + Unpin) -> String {
        let mut seen = String::new();
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(frame) if frame.is_data() => {
                    seen.push_str(std::str::from_utf8(frame.data_ref().unwrap()).unwrap())
                }
                Ok(_) => seen.push_str("[trailers]"),
                Err(e) => seen.push_str(&format!("[error: {e}]")),
            }
        }
        seen
    }

    #[tokio::test]
    async fn a_body_that_ends_within_the_turns_becomes_one_buffer() {
        let body = script(vec![
            Step::Data("hel"),
            Step::Wait(2),
            Step::Data("lo"),
            Step::Wait(1),
        ]);
        match settle(body).await {
            Settled::Whole(bytes) => assert_eq!(bytes, "hello"),
            Settled::Streaming(_) => panic!("a body ending in 3 turns was streamed"),
        }
        match settle(script(vec![])).await {
            Settled::Whole(bytes) => assert!(bytes.is_empty()),
            Settled::Streaming(_) => panic!("an empty body was streamed"),
        }
    }

    #[tokio::test]
    async fn a_body_that_pauses_longer_is_streamed_from_where_it_was() {
        let body = script(vec![
            Step::Data("first "),
            Step::Wait(TURNS + 1),
            Step::Data("second"),
        ]);
        let Settled::Streaming(rest) = settle(body).await else {
            panic!("a body pausing past the turns was buffered whole");
        };
        assert!(!rest.is_end_stream());
        assert_eq!(rest.size_hint().lower(), 6);
        assert_eq!(drain(rest).await, "first second");
    }

    #[tokio::test]
    async fn trailers_and_errors_are_passed_on_in_order() {
        let Settled::Streaming(rest) =
            settle(script(vec![Step::Data("body"), Step::Trailers])).await
        else {
            panic!("a body with trailers lost them");
        };
        assert_eq!(drain(rest).await, "body[trailers]");

        let Settled::Streaming(rest) =
            settle(script(vec![Step::Data("partial"), Step::Fail])).await
        else {
            panic!("a failing body was buffered whole");
        };
        assert_eq!(drain(rest).await, "partial[error: broken]");
    }

    #[tokio::test]
    async fn a_body_longer_than_the_limit_is_streamed() {
        let chunk: &'static str = Box::leak("x".repeat(MAX_BYTES / 2 + 1).into_boxed_str());
        let Settled::Streaming(rest) = settle(script(vec![
            Step::Data(chunk),
            Step::Data(chunk),
            Step::Data("end"),
        ]))
        .await
        else {
            panic!("a body over the limit was buffered whole");
        };
        assert_eq!(drain(rest).await.len(), 2 * chunk.len() + 3);
    }
}
