//! Safe wrappers over the libc calls the reactor makes.
//!
//! Owns: every `unsafe` block of the crate. Functions take descriptors as
//! [`BorrowedFd`] and hand new ones back as [`OwnedFd`], so code outside this module
//! can neither use a descriptor it does not hold nor close one twice. Errors come back
//! as `io::Error` built from `errno`; calls that can see `EINTR` on a non-blocking
//! descriptor retry it here, everything else is reported to the caller unchanged.
//! Every socket made here is non-blocking and close-on-exec from birth.
#![allow(unsafe_code)]

use std::ffi::c_void;
use std::io::{self, IoSlice};
use std::mem::{self, offset_of};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::ptr;

use tokio::io::ReadBuf;

/// Turns a C return value into `io::Result`, reading `errno` on a negative value.
fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Like [`cvt`] for calls returning a byte count.
fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

/// Repeats `f` while it fails with `EINTR`.
fn retry<T>(mut f: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match f() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Takes ownership of a descriptor the kernel has just returned to us.
fn owned(fd: libc::c_int) -> OwnedFd {
    debug_assert!(fd >= 0);
    // SAFETY: `fd` was just returned by a successful syscall, so it is open, and no
    // other owner exists for it yet.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

// ---------------------------------------------------------------------------------
// epoll and eventfd
// ---------------------------------------------------------------------------------

/// A new epoll instance (close-on-exec).
pub fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: no pointer arguments; the result is checked.
    let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
    Ok(owned(fd))
}

/// Adds `fd` to the epoll set with the given event mask and token.
pub fn epoll_add(
    ep: BorrowedFd<'_>,
    fd: BorrowedFd<'_>,
    events: u32,
    token: u64,
) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: `ev` is a valid, initialised epoll_event that outlives the call; both
    // descriptors are open for the duration of the borrow.
    cvt(unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_ADD, fd.as_raw_fd(), &mut ev) })?;
    Ok(())
}

/// Changes the event mask of `fd` in the epoll set.
pub fn epoll_mod(
    ep: BorrowedFd<'_>,
    fd: BorrowedFd<'_>,
    events: u32,
    token: u64,
) -> io::Result<()> {
    let mut ev = libc::epoll_event { events, u64: token };
    // SAFETY: as in `epoll_add`.
    cvt(unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_MOD, fd.as_raw_fd(), &mut ev) })?;
    Ok(())
}

/// Removes `fd` from the epoll set.
pub fn epoll_del(ep: BorrowedFd<'_>, fd: BorrowedFd<'_>) -> io::Result<()> {
    // A non-null event pointer keeps pre-2.6.9 kernels happy; it is ignored by DEL.
    let mut ev = libc::epoll_event { events: 0, u64: 0 };
    // SAFETY: as in `epoll_add`.
    cvt(unsafe { libc::epoll_ctl(ep.as_raw_fd(), libc::EPOLL_CTL_DEL, fd.as_raw_fd(), &mut ev) })?;
    Ok(())
}

/// A reusable array of epoll events, filled by [`EventBuf::wait`].
pub struct EventBuf {
    buf: Vec<libc::epoll_event>,
}

impl EventBuf {
    /// An array that receives at most `cap` events per wait.
    pub fn with_capacity(cap: usize) -> Self {
        EventBuf {
            buf: Vec::with_capacity(cap.max(1)),
        }
    }

    /// One `epoll_wait`; `timeout_ms` < 0 waits forever. `EINTR` yields zero events.
    pub fn wait(&mut self, ep: BorrowedFd<'_>, timeout_ms: libc::c_int) -> io::Result<usize> {
        self.buf.clear();
        let cap = self.buf.capacity().min(libc::c_int::MAX as usize) as libc::c_int;
        // SAFETY: the kernel writes at most `cap` entries, all within the vector's
        // allocated (spare) capacity; `ep` is open for the duration of the borrow.
        let n = unsafe { libc::epoll_wait(ep.as_raw_fd(), self.buf.as_mut_ptr(), cap, timeout_ms) };
        match cvt(n) {
            Ok(n) => {
                // SAFETY: epoll_wait initialised exactly the first `n` (<= cap) entries.
                unsafe { self.buf.set_len(n as usize) };
                Ok(n as usize)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(0),
            Err(e) => Err(e),
        }
    }

    /// `(token, event mask)` of event `i`.
    pub fn get(&self, i: usize) -> (u64, u32) {
        let ev = self.buf[i];
        (ev.u64, ev.events)
    }
}

/// A non-blocking, close-on-exec eventfd with a zero counter.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: no pointer arguments; the result is checked.
    let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    Ok(owned(fd))
}

