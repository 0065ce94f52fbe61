//! HTTP/2 end to end, front and back: the four client/server protocol combinations
//! with large bodies both ways, `Host` <-> `:authority`, trailers both ways,
//! hop-by-hop headers, 100-continue, stream multiplexing onto one server connection,
//! GOAWAY on soft stop, and SNI with H2 clients. Real clients and tools (curl,
//! nghttp, h2load) are in `tests/h2_tools.rs`. Origins: `common::h2::H2Origin` (the
//! `h2` crate) and the H1 test origin; raw frames come from `common::h2raw`.

mod common;

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use common::client::build_request;
use common::h2::{h2_exchange, h2_get, h2_one, H2Origin, H2Request, H2Target};
use common::h2_proxy::{site_pem, start};
use common::h2raw::{self, RawConn};
use common::http::{checksum, pattern};
use common::proxy::{free_port, is_sluice, TempDir};
use common::tls::Pki;
use common::{skip_unless_sluice, wait_until, Conn, Origin, Proxy, HTTP_DEFAULTS};

/// Request body of the large-upload checks.
const UPLOAD: usize = 8 << 20;
/// Response body of the large-download checks.
const DOWNLOAD: usize = 16 << 20;

// ---------------------------------------------------------------- the four combinations

#[derive(Clone, Copy, Debug, PartialEq)]
enum Client {
    H1,
    H2,
    /// H2 over TLS (ALPN h2).
    H2Tls,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Server {
    H1,
    H2,
    /// H2 over TLS: `ssl verify none alpn h2`.
    H2Tls,
}

/// A response, whatever the client.
struct Got {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Got {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request from an H1 client on a fresh connection; the body is written from
/// another thread while the response is read, so echoes cannot deadlock.
fn h1_request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Got {
    let mut c = Conn::connect(port);
    let req = build_request(method, path, headers, &body);
    let mut w = c.stream().try_clone().unwrap();
    let writer = thread::spawn(move || w.write_all(&req));
    let r = c
        .read_final(method)
        .unwrap_or_else(|e| panic!("H1 {method} {path}: {e}"));
    writer.join().unwrap().expect("write request");
    Got {
        status: r.status,
        headers: r.head.headers.clone(),
        body: r.body,
    }
}

fn fetch(client: Client, port: u16, method: &str, path: &str, body: Vec<u8>) -> Got {
    let mut req = H2Request {
        method: method.into(),
        body,
        ..H2Request::get(path)
    };
    let target = match client {
        Client::H1 => return h1_request(port, method, path, &[], req.body),
        Client::H2 => H2Target::clear(port),
        Client::H2Tls => H2Target::tls(port, "site.test"),
    };
    if req.body.len() < 1024 && !req.body.is_empty() {
        // Small bodies announce their length, large ones do not.
        let n = req.body.len().to_string();
        req = req.header("content-length", &n);
    }
    let r = h2_one(&target, req);
    Got {
        status: r.status,
        headers: r
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: r.body,
    }
}

/// GET, a small echo, an 8 MiB upload and a 16 MiB download from `client` through the
/// proxy to `server`, checking every byte (by checksum).
fn combination(client: Client, server: Server) {
    let d = TempDir::new("h2-combo");
    let h1 = Origin::start("s1");
    let h2 = match server {
        Server::H1 => None,
        Server::H2 => Some(H2Origin::start()),
        Server::H2Tls => Some(H2Origin::start_tls()),
    };
    let server_line = match (server, &h2) {
        (Server::H2, Some(o)) => format!("{} proto h2", o.addr()),
        (Server::H2Tls, Some(o)) => format!("{} ssl verify none alpn h2", o.addr()),
        _ => h1.addr(),
    };
    let bind = match client {
        Client::H1 => String::new(),
        Client::H2 => "proto h2".into(),
        Client::H2Tls => format!("ssl crt {} alpn h2,http/1.1", site_pem(&d).display()),
    };
    let (p, port) = start(&bind, &server_line, "");
    let what = format!("{client:?} client -> {server:?} server");

    let g = fetch(client, port, "GET", "/", Vec::new());
    assert_eq!(g.status, 200, "{what}: GET");
    match &h2 {
        Some(_) => assert_eq!(g.header("x-origin"), Some("h2"), "{what}"),
        None => assert_eq!(g.header("x-served-by"), Some("s1"), "{what}"),
    }

    let small = b"hello through the proxy".to_vec();
    let g = fetch(client, port, "POST", "/echo", small.clone());
    assert_eq!(g.status, 200, "{what}: small POST");
    match &h2 {
        Some(o) => {
            assert_eq!(g.body, small, "{what}: small echo");
            assert_eq!(g.header("x-echo-method"), Some("POST"), "{what}");
            assert_eq!(o.last_seen().unwrap().body_len, small.len(), "{what}");
        }
        None => {
            assert_eq!(g.header("x-body-len"), Some("23"), "{what}");
            assert_eq!(
                g.header("x-body-sum"),
                Some(checksum(&small).as_str()),
                "{what}"
            );
        }
    }

    let up = pattern(UPLOAD);
    let g = fetch(client, port, "POST", "/echo", up.clone());
    assert_eq!(g.status, 200, "{what}: 8 MiB upload");
    match &h2 {
        Some(o) => {
            assert_eq!(g.body.len(), UPLOAD, "{what}: echoed length");
            assert!(g.body == up, "{what}: echoed bytes differ");
            let seen = o.last_seen().unwrap();
            assert_eq!(
                (seen.body_len, seen.body_sum),
                (UPLOAD, checksum(&up)),
                "{what}"
            );
        }
        None => {
            assert_eq!(
                g.header("x-body-len"),
                Some(UPLOAD.to_string().as_str()),
                "{what}"
            );
            assert_eq!(
                g.header("x-body-sum"),
                Some(checksum(&up).as_str()),
                "{what}"
            );
        }
    }

    let path = match h2 {
        Some(_) => format!("/big?n={DOWNLOAD}"),
        None => format!("/size/{DOWNLOAD}"),
    };
    let g = fetch(client, port, "GET", &path, Vec::new());
    assert_eq!(g.status, 200, "{what}: 16 MiB download");
    assert_eq!(g.body.len(), DOWNLOAD, "{what}: download length");
    assert_eq!(
        checksum(&g.body),
        checksum(&pattern(DOWNLOAD)),
        "{what}: download bytes"
    );

    if client != Client::H1 {
        assert!(
            p.wait_log(&["\"POST ", "/echo HTTP/2.0\""], Duration::from_secs(5))
                .is_some(),
            "{what}: {}",
            p.output()
        );
    }
}

#[test]
fn h1_client_to_h1_server() {
    combination(Client::H1, Server::H1);
}

#[test]
fn h1_client_to_h2_server() {
    combination(Client::H1, Server::H2);
}

#[test]
fn h2_client_to_h1_server() {
    combination(Client::H2, Server::H1);
}

#[test]
fn h2_client_to_h2_server() {
    combination(Client::H2, Server::H2);
}

#[test]
fn h2_tls_client_to_h2_tls_server() {
    combination(Client::H2Tls, Server::H2Tls);
}

#[test]
fn h2_client_streams_spread_over_h1_server_connections() {
    let o = Origin::start("s1");
    let (_p, port) = start("proto h2", &o.addr(), "");
    let reqs = (0..20)
        .map(|i| H2Request::get(&format!("/delay/100/r{i}")))
        .collect();
    let x = h2_exchange(&H2Target::clear(port), reqs).unwrap();
    for (i, r) in x.responses.iter().enumerate() {
        let r = r.as_ref().unwrap_or_else(|e| panic!("stream {i}: {e}"));
        assert_eq!(
            (r.status, r.header("x-served-by").as_deref()),
            (200, Some("s1"))
        );
        assert_eq!(r.header("x-target"), Some(format!("/delay/100/r{i}")));
    }
    assert_eq!(o.requests(), 20);
}

// ---------------------------------------------------------------- headers

#[test]
fn h2_authority_reaches_h1_server_as_host() {
    let o = Origin::start("s1");
    let (_p, port) = start("proto h2", &o.addr(), "");
    let r = h2_one(
        &H2Target::clear(port),
        H2Request::get("/auth?x=1").authority("www.example.test:8080"),
    );
    assert_eq!(r.status, 200);
    let seen = o.last_seen().unwrap();
    assert_eq!(
        seen.header("host"),
        Some("www.example.test:8080"),
        "{seen:?}"
    );
    assert_eq!(seen.target, "/auth?x=1");
    assert_eq!(seen.version, "HTTP/1.1");
}

#[test]
fn h1_host_reaches_h2_server_as_authority() {
    let o = H2Origin::start();
    let (_p, port) = start("", &format!("{} proto h2", o.addr()), "");
    let g = h1_request(
        port,
        "GET",
        "/echo?q=2",
        &[("host", "h1.example.test")],
        Vec::new(),
    );
    assert_eq!(g.status, 200);
    let seen = o.last_seen().unwrap();
    assert_eq!(seen.path, "/echo?q=2");
    assert_eq!(seen.method, "GET");
    // RFC 9113 8.3.1 lets an intermediary carry the H1 Host either way: HAProxy 2.6
    // keeps a `host` field and sends no `:authority`; sluice sends `:authority`.
    let carried = seen.authority.as_deref().or(seen.header("host"));
    assert_eq!(carried, Some("h1.example.test"), "{seen:?}");
    if is_sluice() {
        assert_eq!(g.header("x-echo-authority"), Some("h1.example.test"));
        assert_eq!(
            seen.authority.as_deref(),
            Some("h1.example.test"),
            "{seen:?}"
        );
    }
}

#[test]
fn te_trailers_passes_and_connection_headers_do_not_reach_h2_server() {
    let o = H2Origin::start();
    let (_p, port) = start("", &format!("{} proto h2", o.addr()), "");
    let mut c = Conn::connect(port);
    c.send(
        b"POST /echo HTTP/1.1\r\nhost: test\r\nte: trailers\r\nconnection: keep-alive\r\n\
keep-alive: timeout=5\r\nproxy-connection: keep-alive\r\nupgrade: example/1\r\n\
transfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .unwrap();
    // The h2 crate would reset a stream carrying any of them: success is the check.
    let r = c.read_final("POST").unwrap();
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "hello"),
        "{:?}",
        r.head
    );
    assert_eq!(r.header("x-echo-te"), Some("trailers"));
    let seen = o.last_seen().unwrap();
    assert_eq!(seen.header("te"), Some("trailers"));
    for h in [
        "connection",
        "keep-alive",
        "proxy-connection",
        "upgrade",
        "transfer-encoding",
    ] {
        assert_eq!(seen.header(h), None, "{h} reached the H2 server: {seen:?}");
    }
    // The client connection is still usable.
    assert_eq!(c.get("/").unwrap().status, 200);
}

/// Sends a POST with `expect: 100-continue`, waits for the `100`, then sends the body;
/// returns the final response.
fn post_after_100(port: u16, path: &str, body: &[u8]) -> common::Response {
    let mut c = Conn::connect(port);
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: test\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        body.len()
    );
    c.send(head.as_bytes()).unwrap();
    // The body is held back until the 100 (from the proxy or relayed from the origin).
    c.set_read_timeout(Duration::from_secs(3));
    let r = c.read_response("POST").expect("100 Continue within 3 s");
    assert_eq!(r.status, 100, "{path}: {:?}", r.head);
    c.set_read_timeout(Duration::from_secs(10));
    c.send(body).unwrap();
    c.read_final("POST").unwrap()
}

#[test]
fn expect_100_continue_from_h1_client_to_h2_server() {
    let o = H2Origin::start();
    let (_p, port) = start("", &format!("{} proto h2", o.addr()), "");
    let r = post_after_100(port, "/upload", b"hello world");
    assert_eq!(r.status, 200, "{:?}", r.head);
    assert_eq!(r.header("x-body-len"), Some("11"));
    assert_eq!(
        r.header("x-body-sum"),
        Some(checksum(b"hello world").as_str())
    );
    // The origin's `/echo` answers 100, then its final headers at once, and streams
    // the body back as it comes. HAProxy 2.6 ends the exchange on those early final
    // headers (the client gets a complete, empty 200 and the body never reaches the
    // origin); sluice must keep forwarding the body.
    if is_sluice() {
        let r = post_after_100(port, "/echo", b"hello world");
        assert_eq!((r.status, r.body_str().as_str()), (200, "hello world"));
        assert_eq!(o.last_seen().unwrap().body_len, 11);
    }
}

// ---------------------------------------------------------------- trailers

#[test]
fn h2_server_trailers_reach_h2_client() {
    let o = H2Origin::start();
    let (_p, port) = start("proto h2", &format!("{} proto h2", o.addr()), "");
    let r = h2_get(port, "/trailers");
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
    assert_eq!(r.trailer("grpc-status").as_deref(), Some("0"), "{r:?}");
    assert_eq!(r.trailer("x-trailer").as_deref(), Some("yes"), "{r:?}");
}

#[test]
fn h1_server_chunked_trailers_reach_h2_client() {
    let o = Origin::start("s1");
    let (_p, port) = start("proto h2", &o.addr(), "");
    let r = h2_get(port, "/trailers");
    assert_eq!((r.status, r.body_str().as_str()), (200, "ok"));
    assert_eq!(r.trailer("grpc-status").as_deref(), Some("0"), "{r:?}");
    assert_eq!(r.trailer("x-trailer").as_deref(), Some("yes"), "{r:?}");
}

#[test]
fn h2_client_request_trailers_reach_h2_server() {
    let o = H2Origin::start();
    let (_p, port) = start("proto h2", &format!("{} proto h2", o.addr()), "");
    let r = h2_one(
        &H2Target::clear(port),
        H2Request::post("/echo", b"with trailers".to_vec()).trailer("x-req-trailer", "sent"),
    );
    assert_eq!((r.status, r.body_str().as_str()), (200, "with trailers"));
    let seen = o.last_seen().unwrap();
    assert_eq!(seen.trailer("x-req-trailer"), Some("sent"), "{seen:?}");
    // ...and the origin's echo of them comes back as response trailers.
    assert_eq!(r.trailer("x-req-trailer").as_deref(), Some("sent"), "{r:?}");
}

// ---------------------------------------------------------------- connections

/// 20 concurrent streams on each of `rounds` successive client connections to an H2
/// server with `http-reuse <mode>`: returns the number of TCP connections the server
/// saw.
fn server_conns_for_streams(mode: &str, rounds: usize) -> usize {
    let o = H2Origin::start();
    let port = free_port();
    // One worker thread: taking a connection from another worker's pool
    // (`tune.idle-pool.shared`) is the pools' job, tested with them.
    let cfg = format!(
        "{HTTP_DEFAULTS}
global
    nbthread 1

frontend fe
    bind 127.0.0.1:{port} proto h2
    default_backend be

backend be
    http-reuse {mode}
    server s1 {} proto h2
",
        o.addr()
    );
    let _p = Proxy::start(&cfg);
    for round in 0..rounds {
        let t0 = Instant::now();
        let reqs = (0..20)
            .map(|i| H2Request::get(&format!("/delay?ms=300&i={i}")))
            .collect();
        let x = h2_exchange(&H2Target::clear(port), reqs).unwrap();
        for (i, r) in x.responses.iter().enumerate() {
            let r = r
                .as_ref()
                .unwrap_or_else(|e| panic!("{mode} round {round} stream {i}: {e}"));
            assert_eq!((r.status, r.body_str().as_str()), (200, "delayed"));
        }
        // They ran side by side, not one after the other.
        assert!(t0.elapsed() < Duration::from_secs(3), "{:?}", t0.elapsed());
    }
    assert_eq!(o.requests(), 20 * rounds);
    o.conns()
}

#[test]
fn concurrent_streams_share_one_h2_server_connection() {
    // `always`: every stream, of both client connections, on one server connection.
    assert_eq!(server_conns_for_streams("always", 2), 1);
    // `safe`: HAProxy 2.6 opens one server connection per stream (20 here); sluice
    // multiplexes the streams of one client connection onto one server connection.
    if !skip_unless_sluice("http-reuse safe multiplexing onto one H2 server connection") {
        assert_eq!(server_conns_for_streams("safe", 1), 1);
    }
}

#[test]
fn soft_stop_sends_goaway_and_finishes_the_stream_in_flight() {
    let o = H2Origin::start();
    let (p, port) = start("proto h2", &format!("{} proto h2", o.addr()), "");
    let mut c = RawConn::open(port);
    c.send(&h2raw::get(1, "/delay?ms=800")).unwrap();
    assert!(
        wait_until(Duration::from_secs(3), || o.started() == 1),
        "the request did not reach the origin"
    );
    p.signal(libc::SIGUSR1);
    let ended = |f: &h2raw::Frame| {
        f.stream == 1
            && (f.ty == h2raw::RST_STREAM
                || (matches!(f.ty, h2raw::DATA | h2raw::HEADERS)
                    && f.flags & h2raw::END_STREAM != 0))
    };
    let mut frames = c.read_until(Duration::from_secs(5), ended);
    if !frames.iter().any(|f| f.ty == h2raw::GOAWAY) {
        frames.extend(c.read_until(Duration::from_secs(3), |f| f.ty == h2raw::GOAWAY));
    }
    let goaway = frames
        .iter()
        .find_map(|f| f.goaway())
        .unwrap_or_else(|| panic!("no GOAWAY after soft stop: {frames:?}"));
    assert_eq!(goaway.code, h2raw::NO_ERROR, "{frames:?}");
    assert!(goaway.last_stream >= 1, "stream 1 not covered: {frames:?}");
    let status = frames
        .iter()
        .find(|f| f.stream == 1 && f.ty == h2raw::HEADERS)
        .and_then(|f| f.status());
    assert_eq!(status, Some(200), "{frames:?}");
    assert!(
        frames.iter().any(|f| ended(f) && f.ty != h2raw::RST_STREAM),
        "{frames:?}"
    );
    assert!(
        !frames.iter().any(|f| f.ty == h2raw::RST_STREAM),
        "{frames:?}"
    );
}

// ---------------------------------------------------------------- TLS

#[test]
fn sni_selects_certificate_for_h2_clients() {
    let d = TempDir::new("h2-sni");
    let pki = Pki::new(d.path(), "H2 SNI CA");
    let a = pki.leaf("a.pem", &["a.example.test"], false);
    let b = pki.leaf("b.pem", &["b.example.test"], false);
    let w = pki.leaf("w.pem", &["*.w.example.test"], false);
    let o = Origin::start("app");
    let (_p, port) = start(
        &format!(
            "ssl crt {} crt {} crt {} alpn h2,http/1.1",
            a.display(),
            b.display(),
            w.display()
        ),
        &o.addr(),
        "",
    );
    for (sni, cn) in [
        ("a.example.test", "a.example.test"),
        ("b.example.test", "b.example.test"),
        ("x.w.example.test", "*.w.example.test"),
        ("unknown.test", "a.example.test"),
    ] {
        let x = h2_exchange(&H2Target::tls(port, sni), vec![H2Request::get("/sni")])
            .unwrap_or_else(|e| panic!("{sni}: {e}"));
        assert_eq!(x.alpn.as_deref(), Some("h2"), "{sni}");
        assert_eq!(x.peer_cn.as_deref(), Some(cn), "{sni}");
        let r = x.responses[0].as_ref().unwrap();
        assert_eq!(r.status, 200, "{sni}");
        assert_eq!(
            o.last_seen().unwrap().header("host"),
            Some(format!("{sni}:{port}").as_str())
        );
    }
}

/// The Rust client and the H2 origin agree on `:authority`, path and body without a
/// proxy in between (a check of the harness itself).
#[test]
fn harness_h2_client_and_origin_agree() {
    let o = H2Origin::start();
    let r = h2_one(
        &H2Target::clear(o.port()),
        H2Request::post("/echo", b"abc".to_vec()).authority("direct.test"),
    );
    assert_eq!((r.status, r.body_str().as_str()), (200, "abc"));
    assert_eq!(r.header("x-echo-authority").as_deref(), Some("direct.test"));
    assert_eq!(o.last_seen().unwrap().body_sum, checksum(b"abc"));
    let r = h2_get(o.port(), &format!("/big?n={}", 100_000));
    assert_eq!(r.body, pattern(100_000));
    assert_eq!(o.conns(), 2);
}
