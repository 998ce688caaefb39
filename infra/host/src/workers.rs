//! Instance reuse, as Spin 4 does it for `wasi:http/handler@0.3.0` components: a store
//! and its instances serve up to `max_reuse` requests, up to `max_concurrent` of them at
//! once, and are dropped after `idle_timeout` without work. Wasmtime's
//! `wasmtime_wasi_http::handler::ProxyHandler` runs the workers; this module says how a
//! worker's store is built and when it retires.

use crate::app::{App, Chain};
use crate::instance::InstanceState;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use wasmtime::component::GuestTaskId;
use wasmtime::{Store, StoreContextMut};
use wasmtime_wasi_http::WasiHttpView;
use wasmtime_wasi_http::handler::{
    HandlerState, Instance, Proxy, ShouldAccept, WorkerExpiration, WorkerState, WorkerStatus,
};

/// How long instances live: the `up` flags Spin spells the same way, with its defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reuse {
    /// Requests one instance serves before it is dropped (`1`: a fresh instance for
    /// every request).
    pub max_reuse: usize,
    /// Requests one instance serves at the same time.
    pub max_concurrent: usize,
    /// How long an instance with nothing to do is kept for the next request.
    pub idle_timeout: Duration,
}

impl Default for Reuse {
    fn default() -> Self {
        Self {
            max_reuse: 128,
            max_concurrent: 16,
            idle_timeout: Duration::from_secs(1),
        }
    }
}

impl Reuse {
    fn accepts(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.max_reuse {
            ShouldAccept::Never
        } else if concurrent >= self.max_concurrent {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }
}

/// The workers of one kind of store: link `index` of a chain and everything that
/// store instantiates (the whole chain when it shares one store).
pub struct LinkWorkers {
    pub app: Weak<App>,
    pub chain: Weak<Chain>,
    pub index: usize,
    pub reuse: Reuse,
    /// What the log names when a worker fails: the component, or the chain.
    pub component: Arc<str>,
}

impl HandlerState for LinkWorkers {
    type StoreData = InstanceState;
    type WorkerExpiration = IdleExpiry;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<InstanceState, IdleExpiry, Worker>> {
        let (Some(app), Some(chain)) = (self.app.upgrade(), self.chain.upgrade()) else {
            wasmtime::bail!("the app is shutting down");
        };
        let (state, pres) = app
            .store_for(&chain, self.index)
            .map_err(wasmtime::Error::from_anyhow)?;
        let mut store = Store::new(app.engine(), state);
        store.limiter(|s| &mut s.limits);
        let (outermost, inner) = pres
            .split_first()
            .expect("a store instantiates a component");
        let proxy = Proxy::P3(outermost.instantiate_async(&mut store).await?);
        let mut chained = Vec::with_capacity(inner.len());
        for pre in inner {
            chained.push(Arc::new(pre.instantiate_async(&mut store).await?));
        }
        store.data_mut().chained = chained;
        crate::metrics::record_instance_started(&self.component);
        Ok(Instance {
            store,
            proxy,
            view: <InstanceState as WasiHttpView>::http,
            expiration: IdleExpiry::new(self.reuse.idle_timeout),
            state: Worker {
                reuse: self.reuse,
                component: self.component.clone(),
            },
        })
    }
}

/// One worker's limits, and its log line when it fails.
pub struct Worker {
    reuse: Reuse,
    component: Arc<str>,
}

impl WorkerState for Worker {
    type StoreData = InstanceState;
    type RequestData = ();

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        self.reuse.accepts(concurrent, total)
    }

    fn on_request_start(
        &self,
        _: StoreContextMut<'_, InstanceState>,
        _: (),
        _: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>> {
        // No request timeout (none before reuse either; Spin has none by default): a
        // request runs until its guest answers.
        Box::pin(std::future::pending())
    }

    fn drop(&self, store: Store<InstanceState>, result: wasmtime::Result<()>) {
        drop(store);
        crate::metrics::record_instance_dropped(&self.component);
        // Wasmtime reports a worker whose task was dropped as "worker panicked", also
        // when nothing panicked: the serving thread's runtime dropping its idle
        // instances at shutdown. Only a drop during unwinding is a panic.
        let cancelled = result
            .as_ref()
            .is_err_and(|e| e.to_string() == "worker panicked")
            && !std::thread::panicking();
        if cancelled {
            return;
        }
        if let Err(e) = result {
            let message = e.root_cause().to_string();
            crate::log::event(
                "guest_error",
                &[
                    ("component", &self.component),
                    ("error", message.lines().next().unwrap_or_default()),
                ],
            );
        }
    }
}

/// Retires a worker that has been idle for `idle_timeout`.
pub struct IdleExpiry {
    idle_timeout: Duration,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl IdleExpiry {
    fn new(idle_timeout: Duration) -> Self {
        Self {
            idle_timeout,
            sleep: Box::pin(tokio::time::sleep(idle_timeout)),
        }
    }
}

impl WorkerExpiration for IdleExpiry {
    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        if status != WorkerStatus::Idle {
            return Poll::Pending;
        }
        let deadline = tokio::time::Instant::from_std(start + self.idle_timeout);
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        self.sleep.as_mut().poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(reuse: &Reuse, concurrent: usize, total: usize) -> &'static str {
        match reuse.accepts(concurrent, total) {
            ShouldAccept::Yes => "yes",
            ShouldAccept::No => "not now",
            ShouldAccept::Never => "never",
        }
    }

    #[test]
    fn an_instance_takes_requests_up_to_its_reuse_and_concurrency_limits() {
        let reuse = Reuse {
            max_reuse: 3,
            max_concurrent: 2,
            idle_timeout: Duration::from_secs(1),
        };
        assert_eq!(verdict(&reuse, 0, 0), "yes");
        assert_eq!(verdict(&reuse, 1, 1), "yes");
        assert_eq!(verdict(&reuse, 2, 2), "not now");
        assert_eq!(verdict(&reuse, 0, 3), "never");
    }

    #[test]
    fn reuse_one_means_a_fresh_instance_per_request() {
        let reuse = Reuse {
            max_reuse: 1,
            ..Reuse::default()
        };
        assert_eq!(verdict(&reuse, 0, 0), "yes");
        assert_eq!(verdict(&reuse, 0, 1), "never");
    }

    #[test]
    fn the_defaults_are_spins() {
        assert_eq!(
            Reuse::default(),
            Reuse {
                max_reuse: 128,
                max_concurrent: 16,
                idle_timeout: Duration::from_secs(1)
            }
        );
    }
}
