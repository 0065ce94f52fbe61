//! Kernel stream sockets (TCP and UNIX) as `AsyncRead + AsyncWrite`, and outgoing
//! connections.
//!
//! Owns: [`EpollStream`] — one registered socket, its connect state and cached
//! addresses. Invariants: a syscall is attempted only while the matching readiness
//! flag is set, and the task's waker is parked only after the flag was found clear,
//! so each readiness edge costs at most one failed (`EAGAIN`) syscall; reads land
//! directly in the caller's `ReadBuf`; writes never raise `SIGPIPE`; after
//! [`EpollStream::abort`] the descriptor is closed and every operation fails with
//! `NotConnected`.

use std::cell::Cell;
use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::os::fd::{OwnedFd, RawFd};
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use dataplane::io::{Endpoint, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::reactor::{ready, Reactor, Registration};
use crate::sys::{self, Addr};

/// The kind of socket behind a stream or listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// TCP over IPv4 or IPv6.
    Tcp,
    /// A UNIX stream socket (path, abstract or unnamed).
    Unix,
}

/// A connected (or connecting) stream socket driven by an [`crate::EpollDriver`].
pub struct EpollStream {
    /// `None` once aborted.
    reg: Option<Registration>,
    family: Family,
    /// True from a non-blocking `connect` until `poll_connect` saw it complete.
    connecting: bool,
    /// Remote TCP address, known at accept/connect time.
    peer: Option<SocketAddr>,
    /// Local TCP address, fetched on first use.
    local: Cell<Option<SocketAddr>>,
}

