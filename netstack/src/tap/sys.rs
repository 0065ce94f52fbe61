//! The TAP driver's only `unsafe`: the `TUNSETIFF` ioctl that attaches an open
//! `/dev/net/tun` descriptor to a TAP interface.
//!
//! Invariant: the descriptor is borrowed from an owner that keeps it open for
//! the call.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// `TUNSETIFF` = `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// TAP device (Ethernet frames).
pub const IFF_TAP: libc::c_short = 0x0002;
/// No packet-information prefix on frames.
pub const IFF_NO_PI: libc::c_short = 0x1000;

/// `struct ifreq` with the `ifr_flags` member (40 bytes on Linux x86-64).
#[repr(C)]
struct IfReqFlags {
    name: [u8; 16],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Attaches `fd` to interface `name` (creating it if it does not exist and
/// the caller may) with `flags`.
pub fn tun_set_iff(fd: BorrowedFd<'_>, name: &str, flags: libc::c_short) -> io::Result<()> {
    if name.is_empty() || name.len() > 15 || name.as_bytes().contains(&0) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("tap interface name {name:?}: 1 to 15 bytes, no NUL"),
        ));
    }
    let mut req = IfReqFlags {
        name: [0; 16],
        flags,
        _pad: [0; 22],
    };
    req.name[..name.len()].copy_from_slice(name.as_bytes());
    // SAFETY: `req` is a live, correctly laid out ifreq for the call; the
    // kernel reads the name and flags and writes back the name, in bounds.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReqFlags) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
