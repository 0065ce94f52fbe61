//! Two smoltcp interfaces talk TCP over the in-memory wire, in simulated time.
//!
//! The client (10.0.0.1/24) sends 1 MiB to the server (10.0.0.2/24). These
//! addresses exist only inside this process, on a `MemoryWire`: no frame leaves
//! it. Time is a variable that the loop advances itself — straight to the next
//! thing that can happen (a frame's arrival, a TCP timer) — so a run is
//! deterministic and takes milliseconds of real time whatever its simulated time.
//!
//! Run with `--nocapture` to see the simulated time and the counters.

use std::cell::RefCell;
use std::time::Duration;

use netstack::port::{Instant, Port, PortCapabilities, PortCounters, TxToken};
use netstack::smoltcp_phy::{to_smoltcp_instant, PortDevice};
use netstack::wire::{LinkCounters, LinkFaults, MemoryPort, MemoryWire, WireConfig};
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, IpAddress, IpCidr, IpProtocol, Ipv4Packet,
    TcpPacket,
};

const TRANSFER: usize = 1 << 20;
const SERVER_PORT: u16 = 8080;
const CLIENT_PORT: u16 = 49_152;
/// Loop iterations before a run is declared stuck (runs here need tens to a few
/// hundred: each `poll` moves a whole burst).
const MAX_ITERATIONS: u64 = 100_000;
/// Simulated time before a run is declared stuck.
const MAX_SIM_TIME: Duration = Duration::from_secs(600);
/// How long after the last byte the client's FIN may take to arrive before the
/// run stops and reports it missing (see `fin_after_out_of_order_arrival`).
const FIN_GRACE: Duration = Duration::from_secs(10);

/// What one run did.
#[derive(Debug, PartialEq)]
struct Report {
    /// Simulated time until the server application had every byte.
    sim_time: Duration,
    /// Whether the server saw the client's FIN (within `FIN_GRACE`).
    fin_delivered: bool,
    iterations: u64,
    client: PortCounters,
    server: PortCounters,
    client_to_server: LinkCounters,
    server_to_client: LinkCounters,
    /// TCP segments from the client carrying payload.
    data_segments: u64,
    /// Of those, segments re-sending bytes already sent once.
    retransmits: u64,
}

impl Report {
    fn print(&self, name: &str) {
        let c2s = &self.client_to_server;
        let s2c = &self.server_to_client;
        println!(
            "{name}: 1 MiB in {:.3} ms simulated, FIN delivered {} ({} loop iterations); \
             client data segments {} of which retransmits {}; \
             client->server frames accepted {} lost {} duplicated {} reordered {} tail-dropped {}; \
             server->client frames accepted {} lost {} duplicated {} reordered {} tail-dropped {}; \
             port tx_dropped client {} server {}",
            self.sim_time.as_secs_f64() * 1e3,
            self.fin_delivered,
            self.iterations,
            self.data_segments,
            self.retransmits,
            c2s.accepted,
            c2s.lost,
            c2s.duplicated,
            c2s.reordered,
            c2s.queue_dropped,
            s2c.accepted,
            s2c.lost,
            s2c.duplicated,
            s2c.reordered,
            s2c.queue_dropped,
            self.client.tx_dropped,
            self.server.tx_dropped,
        );
    }
}

/// Counts TCP data segments a port sends, and which of them are retransmits
/// (start below the highest sequence number sent so far). A port wrapping a
/// port: tracing devices are drivers like any other.
struct SegmentCounter<P> {
    inner: P,
    seen: RefCell<Segments>,
}

#[derive(Default)]
struct Segments {
    data: u64,
    retransmits: u64,
    /// One past the highest sequence number sent with payload.
    next_new: Option<i32>,
}

