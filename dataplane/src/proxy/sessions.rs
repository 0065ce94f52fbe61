//! The live client sessions of one worker, for the CLI's `show sess` and
//! `shutdown session(s)`.
//!
//! Owns: [`Sessions`] (one per worker: every session task registered while it
//! runs), [`SessInfo`] (what a session shows of itself), [`Tracked`] (the future that
//! wraps a session's task: it registers it, counts its polls, and ends it when the
//! CLI asks) and [`SessRow`] (the `Send` copy the CLI formats).
//!
//! Invariants:
//! - a session is in its worker's table exactly while its task exists: [`Tracked`]
//!   inserts on creation and removes itself when dropped (ended or killed);
//! - ids are unique in the process (one atomic counter), never reused, so a stale id
//!   given to `shutdown session` finds nothing rather than another session;
//! - killing a session only marks it and wakes its task: the task itself returns
//!   on its next poll, dropping its connections (client and server) and slots on its
//!   own worker — no other thread touches them;
//! - the server a session uses is noted from inside its task (the thread-local
//!   current session, set while [`Tracked`] polls), so the request path never looks
//!   a session up.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};

use crate::runtime::clock;

/// The next session id of the process (0 is never used).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

thread_local! {
    /// The session whose task is being polled on this worker.
    static CURRENT: RefCell<Option<Rc<SessInfo>>> = const { RefCell::new(None) };
}

/// What a live session shows of itself.
#[derive(Debug)]
pub struct SessInfo {
    pub id: u64,
    pub fe: usize,
    pub bind: usize,
    /// The client's address (known at accept: no syscall).
    pub src: Option<SocketAddr>,
    /// Worker-clock microseconds at accept.
    pub accept_us: u64,
    /// Wall-clock microseconds at accept.
    pub accept_wall_us: u64,
    be: Cell<Option<usize>>,
    srv: Cell<Option<usize>>,
    calls: Cell<u64>,
    killed: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl SessInfo {
    /// The backend and server the session is attached to now.
    pub fn server(&self) -> (Option<usize>, Option<usize>) {
        (self.be.get(), self.srv.get())
    }
}

/// A copy of a session's figures, formatted by the CLI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessRow {
    pub id: u64,
    pub worker: usize,
    pub fe: usize,
    pub bind: usize,
    pub src: Option<SocketAddr>,
    pub be: Option<usize>,
    pub srv: Option<usize>,
    pub age_us: u64,
    pub accept_wall_us: u64,
    pub calls: u64,
}

/// One worker's live sessions, by id.
#[derive(Debug, Default)]
pub struct Sessions {
    live: RefCell<BTreeMap<u64, Rc<SessInfo>>>,
}

impl Sessions {
    /// Register a new session and wrap its task.
    pub fn track<F: Future<Output = ()>>(
        self: &Rc<Self>,
        fe: usize,
        bind: usize,
        src: Option<SocketAddr>,
        inner: F,
    ) -> Tracked<F> {
        let info = Rc::new(SessInfo {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            fe,
            bind,
            src,
            accept_us: clock::now_us(),
            accept_wall_us: clock::wall_us(),
            be: Cell::new(None),
            srv: Cell::new(None),
            calls: Cell::new(0),
            killed: Cell::new(false),
            waker: RefCell::new(None),
        });
        self.live.borrow_mut().insert(info.id, info.clone());
        Tracked {
            info,
            table: self.clone(),
            inner: Box::pin(inner),
        }
    }

    /// Number of live sessions.
    pub fn len(&self) -> usize {
        self.live.borrow().len()
    }

    pub fn is_empty(&self) -> bool {
        self.live.borrow().is_empty()
    }

    /// The sessions, by id, as rows for `worker`.
    pub fn rows(&self, worker: usize) -> Vec<SessRow> {
        let now = clock::now_us();
        self.live
            .borrow()
            .values()
            .map(|s| SessRow {
                id: s.id,
                worker,
                fe: s.fe,
                bind: s.bind,
                src: s.src,
                be: s.be.get(),
                srv: s.srv.get(),
                age_us: now.saturating_sub(s.accept_us),
                accept_wall_us: s.accept_wall_us,
                calls: s.calls.get(),
            })
            .collect()
    }

