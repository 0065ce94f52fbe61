//! Criterion benches of the idle pool's hot path: acquire + release (take a matching
//! idle connection, count it in use, put it back) with 10 and with 10,000 idle
//! entries, both over many distinct keys and over a single key. With distinct keys
//! the key asked for is always that of the least recently used entry (the worst
//! place for a scan from the tail); with one key it is the most recent one. The cost
//! must not grow with the number of idle entries.

use criterion::{black_box, BenchmarkId, Criterion};
use dataplane::proxy::pool::{ConnKey, ConnState, PoolLimits, PutOutcome, Release, ServerPool};

/// Later requests' reuse order (idle first, then safe).
const LATER: &[ConnState] = &[ConnState::Idle, ConnState::Safe];

/// A pool holding `n` safe idle connections (dummy `u64`s) under `keys` (cycled).
fn filled(n: usize, keys: &[ConnKey]) -> ServerPool<u64> {
    let mut pool = ServerPool::new(PoolLimits {
        // Room for every entry: no eviction on put.
        low_idle: 1_000_000,
        ..PoolLimits::default()
    });
    for i in 0..n {
        let in_use = pool.begin_use();
        let r = Release {
            conn: i as u64,
            key: keys[i % keys.len()],
            state: ConnState::Safe,
            requests: 2,
            in_use,
        };
        assert_eq!(pool.put(r, 0), PutOutcome::Kept);
    }
    assert_eq!(pool.len(), n);
    pool
}

/// Take a connection of `key` and release it again; panics if there is none.
fn acquire_release(pool: &mut ServerPool<u64>, key: ConnKey) -> PutOutcome {
    let t = pool
        .take(black_box(key), LATER, |_| false)
        .expect("an idle connection of that key");
    let in_use = pool.begin_use();
    pool.put(
        Release {
            conn: t.conn,
            key: t.key,
            state: ConnState::Safe,
            requests: t.requests,
            in_use,
        },
        0,
    )
}

fn acquire_release_bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("pool_acquire_release");
    for n in [10usize, 10_000] {
        // Every entry its own key (connection `i` has key `keys[i]`); the key asked
        // for is that of the least recently used entry, which then becomes the
        // most recent.
        let keys: Vec<ConnKey> = (0..n).map(|i| ConnKey::new(i, 0, None, None)).collect();
        let mut pool = filled(n, &keys);
        g.bench_with_input(BenchmarkId::new("distinct_keys", n), &n, |b, _| {
            b.iter(|| {
                let lru = *pool.order().next().expect("a full pool").0;
                acquire_release(&mut pool, keys[lru as usize])
            })
        });
        assert_eq!(pool.len(), n);
        // One key for all entries (one server, no SNI): the most recent is taken.
        let one = [ConnKey::new(0, 0, None, None)];
        let mut pool = filled(n, &one);
        g.bench_with_input(BenchmarkId::new("same_key", n), &n, |b, _| {
            b.iter(|| acquire_release(&mut pool, one[0]))
        });
        assert_eq!(pool.len(), n);
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    acquire_release_bench(&mut c);
    c.final_summary();
}