impl Segments {
    fn observe(&mut self, frame: &[u8]) {
        let Ok(eth) = EthernetFrame::new_checked(frame) else {
            return;
        };
        if eth.ethertype() != EthernetProtocol::Ipv4 {
            return;
        }
        let Ok(ip) = Ipv4Packet::new_checked(eth.payload()) else {
            return;
        };
        if ip.next_header() != IpProtocol::Tcp {
            return;
        }
        let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
            return;
        };
        let len = tcp.payload().len();
        if len == 0 {
            return;
        }
        self.data += 1;
        let seq = tcp.seq_number().0;
        let end = seq.wrapping_add(len as i32);
        match self.next_new {
            Some(next) if seq.wrapping_sub(next) < 0 => self.retransmits += 1,
            _ => {}
        }
        let advances = match self.next_new {
            Some(next) => end.wrapping_sub(next) > 0,
            None => true,
        };
        if advances {
            self.next_new = Some(end);
        }
    }
}

struct CountingTx<'a, T> {
    inner: T,
    seen: &'a RefCell<Segments>,
}

impl<T: TxToken> TxToken for CountingTx<'_, T> {
    fn consume<R, F>(self, len: usize, f: F) -> R
    where
        F: FnOnce(&mut [u8]) -> R,
    {
        let seen = self.seen;
        self.inner.consume(len, |buf| {
            let r = f(buf);
            seen.borrow_mut().observe(buf);
            r
        })
    }
}

impl<P: Port> Port for SegmentCounter<P> {
    type RxToken<'a>
        = P::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = CountingTx<'a, P::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, now: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let seen = &self.seen;
        self.inner
            .receive(now)
            .map(|(rx, tx)| (rx, CountingTx { inner: tx, seen }))
    }

    fn transmit(&mut self, now: Instant) -> Option<Self::TxToken<'_>> {
        let seen = &self.seen;
        self.inner
            .transmit(now)
            .map(|tx| CountingTx { inner: tx, seen })
    }

    fn capabilities(&self) -> PortCapabilities {
        self.inner.capabilities()
    }

    fn counters(&self) -> PortCounters {
        self.inner.counters()
    }
}

type Device = PortDevice<SegmentCounter<MemoryPort>>;

/// One host: a device, an interface, and one TCP socket.
struct Host {
    dev: Device,
    iface: Interface,
    sockets: SocketSet<'static>,
    tcp: SocketHandle,
}

impl Host {
    fn new(port: MemoryPort, mac: [u8; 6], ip: [u8; 4], seed: u64) -> Host {
        let mut dev = PortDevice::new(SegmentCounter {
            inner: port,
            seen: RefCell::default(),
        });
        let mut config = Config::new(EthernetAddress(mac).into());
        config.random_seed = seed;
        let mut iface = Interface::new(config, &mut dev, to_smoltcp_instant(Instant::ZERO));
        iface.update_ip_addrs(|addrs| {
            addrs
                .push(IpCidr::new(IpAddress::v4(ip[0], ip[1], ip[2], ip[3]), 24))
                .expect("one address fits");
        });
        let socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
            tcp::SocketBuffer::new(vec![0; 64 * 1024]),
        );
        let mut sockets = SocketSet::new(Vec::new());
        let tcp = sockets.add(socket);
        Host {
            dev,
            iface,
            sockets,
            tcp,
        }
    }

    fn poll(&mut self, now: Instant) {
        self.iface
            .poll(to_smoltcp_instant(now), &mut self.dev, &mut self.sockets);
    }

    fn socket(&mut self) -> &mut tcp::Socket<'static> {
        self.sockets.get_mut::<tcp::Socket>(self.tcp)
    }

    /// When this host next needs attention: its own timers, or the next frame
    /// the wire has for it.
    fn next_event(&mut self, now: Instant) -> Option<Instant> {
        let timers = self
            .iface
            .poll_at(to_smoltcp_instant(now), &self.sockets)
            .map(|t| Instant::from_micros(t.total_micros()));
        let arrival = self.dev.port().inner.next_arrival();
        [timers, arrival].into_iter().flatten().min()
    }

    fn activity(&self) -> u64 {
        let c = self.dev.counters();
        c.rx_frames + c.tx_frames + c.tx_dropped
    }
}

