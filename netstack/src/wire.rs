//! The in-memory wire: two [`Port`]s joined inside one process, with seeded,
//! deterministic faults.
//!
//! [`MemoryWire::pair`] makes ports `a` and `b`. A frame sent on one is received
//! on the other, after passing through that direction's [`LinkFaults`]: a bounded
//! queue (tail drop), loss, duplication, reordering and a fixed delay. It is the
//! driver for tests and benchmarks: no kernel, no real network, no clock of its
//! own — only the `now` handed to [`Port::receive`] and [`Port::transmit`].
//!
//! # What a frame goes through, in this order
//!
//! For every frame a [`TxToken`] builds (`now` = the time its token was issued):
//!
//! 1. three random draws (loss, duplicate, reorder) from the direction's own
//!    generator — always all three, so one probability never shifts the fault
//!    pattern of another;
//! 2. **oversize** (longer than the MTU): dropped, counted in the port's
//!    `tx_dropped` and the link's `oversize`;
//! 3. **queue bound**: if `queue_capacity` frames are already in flight (queued
//!    or held), the frame is tail-dropped, counted in `tx_dropped` and
//!    `queue_dropped`;
//! 4. accepted: counted in the port's `tx_frames`/`tx_bytes`;
//! 5. **loss**: with probability `loss` it vanishes (`lost`);
//! 6. **delay**: it becomes receivable at `now + delay_ms`;
//! 7. **reorder**: with probability `reorder` it is held back (`reordered`) and
//!    released just behind the `reorder_gap`-th frame that enters the queue after
//!    it (frames that are themselves lost or held do not count);
//! 8. **duplicate**: with probability `duplicate` a copy enters the queue right
//!    behind it (`duplicated`), if the queue has room.
//!
//! A frame is receivable when its time has come and every frame queued before it
//! has been received: the queue is FIFO and never delivers out of the order above.
//!
//! # Determinism
//!
//! Each direction draws from its own generator seeded from [`WireConfig::seed`].
//! The same seed and the same sequence of calls (sends, receives, `now` values)
//! give the same deliveries, byte for byte, on every machine.
//!
//! # Cost
//!
//! Frame buffers are recycled per direction (the receiver returns them to the
//! sender's pool), so steady-state traffic allocates nothing; a received frame is
//! handed to the stack in place. Ports share their queues through `Rc<RefCell>`:
//! a wire lives on one thread, as a core's ports do.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use crate::port::{Instant, Port, PortCapabilities, PortCounters, RxToken, TxToken};

/// Faults of one direction of a wire. [`LinkFaults::default`] is a perfect link:
/// no loss, no delay, 1024 frames of queue.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkFaults {
    /// Probability in `[0, 1]` that an accepted frame is lost.
    pub loss: f64,
    /// Probability in `[0, 1]` that a delivered frame is delivered twice.
    pub duplicate: f64,
    /// Probability in `[0, 1]` that a frame is held back behind later ones.
    pub reorder: f64,
    /// How many later frames overtake a held frame (at least 1 when `reorder`
    /// is above zero).
    pub reorder_gap: u32,
    /// Fixed one-way delay, in milliseconds of the `now` passed to the ports.
    pub delay_ms: u64,
    /// Most frames in flight (queued or held) in this direction; more are
    /// tail-dropped. At least 1.
    pub queue_capacity: usize,
}

impl Default for LinkFaults {
    fn default() -> Self {
        LinkFaults {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            reorder_gap: 3,
            delay_ms: 0,
            queue_capacity: 1024,
        }
    }
}

/// How to build a wire: the seed, what both ports can carry, and each
/// direction's faults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct WireConfig {
    /// Seed of both directions' fault generators.
    pub seed: u64,
    /// Capabilities reported by both ports; frames longer than `mtu` are dropped.
    pub capabilities: PortCapabilities,
    /// Faults on frames sent by port `a` to port `b`.
    pub a_to_b: LinkFaults,
    /// Faults on frames sent by port `b` to port `a`.
    pub b_to_a: LinkFaults,
}

impl WireConfig {
    /// A perfect Ethernet wire.
    pub fn clean(seed: u64) -> WireConfig {
        WireConfig::symmetric(seed, LinkFaults::default())
    }

