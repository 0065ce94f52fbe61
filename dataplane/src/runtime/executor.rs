//! The per-core task executor: single-threaded, `!Send` futures, generation-tagged wakers.
//!
//! Owns: the task slots of one worker and its ready queue.
//!
//! Invariants:
//! - A task id is `(slot index, generation)`. A slot's generation is bumped when its
//!   task completes, so a waker kept by a finished task's former I/O registration can
//!   never wake the slot's next occupant (the same class of bug as stale epoll events):
//!   such wakes are dropped and counted in [`ExecCounters::stale_wakes`].
//! - A task is queued at most once however often it is woken before it runs.
//! - Wakers are `Send` (the `Waker` contract) but tasks are not: a wake from another
//!   thread goes to the worker's remote queue and interrupts its driver via [`Notify`].

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use crossbeam_queue::SegQueue;

use crate::io::Notify;

type BoxFuture = Pin<Box<dyn Future<Output = ()>>>;

/// `(index << 32) | generation`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskId(u64);

impl TaskId {
    fn new(index: u32, generation: u32) -> Self {
        TaskId((u64::from(index) << 32) | u64::from(generation))
    }
    fn index(self) -> usize {
        (self.0 >> 32) as usize
    }
    fn generation(self) -> u32 {
        self.0 as u32
    }
}

/// What a worker shares with other threads: the remote wake queue and its notifier.
struct Home {
    id: u64,
    remote: SegQueue<TaskId>,
    notifier: OnceLock<Arc<dyn Notify>>,
}

static NEXT_HOME_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The executor running on this thread, if any.
    static CURRENT: RefCell<Option<Rc<Inner>>> = const { RefCell::new(None) };
    /// Id of the executor running on this thread (0: none); read by wakers.
    static CURRENT_HOME: Cell<u64> = const { Cell::new(0) };
    /// Tasks woken on this thread, not yet run.
    static LOCAL_READY: RefCell<VecDeque<TaskId>> = RefCell::new(VecDeque::with_capacity(256));
}

struct TaskWaker {
    id: TaskId,
    home: Arc<Home>,
    /// Set while the task sits in a ready queue: further wakes add nothing.
    queued: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if self.queued.swap(true, Ordering::AcqRel) {
            return;
        }
        if CURRENT_HOME.with(|h| h.get()) == self.home.id {
            LOCAL_READY.with(|q| q.borrow_mut().push_back(self.id));
        } else {
            self.home.remote.push(self.id);
            if let Some(n) = self.home.notifier.get() {
                n.notify();
            }
        }
    }
}

struct Slot {
    generation: u32,
    /// Taken out while the task runs (it may spawn, which grows `slots`).
    future: Option<BoxFuture>,
    /// The task's waker and its shared state (the `queued` flag).
    waker: Option<(Arc<TaskWaker>, Waker)>,
}

/// Counters of the executor, summed across workers when read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExecCounters {
    pub spawned: u64,
    pub completed: u64,
    pub polls: u64,
    /// Wakes aimed at a slot whose task has finished (stale generation): dropped.
    pub stale_wakes: u64,
    /// Wakes that arrived from another thread.
    pub remote_wakes: u64,
}

struct Inner {
    home: Arc<Home>,
    slots: RefCell<Vec<Slot>>,
    free: RefCell<Vec<u32>>,
    live: Cell<usize>,
    counters: Cell<ExecCounters>,
}

/// A single-threaded executor for one worker.
pub struct Executor {
    inner: Rc<Inner>,
}

impl Executor {
    /// Create an executor and make it current on this thread (for [`spawn`]).
    pub fn new() -> Executor {
        let home = Arc::new(Home {
            id: NEXT_HOME_ID.fetch_add(1, Ordering::Relaxed),
            remote: SegQueue::new(),
            notifier: OnceLock::new(),
        });
        let inner = Rc::new(Inner {
            home,
            slots: RefCell::new(Vec::new()),
            free: RefCell::new(Vec::new()),
            live: Cell::new(0),
            counters: Cell::new(ExecCounters::default()),
        });
        CURRENT.with(|c| *c.borrow_mut() = Some(inner.clone()));
        CURRENT_HOME.with(|h| h.set(inner.home.id));
        LOCAL_READY.with(|q| q.borrow_mut().clear());
        Executor { inner }
    }

