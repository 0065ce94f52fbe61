//! The TAP driver against the Linux kernel, over a veth pair
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

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::process::Command;
use std::time::Duration;

use netns::*;
use netstack::port::{Instant, Port};
use netstack::tap::TapPort;

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
fn tap_drops_and_counts_frames_longer_than_its_mtu() {
    if !needs_root() {
        return;
    }
    let lab = Lab::new("m");
    bridge_tap(&lab, "stap0");
    // An address nobody has, with a static MAC: the bridge floods to the tap.
    lab.peer_neighbour("10.231.1.9", "02:00:0a:e7:01:09");
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
