//! smoltcp `Device` views of a port for the stack's single-socket calls.
//!
//! Owns: [`OneFrame`] (exactly one received frame, already taken off the port,
//! plus the port's paired transmit token for smoltcp's immediate reply) and
//! [`PortRef`] (a borrowed port for egress). Invariant: a `OneFrame` offers its
//! frame once and never asks the port for a second frame, so the stack decides
//! which socket a frame meets *before* smoltcp sees it.

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant as SmolInstant;

use crate::port::{Port, PortCapabilities, TxToken};
use crate::smoltcp_phy::{to_port_instant, SmolTx};

/// smoltcp's capabilities for a port's.
pub fn device_caps(caps: PortCapabilities) -> DeviceCapabilities {
    let mut out = DeviceCapabilities::default();
    out.medium = Medium::Ethernet;
    out.max_transmission_unit = caps.mtu;
    out.max_burst_size = caps.max_burst;
    out
}

/// A transmit token that sends nothing (replies to frames shared from other
/// cores, synthetic ARP): the frame is built and dropped.
pub struct NoTx;

impl TxToken for NoTx {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut scratch = [0u8; 1514];
        if len <= scratch.len() {
            f(&mut scratch[..len])
        } else {
            f(&mut vec![0u8; len])
        }
    }
}

/// One frame and the transmit token that came with it.
pub struct OneFrame<'f, T> {
    frame: Option<&'f [u8]>,
    tx: Option<T>,
    caps: DeviceCapabilities,
}

impl<'f, T: TxToken> OneFrame<'f, T> {
    /// The frame `frame`, answered (if smoltcp answers) through `tx`.
    pub fn new(frame: &'f [u8], tx: Option<T>, caps: DeviceCapabilities) -> Self {
        OneFrame {
            frame: Some(frame),
            tx,
            caps,
        }
    }
}

/// The receive half of [`OneFrame`].
pub struct FrameRx<'f>(&'f [u8]);

impl phy::RxToken for FrameRx<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        f(self.0)
    }
}

/// A transmit token that may be missing: sends nothing then (the reply is lost
/// and TCP repairs it, as on a full NIC ring).
pub struct MaybeTx<T>(Option<SmolTx<T>>);

impl<T: TxToken> phy::TxToken for MaybeTx<T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        match self.0 {
            Some(tx) => phy::TxToken::consume(tx, len, f),
            None => {
                let mut scratch = vec![0u8; len];
                f(&mut scratch)
            }
        }
    }
}

impl<'f, T: TxToken> phy::Device for OneFrame<'f, T> {
    type RxToken<'a>
        = FrameRx<'f>
    where
        Self: 'a;
    type TxToken<'a>
        = MaybeTx<T>
    where
        Self: 'a;

    fn receive(&mut self, _: SmolInstant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let frame = self.frame.take()?;
        Some((FrameRx(frame), MaybeTx(self.tx.take().map(SmolTx))))
    }

    fn transmit(&mut self, _: SmolInstant) -> Option<Self::TxToken<'_>> {
        self.tx.take().map(|t| MaybeTx(Some(SmolTx(t))))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}

/// A borrowed port, for egress: transmit only, never receives.
pub struct PortRef<'p, P: Port> {
    port: &'p mut P,
    caps: DeviceCapabilities,
}

impl<'p, P: Port> PortRef<'p, P> {
    /// Views `port` as a transmit-only device.
    pub fn new(port: &'p mut P) -> Self {
        let caps = device_caps(port.capabilities());
        PortRef { port, caps }
    }
}

impl<P: Port> phy::Device for PortRef<'_, P> {
    type RxToken<'a>
        = FrameRx<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = SmolTx<P::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, _: SmolInstant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        None
    }

    fn transmit(&mut self, now: SmolInstant) -> Option<Self::TxToken<'_>> {
        self.port.transmit(to_port_instant(now)).map(SmolTx)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}