/// Adds one to an eventfd counter (wakes its epoll waiters).
pub fn eventfd_signal(fd: BorrowedFd<'_>) -> io::Result<()> {
    let one: u64 = 1;
    retry(|| {
        // SAFETY: reads 8 bytes from a live local u64.
        let n = unsafe { libc::write(fd.as_raw_fd(), ptr::addr_of!(one).cast::<c_void>(), 8) };
        cvt_size(n)
    })
    .map(|_| ())
}

/// Reads and resets an eventfd counter; `WouldBlock` when it was already zero.
pub fn eventfd_drain(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let mut val: u64 = 0;
    retry(|| {
        // SAFETY: writes at most 8 bytes into a live local u64.
        let n = unsafe { libc::read(fd.as_raw_fd(), ptr::addr_of_mut!(val).cast::<c_void>(), 8) };
        cvt_size(n)
    })?;
    Ok(val)
}

// ---------------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------------

/// A socket address of any family this crate handles.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// IPv4 or IPv6.
    Inet(SocketAddr),
    /// A UNIX socket bound to a filesystem path.
    Unix(PathBuf),
    /// A UNIX socket in the abstract namespace (name without the leading NUL).
    Abstract(Vec<u8>),
    /// A UNIX socket bound to nothing (the client side of a UNIX connection).
    Unnamed,
}

/// A `sockaddr_storage` plus the length that is meaningful in it.
struct RawAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl RawAddr {
    fn zeroed() -> Self {
        RawAddr {
            // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
            storage: unsafe { mem::zeroed() },
            len: mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    fn as_ptr(&self) -> *const libc::sockaddr {
        ptr::addr_of!(self.storage).cast()
    }

    fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        ptr::addr_of_mut!(self.storage).cast()
    }

    /// Writes `val` at the start of the storage (a concrete sockaddr type).
    fn put<T: Copy>(&mut self, val: T) {
        assert!(mem::size_of::<T>() <= mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: sockaddr_storage is at least as large as T (checked above) and is
        // aligned for every sockaddr type by definition.
        unsafe { ptr::write(ptr::addr_of_mut!(self.storage).cast::<T>(), val) };
        self.len = mem::size_of::<T>() as libc::socklen_t;
    }

    /// Reads a concrete sockaddr type from the start of the storage.
    fn get<T: Copy>(&self) -> T {
        assert!(mem::size_of::<T>() <= mem::size_of::<libc::sockaddr_storage>());
        // SAFETY: as in `put`; every bit pattern is valid for these C structs.
        unsafe { ptr::read(ptr::addr_of!(self.storage).cast::<T>()) }
    }

    fn encode(addr: &Addr) -> io::Result<RawAddr> {
        let mut raw = RawAddr::zeroed();
        match addr {
            Addr::Inet(SocketAddr::V4(a)) => raw.put(libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            }),
            Addr::Inet(SocketAddr::V6(a)) => raw.put(libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            }),
            Addr::Unix(path) => raw.put_unix(path.as_os_str().as_bytes(), false)?,
            Addr::Abstract(name) => raw.put_unix(name, true)?,
            Addr::Unnamed => {
                raw.put_unix(&[], false)?;
                raw.len = offset_of!(libc::sockaddr_un, sun_path) as libc::socklen_t;
            }
        }
        Ok(raw)
    }

