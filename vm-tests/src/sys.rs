//! The crate's only `unsafe` code: raising the descriptor limit and a listener's
//! accept queue, which std does not offer. Used by the helper binaries that hold
//! thousands of sockets.
//!
//! Owns: nothing; safe functions over `getrlimit`/`setrlimit` and `listen`.

/// Raises the soft `RLIMIT_NOFILE` to at least `want` (capped at the hard limit);
/// returns the soft limit in effect afterwards.
pub fn raise_nofile(want: u64) -> u64 {
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the `rlimit` we pass, a valid,
    // initialised local; they have no other memory-safety preconditions.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) != 0 {
            return 0;
        }
        if rl.rlim_cur < want {
            let mut new = rl;
            new.rlim_cur = want.min(rl.rlim_max);
            if libc::setrlimit(libc::RLIMIT_NOFILE, &new) == 0 {
                rl = new;
            }
        }
    }
    rl.rlim_cur
}

/// Re-`listen`s `l` with an accept queue of `backlog` (std uses 128; Linux caps
/// it at `net.core.somaxconn`, 4096 in a fresh namespace), so a burst of
/// thousands of connections is queued, not dropped into SYN retransmissions.
pub fn set_backlog(l: &std::net::TcpListener, backlog: i32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: `listen` on a descriptor `l` owns and keeps open for the call; it
    // reads no memory of ours.
    let r = unsafe { libc::listen(l.as_raw_fd(), backlog) };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}
