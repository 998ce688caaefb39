//! `up --busy-poll WINDOW`: after each request a serving thread keeps polling its
//! sockets for up to WINDOW instead of sleeping in the kernel, as HAProxy's
//! `busy-polling` and Linux's `net.core.busy_poll` do. A VM may halt an idle vCPU at
//! once, and waking it for the next request can cost more than the request itself
//! (README, Benchmarks). Off by default: while its window is open a serving thread uses
//! a whole CPU.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

thread_local! {
    /// This serving thread's window; `None` when busy polling is off.
    static WINDOW: Cell<Option<Duration>> = const { Cell::new(None) };
    /// Until when the poller keeps the thread awake.
    static UNTIL: Cell<Option<Instant>> = const { Cell::new(None) };
    /// The poller, while it waits for the next request.
    static ASLEEP: RefCell<Option<Waker>> = const { RefCell::new(None) };
}

/// Turns busy polling on for the current serving thread: spawns its poller on the
/// thread's (single-threaded) runtime.
pub fn start(window: Duration) {
    WINDOW.with(|w| w.set(Some(window)));
    tokio::spawn(poll_while_open());
}

/// A request arrived at `now` on this thread: keep it awake until `now + WINDOW`.
pub fn request_arrived(now: Instant) {
    let Some(window) = WINDOW.with(Cell::get) else {
        return;
    };
    UNTIL.with(|u| u.set(Some(now + window)));
    if let Some(poller) = ASLEEP.with(RefCell::take) {
        poller.wake();
    }
}

fn open() -> bool {
    UNTIL
        .with(Cell::get)
        .is_some_and(|until| Instant::now() < until)
}

async fn poll_while_open() {
    loop {
        if open() {
            // With nothing else to run, Tokio answers a yield by polling its sockets
            // and timers with a zero timeout (`epoll_wait(.., 0)`) and coming back.
            // `sched_yield` lets another thread on this CPU (the other serving thread,
            // a client) run between two polls instead of waiting for the time slice.
            std::thread::yield_now();
            tokio::task::yield_now().await;
        } else {
            poll_fn(|cx| {
                if open() {
                    Poll::Ready(())
                } else {
                    ASLEEP.with(|a| *a.borrow_mut() = Some(cx.waker().clone()));
                    Poll::Pending
                }
            })
            .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asleep() -> bool {
        ASLEEP.with(|a| a.borrow().is_some())
    }

    #[test]
    fn the_poller_sleeps_until_a_request_and_again_once_its_window_closes() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            start(Duration::from_millis(20));
            tokio::task::yield_now().await;
            assert!(asleep(), "no request yet, so no polling");
            request_arrived(Instant::now());
            assert!(!asleep(), "a request wakes the poller");
            tokio::task::yield_now().await;
            assert!(!asleep(), "the window is open");
            // Other tasks still run while it polls: this sleep ends.
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert!(asleep(), "the window closed");
        });
    }

    #[test]
    fn without_start_a_request_changes_nothing() {
        request_arrived(Instant::now());
        assert_eq!(UNTIL.with(Cell::get), None);
    }
}
