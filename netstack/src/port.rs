//! The driver seam: what every NIC port implements.
//!
//! A [`Port`] is one Ethernet attachment of the appliance — a DPDK queue, an
//! AF_PACKET ring, a TAP device, or one end of an in-memory [wire](crate::wire).
//! It moves whole link-layer frames and nothing else: no IP, no TCP, no policy.
//! The stack above (smoltcp, through [`crate::smoltcp_phy`]) drives it in a
//! poll-mode, run-to-completion loop and passes the current time into every call,
//! so a port never reads a clock of its own (simulated time works unchanged).
//!
//! The interface is built on *tokens*, as smoltcp's `phy::Device` is: `receive`
//! and `transmit` only say "a frame can be taken / a frame can be sent now" by
//! handing out a token; the work happens when the token is consumed, inside a
//! closure that sees the frame in the driver's own buffer (no copy where the
//! driver can avoid one).
//!
//! # Invariants every driver keeps
//!
//! - **One token, at most one frame.** Consuming an [`RxToken`] takes exactly one
//!   frame off the port; consuming a [`TxToken`] sends at most one frame (a frame
//!   the port cannot carry — too long, queue full — is dropped and counted in
//!   [`PortCounters::tx_dropped`]). `consume` takes the token by value, so a token
//!   cannot be used twice.
//! - **A dropped token does nothing.** A [`TxToken`] dropped without `consume`
//!   sends nothing. An [`RxToken`] dropped without `consume` does not lose its
//!   frame: the next `receive` offers the same frame again.
//! - **Tokens borrow the port.** They live no longer than the `&mut self` borrow
//!   that made them, so a driver never sees a call while one of its tokens is
//!   outstanding from a different call.
//! - **Frames are whole and bounded.** A received frame is one complete
//!   link-layer frame of at most [`PortCapabilities::mtu`] bytes; the stack never
//!   asks to send a longer one.
//! - **Counters only grow.** [`PortCounters`] are monotonic totals since the port
//!   was made; readers take differences.

use std::fmt;
use std::ops::{Add, Sub};

/// A point in time as the poll loop sees it, in microseconds since an arbitrary
/// epoch (the loop's start, or simulated time zero).
///
/// Ports never read a clock: the loop passes `now` in, which is what makes
/// simulated-time tests and benches deterministic.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    micros: i64,
}

impl Instant {
    /// The epoch.
    pub const ZERO: Instant = Instant { micros: 0 };

    /// `micros` microseconds after the epoch.
    pub const fn from_micros(micros: i64) -> Instant {
        Instant { micros }
    }

    /// `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: i64) -> Instant {
        Instant {
            micros: millis.saturating_mul(1000),
        }
    }

    /// Microseconds since the epoch.
    pub const fn total_micros(self) -> i64 {
        self.micros
    }

    /// Whole milliseconds since the epoch (rounded down).
    pub const fn total_millis(self) -> i64 {
        self.micros.div_euclid(1000)
    }

    /// This instant plus `millis` milliseconds (saturating).
    pub const fn add_millis(self, millis: u64) -> Instant {
        let add = if millis > (i64::MAX / 1000) as u64 {
            i64::MAX
        } else {
            millis as i64 * 1000
        };
        Instant {
            micros: self.micros.saturating_add(add),
        }
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}.{:03}ms",
            self.micros.div_euclid(1000),
            self.micros.rem_euclid(1000)
        )
    }
}

impl Add<std::time::Duration> for Instant {
    type Output = Instant;
    fn add(self, d: std::time::Duration) -> Instant {
        let add = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Instant {
            micros: self.micros.saturating_add(add),
        }
    }
}

impl Sub for Instant {
    type Output = std::time::Duration;
    /// The time from `rhs` to `self`; zero if `rhs` is later.
    fn sub(self, rhs: Instant) -> std::time::Duration {
        let d = self.micros.saturating_sub(rhs.micros).max(0);
        std::time::Duration::from_micros(d as u64)
    }
}

/// What a port can carry, read once by the stack when it attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortCapabilities {
    /// Largest frame the port sends or receives, in bytes, **link-layer header
    /// included** (smoltcp's convention for Ethernet: 1514 for a 1500-byte IP MTU;
    /// the FCS is not counted).
    pub mtu: usize,
    /// Most frames the port takes in one burst before the sender should expect
    /// loss, if it has such a limit (a NIC ring, a peer's small buffer). The stack
    /// uses it to cap the window it advertises. `None`: no limit worth telling.
    pub max_burst: Option<usize>,
}

impl PortCapabilities {
    /// Standard Ethernet: 1514-byte frames, no burst limit.
    pub const ETHERNET: PortCapabilities = PortCapabilities {
        mtu: 1514,
        max_burst: None,
    };
}

impl Default for PortCapabilities {
    fn default() -> Self {
        PortCapabilities::ETHERNET
    }
}

