//! Listening sockets: creation for every [`Endpoint`] kind, and `accept`.
//!
//! Owns: [`EpollListener`] — one registered listening socket. Invariants: `accept4`
//! is only tried while the listener is flagged readable; `EAGAIN` clears the flag and
//! parks the task; transient per-connection errors are skipped without spinning
//! (each one consumed a queued connection); resource exhaustion (`EMFILE`, `ENFILE`,
//! `ENOBUFS`, `ENOMEM`) is returned with the flag kept, so the caller backs off and
//! retries without waiting for an edge that may never come.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::rc::Rc;
use std::task::{Context, Poll};

use dataplane::io::{Endpoint, ListenOptions, Listener};

use crate::reactor::{ready, Reactor, Registration};
use crate::stream::{EpollStream, Family};
use crate::sys::{self, Addr};

/// Transient `accept` failures tried again in the same call before yielding.
const ACCEPT_RETRIES: usize = 16;

/// A listening socket of one worker.
pub struct EpollListener {
    reg: Registration,
    reactor: Rc<Reactor>,
    family: Family,
}

impl EpollListener {
    /// Opens (or adopts, for `Endpoint::Fd`) a listening socket for `at`.
    pub(crate) fn open(
        reactor: &Rc<Reactor>,
        at: &Endpoint,
        opts: &ListenOptions,
    ) -> io::Result<Self> {
        let (fd, family, initial) = match at {
            Endpoint::Tcp(addr) => (listen_tcp(*addr, opts)?, Family::Tcp, 0),
            Endpoint::Unix(path) => {
                remove_stale_socket(path)?;
                (
                    listen_unix(&Addr::Unix(path.clone()), opts)?,
                    Family::Unix,
                    0,
                )
            }
            Endpoint::Abstract(name) => {
                let addr = Addr::Abstract(name.as_bytes().to_vec());
                (listen_unix(&addr, opts)?, Family::Unix, 0)
            }
            Endpoint::Fd(n) => {
                let fd = sys::adopt_listener(*n)?;
                let family = match sys::local_addr(as_borrowed(&fd))? {
                    Addr::Inet(_) => Family::Tcp,
                    _ => Family::Unix,
                };
                // Connections may already be queued: try accept at once.
                (fd, family, ready::READABLE)
            }
        };
        // Listeners may share their open file with the lead or other workers (dup,
        // fork): remove them from the set explicitly before closing.
        let reg = reactor.register(fd, initial, true, false)?;
        Ok(EpollListener {
            reg,
            reactor: Rc::clone(reactor),
            family,
        })
    }

    /// The descriptor number.
    pub fn raw_fd(&self) -> i32 {
        self.reg.fd().as_raw_fd()
    }
}

fn as_borrowed(fd: &OwnedFd) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    fd.as_fd()
}

/// A listening TCP socket bound to `addr` with `opts`, outside any worker: the
/// process-wide socket every worker adopts (by `Endpoint::Fd`) when listeners are
/// exported to a successor process (`stats socket … expose-fd listeners`).
pub fn bind_tcp_listener(addr: SocketAddr, opts: &ListenOptions) -> io::Result<OwnedFd> {
    listen_tcp(addr, opts)
}

fn listen_tcp(addr: SocketAddr, opts: &ListenOptions) -> io::Result<OwnedFd> {
    let domain = if addr.is_ipv4() {
        libc::AF_INET
    } else {
        libc::AF_INET6
    };
    let fd = sys::stream_socket(domain)?;
    let b = as_borrowed(&fd);
    sys::set_int_opt(b, libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if opts.reuse_port {
        sys::set_int_opt(b, libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    if let (true, Some(only)) = (addr.is_ipv6(), opts.v6only) {
        sys::set_int_opt(b, libc::IPPROTO_IPV6, libc::IPV6_V6ONLY, i32::from(only))?;
    }
    sys::bind(b, &Addr::Inet(addr))?;
    sys::listen(b, opts.backlog)?;
    Ok(fd)
}

fn listen_unix(addr: &Addr, opts: &ListenOptions) -> io::Result<OwnedFd> {
    let fd = sys::stream_socket(libc::AF_UNIX)?;
    sys::bind(as_borrowed(&fd), addr)?;
    sys::listen(as_borrowed(&fd), opts.backlog)?;
    Ok(fd)
}

/// Removes a socket file left by a previous run. Anything that is not a socket is
/// left alone (bind then fails with `EADDRINUSE`), and so is a socket somebody still
/// listens on (probed with a connect).
fn remove_stale_socket(path: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_socket() => {
            let probe = sys::stream_socket(libc::AF_UNIX)?;
            match sys::connect(as_borrowed(&probe), &Addr::Unix(path.to_path_buf())) {
                Err(e) if e.raw_os_error() == Some(libc::ECONNREFUSED) => {
                    std::fs::remove_file(path)
                }
                Err(e) if e.raw_os_error() != Some(libc::EAGAIN) => Err(e),
                _ => Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!("{} is in use by a live listener", path.display()),
                )),
            }
        }
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Accept errors that concern only the connection being accepted (see accept(2)
/// on Linux passing pending network errors): skip it and take the next one.
fn is_transient(errno: i32) -> bool {
    matches!(
        errno,
        libc::ECONNABORTED
            | libc::EPROTO
            | libc::EPERM
            | libc::ENETDOWN
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::ENONET
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
    )
}

impl Listener for EpollListener {
    type Stream = EpollStream;

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<EpollStream>> {
        let io = self.reg.io();
        for _ in 0..ACCEPT_RETRIES {
            if !io.has(ready::READABLE) {
                io.park_reader(cx.waker());
                return Poll::Pending;
            }
            match sys::accept(self.reg.fd()) {
                Ok((fd, peer)) => {
                    let peer = match peer {
                        Addr::Inet(a) => Some(a),
                        _ => None,
                    };
                    return Poll::Ready(EpollStream::accepted(
                        &self.reactor,
                        fd,
                        self.family,
                        peer,
                    ));
                }
                Err(e) => match e.raw_os_error() {
                    Some(libc::EAGAIN) => io.clear(ready::READABLE),
                    Some(errno) if is_transient(errno) => continue,
                    // EMFILE/ENFILE/ENOBUFS/ENOMEM and anything unexpected: the caller
                    // decides (back off, log); readiness is kept for its retry.
                    _ => return Poll::Ready(Err(e)),
                },
            }
        }
        // Many aborted connections in a row: yield to other tasks, then come back.
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    fn local_endpoint(&self) -> io::Result<Endpoint> {
        match sys::local_addr(self.reg.fd())? {
            Addr::Inet(a) => Ok(Endpoint::Tcp(a)),
            Addr::Unix(p) => Ok(Endpoint::Unix(p)),
            Addr::Abstract(n) => Ok(Endpoint::Abstract(String::from_utf8_lossy(&n).into_owned())),
            Addr::Unnamed => Err(io::Error::new(
                io::ErrorKind::AddrNotAvailable,
                "listener is not bound",
            )),
        }
    }
}

impl std::fmt::Debug for EpollListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EpollListener")
            .field("fd", &self.raw_fd())
            .field("family", &self.family)
            .finish()
    }
}
