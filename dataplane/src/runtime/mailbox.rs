//! Cross-core messages: a bounded lock-free ring per worker plus a notify handle.
//!
//! Owns: delivery of work from other threads (the CLI, map updates, reloads, soft
//! stop) to one worker. Invariant: senders never block and never take a lock; a full
//! ring is reported to the sender (who retries or counts a drop), never grows.

use std::sync::{Arc, OnceLock};

use crossbeam_queue::ArrayQueue;

use crate::io::Notify;

/// The sending side, cloneable and `Send`.
pub struct Mailbox<T> {
    ring: Arc<ArrayQueue<T>>,
    notifier: Arc<OnceLock<Arc<dyn Notify>>>,
}

impl<T> std::fmt::Debug for Mailbox<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("len", &self.ring.len())
            .finish()
    }
}

impl<T> Clone for Mailbox<T> {
    fn clone(&self) -> Self {
        Mailbox {
            ring: self.ring.clone(),
            notifier: self.notifier.clone(),
        }
    }
}

/// The receiving side, owned by the worker.
pub struct Inbox<T> {
    ring: Arc<ArrayQueue<T>>,
    notifier: Arc<OnceLock<Arc<dyn Notify>>>,
}

/// A mailbox with room for `capacity` messages.
pub fn mailbox<T>(capacity: usize) -> (Mailbox<T>, Inbox<T>) {
    let ring = Arc::new(ArrayQueue::new(capacity.max(1)));
    let notifier = Arc::new(OnceLock::new());
    (
        Mailbox {
            ring: ring.clone(),
            notifier: notifier.clone(),
        },
        Inbox { ring, notifier },
    )
}

impl<T> Mailbox<T> {
    /// Deliver a message and wake the worker; gives the message back when full.
    pub fn send(&self, msg: T) -> Result<(), T> {
        self.ring.push(msg)?;
        if let Some(n) = self.notifier.get() {
            n.notify();
        }
        Ok(())
    }
}

impl<T> Inbox<T> {
    /// Attach the worker's driver notifier (done once the driver exists).
    pub fn set_notifier(&self, n: Arc<dyn Notify>) {
        let _ = self.notifier.set(n);
    }

    /// Take the next message.
    pub fn pop(&self) -> Option<T> {
        self.ring.pop()
    }

    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct N(AtomicUsize);
    impl Notify for N {
        fn notify(&self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn bounded_and_notifying() {
        let (tx, rx) = mailbox::<u32>(2);
        let n = Arc::new(N(AtomicUsize::new(0)));
        rx.set_notifier(n.clone());
        let t = std::thread::spawn(move || {
            assert!(tx.send(1).is_ok());
            assert!(tx.send(2).is_ok());
            assert_eq!(tx.send(3), Err(3), "full ring refuses, never grows");
        });
        t.join().unwrap();
        assert_eq!(n.0.load(Ordering::SeqCst), 2);
        assert_eq!(rx.pop(), Some(1));
        assert_eq!(rx.pop(), Some(2));
        assert_eq!(rx.pop(), None);
    }
}
