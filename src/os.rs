//! The process-level system calls the binary needs: signals, daemon mode, privilege
//! drop, chroot, CPU pinning, descriptor limits.
//!
//! Owns: every `unsafe` block of the `sluice` package, each behind a safe function.
//! Invariant: signals that steer the process (TERM, INT, USR1, HUP) are blocked in
//! every thread and received synchronously by one thread with `sigwait`, so workers
//! are never interrupted in the middle of their loop.

use std::ffi::CString;
use std::io;

/// The signals sluice handles: SIGTERM/SIGINT hard stop, SIGUSR1 soft stop,
/// SIGHUP (logged, like HAProxy's "dump servers state").
pub const HANDLED: [i32; 4] = [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1, libc::SIGHUP];

fn sigset(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it before use and
    // sigaddset only writes within it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for &s in signals {
            libc::sigaddset(&mut set, s);
        }
        set
    }
}

/// Block the handled signals in this thread (threads spawned later inherit the mask).
pub fn block_signals() -> io::Result<()> {
    let set = sigset(&HANDLED);
    // SAFETY: `set` is a valid, initialised sigset; a null old-set pointer is allowed.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    // Writes to a closed socket must fail with EPIPE, not kill the process.
    // SAFETY: SIG_IGN is a valid disposition for SIGPIPE.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    Ok(())
}

