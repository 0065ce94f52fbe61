//! Unit tests of the idle pool: ordering, the reuse table, entry rules, the purge
//! arithmetic over a scripted timeline, and a seeded schedule of takes, puts,
//! server-side closes and purges.

use super::*;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet, VecDeque};

/// A fake connection: its id, and a shared log of closed ids (written on drop).
#[derive(Debug)]
struct Fake {
    id: u32,
    dead: Rc<Cell<bool>>,
    closed: Rc<RefCell<Vec<u32>>>,
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.closed.borrow_mut().push(self.id);
    }
}

struct Rig {
    pool: ServerPool<Fake>,
    closed: Rc<RefCell<Vec<u32>>>,
    next: u32,
}

const K: ConnKey = ConnKey(7);
const LATER: &[ConnState] = &[ConnState::Idle, ConnState::Safe];

impl Rig {
    fn new(limits: PoolLimits) -> Rig {
        Rig {
            pool: ServerPool::new(limits),
            closed: Rc::default(),
            next: 0,
        }
    }

    fn open(&mut self) -> (Fake, InUse) {
        self.next += 1;
        let f = Fake {
            id: self.next,
            dead: Rc::default(),
            closed: self.closed.clone(),
        };
        (f, self.pool.begin_use())
    }

    fn release(&mut self, conn: Fake, in_use: InUse, requests: u32, now: u64) -> PutOutcome {
        self.pool.put(
            Release {
                conn,
                key: K,
                state: ConnState::h1_after(requests),
                requests,
                in_use,
            },
            now,
        )
    }

    fn ids(&self) -> Vec<u32> {
        self.pool.order().map(|(c, _)| c.id).collect()
    }
}

#[test]
fn reuse_takes_most_recent_and_purge_closes_least_recent() {
    let mut r = Rig::new(PoolLimits {
        low_idle: 10,
        ..Default::default()
    });
    let conns: Vec<_> = (0..3).map(|_| r.open()).collect();
    for (i, (c, u)) in conns.into_iter().enumerate() {
        assert_eq!(r.release(c, u, 2, i as u64), PutOutcome::Kept);
    }
    assert_eq!(r.ids(), vec![1, 2, 3]);
    let t = r.pool.take(K, LATER, |_| false).unwrap();
    assert_eq!(t.conn.id, 3, "most recently used first");
    assert_eq!(t.state, ConnState::Safe);
    // Another key finds nothing.
    assert!(r.pool.take(ConnKey(8), LATER, |_| false).is_none());
    // Idle over purge intervals with nothing in use: once the need estimate has
    // decayed, half the excess goes each time, head first.
    let mut kills = vec![];
    for k in 1..=8 {
        kills.push(r.pool.purge(5000 * k).map_or(0, |p| p.kill));
    }
    assert_eq!(kills[0], 0, "the first interval still remembers 3 in use");
    assert_eq!(*r.closed.borrow(), vec![1, 2]);
    assert!(r.pool.is_empty());
    drop(t);
}

#[test]
fn reuse_table_orders_states() {
    let mut r = Rig::new(PoolLimits {
        low_idle: 10,
        ..Default::default()
    });
    let (a, ua) = r.open();
    let (b, ub) = r.open();
    r.release(a, ua, 2, 0); // safe, id 1
    r.release(b, ub, 1, 1); // idle, id 2 (more recent)
    let first_always = [ConnState::Safe, ConnState::Idle];
    assert_eq!(r.pool.take(K, &first_always, |_| false).unwrap().conn.id, 1);
    let (c, uc) = r.open();
    r.release(c, uc, 2, 2); // safe, id 3
                            // Later requests try idle first.
    assert_eq!(r.pool.take(K, LATER, |_| false).unwrap().conn.id, 2);
    // Aggressive first request: safe only.
    assert_eq!(
        r.pool
            .take(K, &[ConnState::Safe], |_| false)
            .unwrap()
            .conn
            .id,
        3
    );
    assert!(r.pool.take(K, &[ConnState::Safe], |_| false).is_none());
}

