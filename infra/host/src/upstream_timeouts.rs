//! The three timeouts of an outbound request (`wasi:http` `request-options`), as Spin
//! and Wasmtime apply them: `connect-timeout` bounds making the connection (TCP and
//! TLS), `first-byte-timeout` bounds waiting for the response's head, and
//! `between-bytes-timeout` bounds each wait for the next piece of its body.
//!
//! The pooled client's connector is given only the URI, so the connect timeout of the
//! request that asks for a new connection reaches it through a task-local, as in
//! Spin's `factor-outbound-http`. A pooled connection that is reused has nothing to
//! connect, and its request's connect timeout does not apply.

use http_body_util::BodyExt;
use hyper_util::client::legacy::connect::HttpConnector;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tower_http::timeout::{TimeoutBody, TimeoutError};
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody};

/// Connecting, when the request sets no timeout. Spin waits 600 s (the kernel gives up
/// on an unanswered SYN after about two minutes); a gateway should fail over sooner.
pub const DEFAULT_CONNECT: Duration = Duration::from_secs(10);
/// Waiting for the head, and for each piece of the body, when the request sets no
/// timeout: Spin's and Wasmtime's default.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(600);

/// The timeouts of one outbound request, its own where it set them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub first_byte: Duration,
    pub between_bytes: Duration,
}

impl Timeouts {
    pub fn of(options: Option<RequestOptions>) -> Self {
        let options = options.unwrap_or_default();
        Timeouts {
            connect: options.connect_timeout.unwrap_or(DEFAULT_CONNECT),
            first_byte: options.first_byte_timeout.unwrap_or(DEFAULT_WAIT),
            between_bytes: options.between_bytes_timeout.unwrap_or(DEFAULT_WAIT),
        }
    }
}

tokio::task_local! {
    /// The connect timeout of the request being sent on this task.
    static CONNECT_TIMEOUT: Duration;
}

/// Runs `sending` (a pooled client's request) with `connect` as the timeout of any
/// connection it makes.
pub async fn with_connect_timeout<F: Future>(connect: Duration, sending: F) -> F::Output {
    CONNECT_TIMEOUT.scope(connect, sending).await
}

/// A connection that was not made within its request's connect timeout.
#[derive(Debug)]
pub struct ConnectTimedOut;

impl std::fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connect timeout")
    }
}

impl std::error::Error for ConnectTimedOut {}

/// Whether `error` (a pooled client's error, with its sources) is a connect timeout.
pub fn is_connect_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    crate::error_chain::find::<ConnectTimedOut>(error).is_some()
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A connector whose connections are bounded by the connect timeout of the request
/// that asked for them ([`with_connect_timeout`]; [`DEFAULT_CONNECT`] outside one).
/// Wraps the TLS connector, so the handshake counts too.
#[derive(Clone)]
pub struct TimedConnector<C>(pub C);

impl<C> tower_service::Service<http::Uri> for TimedConnector<C>
where
    C: tower_service::Service<http::Uri>,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = C::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<C::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.0.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        // Read now: the client may finish connecting on a task of its own.
        let timeout = CONNECT_TIMEOUT
            .try_with(|timeout| *timeout)
            .unwrap_or(DEFAULT_CONNECT);
        let connecting = self.0.call(uri);
        Box::pin(async move {
            match tokio::time::timeout(timeout, connecting).await {
                Ok(connected) => connected.map_err(Into::into),
                Err(_) => Err(Box::new(ConnectTimedOut) as BoxError),
            }
        })
    }
}

/// The plain TCP connector the TLS one wraps: no timeout of its own.
pub fn tcp_connector<R>(resolver: R) -> HttpConnector<R> {
    let mut http = HttpConnector::new_with_resolver(resolver);
    http.enforce_http(false);
    http.set_nodelay(true);
    http
}

