//! The AF_PACKET and TAP drivers against the Linux kernel, over a veth pair
//! between two network namespaces (root only; `skipped: needs root` otherwise).
//!
//! Topology per test (names carry the test's tag and the process id; both
//! namespaces are deleted on drop, also after a panic):
//!
//! ```text
//!  netns <tag>-dp                         netns <tag>-peer
//!  [netstack Stack 10.231.1.2] vdp ====== vpeer 10.231.1.1 [kernel TCP]
//!  (vdp has no kernel address; TAP test: vdp and the tap in bridge br0)
//! ```
//!
//! The peer keeps its default offloads (TX checksum, TSO/GSO on), so the
//! AF_PACKET runs go through the offload repair. Every wait is bounded.
//! `unsafe` here: only `setns(2)` and `geteuid(2)`.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use netstack::af_packet::{AfPacketConfig, AfPacketPort, RxRingVersion};
use netstack::port::{Instant, Port};
use netstack::stack::{ConnId, NicConfig, Stack, StackConfig};
use netstack::steer;
use netstack::tap::TapPort;

const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 231, 1, 1);
const SLUICE_IP: Ipv4Addr = Ipv4Addr::new(10, 231, 1, 2);
const SLUICE_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0xe7, 0x01, 0x02];
const BULK: usize = 1 << 20;

fn needs_root() -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let ip = Command::new("ip").arg("-V").output().is_ok();
    if !(root && ip) {
        println!("skipped: needs root");
        return false;
    }
    true
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits (at most 5 s) until bridge port `tap` in namespace `ns` forwards: a
/// tap gets its carrier when a process opens it, and the kernel applies carrier
/// changes asynchronously (linkwatch, up to a second later); frames sent before
/// are lost.
fn wait_forwarding(ns: &str, tap: &str) {
    let t0 = std::time::Instant::now();
    loop {
        let out = Command::new("ip")
            .args(["-n", ns, "-d", "link", "show", tap])
            .output()
            .expect("run ip");
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("state forwarding") && !text.contains("NO-CARRIER") {
            return;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "{tap} never forwarded: {text}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Two namespaces joined by a veth pair; deleted on drop.
struct Lab {
    dp: String,
    peer: String,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let pid = std::process::id();
        let lab = Lab {
            dp: format!("sl{tag}{pid}dp"),
            peer: format!("sl{tag}{pid}pe"),
        };
        // Leftovers of an earlier run with the same pid: gone.
        lab.delete();
        ip(&["netns", "add", &lab.dp]);
        ip(&["netns", "add", &lab.peer]);
        ip(&[
            "-n", &lab.dp, "link", "add", "vdp", "type", "veth", "peer", "name", "vpeer", "netns",
            &lab.peer,
        ]);
        ip(&["-n", &lab.dp, "link", "set", "lo", "up"]);
        ip(&["-n", &lab.dp, "link", "set", "vdp", "up"]);
        ip(&["-n", &lab.peer, "link", "set", "lo", "up"]);
        ip(&[
            "-n",
            &lab.peer,
            "addr",
            "add",
            "10.231.1.1/24",
            "dev",
            "vpeer",
        ]);
        ip(&["-n", &lab.peer, "link", "set", "vpeer", "up"]);
        lab
    }

    fn delete(&self) {
        for ns in [&self.dp, &self.peer] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }

    /// Runs `f` on a new thread that lives in namespace `ns`.
    fn spawn_in<T: Send + 'static>(
        ns: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> std::thread::JoinHandle<T> {
        let path = format!("/var/run/netns/{ns}");
        std::thread::spawn(move || {
            let file = File::open(&path).expect("open netns");
            // SAFETY: setns on a valid namespace descriptor kept open by `file`
            // for the call; it changes only this (fresh) thread's namespace.
            let r = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(r, 0, "setns: {}", std::io::Error::last_os_error());
            f()
        })
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.delete();
    }
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(31)
                .wrapping_add(u32::from(seed) + (i / 4099) as u32) as u8
        })
        .collect()
}

fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

fn nic() -> NicConfig {
    NicConfig {
        mac: SLUICE_MAC,
        addrs: vec![(SLUICE_IP, 24)],
        routes: vec![],
    }
}

fn stack_cfg(queue: u16, queues: u16) -> StackConfig {
    StackConfig {
        rx_buffer: 256 * 1024,
        tx_buffer: 256 * 1024,
        queue,
        queues,
        ..StackConfig::default()
    }
}

/// Microseconds since `t0` as the stack's clock.
fn now(t0: std::time::Instant) -> Instant {
    Instant::from_micros(t0.elapsed().as_micros() as i64)
}

/// Which side opens the connection.
#[derive(Clone, Copy, Debug)]
enum Role {
    /// The stack listens on this port; the kernel connects.
    Listen(u16),
    /// The kernel listens at this address; the stack connects.
    Connect(SocketAddrV4),
}

/// The kernel's side in the peer namespace: connects to the stack (or accepts
/// its connection), sends `pattern(1)` and reads to end of stream. Returns
/// what it read. Returns once a listener is bound, if it listens.
fn kernel_peer(lab: &Lab, role: Role) -> std::thread::JoinHandle<Vec<u8>> {
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel(1);
    let h = Lab::spawn_in(&lab.peer, move || {
        let s = match role {
            Role::Listen(port) => {
                ready_tx.send(()).unwrap();
                let addr = SocketAddr::V4(SocketAddrV4::new(SLUICE_IP, port));
                TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect")
            }
            Role::Connect(addr) => {
                let l = std::net::TcpListener::bind(addr).expect("bind");
                l.set_nonblocking(true).unwrap();
                ready_tx.send(()).unwrap();
                let t0 = std::time::Instant::now();
                loop {
                    match l.accept() {
                        Ok((s, _)) => break s,
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            assert!(t0.elapsed() < Duration::from_secs(10), "no connection");
                            std::thread::sleep(Duration::from_millis(2));
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                }
            }
        };
        s.set_nonblocking(false).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
        let mut w = s.try_clone().unwrap();
        let writer = std::thread::spawn(move || {
            w.write_all(&pattern(1, BULK)).expect("peer write");
            w.shutdown(Shutdown::Write).unwrap();
        });
        let mut got = Vec::new();
        (&s).read_to_end(&mut got).expect("peer read");
        writer.join().unwrap();
        got
    });
    ready_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("kernel side ready");
    h
}

/// Serves one connection on `stack`: receives to end of stream while sending
/// `pattern(2)`, then closes. Returns (what it received, seconds taken).
fn stack_bulk_server<P: Port>(
    stack: &mut Stack<P>,
    role: Role,
    done: &AtomicBool,
) -> (Vec<u8>, f64) {
    let t0 = std::time::Instant::now();
    let l = match role {
        Role::Listen(port) => Some(stack.listen(None, port, 8).unwrap()),
        Role::Connect(_) => None,
    };
    let out = pattern(2, BULK);
    let (mut sent, mut shut, mut eof) = (0usize, false, false);
    let mut got = Vec::with_capacity(BULK);
    let mut conn: Option<ConnId> = None;
    let mut started = None;
    let mut buf = vec![0u8; 65536];
    let deadline = Duration::from_secs(40);
    // Until the peer read everything and this side read the peer's whole stream.
    while !(eof && done.load(Ordering::Acquire)) {
        assert!(
            t0.elapsed() < deadline,
            "stack side timed out: got {} sent {sent}",
            got.len()
        );
        let n = now(t0);
        let mut work = stack.poll(n);
        match (role, l) {
            (Role::Listen(_), Some(l)) if conn.is_none() => {
                conn = stack.accept(l, Waker::noop());
                if conn.is_some() {
                    started = Some(std::time::Instant::now());
                }
            }
            (Role::Connect(addr), _) if started.is_none() => {
                let c = *conn.get_or_insert_with(|| stack.connect(addr, None).expect("connect"));
                match stack.poll_connect(c, &mut cx()) {
                    Poll::Ready(Ok(())) => started = Some(std::time::Instant::now()),
                    Poll::Ready(Err(e)) => panic!("stack connect: {e}"),
                    Poll::Pending => {}
                }
            }
            _ => {}
        }
        if let Some(c) = conn.filter(|_| started.is_some()) {
            while !eof {
                match stack.recv(c, &mut buf, &mut cx()) {
                    Poll::Ready(Ok(0)) => eof = true,
                    Poll::Ready(Ok(k)) => {
                        got.extend_from_slice(&buf[..k]);
                        work += 1;
                    }
                    Poll::Ready(Err(e)) => panic!("stack recv: {e}"),
                    Poll::Pending => break,
                }
            }
            while sent < out.len() {
                match stack.send(c, &out[sent..], &mut cx()) {
                    Poll::Ready(Ok(k)) if k > 0 => {
                        sent += k;
                        work += 1;
                    }
                    Poll::Ready(Err(e)) => panic!("stack send: {e}"),
                    _ => break,
                }
            }
            if sent == out.len() && !shut {
                stack.shutdown(c).unwrap();
                shut = true;
            }
            stack.flush(now(t0));
        }
        if work == 0 {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    let secs = started.map_or(0.0, |s| s.elapsed().as_secs_f64());
    assert!(eof, "stack saw the end of the peer's stream");
    (got, secs)
}

/// Runs the bulk exchange with the stack on `open()`'s port in the dp
/// namespace; returns the port's counters printout and the stack thread's
/// result.
fn bulk_exchange<P: Port + 'static>(
    lab: &Lab,
    role: Role,
    open: impl FnOnce() -> P + Send + 'static,
    report: impl FnOnce(&P) -> String + Send + 'static,
) {
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let client = kernel_peer(lab, role);
    let server = Lab::spawn_in(&lab.dp, move || {
        let port = open();
        let mut stack = Stack::new(stack_cfg(0, 1), vec![(port, nic())], Instant::ZERO).unwrap();
        let (got, secs) = stack_bulk_server(&mut stack, role, &d);
        let c = stack.port_counters(0).unwrap();
        let r = report(stack.port(0).unwrap());
        (got, secs, c, r)
    });
    let peer_got = client.join();
    done.store(true, Ordering::Release);
    let server = server.join();
    let peer_got = peer_got.expect("peer thread");
    let (got, secs, counters, report) = server.expect("stack thread");
    assert_eq!(got.len(), BULK, "stack received everything");
    assert!(got == pattern(1, BULK), "stack received the right bytes");
    assert_eq!(peer_got.len(), BULK, "peer received everything");
    assert!(
        peer_got == pattern(2, BULK),
        "peer received the right bytes"
    );
    println!(
        "{role:?}: 1 MiB each way in {secs:.3} s ({:.1} MB/s per direction); port {counters:?}; {report}",
        BULK as f64 / secs / 1e6
    );
}

#[test]
fn af_packet_bulk_both_ways_with_peer_offloads_on() {
    if !needs_root() {
        return;
    }
    let lab = Lab::new("a");
    for role in [
        Role::Listen(8080),
        Role::Connect(SocketAddrV4::new(PEER_IP, 9090)),
    ] {
        bulk_exchange(
            &lab,
            role,
            || AfPacketPort::open("vdp", AfPacketConfig::default()).expect("open af_packet"),
            |p: &AfPacketPort| {
                p.refresh_kernel_stats().expect("PACKET_STATISTICS");
                let c = p.driver_counters();
                // The peer's offloads were on: repair must have happened.
                assert!(c.csum_repaired > 0, "partial checksums repaired: {c:?}");
                assert!(c.gso_frames > 0, "GSO super-frames cut: {c:?}");
                assert_eq!(c.truncated, 0, "{c:?}");
                assert_eq!(c.own_frames, 0, "PACKET_IGNORE_OUTGOING works: {c:?}");
                format!("driver {c:?}")
            },
        );
    }
}

#[test]
fn af_packet_without_vnet_header_repairs_checksums_from_ring_status() {
    if !needs_root() {
        return;
    }
    if Command::new("ethtool").arg("--version").output().is_err() {
        println!("skipped: needs ethtool");
        return;
    }
    let lab = Lab::new("n");
    // Without a vnet header GSO frames cannot be cut: GSO off on the peer,
    // TX checksum offload left on (TP_STATUS_CSUMNOTREADY must be repaired).
    let out = Command::new("ip")
        .args([
            "netns", "exec", &lab.peer, "ethtool", "-K", "vpeer", "tso", "off", "gso", "off",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bulk_exchange(
        &lab,
        Role::Listen(8080),
        || {
            // Also exercises the TX ring with PACKET_QDISC_BYPASS.
            let cfg = AfPacketConfig {
                vnet_hdr: false,
                qdisc_bypass: true,
                ..AfPacketConfig::default()
            };
            AfPacketPort::open("vdp", cfg).expect("open af_packet")
        },
        |p: &AfPacketPort| {
            let c = p.driver_counters();
            assert!(c.csum_repaired > 0, "CSUMNOTREADY frames repaired: {c:?}");
            assert_eq!((c.gso_frames, c.oversize, c.truncated), (0, 0, 0), "{c:?}");
            format!("driver {c:?}")
        },
    );
}

#[test]
fn af_packet_small_ring_overflows_counts_drops_and_recovers() {
    if !needs_root() {
        return;
    }
    let lab = Lab::new("o");
    for ns in [&lab.dp, &lab.peer] {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ])
            .output();
    }
    let mac = SLUICE_MAC.map(|b| format!("{b:02x}")).join(":");
    ip(&[
        "-n",
        &lab.peer,
        "neigh",
        "add",
        "10.231.1.2",
        "lladdr",
        &mac,
        "dev",
        "vpeer",
    ]);
    let peer = lab.peer.clone();
    let send = move |n: usize| {
        Lab::spawn_in(&peer, move || {
            let u = std::net::UdpSocket::bind("10.231.1.1:0").unwrap();
            for i in 0..n {
                u.send_to(&[i as u8; 1000], "10.231.1.2:9").unwrap();
            }
        })
        .join()
        .unwrap();
    };
    // Tiny rings, vnet header off: V3, 2 blocks of 4 KiB (2 frames each); V2,
    // 4 slots.
    let v3 = AfPacketConfig {
        block_size: 4096,
        block_count: 2,
        frame_size: 2048,
        vnet_hdr: false,
        rx_ring: RxRingVersion::V3,
        ..AfPacketConfig::default()
    };
    let v2 = AfPacketConfig {
        vnet_hdr: false,
        rx_ring: RxRingVersion::V2,
        v2_frames: 4,
        ..AfPacketConfig::default()
    };
    for cfg in [v3, v2] {
        let (tx, rx) = std::sync::mpsc::channel::<AfPacketPort>();
        Lab::spawn_in(&lab.dp, move || {
            tx.send(AfPacketPort::open("vdp", cfg).unwrap()).unwrap()
        })
        .join()
        .unwrap();
        let mut port = rx.recv().unwrap();
        let drain = |port: &mut AfPacketPort| {
            use netstack::port::RxToken;
            let mut n = 0;
            let t0 = std::time::Instant::now();
            // The kernel hands a partly filled block over after block_timeout_ms.
            while t0.elapsed() < Duration::from_millis(200) {
                match port.receive(Instant::ZERO) {
                    Some((r, _)) => n += r.consume(|f| usize::from(f.len() == 14 + 20 + 8 + 1000)),
                    None => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            n
        };
        send(100);
        let got = drain(&mut port);
        port.refresh_kernel_stats().unwrap();
        let c = port.driver_counters();
        println!(
            "small ring ({:?}): received {got} of 100, kernel ring drops {}",
            cfg.rx_ring, c.ring_drops
        );
        assert!((1..=8).contains(&got), "at most the ring's frames: {got}");
        assert_eq!(
            got as u64 + c.ring_drops,
            100,
            "every frame received or counted"
        );
        assert_eq!(port.counters().rx_dropped, c.ring_drops);
        // Every block went back to the kernel: new frames flow again, in order.
        for round in 0..3 {
            send(3);
            assert_eq!(drain(&mut port), 3, "round {round} after the overflow");
        }
    }
}

#[test]
fn tap_bulk_both_ways_bridged_to_the_veth() {
    if !needs_root() {
        return;
    }
    let lab = Lab::new("t");
    bridge_tap(&lab, "stap0");
    let dp = lab.dp.clone();
    for role in [
        Role::Listen(8080),
        Role::Connect(SocketAddrV4::new(PEER_IP, 9090)),
    ] {
        bulk_exchange(
            &lab,
            role,
            {
                let dp = dp.clone();
                move || {
                    let tap = TapPort::open("stap0", 1514).expect("open tap");
                    wait_forwarding(&dp, "stap0");
                    tap
                }
            },
            |_: &TapPort| String::from("tap"),
        );
    }
}

#[test]
fn tap_keeps_a_frame_whose_token_was_dropped() {
    if !needs_root() {
        return;
    }
    let lab = Lab::new("k");
    bridge_tap(&lab, "stap0");
    let dp = lab.dp.clone();
    let t = Lab::spawn_in(&dp, || {
        use netstack::port::RxToken;
        let mut tap = TapPort::open("stap0", 1514).unwrap();
        let t0 = std::time::Instant::now();
        // The peer pings an address on the link: its ARP requests reach the tap.
        let first = loop {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no frame on the tap"
            );
            if let Some((rx, _tx)) = tap.receive(now(t0)) {
                break rx.consume(|f| f.to_vec());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let second = loop {
            assert!(t0.elapsed() < Duration::from_secs(10), "no second frame");
            if let Some((rx, _tx)) = tap.receive(now(t0)) {
                {
                    let _unconsumed = rx;
                }
                break tap.receive(now(t0)).unwrap().0.consume(|f| f.to_vec());
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let c = tap.counters();
        (first, second, c)
    });
    let peer = Lab::spawn_in(&lab.peer, || {
        let _ = Command::new("ping")
            .args(["-c", "3", "-i", "0.3", "-W", "1", "10.231.1.9"])
            .output();
        // Without ping: a TCP connect also sends ARP.
        let _ = TcpStream::connect_timeout(
            &SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(10, 231, 1, 9), 9)),
            Duration::from_secs(2),
        );
    });
    let (first, second, c) = t.join().unwrap();
    peer.join().unwrap();
    assert!(first.len() >= 42 && second.len() >= 42);
    assert_eq!(
        c.rx_frames, 2,
        "the dropped token did not count or lose its frame"
    );
}

#[test]
fn af_packet_fanout_steers_connections_to_their_queue() {
    if !needs_root() {
        return;
    }
    let lab = Lab::new("f");
    const CONNS: usize = 16;
    let done = Arc::new(AtomicBool::new(false));
    let d = done.clone();
    let server = Lab::spawn_in(&lab.dp, move || {
        let group = (std::process::id() & 0xffff) as u16;
        let ports = AfPacketPort::open_queues("vdp", AfPacketConfig::default(), group, 2)
            .expect("open fanout queues");
        let mut stacks: Vec<Stack<AfPacketPort>> = ports
            .into_iter()
            .enumerate()
            .map(|(q, p)| {
                Stack::new(stack_cfg(q as u16, 2), vec![(p, nic())], Instant::ZERO).unwrap()
            })
            .collect();
        // Linux picks even ephemeral ports for connect(): clients alternate
        // between an even and an odd server port so both queues get work.
        let ls: Vec<_> = stacks
            .iter_mut()
            .flat_map(|s| {
                [
                    s.listen(None, 8080, 64).unwrap(),
                    s.listen(None, 8081, 64).unwrap(),
                ]
            })
            .collect();
        let t0 = std::time::Instant::now();
        let mut accepted = [0usize; 2];
        let mut open: Vec<(usize, ConnId, bool)> = Vec::new();
        let mut buf = [0u8; 256];
        while !d.load(Ordering::Acquire) {
            assert!(
                t0.elapsed() < Duration::from_secs(40),
                "fanout test timed out"
            );
            let mut work = 0;
            for q in 0..2 {
                work += stacks[q].poll(now(t0));
                let arp = stacks[q].take_shared_arp();
                for (nic, f) in arp {
                    stacks[1 - q].share_arp(nic, &f);
                }
                while let Some(c) = stacks[q]
                    .accept(ls[2 * q], Waker::noop())
                    .or_else(|| stacks[q].accept(ls[2 * q + 1], Waker::noop()))
                {
                    let t = stacks[q].tuple(c).unwrap();
                    assert_eq!(
                        steer::queue_of(t.remote.port(), t.local.port(), 2),
                        q as u16,
                        "connection {t:?} reached queue {q}"
                    );
                    accepted[q] += 1;
                    open.push((q, c, false));
                    work += 1;
                }
            }
            for (q, c, answered) in open.iter_mut() {
                let s = &mut stacks[*q];
                if let Poll::Ready(Ok(k)) = s.recv(*c, &mut buf, &mut cx()) {
                    if k > 0 && !*answered {
                        let reply = [b'q', b'0' + *q as u8];
                        assert!(matches!(s.send(*c, &reply, &mut cx()), Poll::Ready(Ok(2))));
                        s.release(*c);
                        *answered = true;
                        work += 1;
                    }
                }
            }
            open.retain(|&(_, _, answered)| !answered);
            for s in stacks.iter_mut() {
                s.flush(now(t0));
            }
            if work == 0 {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        for s in &stacks {
            let c = s.port(0).unwrap().driver_counters();
            assert_eq!(c.own_frames, 0, "fanout ignores outgoing frames: {c:?}");
        }
        accepted
    });
    let client = Lab::spawn_in(&lab.peer, || {
        let mut seen = Vec::new();
        for i in 0..CONNS {
            let port = 8080 + (i % 2) as u16;
            let addr = SocketAddr::V4(SocketAddrV4::new(SLUICE_IP, port));
            let mut s =
                TcpStream::connect_timeout(&addr, Duration::from_secs(10)).expect("connect");
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(b"which queue?").unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).expect("read reply");
            let lport = s.local_addr().unwrap().port();
            seen.push((lport, port, got));
        }
        seen
    });
    let seen = client.join();
    done.store(true, Ordering::Release);
    let accepted = server.join();
    let seen = seen.expect("client thread");
    let accepted = accepted.expect("stack thread");
    for (lport, port, reply) in &seen {
        let want = steer::queue_of(*lport, *port, 2);
        assert_eq!(reply, &vec![b'q', b'0' + want as u8], "port {lport}");
    }
    println!("fanout: connections per queue {accepted:?}");
    assert_eq!(accepted[0] + accepted[1], CONNS);
    assert!(
        accepted[0] > 0 && accepted[1] > 0,
        "both queues served: {accepted:?}"
    );
}

/// A bridged TAP in the dp namespace (br0 holds vdp and `tap`), IPv6 off in
/// both namespaces (no stray frames).
fn bridge_tap(lab: &Lab, tap: &str) {
    for ns in [&lab.dp, &lab.peer] {
        let _ = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "sysctl",
                "-qw",
                "net.ipv6.conf.all.disable_ipv6=1",
            ])
            .output();
    }
    ip(&["-n", &lab.dp, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", &lab.dp, "link", "set", "vdp", "master", "br0"]);
    ip(&["-n", &lab.dp, "tuntap", "add", tap, "mode", "tap"]);
    ip(&["-n", &lab.dp, "link", "set", tap, "master", "br0"]);
    ip(&["-n", &lab.dp, "link", "set", tap, "up"]);
    ip(&["-n", &lab.dp, "link", "set", "br0", "up"]);
}

#[test]
fn tap_drops_and_counts_frames_longer_than_its_mtu() {
    if !needs_root() {
        return;
    }
    let lab = Lab::new("m");
    bridge_tap(&lab, "stap0");
    // An address nobody has, with a static MAC: the bridge floods to the tap.
    ip(&[
        "-n",
        &lab.peer,
        "neigh",
        "add",
        "10.231.1.9",
        "lladdr",
        "02:00:0a:e7:01:09",
        "dev",
        "vpeer",
    ]);
    let (tx, rx) = std::sync::mpsc::channel::<TapPort>();
    Lab::spawn_in(&lab.dp, move || {
        tx.send(TapPort::open("stap0", 200).unwrap()).unwrap()
    })
    .join()
    .unwrap();
    let mut tap = rx.recv().unwrap();
    wait_forwarding(&lab.dp, "stap0");
    Lab::spawn_in(&lab.peer, || {
        let u = std::net::UdpSocket::bind("10.231.1.1:0").unwrap();
        for _ in 0..5 {
            u.send_to(&[7u8; 1000], "10.231.1.9:9").unwrap();
            u.send_to(&[7u8; 50], "10.231.1.9:9").unwrap();
        }
    })
    .join()
    .unwrap();
    use netstack::port::RxToken;
    let (mut small, t0) = (0, std::time::Instant::now());
    while t0.elapsed() < Duration::from_millis(300) {
        match tap.receive(Instant::ZERO) {
            Some((r, _)) => small += r.consume(|f| usize::from(f.len() == 14 + 20 + 8 + 50)),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    }
    let c = tap.counters();
    assert_eq!(small, 5, "{c:?}");
    assert_eq!(c.rx_dropped, 5, "the 1042-byte frames: {c:?}");
    // Sending longer than the MTU: dropped and counted, nothing written.
    use netstack::port::TxToken;
    tap.transmit(Instant::ZERO)
        .unwrap()
        .consume(201, |b| b.fill(0));
    assert_eq!(tap.counters().tx_dropped, 1);
    assert_eq!(tap.counters().tx_frames, 0);
}

#[test]
fn tap_open_creates_a_missing_interface_for_its_lifetime() {
    if !needs_root() {
        return;
    }
    let lab = Lab::new("c");
    let dp = lab.dp.clone();
    let exists = move || {
        Command::new("ip")
            .args(["-n", &dp, "link", "show", "stapnew"])
            .output()
            .unwrap()
            .status
            .success()
    };
    assert!(!exists());
    let (tx, rx) = std::sync::mpsc::channel::<TapPort>();
    Lab::spawn_in(&lab.dp, move || {
        tx.send(TapPort::open("stapnew", 1514).unwrap()).unwrap()
    })
    .join()
    .unwrap();
    let tap = rx.recv().unwrap();
    assert_eq!(tap.ifname(), "stapnew");
    assert!(exists(), "created by open");
    assert!(tap.wake_fd().is_some());
    drop(tap);
    assert!(!exists(), "a non-persistent tap goes with its descriptor");
    assert!(TapPort::open("a-name-longer-than-15", 1514).is_err());
}