/// Wait for one of the handled signals (they must be blocked).
pub fn wait_signal() -> io::Result<i32> {
    let set = sigset(&HANDLED);
    let mut sig: libc::c_int = 0;
    // SAFETY: `set` is initialised and `sig` is a valid out-pointer.
    let rc = unsafe { libc::sigwait(&set, &mut sig) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(sig)
}

/// Send `sig` to `pid`.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill has no memory-safety preconditions.
    if unsafe { libc::kill(pid, sig) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The daemon's side of the start-up handshake with the launching process.
pub struct Daemon {
    notify: i32,
}

impl Daemon {
    /// Everything listens: detach the standard descriptors (to /dev/null) and let the
    /// launching process exit 0. Until then start-up alerts still reach the terminal.
    pub fn ready(self) {
        let devnull = CString::new("/dev/null").expect("no NUL");
        // SAFETY: a valid NUL-terminated path; the returned descriptor is checked.
        let fd = unsafe { libc::open(devnull.as_ptr(), libc::O_RDWR) };
        if fd >= 0 {
            for target in 0..3 {
                // SAFETY: `fd` is open; dup2 onto the standard descriptors replaces them.
                unsafe { libc::dup2(fd, target) };
            }
            if fd > 2 {
                close(fd);
            }
        }
        // SAFETY: writes one byte from a valid buffer to the pipe we own.
        unsafe { libc::write(self.notify, b"1".as_ptr().cast(), 1) };
        close(self.notify);
    }
}

/// Detach into the background, HAProxy's way: fork, new session in the child. The
/// launching process waits until the child calls [`Daemon::ready`] (everything
/// listens; it exits 0) or dies without doing so (a start-up error such as a bind
/// failure, already reported on stderr; it exits 1). Must run before any thread is
/// started.
pub fn daemonize() -> io::Result<Daemon> {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` is a valid two-element out-array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let (rd, wr) = (fds[0], fds[1]);
    // SAFETY: called while the process is single-threaded, so fork is safe; the
    // child continues with a copy of this single thread.
    match unsafe { libc::fork() } {
        -1 => return Err(io::Error::last_os_error()),
        0 => {}
        _ => {
            close(wr);
            let mut b = 0u8;
            let n = loop {
                // SAFETY: reads at most one byte into `b`.
                let n = unsafe { libc::read(rd, (&mut b as *mut u8).cast(), 1) };
                if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                break n;
            };
            std::process::exit(if n == 1 { 0 } else { 1 });
        }
    }
    close(rd);
    // SAFETY: setsid has no memory-safety preconditions.
    if unsafe { libc::setsid() } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(Daemon { notify: wr })
}

/// Look up a user name: (uid, primary gid).
pub fn user_ids(name: &str) -> Option<(u32, u32)> {
    let c = CString::new(name).ok()?;
    // SAFETY: getpwnam returns null or a pointer to a static record we only read,
    // before any other getpw* call.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return None;
    }
    // SAFETY: non-null record from getpwnam.
    unsafe { Some(((*pw).pw_uid, (*pw).pw_gid)) }
}

/// Look up a group name.
pub fn group_id(name: &str) -> Option<u32> {
    let c = CString::new(name).ok()?;
    // SAFETY: as for getpwnam.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    if gr.is_null() {
        return None;
    }
    // SAFETY: non-null record from getgrnam.
    unsafe { Some((*gr).gr_gid) }
}

/// `chroot` into `dir` and change directory to its root.
pub fn chroot(dir: &str) -> io::Result<()> {
    let c = CString::new(dir).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: a valid NUL-terminated path.
    if unsafe { libc::chroot(c.as_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    std::env::set_current_dir("/")
}

/// Drop privileges: group first, then user.
pub fn set_ids(uid: Option<u32>, gid: Option<u32>) -> io::Result<()> {
    if let Some(g) = gid {
        // SAFETY: setgroups with a one-element array we own, then setgid.
        unsafe {
            if libc::setgroups(1, &g) != 0 || libc::setgid(g) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
    }
    if let Some(u) = uid {
        // SAFETY: setuid has no memory-safety preconditions.
        if unsafe { libc::setuid(u) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Pin the calling thread to the given CPUs.
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    // SAFETY: cpu_set_t is plain data; CPU_ZERO/CPU_SET write within it and
    // sched_setaffinity reads `size_of` bytes from it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_ZERO(&mut set);
        for &c in cpus {
            if c < libc::CPU_SETSIZE as usize {
                libc::CPU_SET(c, &mut set);
            }
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Raise the open-files limit to its hard maximum; returns the new soft limit.
pub fn raise_nofile() -> u64 {
    // SAFETY: rlimit is plain data; getrlimit fills it, setrlimit reads it.
    unsafe {
        let mut rl: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 1024;
        }
        if rl.rlim_cur < rl.rlim_max {
            rl.rlim_cur = rl.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
        }
        let mut now: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut now);
        now.rlim_cur
    }
}

/// Duplicate a descriptor (close-on-exec).
pub fn dup_cloexec(fd: i32) -> io::Result<i32> {
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) on a descriptor number; failure is reported.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n)
}

/// Close a descriptor we own.
pub fn close(fd: i32) {
    // SAFETY: the caller owns `fd` and does not use it afterwards.
    unsafe { libc::close(fd) };
}

/// Number of CPUs this process may run on.
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Take ownership of an inherited listening socket `fd@N` (a dup of it, so the
/// original number stays valid) for the CLI: a UNIX or a TCP listener by its family.
pub fn inherited_cli_listener(fd: i32) -> io::Result<dataplane::mgmt::CliListener> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let d = dup_cloexec(fd)?;
    // SAFETY: `d` is a fresh descriptor we own; OwnedFd closes it exactly once.
    let owned = unsafe { OwnedFd::from_raw_fd(d) };
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: getsockopt writes at most `len` bytes into `domain`.
    let rc = unsafe {
        libc::getsockopt(
            d,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            (&mut domain as *mut libc::c_int).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(if domain == libc::AF_UNIX {
        dataplane::mgmt::CliListener::Unix(owned.into())
    } else {
        dataplane::mgmt::CliListener::Tcp(owned.into())
    })
}

/// `sluice -x SOCKET`: asks the process serving stats socket `path` (declared with
/// `level admin expose-fd listeners`) for its listening sockets (`_getsocks`).
/// Returns each socket's address with a descriptor this process owns.
pub fn fetch_listeners(
    path: &std::path::Path,
) -> io::Result<Vec<(std::net::SocketAddr, std::os::fd::OwnedFd)>> {
    use sendfd::RecvWithFd;
    use std::io::Write;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    s.write_all(b"_getsocks\n")?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut fds = [-1 as RawFd; 253];
    let (n, nfds) = s.recv_with_fd(&mut buf, &mut fds)?;
    // SAFETY: the kernel installed these `nfds` descriptors in this process for
    // this message (SCM_RIGHTS); nothing else owns them, and each OwnedFd closes
    // its own exactly once.
    let owned: Vec<OwnedFd> = fds[..nfds]
        .iter()
        .map(|&fd| unsafe { OwnedFd::from_raw_fd(fd) })
        .collect();
    let text = String::from_utf8_lossy(&buf[..n]);
    let addrs = dataplane::mgmt::getsocks::parse(&text)
        .map_err(|e| io::Error::other(format!("{}: {e}", path.display())))?;
    if addrs.len() != owned.len() {
        return Err(io::Error::other(format!(
            "{}: {} addresses but {} descriptors received",
            path.display(),
            addrs.len(),
            owned.len()
        )));
    }
    Ok(addrs.into_iter().zip(owned).collect())
}