    /// Let wakes from other threads interrupt the driver's poll.
    pub fn set_notifier(&self, n: Arc<dyn Notify>) {
        let _ = self.inner.home.notifier.set(n);
    }

    /// Queue a future as a new task.
    pub fn spawn<F: Future<Output = ()> + 'static>(&self, f: F) -> TaskId {
        self.inner.spawn(Box::pin(f))
    }

    /// Number of tasks not yet completed.
    pub fn live_tasks(&self) -> usize {
        self.inner.live.get()
    }

    /// Whether a task is waiting to run.
    pub fn has_ready(&self) -> bool {
        LOCAL_READY.with(|q| !q.borrow().is_empty()) || !self.inner.home.remote.is_empty()
    }

    pub fn counters(&self) -> ExecCounters {
        self.inner.counters.get()
    }

    /// Run ready tasks, at most `budget` polls; returns how many ran.
    pub fn run_ready(&self, budget: usize) -> usize {
        let inner = &self.inner;
        while let Some(id) = inner.home.remote.pop() {
            inner.bump(|c| c.remote_wakes += 1);
            LOCAL_READY.with(|q| q.borrow_mut().push_back(id));
        }
        let mut ran = 0;
        while ran < budget {
            let Some(id) = LOCAL_READY.with(|q| q.borrow_mut().pop_front()) else {
                break;
            };
            ran += 1;
            inner.run_one(id);
        }
        ran
    }
}

impl Default for Executor {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Drop the remaining futures (and the sockets they own) before leaving.
        let futures: Vec<BoxFuture> = self
            .inner
            .slots
            .borrow_mut()
            .iter_mut()
            .filter_map(|s| s.future.take())
            .collect();
        drop(futures);
        CURRENT.with(|c| {
            let mut c = c.borrow_mut();
            if c.as_ref().is_some_and(|i| Rc::ptr_eq(i, &self.inner)) {
                *c = None;
                CURRENT_HOME.with(|h| h.set(0));
            }
        });
    }
}

impl Inner {
    fn bump(&self, f: impl FnOnce(&mut ExecCounters)) {
        let mut c = self.counters.get();
        f(&mut c);
        self.counters.set(c);
    }

    fn spawn(&self, fut: BoxFuture) -> TaskId {
        let mut slots = self.slots.borrow_mut();
        let index = match self.free.borrow_mut().pop() {
            Some(i) => i,
            None => {
                slots.push(Slot {
                    generation: 0,
                    future: None,
                    waker: None,
                });
                (slots.len() - 1) as u32
            }
        };
        let slot = &mut slots[index as usize];
        let id = TaskId::new(index, slot.generation);
        slot.future = Some(fut);
        let tw = Arc::new(TaskWaker {
            id,
            home: self.home.clone(),
            queued: AtomicBool::new(true),
        });
        slot.waker = Some((tw.clone(), Waker::from(tw)));
        drop(slots);
        self.live.set(self.live.get() + 1);
        self.bump(|c| c.spawned += 1);
        LOCAL_READY.with(|q| q.borrow_mut().push_back(id));
        id
    }

    fn run_one(&self, id: TaskId) {
        let (mut fut, waker) = {
            let mut slots = self.slots.borrow_mut();
            let Some(slot) = slots.get_mut(id.index()) else {
                self.bump(|c| c.stale_wakes += 1);
                return;
            };
            if slot.generation != id.generation() {
                self.bump(|c| c.stale_wakes += 1);
                return;
            }
            match (slot.future.take(), slot.waker.as_ref()) {
                (Some(f), Some((tw, w))) => {
                    tw.queued.store(false, Ordering::Release);
                    (f, w.clone())
                }
                // Running right now (woken during its own poll) or already done.
                (f, _) => {
                    slot.future = f;
                    return;
                }
            }
        };
        self.bump(|c| c.polls += 1);
        let mut cx = Context::from_waker(&waker);
        let done = fut.as_mut().poll(&mut cx).is_ready();
        let mut slots = self.slots.borrow_mut();
        let slot = &mut slots[id.index()];
        if done {
            slot.generation = slot.generation.wrapping_add(1);
            slot.waker = None;
            drop(slots);
            drop(fut);
            self.free.borrow_mut().push(id.index() as u32);
            self.live.set(self.live.get() - 1);
            self.bump(|c| c.completed += 1);
        } else {
            slot.future = Some(fut);
        }
    }
}

