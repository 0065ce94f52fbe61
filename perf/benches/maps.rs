//! Criterion benches of the map indexes (`dataplane::maps::index`): lookup and
//! update (insert + remove of one entry) with 10, 10^4 and 10^6 entries for the
//! `str`, `beg` and `ip` match methods, and the time to load a 1,000,000-line map
//! file (configuration parse + one worker's store).
//!
//! Lookups cycle over 4,096 keys present in the index (so caches see a realistic
//! spread, not one hot key). After criterion, a plain timing loop prints ns/op per
//! size and the growth from 10 to 10^6 entries next to log2(10^6)/log2(10) ≈ 6:
//! the indexes are hash-based, so the growth should stay far below that (what grows
//! is cache misses, not work).

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use appliance_config::model::pattern::PatternUse;
use appliance_config::model::sample::MatchMethod;
use criterion::{black_box, BenchmarkId, Criterion};
use dataplane::maps::index::{Index, Probe};

const SIZES: [usize; 3] = [10, 10_000, 1_000_000];

/// Counts allocations (and reallocations) made through the global allocator.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees hold; the counter is a relaxed atomic with no other effect.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: same contract as our caller's (forwarded).
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was returned by `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Relaxed);
        // SAFETY: `ptr`/`layout` come from `System` through this allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A small deterministic generator (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn use_of(method: MatchMethod) -> PatternUse {
    PatternUse {
        method,
        ignore_case: false,
        output: None,
    }
}

/// The `i`-th key for a method, and a sample that matches it.
fn key(method: MatchMethod, i: usize) -> (String, String) {
    match method {
        MatchMethod::Str => (
            format!("host{i}.example.com"),
            format!("host{i}.example.com"),
        ),
        MatchMethod::Beg => (format!("/app{i}/"), format!("/app{i}/static/main.js")),
        _ => {
            // Spread networks over the address space: /16, /24 and /32 mixed.
            let a = (i as u32).wrapping_mul(2_654_435_761);
            let (net, p) = match i % 3 {
                0 => (a & 0xffff_0000, 16),
                1 => (a & 0xffff_ff00, 24),
                _ => (a, 32),
            };
            let ip = Ipv4Addr::from(net);
            let inside = Ipv4Addr::from(net | if p == 32 { 0 } else { 1 });
            (format!("{ip}/{p}"), inside.to_string())
        }
    }
}

fn build(method: MatchMethod, n: usize) -> (Index, Vec<String>) {
    let u = use_of(method);
    let mut ix = Index::new(&u);
    for i in 0..n {
        ix.insert(&u, i as u64 + 1, &key(method, i).0);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let samples = (0..4096)
        .map(|_| key(method, rng.next() as usize % n).1)
        .collect();
    (ix, samples)
}

fn probe<'a>(method: MatchMethod, s: &'a str, ip: &IpAddr) -> Probe<'a> {
    if method == MatchMethod::Ip {
        Probe::Ip(*ip)
    } else {
        Probe::Text(s.as_bytes())
    }
}

fn name(m: MatchMethod) -> &'static str {
    m.name()
}

const METHODS: [MatchMethod; 3] = [MatchMethod::Str, MatchMethod::Beg, MatchMethod::Ip];

fn lookup_and_update(c: &mut Criterion) {
    for method in METHODS {
        let mut g = c.benchmark_group(format!("map_{}", name(method)));
        for n in SIZES {
            let (mut ix, samples) = build(method, n);
            let ips: Vec<IpAddr> = samples
                .iter()
                .map(|s| s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
                .collect();
            let mut i = 0usize;
            g.bench_with_input(BenchmarkId::new("lookup", n), &n, |b, _| {
                b.iter(|| {
                    i = (i + 1) & 4095;
                    let hit = ix.lookup(probe(method, &samples[i], &ips[i]));
                    debug_assert!(hit.is_some());
                    black_box(hit)
                })
            });
            let u = use_of(method);
            let mut id = 1u64 << 40;
            let (newkey, _) = key(method, n + 7);
            g.bench_with_input(BenchmarkId::new("update", n), &n, |b, _| {
                b.iter(|| {
                    id += 1;
                    ix.insert(&u, id, black_box(&newkey));
                    ix.remove(&u, id, &newkey);
                })
            });
        }
        g.finish();
    }
}

/// Plain timing: ns per lookup and per update at each size, and the growth.
fn growth_summary() {
    println!("\nmaps: ns/op (4,096 cycled keys; update = insert + remove)");
    println!(
        "{:<5} {:>10} {:>12} {:>12}",
        "match", "entries", "lookup ns", "update ns"
    );
    for method in METHODS {
        let mut first = (0.0, 0.0);
        for n in SIZES {
            let (mut ix, samples) = build(method, n);
            let ips: Vec<IpAddr> = samples
                .iter()
                .map(|s| s.parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
                .collect();
            const OPS: usize = 2_000_000;
            let t = Instant::now();
            let mut hits = 0usize;
            for k in 0..OPS {
                let i = k & 4095;
                hits += ix.lookup(probe(method, &samples[i], &ips[i])).is_some() as usize;
            }
            let look = t.elapsed().as_nanos() as f64 / OPS as f64;
            assert_eq!(hits, OPS, "every sample is in the index");
            let u = use_of(method);
            let (newkey, _) = key(method, n + 7);
            const UPS: usize = 200_000;
            let t = Instant::now();
            for k in 0..UPS {
                let id = (1u64 << 40) + k as u64;
                ix.insert(&u, id, &newkey);
                ix.remove(&u, id, &newkey);
            }
            let upd = t.elapsed().as_nanos() as f64 / UPS as f64;
            if n == SIZES[0] {
                first = (look, upd);
            }
            println!("{:<5} {n:>10} {look:>12.1} {upd:>12.1}", name(method));
            if n == *SIZES.last().unwrap() {
                println!(
                    "{:<5} growth 10 -> 10^6: lookup x{:.2}, update x{:.2} (log2 ratio would be x6.0)",
                    name(method),
                    look / first.0,
                    upd / first.1
                );
            }
        }
    }
}

/// Loads a 1,000,000-line map file: configuration parse (read, split, check every
/// line against its use) and one worker's store build.
fn load_million() {
    let dir = std::env::temp_dir().join(format!("sluice-bench-maps-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("million.map");
    let mut text = String::with_capacity(30_000_000);
    for i in 0..1_000_000 {
        text.push_str(&format!("host{i}.example.com be_{}\n", i % 16));
    }
    std::fs::write(&path, text).unwrap();
    let cfg = format!(
        "defaults\n mode http\n timeout client 1s\n timeout server 1s\n timeout connect 1s\nfrontend f\n bind :80\n use_backend %[req.hdr(host),lower,map({},be_0)]\n default_backend be_0\nbackend be_0\n server s 127.0.0.1:1\n",
        path.display()
    );
    let t = Instant::now();
    let loaded = appliance_config::load_str("bench.cfg", &cfg).expect("config loads");
    let parse = t.elapsed();
    let t = Instant::now();
    let store = dataplane::maps::PatternStore::from_config(&loaded.config);
    let build = t.elapsed();
    assert_eq!(store.file(0).map(|f| f.len()), Some(1_000_000));
    println!(
        "maps: load 1,000,000 entries: parse {parse:?} + store build {build:?} = {:?} (each worker builds its own store)",
        parse + build
    );
    // The converter's path (thread store, str index, value copied into a reused
    // buffer) allocates nothing once the buffer is warm.
    dataplane::maps::install(store, 0);
    let p = appliance_config::model::pattern::PatRef {
        file: 0,
        use_idx: 0,
    };
    let keys: Vec<String> = (0..4096)
        .map(|i| format!("host{}.example.com", i * 241))
        .collect();
    let mut out = Vec::with_capacity(64);
    let mut run = |i: usize| {
        let s = dataplane::rules::Sample::Str(keys[i & 4095].as_bytes());
        dataplane::maps::map_lookup(p, &s, None, |v| {
            out.clear();
            out.extend_from_slice(v);
        })
        .expect("present");
    };
    run(0);
    let before = ALLOCATIONS.load(Relaxed);
    for i in 0..100_000 {
        run(i);
    }
    let per = (ALLOCATIONS.load(Relaxed) - before) as f64 / 100_000.0;
    println!("maps: allocations per str map lookup (converter path, 10^6 entries): {per}");
    assert_eq!(per, 0.0, "the str lookup path must not allocate");
    std::fs::remove_dir_all(&dir).ok();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    lookup_and_update(&mut c);
    c.final_summary();
    growth_summary();
    load_million();
}