#[test]
fn entry_rules_follow_limits() {
    // pool-purge-delay 0 keeps nothing.
    let mut r = Rig::new(PoolLimits {
        purge_delay_ms: 0,
        ..Default::default()
    });
    let (c, u) = r.open();
    assert_eq!(r.release(c, u, 2, 0), PutOutcome::Refused);
    assert_eq!(r.pool.snapshot().used, 0, "the refused token was dropped");
    // pool-max-conn 2: the least recently used make room.
    let mut r = Rig::new(PoolLimits {
        max_idle: Some(2),
        low_idle: 100,
        ..Default::default()
    });
    let conns: Vec<_> = (0..4).map(|_| r.open()).collect();
    for (c, u) in conns {
        assert_eq!(r.release(c, u, 2, 0), PutOutcome::Kept);
    }
    assert_eq!(r.ids(), vec![3, 4]);
    assert_eq!(*r.closed.borrow(), vec![1, 2]);
    // pool-max-conn 0 keeps none.
    let mut r = Rig::new(PoolLimits {
        max_idle: Some(0),
        ..Default::default()
    });
    let (c, u) = r.open();
    assert_eq!(r.release(c, u, 2, 0), PutOutcome::Refused);
    // max-reuse 1: a connection that served 2 requests is not kept.
    let mut r = Rig::new(PoolLimits {
        max_reuse: Some(1),
        ..Default::default()
    });
    let (c, u) = r.open();
    assert_eq!(r.release(c, u, 2, 0), PutOutcome::Refused);
    let (c, u) = r.open();
    assert_eq!(r.release(c, u, 1, 0), PutOutcome::Kept);
    // Five in use at once raise the estimated need to five at once (HAProxy's
    // `srv_use_conn`), so a fresh pool keeps all five when they are released.
    let mut r = Rig::new(PoolLimits::default());
    let conns: Vec<_> = (0..5).map(|_| r.open()).collect();
    assert_eq!(r.pool.snapshot().used, 5);
    assert_eq!(r.pool.snapshot().est_need, 5);
    for (c, u) in conns {
        r.release(c, u, 2, 0);
    }
    assert_eq!(r.ids(), vec![1, 2, 3, 4, 5]);
    assert_eq!(r.pool.snapshot().used, 0);
    // Beyond the need (one more than was ever in use), the least recently used is
    // closed to make room.
    let (c, u) = r.open();
    r.release(c, u, 2, 0);
    let (c, u) = r.open();
    let (c2, u2) = r.open();
    r.release(c, u, 2, 0);
    r.release(c2, u2, 2, 0);
    assert!(r.ids().len() <= 6, "{:?}", r.ids());
}

#[test]
fn purge_arithmetic() {
    // exceed = 2 + 10 - max(8, 4) = 4 -> kill 2; est = max((4+8)/2, 8) = 8.
    assert_eq!(
        purge_plan(2, 10, 8, 4),
        PurgePlan {
            kill: 2,
            est_need: 8,
            max_used: 2
        }
    );
    // Odd excess rounds up: exceed 3 -> 2.
    assert_eq!(purge_plan(0, 3, 0, 0).kill, 2);
    // No excess.
    assert_eq!(purge_plan(5, 3, 8, 8).kill, 0);
    // Never more than the idle ones.
    assert_eq!(purge_plan(9, 1, 0, 0).kill, 1);
    // est_need decays by halves towards max_used.
    assert_eq!(purge_plan(0, 0, 0, 16).est_need, 8);
}

#[test]
fn burst_then_quiet_closes_lru_first_over_intervals_and_hot_survive() {
    let delay = 300;
    let mut r = Rig::new(PoolLimits {
        purge_delay_ms: delay,
        ..Default::default()
    });
    let mut now = 0;
    // Burst: 16 in use at once over three intervals, so est_need learns it.
    let mut busy: Vec<_> = (0..16).map(|_| r.open()).collect();
    for _ in 0..3 {
        now += delay;
        // Keep the timer armed as it would be with idle entries around.
        r.pool.next_purge_ms = Some(now);
        r.pool.purge(now);
    }
    assert_eq!(r.pool.snapshot().est_need, 16);
    for (c, u) in busy.drain(..) {
        assert_eq!(r.release(c, u, 2, now), PutOutcome::Kept);
    }
    assert_eq!(r.pool.len(), 16);
    // Quiet: one hot connection used now and then (taken from the tail, put back).
    let mut killed_per_interval = Vec::new();
    let mut hot = HashSet::new();
    for _ in 0..12 {
        for step in 0..3 {
            now += delay / 3;
            let t = r.pool.take(K, LATER, |_| false).unwrap();
            hot.insert(t.conn.id);
            let u = r.pool.begin_use();
            r.release(t.conn, u, t.requests + 1, now);
            if step == 2 {
                let before = r.closed.borrow().len();
                r.pool.purge(now);
                killed_per_interval.push(r.closed.borrow().len() - before);
            }
        }
    }
    let closed = r.closed.borrow().clone();
    // LRU first: ids close in insertion order (1, 2, 3, ...).
    let mut sorted = closed.clone();
    sorted.sort();
    assert_eq!(closed, sorted, "closed least recently used first");
    assert!(!closed.iter().any(|id| hot.contains(id)), "hot survive");
    assert_eq!(hot.len(), 1, "reuse concentrates on one connection");
    // Gradual: at least two intervals closed something, none closed everything.
    assert!(killed_per_interval.iter().filter(|&&k| k > 0).count() >= 2);
    assert!(killed_per_interval.iter().all(|&k| k < 16));
    assert!(r.pool.len() <= 2, "left: {:?}", r.ids());
}

