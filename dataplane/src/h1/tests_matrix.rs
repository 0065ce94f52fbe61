//! The smuggling / malformed-input matrix: one table of inputs and the exact outcome
//! each must have (framing, or error kind + status + offset where it matters).
//!
//! Choices recorded here (see the report in the module docs of `parse.rs`/`errors.rs`):
//! - identical duplicate Content-Length values are rejected like differing ones (RFC
//!   9110 §8.6 allows either; rejecting leaves no room for a parser differential);
//! - too many fields answers 400, as HAProxy does (`tune.http.maxhdr` doc);
//! - a transfer coding other than `chunked` before `chunked` answers 501 on requests
//!   (RFC 9112 §6.1 SHOULD; HAProxy says 422), and any non-`chunked` response framing
//!   is a 502 (HAProxy refuses it rather than read until close).

use super::tests::resp;
use super::*;
use ErrorKind as K;

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Want {
    Ok(BodyKind),
    Err(ErrorKind, u16),
    /// Error with an exact offset.
    ErrAt(ErrorKind, u16, usize),
}

pub(super) fn outcome_req(raw: &[u8], limits: &Limits) -> Option<Result<BodyKind, H1Error>> {
    let mut h = RequestHead::new();
    match parse_request(raw, limits, &mut h) {
        Ok(Parsed::Complete { .. }) => Some(Ok(h.body_kind())),
        Ok(Parsed::Partial) => None,
        Err(e) => Some(Err(e)),
    }
}

fn check(name: &str, got: Option<Result<BodyKind, H1Error>>, want: Want) {
    match (got, want) {
        (Some(Ok(kind)), Want::Ok(w)) => assert_eq!(kind, w, "{name}"),
        (Some(Err(e)), Want::Err(k, s)) => {
            assert_eq!((e.kind, e.status()), (k, s), "{name}: {e}")
        }
        (Some(Err(e)), Want::ErrAt(k, s, o)) => {
            assert_eq!((e.kind, e.status(), e.offset), (k, s, o), "{name}: {e}")
        }
        (got, want) => panic!("{name}: got {got:?}, want {want:?}"),
    }
}

