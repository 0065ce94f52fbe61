//! The AF_PACKET driver against the Linux kernel, over a veth pair
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
//! The harness is in `netns/`.

mod netns;

use std::io::{Read, Write};
use std::net::{SocketAddr, SocketAddrV4, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use netns::*;
use netstack::af_packet::{AfPacketConfig, AfPacketPort, RxRingVersion};
use netstack::port::{Instant, Port};
use netstack::stack::{ConnId, Stack};
use netstack::steer;

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
    lab.quiet_ipv6();
    let mac = SLUICE_MAC.map(|b| format!("{b:02x}")).join(":");
    lab.peer_neighbour("10.231.1.2", &mac);
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
