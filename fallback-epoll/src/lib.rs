//! sluice's epoll mode: kernel sockets behind the `dataplane::io` seam.
//!
//! One [`EpollDriver`] per worker thread (it is `!Send`): an edge-triggered epoll set
//! in which every descriptor is registered exactly once, at creation, for
//! in/out/rdhup. Read in this order:
//! - `reactor`: the descriptor table with generations,
//!   readiness flags, stale-event classification (HAProxy's `ev_epoll.c` scheme);
//! - [`EpollStream`]: `AsyncRead + AsyncWrite` over TCP and UNIX sockets, connect;
//! - [`EpollListener`]: listening sockets for every `Endpoint` kind, accept;
//! - `notify`: cross-thread wake-ups through an eventfd;
//! - `sys`: the only module with `unsafe`, thin wrappers over libc.
//!
//! Readiness, in short: `poll` sets per-registration flags (readable, writable,
//! read-hup, write-hup, error) from each event and wakes the parked task; the I/O
//! code tries a syscall only while the flag is set, clears it on `EAGAIN` or on a
//! short read/write (the next edge will come) — except that a known hang-up keeps a
//! stream readable so EOF is seen, and a known error or hang-up keeps it writable so
//! the error is returned. Accepted streams start readable and writable (the first
//! syscall tells); connecting streams start with nothing until the handshake ends.
//!
//! Invariants: an event whose token generation does not match the live registration
//! of its descriptor number is counted (`stale_*` in [`DriverCounters`]) and dropped;
//! every descriptor is closed by exactly one owner, after its generation moved on.

#![deny(unsafe_code)]

mod listener;
mod notify;
mod reactor;
mod stream;
mod sys;

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use dataplane::io::{Driver, DriverCounters, Endpoint, ListenOptions, Notify};

pub use listener::{bind_tcp_listener, EpollListener};
pub use stream::EpollStream;

use reactor::Reactor;

/// The epoll reactor of one worker thread.
pub struct EpollDriver {
    reactor: Rc<Reactor>,
}

impl EpollDriver {
    /// A driver fetching up to 256 events per `poll`.
    pub fn new() -> io::Result<Self> {
        Self::with_event_capacity(reactor::DEFAULT_EVENT_CAPACITY)
    }

    /// A driver fetching up to `events` events per `poll` (at least 1).
    pub fn with_event_capacity(events: usize) -> io::Result<Self> {
        Ok(EpollDriver {
            reactor: Reactor::new(events)?,
        })
    }
}

impl Driver for EpollDriver {
    type Stream = EpollStream;
    type Listener = EpollListener;

    fn listen(&self, at: &Endpoint, opts: &ListenOptions) -> io::Result<EpollListener> {
        EpollListener::open(&self.reactor, at, opts)
    }

    fn connect(&self, to: &Endpoint, source: Option<SocketAddr>) -> io::Result<EpollStream> {
        EpollStream::connect(&self.reactor, to, source)
    }

    fn poll(&self, timeout: Option<Duration>) -> io::Result<usize> {
        self.reactor.poll(timeout)
    }

    fn notifier(&self) -> Arc<dyn Notify> {
        self.reactor.notifier()
    }

    fn counters(&self) -> DriverCounters {
        self.reactor.counters()
    }

    fn fds(&self) -> Option<Vec<dataplane::io::FdInfo>> {
        Some(self.reactor.fds())
    }

    fn adopt(&self, p: dataplane::io::Portable) -> io::Result<EpollStream> {
        EpollStream::adopted(&self.reactor, p)
    }
}

impl std::fmt::Debug for EpollDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpollDriver")
            .field("counters", &self.reactor.counters())
            .finish()
    }
}
