//! Codec-level tests: parsing accessors, round trips (parse → serialise → parse),
//! edits, pipelining and response framing rules. The smuggling matrix lives in
//! `tests_matrix.rs`, split-input tests in `tests_stream.rs`.

use super::*;

pub(super) fn req(raw: &[u8]) -> Result<(RequestHead, usize), H1Error> {
    let mut h = RequestHead::new();
    match parse_request(raw, &Limits::default(), &mut h)? {
        Parsed::Complete { head_len } => Ok((h, head_len)),
        Parsed::Partial => panic!("partial: {:?}", String::from_utf8_lossy(raw)),
    }
}

pub(super) fn resp(raw: &[u8], method: Method) -> Result<(ResponseHead, usize), H1Error> {
    let mut h = ResponseHead::new();
    match parse_response(raw, &Limits::default(), method, &mut h)? {
        Parsed::Complete { head_len } => Ok((h, head_len)),
        Parsed::Partial => panic!("partial: {:?}", String::from_utf8_lossy(raw)),
    }
}

pub(super) fn same_request(a: &RequestHead, b: &RequestHead) -> bool {
    a.method() == b.method()
        && a.target() == b.target()
        && a.version == b.version
        && a.headers == b.headers
        && a.body_kind() == b.body_kind()
        && a.target_form() == b.target_form()
}

pub(super) fn same_response(a: &ResponseHead, b: &ResponseHead) -> bool {
    a.status() == b.status()
        && a.reason() == b.reason()
        && a.version == b.version
        && a.headers == b.headers
        && a.body_kind() == b.body_kind()
}

const BROWSER: &[u8] = b"GET /search?q=rust&lang=en HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Connection: keep-alive\r\n\
Cookie: session=abc123; theme=dark\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
Sec-Fetch-Mode: navigate\r\n\
\r\n";

#[test]
fn parses_a_browser_request() {
    let (h, len) = req(BROWSER).unwrap();
    assert_eq!(len, BROWSER.len());
    assert_eq!(h.method(), b"GET");
    assert_eq!(h.method_kind(), Method::Get);
    assert_eq!(h.path(), b"/search");
    assert_eq!(h.query(), Some(&b"q=rust&lang=en"[..]));
    assert_eq!(h.version, Version::Http11);
    assert_eq!(h.headers.len(), 10);
    assert_eq!(h.host(), Some(&b"www.example.com"[..]));
    assert_eq!(
        h.headers.get(b"cookie"),
        Some(&b"session=abc123; theme=dark"[..])
    );
    let enc: Vec<&[u8]> = h.headers.comma_values(b"accept-encoding").collect();
    assert_eq!(enc, vec![&b"gzip"[..], b"deflate", b"br"]);
    assert!(h.keep_alive());
    assert!(!h.expects_continue());
    assert_eq!(h.upgrade(), None);
    assert_eq!(h.body_kind(), BodyKind::None);
}

#[test]
fn values_are_trimmed_and_names_keep_case() {
    let (h, _) =
        req(b"GET / HTTP/1.1\r\nhOsT:a\r\nX-Pad: \t v a l \t\r\nX-Empty:\r\n\r\n").unwrap();
    assert_eq!(h.headers.name(0), b"hOsT");
    assert_eq!(h.headers.value(0), b"a");
    assert_eq!(h.headers.get(b"x-pad"), Some(&b"v a l"[..]));
    assert_eq!(h.headers.get(b"x-empty"), Some(&b""[..]));
}

#[test]
fn leading_empty_lines_are_skipped() {
    let raw = b"\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    let (h, len) = req(raw).unwrap();
    assert_eq!(len, raw.len());
    assert_eq!(h.target(), b"/");
}

