//! The connection table's keys and clocks: 4-tuples, a fast hasher for them, and
//! the per-core timer wheel of smoltcp deadlines.
//!
//! Owns: [`Tuple`], [`TupleMap`] (O(1) demultiplexing: a frame finds its socket by
//! one hash lookup, whatever the number of connections), and [`Wheel`] (O(1) arm,
//! lazy cancel: an entry is acted on only if the connection still has exactly that
//! deadline, so re-arming never searches).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{Ipv4Addr, SocketAddrV4};

/// A TCP connection's identity as seen from this stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tuple {
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
}

impl Tuple {
    /// Builds a tuple from its four parts.
    pub fn new(local_ip: Ipv4Addr, local_port: u16, remote_ip: Ipv4Addr, remote_port: u16) -> Self {
        Tuple {
            local: SocketAddrV4::new(local_ip, local_port),
            remote: SocketAddrV4::new(remote_ip, remote_port),
        }
    }
}

/// A multiply-rotate hasher (FxHash's scheme): the keys are 12 bytes of
/// addresses and ports chosen by peers, and a table lookup per packet must cost
/// a few nanoseconds. Collisions cost time, never correctness.
#[derive(Default, Clone, Copy)]
pub struct FastHasher {
    hash: u64,
}

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FastHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.hash = (self.hash.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(w));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u16(&mut self, i: u16) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }
}

/// A hash map keyed with [`FastHasher`].
pub type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// Connections by 4-tuple.
pub type TupleMap<V> = FastMap<Tuple, V>;

/// One armed deadline: connection slot, its generation, and the millisecond.
#[derive(Clone, Copy, Debug)]
struct Entry {
    slot: u32,
    gen: u32,
    at_ms: i64,
}

const SLOTS: usize = 1024;

/// A hashed timer wheel of millisecond resolution (1024 buckets; a deadline
/// further away waits in its bucket for more turns).
///
/// Arming is a push. Cancelling is free: [`Wheel::expire`] hands back an entry
/// only if `still_armed(slot, gen, at_ms)` says the connection still wants it.
#[derive(Debug)]
pub struct Wheel {
    buckets: Vec<Vec<Entry>>,
    /// Every bucket up to (excluding) this millisecond has been expired.
    next_ms: i64,
    len: usize,
}

impl Wheel {
    /// An empty wheel whose clock starts at `now_ms`.
    pub fn new(now_ms: i64) -> Self {
        Wheel {
            buckets: (0..SLOTS).map(|_| Vec::new()).collect(),
            next_ms: now_ms,
            len: 0,
        }
    }

    /// Arms a deadline. A deadline in the past fires at the next `expire`.
    pub fn arm(&mut self, slot: u32, gen: u32, at_ms: i64) {
        let at_ms = at_ms.max(self.next_ms);
        self.buckets[(at_ms as usize) % SLOTS].push(Entry { slot, gen, at_ms });
        self.len += 1;
    }

    /// Entries armed and not yet expired (including cancelled ones not yet seen).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is armed.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `fire(slot, gen)` for every deadline up to `now_ms` that
    /// `still_armed` confirms; drops the others. Work is proportional to the
    /// entries looked at plus the milliseconds elapsed (at most one turn).
    pub fn expire(
        &mut self,
        now_ms: i64,
        mut still_armed: impl FnMut(u32, u32, i64) -> bool,
        mut fire: impl FnMut(u32, u32),
    ) {
        if now_ms < self.next_ms {
            return;
        }
        let span = (now_ms - self.next_ms + 1).min(SLOTS as i64);
        for i in 0..span {
            let b = ((self.next_ms + i) as usize) % SLOTS;
            if self.buckets[b].is_empty() {
                continue;
            }
            let mut bucket = std::mem::take(&mut self.buckets[b]);
            bucket.retain(|e| {
                if e.at_ms > now_ms {
                    return true;
                }
                self.len -= 1;
                if still_armed(e.slot, e.gen, e.at_ms) {
                    fire(e.slot, e.gen);
                }
                false
            });
            // `fire` may have armed new entries in this bucket meanwhile.
            bucket.append(&mut self.buckets[b]);
            self.buckets[b] = bucket;
        }
        self.next_ms = now_ms + 1;
    }

    /// The earliest millisecond at which something may fire, looking at most one
    /// turn ahead (`None` if nothing is armed). Cancelled entries count: the
    /// answer may be early, never late.
    pub fn next_deadline(&self) -> Option<i64> {
        if self.len == 0 {
            return None;
        }
        let mut best: Option<i64> = None;
        for i in 0..SLOTS as i64 {
            let b = ((self.next_ms + i) as usize) % SLOTS;
            for e in &self.buckets[b] {
                best = Some(best.map_or(e.at_ms, |x: i64| x.min(e.at_ms)));
            }
            if let Some(t) = best {
                if t <= self.next_ms + i {
                    return Some(t);
                }
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_hash_and_compare() {
        let mut m: TupleMap<u32> = TupleMap::default();
        let a = Tuple::new(
            Ipv4Addr::new(10, 0, 0, 1),
            80,
            Ipv4Addr::new(10, 0, 0, 2),
            40000,
        );
        let b = Tuple::new(
            Ipv4Addr::new(10, 0, 0, 1),
            80,
            Ipv4Addr::new(10, 0, 0, 2),
            40001,
        );
        m.insert(a, 1);
        m.insert(b, 2);
        assert_eq!(m.get(&a), Some(&1));
        assert_eq!(m.get(&b), Some(&2));
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn wheel_fires_in_time_and_skips_cancelled() {
        let mut w = Wheel::new(0);
        w.arm(1, 0, 5);
        w.arm(2, 0, 2000); // more than one turn away
        w.arm(3, 7, 5); // cancelled by the caller's generation check
        let mut fired = Vec::new();
        w.expire(4, |_, _, _| true, |s, _| fired.push(s));
        assert!(fired.is_empty());
        assert_eq!(w.next_deadline(), Some(5));
        w.expire(5, |_, g, _| g == 0, |s, _| fired.push(s));
        assert_eq!(fired, vec![1]);
        w.expire(1999, |_, _, _| true, |s, _| fired.push(s));
        assert_eq!(fired, vec![1]);
        assert_eq!(w.next_deadline(), Some(2000));
        w.expire(2500, |_, _, _| true, |s, _| fired.push(s));
        assert_eq!(fired, vec![1, 2]);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn past_deadlines_fire_next_turn() {
        let mut w = Wheel::new(100);
        w.arm(9, 1, 50);
        let mut fired = Vec::new();
        w.expire(100, |_, _, _| true, |s, g| fired.push((s, g)));
        assert_eq!(fired, vec![(9, 1)]);
    }
}
