//! The in-memory two-stack harness: a client stack ↔ sluice (the real dataplane
//! worker on a `PollDriver`) ↔ a server stack, all in one thread, joined by
//! memory wires with seeded faults. No kernel socket, no frame leaves the
//! process; addresses (10.0.1.0/24 front, 10.0.2.0/24 back) exist only here.
//!
//! The client and server "hosts" are netstack stacks with small scripted
//! applications (an HTTP/1.1 client doing keep-alive requests on several
//! connections, an origin answering `GET /size/N` with N pattern bytes). They
//! are stepped from inside sluice's own port (`HarnessPort::receive`), so the
//! whole world advances with sluice's poll loop; when the client has checked
//! every response it sets `terminate` and the worker returns.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant as StdInstant};

use dataplane::io::{Endpoint, ListenOptions};
use dataplane::proxy::{ListenPlan, ListenSpec, Shared};
use dataplane::runtime::mailbox::mailbox;
use netstack::poll_driver::{IdlePolicy, PollDriver};
use netstack::port::{Instant, Port, PortCapabilities, PortCounters};
use netstack::stack::{ConnId, ListenerId, NicConfig, Stack, StackConfig};
use netstack::wire::{LinkFaults, MemoryPort, MemoryWire, WireConfig};

const SLUICE_FRONT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 1, 2);
const SLUICE_BACK: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);

fn nic(last: u8, ip: Ipv4Addr) -> NicConfig {
    NicConfig {
        mac: [2, 0, 0, 0, 0, last],
        addrs: vec![(ip, 24)],
        routes: vec![],
    }
}

fn pattern(i: usize) -> u8 {
    (i * 31 % 251) as u8
}

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

/// The origin: answers `GET /size/N` with N pattern bytes, keep-alive.
#[derive(Default)]
struct Origin {
    conns: HashMap<ConnId, (Vec<u8>, Vec<u8>)>,
    requests: usize,
}

impl Origin {
    fn step(&mut self, s: &mut Stack<MemoryPort>, l: ListenerId) {
        while let Some(c) = s.accept(l, Waker::noop()) {
            self.conns.insert(c, (Vec::new(), Vec::new()));
        }
        let mut closed = Vec::new();
        for (&c, (inb, out)) in self.conns.iter_mut() {
            let mut buf = [0u8; 4096];
            loop {
                match s.recv(c, &mut buf, &mut cx()) {
                    Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => {
                        closed.push(c);
                        break;
                    }
                    Poll::Ready(Ok(n)) => inb.extend_from_slice(&buf[..n]),
                    Poll::Pending => break,
                }
            }
            while let Some(end) = inb.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&inb[..end]).to_string();
                inb.drain(..end + 4);
                let path = head.split(' ').nth(1).unwrap_or("/");
                let n: usize = path
                    .strip_prefix("/size/")
                    .and_then(|x| x.parse().ok())
                    .unwrap_or(0);
                out.extend_from_slice(
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\nX-Origin: wire\r\n\r\n")
                        .as_bytes(),
                );
                out.extend((0..n).map(pattern));
                self.requests += 1;
            }
            while !out.is_empty() {
                match s.send(c, out, &mut cx()) {
                    Poll::Ready(Ok(n)) => {
                        out.drain(..n);
                    }
                    _ => break,
                }
            }
        }
        for c in closed {
            self.conns.remove(&c);
            s.release(c);
        }
    }
}

/// One client connection doing `left` keep-alive requests of `size` bytes.
struct ClientConn {
    id: ConnId,
    size: usize,
    left: usize,
    sent: bool,
    inb: Vec<u8>,
}

/// The client: several connections, each a sequence of requests.
struct Client {
    conns: Vec<ClientConn>,
    ok: usize,
    failures: Vec<String>,
}

impl Client {
    fn step(&mut self, s: &mut Stack<MemoryPort>) {
        for c in self.conns.iter_mut().filter(|c| c.left > 0) {
            if !matches!(s.poll_connect(c.id, &mut cx()), Poll::Ready(Ok(()))) {
                continue;
            }
            if !c.sent {
                let req = format!("GET /size/{} HTTP/1.1\r\nHost: wire.test\r\n\r\n", c.size);
                if let Poll::Ready(Ok(n)) = s.send(c.id, req.as_bytes(), &mut cx()) {
                    assert_eq!(n, req.len());
                    c.sent = true;
                }
            }
            let mut buf = [0u8; 8192];
            loop {
                match s.recv(c.id, &mut buf, &mut cx()) {
                    Poll::Ready(Ok(0)) => {
                        self.failures
                            .push(format!("connection closed with {} requests left", c.left));
                        c.left = 0;
                        break;
                    }
                    Poll::Ready(Err(e)) => {
                        self.failures.push(format!("read error {e}"));
                        c.left = 0;
                        break;
                    }
                    Poll::Ready(Ok(n)) => c.inb.extend_from_slice(&buf[..n]),
                    Poll::Pending => break,
                }
            }
            if let Some(end) = c.inb.windows(4).position(|w| w == b"\r\n\r\n") {
                if c.inb.len() >= end + 4 + c.size {
                    let head = String::from_utf8_lossy(&c.inb[..end]).to_string();
                    let body = &c.inb[end + 4..end + 4 + c.size];
                    if !head.starts_with("HTTP/1.1 200") || !head.contains("X-Origin: wire") {
                        self.failures.push(format!("bad response head: {head}"));
                    } else if body.iter().enumerate().any(|(i, &b)| b != pattern(i)) {
                        self.failures.push("body differs".into());
                    } else {
                        self.ok += 1;
                    }
                    c.inb.drain(..end + 4 + c.size);
                    c.left -= 1;
                    c.sent = false;
                }
            }
        }
    }

