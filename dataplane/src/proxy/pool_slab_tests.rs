//! Unit tests of the idle pool's slab storage: per-key lists and the LRU list stay
//! linked through interleaved keys, removals from the middle and many operations
//! (every invariant walked by `check`), ten thousand keys, and a seeded schedule
//! mirrored on the former `VecDeque` storage as the reference model.

use super::*;
use std::collections::{HashMap, HashSet, VecDeque};

/// Walks the slab and checks every invariant of [`ServerPool`]'s storage.
fn check<C>(p: &ServerPool<C>) {
    let cap = p.slots.len();
    // The LRU list: every occupied slot once, links consistent both ways.
    let mut pos = vec![usize::MAX; cap];
    let (mut i, mut prev, mut n, mut safe) = (p.lru.head, NIL, 0, 0);
    while i != NIL {
        let node = p.slots[i as usize].as_ref().expect("LRU slot occupied");
        assert_eq!(node.prev, prev, "prev link of slot {i}");
        assert_eq!(
            pos[i as usize],
            usize::MAX,
            "slot {i} twice on the LRU list"
        );
        pos[i as usize] = n;
        if node.entry.state == ConnState::Safe {
            safe += 1;
        }
        (prev, i) = (i, node.next);
        n += 1;
        assert!(n <= cap, "LRU list loops");
    }
    assert_eq!(p.lru.tail, prev);
    assert_eq!(n, p.len);
    assert_eq!(safe, p.safe);
    assert_eq!(p.slots.iter().filter(|s| s.is_some()).count(), p.len);
    assert_eq!(p.free.len() + p.len, cap, "every empty slot is free");
    let free: HashSet<_> = p.free.iter().collect();
    assert_eq!(free.len(), p.free.len(), "a slot freed twice");
    assert!(p.free.iter().all(|&f| p.slots[f as usize].is_none()));
    if p.len == 0 {
        assert_eq!(
            (cap, p.heads.len()),
            (0, 0),
            "an empty pool drops its slabs"
        );
        assert_eq!(p.lru, EMPTY);
    }
    // The key heads: one per key present, each named by the map.
    let live: Vec<(u32, &KeyHead)> = (0..p.heads.len() as u32)
        .filter_map(|h| p.heads[h as usize].as_ref().map(|kh| (h, kh)))
        .collect();
    assert_eq!(live.len(), p.by_key.len());
    assert_eq!(live.len() + p.free_heads.len(), p.heads.len());
    assert!(p.free_heads.iter().all(|&f| p.heads[f as usize].is_none()));
    if let Some((key, h)) = p.memo {
        assert_eq!(p.by_key.get(&key), Some(&h), "memo names a live head");
    }
    // The key lists: each entry on the list of its key and state, in LRU order.
    let mut on_keys = 0;
    for (h, kh) in live {
        assert!(
            kh.lists.iter().any(|l| l.head != NIL),
            "empty head {h} kept"
        );
        let first = kh.lists.iter().find(|l| l.head != NIL).unwrap().head;
        let key = p.slots[first as usize].as_ref().unwrap().entry.key;
        assert_eq!(p.by_key.get(&key), Some(&h), "map names head {h}");
        for (c, l) in kh.lists.iter().enumerate() {
            let (mut i, mut prev, mut last_pos) = (l.head, NIL, None);
            while i != NIL {
                let node = p.slots[i as usize].as_ref().expect("key slot occupied");
                assert_eq!(node.kprev, prev, "kprev link of slot {i}");
                assert_eq!((node.entry.key, node.head), (key, h));
                assert_eq!(class(node.entry.state), Some(c));
                let at = pos[i as usize];
                assert!(at != usize::MAX, "slot {i} on a key list only");
                assert!(last_pos.is_none_or(|p| p < at), "key list out of LRU order");
                last_pos = Some(at);
                (prev, i) = (i, node.knext);
                on_keys += 1;
                assert!(on_keys <= cap, "key list loops");
            }
            assert_eq!(l.tail, prev);
        }
    }
    assert_eq!(on_keys, p.len, "every entry on exactly one key list");
}

/// A seeded xorshift64 generator: `rnd(n)` is in `0..n`.
fn xorshift(mut x: u64) -> impl FnMut(u64) -> u64 {
    move |n| {
        x = x ^ (x << 13);
        x = x ^ (x >> 7);
        x = x ^ (x << 17);
        x % n
    }
}

/// A rig whose connections carry a key chosen per connection.
fn put_keyed(r: &mut Rig, key: ConnKey, requests: u32, now: u64) -> (u32, PutOutcome) {
    let (c, u) = r.open();
    let id = c.id;
    let out = r.pool.put(
        Release {
            conn: c,
            key,
            state: ConnState::h1_after(requests),
            requests,
            in_use: u,
        },
        now,
    );
    (id, out)
}

