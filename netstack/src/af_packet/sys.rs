//! The AF_PACKET driver's only `unsafe`: the packet socket, its options, the
//! ring mappings and the transmit kick.
//!
//! Invariants: every descriptor passed in is borrowed from an owner that keeps
//! it open for the call; a ring mapping is made only after the ring was set up
//! on the socket with exactly the length mapped, and it is dropped before the
//! socket is closed (field order in the driver).
#![allow(unsafe_code)]

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

use memmap2::{MmapMut, MmapOptions};

use super::fanout::Insn;

pub const SOL_PACKET: libc::c_int = 263;
pub const PACKET_RX_RING: libc::c_int = 5;
pub const PACKET_VERSION: libc::c_int = 10;
pub const PACKET_TX_RING: libc::c_int = 13;
pub const PACKET_VNET_HDR: libc::c_int = 15;
pub const PACKET_FANOUT: libc::c_int = 18;
pub const PACKET_QDISC_BYPASS: libc::c_int = 20;
pub const PACKET_FANOUT_DATA: libc::c_int = 22;
pub const PACKET_IGNORE_OUTGOING: libc::c_int = 23;
pub const TPACKET_V2: libc::c_int = 1;
pub const TPACKET_V3: libc::c_int = 2;
pub const PACKET_FANOUT_CBPF: u32 = 6;
pub const PACKET_FANOUT_FLAG_IGNORE_OUTGOING: u32 = 0x4000;
pub const ETH_P_ALL: u16 = 0x0003;

/// `struct tpacket_req3`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TpacketReq3 {
    pub block_size: u32,
    pub block_nr: u32,
    pub frame_size: u32,
    pub frame_nr: u32,
    pub retire_blk_tov: u32,
    pub sizeof_priv: u32,
    pub feature_req_word: u32,
}

/// A non-blocking, close-on-exec `AF_PACKET`/`SOCK_RAW` socket for
/// `protocol` (host order; 0 receives nothing, for a send-only socket).
pub fn packet_socket(protocol: u16) -> io::Result<OwnedFd> {
    // SAFETY: socket takes no pointers; a non-negative result is a fresh
    // descriptor we own.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            libc::c_int::from(protocol.to_be()),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn setsockopt_raw<T>(fd: BorrowedFd<'_>, name: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` is a live value of exactly `size_of::<T>()` bytes for the
    // call; the kernel copies it and keeps no pointer.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            SOL_PACKET,
            name,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `setsockopt(SOL_PACKET, name, int)`.
pub fn set_int(fd: BorrowedFd<'_>, name: libc::c_int, v: libc::c_int) -> io::Result<()> {
    setsockopt_raw(fd, name, &v)
}

/// `PACKET_RX_RING` / `PACKET_TX_RING`.
pub fn set_ring(fd: BorrowedFd<'_>, name: libc::c_int, req: &TpacketReq3) -> io::Result<()> {
    setsockopt_raw(fd, name, req)
}

/// Joins fanout group `group` with mode and flags `type_flags`.
pub fn join_fanout(fd: BorrowedFd<'_>, group: u16, type_flags: u32) -> io::Result<()> {
    let arg: u32 = u32::from(group) | (type_flags << 16);
    setsockopt_raw(fd, PACKET_FANOUT, &arg)
}

/// Installs the classic BPF program of the socket's fanout group.
pub fn set_fanout_program(fd: BorrowedFd<'_>, prog: &[Insn]) -> io::Result<()> {
    let mut filters: Vec<libc::sock_filter> = prog
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let fprog = libc::sock_fprog {
        len: filters.len() as libc::c_ushort,
        filter: filters.as_mut_ptr(),
    };
    setsockopt_raw(fd, PACKET_FANOUT_DATA, &fprog)
}

/// The index of interface `name`.
pub fn ifindex(name: &str) -> io::Result<u32> {
    let c = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name with NUL"))?;
    // SAFETY: `c` is a valid NUL-terminated string for the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if i == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(i)
}

/// Binds the socket to interface `ifindex` for `protocol` (host order).
pub fn bind(fd: BorrowedFd<'_>, ifindex: u32, protocol: u16) -> io::Result<()> {
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as libc::c_ushort;
    sll.sll_protocol = protocol.to_be();
    sll.sll_ifindex = ifindex as libc::c_int;
    // SAFETY: `sll` is a live sockaddr_ll and the length passed is its size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Maps the ring set up on `fd`, `len` bytes, shared and writable.
pub fn map_ring(fd: BorrowedFd<'_>, len: usize) -> io::Result<MmapMut> {
    // SAFETY: the ring of exactly `len` bytes was set up on this socket before
    // (caller's invariant), so the mapping is backed by kernel ring pages. The
    // kernel writes them concurrently: the driver reads status words with
    // fences before trusting frame bytes (see `ring`), and the mapping is
    // dropped before the socket.
    unsafe { MmapOptions::new().len(len).map_mut(fd.as_raw_fd()) }
}

/// Asks the kernel to send every slot of the TX ring marked for sending,
/// without waiting. Returns the bytes the kernel took.
pub fn kick(fd: BorrowedFd<'_>) -> io::Result<usize> {
    // SAFETY: a NULL buffer of length 0 is what the TX ring protocol asks for;
    // the kernel reads frames from the ring mapping, not from a pointer here.
    let r = unsafe { libc::send(fd.as_raw_fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r as usize)
}

const PACKET_STATISTICS: libc::c_int = 6;

/// `struct tpacket_stats_v3`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TpacketStatsV3 {
    pub packets: u32,
    pub drops: u32,
    pub freeze_q_cnt: u32,
}

/// Reads and resets the socket's kernel counters (`PACKET_STATISTICS`).
pub fn take_stats(fd: BorrowedFd<'_>) -> io::Result<TpacketStatsV3> {
    let mut st = TpacketStatsV3::default();
    let mut len = std::mem::size_of::<TpacketStatsV3>() as libc::socklen_t;
    // SAFETY: `st` and `len` are live locals; the kernel writes at most `len`
    // bytes into `st` and the written length into `len`.
    let r = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            SOL_PACKET,
            PACKET_STATISTICS,
            (&mut st as *mut TpacketStatsV3).cast(),
            &mut len,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st)
}

/// Attaches a socket filter that drops every frame (`ret #0`): the socket
/// receives nothing until [`detach_filter`].
pub fn attach_drop_all(fd: BorrowedFd<'_>) -> io::Result<()> {
    let mut filter = [libc::sock_filter {
        code: 0x06, // BPF_RET | BPF_K
        jt: 0,
        jf: 0,
        k: 0,
    }];
    let fprog = libc::sock_fprog {
        len: 1,
        filter: filter.as_mut_ptr(),
    };
    // SAFETY: `fprog` and the array it points to are live for the call; the
    // kernel copies the program and keeps no pointer.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_ATTACH_FILTER,
            (&fprog as *const libc::sock_fprog).cast(),
            std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Removes the socket filter.
pub fn detach_filter(fd: BorrowedFd<'_>) -> io::Result<()> {
    let zero: libc::c_int = 0;
    // SAFETY: passes a live int for the call; SO_DETACH_FILTER ignores its value.
    let r = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_DETACH_FILTER,
            (&zero as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
