//! `[outbound_http] max_connections` (and `[outbound_networking] max_total_connections`)
//! of the runtime config, as Spin applies them: at most that many outbound HTTP
//! connections open at once. A connection holds its permit for as long as it is open,
//! idle in the pool included. A request that needs a new connection waits for a permit
//! within its connect timeout (the connector that times connecting wraps this one), so
//! past it the guest gets `connection-timeout`; `0` allows no connection at all. One
//! cap counts the connections of every pool (`[[client_tls]]` entries have their own).
//!
//! With or without a cap, it reports the connections open and, under a cap, those
//! that had to wait for a permit (`ConnectionMetrics`).

use hyper_util::client::legacy::connect::{Connected, Connection};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the connectors of a cap report.
#[derive(Clone, Default)]
pub struct ConnectionMetrics {
    /// Connections open, idle in a pool included.
    pub open: Gauge,
    /// Connections that found every permit taken and waited (or gave up waiting).
    pub waited: Counter,
}

/// At most so many connections open at once, across the connectors given it.
#[derive(Clone, Default)]
pub struct ConnectionCap {
    permits: Option<Arc<Semaphore>>,
    metrics: ConnectionMetrics,
}

impl ConnectionCap {
    /// No limit with `None`.
    pub fn new(max_connections: Option<usize>, metrics: ConnectionMetrics) -> Self {
        Self {
            permits: max_connections.map(|n| Arc::new(Semaphore::new(n))),
            metrics,
        }
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
        let ConnectionCap { permits, metrics } = self.cap.clone();
        Box::pin(async move {
            let permit = match permits {
                Some(permits) => Some(match permits.clone().try_acquire_owned() {
                    Ok(permit) => permit,
                    Err(_) => {
                        metrics.waited.inc();
                        permits.acquire_owned().await?
                    }
                }),
                None => None,
            };
            let stream = inner.call(uri).await.map_err(Into::into)?;
            Ok(Permitted {
                stream,
                _open: Open::counted(metrics.open),
                _permit: permit,
            })
        })
    }
}

/// A connection, counted open and holding its permit until it is dropped.
pub struct Permitted<S> {
    stream: S,
    _open: Open,
    _permit: Option<OwnedSemaphorePermit>,
}

/// One in the open connections' gauge while it lives.
struct Open(Gauge);

impl Open {
    fn counted(open: Gauge) -> Self {
        open.inc();
        Self(open)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.dec();
    }
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
        let metrics = ConnectionMetrics::default();
        let cap = ConnectionCap::new(Some(1), metrics.clone());
        let mut capped = CappedConnector::new(connected.clone(), cap);
        let first = capped.call(uri()).await.unwrap();
        assert_eq!((metrics.open.get(), metrics.waited.get()), (1, 0));
        let second = capped.call(uri());
        let waited = tokio::time::timeout(Duration::from_millis(50), second).await;
        assert!(waited.is_err(), "the second connection waits for a permit");
        assert_eq!(connected.0.load(Ordering::SeqCst), 1);
        assert_eq!((metrics.open.get(), metrics.waited.get()), (1, 1));

        drop(first);
        assert_eq!(metrics.open.get(), 0);
        let second = tokio::time::timeout(Duration::from_secs(5), capped.call(uri())).await;
        assert!(second.unwrap().is_ok());
        assert_eq!(connected.0.load(Ordering::SeqCst), 2);
        // The permit was free: no wait. The connection is closed already, dropped
        // with the answer.
        assert_eq!((metrics.open.get(), metrics.waited.get()), (0, 1));
    }

    #[tokio::test]
    async fn connectors_sharing_a_cap_count_together() {
        let cap = ConnectionCap::new(Some(1), ConnectionMetrics::default());
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
        let metrics = ConnectionMetrics::default();
        let uncapped = ConnectionCap::new(None, metrics.clone());
        let mut open = CappedConnector::new(Counting::default(), uncapped);
        let held: Vec<_> = futures::future::try_join_all((0..3).map(|_| open.call(uri())))
            .await
            .unwrap();
        assert!(held.iter().all(|c| c._permit.is_none()));
        assert_eq!((metrics.open.get(), metrics.waited.get()), (3, 0));
        drop(held);
        assert_eq!(metrics.open.get(), 0);

        let none = ConnectionCap::new(Some(0), ConnectionMetrics::default());
        let mut none = CappedConnector::new(Counting::default(), none);
        let waited = tokio::time::timeout(Duration::from_millis(50), none.call(uri())).await;
        assert!(waited.is_err(), "0 allows no connection");
    }
}
