//! The per-core runtime a worker runs: executor, timer wheel, clock and mailbox, and
//! the loop that drives them with an I/O [`Driver`](crate::io::Driver).
//!
//! Owns: the thread-local timer wheel and the worker loop. Invariants: everything here
//! is thread-local to one worker; the loop never blocks longer than the earliest timer;
//! timers and tasks only ever see the cached clock ([`clock::now_ms`]).
//!
//! ```text
//! loop {
//!     driver.poll(timeout)     // wait for readiness, wake tasks
//!     executor.run_ready()     // run woken tasks
//!     timers.expire(now)       // wake tasks whose deadline passed
//!     on_turn()                // drain the mailbox
//!     driver.flush()
//! }
//! ```

pub mod clock;
pub mod executor;
pub mod mailbox;
pub mod timer;

use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

pub use executor::{spawn, yield_now, ExecCounters, Executor, TaskId};
pub use timer::{TimerKey, TimerWheel};

use crate::io::Driver;

thread_local! {
    static TIMERS: RefCell<TimerWheel> = RefCell::new(TimerWheel::new(clock::update()));
}

fn with_timers<R>(f: impl FnOnce(&mut TimerWheel) -> R) -> R {
    TIMERS.with(|t| f(&mut t.borrow_mut()))
}

/// Number of timers armed on this worker.
pub fn timers_armed() -> usize {
    with_timers(|t| t.armed())
}

/// A reusable one-shot timer owned by a task (re-arming keeps the same wheel entry).
#[derive(Debug, Default)]
pub struct Timer {
    key: Option<TimerKey>,
    /// The deadline last set while `key` is held: setting it again (a timeout
    /// pushed back within the same millisecond) leaves the wheel alone.
    deadline: u64,
}

impl Timer {
    pub const fn new() -> Self {
        Timer {
            key: None,
            deadline: 0,
        }
    }

    /// Arm (or move) the timer to fire at `deadline_ms`.
    pub fn set_deadline(&mut self, deadline_ms: u64) {
        match self.key {
            Some(_) if self.deadline == deadline_ms => {}
            Some(k) if with_timers(|t| t.rearm(k, deadline_ms)) => {}
            _ => self.key = Some(with_timers(|t| t.arm(deadline_ms, None))),
        }
        self.deadline = deadline_ms;
    }

    /// Arm to fire `after` from now; `None` disarms (no timeout).
    pub fn set_after(&mut self, after: Option<Duration>) {
        match after {
            Some(d) => self.set_deadline(clock::now_ms() + d.as_millis() as u64),
            None => self.clear(),
        }
    }

    /// Disarm.
    pub fn clear(&mut self) {
        if let Some(k) = self.key.take() {
            with_timers(|t| t.cancel(k));
        }
    }

    pub fn is_armed(&self) -> bool {
        self.key.is_some()
    }

    /// Ready once the deadline has passed; a disarmed timer is never ready.
    pub fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(k) = self.key else {
            return Poll::Pending;
        };
        with_timers(|t| {
            if t.is_fired(k) {
                return Poll::Ready(());
            }
            match t.deadline(k) {
                Some(d) if d <= clock::now_ms() => Poll::Ready(()),
                Some(_) => {
                    t.set_waker(k, cx.waker());
                    Poll::Pending
                }
                None => Poll::Ready(()),
            }
        })
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.clear();
    }
}

/// Wait until `after` has elapsed.
pub async fn sleep(after: Duration) {
    let mut t = Timer::new();
    t.set_after(Some(after));
    poll_fn(|cx| t.poll_expired(cx)).await
}

/// A timeout elapsed before the operation completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

/// Run `f`, giving up after `limit` (`None`: no limit).
pub async fn timeout<F: Future>(limit: Option<Duration>, f: F) -> Result<F::Output, Elapsed> {
    let mut f = std::pin::pin!(f);
    let mut timer = Timer::new();
    timer.set_after(limit);
    poll_fn(|cx| {
        if let Poll::Ready(v) = f.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if timer.poll_expired(cx).is_ready() {
            return Poll::Ready(Err(Elapsed));
        }
        Poll::Pending
    })
    .await
}

/// Tasks run per loop turn before the driver is polled again (fairness with I/O).
const RUN_BUDGET: usize = 1024;
/// The longest the driver may sleep with no timer armed.
const MAX_WAIT: Duration = Duration::from_millis(1000);

/// Drive `executor` and the timers with `driver` until `stop()` says so. `on_turn`
/// runs once per turn (mailbox drain, periodic work).
pub fn run_loop<D: Driver>(
    driver: &D,
    executor: &Executor,
    mut on_turn: impl FnMut(),
    mut stop: impl FnMut() -> bool,
) {
    loop {
        let now = clock::update();
        executor.run_ready(RUN_BUDGET);
        let now = now.max(clock::update());
        with_timers(|t| t.expire(now));
        executor.run_ready(RUN_BUDGET);
        on_turn();
        driver.flush();
        if stop() {
            return;
        }
        let wait = if executor.has_ready() {
            Some(Duration::ZERO)
        } else {
            let next = with_timers(|t| t.next_expiration());
            Some(match next {
                Some(at) => Duration::from_millis(at.saturating_sub(clock::now_ms())).min(MAX_WAIT),
                None => MAX_WAIT,
            })
        };
        if let Err(e) = driver.poll(wait) {
            if e.kind() != std::io::ErrorKind::Interrupted {
                eprintln!("sluice: driver poll failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// Pin a boxed future (helper for callers that store futures).
pub type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn timeout_fires_and_sleep_completes() {
        let ex = Executor::new();
        let out = Rc::new(Cell::new((false, false)));
        let o = out.clone();
        ex.spawn(async move {
            let r = timeout(
                Some(Duration::from_millis(20)),
                std::future::pending::<()>(),
            )
            .await;
            let slept = timeout(
                Some(Duration::from_secs(5)),
                sleep(Duration::from_millis(5)),
            )
            .await
            .is_ok();
            o.set((r == Err(Elapsed), slept));
        });
        let start = std::time::Instant::now();
        while ex.live_tasks() > 0 && start.elapsed() < Duration::from_secs(5) {
            let now = clock::update();
            with_timers(|t| t.expire(now));
            ex.run_ready(16);
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(out.get(), (true, true));
        assert_eq!(timers_armed(), 0, "dropped timers are cancelled");
    }
}
