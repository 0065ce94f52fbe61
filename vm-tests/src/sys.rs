//! The crate's only `unsafe` code: raising the descriptor limit, which std does not
//! offer. Used by the helper binaries that hold thousands of sockets.
//!
//! Owns: nothing; one safe function over `getrlimit`/`setrlimit`.

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
