//! One port type over every real driver, so a worker's stack can hold ports of
//! different kinds (an AF_PACKET port toward clients, a TAP toward servers).
//!
//! Owns: [`AnyPort`] and its token enums. Invariant: pure delegation — every
//! call goes to the wrapped driver unchanged, so each driver's own invariants
//! (see [`crate::port`]) hold for the enum.

use std::io;
use std::os::fd::RawFd;

use crate::af_packet::{AfPacketConfig, AfPacketPort, AfPacketRx, AfPacketTx};
use crate::port::{Instant, Port, PortCapabilities, PortCounters, RxToken, TxToken};
use crate::tap::{TapPort, TapRx, TapTx};

/// A port of any real driver.
// One per port, built once: the size difference costs nothing on the data path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum AnyPort {
    /// AF_PACKET rings.
    AfPacket(AfPacketPort),
    /// A TAP device.
    Tap(TapPort),
}

impl AnyPort {
    /// Opens all `queues` queues of AF_PACKET interface `ifname` (frames up to
    /// `mtu` bytes, link-layer header included) in fanout group `group`, in the
    /// kernel's member order: element `i` is queue `i`. Open them from one
    /// thread, then hand each to its core.
    pub fn af_packet_queues(
        ifname: &str,
        mtu: usize,
        group: u16,
        queues: u16,
    ) -> io::Result<Vec<AnyPort>> {
        let cfg = AfPacketConfig {
            mtu,
            frame_size: (mtu + 48).div_ceil(16) * 16,
            ..AfPacketConfig::default()
        };
        Ok(AfPacketPort::open_queues(ifname, cfg, group, queues)?
            .into_iter()
            .map(AnyPort::AfPacket)
            .collect())
    }

    /// Opens TAP device `ifname` (created if missing), frames up to `mtu` bytes.
    pub fn tap(ifname: &str, mtu: usize) -> io::Result<AnyPort> {
        TapPort::open(ifname, mtu).map(AnyPort::Tap)
    }
}

/// Receive token of an [`AnyPort`].
pub enum AnyRx<'a> {
    /// AF_PACKET.
    AfPacket(AfPacketRx<'a>),
    /// TAP.
    Tap(TapRx<'a>),
}

/// Transmit token of an [`AnyPort`].
pub enum AnyTx<'a> {
    /// AF_PACKET.
    AfPacket(AfPacketTx<'a>),
    /// TAP.
    Tap(TapTx<'a>),
}

impl RxToken for AnyRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        match self {
            AnyRx::AfPacket(t) => t.consume(f),
            AnyRx::Tap(t) => t.consume(f),
        }
    }
}

impl TxToken for AnyTx<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        match self {
            AnyTx::AfPacket(t) => t.consume(len, f),
            AnyTx::Tap(t) => t.consume(len, f),
        }
    }
}

impl Port for AnyPort {
    type RxToken<'a> = AnyRx<'a>;
    type TxToken<'a> = AnyTx<'a>;

    fn receive(&mut self, now: Instant) -> Option<(AnyRx<'_>, AnyTx<'_>)> {
        match self {
            AnyPort::AfPacket(p) => p
                .receive(now)
                .map(|(r, t)| (AnyRx::AfPacket(r), AnyTx::AfPacket(t))),
            AnyPort::Tap(p) => p.receive(now).map(|(r, t)| (AnyRx::Tap(r), AnyTx::Tap(t))),
        }
    }

    fn transmit(&mut self, now: Instant) -> Option<AnyTx<'_>> {
        match self {
            AnyPort::AfPacket(p) => p.transmit(now).map(AnyTx::AfPacket),
            AnyPort::Tap(p) => p.transmit(now).map(AnyTx::Tap),
        }
    }

    fn capabilities(&self) -> PortCapabilities {
        match self {
            AnyPort::AfPacket(p) => p.capabilities(),
            AnyPort::Tap(p) => p.capabilities(),
        }
    }

    fn counters(&self) -> PortCounters {
        match self {
            AnyPort::AfPacket(p) => p.counters(),
            AnyPort::Tap(p) => p.counters(),
        }
    }

    fn flush(&mut self, now: Instant) {
        match self {
            AnyPort::AfPacket(p) => p.flush(now),
            AnyPort::Tap(p) => p.flush(now),
        }
    }

    fn wake_fd(&self) -> Option<RawFd> {
        match self {
            AnyPort::AfPacket(p) => p.wake_fd(),
            AnyPort::Tap(p) => p.wake_fd(),
        }
    }
}