#[test]
fn framing_of_requests() {
    let (h, _) = req(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 42\r\n\r\n").unwrap();
    assert_eq!(h.body_kind(), BodyKind::Length(42));
    let (h, _) = req(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n").unwrap();
    assert_eq!(h.body_kind(), BodyKind::None);
    let (h, _) = req(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n").unwrap();
    assert_eq!(h.body_kind(), BodyKind::Chunked);
    let (h, _) = req(b"CONNECT a.com:443 HTTP/1.1\r\nHost: a.com:443\r\n\r\n").unwrap();
    assert_eq!(
        (h.target_form(), h.body_kind()),
        (TargetForm::Authority, BodyKind::None)
    );
    assert_eq!(h.authority(), Some(&b"a.com:443"[..]));
    let (h, _) = req(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(h.target_form(), TargetForm::Asterisk);
    let (h, _) = req(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    assert_eq!(h.version, Version::Http10);
    assert!(!h.keep_alive());
    let (h, _) = req(b"GET / HTTP/1.2\r\nHost: a\r\n\r\n").unwrap();
    assert_eq!(h.version, Version::Http11);
}

#[test]
fn absolute_form_authority_wins() {
    let (h, _) = req(b"GET http://a.example/p?x HTTP/1.1\r\nHost: a.example\r\n\r\n").unwrap();
    assert_eq!(h.target_form(), TargetForm::Absolute);
    assert_eq!(h.host(), Some(&b"a.example"[..]));
    assert_eq!(h.path(), b"/p");
    // The default port may be spelled out on either side.
    assert!(req(b"GET http://a.example:80/ HTTP/1.1\r\nHost: A.example\r\n\r\n").is_ok());
    assert!(req(b"GET https://a.example/ HTTP/1.1\r\nHost: a.example:443\r\n\r\n").is_ok());
    assert!(req(b"GET http://a.example/ HTTP/1.0\r\n\r\n").is_ok());
    let e = req(b"GET http://a.example/ HTTP/1.1\r\nHost: b.example\r\n\r\n").unwrap_err();
    assert_eq!((e.kind, e.status()), (ErrorKind::HostMismatch, 400));
    let e = req(b"GET https://a.example/ HTTP/1.1\r\nHost: a.example:80\r\n\r\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::HostMismatch);
}

#[test]
fn expect_and_upgrade() {
    let (h, _) =
        req(b"PUT /f HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
            .unwrap();
    assert!(h.expects_continue());
    let (h, _) =
        req(b"GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
            .unwrap();
    assert_eq!(h.upgrade(), Some(&b"websocket"[..]));
}

#[test]
fn response_framing_rules() {
    use BodyKind::*;
    let cases: &[(&[u8], Method, BodyKind)] = &[
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            Method::Get,
            Length(5),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n",
            Method::Head,
            None,
        ),
        (b"HTTP/1.1 200 OK\r\n\r\n", Method::Get, UntilClose),
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::Post,
            Chunked,
        ),
        (b"HTTP/1.1 204 No Content\r\n\r\n", Method::Get, None),
        (
            b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n",
            Method::Get,
            None,
        ),
        (b"HTTP/1.1 100 Continue\r\n\r\n", Method::Put, None),
        (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
            Method::Get,
            Tunnel,
        ),
        (
            b"HTTP/1.1 200 Connection established\r\n\r\n",
            Method::Connect,
            Tunnel,
        ),
        (
            b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 2\r\n\r\n",
            Method::Connect,
            Length(2),
        ),
        (
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            Method::Get,
            None,
        ),
        (b"HTTP/1.0 200 OK\r\n\r\n", Method::Get, UntilClose),
    ];
    for (raw, method, want) in cases {
        let (h, len) = resp(raw, *method).unwrap();
        assert_eq!(len, raw.len());
        assert_eq!(h.body_kind(), *want, "{}", String::from_utf8_lossy(raw));
    }
    let (h, _) = resp(b"HTTP/1.1 200\r\n\r\n", Method::Get).unwrap();
    assert_eq!((h.status(), h.reason()), (200, &b""[..]));
    let (h, _) = resp(b"HTTP/1.1 100 Continue\r\n\r\n", Method::Get).unwrap();
    assert!(h.is_interim());
    let (h, _) = resp(
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\n",
        Method::Get,
    )
    .unwrap();
    assert!(!h.keep_alive());
}

#[test]
fn request_round_trips() {
    let inputs: &[&[u8]] = &[
        BROWSER,
        b"POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n",
        b"POST /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"GET http://h:8080/x HTTP/1.1\r\nHost: h:8080\r\nX:   spaced   \r\n\r\n",
        b"GET / HTTP/1.0\r\n\r\n",
        b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n",
        b"\r\nDELETE /r HTTP/1.1\r\nhost:x\r\nX-Obs: caf\xc3\xa9\r\n\r\n",
    ];
    let mut out = Vec::new();
    for raw in inputs {
        let (a, _) = req(raw).unwrap();
        out.clear();
        write_request(&a, &mut out);
        let (b, len) = req(&out).unwrap();
        assert_eq!(len, out.len());
        assert!(same_request(&a, &b), "{}", String::from_utf8_lossy(raw));
        // Serialising is idempotent.
        let mut again = Vec::new();
        write_request(&b, &mut again);
        assert_eq!(again, out);
    }
}

#[test]
fn response_round_trips() {
    let inputs: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 3\r\n\r\n",
        b"HTTP/1.0 404 Not Found\r\n\r\n",
        b"HTTP/1.1 200\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a=b\r\nSet-Cookie: c=d\r\n\r\n",
    ];
    let mut out = Vec::new();
    for raw in inputs {
        let (a, _) = resp(raw, Method::Get).unwrap();
        out.clear();
        write_response(&a, &mut out);
        let (b, _) = resp(&out, Method::Get).unwrap();
        assert!(same_response(&a, &b), "{}", String::from_utf8_lossy(raw));
    }
}

#[test]
fn edits_survive_serialisation() {
    let (mut h, _) = req(BROWSER).unwrap();
    h.headers.append(b"X-Forwarded-For", b"192.0.2.1").unwrap();
    h.headers.set(b"User-Agent", b"sluice-test").unwrap();
    h.headers.remove(b"cookie");
    let idx = h.headers.find_from(b"accept-language", 0).unwrap();
    h.headers.set_value(idx, b"fr").unwrap();
    h.set_path(b"/find").unwrap();
    h.set_method(b"POST").unwrap();
    let tokens = strip_hop_by_hop(&mut h.headers, HopByHop::default());
    assert!(tokens.keep_alive);
    let mut out = Vec::new();
    write_request(&h, &mut out);
    let (b, _) = req(&out).unwrap();
    assert_eq!(b.target(), b"/find?q=rust&lang=en");
    assert_eq!(b.method_kind(), Method::Post);
    assert_eq!(b.headers.get(b"x-forwarded-for"), Some(&b"192.0.2.1"[..]));
    assert_eq!(b.headers.get(b"user-agent"), Some(&b"sluice-test"[..]));
    assert_eq!(b.headers.get(b"accept-language"), Some(&b"fr"[..]));
    assert!(!b.headers.contains(b"cookie") && !b.headers.contains(b"connection"));
    assert_eq!(b.headers.name(b.headers.len() - 1), b"User-Agent");

    let (mut r, _) = resp(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", Method::Get).unwrap();
    r.set_status(503, None).unwrap();
    out.clear();
    write_response(&r, &mut out);
    assert!(out.starts_with(b"HTTP/1.1 503 Service Unavailable\r\n"));
}

#[test]
fn pipelined_requests_in_one_buffer() {
    let buf = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\
POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello\
POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
GET /4 HTTP/1.1\r\nHost: a\r\n\r\n";
    let limits = Limits::default();
    let mut head = RequestHead::new();
    let mut pos = 0;
    let mut seen = Vec::new();
    while pos < buf.len() {
        let Parsed::Complete { head_len } = parse_request(&buf[pos..], &limits, &mut head).unwrap()
        else {
            panic!("partial at {pos}");
        };
        pos += head_len;
        let mut dec = BodyDecoder::request(head.body_kind(), &limits);
        let mut body = Vec::new();
        loop {
            let d = dec.decode(&buf[pos..]).unwrap();
            match d.step {
                BodyStep::Data { start, end } => {
                    body.extend_from_slice(&buf[pos + start..pos + end])
                }
                BodyStep::End => {
                    pos += d.consumed;
                    break;
                }
                BodyStep::Trailers { .. } => {}
                BodyStep::NeedMore => panic!("need more"),
            }
            pos += d.consumed;
        }
        seen.push((head.target().to_vec(), body));
    }
    assert_eq!(
        seen,
        vec![
            (b"/1".to_vec(), vec![]),
            (b"/2".to_vec(), b"hello".to_vec()),
            (b"/3".to_vec(), b"abc".to_vec()),
            (b"/4".to_vec(), vec![]),
        ]
    );
}

#[test]
fn head_reuse_keeps_capacity_and_resets() {
    let limits = Limits::default();
    let mut h = RequestHead::new();
    parse_request(BROWSER, &limits, &mut h).unwrap();
    let cap = (h.target.capacity(), h.method.capacity());
    let small = b"GET / HTTP/1.0\r\n\r\n";
    parse_request(small, &limits, &mut h).unwrap();
    assert_eq!(h.headers.len(), 0);
    assert_eq!(h.target(), b"/");
    assert_eq!((h.target.capacity(), h.method.capacity()), cap);
}

#[test]
fn rechunking_a_body_for_the_other_side() {
    let limits = Limits::default();
    let body = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\n\r\n";
    let mut dec = BodyDecoder::response(BodyKind::Chunked, &limits);
    let mut enc = BodyEncoder::new(BodyKind::Chunked);
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let d = dec.decode(&body[pos..]).unwrap();
        match d.step {
            BodyStep::Data { start, end } => enc
                .write_data(&body[pos + start..pos + end], &mut out)
                .unwrap(),
            BodyStep::Trailers { start, end } => {
                enc.finish(&body[pos + start..pos + end], &mut out).unwrap()
            }
            BodyStep::End => {
                enc.finish(b"", &mut out).unwrap();
                break;
            }
            BodyStep::NeedMore => unreachable!(),
        }
        pos += d.consumed;
    }
    assert_eq!(
        out,
        b"4\r\nWiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\n\r\n"
    );
    // To an HTTP/1.0 peer the same body goes out counted, trailers dropped.
    let mut enc = BodyEncoder::new(BodyKind::Length(9));
    let mut out = Vec::new();
    enc.write_data(b"Wiki", &mut out).unwrap();
    enc.write_data(b"pedia", &mut out).unwrap();
    enc.finish(b"Expires: never\r\n", &mut out).unwrap();
    assert_eq!(out, b"Wikipedia");
}
