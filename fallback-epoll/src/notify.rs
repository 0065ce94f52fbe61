//! Cross-thread wake-ups of a worker's `poll`: an eventfd in the worker's epoll set.
//!
//! Owns: the eventfd. Invariant: the descriptor stays open as long as any
//! [`Notify`] handle exists (the handle owns it through an `Arc`), so another thread
//! can never write into a closed — and possibly reused — descriptor number.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use dataplane::io::Notify;

use crate::sys;

/// The [`Notify`] handle of an epoll driver.
pub(crate) struct EventFdNotify {
    fd: OwnedFd,
}

impl EventFdNotify {
    pub(crate) fn new() -> io::Result<Self> {
        Ok(EventFdNotify {
            fd: sys::eventfd()?,
        })
    }

    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Resets the counter so it never saturates; called by the owning worker.
    pub(crate) fn drain(&self) {
        // WouldBlock (already zero) is the only expected error and means nothing.
        let _ = sys::eventfd_drain(self.fd.as_fd());
    }
}

impl Notify for EventFdNotify {
    fn notify(&self) {
        // Fails only when the counter is saturated, which already means "wake up".
        let _ = sys::eventfd_signal(self.fd.as_fd());
    }
}
