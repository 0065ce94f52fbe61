//! The per-core hierarchical timer wheel (millisecond resolution).
//!
//! Owns: every pending timer of one worker — client, server, http-request, keep-alive,
//! queue and check timeouts. Most are cancelled before they fire, so arming and
//! cancelling are O(1): entries live in a slab and in intrusive doubly linked lists,
//! one list per wheel slot.
//!
//! Layout: 6 levels of 64 slots; level `l` slots are `64^l` ms wide, so the wheel spans
//! 2^36 ms (about two years). An entry sits at the level given by the highest 6-bit
//! group in which its deadline differs from the wheel's current time; when that slot
//! comes due its entries cascade to lower levels until they expire at level 0.
//!
//! Invariants:
//! - A [`TimerKey`] carries its slab entry's generation: cancelling or polling a key
//!   whose entry has been freed and reused is a no-op, never an action on another timer.
//! - An entry is in exactly one slot list while armed, in none once fired or cancelled.
//! - `expire(now)` fires every entry with `deadline <= now`, in any order within a ms.

use std::task::Waker;

const LEVELS: usize = 6;
const SLOTS: usize = 64;
const NIL: u32 = u32::MAX;

/// A handle to an armed (or fired) timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerKey {
    index: u32,
    generation: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    Armed { level: u8, slot: u8 },
    Fired,
}

struct Entry {
    deadline: u64,
    generation: u32,
    state: State,
    prev: u32,
    next: u32,
    waker: Option<Waker>,
}

/// The wheel. Time is in milliseconds from an arbitrary origin (the worker's clock).
pub struct TimerWheel {
    entries: Vec<Entry>,
    free: Vec<u32>,
    heads: [[u32; SLOTS]; LEVELS],
    occupied: [u64; LEVELS],
    elapsed: u64,
    armed: usize,
    fired_total: u64,
}

impl TimerWheel {
    pub fn new(now: u64) -> Self {
        TimerWheel {
            entries: Vec::new(),
            free: Vec::new(),
            heads: [[NIL; SLOTS]; LEVELS],
            occupied: [0; LEVELS],
            elapsed: now,
            armed: 0,
            fired_total: 0,
        }
    }

    /// Number of armed timers.
    pub fn armed(&self) -> usize {
        self.armed
    }

    /// Total timers fired since creation.
    pub fn fired_total(&self) -> u64 {
        self.fired_total
    }