#[test]
fn server_closed_idle_connections_are_swept_and_counted() {
    let mut r = Rig::new(PoolLimits {
        low_idle: 10,
        ..Default::default()
    });
    let mut flags = Vec::new();
    for i in 0..4 {
        let (c, u) = r.open();
        flags.push(c.dead.clone());
        r.release(c, u, 2, i);
    }
    flags[3].set(true);
    // take skips (and kills) the dead tail.
    let t = r.pool.take(K, LATER, |c| c.dead.get()).unwrap();
    assert_eq!(t.conn.id, 3);
    flags[0].set(true);
    assert_eq!(r.pool.sweep(|c| c.dead.get()), 1);
    assert_eq!(r.ids(), vec![2]);
    assert_eq!(r.pool.snapshot().closed_by_server, 2);
}

/// A seeded schedule of opens, takes, releases, server-side closes, sweeps and
/// purges: a closed connection is never in the pool or handed out, each
/// connection is closed at most once, and the used count matches the tokens.
#[test]
fn seeded_schedule_never_resurrects_a_killed_connection() {
    for seed in 1..=20u64 {
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut rnd = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut r = Rig::new(PoolLimits {
            purge_delay_ms: 50,
            max_idle: Some(8),
            low_idle: rnd(4) as u32,
            max_reuse: Some(5),
        });
        let mut busy: Vec<(Fake, InUse, u32)> = Vec::new();
        let mut now = 0u64;
        let mut pooled_dead: Vec<Rc<Cell<bool>>> = Vec::new();
        for _ in 0..2000 {
            now += rnd(20);
            match rnd(7) {
                0 | 1 => {
                    let got = r.pool.take(K, LATER, |c| c.dead.get());
                    match got {
                        Some(t) => {
                            let u = r.pool.begin_use();
                            busy.push((t.conn, u, t.requests));
                        }
                        None => {
                            let (c, u) = r.open();
                            busy.push((c, u, 0));
                        }
                    }
                }
                2 | 3 if !busy.is_empty() => {
                    let i = rnd(busy.len() as u64) as usize;
                    let (c, u, n) = busy.swap_remove(i);
                    if rnd(5) == 0 {
                        drop((c, u)); // client abort: the connection is closed
                    } else {
                        pooled_dead.push(c.dead.clone());
                        r.release(c, u, n + 1, now);
                    }
                }
                4 if !pooled_dead.is_empty() => {
                    let i = rnd(pooled_dead.len() as u64) as usize;
                    pooled_dead[i].set(true); // the server closes it
                }
                5 => {
                    r.pool.sweep(|c| c.dead.get());
                }
                _ => {
                    r.pool.purge(now);
                }
            }
            let closed = r.closed.borrow();
            let set: HashSet<_> = closed.iter().copied().collect();
            assert_eq!(set.len(), closed.len(), "closed twice (seed {seed})");
            for id in r.ids() {
                assert!(!set.contains(&id), "closed {id} in pool (seed {seed})");
            }
            for (c, _, _) in &busy {
                assert!(!set.contains(&c.id), "closed {} in use (seed {seed})", c.id);
            }
            drop(closed);
            assert_eq!(r.pool.snapshot().used as usize, busy.len());
            assert!(r.pool.len() <= 8);
            let s = r.pool.snapshot();
            assert_eq!((s.idle + s.safe) as usize, r.pool.len());
        }
    }
}

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