    /// An Ethernet wire with the same faults both ways (each direction still has
    /// its own random sequence).
    pub fn symmetric(seed: u64, faults: LinkFaults) -> WireConfig {
        WireConfig {
            seed,
            capabilities: PortCapabilities::ETHERNET,
            a_to_b: faults,
            b_to_a: faults,
        }
    }

    /// Checks every field; [`MemoryWire::pair`] panics on what this rejects.
    pub fn validate(&self) -> Result<(), WireConfigError> {
        if self.capabilities.mtu == 0 {
            return Err(WireConfigError::ZeroMtu);
        }
        for (direction, f) in [("a_to_b", &self.a_to_b), ("b_to_a", &self.b_to_a)] {
            for (field, p) in [
                ("loss", f.loss),
                ("duplicate", f.duplicate),
                ("reorder", f.reorder),
            ] {
                if !(0.0..=1.0).contains(&p) {
                    return Err(WireConfigError::Probability {
                        direction,
                        field,
                        value: p,
                    });
                }
            }
            if f.reorder > 0.0 && f.reorder_gap == 0 {
                return Err(WireConfigError::ZeroReorderGap { direction });
            }
            if f.queue_capacity == 0 {
                return Err(WireConfigError::ZeroQueue { direction });
            }
        }
        Ok(())
    }
}

/// A [`WireConfig`] that cannot make a wire.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum WireConfigError {
    /// A probability outside `[0, 1]` (or NaN).
    Probability {
        /// `"a_to_b"` or `"b_to_a"`.
        direction: &'static str,
        /// `"loss"`, `"duplicate"` or `"reorder"`.
        field: &'static str,
        /// The value given.
        value: f64,
    },
    /// `reorder` above zero with `reorder_gap` zero.
    ZeroReorderGap {
        /// `"a_to_b"` or `"b_to_a"`.
        direction: &'static str,
    },
    /// `queue_capacity` zero.
    ZeroQueue {
        /// `"a_to_b"` or `"b_to_a"`.
        direction: &'static str,
    },
    /// `capabilities.mtu` zero.
    ZeroMtu,
}

impl fmt::Display for WireConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireConfigError::Probability {
                direction,
                field,
                value,
            } => write!(
                f,
                "wire {direction}.{field} = {value}: a probability must be within [0, 1]"
            ),
            WireConfigError::ZeroReorderGap { direction } => write!(
                f,
                "wire {direction}.reorder_gap = 0 with reorder > 0: a held frame needs at least one frame to overtake it"
            ),
            WireConfigError::ZeroQueue { direction } => {
                write!(f, "wire {direction}.queue_capacity = 0: no frame could ever be sent")
            }
            WireConfigError::ZeroMtu => write!(f, "wire capabilities.mtu = 0"),
        }
    }
}

impl std::error::Error for WireConfigError {}

/// Monotonic totals of what one direction of a wire did to its frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Frames accepted from the sending port (its `tx_frames`).
    pub accepted: u64,
    /// Accepted frames lost in flight.
    pub lost: u64,
    /// Copies added behind an accepted frame.
    pub duplicated: u64,
    /// Frames held back behind later ones.
    pub reordered: u64,
    /// Frames tail-dropped because the queue was full.
    pub queue_dropped: u64,
    /// Frames dropped for being longer than the MTU.
    pub oversize: u64,
    /// Frames the receiving port consumed (its `rx_frames`).
    pub delivered: u64,
}

/// The in-memory wire; see the [module documentation](self).
pub struct MemoryWire;

impl MemoryWire {
    /// Two ports joined by a wire: what `a` sends, `b` receives, through
    /// `config.a_to_b`, and the other way through `config.b_to_a`.
    ///
    /// # Panics
    ///
    /// If `config` fails [`WireConfig::validate`].
    pub fn pair(config: WireConfig) -> (MemoryPort, MemoryPort) {
        if let Err(e) = config.validate() {
            panic!("MemoryWire::pair: {e}");
        }
        let caps = config.capabilities;
        // Distinct, fixed stream per direction, derived from the one seed.
        let a_to_b = Rc::new(RefCell::new(Link::new(
            config.a_to_b,
            caps.mtu,
            config.seed ^ 0xA2B0_A2B0_A2B0_A2B0,
        )));
        let b_to_a = Rc::new(RefCell::new(Link::new(
            config.b_to_a,
            caps.mtu,
            config.seed ^ 0xB2A0_B2A0_B2A0_B2A0,
        )));
        let a = MemoryPort {
            inbound: Rc::clone(&b_to_a),
            outbound: Rc::clone(&a_to_b),
            caps,
        };
        let b = MemoryPort {
            inbound: a_to_b,
            outbound: b_to_a,
            caps,
        };
        (a, b)
    }
}

