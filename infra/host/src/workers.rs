//! Instance reuse, as Spin 4 does it for `wasi:http/handler@0.3.0` components: a store
//! and its instances serve up to `max_reuse` requests, up to `max_concurrent` of them at
//! once, and are dropped after `idle_timeout` without work, or when a request outlives
//! `request_timeout`. Wasmtime's
//! `wasmtime_wasi_http::handler::ProxyHandler` runs the workers; this module says how a
//! worker's store is built and when it retires.

use crate::app::{App, Chain};
use crate::instance::InstanceState;
use crate::request_fate::{Fate, Taken, push_weak};
use futures::task::AtomicWaker;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
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
    /// How long a request may take to be answered, and then the instance to finish
    /// with it (stream its body, ...). An instance that overruns it is dropped with
    /// every request it holds. `None`: no limit.
    pub request_timeout: Option<Duration>,
}

impl Default for Reuse {
    fn default() -> Self {
        Self {
            max_reuse: 128,
            max_concurrent: 16,
            idle_timeout: Duration::from_secs(1),
            request_timeout: None,
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
        // A guest computing without a pause hands its serving thread back at every
        // epoch tick (`engine::EPOCH_TICK`), so the other connections on that thread
        // are served meanwhile and its expiry below is checked.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
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
        let taken = Arc::new(Taken::default());
        Ok(Instance {
            store,
            proxy,
            view: <InstanceState as WasiHttpView>::http,
            expiration: IdleExpiry::new(
                self.reuse.idle_timeout,
                self.reuse.request_timeout,
                taken.clone(),
            ),
            state: Worker {
                reuse: self.reuse,
                component: self.component.clone(),
                taken,
            },
        })
    }
}

/// One worker's limits, the requests it took, and its log line when it fails.
pub struct Worker {
    reuse: Reuse,
    component: Arc<str>,
    taken: Arc<Taken>,
}

impl WorkerState for Worker {
    type StoreData = InstanceState;
    type RequestData = Arc<Fate>;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        self.reuse.accepts(concurrent, total)
    }

    fn on_request_start(
        &self,
        _: StoreContextMut<'_, InstanceState>,
        fate: Arc<Fate>,
        _: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync + 'static>> {
        self.taken.add(&fate);
        // Wasmtime polls this only while the store's event loop runs, which a guest
        // computing without a pause keeps from running: `IdleExpiry` enforces the
        // same limit from outside it.
        match self.reuse.request_timeout {
            Some(timeout) => Box::pin(tokio::time::sleep(timeout)),
            None => Box::pin(std::future::pending()),
        }
    }