/// 1 MiB of a deterministic, non-repeating-looking pattern.
fn payload() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..TRANSFER)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Client sends 1 MiB then closes; the run ends when the server has every byte
/// and the FIN. Panics if the bytes differ or the run does not finish.
fn transfer(faults: LinkFaults, seed: u64) -> Report {
    let (a, b) = MemoryWire::pair(WireConfig::symmetric(seed, faults));
    let mut client = Host::new(a, [0x02, 0, 0, 0, 0, 1], [10, 0, 0, 1], seed);
    let mut server = Host::new(b, [0x02, 0, 0, 0, 0, 2], [10, 0, 0, 2], seed ^ 1);

    server.socket().listen(SERVER_PORT).expect("listen");
    {
        let Host {
            iface,
            sockets,
            tcp: handle,
            ..
        } = &mut client;
        sockets
            .get_mut::<tcp::Socket>(*handle)
            .connect(
                iface.context(),
                (IpAddress::v4(10, 0, 0, 2), SERVER_PORT),
                CLIENT_PORT,
            )
            .expect("connect");
    }

    let data = payload();
    let mut sent = 0usize;
    let mut received: Vec<u8> = Vec::with_capacity(TRANSFER);
    let mut now = Instant::ZERO;
    let mut iterations = 0u64;
    // When the server application had the last byte.
    let mut data_done_at: Option<Instant> = None;
    let mut fin_delivered = false;

    loop {
        iterations += 1;
        assert!(
            iterations <= MAX_ITERATIONS,
            "stuck after {iterations} iterations at {now}: {}",
            describe(&mut client, &mut server, sent, received.len())
        );
        assert!(
            now - Instant::ZERO <= MAX_SIM_TIME,
            "stuck at {now}: {}",
            describe(&mut client, &mut server, sent, received.len())
        );
        let before = (client.activity() + server.activity(), sent, received.len());

        client.poll(now);
        server.poll(now);

        let c = client.socket();
        if c.can_send() && sent < TRANSFER {
            sent += c.send_slice(&data[sent..]).expect("send");
            if sent == TRANSFER {
                c.close();
            }
        }
        let s = server.socket();
        while s.can_recv() {
            s.recv(|buf| {
                received.extend_from_slice(buf);
                (buf.len(), ())
            })
            .expect("recv");
        }
        if received.len() == TRANSFER && data_done_at.is_none() {
            data_done_at = Some(now);
        }
        if received.len() == TRANSFER && !s.may_recv() {
            fin_delivered = true;
            break; // every byte and the FIN
        }
        if data_done_at.is_some_and(|t| now - t > FIN_GRACE) {
            break; // every byte; the FIN is reported as missing
        }

        let after = (client.activity() + server.activity(), sent, received.len());
        if after != before {
            continue; // something moved: poll again at the same instant
        }
        // Quiet at `now`: jump to the next thing that can happen.
        let next = [client.next_event(now), server.next_event(now)]
            .into_iter()
            .flatten()
            .min();
        match next {
            Some(next) => now = if next > now { next } else { now.add_millis(1) },
            None if data_done_at.is_some() => break, // FIN stranded, see FIN_GRACE
            None => panic!(
                "nothing left to happen at {now}: {}",
                describe(&mut client, &mut server, sent, received.len())
            ),
        }
    }

    if let Some(i) = received.iter().zip(&data).position(|(r, d)| r != d) {
        panic!("byte {i} differs");
    }
    assert_eq!(received.len(), data.len());

    let (client_seen, server_seen) = (
        client.dev.port().seen.borrow(),
        server.dev.port().seen.borrow(),
    );
    assert_eq!(server_seen.data, 0, "the server sends no payload");
    Report {
        sim_time: data_done_at.expect("loop ends only with every byte") - Instant::ZERO,
        fin_delivered,
        iterations,
        client: client.dev.counters(),
        server: server.dev.counters(),
        client_to_server: client.dev.port().inner.outbound_counters(),
        server_to_client: server.dev.port().inner.outbound_counters(),
        data_segments: client_seen.data,
        retransmits: client_seen.retransmits,
    }
}

