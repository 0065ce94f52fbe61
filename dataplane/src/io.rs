//! The I/O seam: what a per-core network driver must provide to carry the proxy.
//!
//! Owns: the trait family [`Driver`], [`Listener`], [`Stream`] and the address type
//! [`Endpoint`]. Two implementations exist: `fallback-epoll` (kernel sockets and an
//! edge-triggered epoll reactor) and `netstack` (a userspace TCP/IP stack in poll mode).
//!
//! Invariants every implementation keeps:
//! - A driver, its listeners and its streams belong to one worker thread (`!Send` is
//!   fine); nothing here is shared across cores except the [`Notify`] handle.
//! - Readiness is delivered through the standard `Waker` of the task that last got
//!   `Poll::Pending`; an event for a closed or reused descriptor/socket is recognised by
//!   its generation, counted in [`DriverCounters`], and never acted on.
//! - `poll` never blocks longer than the timeout it is given, and returns early when
//!   the [`Notify`] handle is signalled from another thread.
//!
//! Protocol code above this seam never learns which driver carries it.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

/// Where to listen or connect.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// TCP over IPv4 or IPv6.
    Tcp(SocketAddr),
    /// A UNIX stream socket at a filesystem path.
    Unix(PathBuf),
    /// A UNIX stream socket in Linux's abstract namespace (no leading NUL here).
    Abstract(String),
    /// An already-open socket inherited by number (`fd@N`).
    Fd(i32),
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "{a}"),
            Endpoint::Unix(p) => write!(f, "unix@{}", p.display()),
            Endpoint::Abstract(n) => write!(f, "abns@{n}"),
            Endpoint::Fd(n) => write!(f, "fd@{n}"),
        }
    }
}

/// A connection detached from the worker that owned it, on its way to another
/// (idle-connection takeover, `tune.idle-pool.shared`). Only the driver that made
/// it knows what is inside; [`Driver::adopt`] turns it back into a stream.
pub struct Portable(pub Box<dyn std::any::Any + Send>);

/// Options for a listening socket.
#[derive(Clone, Debug)]
pub struct ListenOptions {
    /// Kernel accept backlog (HAProxy: `backlog`, default `maxconn`).
    pub backlog: i32,
    /// Let several workers bind the same TCP address, one socket each (`SO_REUSEPORT`).
    pub reuse_port: bool,
    /// IPv6 sockets accept IPv6 only (`v6only`); `None` keeps the system default.
    pub v6only: Option<bool>,
}

impl Default for ListenOptions {
    fn default() -> Self {
        ListenOptions {
            backlog: 1024,
            reuse_port: true,
            v6only: None,
        }
    }
}

/// What a registered descriptor is for (`show fd`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FdRole {
    #[default]
    Other,
    /// A listening socket.
    Listener,
    /// An accepted client connection.
    Client,
    /// A connection to a server.
    Server,
}

/// One descriptor a worker's driver owns (`show fd`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FdInfo {
    pub fd: i32,
    /// The registration's generation (bumped at each close of that number).
    pub gen: u32,
    pub role: FdRole,
    /// Readiness: readable, writable, read hang-up, write hang-up, error.
    pub readable: bool,
    pub writable: bool,
    pub read_hup: bool,
    pub write_hup: bool,
    pub error: bool,
    /// A task waits to read / to write.
    pub reader_waits: bool,
    pub writer_waits: bool,
    /// Write readiness is subscribed to.
    pub out_subscribed: bool,
}

/// Counters a driver keeps about itself; read by the CLI (`debug counters`) and tests.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DriverCounters {
    /// Events delivered to a live registration.
    pub events: u64,
    /// Stale: the registration was closed and its slot is still free.
    pub stale_just_closed: u64,
    /// Stale: the slot was closed and reused by another descriptor since.
    pub stale_recycled: u64,
    /// Stale: the same descriptor number was reopened on this worker since.
    pub stale_reopened: u64,
    /// Number of `poll` calls that returned at least one event.
    pub busy_polls: u64,
    /// Number of `poll` calls that returned no event (timeout or notify).
    pub idle_polls: u64,
}

