//! Message bodies: large and chunked bodies both ways, 100-continue, 103 Early Hints
//! (to HTTP/1 and HTTP/2 clients), bodiless responses.

mod common;

use common::client::{build_request, chunked, curl, have_curl};
use common::http::{checksum, pattern};
use common::{free_port, Conn, Origin, Proxy, HTTP_DEFAULTS};
use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

fn setup() -> (Origin, Proxy, u16) {
    let o = Origin::start("s1");
    let (p, fe) = proxy_to(&o.addr());
    (o, p, fe)
}

/// A proxy on a free port (HTTP/1, HTTP/2 by preface) to the server at `addr`.
fn proxy_to(addr: &str) -> (Proxy, u16) {
    let fe = free_port();
    let p = Proxy::start(&format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    server s1 {addr}
"
    ));
    (p, fe)
}

const TWO_MIB: usize = 2 << 20;
const FIVE_MB: usize = 5_000_000;

#[test]
fn request_body_with_content_length_arrives_intact() {
    let (o, _p, fe) = setup();
    let body = pattern(TWO_MIB);
    let mut c = Conn::connect(fe);
    let r = c.request("POST", "/upload", &[], &body).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-body-len"), Some(TWO_MIB.to_string().as_str()));
    assert_eq!(r.header("x-body-sum"), Some(checksum(&body).as_str()));
    assert_eq!(o.last_seen().unwrap().body_len, TWO_MIB);
    // The connection is still usable.
    assert_eq!(c.get("/").unwrap().status, 200);
}

#[test]
fn request_body_chunked_arrives_intact() {
    let (o, _p, fe) = setup();
    let body = pattern(TWO_MIB);
    let mut c = Conn::connect(fe);
    let mut req = build_request("POST", "/upload", &[("transfer-encoding", "chunked")], b"");
    req.extend(chunked(&body, 7919));
    c.send(&req).unwrap();
    let r = c.read_final("POST").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-body-len"), Some(TWO_MIB.to_string().as_str()));
    assert_eq!(r.header("x-body-sum"), Some(checksum(&body).as_str()));
    assert_eq!(o.requests(), 1);
    assert_eq!(c.get("/").unwrap().status, 200);
}

#[test]
fn large_response_with_content_length_arrives_intact() {
    let (_o, _p, fe) = setup();
    let mut c = Conn::connect(fe);
    let r = c.get(&format!("/size/{FIVE_MB}")).unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-length"),
        Some(FIVE_MB.to_string().as_str())
    );
    assert_eq!(r.body.len(), FIVE_MB);
    assert_eq!(checksum(&r.body), checksum(&pattern(FIVE_MB)));
    assert_eq!(c.get("/").unwrap().body_str(), "s1");
}

#[test]
fn large_chunked_response_arrives_intact() {
    let (_o, _p, fe) = setup();
    let mut c = Conn::connect(fe);
    let r = c.get(&format!("/chunked/{FIVE_MB}")).unwrap();
    assert_eq!(r.status, 200);
    assert!(
        r.head.has_token("transfer-encoding", "chunked"),
        "{:?}",
        r.head
    );
    assert_eq!(r.body.len(), FIVE_MB);
    assert_eq!(checksum(&r.body), checksum(&pattern(FIVE_MB)));
    assert_eq!(c.get("/").unwrap().body_str(), "s1");
}

#[test]
fn large_response_through_curl() {
    if !have_curl() {
        return;
    }
    let (_o, _p, fe) = setup();
    for kind in ["size", "chunked"] {
        let out = curl(&[&format!("http://127.0.0.1:{fe}/{kind}/{FIVE_MB}")]);
        assert_eq!(out.status, 0, "{}", out.stderr);
        assert_eq!(out.stdout.len(), FIVE_MB, "{kind}");
        assert_eq!(checksum(&out.stdout), checksum(&pattern(FIVE_MB)), "{kind}");
    }
}

