//! Two stacks joined by the in-memory wire, in simulated time: handshake and
//! data both ways, backlog, RST for nobody, steering of local ports, TIME-WAIT
//! reuse, stale handles, loss recovery, and many connections at once.

use super::*;
use crate::wire::{LinkFaults, MemoryPort, MemoryWire, WireConfig};
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::task::{Context, Poll, Waker};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn nic(mac_last: u8, ip: Ipv4Addr) -> NicConfig {
    NicConfig {
        mac: [2, 0, 0, 0, 0, mac_last],
        addrs: vec![(ip, 24)],
        routes: vec![],
    }
}

struct Pair {
    server: Stack<MemoryPort>,
    client: Stack<MemoryPort>,
    now: Instant,
}

impl Pair {
    fn new(wire: WireConfig, server_cfg: StackConfig, client_cfg: StackConfig) -> Pair {
        let (a, b) = MemoryWire::pair(wire);
        let now = Instant::ZERO;
        Pair {
            server: Stack::new(server_cfg, vec![(a, nic(1, SERVER))], now).unwrap(),
            client: Stack::new(client_cfg, vec![(b, nic(2, CLIENT))], now).unwrap(),
            now,
        }
    }

    fn clean() -> Pair {
        Pair::new(
            WireConfig::clean(7),
            StackConfig::default(),
            StackConfig::default(),
        )
    }

    /// Advances 1 ms and polls both stacks.
    fn step(&mut self) {
        self.now = self.now.add_millis(1);
        self.server.poll(self.now);
        self.client.poll(self.now);
        self.server.flush(self.now);
        self.client.flush(self.now);
    }

