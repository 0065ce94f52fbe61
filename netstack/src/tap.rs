//! The TAP port: a Linux TAP interface through `/dev/net/tun`.
//!
//! # What it owns
//!
//! A [`TapPort`] owns one non-blocking `/dev/net/tun` descriptor attached (with
//! `IFF_TAP | IFF_NO_PI`) to a TAP interface — an existing one, made by
//! `ip tuntap add NAME mode tap`, or a new one if the caller may create it —
//! plus one receive buffer and one transmit buffer. Frames are whole Ethernet
//! frames, one per `read(2)` / `write(2)`. The kernel side does all
//! segmentation and checksumming (no `IFF_VNET_HDR`), so TAP needs no offload
//! repair even when peers have offloads on. The wake descriptor is the tun
//! descriptor. The interface is not brought up here (`ip link set NAME up`).
//!
//! # Invariants
//!
//! - A frame read from the device is *held* until a receive token consumes it:
//!   a token dropped without `consume` leaves it for the next `receive`.
//! - Frames longer than the MTU are dropped and counted in `rx_dropped`
//!   (received) or `tx_dropped` (to send); a write the device refuses
//!   (`EAGAIN`, error) is counted in `tx_dropped`.

mod sys;

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::port::{Instant, Port, PortCapabilities, PortCounters, RxToken, TxToken};

/// Largest frame a TAP read can return (64 KiB plus headroom).
const READ_BUF: usize = 65536 + 256;

/// A TAP interface as a [`Port`].
#[derive(Debug)]
pub struct TapPort {
    file: File,
    name: String,
    mtu: usize,
    rx: RxState,
    tx: TxState,
}

#[derive(Debug)]
struct RxState {
    buf: Vec<u8>,
    held: Option<usize>,
    frames: u64,
    bytes: u64,
    dropped: u64,
}

#[derive(Debug)]
struct TxState {
    buf: Vec<u8>,
    frames: u64,
    bytes: u64,
    dropped: u64,
}

impl TapPort {
    /// Attaches to TAP interface `ifname` (created if missing and permitted).
    /// `mtu`: largest frame in bytes, Ethernet header included (1514 for an IP
    /// MTU of 1500), the [`PortCapabilities::mtu`] convention.
    pub fn open(ifname: &str, mtu: usize) -> io::Result<TapPort> {
        if mtu < 60 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("tap {ifname}: mtu {mtu} below the smallest Ethernet frame"),
            ));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("tap {ifname}: /dev/net/tun: {e}")))?;
        sys::tun_set_iff(file.as_fd(), ifname, sys::IFF_TAP | sys::IFF_NO_PI)
            .map_err(|e| io::Error::new(e.kind(), format!("tap {ifname}: TUNSETIFF: {e}")))?;
        Ok(TapPort {
            file,
            name: ifname.to_string(),
            mtu,
            rx: RxState {
                buf: vec![0; READ_BUF.max(mtu + 1)],
                held: None,
                frames: 0,
                bytes: 0,
                dropped: 0,
            },
            tx: TxState {
                buf: vec![0; mtu],
                frames: 0,
                bytes: 0,
                dropped: 0,
            },
        })
    }

    /// The interface's name.
    pub fn ifname(&self) -> &str {
        &self.name
    }
}

/// Receive token of a [`TapPort`].
pub struct TapRx<'a> {
    rx: &'a mut RxState,
}

impl RxToken for TapRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        let n = self.rx.held.take().expect("a held frame was offered");
        self.rx.frames += 1;
        self.rx.bytes += n as u64;
        f(&self.rx.buf[..n])
    }
}

/// Transmit token of a [`TapPort`].
pub struct TapTx<'a> {
    file: &'a File,
    tx: &'a mut TxState,
    mtu: usize,
}

impl TxToken for TapTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let tx = self.tx;
        if len > self.mtu {
            tx.dropped += 1;
            return f(&mut vec![0u8; len]);
        }
        let r = f(&mut tx.buf[..len]);
        let mut file = self.file;
        loop {
            match file.write(&tx.buf[..len]) {
                Ok(n) if n == len => {
                    tx.frames += 1;
                    tx.bytes += len as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                _ => tx.dropped += 1,
            }
            break;
        }
        r
    }
}

impl Port for TapPort {
    type RxToken<'a> = TapRx<'a>;
    type TxToken<'a> = TapTx<'a>;

    fn receive(&mut self, _now: Instant) -> Option<(TapRx<'_>, TapTx<'_>)> {
        while self.rx.held.is_none() {
            match (&self.file).read(&mut self.rx.buf) {
                Ok(0) => return None,
                Ok(n) if n > self.mtu => self.rx.dropped += 1,
                Ok(n) => self.rx.held = Some(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return None, // EAGAIN: nothing waiting
            }
        }
        Some((
            TapRx { rx: &mut self.rx },
            TapTx {
                file: &self.file,
                tx: &mut self.tx,
                mtu: self.mtu,
            },
        ))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TapTx<'_>> {
        Some(TapTx {
            file: &self.file,
            tx: &mut self.tx,
            mtu: self.mtu,
        })
    }

    fn capabilities(&self) -> PortCapabilities {
        PortCapabilities {
            mtu: self.mtu,
            max_burst: None,
        }
    }

    fn counters(&self) -> PortCounters {
        PortCounters {
            rx_frames: self.rx.frames,
            rx_bytes: self.rx.bytes,
            rx_dropped: self.rx.dropped,
            tx_frames: self.tx.frames,
            tx_bytes: self.tx.bytes,
            tx_dropped: self.tx.dropped,
        }
    }

    fn wake_fd(&self) -> Option<RawFd> {
        Some(self.file.as_raw_fd())
    }
}
