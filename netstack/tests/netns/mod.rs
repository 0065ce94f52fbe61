//! The harness the driver tests share: two network namespaces joined by a veth
//! pair (deleted on drop, also after a panic), a kernel TCP peer, a netstack
//! `Stack` moving bulk data over a port, and the TAP bridge. Root only.
//!
//! `unsafe` here: only `setns(2)` and `geteuid(2)`.

#![allow(dead_code, unused_imports)]

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

pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 231, 1, 1);
pub const SLUICE_IP: Ipv4Addr = Ipv4Addr::new(10, 231, 1, 2);
pub const SLUICE_MAC: [u8; 6] = [0x02, 0x00, 0x0a, 0xe7, 0x01, 0x02];
pub const BULK: usize = 1 << 20;

pub fn needs_root() -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let ip = Command::new("ip").arg("-V").output().is_ok();
    if !(root && ip) {
        println!("skipped: needs root");
        return false;
    }
    true
}

pub fn ip(args: &[&str]) {
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
pub fn wait_forwarding(ns: &str, tap: &str) {
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
pub struct Lab {
    pub dp: String,
    pub peer: String,
}

impl Lab {
    /// IPv6 off in both namespaces (no stray autoconfiguration frames).
    pub fn quiet_ipv6(&self) {
        for ns in [&self.dp, &self.peer] {
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
    }

    /// A static neighbour entry in the peer: `ip` is at `mac` on its veth.
    pub fn peer_neighbour(&self, ip_addr: &str, mac: &str) {
        ip(&[
            "-n", &self.peer, "neigh", "add", ip_addr, "lladdr", mac, "dev", "vpeer",
        ]);
    }

    pub fn new(tag: &str) -> Lab {
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

    pub fn delete(&self) {
        for ns in [&self.dp, &self.peer] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }

    /// Runs `f` on a new thread that lives in namespace `ns`.
    pub fn spawn_in<T: Send + 'static>(
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

pub fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| {
            (i as u32)
                .wrapping_mul(31)
                .wrapping_add(u32::from(seed) + (i / 4099) as u32) as u8
        })
        .collect()
}

pub fn cx() -> Context<'static> {
    Context::from_waker(Waker::noop())
}

pub fn nic() -> NicConfig {
    NicConfig {
        mac: SLUICE_MAC,
        addrs: vec![(SLUICE_IP, 24)],
        routes: vec![],
    }
}

pub fn stack_cfg(queue: u16, queues: u16) -> StackConfig {
    StackConfig {
        rx_buffer: 256 * 1024,
        tx_buffer: 256 * 1024,
        queue,
        queues,
        ..StackConfig::default()
    }
}

/// Microseconds since `t0` as the stack's clock.
pub fn now(t0: std::time::Instant) -> Instant {
    Instant::from_micros(t0.elapsed().as_micros() as i64)
}

/// Which side opens the connection.
#[derive(Clone, Copy, Debug)]
pub enum Role {
    /// The stack listens on this port; the kernel connects.
    Listen(u16),
    /// The kernel listens at this address; the stack connects.
    Connect(SocketAddrV4),
}

/// The kernel's side in the peer namespace: connects to the stack (or accepts
/// its connection), sends `pattern(1)` and reads to end of stream. Returns
/// what it read. Returns once a listener is bound, if it listens.
pub fn kernel_peer(lab: &Lab, role: Role) -> std::thread::JoinHandle<Vec<u8>> {
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
pub fn stack_bulk_server<P: Port>(
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
pub fn bulk_exchange<P: Port + 'static>(
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

/// A bridged TAP in the dp namespace (br0 holds vdp and `tap`), IPv6 off in
/// both namespaces (no stray frames).
pub fn bridge_tap(lab: &Lab, tap: &str) {
    lab.quiet_ipv6();
    ip(&["-n", &lab.dp, "link", "add", "br0", "type", "bridge"]);
    ip(&["-n", &lab.dp, "link", "set", "vdp", "master", "br0"]);
    ip(&["-n", &lab.dp, "tuntap", "add", tap, "mode", "tap"]);
    ip(&["-n", &lab.dp, "link", "set", tap, "master", "br0"]);
    ip(&["-n", &lab.dp, "link", "set", tap, "up"]);
    ip(&["-n", &lab.dp, "link", "set", "br0", "up"]);
}
