//! Request smuggling and malformed messages: every ambiguous or invalid request is
//! rejected before it reaches a server, and the connection is closed after it;
//! malformed responses become a 502.
//!
//! Cases marked `stricter` are where sluice is stricter than HAProxy 2.6 (which
//! accepts them, lawfully but riskily, or unlawfully by RFC 9112); they are skipped
//! when testing another binary.

mod common;

use common::{free_port, Behaviour, Conn, Origin, Proxy, HTTP_DEFAULTS};
use std::time::Duration;

struct Case {
    name: &'static str,
    request: &'static [u8],
    /// Acceptable statuses.
    status: &'static [u16],
    /// sluice is stricter than HAProxy 2.6 here.
    stricter: bool,
}

const fn case(name: &'static str, request: &'static [u8], status: &'static [u16]) -> Case {
    Case {
        name,
        request,
        status,
        stricter: false,
    }
}

const fn strict(name: &'static str, request: &'static [u8]) -> Case {
    Case {
        name,
        request,
        status: &[400],
        stricter: true,
    }
}

const REQUESTS: &[Case] = &[
    // sluice is stricter than HAProxy 2.6 here: HAProxy drops Content-Length and
    // forwards the body as chunked (RFC 9112 6.1 allows either; the design rejects).
    strict(
        "content-length with transfer-encoding",
        b"POST /cl-te HTTP/1.1\r\nhost: a\r\ncontent-length: 6\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\nG",
    ),
    strict(
        "transfer-encoding with content-length, reversed order",
        b"POST /te-cl HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\ncontent-length: 3\r\n\r\n0\r\n\r\n",
    ),
    case(
        "two different content-length",
        b"POST /cl-cl HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\ncontent-length: 6\r\n\r\nhello!",
        &[400],
    ),
    case(
        "content-length list with different values",
        b"POST /cl-list HTTP/1.1\r\nhost: a\r\ncontent-length: 5, 6\r\n\r\nhello!",
        &[400],
    ),
    case("non-numeric content-length", b"POST /cl-abc HTTP/1.1\r\nhost: a\r\ncontent-length: abc\r\n\r\n", &[400]),
    case("negative content-length", b"POST /cl-neg HTTP/1.1\r\nhost: a\r\ncontent-length: -1\r\n\r\n", &[400]),
    case("signed content-length", b"POST /cl-plus HTTP/1.1\r\nhost: a\r\ncontent-length: +5\r\n\r\nhello", &[400]),
    case(
        "transfer-encoding gzip (not ending in chunked)",
        b"POST /te-gzip HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip\r\n\r\n",
        &[400],
    ),
    case(
        "transfer-encoding chunked, gzip",
        b"POST /te-chunked-gzip HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        &[400],
    ),
    // HAProxy 2.6 answers 422 (an unsupported coding before chunked); 501 is RFC
    // 9112's suggestion for a coding not understood. Either rejects it.
    case(
        "transfer-encoding gzip, chunked",
        b"POST /te-gzip-chunked HTTP/1.1\r\nhost: a\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        &[422, 501],
    ),
    case(
        "transfer-encoding chunked, chunked",
        b"POST /te-cc HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
        &[400],
    ),
    case(
        "two transfer-encoding chunked headers",
        b"POST /te-te HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        &[400],
    ),
    case(
        "unknown transfer-encoding xchunked",
        b"POST /te-x HTTP/1.1\r\nhost: a\r\ntransfer-encoding: xchunked\r\n\r\n0\r\n\r\n",
        &[400],
    ),
    // sluice is stricter than HAProxy 2.6 here: RFC 9112 6.1 says an HTTP/1.0 message
    // with Transfer-Encoding has faulty framing; HAProxy forwards it as chunked.
    strict(
        "transfer-encoding in HTTP/1.0",
        b"POST /te-10 HTTP/1.0\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    // sluice is stricter than HAProxy 2.6 here: HAProxy accepts bare LF (RFC 9112 2.2
    // allows it; the design rejects it).
    strict("bare LF line endings", b"GET /bare-lf HTTP/1.1\nhost: a\n\n"),
    strict("bare LF after one header", b"GET /bare-lf2 HTTP/1.1\r\nhost: a\nx-a: b\r\n\r\n"),
    // sluice is stricter than HAProxy 2.6 here: HAProxy unfolds obs-fold into spaces.
    strict("obs-fold continuation line", b"GET /fold HTTP/1.1\r\nhost: a\r\nx-foo: a\r\n  b\r\n\r\n"),
    // sluice is stricter than HAProxy 2.6 here: HAProxy replaces NUL with a space.
    strict("NUL in a header value", b"GET /nul HTTP/1.1\r\nhost: a\r\nx-foo: a\x00b\r\n\r\n"),
    case("CR inside a header value", b"GET /cr HTTP/1.1\r\nhost: a\r\nx-foo: a\rb\r\n\r\n", &[400]),
    case(
        "invalid chunk size",
        b"POST /chunk-zz HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        &[400],
    ),
    case(
        "chunk size overflow",
        b"POST /chunk-ovf HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff1\r\nhello\r\n0\r\n\r\n",
        &[400],
    ),
    case(
        "chunk data longer than its size",
        b"POST /chunk-long HTTP/1.1\r\nhost: a\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        &[400],
    ),
    case("space before colon", b"GET /sp HTTP/1.1\r\nhost: a\r\nx-foo : b\r\n\r\n", &[400]),
    case(
        "space before colon in transfer-encoding",
        b"POST /sp-te HTTP/1.1\r\nhost: a\r\ntransfer-encoding : chunked\r\n\r\n0\r\n\r\n",
        &[400],
    ),
    case("empty header name", b"GET /empty-name HTTP/1.1\r\nhost: a\r\n: b\r\n\r\n", &[400]),
    case("header line starting with a space", b"GET /lead HTTP/1.1\r\n host: a\r\n\r\n", &[400]),
    // sluice is stricter than HAProxy 2.6 here: RFC 9112 3.2 requires a 400 for an
    // HTTP/1.1 request without Host; HAProxy forwards it.
    strict("missing Host in HTTP/1.1", b"GET /no-host HTTP/1.1\r\n\r\n"),
    case("two different Host headers", b"GET /two-hosts HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n", &[400]),
    // sluice is stricter than HAProxy 2.6 here: HAProxy merges identical Host headers;
    // RFC 9112 3.2 requires a 400 for more than one Host field line.
    strict("two identical Host headers", b"GET /two-same-hosts HTTP/1.1\r\nhost: a\r\nhost: a\r\n\r\n"),
    // sluice is stricter than HAProxy 2.6 here: a list is not a valid Host value.
    strict("Host with a list value", b"GET /host-list HTTP/1.1\r\nhost: a, b\r\n\r\n"),
    case("absolute URI disagreeing with Host", b"GET http://x/abs HTTP/1.1\r\nhost: y\r\n\r\n", &[400]),
    case("invalid method token", b"G(T /m HTTP/1.1\r\nhost: a\r\n\r\n", &[400]),
    case("invalid version", b"GET /v HTTP/1.x\r\nhost: a\r\n\r\n", &[400]),
    case("space inside the URI", b"GET /a b HTTP/1.1\r\nhost: a\r\n\r\n", &[400]),
    case("control character in the URI", b"GET /a\x01b HTTP/1.1\r\nhost: a\r\n\r\n", &[400]),
];

#[test]
fn malicious_requests_are_rejected_and_never_forwarded() {
    let o = Origin::start("s1");
    let fe = free_port();
    let _p = Proxy::start(&format!(
        "{HTTP_DEFAULTS}    timeout http-request 2s

frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    server s1 {}
",
        o.addr()
    ));
    // Control: a valid request does reach the origin, so "never seen" means something.
    assert_eq!(common::get(fe, "/control").status, 200);
    assert_eq!(o.requests(), 1);

    let mut failures = Vec::new();
    let mut tested = 0;
    for c in REQUESTS {
        if c.stricter && !common::is_sluice() {
            println!(
                "skipped: {} (sluice is stricter than HAProxy 2.6 here)",
                c.name
            );
            continue;
        }
        tested += 1;
        let mut conn = Conn::connect(fe);
        if conn.send(c.request).is_err() {
            failures.push(format!("{}: could not send", c.name));
            continue;
        }
        match conn.read_final("GET") {
            Ok(r) if c.status.contains(&r.status) => {
                if !conn.closed_within(Duration::from_secs(3)) {
                    failures.push(format!(
                        "{}: connection kept open after {}",
                        c.name, r.status
                    ));
                }
            }
            Ok(r) => failures.push(format!(
                "{}: got {} want {:?}",
                c.name, r.head.start, c.status
            )),
            Err(e) => failures.push(format!("{}: no response ({e})", c.name)),
        }
    }
    let leaked: Vec<String> = o.seen().iter().skip(1).map(|s| s.target.clone()).collect();
    assert!(
        failures.is_empty(),
        "{} of {tested} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(leaked.is_empty(), "requests reached the origin: {leaked:?}");
}

#[test]
fn bad_request_page_and_log_line() {
    let o = Origin::start("s1");
    let fe = free_port();
    let p = Proxy::start(&format!(
        "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    server s1 {}
",
        o.addr()
    ));
    let r = common::client::raw(
        fe,
        b"POST /x HTTP/1.1\r\nhost: a\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
    )
    .unwrap();
    assert_eq!(r.head.start, "HTTP/1.1 400 Bad request");
    assert_eq!(r.body_str(), "<html><body><h1>400 Bad request</h1>\nYour browser sent an invalid request.\n</body></html>\n");
    assert!(r.head.has_token("connection", "close"));
    let line = p.wait_log(&[" 400 ", "<BADREQ>"], Duration::from_secs(2));
    assert!(line.is_some(), "no log line:\n{}", p.output());
    assert!(line.unwrap().contains("fe/<NOSRV>"));
}

struct BadResponse {
    name: &'static str,
    response: &'static [u8],
    stricter: bool,
}

const fn bad(name: &'static str, response: &'static [u8]) -> BadResponse {
    BadResponse {
        name,
        response,
        stricter: false,
    }
}

const RESPONSES: &[BadResponse] = &[
    bad("garbage instead of a status line", b"hello world\r\n\r\n"),
    bad(
        "non-numeric status",
        b"HTTP/1.1 abc Broken\r\ncontent-length: 0\r\n\r\n",
    ),
    bad(
        "header line without a colon",
        b"HTTP/1.1 200 OK\r\nbad header line\r\ncontent-length: 0\r\n\r\n",
    ),
    bad(
        "two different content-length",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncontent-length: 3\r\n\r\nabc",
    ),
    bad(
        "non-numeric content-length",
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
    ),
    bad(
        "space before colon",
        b"HTTP/1.1 200 OK\r\ncontent-length : 2\r\n\r\nab",
    ),
    bad("closed mid-head", b"HTTP/1.1 200 OK\r\ncontent-le"),
    bad("empty response", b""),
    // sluice is stricter than HAProxy 2.6 here (HAProxy drops content-length and
    // forwards the body as chunked).
    BadResponse {
        name: "content-length with transfer-encoding",
        response:
            b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n",
        stricter: true,
    },
];

#[test]
fn malformed_responses_become_502() {
    let mut failures = Vec::new();
    for c in RESPONSES {
        if c.stricter && !common::is_sluice() {
            println!(
                "skipped: response {} (sluice is stricter than HAProxy 2.6 here)",
                c.name
            );
            continue;
        }
        let o = Origin::with_behaviour("bad", Behaviour::Raw(c.response.to_vec()));
        let fe = free_port();
        let p = Proxy::start(&format!(
            "{HTTP_DEFAULTS}
frontend fe
    bind 127.0.0.1:{fe}
    default_backend be

backend be
    server bad {}
",
            o.addr()
        ));
        let r = common::get(fe, "/bad");
        if r.status != 502 || !r.body_str().contains("<h1>502 Bad Gateway</h1>") {
            failures.push(format!(
                "{}: got {} {:?}",
                c.name,
                r.head.start,
                r.body_str()
            ));
        }
        if p.wait_log(&["/bad", " 502 "], Duration::from_secs(2))
            .is_none()
        {
            failures.push(format!("{}: no 502 log line:\n{}", c.name, p.output()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