    fn drop(&self, store: Store<InstanceState>, result: wasmtime::Result<()>) {
        if result.is_err() {
            // Before the store goes, and with it the bodies' ends it was writing.
            self.taken.lose();
        }
        drop(store);
        SLOT_FREED.notify_waiters();
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

/// Rounds of asking idle instances for their pool slots (`reclaim_idle_slot`).
static RECLAIM_ROUND: AtomicU64 = AtomicU64::new(0);
/// Every instance's idle flag and waker, for a round to find and wake the idle ones.
static INSTANCES: Mutex<Vec<Weak<Presence>>> = Mutex::new(Vec::new());
/// Wakes whoever waits for a pool slot: an instance was dropped.
static SLOT_FREED: Notify = Notify::const_new();

/// A request found every slot of the instance pool taken: asks every instance idle
/// now, of any component and on any serving thread, to retire, and every instance
/// that finishes its requests before it is next seen busy to retire instead of
/// waiting idle; then waits up to `patience` for an instance to be dropped. Whether
/// one was (its slot may yet be taken by another request first).
///
/// Idle instances are kept only to be reused by their own component on their own
/// thread; without this, one idle on the other thread or of another component held
/// its slot for `idle_timeout` while the request was refused. Those finishing count
/// too, as the instance that has just answered may not have been seen idle yet when
/// its client's next request comes in on the other thread.
pub async fn reclaim_idle_slot(patience: Duration) -> bool {
    // Registered before the round starts, so a drop right after it is not missed.
    let freed = SLOT_FREED.notified();
    RECLAIM_ROUND.fetch_add(1, Ordering::SeqCst);
    let idle: Vec<Arc<Presence>> = {
        let mut instances = INSTANCES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        instances.retain(|presence| presence.strong_count() > 0);
        instances
            .iter()
            .filter_map(Weak::upgrade)
            .filter(|presence| presence.idle.load(Ordering::SeqCst))
            .collect()
    };
    for presence in idle {
        presence.waker.wake();
    }
    tokio::time::timeout(patience, freed).await.is_ok()
}

/// Whether an instance is idle, and how to wake its worker: what a reclaim round
/// reads. Written only by the thread the worker runs on, as its expiry is polled.
#[derive(Default)]
struct Presence {
    idle: AtomicBool,
    waker: AtomicWaker,
}

/// Retires a worker that has been idle for `idle_timeout`, or that is idle when a
/// request needs its slot (`reclaim_idle_slot`), or whose latest request, or the
/// work after its last answer, has taken `request_timeout`.
pub struct IdleExpiry {
    idle_timeout: Duration,
    request_timeout: Option<Duration>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    /// The reclaim round when the worker was last seen busy: a round since then
    /// asks for its slot.
    round: u64,
    presence: Arc<Presence>,
    taken: Arc<Taken>,
}

impl IdleExpiry {
    fn new(idle_timeout: Duration, request_timeout: Option<Duration>, taken: Arc<Taken>) -> Self {
        let presence = Arc::new(Presence::default());
        let mut instances = INSTANCES
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        push_weak(&mut instances, &presence);
        drop(instances);
        Self {
            idle_timeout,
            request_timeout,
            sleep: Box::pin(tokio::time::sleep(idle_timeout)),
            round: RECLAIM_ROUND.load(Ordering::SeqCst),
            presence,
            taken,
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
        let timeout = if status == WorkerStatus::Idle {
            // Waker and flag first, then the round: a round that starts after the
            // check finds the flag set and wakes this worker to check again.
            self.presence.waker.register(cx.waker());
            self.presence.idle.store(true, Ordering::SeqCst);
            if RECLAIM_ROUND.load(Ordering::SeqCst) != self.round {
                return Poll::Ready(());
            }
            self.idle_timeout
        } else {
            self.presence.idle.store(false, Ordering::SeqCst);
            self.round = RECLAIM_ROUND.load(Ordering::SeqCst);
            match self.request_timeout {
                Some(timeout) => timeout,
                None => return Poll::Pending,
            }
        };
        let deadline = tokio::time::Instant::from_std(start + timeout);
        if self.sleep.deadline() != deadline {
            self.sleep.as_mut().reset(deadline);
        }
        let expired = self.sleep.as_mut().poll(cx);
        if expired.is_ready() && status != WorkerStatus::Idle {
            // Before Wasmtime drops the requests' senders, so their callers see why.
            self.taken.time_out();
        }
        expired
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
            ..Reuse::default()
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

    /// Whether a worker's task was woken.
    #[derive(Default)]
    struct Woken(AtomicBool);

    impl std::task::Wake for Woken {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    /// What `expiry` says when polled with `status`, in it `since`, by a task `woken`
    /// records.
    fn expired_for(
        expiry: &mut Pin<Box<IdleExpiry>>,
        status: WorkerStatus,
        since: Instant,
        woken: &Arc<Woken>,
    ) -> bool {
        let waker = std::task::Waker::from(woken.clone());
        let mut cx = Context::from_waker(&waker);
        expiry.as_mut().poll(&mut cx, status, since).is_ready()
    }

    fn expired(expiry: &mut Pin<Box<IdleExpiry>>, status: WorkerStatus) -> bool {
        expired_since(expiry, status, Instant::now())
    }

    fn expired_since(
        expiry: &mut Pin<Box<IdleExpiry>>,
        status: WorkerStatus,
        since: Instant,
    ) -> bool {
        expired_for(expiry, status, since, &Arc::default())
    }

    #[tokio::test]
    async fn a_reclaim_round_retires_the_workers_idle_then_and_no_busy_one() {
        let expiry = || {
            Box::pin(IdleExpiry::new(
                Duration::from_secs(3600),
                None,
                Arc::default(),
            ))
        };
        let (mut idle, mut busy, mut finishing) = (expiry(), expiry(), expiry());
        let idle_task = Arc::new(Woken::default());
        assert!(!expired_for(
            &mut idle,
            WorkerStatus::Idle,
            Instant::now(),
            &idle_task
        ));
        assert!(!expired(&mut busy, WorkerStatus::Requests));
        assert!(!expired(&mut finishing, WorkerStatus::Requests));

        // Nothing drops an instance here: the round ends when its patience does.
        assert!(!reclaim_idle_slot(Duration::from_millis(10)).await);
        assert!(
            idle_task.0.load(Ordering::SeqCst),
            "the idle worker is woken"
        );
        assert!(expired(&mut idle, WorkerStatus::Idle), "idle at the round");
        assert!(
            expired(&mut finishing, WorkerStatus::Idle),
            "busy until the round, idle when next seen"
        );
        assert!(!expired(&mut busy, WorkerStatus::Requests));
        assert!(
            !expired(&mut busy, WorkerStatus::Idle),
            "seen busy after the round: its idle time is its own"
        );
    }

    #[tokio::test]
    async fn a_worker_expires_when_its_latest_request_outlives_the_request_timeout() {
        let second = Duration::from_secs(1);
        let a_minute_ago = Instant::now() - 60 * second;
        let mut limited = Box::pin(IdleExpiry::new(
            3600 * second,
            Some(10 * second),
            Arc::default(),
        ));
        assert!(!expired_since(
            &mut limited,
            WorkerStatus::Requests,
            Instant::now()
        ));
        assert!(expired_since(
            &mut limited,
            WorkerStatus::Requests,
            a_minute_ago
        ));
        assert!(
            expired_since(&mut limited, WorkerStatus::PostReturn, a_minute_ago),
            "answered, but still at work on the response a minute on"
        );
        assert!(
            !expired_since(&mut limited, WorkerStatus::Idle, a_minute_ago),
            "idle for a minute of its hour"
        );
        let unlimited = &mut Box::pin(IdleExpiry::new(3600 * second, None, Arc::default()));
        assert!(!expired_since(
            unlimited,
            WorkerStatus::Requests,
            a_minute_ago
        ));
    }

    #[tokio::test]
    async fn the_list_of_instances_keeps_no_entry_long_after_its_instance_is_gone() {
        for _ in 0..10_000 {
            drop(IdleExpiry::new(
                Duration::from_secs(1),
                None,
                Arc::default(),
            ));
        }
        let entries = INSTANCES.lock().unwrap().len();
        assert!(entries < 100, "{entries} entries");
    }

    #[test]
    fn the_defaults_are_spins() {
        assert_eq!(
            Reuse::default(),
            Reuse {
                max_reuse: 128,
                max_concurrent: 16,
                idle_timeout: Duration::from_secs(1),
                request_timeout: None,
            }
        );
    }
}