/// `(name, request bytes, outcome)`, with the default limits.
pub(super) const REQUESTS: &[(&str, &[u8], Want)] = &[
    ("plain GET", b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", Want::Ok(BodyKind::None)),
    ("CL", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n", Want::Ok(BodyKind::Length(5))),
    ("TE chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", Want::Ok(BodyKind::Chunked)),
    ("TE case and spaces", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding:  ChUnKeD \r\n\r\n", Want::Ok(BodyKind::Chunked)),
    ("CL then TE", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", Want::Err(K::ContentLengthWithTransferEncoding, 400)),
    ("TE then CL", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", Want::Err(K::ContentLengthWithTransferEncoding, 400)),
    ("CL with TE identity", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: identity\r\n\r\n", Want::Err(K::ContentLengthWithTransferEncoding, 400)),
    ("two CL differing", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", Want::ErrAt(K::DuplicateContentLength, 400, 45)),
    ("two CL identical", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n", Want::Err(K::DuplicateContentLength, 400)),
    ("CL list identical", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", Want::Err(K::DuplicateContentLength, 400)),
    ("CL list differing", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5,6\r\n\r\n", Want::Err(K::DuplicateContentLength, 400)),
    ("CL not a number", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", Want::ErrAt(K::ContentLength, 400, 42)),
    ("CL negative", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n", Want::Err(K::ContentLength, 400)),
    ("CL plus sign", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n", Want::Err(K::ContentLength, 400)),
    ("CL hex", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", Want::Err(K::ContentLength, 400)),
    ("CL inner space", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 0\r\n\r\n", Want::Err(K::ContentLength, 400)),
    ("CL empty", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", Want::Err(K::ContentLength, 400)),
    ("CL overflow", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n", Want::Err(K::ContentLength, 400)),
    ("CL huge", b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9223372036854775807\r\n\r\n", Want::Err(K::ContentLength, 400)),
    ("TE not chunked", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", Want::Err(K::TransferEncoding, 400)),
    ("TE chunked not last", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", Want::Err(K::TransferEncoding, 400)),
    ("TE chunked not last, 2 fields", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", Want::Err(K::TransferEncoding, 400)),
    ("TE other coding first", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", Want::Err(K::UnsupportedTransferCoding, 501)),
    ("TE chunked twice", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", Want::Err(K::DuplicateChunked, 400)),
    ("TE chunked twice, 2 fields", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", Want::Err(K::DuplicateChunked, 400)),
    ("TE with parameter", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked;q=1\r\n\r\n", Want::Err(K::TransferEncoding, 400)),
    ("TE empty", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \r\n\r\n", Want::Err(K::TransferEncoding, 400)),
    ("TE lookalike", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n", Want::Err(K::TransferEncoding, 400)),
    ("TE quoted", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: \"chunked\"\r\n\r\n", Want::Err(K::TransferEncoding, 400)),
    ("TE in HTTP/1.0", b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", Want::Err(K::TransferEncodingHttp10, 400)),
    ("TE name with space", b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n", Want::ErrAt(K::HeaderName, 400, 43)),
    ("bare LF after request line", b"GET / HTTP/1.1\nHost: a\r\n\r\n", Want::ErrAt(K::BareLf, 400, 14)),
    ("bare LF after field", b"GET / HTTP/1.1\r\nHost: a\n\r\n", Want::ErrAt(K::BareLf, 400, 23)),
    ("bare LF ending head", b"GET / HTTP/1.1\r\nHost: a\r\n\n", Want::ErrAt(K::BareLf, 400, 25)),
    ("bare LF only lines", b"GET / HTTP/1.1\nHost: a\n\n", Want::Err(K::BareLf, 400)),
    ("bare CR in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", Want::ErrAt(K::BareCr, 400, 29)),
    ("bare CR in name", b"GET / HTTP/1.1\r\nHost: a\r\nX\r: a\r\n\r\n", Want::ErrAt(K::HeaderName, 400, 26)),
    ("CR in request line", b"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", Want::ErrAt(K::Target, 400, 5)),
    ("obs-fold", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", Want::ErrAt(K::ObsFold, 400, 31)),
    ("obs-fold tab", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n\tb\r\n\r\n", Want::Err(K::ObsFold, 400)),
    ("space after start line", b"GET / HTTP/1.1\r\n Host: a\r\n\r\n", Want::ErrAt(K::ObsFold, 400, 16)),
    ("NUL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n", Want::ErrAt(K::HeaderValue, 400, 29)),
    ("control in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x01\r\n\r\n", Want::Err(K::HeaderValue, 400)),
    ("DEL in value", b"GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n", Want::Err(K::HeaderValue, 400)),
    ("bad name char", b"GET / HTTP/1.1\r\nHost: a\r\nX(y: 1\r\n\r\n", Want::ErrAt(K::HeaderName, 400, 26)),
    ("non-ascii name", b"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: 1\r\n\r\n", Want::Err(K::HeaderName, 400)),
    ("space before colon", b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", Want::ErrAt(K::HeaderName, 400, 20)),
    ("tab before colon", b"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", Want::Err(K::HeaderName, 400)),
    ("no colon", b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n", Want::Err(K::MissingColon, 400)),
    ("empty name", b"GET / HTTP/1.1\r\nHost: a\r\n: v\r\n\r\n", Want::ErrAt(K::HeaderName, 400, 25)),
    ("bad method char", b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", Want::ErrAt(K::Method, 400, 1)),
    ("empty method", b" / HTTP/1.1\r\nHost: a\r\n\r\n", Want::ErrAt(K::Method, 400, 0)),
    ("binary garbage", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", Want::ErrAt(K::Method, 400, 0)),
    ("double space", b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", Want::ErrAt(K::Target, 400, 4)),
    ("trailing space", b"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", Want::Err(K::Version, 400)),
    ("HTTP/0.9", b"GET /\r\n\r\n", Want::Err(K::Version, 400)),
    ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", Want::ErrAt(K::Version, 400, 6)),
    ("lowercase version", b"GET / http/1.1\r\nHost: a\r\n\r\n", Want::Err(K::Version, 400)),
    ("version junk", b"GET / HTTP/1.1x\r\nHost: a\r\n\r\n", Want::Err(K::Version, 400)),
    ("fragment in target", b"GET /a#b HTTP/1.1\r\nHost: a\r\n\r\n", Want::ErrAt(K::Target, 400, 6)),
    ("non-ascii target", b"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", Want::ErrAt(K::Target, 400, 5)),
    ("relative target", b"GET a/b HTTP/1.1\r\nHost: a\r\n\r\n", Want::Err(K::Target, 400)),
    ("asterisk not OPTIONS", b"GET * HTTP/1.1\r\nHost: a\r\n\r\n", Want::Err(K::Target, 400)),
    ("CONNECT origin-form", b"CONNECT / HTTP/1.1\r\nHost: a\r\n\r\n", Want::Err(K::Target, 400)),
    ("CONNECT without port", b"CONNECT a.com HTTP/1.1\r\nHost: a.com\r\n\r\n", Want::Err(K::Target, 400)),
    ("userinfo in target", b"GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", Want::ErrAt(K::Target, 400, 12)),
    ("empty authority", b"GET http:/// HTTP/1.1\r\nHost: a\r\n\r\n", Want::Err(K::Target, 400)),
    ("bad port", b"GET http://a:8x/ HTTP/1.1\r\nHost: a\r\n\r\n", Want::Err(K::Target, 400)),
    ("host mismatch", b"GET http://a/ HTTP/1.1\r\nHost: b\r\n\r\n", Want::Err(K::HostMismatch, 400)),
    ("CONNECT host mismatch", b"CONNECT a:443 HTTP/1.1\r\nHost: b:443\r\n\r\n", Want::Err(K::HostMismatch, 400)),
    ("missing Host", b"GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", Want::ErrAt(K::MissingHost, 400, 29)),
    ("HTTP/1.0 without Host", b"GET / HTTP/1.0\r\n\r\n", Want::Ok(BodyKind::None)),
    ("two Host", b"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", Want::ErrAt(K::DuplicateHost, 400, 25)),
    ("two Host differing", b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", Want::Err(K::DuplicateHost, 400)),
    ("Host with space", b"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", Want::ErrAt(K::InvalidHost, 400, 23)),
    ("Host with userinfo", b"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", Want::Err(K::InvalidHost, 400)),
    ("Host with path", b"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", Want::Err(K::InvalidHost, 400)),
    ("Host bad port", b"GET / HTTP/1.1\r\nHost: a:x\r\n\r\n", Want::Err(K::InvalidHost, 400)),
    ("empty Host", b"GET / HTTP/1.1\r\nHost:\r\n\r\n", Want::Ok(BodyKind::None)),
];

#[test]
fn request_matrix() {
    for (name, raw, want) in REQUESTS {
        check(name, outcome_req(raw, &Limits::default()), *want);
    }
}

#[test]
fn limits_matrix() {
    let limits = Limits {
        max_head_bytes: 64,
        max_headers: 4,
    };
    let long_line = [
        b"GET /".as_slice(),
        &[b'a'; 70],
        b" HTTP/1.1\r\nHost: a\r\n\r\n",
    ]
    .concat();
    let long_line_partial = [b"GET /".as_slice(), &[b'a'; 70]].concat();
    let big_head = [
        b"GET / HTTP/1.1\r\nHost: a\r\nX: ".as_slice(),
        &[b'v'; 40],
        b"\r\n\r\n",
    ]
    .concat();
    let big_partial = [b"GET / HTTP/1.1\r\nHost: a\r\nX: ".as_slice(), &[b'v'; 40]].concat();
    let fits = [
        b"GET / HTTP/1.1\r\nHost: a\r\nX: ".as_slice(),
        &[b'v'; 32],
        b"\r\n\r\n",
    ]
    .concat();
    assert_eq!(fits.len(), 64);
    let three = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n\r\n";
    let four = b"GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
    let cases: Vec<(&str, &[u8], Want)> = vec![
        (
            "request line too long",
            &long_line,
            Want::ErrAt(K::UriTooLong, 414, 64),
        ),
        (
            "request line too long, partial",
            &long_line_partial,
            Want::ErrAt(K::UriTooLong, 414, 64),
        ),
        (
            "head too large",
            &big_head,
            Want::ErrAt(K::HeadTooLarge, 431, 64),
        ),
        (
            "head too large, partial",
            &big_partial,
            Want::ErrAt(K::HeadTooLarge, 431, 64),
        ),
        ("head exactly at limit", &fits, Want::Ok(BodyKind::None)),
        ("max_headers - 1 fields", three, Want::Ok(BodyKind::None)),
        (
            "max_headers fields",
            four,
            Want::ErrAt(K::TooManyHeaders, 400, 37),
        ),
    ];
    for (name, raw, want) in cases {
        check(name, outcome_req(raw, &limits), want);
    }
    // Responses: too large or too many headers is the server's fault: 502.
    let mut h = ResponseHead::new();
    let big = [
        b"HTTP/1.1 200 OK\r\nX: ".as_slice(),
        &[b'v'; 60],
        b"\r\n\r\n",
    ]
    .concat();
    let e = parse_response(&big, &limits, Method::Get, &mut h).unwrap_err();
    assert_eq!((e.kind, e.status()), (K::HeadTooLarge, 502));
    let many = b"HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
    let e = parse_response(many, &limits, Method::Get, &mut h).unwrap_err();
    assert_eq!((e.kind, e.status()), (K::TooManyHeaders, 502));
}

/// `(name, response bytes, request method, outcome)`.
pub(super) const RESPONSES: &[(&str, &[u8], Method, Want)] = &[
    (
        "CL and TE",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        Method::Get,
        Want::Err(K::ContentLengthWithTransferEncoding, 502),
    ),
    (
        "CL and TE on HEAD",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        Method::Head,
        Want::Err(K::ContentLengthWithTransferEncoding, 502),
    ),
    (
        "two CL",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        Method::Get,
        Want::Err(K::DuplicateContentLength, 502),
    ),
    (
        "two CL identical",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
        Method::Get,
        Want::Err(K::DuplicateContentLength, 502),
    ),
    (
        "CL garbage",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3a\r\n\r\n",
        Method::Get,
        Want::Err(K::ContentLength, 502),
    ),
    (
        "TE gzip",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        Method::Get,
        Want::Err(K::TransferEncoding, 502),
    ),
    (
        "TE gzip, chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        Method::Get,
        Want::Err(K::UnsupportedTransferCoding, 502),
    ),
    (
        "TE chunked twice",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
        Method::Get,
        Want::Err(K::DuplicateChunked, 502),
    ),
    (
        "TE in HTTP/1.0",
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        Method::Get,
        Want::Err(K::TransferEncodingHttp10, 502),
    ),
    (
        "bare LF",
        b"HTTP/1.1 200 OK\nContent-Length: 0\n\n",
        Method::Get,
        Want::ErrAt(K::BareLf, 502, 15),
    ),
    (
        "obs-fold",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        Method::Get,
        Want::Err(K::ObsFold, 502),
    ),
    (
        "NUL in value",
        b"HTTP/1.1 200 OK\r\nX: \0\r\n\r\n",
        Method::Get,
        Want::Err(K::HeaderValue, 502),
    ),
    (
        "space before colon",
        b"HTTP/1.1 200 OK\r\nContent-Length : 3\r\n\r\n",
        Method::Get,
        Want::Err(K::HeaderName, 502),
    ),
    (
        "status too short",
        b"HTTP/1.1 20 OK\r\n\r\n",
        Method::Get,
        Want::ErrAt(K::Status, 502, 9),
    ),
    (
        "status too long",
        b"HTTP/1.1 2000 OK\r\n\r\n",
        Method::Get,
        Want::ErrAt(K::Status, 502, 12),
    ),
    (
        "status below 100",
        b"HTTP/1.1 099 Low\r\n\r\n",
        Method::Get,
        Want::Err(K::Status, 502),
    ),
    (
        "status above 599",
        b"HTTP/1.1 600 High\r\n\r\n",
        Method::Get,
        Want::Err(K::Status, 502),
    ),
    (
        "status not digits",
        b"HTTP/1.1 abc OK\r\n\r\n",
        Method::Get,
        Want::Err(K::Status, 502),
    ),
    (
        "no status",
        b"HTTP/1.1\r\n\r\n",
        Method::Get,
        Want::Err(K::StartLine, 502),
    ),
    (
        "bad version",
        b"HTTP/2 200 OK\r\n\r\n",
        Method::Get,
        Want::ErrAt(K::Version, 502, 0),
    ),
    (
        "control in reason",
        b"HTTP/1.1 200 O\x01K\r\n\r\n",
        Method::Get,
        Want::ErrAt(K::Reason, 502, 14),
    ),
    (
        "valid chunked",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        Method::Get,
        Want::Ok(BodyKind::Chunked),
    ),
    (
        "valid until close",
        b"HTTP/1.1 200 OK\r\n\r\n",
        Method::Get,
        Want::Ok(BodyKind::UntilClose),
    ),
    (
        "duplicate Host is fine in responses",
        b"HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n",
        Method::Get,
        Want::Ok(BodyKind::None),
    ),
];

#[test]
fn response_matrix() {
    for (name, raw, method, want) in RESPONSES {
        let got = match resp(raw, *method) {
            Ok((h, _)) => Ok(h.body_kind()),
            Err(e) => Err(e),
        };
        check(name, Some(got), *want);
    }
}

/// `(name, chunked body bytes, error kind, offset in the last decode call's input)`.
pub(super) const CHUNKED_BODIES: &[(&str, &[u8], ErrorKind)] = &[
    ("size not hex", b"g\r\nabc\r\n0\r\n\r\n", K::ChunkSize),
    ("empty size", b"\r\n", K::ChunkSize),
    ("negative size", b"-1\r\n", K::ChunkSize),
    ("size overflow", b"fffffffffffffffff\r\n", K::ChunkSize),
    ("size 2^52", b"10000000000000\r\n", K::ChunkSize),
    (
        "space after size",
        b"3 \r\nabc\r\n0\r\n\r\n",
        K::ChunkExtension,
    ),
    ("bare LF after size", b"3\nabc\r\n0\r\n\r\n", K::BareLf),
    (
        "CR without LF after size",
        b"3\rabc\r\n0\r\n\r\n",
        K::ChunkExtension,
    ),
    (
        "bad extension",
        b"3;\r\nabc\r\n0\r\n\r\n",
        K::ChunkExtension,
    ),
    (
        "extension value missing",
        b"3;a=\r\nabc\r\n0\r\n\r\n",
        K::ChunkExtension,
    ),
    (
        "extension bad quote",
        b"3;a=\"x\r\nabc\r\n0\r\n\r\n",
        K::ChunkExtension,
    ),
    (
        "missing CRLF after data",
        b"3\r\nabcd\r\n0\r\n\r\n",
        K::ChunkDataCrlf,
    ),
    (
        "LF only after data",
        b"3\r\nabc\n0\r\n\r\n",
        K::ChunkDataCrlf,
    ),
    (
        "CR only after data",
        b"3\r\nabc\r0\r\n\r\n",
        K::ChunkDataCrlf,
    ),
    ("bare LF in trailers", b"0\r\nX: 1\n\r\n", K::BareLf),
    ("bare LF ending trailers", b"0\r\nX: 1\r\n\n", K::BareLf),
    (
        "obs-fold in trailers",
        b"0\r\nX: 1\r\n 2\r\n\r\n",
        K::Trailer,
    ),
    ("trailer without colon", b"0\r\nX\r\n\r\n", K::Trailer),
    ("NUL in trailer", b"0\r\nX: \0\r\n\r\n", K::Trailer),
    ("line too long", &[b'0'; 5000], K::ChunkLineTooLong),
];

/// Decodes a whole chunked body in one piece; the first error, or the data.
pub(super) fn decode_all(body: &[u8]) -> Result<Vec<u8>, H1Error> {
    let mut dec = BodyDecoder::request(BodyKind::Chunked, &Limits::default());
    let mut pos = 0;
    let mut data = Vec::new();
    loop {
        let d = dec.decode(&body[pos..])?;
        match d.step {
            BodyStep::Data { start, end } => data.extend_from_slice(&body[pos + start..pos + end]),
            BodyStep::End | BodyStep::NeedMore => return Ok(data),
            BodyStep::Trailers { .. } => {}
        }
        pos += d.consumed;
    }
}

#[test]
fn chunked_body_matrix() {
    for (name, body, kind) in CHUNKED_BODIES {
        let e = decode_all(body).expect_err(name);
        assert_eq!((e.kind, e.status()), (*kind, 400), "{name}: {e}");
        let mut dec = BodyDecoder::response(BodyKind::Chunked, &Limits::default());
        let mut pos = 0;
        let e = loop {
            match dec.decode(&body[pos..]) {
                Ok(d) if d.step == BodyStep::NeedMore || d.step == BodyStep::End => {
                    panic!("{name}: accepted")
                }
                Ok(d) => pos += d.consumed,
                Err(e) => break e,
            }
        };
        assert_eq!((e.kind, e.status()), (*kind, 502), "{name}");
    }
    assert_eq!(decode_all(b"3\r\nabc\r\n0\r\n\r\n").unwrap(), b"abc");
}