    /// Steps until `done` or `limit` ms of simulated time.
    fn run_until(&mut self, limit: u64, mut done: impl FnMut(&mut Pair) -> bool) -> bool {
        for _ in 0..limit {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }
}

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

fn recv_all(s: &mut Stack<MemoryPort>, id: ConnId, out: &mut Vec<u8>) -> Option<io::Result<()>> {
    let mut buf = [0u8; 4096];
    loop {
        match s.recv(id, &mut buf, &mut cx()) {
            Poll::Ready(Ok(0)) => return Some(Ok(())),
            Poll::Ready(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Poll::Ready(Err(e)) => return Some(Err(e)),
            Poll::Pending => return None,
        }
    }
}

/// Opens one connection and returns (server side, client side).
fn open(p: &mut Pair, l: ListenerId, port: u16) -> (ConnId, ConnId) {
    let c = p
        .client
        .connect(SocketAddrV4::new(SERVER, port), None)
        .unwrap();
    let mut accepted = None;
    assert!(p.run_until(2000, |p| {
        if accepted.is_none() {
            accepted = p.server.accept(l, Waker::noop());
        }
        accepted.is_some() && p.client.poll_connect(c, &mut cx()).is_ready()
    }));
    (accepted.unwrap(), c)
}

#[test]
fn handshake_data_both_ways_and_close() {
    let mut p = Pair::clean();
    let l = p.server.listen(None, 80, 16).unwrap();
    let (s, c) = open(&mut p, l, 80);
    assert!(matches!(
        p.client.poll_connect(c, &mut cx()),
        Poll::Ready(Ok(()))
    ));
    let t = p.server.tuple(s).unwrap();
    assert_eq!(t.local, SocketAddrV4::new(SERVER, 80));
    assert_eq!(*t.remote.ip(), CLIENT);
    assert_eq!(p.client.tuple(c).unwrap().remote, t.local);

    assert!(matches!(
        p.client.send(c, b"hello", &mut cx()),
        Poll::Ready(Ok(5))
    ));
    p.client.shutdown(c).unwrap();
    let mut got = Vec::new();
    assert!(p.run_until(1000, |p| recv_all(&mut p.server, s, &mut got).is_some()));
    assert_eq!(got, b"hello");

    assert!(matches!(
        p.server.send(s, b"world", &mut cx()),
        Poll::Ready(Ok(5))
    ));
    p.server.release(s); // closes after the data
    let mut back = Vec::new();
    assert!(p.run_until(1000, |p| recv_all(&mut p.client, c, &mut back).is_some()));
    assert_eq!(back, b"world");
    p.client.release(c);
    // The client closed first: it ends in TIME-WAIT (a record, no socket); the
    // server side is freed once closed.
    assert!(p.run_until(2000, |p| p.client.connections() == 0
        && p.server.connections() == 0));
    assert_eq!(p.client.time_wait_len(), 1);
    assert_eq!(p.server.time_wait_len(), 0);
    p.run_until(11_000, |p| p.client.time_wait_len() == 0);
    assert_eq!(p.client.time_wait_len(), 0, "TIME-WAIT records expire");
    assert_eq!(p.server.counters().accepted, 1);
    assert!(p.server.counters().rx_matched >= 3);
}

#[test]
fn nobody_listening_is_refused() {
    let mut p = Pair::clean();
    let c = p
        .client
        .connect(SocketAddrV4::new(SERVER, 81), None)
        .unwrap();
    let mut res = None;
    assert!(p.run_until(1000, |p| {
        if let Poll::Ready(r) = p.client.poll_connect(c, &mut cx()) {
            res = Some(r);
        }
        res.is_some()
    }));
    assert_eq!(
        res.unwrap().unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
}

#[test]
fn backlog_bounds_embryonic_and_queued() {
    let mut p = Pair::clean();
    let l = p.server.listen(Some(SERVER), 80, 2).unwrap();
    let clients: Vec<_> = (0..5)
        .map(|_| {
            p.client
                .connect(SocketAddrV4::new(SERVER, 80), None)
                .unwrap()
        })
        .collect();
    p.run_until(200, |_| false);
    let up = clients
        .iter()
        .filter(|&&c| matches!(p.client.poll_connect(c, &mut cx()), Poll::Ready(Ok(()))))
        .count();
    assert_eq!(up, 2, "only the backlog's worth completes the handshake");
    assert!(p.server.counters().syn_backlog_drops >= 3);
    // Accepting makes room; the others' SYN retransmissions get in.
    let mut accepted = 0;
    assert!(p.run_until(10_000, |p| {
        while p.server.accept(l, Waker::noop()).is_some() {
            accepted += 1;
        }
        accepted == 5
    }));
}

#[test]
fn listen_errors() {
    let mut p = Pair::clean();
    p.server.listen(None, 80, 8).unwrap();
    assert_eq!(
        p.server.listen(Some(SERVER), 80, 8).unwrap_err().kind(),
        io::ErrorKind::AddrInUse
    );
    assert_eq!(
        p.server
            .listen(Some(Ipv4Addr::new(10, 9, 9, 9)), 81, 8)
            .unwrap_err()
            .kind(),
        io::ErrorKind::AddrNotAvailable
    );
    assert_eq!(
        p.client
            .connect(SocketAddrV4::new(Ipv4Addr::new(192, 168, 5, 5), 80), None)
            .unwrap_err()
            .kind(),
        io::ErrorKind::NetworkUnreachable
    );
}

#[test]
fn local_ports_steer_replies_to_the_asking_core() {
    for queue in 0..4 {
        let cfg = StackConfig {
            queue,
            queues: 4,
            ..StackConfig::default()
        };
        let mut p = Pair::new(WireConfig::clean(3), StackConfig::default(), cfg);
        for _ in 0..10 {
            let c = p
                .client
                .connect(SocketAddrV4::new(SERVER, 8080), None)
                .unwrap();
            let port = p.client.tuple(c).unwrap().local.port();
            assert_eq!(steer::queue_of(port, 8080, 4), queue);
        }
    }
}

#[test]
fn time_wait_does_not_exhaust_ports() {
    let cfg = StackConfig {
        local_ports: (40000, 40001),
        ..StackConfig::default()
    };
    let mut p = Pair::new(WireConfig::clean(5), StackConfig::default(), cfg);
    let l = p.server.listen(None, 80, 8).unwrap();
    for round in 0..4 {
        let (s, c) = open(&mut p, l, 80);
        // The client closes first, so its side goes to TIME-WAIT.
        p.client.release(c);
        let mut rest = Vec::new();
        assert!(p.run_until(1000, |p| recv_all(&mut p.server, s, &mut rest).is_some()));
        p.server.release(s);
        assert!(
            p.run_until(1000, |p| p.client.connections() == 0),
            "round {round}"
        );
    }
    assert_eq!(p.client.time_wait_len(), 2);
    assert_eq!(p.client.counters().time_wait_reused, 2);
}

#[test]
fn stale_handles_are_counted_never_used() {
    let mut p = Pair::clean();
    let l = p.server.listen(None, 80, 8).unwrap();
    let (s, c) = open(&mut p, l, 80);
    p.client.abort(c);
    p.client.release(c);
    assert!(p.run_until(100, |p| p.client.connections() == 0));
    let mut buf = [0u8; 8];
    let err = match p.client.recv(c, &mut buf, &mut cx()) {
        Poll::Ready(Err(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(err.kind(), io::ErrorKind::NotConnected);
    assert_eq!(p.client.counters().stale_just_closed, 1);
    // The slot is reused by the next connection: the old handle stays dead.
    let (_s2, c2) = open(&mut p, l, 80);
    assert_ne!(c, c2);
    assert!(p.client.send(c, b"x", &mut cx()).is_ready());
    assert_eq!(p.client.counters().stale_recycled, 1);
    // The server saw the reset.
    let mut out = Vec::new();
    assert!(p.run_until(100, |p| recv_all(&mut p.server, s, &mut out).is_some()));
}

#[test]
fn megabyte_through_a_lossy_wire() {
    let faults = LinkFaults {
        loss: 0.02,
        reorder: 0.02,
        duplicate: 0.01,
        delay_ms: 1,
        ..LinkFaults::default()
    };
    let mut p = Pair::new(
        WireConfig::symmetric(11, faults),
        StackConfig::default(),
        StackConfig::default(),
    );
    let l = p.server.listen(None, 80, 8).unwrap();
    let (s, c) = open(&mut p, l, 80);
    let data: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let mut sent = 0;
    let mut got = Vec::new();
    let done = p.run_until(300_000, |p| {
        while sent < data.len() {
            match p.client.send(c, &data[sent..], &mut cx()) {
                Poll::Ready(Ok(n)) => sent += n,
                _ => break,
            }
        }
        if sent == data.len() {
            let _ = p.client.shutdown(c);
        }
        recv_all(&mut p.server, s, &mut got).is_some()
    });
    assert!(
        done,
        "transfer stalled at {} of {} bytes",
        got.len(),
        data.len()
    );
    assert!(got == data, "bytes differ");
}

#[test]
fn thousands_of_connections_demultiplex() {
    let cfg = StackConfig {
        rx_buffer: 2048,
        tx_buffer: 2048,
        ..StackConfig::default()
    };
    let mut wire = WireConfig::clean(9);
    wire.a_to_b.queue_capacity = 1 << 16;
    wire.b_to_a.queue_capacity = 1 << 16;
    let mut p = Pair::new(wire, cfg.clone(), cfg);
    let l = p.server.listen(None, 80, 4096).unwrap();
    let n = 3000;
    let clients: Vec<_> = (0..n)
        .map(|_| {
            p.client
                .connect(SocketAddrV4::new(SERVER, 80), None)
                .unwrap()
        })
        .collect();
    let mut servers = Vec::new();
    assert!(p.run_until(5000, |p| {
        while let Some(s) = p.server.accept(l, Waker::noop()) {
            servers.push(s);
        }
        servers.len() == n
    }));
    // Each client says its index; each server side must read exactly one index.
    for (i, &c) in clients.iter().enumerate() {
        let msg = format!("{i:05}");
        assert!(matches!(
            p.client.send(c, msg.as_bytes(), &mut cx()),
            Poll::Ready(Ok(5))
        ));
    }
    let mut seen = vec![false; n];
    let mut total = 0;
    assert!(p.run_until(5000, |p| {
        for &s in &servers {
            let mut buf = [0u8; 16];
            if let Poll::Ready(Ok(5)) = p.server.recv(s, &mut buf, &mut cx()) {
                let i: usize = std::str::from_utf8(&buf[..5]).unwrap().parse().unwrap();
                assert!(!seen[i], "index {i} twice");
                seen[i] = true;
                total += 1;
            }
        }
        total == n
    }));
    assert_eq!(p.server.connections(), n);
    assert_eq!(p.client.connections(), n);
}