impl EpollStream {
    /// A stream from `accept`: connected, optimistically readable and writable (the
    /// first syscall tells; data often arrives with the connection).
    pub(crate) fn accepted(
        reactor: &Rc<Reactor>,
        fd: OwnedFd,
        family: Family,
        peer: Option<SocketAddr>,
    ) -> io::Result<Self> {
        if family == Family::Tcp {
            // Best effort: losing the connection over Nagle would be worse.
            let _ = sys::set_int_opt(fd_ref(&fd), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
        }
        let reg = reactor.register(fd, ready::READABLE | ready::WRITABLE, false, false)?;
        reg.set_role(dataplane::io::FdRole::Client);
        Ok(EpollStream {
            reg: Some(reg),
            family,
            connecting: false,
            peer,
            local: Cell::new(None),
        })
    }

    /// Starts a non-blocking connection to `to`, bound to `source` first if given.
    pub(crate) fn connect(
        reactor: &Rc<Reactor>,
        to: &Endpoint,
        source: Option<SocketAddr>,
    ) -> io::Result<Self> {
        let (domain, addr, family, peer) = match to {
            Endpoint::Tcp(a) => {
                let domain = if a.is_ipv4() {
                    libc::AF_INET
                } else {
                    libc::AF_INET6
                };
                (domain, Addr::Inet(*a), Family::Tcp, Some(*a))
            }
            Endpoint::Unix(p) => (libc::AF_UNIX, Addr::Unix(p.clone()), Family::Unix, None),
            Endpoint::Abstract(n) => (
                libc::AF_UNIX,
                Addr::Abstract(n.as_bytes().to_vec()),
                Family::Unix,
                None,
            ),
            Endpoint::Fd(n) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("cannot connect to fd@{n}: not an address"),
                ))
            }
        };
        let fd = sys::stream_socket(domain)?;
        if let Some(src) = source {
            if family != Family::Tcp {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a source address applies to TCP connections only",
                ));
            }
            if src.port() == 0 {
                // Let connect() pick the port, so (src, dst) pairs share ports.
                let _ = sys::set_int_opt(
                    fd_ref(&fd),
                    libc::IPPROTO_IP,
                    libc::IP_BIND_ADDRESS_NO_PORT,
                    1,
                );
            }
            sys::bind(fd_ref(&fd), &Addr::Inet(src))?;
        }
        if family == Family::Tcp {
            sys::set_int_opt(fd_ref(&fd), libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)?;
        }
        // UNIX sockets connect at once or fail (EAGAIN: the listener's backlog is
        // full; the caller retries like any connect error). TCP says EINPROGRESS.
        let connecting = match sys::connect(fd_ref(&fd), &addr) {
            Ok(()) => false,
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => true,
            Err(e) => return Err(e),
        };
        let initial = if connecting {
            0
        } else {
            ready::READABLE | ready::WRITABLE
        };
        let reg = reactor.register(fd, initial, false, connecting)?;
        reg.set_role(dataplane::io::FdRole::Server);
        Ok(EpollStream {
            reg: Some(reg),
            family,
            connecting,
            peer,
            local: Cell::new(None),
        })
    }

    fn reg(&self) -> io::Result<&Registration> {
        self.reg
            .as_ref()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "stream was aborted"))
    }

    /// The descriptor number, `None` after [`Stream::abort`].
    pub fn raw_fd(&self) -> Option<RawFd> {
        use std::os::fd::AsRawFd;
        self.reg.as_ref().map(|r| r.fd().as_raw_fd())
    }

    /// A duplicate of the descriptor (close-on-exec). The duplicate is not
    /// registered; while it is open, the kernel keeps reporting events of the shared
    /// open file under this stream's token — which the generation check then drops.
    pub fn try_clone_fd(&self) -> io::Result<OwnedFd> {
        self.reg()?.fd().try_clone_to_owned()
    }

    /// True for UNIX sockets.
    pub fn is_unix(&self) -> bool {
        self.family == Family::Unix
    }

    /// `SO_SNDBUF` (HAProxy's `tune.sndbuf.*`); the kernel doubles the value.
    pub fn set_send_buffer_size(&self, bytes: usize) -> io::Result<()> {
        let v = bytes.min(libc::c_int::MAX as usize) as libc::c_int;
        sys::set_int_opt(self.reg()?.fd(), libc::SOL_SOCKET, libc::SO_SNDBUF, v)
    }

    /// `SO_RCVBUF` (HAProxy's `tune.rcvbuf.*`); the kernel doubles the value.
    pub fn set_recv_buffer_size(&self, bytes: usize) -> io::Result<()> {
        let v = bytes.min(libc::c_int::MAX as usize) as libc::c_int;
        sys::set_int_opt(self.reg()?.fd(), libc::SOL_SOCKET, libc::SO_RCVBUF, v)
    }

    /// A gathering write of `bufs`, `total` bytes in all (shared by both write paths).
    fn poll_send(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
        total: usize,
    ) -> Poll<io::Result<usize>> {
        let reg = self.reg()?;
        let io = reg.io();
        if total == 0 {
            return Poll::Ready(Ok(0));
        }
        loop {
            if !io.has(ready::WRITABLE) {
                reg.subscribe_out()?;
                io.park_writer(cx.waker());
                return Poll::Pending;
            }
            let res = if bufs.len() == 1 {
                sys::send(reg.fd(), &bufs[0])
            } else {
                sys::send_vectored(reg.fd(), bufs)
            };
            match res {
                Ok(n) => {
                    io.after_write(n, total);
                    return Poll::Ready(Ok(n));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => io.clear(ready::WRITABLE),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

/// Borrows an owned descriptor (shorthand).
fn fd_ref(fd: &OwnedFd) -> std::os::fd::BorrowedFd<'_> {
    use std::os::fd::AsFd;
    fd.as_fd()
}

impl AsyncRead for EpollStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let reg = self.reg()?;
        let io = reg.io();
        let room = buf.remaining();
        if room == 0 {
            return Poll::Ready(Ok(()));
        }
        loop {
            if !io.has(ready::READABLE) {
                io.park_reader(cx.waker());
                return Poll::Pending;
            }
            match sys::recv_into(reg.fd(), buf) {
                Ok(n) => {
                    io.after_read(n, room);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => io.clear(ready::READABLE),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for EpollStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_send(cx, &[IoSlice::new(data)], data.len())
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // Only the slices sendmsg will look at count towards "short".
        let bufs = &bufs[..bufs.len().min(1024)];
        let total = bufs.iter().map(|b| b.len()).sum();
        self.poll_send(cx, bufs, total)
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Kernel sockets have no user-space buffer to push.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(sys::shutdown(self.reg()?.fd(), libc::SHUT_WR))
    }
}

/// What an [`EpollStream`] becomes between two workers.
pub(crate) struct Moving {
    fd: OwnedFd,
    family: Family,
    peer: Option<SocketAddr>,
}

impl EpollStream {
    /// A stream another worker detached: connected; readiness is whatever epoll
    /// reports when the descriptor joins this worker's set.
    pub(crate) fn adopted(reactor: &Rc<Reactor>, p: dataplane::io::Portable) -> io::Result<Self> {
        let m = p
            .0
            .downcast::<Moving>()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "not an epoll connection"))?;
        let reg = reactor.register(m.fd, ready::WRITABLE, false, false)?;
        reg.set_role(dataplane::io::FdRole::Server);
        Ok(EpollStream {
            reg: Some(reg),
            family: m.family,
            connecting: false,
            peer: m.peer,
            local: Cell::new(None),
        })
    }
}

impl Stream for EpollStream {
    /// Leave this worker's epoll set first (the descriptor stays open), so that no
    /// event of the moved connection ever reaches this worker again.
    fn into_portable(mut self) -> Result<dataplane::io::Portable, Self> {
        if self.connecting {
            return Err(self);
        }
        let Some(reg) = self.reg.take() else {
            return Err(self);
        };
        if reg.leave_set().is_err() {
            self.reg = Some(reg);
            return Err(self);
        }
        let fd = match reg.fd().try_clone_to_owned() {
            Ok(fd) => fd,
            Err(_) => {
                self.reg = Some(reg);
                return Err(self);
            }
        };
        // Closes the original number; the generation of its slot moves on.
        drop(reg);
        Ok(dataplane::io::Portable(Box::new(Moving {
            fd,
            family: self.family,
            peer: self.peer,
        })))
    }

    fn idle_input_pending(&self) -> bool {
        match self.reg() {
            Ok(reg) => reg
                .io()
                .has(ready::READABLE | ready::READ_HUP | ready::ERROR),
            Err(_) => true,
        }
    }

    fn poll_connect(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.connecting {
            return Poll::Ready(Ok(()));
        }
        let reg = self.reg()?;
        let io = reg.io();
        // EPOLLOUT, EPOLLERR and EPOLLHUP all set WRITABLE: the handshake is over.
        if !io.has(ready::WRITABLE) {
            io.park_writer(cx.waker());
            return Poll::Pending;
        }
        let result = match sys::take_socket_error(reg.fd()) {
            Ok(Some(err)) | Err(err) => Err(err),
            // A hang-up without a recorded error: make sure we are connected at all.
            Ok(None) if io.has(ready::ERROR | ready::WRITE_HUP) => {
                sys::peer_addr(reg.fd()).map(drop)
            }
            Ok(None) => Ok(()),
        };
        self.connecting = false;
        Poll::Ready(result)
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    fn local_addr(&self) -> Option<SocketAddr> {
        if self.family != Family::Tcp {
            return None;
        }
        if let Some(a) = self.local.get() {
            return Some(a);
        }
        match sys::local_addr(self.reg().ok()?.fd()) {
            Ok(Addr::Inet(a)) => {
                // An unfinished connect has no final address yet: do not cache 0.0.0.0:0.
                if a.port() != 0 {
                    self.local.set(Some(a));
                }
                Some(a)
            }
            _ => None,
        }
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        if self.family != Family::Tcp {
            return Ok(());
        }
        sys::set_int_opt(
            self.reg()?.fd(),
            libc::IPPROTO_TCP,
            libc::TCP_NODELAY,
            i32::from(on),
        )
    }

    fn abort(&mut self) {
        if let Some(reg) = self.reg.take() {
            // Linger 0 turns the close into a RST (TCP); harmless on UNIX sockets.
            let _ = sys::set_linger_zero(reg.fd());
            drop(reg);
        }
    }
}

impl std::fmt::Debug for EpollStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpollStream")
            .field("fd", &self.raw_fd())
            .field("family", &self.family)
            .field("connecting", &self.connecting)
            .field("peer", &self.peer)
            .finish()
    }
}