/// Monotonic totals of what went through a port since it was made.
///
/// "rx" is what the stack consumed from the port; "tx" is what the stack handed to
/// the port. Loss *between* ports (a wire dropping a frame in flight) is not a
/// port drop: it is counted by whatever models the medium (see
/// [`crate::wire::LinkCounters`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortCounters {
    /// Frames consumed through [`RxToken`]s.
    pub rx_frames: u64,
    /// Bytes of those frames.
    pub rx_bytes: u64,
    /// Frames that reached the port but were discarded before the stack saw them
    /// (receive ring overflow, oversize frame).
    pub rx_dropped: u64,
    /// Frames accepted for sending through [`TxToken`]s.
    pub tx_frames: u64,
    /// Bytes of those frames.
    pub tx_bytes: u64,
    /// Frames the stack built but the port could not send (queue or ring full,
    /// oversize frame). Not included in `tx_frames`.
    pub tx_dropped: u64,
}

impl Sub for PortCounters {
    type Output = PortCounters;
    /// Per-field difference (for rates and "what happened during this run").
    fn sub(self, rhs: PortCounters) -> PortCounters {
        PortCounters {
            rx_frames: self.rx_frames.wrapping_sub(rhs.rx_frames),
            rx_bytes: self.rx_bytes.wrapping_sub(rhs.rx_bytes),
            rx_dropped: self.rx_dropped.wrapping_sub(rhs.rx_dropped),
            tx_frames: self.tx_frames.wrapping_sub(rhs.tx_frames),
            tx_bytes: self.tx_bytes.wrapping_sub(rhs.tx_bytes),
            tx_dropped: self.tx_dropped.wrapping_sub(rhs.tx_dropped),
        }
    }
}

/// A token to receive one frame.
pub trait RxToken {
    /// Takes the frame off the port and calls `f` with its bytes, in the driver's
    /// own buffer where it can (the slice is valid only inside `f`).
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R;
}

/// A token to send one frame.
pub trait TxToken {
    /// Calls `f` with a buffer of exactly `len` bytes (contents unspecified) to
    /// build one frame in, then sends it. If the port cannot carry it (`len`
    /// above the MTU, queue full), `f` still runs and the frame is dropped and
    /// counted in [`PortCounters::tx_dropped`].
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R;
}

/// One NIC port: the seam between a driver and the poll-mode stack.
///
/// See the [module documentation](self) for the invariants every implementation
/// keeps.
pub trait Port {
    /// Receive token; borrows the port.
    type RxToken<'a>: RxToken
    where
        Self: 'a;
    /// Transmit token; borrows the port.
    type TxToken<'a>: TxToken
    where
        Self: 'a;

    /// A frame is ready at `now`: a token to take it, and a token to send one
    /// reply (so a stack can answer a frame without asking twice). `None` when
    /// nothing is ready.
    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)>;

    /// A token to send one frame at `now`, or `None` when the port cannot take
    /// one (back-pressure; drivers that tail-drop instead always return one).
    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>>;

    /// What the port can carry. Constant for the port's life.
    fn capabilities(&self) -> PortCapabilities;

    /// Totals since the port was made.
    fn counters(&self) -> PortCounters;

    /// Hand what the transmit tokens queued to the device (AF_PACKET: one kick of
    /// the TX ring for the whole burst). Drivers that send in `consume` have
    /// nothing to do. The stack calls it once per loop turn, after its egress.
    fn flush(&mut self, now: Instant) {
        let _ = now;
    }

    /// A descriptor that becomes readable when a frame may be waiting, so an idle
    /// poll loop can sleep in `poll(2)` instead of spinning. `None`: the port has
    /// no such descriptor (the in-memory wire) and the loop naps by time.
    fn wake_fd(&self) -> Option<std::os::fd::RawFd> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn instant_arithmetic() {
        let t = Instant::from_millis(5);
        assert_eq!(t.total_micros(), 5000);
        assert_eq!(t.add_millis(2), Instant::from_millis(7));
        assert_eq!(t + Duration::from_micros(250), Instant::from_micros(5250));
        assert_eq!(Instant::from_millis(7) - t, Duration::from_millis(2));
        assert_eq!(t - Instant::from_millis(7), Duration::ZERO);
        assert_eq!(Instant::from_micros(1500).to_string(), "1.500ms");
        assert_eq!(Instant::from_micros(-1).total_millis(), -1);
        assert_eq!(Instant::ZERO.add_millis(u64::MAX).total_micros(), i64::MAX);
    }

    #[test]
    fn counters_difference() {
        let a = PortCounters {
            rx_frames: 10,
            rx_bytes: 1000,
            tx_frames: 3,
            ..PortCounters::default()
        };
        let b = PortCounters {
            rx_frames: 4,
            rx_bytes: 400,
            ..PortCounters::default()
        };
        let d = a - b;
        assert_eq!((d.rx_frames, d.rx_bytes, d.tx_frames), (6, 600, 3));
    }
}