    fn done(&self) -> bool {
        self.conns.iter().all(|c| c.left == 0)
    }
}

/// Client and server hosts, advanced by sluice's front port.
struct World {
    client: Stack<MemoryPort>,
    server: Stack<MemoryPort>,
    listener: ListenerId,
    origin: Origin,
    app: Client,
    shared: Arc<Shared>,
    deadline: StdInstant,
}

impl World {
    fn step(&mut self, now: Instant) {
        self.client.poll(now);
        self.server.poll(now);
        self.origin.step(&mut self.server, self.listener);
        self.app.step(&mut self.client);
        self.client.flush(now);
        self.server.flush(now);
        if self.app.done() || StdInstant::now() > self.deadline {
            self.shared.terminate.store(true, Ordering::Relaxed);
        }
    }
}

/// Sluice's port; the front one also steps the world on every receive.
struct HarnessPort {
    inner: MemoryPort,
    world: Option<Rc<RefCell<World>>>,
}

impl Port for HarnessPort {
    type RxToken<'a> = <MemoryPort as Port>::RxToken<'a>;
    type TxToken<'a> = <MemoryPort as Port>::TxToken<'a>;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        if let Some(w) = &self.world {
            w.borrow_mut().step(now);
        }
        self.inner.receive(now)
    }
    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        self.inner.transmit(now)
    }
    fn capabilities(&self) -> PortCapabilities {
        self.inner.capabilities()
    }
    fn counters(&self) -> PortCounters {
        self.inner.counters()
    }
}

const CONFIG: &str = "\
global
    nbthread 1
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 10.0.1.1:80
    default_backend be
backend be
    server s1 10.0.2.2:8080
";

/// Runs `conns` client connections × `requests` requests of `size` bytes over
/// front/back wires with `faults`; returns (ok responses, origin requests).
fn run(faults: LinkFaults, conns: usize, requests: usize, size: usize) -> (usize, usize) {
    let loaded = appliance_config::load_str("harness.cfg", CONFIG).expect("config");
    let shared = Shared::new(loaded.config, 10_000, 1, false);
    let t0 = Instant::ZERO;
    let (front_sluice, front_client) = MemoryWire::pair(WireConfig::symmetric(21, faults));
    let (back_sluice, back_server) = MemoryWire::pair(WireConfig::symmetric(22, faults));
    let mut client = Stack::new(
        StackConfig::default(),
        vec![(front_client, nic(2, CLIENT))],
        t0,
    )
    .unwrap();
    let mut server = Stack::new(
        StackConfig::default(),
        vec![(back_server, nic(4, SERVER))],
        t0,
    )
    .unwrap();
    let listener = server.listen(None, 8080, 1024).unwrap();
    let app = Client {
        conns: (0..conns)
            .map(|_| ClientConn {
                id: client
                    .connect(SocketAddrV4::new(SLUICE_FRONT, 80), None)
                    .unwrap(),
                size,
                left: requests,
                sent: false,
                inb: Vec::new(),
            })
            .collect(),
        ok: 0,
        failures: Vec::new(),
    };
    let world = Rc::new(RefCell::new(World {
        client,
        server,
        listener,
        origin: Origin::default(),
        app,
        shared: shared.clone(),
        deadline: StdInstant::now() + Duration::from_secs(60),
    }));
    let sluice = Stack::new(
        StackConfig::default(),
        vec![
            (
                HarnessPort {
                    inner: front_sluice,
                    world: Some(world.clone()),
                },
                nic(1, SLUICE_FRONT),
            ),
            (
                HarnessPort {
                    inner: back_sluice,
                    world: None,
                },
                nic(3, SLUICE_BACK),
            ),
        ],
        t0,
    )
    .unwrap();
    let driver = PollDriver::new(
        sluice,
        IdlePolicy {
            spin: Duration::ZERO,
            backoff: Duration::ZERO,
        },
        None,
    )
    .unwrap();
    let (_tx, inbox) = mailbox(16);
    let listens = vec![ListenSpec {
        frontend: 0,
        bind: 0,
        location: "harness.cfg:10".into(),
        plan: ListenPlan::PerWorker(Endpoint::Tcp("10.0.1.1:80".parse().unwrap())),
        opts: ListenOptions::default(),
    }];
    dataplane::proxy::run_worker(0, driver, shared, listens, inbox, |r| {
        r.expect("worker ready")
    })
    .unwrap();
    let w = world.borrow();
    assert!(w.app.failures.is_empty(), "failures: {:?}", w.app.failures);
    (w.app.ok, w.origin.requests)
}

#[test]
fn keep_alive_requests_through_sluice_on_a_clean_wire() {
    let (ok, seen) = run(LinkFaults::default(), 4, 25, 1000);
    assert_eq!(ok, 100);
    assert_eq!(seen, 100);
}

#[test]
fn large_responses_survive_loss_reorder_and_duplication() {
    let faults = LinkFaults {
        loss: 0.01,
        reorder: 0.01,
        duplicate: 0.01,
        ..LinkFaults::default()
    };
    let (ok, _) = run(faults, 2, 3, 300_000);
    assert_eq!(ok, 6);
}
