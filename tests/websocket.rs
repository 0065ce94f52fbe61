//! HTTP/1.1 Upgrade (WebSocket): 101, then a raw tunnel both ways.

mod common;

use common::http::{checksum, pattern};
use common::{free_port, Conn, Origin, Proxy, HTTP_DEFAULTS};
use std::io::Write;
use std::thread;
use std::time::Duration;

/// `timeouts` replaces the defaults' `timeout client 10s` line.
fn setup(timeouts: &str) -> (Origin, Proxy, u16) {
    let o = Origin::start("ws");
    let fe = free_port();
    let defaults = HTTP_DEFAULTS.replace("    timeout client 10s\n", timeouts);
    let p = Proxy::start(&format!(
        "{defaults}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    server ws {}
",
        o.addr()
    ));
    (o, p, fe)
}

fn upgrade(c: &mut Conn) {
    let r = c
        .request(
            "GET",
            "/chat",
            &[
                ("connection", "Upgrade"),
                ("upgrade", "websocket"),
                ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
                ("sec-websocket-version", "13"),
            ],
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 101, "{:?}", r.head);
    assert!(r.head.has_token("connection", "upgrade"), "{:?}", r.head);
    assert_eq!(r.header("upgrade"), Some("websocket"));
    // RFC 6455's own example key and accept value.
    assert_eq!(
        r.header("sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
}

#[test]
fn upgrade_then_bytes_flow_both_ways() {
    let (o, _p, fe) = setup("    timeout client 10s\n");
    let mut c = Conn::connect(fe);
    upgrade(&mut c);
    let seen = o.last_seen().unwrap();
    assert_eq!(seen.header("upgrade"), Some("websocket"));
    assert!(seen.head.has_token("connection", "upgrade"), "{seen:?}");
    for msg in [
        &b"\x81\x05hello"[..],
        b"\x82\x03\x00\x01\x02",
        b"not even a frame",
    ] {
        c.send(msg).unwrap();
        assert_eq!(c.read_exact_raw(msg.len()).unwrap(), msg);
    }
}

#[test]
fn upgraded_tunnel_carries_bulk_data() {
    let (_o, _p, fe) = setup("    timeout client 10s\n");
    let mut c = Conn::connect(fe);
    upgrade(&mut c);
    let data = pattern(512 * 1024);
    let mut w = c.stream().try_clone().unwrap();
    let to_send = data.clone();
    let writer = thread::spawn(move || w.write_all(&to_send));
    let got = c.read_exact_raw(data.len()).unwrap();
    writer.join().unwrap().unwrap();
    assert_eq!(checksum(&got), checksum(&data));
}

#[test]
fn upgraded_tunnel_uses_timeout_tunnel() {
    // timeout client is short; once upgraded, the tunnel timeout applies instead.
    let (_o, _p, fe) = setup("    timeout client 300ms\n    timeout tunnel 2s\n");
    let mut c = Conn::connect(fe);
    upgrade(&mut c);
    thread::sleep(Duration::from_millis(800));
    c.send(b"x").unwrap();
    assert_eq!(
        c.read_exact_raw(1).unwrap(),
        b"x",
        "alive after 800 ms idle"
    );
    let start = std::time::Instant::now();
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "closed by timeout tunnel"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "closed after {took:?}, before timeout tunnel"
    );
}