/// Wakes a worker's `Driver::poll` from another thread (mailbox deliveries).
pub trait Notify: Send + Sync {
    fn notify(&self);
}

/// A per-core network driver. One instance per worker thread.
pub trait Driver: 'static {
    type Stream: Stream;
    type Listener: Listener<Stream = Self::Stream>;

    /// Open a listening socket (per worker; `reuse_port` lets every worker bind the
    /// same TCP address).
    fn listen(&self, at: &Endpoint, opts: &ListenOptions) -> io::Result<Self::Listener>;

    /// Start a non-blocking connection to `to`, optionally from `source`. The returned
    /// stream completes the handshake through [`Stream::poll_connect`]; the caller
    /// bounds it with its own timer (`timeout connect`).
    fn connect(&self, to: &Endpoint, source: Option<SocketAddr>) -> io::Result<Self::Stream>;

    /// Wait for I/O readiness for at most `timeout` (`None`: until an event or a
    /// notify), wake the tasks concerned, and return how many events were handled.
    fn poll(&self, timeout: Option<Duration>) -> io::Result<usize>;

    /// Push out what `poll` and the tasks queued (poll mode: NIC tx burst). Kernel
    /// drivers have nothing to do.
    fn flush(&self) {}

    /// A handle other threads use to interrupt `poll`.
    fn notifier(&self) -> Arc<dyn Notify>;

    /// A snapshot of the driver's own counters.
    fn counters(&self) -> DriverCounters;

    /// The descriptors the driver owns now, for `show fd`; `None` when it has no
    /// descriptor per connection (poll mode: connections are userspace sockets).
    fn fds(&self) -> Option<Vec<FdInfo>> {
        None
    }

    /// Take over a connection another worker of the same driver kind detached
    /// ([`Stream::into_portable`]). Drivers that cannot move connections between
    /// workers refuse.
    fn adopt(&self, p: Portable) -> io::Result<Self::Stream> {
        let _ = p;
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this driver cannot move connections between workers",
        ))
    }
}

/// A listening socket owned by one worker.
pub trait Listener: 'static {
    type Stream: Stream;

    /// Accept one connection, or register the task's waker and return `Pending`.
    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Self::Stream>>;

    /// The address actually bound (a port of 0 is resolved here).
    fn local_endpoint(&self) -> io::Result<Endpoint>;
}

/// A bidirectional byte stream. `poll_shutdown` half-closes the write side (FIN);
/// dropping the stream closes it.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + 'static {
    /// Outgoing streams: ready when the connection is established or failed. Accepted
    /// streams are ready at once.
    fn poll_connect(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;

    /// The remote TCP address, `None` for UNIX sockets.
    fn peer_addr(&self) -> Option<SocketAddr>;

    /// The local TCP address, `None` for UNIX sockets.
    fn local_addr(&self) -> Option<SocketAddr>;

    /// Disable Nagle's algorithm (a no-op where it does not apply).
    fn set_nodelay(&self, on: bool) -> io::Result<()>;

    /// Abort the connection: close it with a reset (`SO_LINGER` 0) immediately,
    /// instead of a FIN; later operations fail with `NotConnected`.
    fn abort(&mut self);

    /// For a stream nobody is reading (an idle pooled connection): whether the driver
    /// has seen input, a hang-up or an error since the last read drained it. Such a
    /// connection is not reusable. May answer `true` spuriously (the connection is
    /// then merely not reused); never `false` after a hang-up was reported.
    fn idle_input_pending(&self) -> bool;

    /// Detach the connection from this worker so that another can
    /// [`Driver::adopt`] it; `Err(self)` when the driver cannot move it.
    fn into_portable(self) -> Result<Portable, Self>
    where
        Self: Sized,
    {
        Err(self)
    }
}