/// One end of a [`MemoryWire`].
pub struct MemoryPort {
    /// Frames coming to this port (the peer's outbound).
    inbound: Rc<RefCell<Link>>,
    /// Frames this port sends (the peer's inbound).
    outbound: Rc<RefCell<Link>>,
    caps: PortCapabilities,
}

impl MemoryPort {
    /// What the wire did to frames this port sent.
    pub fn outbound_counters(&self) -> LinkCounters {
        self.outbound.borrow().counters
    }

    /// What the wire did to frames sent to this port.
    pub fn inbound_counters(&self) -> LinkCounters {
        self.inbound.borrow().counters
    }

    /// When the next frame for this port becomes receivable, if one is queued
    /// (held frames have no time until later frames release them). A simulated
    /// clock can jump straight there.
    pub fn next_arrival(&self) -> Option<Instant> {
        self.inbound.borrow().queue.front().map(|f| f.ready_at)
    }

    /// Frames in flight towards this port: queued plus held.
    pub fn inbound_in_flight(&self) -> usize {
        self.inbound.borrow().in_flight()
    }
}

impl fmt::Debug for MemoryPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryPort")
            .field("caps", &self.caps)
            .field("counters", &self.counters())
            .field("inbound_in_flight", &self.inbound_in_flight())
            .finish()
    }
}

impl Port for MemoryPort {
    type RxToken<'a> = MemoryRxToken<'a>;
    type TxToken<'a> = MemoryTxToken<'a>;

    fn receive(&mut self, now: Instant) -> Option<(MemoryRxToken<'_>, MemoryTxToken<'_>)> {
        if !self.inbound.borrow().ready(now) {
            return None;
        }
        Some((
            MemoryRxToken {
                link: &self.inbound,
            },
            MemoryTxToken {
                link: &self.outbound,
                now,
            },
        ))
    }

    fn transmit(&mut self, now: Instant) -> Option<MemoryTxToken<'_>> {
        // Tail drop, not back-pressure: a token is always available.
        Some(MemoryTxToken {
            link: &self.outbound,
            now,
        })
    }

    fn capabilities(&self) -> PortCapabilities {
        self.caps
    }

    fn counters(&self) -> PortCounters {
        let rx = self.inbound.borrow();
        let tx = self.outbound.borrow();
        PortCounters {
            rx_frames: rx.counters.delivered,
            rx_bytes: rx.delivered_bytes,
            rx_dropped: 0,
            tx_frames: tx.counters.accepted,
            tx_bytes: tx.accepted_bytes,
            tx_dropped: tx.counters.queue_dropped + tx.counters.oversize,
        }
    }
}

/// Receive token of a [`MemoryPort`]: the frame leaves the wire only when this
/// is consumed.
pub struct MemoryRxToken<'a> {
    link: &'a RefCell<Link>,
}

impl RxToken for MemoryRxToken<'_> {
    fn consume<R, F>(self, f: F) -> R
    where
        F: FnOnce(&[u8]) -> R,
    {
        // The token was issued for a ready frame and borrows the port mutably, so
        // nothing else has taken it since; the peer only appends.
        let frame = self
            .link
            .borrow_mut()
            .queue
            .pop_front()
            .expect("MemoryRxToken: its frame was taken by someone else");
        let r = f(&frame.data);
        let mut link = self.link.borrow_mut();
        link.counters.delivered += 1;
        link.delivered_bytes += frame.data.len() as u64;
        link.recycle(frame.data);
        r
    }
}

/// Transmit token of a [`MemoryPort`].
pub struct MemoryTxToken<'a> {
    link: &'a RefCell<Link>,
    now: Instant,
}

impl TxToken for MemoryTxToken<'_> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let mut buf = self.link.borrow_mut().buffer(len);
        // No borrow held while the stack writes the frame.
        let r = f(&mut buf);
        self.link.borrow_mut().send(buf, self.now);
        r
    }
}