    fn put_unix(&mut self, name: &[u8], abstract_ns: bool) -> io::Result<()> {
        let mut un: libc::sockaddr_un = self.get();
        un.sun_family = libc::AF_UNIX as libc::sa_family_t;
        // Path sockets need room for the trailing NUL; abstract ones for the leading one.
        if name.len() + 1 > un.sun_path.len() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "UNIX socket name longer than 107 bytes",
            ));
        }
        if !abstract_ns && name.contains(&0) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "UNIX socket path contains a NUL byte",
            ));
        }
        let start = usize::from(abstract_ns);
        for (dst, src) in un.sun_path[start..].iter_mut().zip(name) {
            *dst = *src as libc::c_char;
        }
        self.put(un);
        // Path: family + bytes + NUL. Abstract: family + NUL + bytes (no terminator).
        self.len = (offset_of!(libc::sockaddr_un, sun_path) + name.len() + 1) as libc::socklen_t;
        Ok(())
    }

    fn decode(&self) -> io::Result<Addr> {
        let family = libc::c_int::from(self.storage.ss_family);
        match family {
            libc::AF_INET => {
                let sin: libc::sockaddr_in = self.get();
                let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
                Ok(Addr::Inet(SocketAddr::V4(SocketAddrV4::new(
                    ip,
                    u16::from_be(sin.sin_port),
                ))))
            }
            libc::AF_INET6 => {
                let sin6: libc::sockaddr_in6 = self.get();
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Ok(Addr::Inet(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(sin6.sin6_port),
                    sin6.sin6_flowinfo,
                    sin6.sin6_scope_id,
                ))))
            }
            libc::AF_UNIX => {
                let un: libc::sockaddr_un = self.get();
                let off = offset_of!(libc::sockaddr_un, sun_path);
                let n = (self.len as usize)
                    .saturating_sub(off)
                    .min(un.sun_path.len());
                let bytes: Vec<u8> = un.sun_path[..n].iter().map(|&c| c as u8).collect();
                if bytes.is_empty() {
                    Ok(Addr::Unnamed)
                } else if bytes[0] == 0 {
                    Ok(Addr::Abstract(bytes[1..].to_vec()))
                } else {
                    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                    let path = Path::new(std::ffi::OsStr::from_bytes(&bytes[..end]));
                    Ok(Addr::Unix(path.to_path_buf()))
                }
            }
            _ => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                format!("unsupported socket address family {family}"),
            )),
        }
    }
}

// ---------------------------------------------------------------------------------
// Sockets
// ---------------------------------------------------------------------------------

/// A non-blocking, close-on-exec stream socket of `domain` (`AF_INET`, `AF_INET6`,
/// `AF_UNIX`).
pub fn stream_socket(domain: libc::c_int) -> io::Result<OwnedFd> {
    let ty = libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    // SAFETY: no pointer arguments; the result is checked.
    let fd = cvt(unsafe { libc::socket(domain, ty, 0) })?;
    Ok(owned(fd))
}

/// Sets an integer socket option.
pub fn set_int_opt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
    val: libc::c_int,
) -> io::Result<()> {
    // SAFETY: passes a pointer to a live c_int and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::addr_of!(val).cast::<c_void>(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// Reads an integer socket option.
pub fn get_int_opt(
    fd: BorrowedFd<'_>,
    level: libc::c_int,
    name: libc::c_int,
) -> io::Result<libc::c_int> {
    let mut val: libc::c_int = 0;
    let mut len = mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: the kernel writes at most `len` bytes into a live c_int.
    cvt(unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            level,
            name,
            ptr::addr_of_mut!(val).cast::<c_void>(),
            &mut len,
        )
    })?;
    Ok(val)
}

/// `SO_LINGER {on, 0}`: the next close sends a RST and drops unsent data.
pub fn set_linger_zero(fd: BorrowedFd<'_>) -> io::Result<()> {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: passes a pointer to a live linger struct and its exact size.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            ptr::addr_of!(lg).cast::<c_void>(),
            mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    })?;
    Ok(())
}

/// The pending socket error (`SO_ERROR`, cleared by reading it), as an `io::Error`.
pub fn take_socket_error(fd: BorrowedFd<'_>) -> io::Result<Option<io::Error>> {
    let err = get_int_opt(fd, libc::SOL_SOCKET, libc::SO_ERROR)?;
    Ok((err != 0).then(|| io::Error::from_raw_os_error(err)))
}

