//! Criterion bench of the poll-mode stack's per-packet cost with 100 and with
//! 100,000 open connections (two stacks on the in-memory wire, simulated time).
//!
//! One iteration: the client writes 64 bytes on a connection, its stack
//! egresses one segment, the server stack receives it (4-tuple lookup, smoltcp
//! ingress) and the server application reads it. `same_connection` uses one
//! connection while the others stay open: the algorithmic cost, which must be
//! flat in the number of connections (smoltcp's own `SocketSet` walk would make
//! it grow linearly, ~1000x from 100 to 100,000). `round_robin` visits every
//! connection in turn, so at 100,000 each one is cold in the CPU caches (about
//! 3 KB of state each, 300 MB in all): that adds memory latency, not work.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::task::{Context, Poll, Waker};

use criterion::{BenchmarkId, Criterion};
use netstack::port::Instant;
use netstack::stack::{ConnId, NicConfig, Stack, StackConfig};
use netstack::wire::{MemoryPort, MemoryWire, WireConfig};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

struct World {
    server: Stack<MemoryPort>,
    client: Stack<MemoryPort>,
    pairs: Vec<(ConnId, ConnId)>,
    now: Instant,
    next: usize,
}

fn nic(last: u8, ip: Ipv4Addr) -> NicConfig {
    NicConfig {
        mac: [2, 0, 0, 0, 0, last],
        addrs: vec![(ip, 16)],
        routes: vec![],
    }
}

/// Two stacks with `n` established connections between them.
fn world(n: usize) -> World {
    let cfg = StackConfig {
        rx_buffer: 1024,
        tx_buffer: 1024,
        local_ports: (1024, 65535),
        ..StackConfig::default()
    };
    let mut wire = WireConfig::clean(1);
    wire.a_to_b.queue_capacity = 1 << 18;
    wire.b_to_a.queue_capacity = 1 << 18;
    let (a, b) = MemoryWire::pair(wire);
    let mut now = Instant::ZERO;
    let mut server = Stack::new(cfg.clone(), vec![(a, nic(1, SERVER))], now).unwrap();
    let mut client = Stack::new(cfg, vec![(b, nic(2, CLIENT))], now).unwrap();
    // One client address reaches 64k ports per server port: listen on four.
    let ls: Vec<_> = (80..84)
        .map(|p| server.listen(None, p, n + 1).unwrap())
        .collect();
    let mut pairs = Vec::with_capacity(n);
    // Open in batches so the wire and the backlog stay reasonable.
    let mut pending = Vec::new();
    while pairs.len() < n {
        while pending.len() < 2000 && pairs.len() + pending.len() < n {
            let port = 80 + (pairs.len() + pending.len()) as u16 % 4;
            pending.push(
                client
                    .connect(SocketAddrV4::new(SERVER, port), None)
                    .unwrap(),
            );
        }
        now = now.add_millis(1);
        client.poll(now);
        server.poll(now);
        client.poll(now);
        for &l in &ls {
            while let Some(s) = server.accept(l, Waker::noop()) {
                let t = server.tuple(s).unwrap();
                let i = pending
                    .iter()
                    .position(|&c| client.tuple(c).unwrap().local == t.remote)
                    .unwrap();
                pairs.push((s, pending.swap_remove(i)));
            }
        }
    }
    // Let delayed ACKs and timers settle.
    for _ in 0..50 {
        now = now.add_millis(1);
        client.poll(now);
        server.poll(now);
    }
    World {
        server,
        client,
        pairs,
        now,
        next: 0,
    }
}

impl World {
    /// One 64-byte segment from client to server on the next connection
    /// (`rotate`: round robin over all of them, so each is cold in the CPU
    /// caches; otherwise always the same one, with the others open beside it).
    fn one_packet(&mut self, rotate: bool) {
        let mut cx = Context::from_waker(Waker::noop());
        let (s, c) = self.pairs[self.next];
        if rotate {
            self.next = (self.next + 1) % self.pairs.len();
        }
        let msg = [0x5au8; 64];
        assert!(matches!(
            self.client.send(c, &msg, &mut cx),
            Poll::Ready(Ok(64))
        ));
        self.client.flush(self.now);
        self.server.poll(self.now);
        let mut buf = [0u8; 128];
        assert!(matches!(
            self.server.recv(s, &mut buf, &mut cx),
            Poll::Ready(Ok(64))
        ));
        // Acknowledgements and window updates leave on the next turns; the
        // client takes them so its window never closes.
        self.server.flush(self.now);
        self.client.poll(self.now);
    }
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("netstack_per_packet");
    for n in [100usize, 100_000] {
        let mut w = world(n);
        g.bench_with_input(BenchmarkId::new("same_connection", n), &n, |b, _| {
            b.iter(|| w.one_packet(false))
        });
        g.bench_with_input(BenchmarkId::new("round_robin", n), &n, |b, _| {
            b.iter(|| w.one_packet(true))
        });
        eprintln!(
            "connections open: server {} client {}",
            w.server.connections(),
            w.client.connections()
        );
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c);
    c.final_summary();
}