fn roomy() -> PoolLimits {
    PoolLimits {
        low_idle: 100_000,
        ..Default::default()
    }
}

#[test]
fn interleaved_keys_take_their_own_most_recent() {
    let mut r = Rig::new(roomy());
    let keys = [ConnKey(1), ConnKey(2), ConnKey(3)];
    // ids 1..=9: key 1, 2, 3, 1, 2, 3, ...
    for i in 0..9 {
        put_keyed(&mut r, keys[i % 3], 2, i as u64);
    }
    check(&r.pool);
    assert_eq!(r.pool.by_key.len(), 3);
    let take = |r: &mut Rig, k| r.pool.take(k, LATER, |_| false).map(|t| t.conn.id);
    assert_eq!(take(&mut r, keys[1]), Some(8));
    assert_eq!(take(&mut r, keys[0]), Some(7));
    assert_eq!(take(&mut r, keys[1]), Some(5));
    assert_eq!(take(&mut r, keys[1]), Some(2));
    assert_eq!(take(&mut r, keys[1]), None);
    check(&r.pool);
    assert_eq!(r.pool.by_key.len(), 2, "an emptied key leaves the map");
    assert_eq!(r.ids(), vec![1, 3, 4, 6, 9]);
    // Idle and safe entries of one key are separate lists: the reuse table decides.
    put_keyed(&mut r, keys[2], 1, 10); // id 10, idle
    assert_eq!(
        r.pool
            .take(keys[2], &[ConnState::Safe, ConnState::Idle], |_| false)
            .map(|t| t.conn.id),
        Some(9)
    );
    assert_eq!(
        take(&mut r, keys[2]),
        Some(10),
        "later requests try idle first"
    );
    assert_eq!(take(&mut r, keys[2]), Some(6));
    check(&r.pool);
    // The LRU order across keys is untouched by takes of other entries.
    assert_eq!(r.ids(), vec![1, 3, 4]);
    r.pool.clear();
    check(&r.pool);
    assert!(r.pool.by_key.is_empty());
    assert_eq!(*r.closed.borrow(), vec![8, 7, 5, 2, 9, 10, 6, 1, 3, 4]);
}

#[test]
fn removal_from_the_middle_keeps_both_lists_linked() {
    let mut r = Rig::new(roomy());
    let mut dead = HashMap::new();
    for i in 0..12 {
        let (c, u) = r.open();
        dead.insert(c.id, c.dead.clone());
        let key = ConnKey(i % 2);
        r.pool.put(
            Release {
                conn: c,
                key,
                state: ConnState::Safe,
                requests: 2,
                in_use: u,
            },
            i,
        );
    }
    // Middle entries of both keys die; the sweep unlinks them where they are.
    for id in [3, 4, 7, 10] {
        dead[&id].set(true);
    }
    assert_eq!(r.pool.sweep(|c| c.dead.get()), 4);
    check(&r.pool);
    assert_eq!(r.ids(), vec![1, 2, 5, 6, 8, 9, 11, 12]);
    // A take meets dead entries at the tail of its key list and kills them.
    dead[&12].set(true);
    dead[&8].set(true);
    let t = r.pool.take(ConnKey(1), LATER, |c| c.dead.get()).unwrap();
    assert_eq!(t.conn.id, 6, "12 and 8 (key 1) were dead");
    check(&r.pool);
    assert_eq!(r.ids(), vec![1, 2, 5, 9, 11]);
    assert_eq!(r.pool.snapshot().closed_by_server, 6);
    // Slots freed in the middle are reused, and the new entries go to the tail.
    let before = r.pool.slots.len();
    for i in 0..3 {
        put_keyed(&mut r, ConnKey(1), 2, 100 + i);
    }
    check(&r.pool);
    assert_eq!(r.pool.slots.len(), before, "freed slots reused");
    assert_eq!(r.ids(), vec![1, 2, 5, 9, 11, 13, 14, 15]);
    assert_eq!(r.pool.oldest_idle_ms(1000), Some(1000));
    drop(t);
}