pub fn bind(fd: BorrowedFd<'_>, addr: &Addr) -> io::Result<()> {
    let raw = RawAddr::encode(addr)?;
    // SAFETY: `raw` holds a valid sockaddr of `raw.len` bytes for the whole call.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), raw.as_ptr(), raw.len) })?;
    Ok(())
}

pub fn listen(fd: BorrowedFd<'_>, backlog: libc::c_int) -> io::Result<()> {
    // SAFETY: no pointer arguments.
    cvt(unsafe { libc::listen(fd.as_raw_fd(), backlog) })?;
    Ok(())
}

/// Starts a connection; a non-blocking TCP socket fails with `EINPROGRESS`, which the
/// caller treats as "in progress".
pub fn connect(fd: BorrowedFd<'_>, addr: &Addr) -> io::Result<()> {
    let raw = RawAddr::encode(addr)?;
    // SAFETY: `raw` holds a valid sockaddr of `raw.len` bytes for the whole call.
    cvt(unsafe { libc::connect(fd.as_raw_fd(), raw.as_ptr(), raw.len) })?;
    Ok(())
}

/// `accept4(SOCK_NONBLOCK|SOCK_CLOEXEC)`: the new connection and its peer address.
pub fn accept(fd: BorrowedFd<'_>) -> io::Result<(OwnedFd, Addr)> {
    let mut raw = RawAddr::zeroed();
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    let new = retry(|| {
        raw.len = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: the kernel writes at most `raw.len` bytes into the storage and
        // updates `raw.len`; both live across the call.
        cvt(unsafe { libc::accept4(fd.as_raw_fd(), raw.as_mut_ptr(), &mut raw.len, flags) })
    })?;
    let new = owned(new);
    let peer = raw.decode().unwrap_or(Addr::Unnamed);
    Ok((new, peer))
}

/// The address the socket is bound to (`getsockname`).
pub fn local_addr(fd: BorrowedFd<'_>) -> io::Result<Addr> {
    let mut raw = RawAddr::zeroed();
    // SAFETY: as in `accept`.
    cvt(unsafe { libc::getsockname(fd.as_raw_fd(), raw.as_mut_ptr(), &mut raw.len) })?;
    raw.decode()
}

/// The address of the connected peer (`getpeername`).
pub fn peer_addr(fd: BorrowedFd<'_>) -> io::Result<Addr> {
    let mut raw = RawAddr::zeroed();
    // SAFETY: as in `accept`.
    cvt(unsafe { libc::getpeername(fd.as_raw_fd(), raw.as_mut_ptr(), &mut raw.len) })?;
    raw.decode()
}

/// One `recv` straight into the unfilled part of `buf`; advances `buf` by the count.
pub fn recv_into(fd: BorrowedFd<'_>, buf: &mut ReadBuf<'_>) -> io::Result<usize> {
    let n = retry(|| {
        let dst = unfilled_raw(buf);
        // SAFETY: `dst` is valid for writes of `dst.len()` bytes for the call; the
        // kernel writes at most that many.
        let n = unsafe {
            libc::recv(
                fd.as_raw_fd(),
                dst.as_mut_ptr().cast::<c_void>(),
                dst.len(),
                0,
            )
        };
        cvt_size(n)
    })?;
    // SAFETY: the kernel initialised the first `n` bytes of the unfilled region.
    unsafe { buf.assume_init(n) };
    buf.advance(n);
    Ok(n)
}

/// The unfilled region of a `ReadBuf` as raw uninitialised memory.
fn unfilled_raw<'a>(buf: &'a mut ReadBuf<'_>) -> &'a mut [mem::MaybeUninit<u8>] {
    // SAFETY: we only hand this memory to the kernel, which writes bytes into it and
    // never de-initialises anything; `assume_init` is called only for what it wrote.
    unsafe { buf.unfilled_mut() }
}

