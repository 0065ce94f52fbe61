//! The queue of requests waiting for a server slot (`maxconn`), shared by all workers
//! of a backend, with HAProxy's hand-over semantics.
//!
//! Owns: [`BackendQueue`] and [`Pending`] entries. Invariants:
//! - FIFO across workers: when a slot is released while requests wait, the slot is
//!   handed directly to the oldest waiter that can use that server (its count is
//!   never decremented, so `maxconn` is never exceeded and nobody overtakes);
//! - a waiter that gives up (timeout, client gone) removes itself; if a slot was
//!   granted to it in the meantime, it releases that slot (to the next waiter);
//! - the lock is taken only when requests are queued (a slot release checks an atomic
//!   length first), never on the ordinary request path.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;

const NONE: usize = usize::MAX;

/// One waiting request.
#[derive(Debug)]
pub struct Pending {
    /// The server it must use (hashing algorithms), or `None` for any server.
    pub server: Option<usize>,
    /// The server whose slot was handed over, `NONE` until then.
    granted: AtomicUsize,
    waker: Mutex<Option<Waker>>,
}

impl Pending {
    /// The server granted to this waiter, if any.
    pub fn granted(&self) -> Option<usize> {
        match self.granted.load(Ordering::Acquire) {
            NONE => None,
            s => Some(s),
        }
    }

    /// Remember the task to wake on a grant.
    pub fn set_waker(&self, w: &Waker) {
        let mut g = self.waker.lock().expect("pending waker lock");
        match &*g {
            Some(old) if old.will_wake(w) => {}
            _ => *g = Some(w.clone()),
        }
    }
}

/// The waiting requests of one backend.
#[derive(Debug, Default)]
pub struct BackendQueue {
    entries: Mutex<VecDeque<Arc<Pending>>>,
    len: AtomicU32,
}

impl BackendQueue {
    /// Number of waiting requests.
    pub fn len(&self) -> u32 {
        self.len.load(Ordering::Acquire)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Join the queue.
    pub fn push(&self, server: Option<usize>, waker: &Waker) -> Arc<Pending> {
        let p = Arc::new(Pending {
            server,
            granted: AtomicUsize::new(NONE),
            waker: Mutex::new(Some(waker.clone())),
        });
        let mut q = self.entries.lock().expect("queue lock");
        q.push_back(p.clone());
        self.len.store(q.len() as u32, Ordering::Release);
        p
    }

    /// Whether `p` is the oldest waiter (it may then take a free slot itself).
    pub fn is_front(&self, p: &Arc<Pending>) -> bool {
        let q = self.entries.lock().expect("queue lock");
        q.front().is_some_and(|f| Arc::ptr_eq(f, p))
    }

    /// Leave the queue (served by itself, timed out or aborted). Returns a server
    /// slot that was granted meanwhile, which the caller now owns.
    pub fn remove(&self, p: &Arc<Pending>) -> Option<usize> {
        let mut q = self.entries.lock().expect("queue lock");
        if let Some(i) = q.iter().position(|e| Arc::ptr_eq(e, p)) {
            q.remove(i);
        }
        self.len.store(q.len() as u32, Ordering::Release);
        drop(q);
        p.granted()
    }

    /// A slot of `server` is being released: hand it to the oldest waiter that can
    /// use it. Returns true if it was handed over (the caller must then not release
    /// the slot).
    pub fn hand_over(&self, server: usize) -> bool {
        if self.is_empty() {
            return false;
        }
        let mut q = self.entries.lock().expect("queue lock");
        let Some(i) = q.iter().position(|p| p.server.is_none_or(|s| s == server)) else {
            return false;
        };
        let p = q.remove(i).expect("position is in range");
        self.len.store(q.len() as u32, Ordering::Release);
        drop(q);
        p.granted.store(server, Ordering::Release);
        if let Some(w) = p.waker.lock().expect("pending waker lock").take() {
            w.wake();
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Flag>, Waker) {
        let f = Arc::new(Flag(std::sync::atomic::AtomicBool::new(false)));
        (f.clone(), Waker::from(f))
    }

    #[test]
    fn hand_over_is_fifo_and_respects_server_binding() {
        let q = BackendQueue::default();
        let (fa, wa) = waker();
        let (fb, wb) = waker();
        let a = q.push(Some(1), &wa);
        let b = q.push(None, &wb);
        assert!(q.is_front(&a));
        // A slot of server 0: `a` is bound to server 1, so `b` gets it.
        assert!(q.hand_over(0));
        assert_eq!(b.granted(), Some(0));
        assert!(fb.0.load(Ordering::SeqCst));
        assert!(!fa.0.load(Ordering::SeqCst));
        assert!(q.hand_over(1));
        assert_eq!(a.granted(), Some(1));
        assert!(!q.hand_over(1), "nobody left");
        assert_eq!(q.len(), 0);
    }

    #[test]
    fn leaving_returns_a_slot_granted_meanwhile() {
        let q = BackendQueue::default();
        let (_f, w) = waker();
        let a = q.push(None, &w);
        assert!(q.hand_over(3));
        assert_eq!(q.remove(&a), Some(3), "the slot is the leaver's to release");
        let b = q.push(None, &w);
        assert_eq!(q.remove(&b), None);
    }
}