/// A frame in the queue.
struct InFlight {
    ready_at: Instant,
    data: Vec<u8>,
}

/// A frame held back for reordering.
struct Held {
    /// Frames still to enter the queue before this one is released.
    remaining: u32,
    frame: InFlight,
}

/// One direction of a wire.
struct Link {
    faults: LinkFaults,
    mtu: usize,
    rng: SplitMix64,
    /// Receivable in order; `ready_at` never decreases from front to back.
    queue: VecDeque<InFlight>,
    /// Held frames, oldest first.
    held: Vec<Held>,
    /// Spare frame buffers (bounded by `queue_capacity`).
    free: Vec<Vec<u8>>,
    counters: LinkCounters,
    accepted_bytes: u64,
    delivered_bytes: u64,
}

impl Link {
    fn new(faults: LinkFaults, mtu: usize, seed: u64) -> Link {
        Link {
            faults,
            mtu,
            rng: SplitMix64(seed),
            queue: VecDeque::new(),
            held: Vec::new(),
            free: Vec::new(),
            counters: LinkCounters::default(),
            accepted_bytes: 0,
            delivered_bytes: 0,
        }
    }

    fn in_flight(&self) -> usize {
        self.queue.len() + self.held.len()
    }

    fn ready(&self, now: Instant) -> bool {
        self.queue.front().is_some_and(|f| f.ready_at <= now)
    }

    /// A buffer of exactly `len` bytes, from the pool when it has one.
    fn buffer(&mut self, len: usize) -> Vec<u8> {
        let mut buf = self.free.pop().unwrap_or_default();
        buf.clear();
        buf.resize(len, 0);
        buf
    }

    fn recycle(&mut self, buf: Vec<u8>) {
        if self.free.len() < self.faults.queue_capacity {
            self.free.push(buf);
        }
    }

    /// Steps 1–8 of the module documentation.
    fn send(&mut self, data: Vec<u8>, now: Instant) {
        let lose = self.rng.chance(self.faults.loss);
        let duplicate = self.rng.chance(self.faults.duplicate);
        let hold = self.rng.chance(self.faults.reorder);

        if data.len() > self.mtu {
            self.counters.oversize += 1;
            return self.recycle(data);
        }
        if self.in_flight() >= self.faults.queue_capacity {
            self.counters.queue_dropped += 1;
            return self.recycle(data);
        }
        self.counters.accepted += 1;
        self.accepted_bytes += data.len() as u64;
        if lose {
            self.counters.lost += 1;
            return self.recycle(data);
        }

        let ready_at = now.add_millis(self.faults.delay_ms);
        let copy = if duplicate && self.in_flight() + 1 < self.faults.queue_capacity {
            let mut copy = self.buffer(0);
            copy.extend_from_slice(&data);
            Some(copy)
        } else {
            None
        };

        let frame = InFlight { ready_at, data };
        if hold {
            self.counters.reordered += 1;
            self.held.push(Held {
                remaining: self.faults.reorder_gap,
                frame,
            });
        } else {
            self.enqueue(frame);
        }
        if let Some(data) = copy {
            self.counters.duplicated += 1;
            self.enqueue(InFlight { ready_at, data });
        }
    }

    /// Appends a frame and releases, right behind it, the held frames it was the
    /// last one to overtake.
    fn enqueue(&mut self, frame: InFlight) {
        self.push_monotonic(frame);
        let mut i = 0;
        while i < self.held.len() {
            self.held[i].remaining -= 1;
            if self.held[i].remaining == 0 {
                let released = self.held.remove(i).frame;
                self.push_monotonic(released);
            } else {
                i += 1;
            }
        }
    }

    /// Keeps `ready_at` non-decreasing along the queue, so FIFO order holds even
    /// if a caller's `now` steps back or a held frame is older than its peers.
    fn push_monotonic(&mut self, mut frame: InFlight) {
        if let Some(back) = self.queue.back() {
            frame.ready_at = frame.ready_at.max(back.ready_at);
        }
        self.queue.push_back(frame);
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fully specified, so a
/// seed means the same fault pattern everywhere.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// True with probability `p` (`p` in `[0, 1]`): 0 never, 1 always.
    fn chance(&mut self, p: f64) -> bool {
        // 53 random bits as a float in [0, 1), exact on every platform.
        let x = (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        x < p
    }
}

#[cfg(test)]
mod tests;