    /// Arm a timer for `deadline`; a deadline already past fires at the next `expire`.
    pub fn arm(&mut self, deadline: u64, waker: Option<Waker>) -> TimerKey {
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.entries.push(Entry {
                    deadline: 0,
                    generation: 0,
                    state: State::Free,
                    prev: NIL,
                    next: NIL,
                    waker: None,
                });
                (self.entries.len() - 1) as u32
            }
        };
        let e = &mut self.entries[index as usize];
        e.deadline = deadline;
        e.waker = waker;
        let key = TimerKey {
            index,
            generation: e.generation,
        };
        self.link(index);
        self.armed += 1;
        key
    }

    /// Replace the waker of an armed timer (a task polled with a new waker).
    pub fn set_waker(&mut self, key: TimerKey, waker: &Waker) {
        if let Some(e) = self.entry_mut(key) {
            match &e.waker {
                Some(w) if w.will_wake(waker) => {}
                _ => e.waker = Some(waker.clone()),
            }
        }
    }

    /// Whether the timer has fired (false for a stale key).
    pub fn is_fired(&self, key: TimerKey) -> bool {
        self.entry(key).is_some_and(|e| e.state == State::Fired)
    }

    /// The deadline of a live key.
    pub fn deadline(&self, key: TimerKey) -> Option<u64> {
        self.entry(key).map(|e| e.deadline)
    }

    /// Disarm and free the timer. O(1). A stale key is ignored.
    pub fn cancel(&mut self, key: TimerKey) {
        let Some(e) = self.entry(key) else { return };
        if let State::Armed { .. } = e.state {
            self.unlink(key.index);
            self.armed -= 1;
        }
        let e = &mut self.entries[key.index as usize];
        e.state = State::Free;
        e.waker = None;
        e.generation = e.generation.wrapping_add(1);
        self.free.push(key.index);
    }

    /// Move an armed or fired timer to a new deadline, keeping its key. O(1).
    pub fn rearm(&mut self, key: TimerKey, deadline: u64) -> bool {
        let Some(e) = self.entry(key) else {
            return false;
        };
        match e.state {
            State::Armed { level, slot } => {
                // Timeouts pushed back by a few ms mostly stay in their slot (a slot
                // at level l spans 64^l ms): then only the deadline changes.
                if self.place(deadline) == (level as usize, slot as usize) {
                    self.entries[key.index as usize].deadline = deadline;
                    return true;
                }
                self.unlink(key.index)
            }
            State::Fired => self.armed += 1,
            State::Free => return false,
        }
        self.entries[key.index as usize].deadline = deadline;
        self.link(key.index);
        true
    }

    /// The earliest time at which `expire` may have work (a lower bound for entries
    /// at higher levels, which cascade then). `None` when nothing is armed.
    pub fn next_expiration(&self) -> Option<u64> {
        for level in 0..LEVELS {
            if let Some(slot) = self.next_slot(level) {
                return Some(self.slot_time(level, slot));
            }
        }
        None
    }

    /// Fire every timer whose deadline is `<= now`; returns how many fired.
    pub fn expire(&mut self, now: u64) -> usize {
        let mut fired = 0;
        loop {
            let mut due = None;
            for level in 0..LEVELS {
                if let Some(slot) = self.next_slot(level) {
                    let t = self.slot_time(level, slot);
                    if t <= now {
                        due = Some((level, slot, t));
                    }
                    break;
                }
            }
            let Some((level, slot, t)) = due else {
                if now > self.elapsed {
                    self.elapsed = now;
                }
                return fired;
            };
            self.elapsed = self.elapsed.max(t);
            // Detach the whole slot list, then fire or cascade each entry.
            let mut i = self.heads[level][slot];
            self.heads[level][slot] = NIL;
            self.occupied[level] &= !(1u64 << slot);
            while i != NIL {
                let next = self.entries[i as usize].next;
                let e = &mut self.entries[i as usize];
                e.prev = NIL;
                e.next = NIL;
                if e.deadline <= now {
                    e.state = State::Fired;
                    if let Some(w) = e.waker.take() {
                        w.wake();
                    }
                    self.armed -= 1;
                    self.fired_total += 1;
                    fired += 1;
                } else {
                    self.link(i);
                }
                i = next;
            }
        }
    }

    fn entry(&self, key: TimerKey) -> Option<&Entry> {
        self.entries
            .get(key.index as usize)
            .filter(|e| e.generation == key.generation && e.state != State::Free)
    }

    fn entry_mut(&mut self, key: TimerKey) -> Option<&mut Entry> {
        self.entries
            .get_mut(key.index as usize)
            .filter(|e| e.generation == key.generation && e.state != State::Free)
    }

    fn level_for(&self, deadline: u64) -> usize {
        let masked = (deadline ^ self.elapsed) | (SLOTS as u64 - 1);
        let significant = 63 - masked.leading_zeros() as usize;
        (significant / 6).min(LEVELS - 1)
    }

    /// The (level, slot) an entry with this deadline is filed in now. A deadline in
    /// the past is due now: the current level-0 slot.
    fn place(&self, deadline: u64) -> (usize, usize) {
        let deadline = deadline.max(self.elapsed);
        let level = self.level_for(deadline);
        (level, ((deadline >> (6 * level)) as usize) & (SLOTS - 1))
    }

    fn link(&mut self, index: u32) {
        let (level, slot) = self.place(self.entries[index as usize].deadline);
        let head = self.heads[level][slot];
        {
            let e = &mut self.entries[index as usize];
            e.state = State::Armed {
                level: level as u8,
                slot: slot as u8,
            };
            e.prev = NIL;
            e.next = head;
        }
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        self.heads[level][slot] = index;
        self.occupied[level] |= 1u64 << slot;
    }

    fn unlink(&mut self, index: u32) {
        let (level, slot, prev, next) = match self.entries[index as usize] {
            Entry {
                state: State::Armed { level, slot },
                prev,
                next,
                ..
            } => (level as usize, slot as usize, prev, next),
            _ => return,
        };
        if prev != NIL {
            self.entries[prev as usize].next = next;
        } else {
            self.heads[level][slot] = next;
            if next == NIL {
                self.occupied[level] &= !(1u64 << slot);
            }
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        let e = &mut self.entries[index as usize];
        e.prev = NIL;
        e.next = NIL;
    }

    /// The first occupied slot at `level` at or after the current position.
    fn next_slot(&self, level: usize) -> Option<usize> {
        let occ = self.occupied[level];
        if occ == 0 {
            return None;
        }
        let now_slot = ((self.elapsed >> (6 * level)) as usize) & (SLOTS - 1);
        let rotated = occ.rotate_right(now_slot as u32);
        let zeros = rotated.trailing_zeros() as usize;
        Some((zeros + now_slot) % SLOTS)
    }

    /// When the given slot of `level` starts (not before the current time).
    fn slot_time(&self, level: usize, slot: usize) -> u64 {
        let width = 1u64 << (6 * level);
        let range = width << 6;
        let level_start = self.elapsed & !(range - 1);
        let mut t = level_start + slot as u64 * width;
        // Entries never sit behind the current position (their deadline shares the
        // higher bits with `elapsed`); a slot behind would belong to the next rotation.
        if t + width <= self.elapsed {
            t += range;
        }
        t.max(self.elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counter() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn fires_at_deadline_not_before() {
        let mut w = TimerWheel::new(1000);
        let (c, wk) = counter();
        let k = w.arm(1500, Some(wk));
        assert_eq!(w.expire(1499), 0);
        assert!(!w.is_fired(k));
        assert_eq!(w.expire(1500), 1);
        assert!(w.is_fired(k));
        assert_eq!(c.0.load(Ordering::SeqCst), 1);
        assert_eq!(w.armed(), 0);
    }

    #[test]
    fn cancel_is_final_and_stale_keys_are_ignored() {
        let mut w = TimerWheel::new(0);
        let k1 = w.arm(100, None);
        w.cancel(k1);
        let k2 = w.arm(200, None); // reuses the slab slot with a new generation
        w.cancel(k1); // stale: must not touch k2
        assert_eq!(w.armed(), 1);
        assert_eq!(w.expire(200), 1);
        assert!(w.is_fired(k2));
        assert!(!w.is_fired(k1));
    }

    #[test]
    fn far_deadlines_cascade_exactly() {
        // Deterministic pseudo-random deadlines over many levels; each fires exactly at
        // its deadline when the clock advances in irregular steps.
        let mut w = TimerWheel::new(7);
        let mut seed = 0x2545F4914F6CDD1Du64;
        let mut keys = Vec::new();
        for _ in 0..5000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let d = 7 + (seed % 20_000_000) / (1 + (seed >> 60));
            keys.push((w.arm(d, None), d));
        }
        let mut now = 7;
        while w.armed() > 0 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let step = 1 + seed % 70_000;
            let next = w.next_expiration().unwrap();
            assert!(next >= now);
            now += step;
            w.expire(now);
            for (k, d) in &keys {
                assert_eq!(w.is_fired(*k), *d <= now, "deadline {d} at now {now}");
            }
            if now > 30_000_000 {
                break;
            }
        }
        assert_eq!(w.armed(), 0);
    }

    #[test]
    fn next_expiration_is_a_lower_bound() {
        let mut w = TimerWheel::new(0);
        assert_eq!(w.next_expiration(), None);
        w.arm(10, None);
        assert_eq!(w.next_expiration(), Some(10));
        w.arm(5000, None);
        assert_eq!(w.next_expiration(), Some(10));
        w.expire(10);
        let n = w.next_expiration().unwrap();
        assert!(n <= 5000 && n > 10);
        w.expire(5000);
        assert_eq!(w.armed(), 0);
    }

    #[test]
    fn rearm_within_a_slot_fires_at_the_new_deadline() {
        // 30 s away sits at level 2 (4096 ms slots): pushing it back 5 ms or pulling
        // it in 5 ms keeps the slot; it must still fire exactly at the new deadline.
        let mut w = TimerWheel::new(0);
        let k = w.arm(30_000, None);
        assert!(w.rearm(k, 30_005));
        assert_eq!(w.expire(30_004), 0);
        assert_eq!(w.expire(30_005), 1);
        let k = w.arm(60_000, None);
        assert!(w.rearm(k, 59_995));
        assert_eq!(w.expire(59_994), 0);
        assert_eq!(w.expire(59_995), 1);
        assert_eq!(w.armed(), 0);
    }

    #[test]
    fn rearm_moves_a_timer() {
        let mut w = TimerWheel::new(0);
        let k = w.arm(100, None);
        assert!(w.rearm(k, 300));
        assert_eq!(w.expire(200), 0);
        assert_eq!(w.expire(300), 1);
        assert!(w.rearm(k, 400), "a fired timer can be re-armed");
        assert!(!w.is_fired(k));
        assert_eq!(w.expire(400), 1);
    }

    #[test]
    fn past_deadline_fires_on_next_expire() {
        let mut w = TimerWheel::new(1000);
        let k = w.arm(10, None);
        assert_eq!(w.expire(1000), 1);
        assert!(w.is_fired(k));
    }
}