#[test]
fn expect_100_continue_with_curl() {
    if !have_curl() {
        return;
    }
    let (o, p, fe) = setup();
    let file = p.dir().path().join("upload.bin");
    let body = pattern(TWO_MIB);
    std::fs::write(&file, &body).unwrap();
    let start = Instant::now();
    // If the 100 Continue never reached curl, curl would wait the whole 5 s.
    let out = curl(&[
        "-i",
        "--expect100-timeout",
        "5",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        &format!("@{}", file.display()),
        &format!("http://127.0.0.1:{fe}/upload"),
    ]);
    let took = start.elapsed();
    assert_eq!(out.status, 0, "{}", out.stderr);
    let text = out.stdout_str();
    assert!(
        text.starts_with("HTTP/1.1 100 Continue"),
        "interim response relayed: {text:.300}"
    );
    assert!(text.contains("HTTP/1.1 200"), "{text:.300}");
    assert!(
        text.contains(&format!("x-body-sum: {}", checksum(&body))),
        "{text:.400}"
    );
    assert!(
        took < Duration::from_secs(4),
        "curl waited for 100 Continue: {took:?}"
    );
    assert_eq!(o.last_seen().unwrap().body_len, TWO_MIB);
}

#[test]
fn head_response_has_no_body() {
    let (_o, _p, fe) = setup();
    let mut c = Conn::connect(fe);
    let r = c.request("HEAD", "/size/1000", &[], b"").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("1000"));
    assert!(r.body.is_empty());
    // Had any body byte followed, this response would not parse.
    let r = c.get("/after-head").unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-target"), Some("/after-head"));
}

#[test]
fn no_content_and_not_modified_have_no_body() {
    let (_o, _p, fe) = setup();
    let mut c = Conn::connect(fe);
    for status in [204u16, 304] {
        let r = c.get(&format!("/status/{status}")).unwrap();
        assert_eq!(r.status, status);
        assert!(r.body.is_empty());
        assert!(r.header("transfer-encoding").is_none(), "{:?}", r.head);
        let r = c.get("/next").unwrap();
        assert_eq!(
            r.header("x-target"),
            Some("/next"),
            "connection still in sync after {status}"
        );
    }
}

/// An HTTP/1 origin that answers every request with `103 Early Hints` then `200`,
/// the final head `gap` after the interim one (zero: both in one write).
fn early_hints_origin(gap: Duration) -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    thread::spawn(move || {
        for c in l.incoming().take(8) {
            let Ok(mut c) = c else { return };
            thread::spawn(move || {
                use std::io::Read;
                let mut head = Vec::new();
                let mut b = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match c.read(&mut b) {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&b[..n]),
                    }
                }
                let interim = "HTTP/1.1 103 Early Hints\r\nlink: </s.css>; rel=preload\r\n\r\n";
                let last = "HTTP/1.1 200 OK\r\nx-final: yes\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
                if gap.is_zero() {
                    let _ = c.write_all(format!("{interim}{last}").as_bytes());
                } else {
                    let _ = c.write_all(interim.as_bytes());
                    thread::sleep(gap);
                    let _ = c.write_all(last.as_bytes());
                }
            });
        }
    });
    addr
}

#[test]
fn early_hints_from_h1_server_reach_h1_and_h2_clients_before_the_final_response() {
    if !have_curl() {
        return;
    }
    // Together: the final head is read while the 103 is still in the stream's pipe;
    // apart: the 103 has been relayed before the final head arrives.
    // (An HTTP/1 client too: the server's FIN right behind the final head once cost
    // a 502 when the 103 was parsed first.)
    for gap in [Duration::ZERO, Duration::from_millis(150)] {
        for (flag, v) in [("--http2-prior-knowledge", "2"), ("--http1.1", "1.1")] {
            let origin = early_hints_origin(gap);
            let (_p, port) = proxy_to(&origin);
            let url = format!("http://127.0.0.1:{port}/hints");
            let out = curl(&["-v", flag, &url]);
            assert_eq!(out.status, 0, "{}", out.stderr);
            assert_eq!(out.stdout_str(), "ok", "gap {gap:?} {flag}");
            let e = &out.stderr;
            let (i103, i200) = (
                e.find(&format!("< HTTP/{v} 103")),
                e.find(&format!("< HTTP/{v} 200")),
            );
            assert!(
                matches!((i103, i200), (Some(a), Some(b)) if a < b),
                "gap {gap:?}: 103 then 200 expected:\n{e}"
            );
            assert!(
                e.contains("< link: </s.css>; rel=preload"),
                "gap {gap:?}:\n{e}"
            );
            assert!(e.contains("< x-final: yes"), "gap {gap:?}:\n{e}");
        }
    }
}