/// Both ends' state, for a failure message.
fn describe(client: &mut Host, server: &mut Host, sent: usize, received: usize) -> String {
    let to_client = client.dev.port().inner.inbound_in_flight();
    let to_server = server.dev.port().inner.inbound_in_flight();
    let c = client.socket();
    let (cs, cq) = (c.state(), c.send_queue());
    let s = server.socket();
    let (ss, sq) = (s.state(), s.recv_queue());
    format!(
        "sent {sent} received {received}; frames in flight to client {to_client}, to server \
         {to_server}; client {cs} send_queue {cq}; server {ss} recv_queue {sq}"
    )
}

fn faulty() -> LinkFaults {
    LinkFaults {
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.02,
        reorder_gap: 3,
        delay_ms: 1,
        ..LinkFaults::default()
    }
}

#[test]
fn one_mib_over_a_clean_wire() {
    let r = transfer(LinkFaults::default(), 1);
    r.print("clean wire (no delay)");
    assert_eq!(r.retransmits, 0, "nothing to retransmit on a clean wire");
    assert_eq!(r.client_to_server.lost + r.server_to_client.lost, 0);
    assert!(r.data_segments >= (TRANSFER / 1460) as u64);

    let r = transfer(
        LinkFaults {
            delay_ms: 1,
            ..LinkFaults::default()
        },
        1,
    );
    r.print("clean wire, 1 ms each way");
    assert_eq!(r.retransmits, 0);
}

#[test]
fn one_mib_over_a_lossy_duplicating_reordering_wire() {
    let r = transfer(faulty(), 0x5EED);
    r.print("5% loss, 2% dup, 2% reorder (gap 3), 1 ms each way");
    let (c2s, s2c) = (&r.client_to_server, &r.server_to_client);
    // The faults really happened, both ways, and TCP repaired them.
    assert!(c2s.lost > 0 && s2c.lost > 0);
    assert!(c2s.duplicated > 0 && s2c.duplicated > 0);
    assert!(c2s.reordered > 0 && s2c.reordered > 0);
    assert!(r.retransmits > 0);
    assert!(r.retransmits >= c2s.lost / 2, "{r:?}");
}

#[test]
fn the_same_seed_replays_the_same_run() {
    let first = transfer(faulty(), 77);
    let second = transfer(faulty(), 77);
    assert_eq!(first, second);
    let other = transfer(faulty(), 78);
    assert_ne!(first, other);
}

#[test]
fn every_seed_tried_finishes_intact() {
    // Loss of SYNs, ARP, window updates and pure ACKs all show up across seeds;
    // each run must still deliver every byte, in order (transfer() checks),
    // within its bounds.
    let mut times = Vec::new();
    let mut fins = 0;
    for seed in 100..110 {
        let r = transfer(faulty(), seed);
        times.push(r.sim_time.as_millis());
        fins += u32::from(r.fin_delivered);
    }
    println!("faulty wire, seeds 100..110: simulated ms {times:?}; FIN delivered in {fins} of 10");
}

/// smoltcp 0.14.0 strands a FIN the receiver discarded. The server drops a FIN
/// that arrives ahead of a hole (allowed), then acks all the data; the client's
/// duplicate-ACK fast retransmit finds its send buffer empty and sends nothing,
/// and it has already disarmed the retransmit timer, so the FIN is never sent
/// again and the client sits in FIN-WAIT-1 with no timer (socket timeout unset).
/// Kept as a reproducer until the stack carries a fix; the dataplane's
/// client-fin / server-fin timeouts bound it meanwhile.
#[test]
#[ignore = "smoltcp 0.14.0: a FIN dropped by the peer is never retransmitted"]
fn fin_after_out_of_order_arrival() {
    let r = transfer(faulty(), 0x5EED);
    assert!(r.fin_delivered, "FIN stranded: {r:?}");
}