#[test]
fn lru_order_across_keys_survives_many_operations() {
    let mut r = Rig::new(roomy());
    let mut rnd = xorshift(0x1234_5678_9ABC_DEF1);
    // The expected LRU order: ids in the order they were (re)inserted.
    let mut expect: Vec<(u32, ConnKey)> = Vec::new();
    for step in 0..5000u64 {
        let key = ConnKey(rnd(7));
        if rnd(3) == 0 {
            let got = r.pool.take(key, LATER, |_| false);
            let want = expect.iter().rposition(|&(_, k)| k == key);
            assert_eq!(got.as_ref().map(|t| t.conn.id), want.map(|w| expect[w].0));
            if let (Some(t), Some(w)) = (got, want) {
                expect.remove(w);
                // Put it back at once: it becomes the most recent overall.
                let u = r.pool.begin_use();
                let id = t.conn.id;
                let out = r.pool.put(
                    Release {
                        conn: t.conn,
                        key,
                        state: ConnState::Safe,
                        requests: 3,
                        in_use: u,
                    },
                    step,
                );
                assert_eq!(out, PutOutcome::Kept);
                expect.push((id, key));
            }
        } else if rnd(4) == 0 && !expect.is_empty() {
            // The least recently used goes, whatever its key.
            assert_eq!(r.pool.pop_front().map(|e| e.conn.id), Some(expect[0].0));
            expect.remove(0);
        } else {
            let (id, out) = put_keyed(&mut r, key, 2, step);
            assert_eq!(out, PutOutcome::Kept);
            expect.push((id, key));
        }
        if step % 97 == 0 {
            check(&r.pool);
        }
        assert_eq!(r.pool.len(), expect.len());
    }
    check(&r.pool);
    let ids: Vec<u32> = expect.iter().map(|e| e.0).collect();
    assert_eq!(r.ids(), ids);
}

#[test]
fn ten_thousand_distinct_keys() {
    let mut r = Rig::new(roomy());
    for i in 0..10_000u64 {
        put_keyed(&mut r, ConnKey::new(i as usize, 0, None, None), 2, i);
    }
    check(&r.pool);
    assert_eq!(r.pool.by_key.len(), 10_000);
    // Every key finds its own connection, in any order.
    for i in (0..10_000u64).rev().step_by(3) {
        let t = r
            .pool
            .take(ConnKey::new(i as usize, 0, None, None), LATER, |_| false);
        assert_eq!(t.map(|t| t.conn.id), Some(i as u32 + 1));
    }
    check(&r.pool);
    assert_eq!(r.pool.len(), 10_000 - 3334);
    r.pool.clear();
    check(&r.pool);
    assert!(r.pool.slots.is_empty() && r.pool.by_key.is_empty());
}

/// The storage before the slab, as the reference model: entries in a `VecDeque` in
/// last-use order; reuse scans from the tail for the first entry of the key and
/// state, killing dead ones met on the way; kills from the head. The decisions
/// (admission, room, purge plan) are the pool's, unchanged: the model is told what
/// the pool decided and answers which connections that takes or closes.
#[derive(Default)]
struct Model {
    /// Head = least recently used.
    list: VecDeque<ModelEntry>,
    /// Ids in the order they closed (kills, refusals, aborts).
    closed: Vec<u32>,
}

struct ModelEntry {
    id: u32,
    key: ConnKey,
    state: ConnState,
    since: u64,
    dead: Rc<Cell<bool>>,
}

impl Model {
    fn take(&mut self, key: ConnKey, order: &[ConnState]) -> Option<u32> {
        for want in order {
            let mut i = self.list.len();
            while i > 0 {
                i -= 1;
                let e = &self.list[i];
                if e.key != key || e.state != *want {
                    continue;
                }
                let (id, dead) = (e.id, e.dead.get());
                self.list.remove(i);
                if !dead {
                    return Some(id);
                }
                self.closed.push(id);
            }
        }
        None
    }

    fn kill_head(&mut self, n: usize) {
        for _ in 0..n.min(self.list.len()) {
            let e = self.list.pop_front().unwrap();
            self.closed.push(e.id);
        }
    }

    fn sweep(&mut self) -> usize {
        let before = self.list.len();
        let closed = &mut self.closed;
        self.list.retain(|e| {
            if e.dead.get() {
                closed.push(e.id);
            }
            !e.dead.get()
        });
        before - self.list.len()
    }

    fn order(&self) -> Vec<(u32, ConnState)> {
        self.list.iter().map(|e| (e.id, e.state)).collect()
    }
}