    /// End every session `pick` selects (its task returns on its next poll); returns
    /// how many were marked.
    pub fn kill(&self, pick: impl Fn(&SessInfo) -> bool) -> usize {
        let mut n = 0;
        for s in self.live.borrow().values() {
            if !s.killed.get() && pick(s) {
                s.killed.set(true);
                if let Some(w) = s.waker.borrow_mut().take() {
                    w.wake();
                }
                n += 1;
            }
        }
        n
    }
}

/// Note the server the current session (the task being polled) now uses.
pub fn note_server(be: usize, srv: usize) {
    CURRENT.with(|c| {
        if let Some(s) = &*c.borrow() {
            s.be.set(Some(be));
            s.srv.set(Some(srv));
        }
    });
}

/// The current session let go of server `srv` of backend `be` (its slot was
/// released).
pub fn note_released(be: usize, srv: usize) {
    CURRENT.with(|c| {
        if let Some(s) = &*c.borrow() {
            if s.be.get() == Some(be) && s.srv.get() == Some(srv) {
                s.srv.set(None);
            }
        }
    });
}

/// A session's task, registered in its worker's [`Sessions`] while it exists.
pub struct Tracked<F> {
    info: Rc<SessInfo>,
    table: Rc<Sessions>,
    inner: Pin<Box<F>>,
}

impl<F: Future<Output = ()>> Future for Tracked<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.info.killed.get() {
            return Poll::Ready(());
        }
        this.info.calls.set(this.info.calls.get() + 1);
        {
            let mut w = this.info.waker.borrow_mut();
            match &*w {
                Some(old) if old.will_wake(cx.waker()) => {}
                _ => *w = Some(cx.waker().clone()),
            }
        }
        let prev = CURRENT.with(|c| c.replace(Some(this.info.clone())));
        let r = this.inner.as_mut().poll(cx);
        CURRENT.with(|c| *c.borrow_mut() = prev);
        r
    }
}

impl<F> Drop for Tracked<F> {
    fn drop(&mut self) {
        self.table.live.borrow_mut().remove(&self.info.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop_waker() -> Waker {
        Waker::noop().clone()
    }

    #[test]
    fn registers_notes_server_and_kills() {
        let t = Rc::new(Sessions::default());
        let mut step = 0;
        let fut = std::future::poll_fn(move |_| {
            step += 1;
            if step == 1 {
                note_server(0, 1);
            }
            Poll::<()>::Pending
        });
        let mut tr = Box::pin(t.track(0, 0, None, fut));
        let waker = noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert!(tr.as_mut().poll(&mut cx).is_pending());
        let rows = t.rows(3);
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (rows[0].be, rows[0].srv, rows[0].calls),
            (Some(0), Some(1), 1)
        );
        assert_eq!(rows[0].worker, 3);
        // Outside the task, nothing is noted.
        note_server(5, 5);
        assert_eq!(t.rows(0)[0].be, Some(0));
        assert_eq!(t.kill(|s| s.server() == (Some(0), Some(2))), 0);
        assert_eq!(t.kill(|s| s.server() == (Some(0), Some(1))), 1);
        assert!(tr.as_mut().poll(&mut cx).is_ready());
        drop(tr);
        assert!(t.is_empty());
    }

    #[test]
    fn ids_are_unique_and_released_removes_server() {
        let t = Rc::new(Sessions::default());
        let a = t.track(0, 0, None, async {
            note_server(1, 2);
            note_released(1, 2);
        });
        let b = t.track(0, 0, None, async {});
        assert_ne!(a.info.id, b.info.id);
        let mut a = Box::pin(a);
        let waker = noop_waker();
        assert!(a.as_mut().poll(&mut Context::from_waker(&waker)).is_ready());
        assert_eq!(a.info.server(), (Some(1), None));
        assert_eq!(t.len(), 2);
        drop(a);
        drop(b);
        assert_eq!(t.len(), 0);
    }
}