/// One `send(MSG_NOSIGNAL)`: a closed peer yields `EPIPE`, never `SIGPIPE`.
pub fn send(fd: BorrowedFd<'_>, data: &[u8]) -> io::Result<usize> {
    retry(|| {
        // SAFETY: `data` is valid for reads of `data.len()` bytes for the call.
        let n = unsafe {
            libc::send(
                fd.as_raw_fd(),
                data.as_ptr().cast::<c_void>(),
                data.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        cvt_size(n)
    })
}

/// One `sendmsg(MSG_NOSIGNAL)` over up to `IOV_MAX` slices (a gathering write).
pub fn send_vectored(fd: BorrowedFd<'_>, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    const IOV_MAX: usize = 1024;
    let bufs = &bufs[..bufs.len().min(IOV_MAX)];
    retry(|| {
        // SAFETY: msghdr is plain old data; all-zero is valid (no name, no control).
        let mut msg: libc::msghdr = unsafe { mem::zeroed() };
        // IoSlice is ABI-compatible with iovec on Unix (guaranteed by std).
        msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = bufs.len() as _;
        // SAFETY: `msg` points at `bufs`, which outlive the call; the kernel only
        // reads through the iovecs.
        let n = unsafe { libc::sendmsg(fd.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        cvt_size(n)
    })
}

/// `shutdown(how)` with `libc::SHUT_WR` / `SHUT_RD` / `SHUT_RDWR`.
pub fn shutdown(fd: BorrowedFd<'_>, how: libc::c_int) -> io::Result<()> {
    // SAFETY: no pointer arguments.
    cvt(unsafe { libc::shutdown(fd.as_raw_fd(), how) })?;
    Ok(())
}

/// Sets `O_NONBLOCK` (kept flags otherwise).
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: F_GETFL/F_SETFL take no pointers.
    let flags = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    if flags & libc::O_NONBLOCK == 0 {
        // SAFETY: as above.
        cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) })?;
    }
    Ok(())
}

/// Takes ownership of an inherited descriptor after checking that it is an open
/// listening stream socket. On error the descriptor is left open and unowned.
pub fn adopt_listener(raw: RawFd) -> io::Result<OwnedFd> {
    if raw < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: F_GETFD on an arbitrary number only reports EBADF if it is not open.
    cvt(unsafe { libc::fcntl(raw, libc::F_GETFD) })?;
    // SAFETY: the number is open (checked just above) and we only borrow it for the
    // checks below; ownership is taken after they pass.
    let fd = unsafe { BorrowedFd::borrow_raw(raw) };
    let ty = get_int_opt(fd, libc::SOL_SOCKET, libc::SO_TYPE)?;
    if ty != libc::SOCK_STREAM {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("fd@{raw} is not a stream socket"),
        ));
    }
    if get_int_opt(fd, libc::SOL_SOCKET, libc::SO_ACCEPTCONN)? == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("fd@{raw} is not listening"),
        ));
    }
    set_nonblocking(fd)?;
    // SAFETY: F_SETFD takes no pointers; close-on-exec so workers do not leak it.
    cvt(unsafe { libc::fcntl(raw, libc::F_SETFD, libc::FD_CLOEXEC) })?;
    // SAFETY: the caller hands us this descriptor (the `fd@N` contract: the driver
    // owns and closes it) and it is open.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_through_sockaddr() {
        let cases = [
            Addr::Inet("127.0.0.1:8080".parse().unwrap()),
            Addr::Inet("[::1]:443".parse().unwrap()),
            Addr::Inet("[fe80::1%3]:1".parse().unwrap()),
            Addr::Unix(PathBuf::from("/tmp/sluice.sock")),
            Addr::Abstract(b"sluice-test".to_vec()),
            Addr::Unnamed,
        ];
        for addr in cases {
            let raw = RawAddr::encode(&addr).unwrap();
            assert_eq!(raw.decode().unwrap(), addr);
        }
    }

    #[test]
    fn overlong_unix_names_are_rejected() {
        let long = PathBuf::from("/".repeat(108));
        assert!(RawAddr::encode(&Addr::Unix(long)).is_err());
        assert!(RawAddr::encode(&Addr::Abstract(vec![b'a'; 108])).is_err());
        assert!(RawAddr::encode(&Addr::Abstract(vec![b'a'; 107])).is_ok());
        assert!(RawAddr::encode(&Addr::Unix(PathBuf::from("a\0b"))).is_err());
    }
}
