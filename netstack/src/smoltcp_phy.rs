//! smoltcp over any [`Port`]: the adapter that lets smoltcp's `Interface` drive a
//! sluice port driver.
//!
//! [`PortDevice`] wraps a port and implements `smoltcp::phy::Device` by
//! forwarding tokens one to one: smoltcp's `receive`/`transmit` become the
//! port's, its token `consume` closures run on the port's own buffers (no copy
//! here), and smoltcp's `Instant` is passed through as the port's `now`. The
//! medium is Ethernet; the MTU and burst size are the port's.
//!
//! Checksums are computed and verified in software (smoltcp's default): no
//! driver here offloads them yet. A driver that does (TAP with vnet headers,
//! DPDK with offloads) will say so in [`PortCapabilities`](crate::port::PortCapabilities)
//! and this adapter will map it.

use ::smoltcp::phy::{self, DeviceCapabilities, Medium};
use ::smoltcp::time::Instant as SmolInstant;

use crate::port::{Instant, Port, PortCounters, RxToken, TxToken};

/// A [`Port`] seen as a `smoltcp::phy::Device`.
#[derive(Debug)]
pub struct PortDevice<P: Port> {
    port: P,
}

impl<P: Port> PortDevice<P> {
    /// Wraps `port`.
    pub fn new(port: P) -> Self {
        PortDevice { port }
    }

    /// The port.
    pub fn port(&self) -> &P {
        &self.port
    }

    /// The port, mutably.
    pub fn port_mut(&mut self) -> &mut P {
        &mut self.port
    }

    /// The port's counters.
    pub fn counters(&self) -> PortCounters {
        self.port.counters()
    }

    /// Unwraps the port.
    pub fn into_inner(self) -> P {
        self.port
    }
}

/// smoltcp's clock, as the port's `now`.
pub fn to_port_instant(t: SmolInstant) -> Instant {
    Instant::from_micros(t.total_micros())
}

/// The port's `now`, as smoltcp's clock.
pub fn to_smoltcp_instant(t: Instant) -> SmolInstant {
    SmolInstant::from_micros(t.total_micros())
}

impl<P: Port> phy::Device for PortDevice<P> {
    type RxToken<'a>
        = SmolRx<P::RxToken<'a>>
    where
        Self: 'a;
    type TxToken<'a>
        = SmolTx<P::TxToken<'a>>
    where
        Self: 'a;

    fn receive(
        &mut self,
        timestamp: SmolInstant,
    ) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        self.port
            .receive(to_port_instant(timestamp))
            .map(|(rx, tx)| (SmolRx(rx), SmolTx(tx)))
    }

    fn transmit(&mut self, timestamp: SmolInstant) -> Option<Self::TxToken<'_>> {
        self.port.transmit(to_port_instant(timestamp)).map(SmolTx)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let caps = self.port.capabilities();
        let mut out = DeviceCapabilities::default();
        out.medium = Medium::Ethernet;
        out.max_transmission_unit = caps.mtu;
        out.max_burst_size = caps.max_burst;
        out
    }
}

/// A port's receive token as smoltcp's.
pub struct SmolRx<T>(pub(crate) T);

impl<T: RxToken> phy::RxToken for SmolRx<T> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        self.0.consume(f)
    }
}

/// A port's transmit token as smoltcp's.
pub struct SmolTx<T>(pub(crate) T);

impl<T: TxToken> phy::TxToken for SmolTx<T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        self.0.consume(len, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{LinkFaults, MemoryWire, WireConfig};
    use ::smoltcp::phy::{Device, RxToken as _, TxToken as _};

    #[test]
    fn capabilities_and_clock_map_through() {
        let mut cfg = WireConfig::clean(1);
        cfg.capabilities.mtu = 9014;
        cfg.capabilities.max_burst = Some(32);
        let (a, _b) = MemoryWire::pair(cfg);
        let dev = PortDevice::new(a);
        let caps = dev.capabilities();
        assert_eq!(caps.medium, Medium::Ethernet);
        assert_eq!(caps.max_transmission_unit, 9014);
        assert_eq!(caps.ip_mtu(), 9000);
        assert_eq!(caps.max_burst_size, Some(32));
        let t = SmolInstant::from_micros(123_456);
        assert_eq!(to_smoltcp_instant(to_port_instant(t)), t);
    }

    #[test]
    fn tokens_forward_frames_and_time() {
        let mut cfg = WireConfig::clean(1);
        cfg.a_to_b = LinkFaults {
            delay_ms: 2,
            ..LinkFaults::default()
        };
        let (a, b) = MemoryWire::pair(cfg);
        let (mut a, mut b) = (PortDevice::new(a), PortDevice::new(b));
        a.transmit(SmolInstant::from_millis(1))
            .unwrap()
            .consume(60, |buf| buf.fill(0xAB));
        assert!(b.receive(SmolInstant::from_millis(2)).is_none());
        let (rx, _) = b.receive(SmolInstant::from_millis(3)).unwrap();
        assert!(rx.consume(|buf| buf.len() == 60 && buf.iter().all(|&x| x == 0xAB)));
        assert_eq!(a.counters().tx_frames, 1);
        assert_eq!(b.counters().rx_bytes, 60);
    }
}
