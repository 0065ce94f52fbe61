//! Criterion benches of the per-core runtime pieces every request touches: arming and
//! cancelling timers (several per connection, most cancelled), waking and running a
//! task, and a load-balancing decision (round-robin with the shared ticket, and
//! leastconn over 16 servers).

use std::future::poll_fn;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::task::Poll;

use criterion::{black_box, Criterion};
use dataplane::lb::{Algorithm, Balancer, HashType, LbKey, ServerView};
use dataplane::runtime::{Executor, TimerWheel};

fn timers(c: &mut Criterion) {
    let mut g = c.benchmark_group("timer_wheel");
    // A wheel with 10k timers armed (open connections), like a busy worker.
    let mut w = TimerWheel::new(0);
    let keep: Vec<_> = (0..10_000u64)
        .map(|i| w.arm(30_000 + i * 7, None))
        .collect();
    g.bench_function("arm_cancel_10k_armed", |b| {
        let mut t = 0u64;
        b.iter(|| {
            t += 1;
            let k = w.arm(black_box(5_000 + t % 60_000), None);
            w.cancel(k);
        })
    });
    g.bench_function("rearm_10k_armed", |b| {
        let k = w.arm(1000, None);
        let mut t = 0u64;
        b.iter(|| {
            t += 1;
            w.rearm(k, black_box(2_000 + t % 60_000));
        })
    });
    drop(keep);
    g.finish();
}

fn executor(c: &mut Criterion) {
    let ex = Executor::new();
    // One task that yields each time it is polled: measures wake + queue + poll.
    let waker = Arc::new(std::sync::Mutex::new(None));
    let w2 = waker.clone();
    ex.spawn(poll_fn(move |cx| {
        *w2.lock().unwrap() = Some(cx.waker().clone());
        Poll::<()>::Pending
    }));
    ex.run_ready(16);
    let wk = waker.lock().unwrap().clone().unwrap();
    c.bench_function("executor_wake_and_run", |b| {
        b.iter(|| {
            wk.wake_by_ref();
            black_box(ex.run_ready(16));
        })
    });
}

fn balancing(c: &mut Criterion) {
    let mut g = c.benchmark_group("lb_pick");
    let servers: Vec<ServerView> = (0..16)
        .map(|i| ServerView {
            weight: 1 + (i % 3),
            backup: false,
            usable: true,
            cur_conns: i * 3 % 7,
            maxconn: 0,
        })
        .collect();
    let mut rr = Balancer::new(Algorithm::RoundRobin, HashType::MapBased, false, 1)
        .with_shared_ticket(Arc::new(AtomicU64::new(0)));
    g.bench_function("roundrobin_16", |b| {
        b.iter(|| black_box(rr.pick(black_box(&servers), LbKey::default())))
    });
    let mut lc = Balancer::new(Algorithm::LeastConn, HashType::MapBased, false, 1);
    g.bench_function("leastconn_16", |b| {
        b.iter(|| black_box(lc.pick(black_box(&servers), LbKey::default())))
    });
    let mut src = Balancer::new(Algorithm::Source, HashType::Consistent, false, 1);
    let ip = [10u8, 1, 2, 3];
    g.bench_function("source_consistent_16", |b| {
        b.iter(|| {
            black_box(src.pick(
                black_box(&servers),
                LbKey {
                    source: Some(&ip),
                    ..LbKey::default()
                },
            ))
        })
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    timers(&mut c);
    executor(&mut c);
    balancing(&mut c);
    c.final_summary();
}
