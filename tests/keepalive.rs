//! Connection persistence on both sides of the proxy.

mod common;

use common::{free_port, Conn, Origin, Proxy, HTTP_DEFAULTS};
use std::time::Duration;

fn config(fe: u16, origin: &Origin, options: &str) -> String {
    format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
{options}
    server {} {}
",
        origin.name,
        origin.addr()
    )
}

#[test]
fn client_keepalive_carries_many_requests_and_server_connection_is_kept() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&config(fe, &o, ""));
    let mut c = Conn::connect(fe);
    for i in 0..20 {
        let r = c
            .get(&format!("/r{i}"))
            .expect("request on kept-alive connection");
        assert_eq!(r.status, 200);
        assert_eq!(r.body_str(), "s1");
        assert_eq!(r.header("x-target"), Some(format!("/r{i}").as_str()));
    }
    assert_eq!(o.requests(), 20);
    assert_eq!(
        o.conns(),
        1,
        "one client session keeps its server connection"
    );
}

#[test]
fn http_reuse_always_shares_server_connections_across_clients() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&config(fe, &o, "    http-reuse always"));
    for _ in 0..10 {
        let r = common::get_closed(fe, "/");
        assert_eq!(r.status, 200);
    }
    assert_eq!(o.requests(), 10);
    assert!(
        o.conns() <= 3,
        "10 sequential sessions opened {} server connections",
        o.conns()
    );
}

#[test]
fn http_server_close_closes_server_side_only() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&config(fe, &o, "    option http-server-close"));
    let mut c = Conn::connect(fe);
    for _ in 0..5 {
        let r = c.get("/").expect("client connection stays open");
        assert_eq!(r.status, 200);
    }
    assert_eq!(o.requests(), 5);
    assert!(
        common::wait_until(Duration::from_secs(2), || o.conns() == 5),
        "one server connection per request, got {}",
        o.conns()
    );
    let seen = o.seen();
    assert!(
        seen.iter().all(|s| s.head.has_token("connection", "close")),
        "server asked to close: {seen:?}"
    );
}

#[test]
fn httpclose_closes_the_client_connection_after_the_response() {
    let o = Origin::start("s1");
    let fe = free_port();
    // In HAProxy 2.6, `option httpclose` in the backend alone does not close the client
    // side; in the frontend it closes both.
    let cfg = config(fe, &o, "").replace(
        "    default_backend be",
        "    default_backend be\n    option httpclose",
    );
    let _p = Proxy::start(&cfg);
    let mut c = Conn::connect(fe);
    let r = c.get("/").unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.head.has_token("connection", "close"),
        "response says close: {:?}",
        r.head
    );
    assert!(
        c.closed_within(Duration::from_secs(3)),
        "client connection closed"
    );
    let seen = o.last_seen().unwrap();
    assert!(
        seen.head.has_token("connection", "close"),
        "server asked to close: {seen:?}"
    );
}

#[test]
fn http10_client_without_keepalive_is_closed() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&config(fe, &o, ""));
    let mut c = Conn::connect(fe);
    c.send(b"GET /ten HTTP/1.0\r\n\r\n").unwrap();
    let r = c.read_final("GET").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), "s1");
    assert!(
        c.closed_within(Duration::from_secs(3)),
        "HTTP/1.0 without keep-alive closes"
    );
}

#[test]
fn http10_client_with_keepalive_is_kept() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&config(fe, &o, ""));
    let mut c = Conn::connect(fe);
    for _ in 0..3 {
        c.send(b"GET / HTTP/1.0\r\nconnection: keep-alive\r\n\r\n")
            .unwrap();
        let r = c.read_final("GET").unwrap();
        assert_eq!(r.status, 200);
        assert!(r.head.has_token("connection", "keep-alive"), "{:?}", r.head);
    }
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&config(fe, &o, ""));
    let mut c = Conn::connect(fe);
    // The first is the slowest: answers must still come back in request order.
    let targets = [
        "/delay/300/p0",
        "/delay/100/p1",
        "/p2",
        "/size/10000",
        "/p4",
    ];
    let mut all = Vec::new();
    for t in targets {
        all.extend(common::client::build_request("GET", t, &[], b""));
    }
    c.send(&all).unwrap();
    for t in targets {
        let r = c.read_final("GET").unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("x-target"), Some(t));
    }
    assert_eq!(o.requests(), 5);
}

#[test]
fn idle_client_connection_closed_after_keepalive_timeout() {
    let o = Origin::start("s1");
    let fe = free_port();
    let cfg = config(fe, &o, "").replace(
        "    timeout client 10s",
        "    timeout client 10s\n    timeout http-keep-alive 300ms",
    );
    let _p = Proxy::start(&cfg);
    let mut c = Conn::connect(fe);
    assert_eq!(c.get("/").unwrap().status, 200);
    let start = std::time::Instant::now();
    assert!(
        c.closed_within(Duration::from_secs(5)),
        "idle keep-alive connection closed"
    );
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
}
