//! `[outbound_http] max_connections` (and `[outbound_networking] max_total_connections`)
//! of the runtime config, as Spin applies them: at most that many outbound HTTP
//! connections open at once. A connection holds its permit for as long as it is open,
//! idle in the pool included. A request that needs a new connection waits for a permit
//! within its connect timeout (the connector that times connecting wraps this one), so
//! past it the guest gets `connection-timeout`; `0` allows no connection at all. One
//! cap counts the connections of every pool (`[[client_tls]]` entries have their own).

use hyper_util::client::legacy::connect::{Connected, Connection};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// At most so many connections open at once, across the connectors given it.
#[derive(Clone, Default)]
pub struct ConnectionCap(Option<Arc<Semaphore>>);

impl ConnectionCap {
    /// No limit with `None`.
    pub fn new(max_connections: Option<usize>) -> Self {
        Self(max_connections.map(|n| Arc::new(Semaphore::new(n))))
    }
}

/// A connector whose connections each hold a permit of a shared cap; no cap, no permit.
#[derive(Clone)]
pub struct CappedConnector<C> {
    inner: C,
    cap: ConnectionCap,
}

impl<C> CappedConnector<C> {
    pub fn new(inner: C, cap: ConnectionCap) -> Self {
        Self { inner, cap }
    }
}

impl<C> tower_service::Service<http::Uri> for CappedConnector<C>
where
    C: tower_service::Service<http::Uri> + Clone + Send + 'static,
    C::Future: Send + 'static,
    C::Error: Into<BoxError>,
{
    type Response = Permitted<C::Response>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        // The connector made ready is the one called, after the wait for a permit.
        let ready = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, ready);
        let permits = self.cap.0.clone();
        Box::pin(async move {
            let permit = match permits {
                Some(permits) => Some(permits.acquire_owned().await?),
                None => None,
            };
            let stream = inner.call(uri).await.map_err(Into::into)?;
            Ok(Permitted {
                stream,
                _permit: permit,
            })
        })
    }
}

/// A connection and the permit it holds until it is dropped.
pub struct Permitted<S> {
    stream: S,
    _permit: Option<OwnedSemaphorePermit>,
}

impl<S: Connection> Connection for Permitted<S> {
    fn connected(&self) -> Connected {
        self.stream.connected()
    }
}

impl<S: hyper::rt::Read + Unpin> hyper::rt::Read for Permitted<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl<S: hyper::rt::Write + Unpin> hyper::rt::Write for Permitted<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;
    use tower_service::Service;

    /// Connects at once, to nothing, counting its connections.
    #[derive(Clone, Default)]
    struct Counting(Arc<AtomicUsize>);

    impl Service<http::Uri> for Counting {
        type Response = ();
        type Error = io::Error;
        type Future = std::future::Ready<io::Result<()>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _uri: http::Uri) -> Self::Future {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(()))
        }
    }

    fn uri() -> http::Uri {
        "http://upstream.test/".parse().unwrap()
    }

    #[tokio::test]
    async fn a_connection_waits_until_an_open_one_is_dropped() {
        let connected = Counting::default();
        let mut capped = CappedConnector::new(connected.clone(), ConnectionCap::new(Some(1)));
        let first = capped.call(uri()).await.unwrap();
        let second = capped.call(uri());
        let waited = tokio::time::timeout(Duration::from_millis(50), second).await;
        assert!(waited.is_err(), "the second connection waits for a permit");
        assert_eq!(connected.0.load(Ordering::SeqCst), 1);

        drop(first);
        let second = tokio::time::timeout(Duration::from_secs(5), capped.call(uri())).await;
        assert!(second.unwrap().is_ok());
        assert_eq!(connected.0.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn connectors_sharing_a_cap_count_together() {
        let cap = ConnectionCap::new(Some(1));
        let mut one = CappedConnector::new(Counting::default(), cap.clone());
        let mut other = CappedConnector::new(Counting::default(), cap);
        let held = one.call(uri()).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(50), other.call(uri())).await;
        assert!(
            waited.is_err(),
            "the other connector waits for the one permit"
        );
        drop(held);
        let other = tokio::time::timeout(Duration::from_secs(5), other.call(uri())).await;
        assert!(other.unwrap().is_ok());
    }

    #[tokio::test]
    async fn without_a_cap_connections_hold_no_permit() {
        let mut open = CappedConnector::new(Counting::default(), ConnectionCap::default());
        let held: Vec<_> = futures::future::try_join_all((0..3).map(|_| open.call(uri())))
            .await
            .unwrap();
        assert!(held.iter().all(|c| c._permit.is_none()));

        let mut none = CappedConnector::new(Counting::default(), ConnectionCap::new(Some(0)));
        let waited = tokio::time::timeout(Duration::from_millis(50), none.call(uri())).await;
        assert!(waited.is_err(), "0 allows no connection");
    }
}
