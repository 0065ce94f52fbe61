//! `CONNECT` through an HTTP frontend: the request is forwarded to the server, and
//! after its 2xx answer the connection becomes a byte tunnel in both directions.

mod common;

use common::{free_port, Proxy, HTTP_DEFAULTS};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::Duration;

/// A server that answers one `CONNECT` with 200 and then echoes bytes, upper-cased
/// (so the test can tell the echo came from it).
fn connect_server() -> (u16, thread::JoinHandle<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut b).unwrap() == 0 {
                break;
            }
            head.push(b[0]);
        }
        s.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .unwrap();
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => s.write_all(&buf[..n].to_ascii_uppercase()).unwrap(),
            }
        }
        String::from_utf8_lossy(&head).into_owned()
    });
    (port, h)
}

#[test]
fn connect_becomes_a_tunnel_after_2xx() {
    let (srv, server) = connect_server();
    let fe = free_port();
    let _p = Proxy::start(&format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    server s1 127.0.0.1:{srv}
"
    ));
    let mut c = TcpStream::connect(("127.0.0.1", fe)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut b = [0u8; 1];
    while !got.ends_with(b"\r\n\r\n") {
        assert_eq!(c.read(&mut b).unwrap(), 1, "proxy closed: {got:?}");
        got.push(b[0]);
    }
    let head = String::from_utf8_lossy(&got);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Bytes flow both ways through the tunnel, in several rounds.
    for round in 0..3 {
        let msg = format!("hello tunnel {round}\n");
        c.write_all(msg.as_bytes()).unwrap();
        let mut echo = vec![0u8; msg.len()];
        c.read_exact(&mut echo).unwrap();
        assert_eq!(echo, msg.to_ascii_uppercase().as_bytes());
    }
    drop(c);
    let seen = server.join().unwrap();
    assert!(
        seen.starts_with("CONNECT example.com:443 HTTP/1.1\r\n"),
        "the server saw the CONNECT request: {seen:?}"
    );
}
