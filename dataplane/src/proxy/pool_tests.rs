//! Unit tests of the idle pool: ordering, the reuse table, entry rules, the purge
//! arithmetic over a scripted timeline, and a seeded schedule of takes, puts,
//! server-side closes and purges. The slab storage's own tests (key lists, LRU links,
//! the reference model) are in `pool_slab_tests.rs`, sharing the `Rig` defined here.

use super::*;
use std::cell::RefCell;
use std::collections::HashSet;

#[path = "pool_slab_tests.rs"]
mod slab;

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