/// `body`, failing with `connection-read-timeout` when its next piece takes longer
/// than `between_bytes` to come.
pub fn between_bytes<B>(body: B, between_bytes: Duration) -> WasiBody
where
    B: http_body::Body<Data = bytes::Bytes, Error = HttpError> + Send + 'static,
{
    TimeoutBody::new(between_bytes, body)
        .map_err(|e| {
            if e.is::<TimeoutError>() {
                HttpError::ConnectionReadTimeout
            } else {
                match e.downcast::<HttpError>() {
                    Ok(e) => *e,
                    Err(_) => HttpError::HttpProtocolError,
                }
            }
        })
        .boxed_unsync()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::StreamExt;
    use http_body::Frame;

    #[test]
    fn a_request_without_options_gets_the_defaults() {
        assert_eq!(
            Timeouts::of(None),
            Timeouts {
                connect: DEFAULT_CONNECT,
                first_byte: DEFAULT_WAIT,
                between_bytes: DEFAULT_WAIT,
            }
        );
    }

    #[test]
    fn a_connect_timeout_bounds_connecting_only() {
        let options = RequestOptions {
            connect_timeout: Some(Duration::from_millis(200)),
            ..Default::default()
        };
        let timeouts = Timeouts::of(Some(options));
        assert_eq!(timeouts.connect, Duration::from_millis(200));
        assert_eq!(timeouts.first_byte, DEFAULT_WAIT);
        assert_eq!(timeouts.between_bytes, DEFAULT_WAIT);
    }

    /// A connector that never connects.
    #[derive(Clone)]
    struct Unanswered;

    impl tower_service::Service<http::Uri> for Unanswered {
        type Response = ();
        type Error = std::io::Error;
        type Future = futures::future::Pending<Result<(), std::io::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Uri) -> Self::Future {
            futures::future::pending()
        }
    }

    #[tokio::test]
    async fn a_connection_not_made_in_its_requests_connect_timeout_fails_as_one() {
        let mut connector = TimedConnector(Unanswered);
        let uri: http::Uri = "http://10.0.0.1/".parse().unwrap();
        let connecting = async {
            use tower_service::Service;
            connector.call(uri).await
        };
        let outcome = tokio::time::timeout(
            Duration::from_secs(5),
            with_connect_timeout(Duration::from_millis(20), connecting),
        )
        .await
        .expect("the request's own connect timeout, not the 10 s default, applies");
        let error = outcome.unwrap_err();
        assert!(is_connect_timeout(&*error), "{error}");
    }

    /// An error caused by another, as the pooled client reports its connector's.
    #[derive(Debug)]
    struct CausedBy(BoxError);

    impl std::fmt::Display for CausedBy {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("client error")
        }
    }

    impl std::error::Error for CausedBy {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&*self.0)
        }
    }

    #[test]
    fn only_a_connect_timeout_is_taken_for_one() {
        assert!(is_connect_timeout(&CausedBy(Box::new(ConnectTimedOut))));
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "timed out");
        assert!(!is_connect_timeout(&CausedBy(Box::new(io))));
    }

    #[tokio::test]
    async fn a_body_that_stalls_between_pieces_fails_with_a_read_timeout() {
        let pieces = futures::stream::iter([Ok::<_, HttpError>(Frame::data(Bytes::from("a")))])
            .chain(futures::stream::pending());
        let body = http_body_util::StreamBody::new(pieces).boxed_unsync();
        let mut body = between_bytes(body, Duration::from_millis(20));
        let first = body.frame().await.unwrap().unwrap();
        assert_eq!(first.into_data().unwrap(), Bytes::from("a"));
        let stalled = body.frame().await.unwrap().unwrap_err();
        assert!(
            matches!(stalled, HttpError::ConnectionReadTimeout),
            "{stalled}"
        );
    }

    #[tokio::test]
    async fn a_body_error_of_its_own_passes_through() {
        let pieces =
            futures::stream::iter([Err::<Frame<Bytes>, _>(HttpError::ConnectionTerminated)]);
        let body = http_body_util::StreamBody::new(pieces).boxed_unsync();
        let mut body = between_bytes(body, Duration::from_secs(5));
        let error = body.frame().await.unwrap().unwrap_err();
        assert!(matches!(error, HttpError::ConnectionTerminated), "{error}");
    }
}