/// Spawn a task on the executor of the current thread.
///
/// # Panics
/// When no executor runs on this thread (a programming error).
pub fn spawn<F: Future<Output = ()> + 'static>(f: F) -> TaskId {
    // Boxed before the thread-local closure: a future moved into it by value would
    // be copied once more (they run to KiB).
    spawn_boxed(Box::pin(f))
}

/// [`spawn`] for a future already on the heap.
fn spawn_boxed(f: BoxFuture) -> TaskId {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .expect("runtime::spawn outside a worker")
            .spawn(f)
    })
}

/// Yield once to let other ready tasks run.
pub async fn yield_now() {
    let mut yielded = false;
    std::future::poll_fn(|cx| {
        if yielded {
            Poll::Ready(())
        } else {
            yielded = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn runs_spawned_tasks_and_nested_spawns() {
        let ex = Executor::new();
        let hits = Rc::new(Cell::new(0));
        let h = hits.clone();
        ex.spawn(async move {
            h.set(h.get() + 1);
            let h2 = h.clone();
            spawn(async move { h2.set(h2.get() + 10) });
            yield_now().await;
            h.set(h.get() + 100);
        });
        while ex.has_ready() {
            ex.run_ready(16);
        }
        assert_eq!(hits.get(), 111);
        assert_eq!(ex.live_tasks(), 0);
        assert_eq!(ex.counters().completed, 2);
    }

    #[test]
    fn stale_waker_of_finished_task_does_not_wake_new_occupant() {
        let ex = Executor::new();
        let kept: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
        let k = kept.clone();
        ex.spawn(std::future::poll_fn(move |cx| {
            *k.borrow_mut() = Some(cx.waker().clone());
            Poll::Ready(())
        }));
        ex.run_ready(16);
        assert_eq!(ex.live_tasks(), 0);
        // The next task reuses the slot and waits forever.
        let polls = Rc::new(Cell::new(0));
        let p = polls.clone();
        ex.spawn(std::future::poll_fn(move |_| {
            p.set(p.get() + 1);
            Poll::<()>::Pending
        }));
        ex.run_ready(16);
        assert_eq!(polls.get(), 1);
        kept.borrow().as_ref().unwrap().wake_by_ref();
        ex.run_ready(16);
        assert_eq!(polls.get(), 1, "stale waker must not poll the new task");
        assert_eq!(ex.counters().stale_wakes, 1);
    }

    #[test]
    fn double_wake_runs_once() {
        let ex = Executor::new();
        let polls = Rc::new(Cell::new(0));
        let w: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
        let (p, w2) = (polls.clone(), w.clone());
        ex.spawn(std::future::poll_fn(move |cx| {
            p.set(p.get() + 1);
            *w2.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        ex.run_ready(16);
        let waker = w.borrow().clone().unwrap();
        waker.wake_by_ref();
        waker.wake_by_ref();
        ex.run_ready(16);
        assert_eq!(polls.get(), 2, "two wakes before a run poll the task once");
    }

    struct CountNotify(AtomicUsize);
    impl Notify for CountNotify {
        fn notify(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn remote_wake_goes_through_queue_and_notifies() {
        let ex = Executor::new();
        let n = Arc::new(CountNotify(AtomicUsize::new(0)));
        ex.set_notifier(n.clone());
        let w: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
        let polls = Rc::new(Cell::new(0));
        let (p, w2) = (polls.clone(), w.clone());
        ex.spawn(std::future::poll_fn(move |cx| {
            p.set(p.get() + 1);
            *w2.borrow_mut() = Some(cx.waker().clone());
            Poll::<()>::Pending
        }));
        ex.run_ready(16);
        let waker = w.borrow().clone().unwrap();
        std::thread::spawn(move || waker.wake()).join().unwrap();
        assert_eq!(n.0.load(Ordering::SeqCst), 1);
        assert!(ex.has_ready());
        ex.run_ready(16);
        assert_eq!(polls.get(), 2);
        assert_eq!(ex.counters().remote_wakes, 1);
    }
}