/// A seeded random schedule of opens, takes (every reuse-table order, several keys),
/// releases in every state, client aborts, server-side closes, sweeps, purges and
/// clears, run on the pool and mirrored on the `VecDeque` model: every connection
/// taken, the order of the entries, the idle/safe figures and the order in which
/// connections close match after every step, and the slab's invariants hold.
#[test]
fn randomized_against_the_vecdeque_model() {
    let orders: [&[ConnState]; 6] = [
        LATER,
        &[ConnState::Safe, ConnState::Idle],
        &[ConnState::Safe],
        &[ConnState::Idle],
        &[ConnState::Available, ConnState::Safe],
        &[],
    ];
    // Summed over the seeds, to show the schedule reaches every path.
    let (mut reused, mut totals) = (0u64, PoolSnapshot::default());
    for seed in 1..=24u64 {
        let mut rnd = xorshift(seed.wrapping_mul(0xD134_2543_DE82_EF95) | 1);
        // Mostly pooling limits; now and then pooling off (delay 0, max 0).
        let mut r = Rig::new(PoolLimits {
            purge_delay_ms: [0, 40, 200, 1000][(rnd(10) as usize).min(3)],
            max_idle: [Some(0), None, Some(3), Some(16), Some(64)][(rnd(12) as usize).min(4)],
            low_idle: rnd(6) as u32,
            max_reuse: [None, Some(2), Some(6)][rnd(3) as usize],
        });
        let nkeys = 1 + rnd(6);
        let mut m = Model::default();
        let mut dead_flags: Vec<Rc<Cell<bool>>> = Vec::new();
        // (connection, token, key, requests served)
        let mut busy: Vec<(Fake, InUse, ConnKey, u32)> = Vec::new();
        let mut now = 0u64;
        for step in 0..3000 {
            now += rnd(15);
            let key = ConnKey(rnd(nkeys) * 0x1000_0001);
            match rnd(20) {
                0..=4 => {
                    let order = orders[rnd(orders.len() as u64) as usize];
                    let got = r.pool.take(key, order, |c| c.dead.get());
                    let id = got.as_ref().map(|t| t.conn.id);
                    assert_eq!(id, m.take(key, order), "take (seed {seed}, step {step})");
                    if let Some(t) = got {
                        assert_eq!(t.key, key);
                        assert!(order.contains(&t.state));
                        reused += 1;
                        busy.push((t.conn, r.pool.begin_use(), key, t.requests));
                    }
                }
                5..=7 => {
                    let (c, u) = r.open();
                    dead_flags.push(c.dead.clone());
                    busy.push((c, u, key, 0));
                }
                8..=11 if !busy.is_empty() => {
                    let (c, u, k, n) = busy.swap_remove(rnd(busy.len() as u64) as usize);
                    let state = match rnd(10) {
                        0 => ConnState::Available,
                        1 => ConnState::Safe,
                        _ => ConnState::h1_after(n + 1),
                    };
                    let (id, dead) = (c.id, c.dead.clone());
                    let purged = r.pool.snapshot().purged;
                    let rel = Release {
                        conn: c,
                        key: k,
                        state,
                        requests: n + 1,
                        in_use: u,
                    };
                    if r.pool.put(rel, now) == PutOutcome::Kept {
                        m.kill_head((r.pool.snapshot().purged - purged) as usize);
                        m.list.push_back(ModelEntry {
                            id,
                            key: k,
                            state,
                            since: now,
                            dead,
                        });
                    } else {
                        m.closed.push(id);
                    }
                }
                12 if !busy.is_empty() => {
                    // Client abort: the connection closes.
                    let b = busy.swap_remove(rnd(busy.len() as u64) as usize);
                    m.closed.push(b.0.id);
                }
                13 | 14 if !dead_flags.is_empty() => {
                    // Among the recent connections, most likely still open.
                    let n = dead_flags.len();
                    dead_flags[n - 1 - rnd(n.min(24) as u64) as usize].set(true);
                }
                15 => {
                    assert_eq!(r.pool.sweep(|c| c.dead.get()), m.sweep(), "sweep");
                }
                16 if rnd(10) == 0 => {
                    r.pool.clear();
                    m.kill_head(usize::MAX);
                }
                _ => {
                    if let Some(plan) = r.pool.purge(now) {
                        m.kill_head(plan.kill as usize);
                    }
                }
            }
            check(&r.pool);
            let order: Vec<_> = r.pool.order().map(|(c, s)| (c.id, s)).collect();
            assert_eq!(order, m.order(), "order (seed {seed}, step {step})");
            let s = r.pool.snapshot();
            let safe = m.list.iter().filter(|e| e.state == ConnState::Safe).count();
            assert_eq!(
                (s.idle + s.safe, s.safe),
                (m.list.len() as u32, safe as u32)
            );
            let oldest = m.list.front().map(|e| now - e.since);
            assert_eq!(r.pool.oldest_idle_ms(now), oldest);
            assert_eq!(
                *r.closed.borrow(),
                m.closed,
                "closes (seed {seed}, step {step})"
            );
        }
        let s = r.pool.snapshot();
        totals.purged += s.purged;
        totals.closed_by_server += s.closed_by_server;
        totals.refused += s.refused;
        drop(busy);
        r.pool.clear();
        assert_eq!(r.closed.borrow().len(), r.next as usize, "each closed once");
    }
    assert!(reused > 2000, "{reused}");
    assert!(
        totals.purged > 500 && totals.closed_by_server > 500 && totals.refused > 500,
        "{totals:?}"
    );
}
