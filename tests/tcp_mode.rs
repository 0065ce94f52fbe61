//! `mode tcp`: byte forwarding both ways, half-close, idle timeouts, balancing.

mod common;

use common::http::{checksum, pattern};
use common::{free_port, Conn, Proxy, TcpEcho, TCP_DEFAULTS};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

fn config(fe: u16, servers: &[&TcpEcho], extra: &str) -> String {
    let lines: String = servers
        .iter()
        .enumerate()
        .map(|(i, s)| format!("    server t{i} {}\n", s.addr()))
        .collect();
    format!(
        "{TCP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
{extra}
    default_backend be

backend be
    balance roundrobin
{lines}"
    )
}

fn connect(port: u16) -> TcpStream {
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    s.set_write_timeout(Some(Duration::from_secs(15))).unwrap();
    s
}

#[test]
fn one_mib_each_way() {
    let e = TcpEcho::start();
    let fe = free_port();
    let _p = Proxy::start(&config(fe, &[&e], ""));
    let s = connect(fe);
    let data = pattern(1 << 20);
    let mut w = s.try_clone().unwrap();
    let to_send = data.clone();
    // Write and read at once, so neither direction's buffers have to hold it all.
    let writer = thread::spawn(move || w.write_all(&to_send));
    let mut got = vec![0u8; data.len()];
    (&s).read_exact(&mut got).expect("1 MiB echoed back");
    writer.join().unwrap().expect("1 MiB sent");
    assert_eq!(checksum(&got), checksum(&data));
}

#[test]
fn half_close_still_delivers_the_rest() {
    let e = TcpEcho::start();
    let fe = free_port();
    let _p = Proxy::start(&config(fe, &[&e], ""));
    let mut s = connect(fe);
    let data = pattern(200_000);
    s.write_all(&data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut got = Vec::new();
    s.read_to_end(&mut got)
        .expect("read until the server's own close");
    assert_eq!(got.len(), data.len());
    assert_eq!(checksum(&got), checksum(&data));
}

#[test]
fn idle_connection_closed_by_timeout_client() {
    let e = TcpEcho::start();
    let fe = free_port();
    let cfg = config(fe, &[&e], "").replace("timeout client 10s", "timeout client 300ms");
    let _p = Proxy::start(&cfg);
    let mut c = Conn::connect(fe);
    c.send(b"ping").unwrap();
    assert_eq!(c.read_exact_raw(4).unwrap(), b"ping");
    let start = Instant::now();
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "idle TCP connection closed"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(3),
        "after {took:?}"
    );
}

#[test]
fn timeout_tunnel_overrides_client_and_server() {
    let e = TcpEcho::start();
    let fe = free_port();
    let cfg = config(fe, &[&e], "")
        .replace(
            "timeout client 10s",
            "timeout client 300ms\n    timeout tunnel 1500ms",
        )
        .replace("timeout server 10s", "timeout server 300ms");
    let _p = Proxy::start(&cfg);
    let mut c = Conn::connect(fe);
    c.send(b"one").unwrap();
    assert_eq!(c.read_exact_raw(3).unwrap(), b"one");
    // Idle for longer than client/server timeouts, shorter than the tunnel timeout.
    thread::sleep(Duration::from_millis(800));
    c.send(b"two").unwrap();
    assert_eq!(
        c.read_exact_raw(3).unwrap(),
        b"two",
        "still open after 800 ms idle"
    );
    let start = Instant::now();
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "closed by timeout tunnel"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1200) && took < Duration::from_secs(4),
        "after {took:?}"
    );
}

#[test]
fn roundrobin_over_two_tcp_servers() {
    let (a, b) = (TcpEcho::start(), TcpEcho::start());
    let fe = free_port();
    let _p = Proxy::start(&config(fe, &[&a, &b], ""));
    for i in 0..6u8 {
        let mut c = Conn::connect(fe);
        c.send(&[b'a' + i]).unwrap();
        assert_eq!(c.read_exact_raw(1).unwrap(), [b'a' + i]);
    }
    assert!(common::wait_until(Duration::from_secs(2), || a.conns()
        + b.conns()
        == 6));
    assert_eq!((a.conns(), b.conns()), (3, 3));
}
