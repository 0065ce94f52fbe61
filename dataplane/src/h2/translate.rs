//! Message translation between HTTP/2 (`http` types of the `h2` crate) and the
//! HTTP/1.1 bytes the transaction engine speaks, in both directions. A request can
//! also become a built HTTP/1.1 head ([`request_to_head`]): the same fields in the
//! same order as its text, through the same parser checks.
//!
//! Sans-IO. Invariants (RFC 9113 §8.2.2, §8.3.1):
//! - connection-specific fields (`Connection` and the fields it names,
//!   `Keep-Alive`, `Proxy-Connection`, `Transfer-Encoding`, `Upgrade`) never cross
//!   into HTTP/2; `TE` crosses only as `trailers`;
//! - `:authority` becomes `Host` (replacing any `Host` field) and `Host` becomes
//!   `:authority`; split `Cookie` fields are joined with `; ` for HTTP/1;
//! - a body of unknown length becomes chunked in HTTP/1 (trailers go in the chunked
//!   trailer section) and plain DATA frames in HTTP/2; a declared `Content-Length`
//!   is kept (h2 checks DATA against it, the H1 codec checks the bytes).

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::h1::{HeaderList, Limits, RequestHead, RequestParts, ResponseHead};

/// Fields that describe one HTTP/1 connection and have no meaning in HTTP/2.
const CONNECTION_SPECIFIC: [&[u8]; 5] = [
    b"connection",
    b"keep-alive",
    b"proxy-connection",
    b"transfer-encoding",
    b"upgrade",
];

/// Whether `name` is connection-specific: a fixed one, or one the message's own
/// `Connection` field lists (`has_connection`: the message has such a field, so
/// messages without one — all responses the session hands over — skip that scan).
fn is_connection_specific(name: &[u8], listed: &HeaderList, has_connection: bool) -> bool {
    CONNECTION_SPECIFIC
        .iter()
        .any(|c| c.len() == name.len() && name.eq_ignore_ascii_case(c))
        || (has_connection
            && listed
                .comma_values(b"connection")
                .any(|tok| tok.eq_ignore_ascii_case(name)))
}

/// Why a message cannot be translated.
#[derive(Debug, PartialEq, Eq)]
pub enum Reject {
    /// The request is malformed for HTTP/1 (answer 400).
    Malformed(&'static str),
    /// The header list is larger than the limit (answer 431).
    TooLarge,
    /// A feature sluice does not translate (answer 501).
    Unsupported(&'static str),
}

/// How the HTTP/1 body of a translated request is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length` as declared: body bytes go verbatim.
    Length,
    /// Chunked: each DATA frame becomes a chunk, trailers the trailer section.
    Chunked,
    /// A tunnel after a protocol switch (WebSocket over HTTP/2, RFC 8441): DATA
    /// goes verbatim both ways until either side ends.
    Tunnel,
}

fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// Write the HTTP/1.1 head of an HTTP/2 request. `end_stream`: the HEADERS frame
/// ended the stream (no body). `max_bytes` bounds the header list (RFC 9113 size:
/// name + value + 32 per field).
pub fn request_to_h1(
    parts: &http::request::Parts,
    end_stream: bool,
    max_bytes: usize,
    out: &mut Vec<u8>,
) -> Result<Framing, Reject> {
    check_list_size(parts, max_bytes)?;
    out.clear();
    if let Some(proto) = parts.extensions.get::<h2::ext::Protocol>() {
        return websocket_to_h1(parts, proto.as_str(), out);
    }
    let (target, authority) = h1_target(parts)?;
    out.extend_from_slice(parts.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let framing = h1_fields(parts, authority, end_stream, |n, v| push_field(out, n, v))?;
    out.extend_from_slice(b"\r\n");
    Ok(framing)
}

/// The head [`request_to_h1`] would write, built straight into `head` through the
/// HTTP/1 parser's own checks ([`RequestParts`]), without the text; with its framing
/// and the length its text would have. `Ok(None)`: a request this path leaves to the
/// text (extended CONNECT, or one the checks refuse): the caller writes it with
/// `request_to_h1` for the session's parser, which answers it with the exact error.
pub fn request_to_head(
    parts: &http::request::Parts,
    end_stream: bool,
    max_bytes: usize,
    limits: &Limits,
    head: &mut RequestHead,
) -> Result<Option<(Framing, usize)>, Reject> {
    check_list_size(parts, max_bytes)?;
    if parts.extensions.get::<h2::ext::Protocol>().is_some() {
        return Ok(None);
    }
    let (target, authority) = h1_target(parts)?;
    let method = parts.method.as_str().as_bytes();
    let Ok(mut built) = RequestParts::start(head, method, target.as_bytes()) else {
        return Ok(None);
    };
    let mut ok = true;
    let framing = h1_fields(parts, authority, end_stream, |n, v| {
        ok = ok && built.field(n, v).is_ok();
    })?;
    Ok(match ok.then(|| built.finish(limits)) {
        Some(Ok(len)) => Some((framing, len)),
        _ => None,
    })
}

/// Refuses a header list over `max_bytes` (RFC 9113 size: name + value + 32 each).
fn check_list_size(parts: &http::request::Parts, max_bytes: usize) -> Result<(), Reject> {
    let list_size: usize = parts
        .headers
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 32)
        .sum();
    if list_size > max_bytes {
        return Err(Reject::TooLarge);
    }
    Ok(())
}

/// The HTTP/1 request target (`:path`, or `:authority` for CONNECT) and the
/// `:authority`.
fn h1_target(parts: &http::request::Parts) -> Result<(&str, Option<&str>), Reject> {
    let authority = parts.uri.authority().map(|a| a.as_str());
    let target = if parts.method == http::Method::CONNECT {
        authority.ok_or(Reject::Malformed("CONNECT without :authority"))?
    } else {
        match parts.uri.path_and_query() {
            Some(pq) if !pq.as_str().is_empty() => pq.as_str(),
            _ => return Err(Reject::Malformed("missing :path")),
        }
    };
    Ok((target, authority))
}

/// The HTTP/1 fields of an HTTP/2 request, in order, to `f`: `host` from
/// `:authority`, the end-to-end fields (`TE` only as `trailers`), the `Cookie`
/// fields joined, and `transfer-encoding: chunked` for a body of unknown length.
/// Returns the body's framing.
fn h1_fields(
    parts: &http::request::Parts,
    authority: Option<&str>,
    end_stream: bool,
    mut f: impl FnMut(&[u8], &[u8]),
) -> Result<Framing, Reject> {
    match authority {
        Some(a) => f(b"host", a.as_bytes()),
        None => {
            if !parts.headers.contains_key(http::header::HOST) {
                return Err(Reject::Malformed("neither :authority nor host"));
            }
        }
    }
    let mut cookies: Option<Vec<u8>> = None;
    for (name, value) in parts.headers.iter() {
        let n = name.as_str().as_bytes();
        if (authority.is_some() && name == http::header::HOST) || CONNECTION_SPECIFIC.contains(&n) {
            continue;
        }
        if name == http::header::TE {
            if value.as_bytes().eq_ignore_ascii_case(b"trailers") {
                f(n, b"trailers");
            }
            continue;
        }
        if name == http::header::COOKIE {
            let c = cookies.get_or_insert_with(Vec::new);
            if !c.is_empty() {
                c.extend_from_slice(b"; ");
            }
            c.extend_from_slice(value.as_bytes());
            continue;
        }
        f(n, value.as_bytes());
    }
    if let Some(c) = cookies {
        f(b"cookie", &c);
    }
    Ok(
        if parts.headers.contains_key(http::header::CONTENT_LENGTH) {
            Framing::Length
        } else if end_stream {
            Framing::None
        } else {
            f(b"transfer-encoding", b"chunked");
            Framing::Chunked
        },
    )
}

/// RFC 8441: an extended CONNECT with `:protocol websocket` becomes an HTTP/1.1
/// Upgrade request (RFC 6455 §4.1) with a fresh `Sec-WebSocket-Key`; the server's
/// `101` becomes the stream's `200` and the bytes after it a tunnel.
fn websocket_to_h1(
    parts: &http::request::Parts,
    protocol: &str,
    out: &mut Vec<u8>,
) -> Result<Framing, Reject> {
    if !protocol.eq_ignore_ascii_case("websocket") {
        return Err(Reject::Unsupported(
            "extended CONNECT for a protocol other than websocket",
        ));
    }
    let authority = parts
        .uri
        .authority()
        .ok_or(Reject::Malformed("extended CONNECT without :authority"))?;
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .filter(|p| !p.is_empty())
        .ok_or(Reject::Malformed("extended CONNECT without :path"))?;
    out.extend_from_slice(b"GET ");
    out.extend_from_slice(path.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    push_field(out, b"host", authority.as_str().as_bytes());
    for (name, value) in parts.headers.iter() {
        let n = name.as_str().as_bytes();
        if name == http::header::HOST
            || CONNECTION_SPECIFIC.contains(&n)
            || name == http::header::TE
        {
            continue;
        }
        push_field(out, n, value.as_bytes());
    }
    push_field(out, b"connection", b"upgrade");
    push_field(out, b"upgrade", b"websocket");
    push_field(out, b"sec-websocket-key", &websocket_key());
    out.extend_from_slice(b"\r\n");
    Ok(Framing::Tunnel)
}

/// A `Sec-WebSocket-Key`: 16 bytes, base64 (a nonce, not a secret: RFC 6455 asks it
/// to be unpredictable per connection, not cryptographically strong).
fn websocket_key() -> [u8; 24] {
    use std::cell::Cell;
    use std::hash::{BuildHasher, Hasher};
    thread_local!(static SEQ: Cell<u64> = const { Cell::new(0) });
    let seq = SEQ.with(|s| {
        s.set(s.get() + 1);
        s.get()
    });
    let mut raw = [0u8; 16];
    for (i, half) in raw.chunks_mut(8).enumerate() {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(seq ^ crate::runtime::clock::precise_us() ^ i as u64);
        half.copy_from_slice(&h.finish().to_le_bytes());
    }
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = [b'='; 24];
    for (i, c) in raw.chunks(3).enumerate() {
        let n = c
            .iter()
            .enumerate()
            .fold(0u32, |a, (j, &b)| a | (b as u32) << (16 - 8 * j));
        for k in 0..=c.len() {
            out[i * 4 + k] = B64[(n >> (18 - 6 * k) & 63) as usize];
        }
    }
    out
}

/// Copy the end-to-end fields of an HTTP/1 head into an HTTP/2 header map.
fn fields_to_h2(
    fields: &HeaderList,
    map: &mut HeaderMap,
    skip_host: bool,
) -> Result<(), &'static str> {
    let has_connection = fields.contains(b"connection");
    map.reserve(fields.len());
    for (name, value) in fields.iter_shared() {
        if is_connection_specific(name, fields, has_connection)
            || (skip_host && name.eq_ignore_ascii_case(b"host"))
        {
            continue;
        }
        if name.eq_ignore_ascii_case(b"te") {
            if value.eq_ignore_ascii_case(b"trailers") {
                map.append(http::header::TE, HeaderValue::from_static("trailers"));
            }
            continue;
        }
        let n = HeaderName::from_bytes(name).map_err(|_| "invalid field name")?;
        let v = HeaderValue::from_maybe_shared(value).map_err(|_| "invalid field value")?;
        map.append(n, v);
    }
    Ok(())
}

/// The HTTP/2 response for an HTTP/1 response head.
pub fn response_to_h2(head: &ResponseHead) -> Result<http::Response<()>, &'static str> {
    let mut rsp = http::Response::new(());
    *rsp.status_mut() =
        http::StatusCode::from_u16(head.status()).map_err(|_| "invalid status code")?;
    fields_to_h2(&head.headers, rsp.headers_mut(), false)?;
    Ok(rsp)
}

/// The HTTP/2 request for an HTTP/1 request head (`scheme`: of the server
/// connection). The `Host` field becomes `:authority`.
pub fn request_to_h2(head: &RequestHead, scheme: &str) -> Result<http::Request<()>, &'static str> {
    let mut req = http::Request::new(());
    *req.method_mut() = http::Method::from_bytes(head.method()).map_err(|_| "invalid method")?;
    let uri = if req.method() == http::Method::CONNECT {
        http::Uri::builder().authority(head.target()).build()
    } else {
        let mut b = http::Uri::builder().scheme(scheme);
        if let Some(host) = head.authority().or_else(|| head.host()) {
            b = b.authority(host);
        }
        b.path_and_query(head.path_and_query()).build()
    };
    *req.uri_mut() = uri.map_err(|_| "invalid target or host")?;
    fields_to_h2(&head.headers, req.headers_mut(), true)?;
    Ok(req)
}

/// Write the HTTP/1.1 head of an HTTP/2 response. `bodyless`: the response has no
/// body by its status or the request method (HEAD); `end_stream`: the HEADERS frame
/// ended the stream. Returns whether the body is chunked.
pub fn response_to_h1(
    parts: &http::response::Parts,
    bodyless: bool,
    end_stream: bool,
    out: &mut Vec<u8>,
) -> Framing {
    out.clear();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(
        parts
            .status
            .canonical_reason()
            .unwrap_or("Unknown")
            .as_bytes(),
    );
    out.extend_from_slice(b"\r\n");
    for (name, value) in parts.headers.iter() {
        let n = name.as_str().as_bytes();
        if CONNECTION_SPECIFIC.contains(&n) {
            continue;
        }
        push_field(out, n, value.as_bytes());
    }
    let framing = if bodyless {
        Framing::None
    } else if parts.headers.contains_key(http::header::CONTENT_LENGTH) {
        Framing::Length
    } else if end_stream {
        push_field(out, b"content-length", b"0");
        Framing::None
    } else {
        push_field(out, b"transfer-encoding", b"chunked");
        Framing::Chunked
    };
    out.extend_from_slice(b"\r\n");
    framing
}

/// Parse an HTTP/1 trailer section (validated field lines, each ending with CRLF)
/// into an HTTP/2 header map, dropping fields HTTP/2 forbids.
pub fn trailers_to_h2(raw: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let name = &line[..colon];
        let value = line[colon + 1..].trim_ascii();
        if CONNECTION_SPECIFIC
            .iter()
            .any(|c| name.eq_ignore_ascii_case(c))
        {
            continue;
        }
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            map.append(n, v);
        }
    }
    map
}

/// Write HTTP/2 trailers as the end of a chunked body: `0`, the fields, the empty
/// line.
pub fn trailers_to_h1(map: Option<&HeaderMap>, out: &mut Vec<u8>) {
    out.extend_from_slice(b"0\r\n");
    if let Some(map) = map {
        for (name, value) in map.iter() {
            push_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

/// Frame one DATA payload for an HTTP/1 body.
pub fn data_to_h1(data: &Bytes, framing: Framing, out: &mut Vec<u8>) {
    // (`Length` and `Tunnel`: verbatim.)
    if framing == Framing::Chunked {
        if data.is_empty() {
            return;
        }
        out.extend_from_slice(crate::h1::chunk_header(data.len() as u64).as_bytes());
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    } else {
        out.extend_from_slice(data);
    }
}

#[cfg(test)]
#[path = "translate_head_tests.rs"]
mod head_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn req(b: http::request::Builder) -> http::request::Parts {
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn authority_becomes_host_cookies_join_and_te_is_filtered() {
        let p = req(http::Request::builder()
            .method("POST")
            .uri("https://example.com:8443/a?b=c")
            .header("host", "ignored")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .header("te", "trailers")
            .header("x-y", "z"));
        let mut out = vec![];
        let f = request_to_h1(&p, false, 65536, &mut out).unwrap();
        assert_eq!(f, Framing::Chunked);
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "POST /a?b=c HTTP/1.1\r\nhost: example.com:8443\r\nte: trailers\r\nx-y: z\r\n\
             cookie: a=1; b=2\r\ntransfer-encoding: chunked\r\n\r\n"
        );
    }

    #[test]
    fn extended_connect_websocket_becomes_an_upgrade() {
        let mut b = http::Request::builder()
            .method("CONNECT")
            .uri("https://ws.example:8443/chat?x=1")
            .header("sec-websocket-version", "13")
            .header("sec-websocket-protocol", "chat")
            .body(())
            .unwrap();
        b.extensions_mut()
            .insert(h2::ext::Protocol::from_static("websocket"));
        let p = b.into_parts().0;
        let mut out = vec![];
        assert_eq!(
            request_to_h1(&p, false, 65536, &mut out),
            Ok(Framing::Tunnel)
        );
        let s = String::from_utf8(out).unwrap();
        assert!(
            s.starts_with("GET /chat?x=1 HTTP/1.1\r\nhost: ws.example:8443\r\n"),
            "{s}"
        );
        assert!(
            s.contains("sec-websocket-version: 13\r\n")
                && s.contains("sec-websocket-protocol: chat\r\n")
        );
        assert!(s.contains("connection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: "));
        let key = s
            .split("sec-websocket-key: ")
            .nth(1)
            .unwrap()
            .split("\r\n")
            .next()
            .unwrap();
        assert_eq!(key.len(), 24);
        assert!(key.ends_with("=="), "{key}");
    }

    #[test]
    fn declared_length_is_kept_and_no_body_adds_nothing() {
        let p = req(http::Request::builder()
            .method("PUT")
            .uri("http://h/x")
            .header("content-length", "3"));
        let mut out = vec![];
        assert_eq!(
            request_to_h1(&p, false, 65536, &mut out),
            Ok(Framing::Length)
        );
        let p = req(http::Request::builder().uri("http://h/x"));
        assert_eq!(request_to_h1(&p, true, 65536, &mut out), Ok(Framing::None));
        assert_eq!(out, b"GET /x HTTP/1.1\r\nhost: h\r\n\r\n");
    }

    #[test]
    fn oversized_header_lists_are_refused() {
        let p = req(http::Request::builder()
            .uri("http://h/")
            .header("x-big", "a".repeat(2000)));
        assert_eq!(
            request_to_h1(&p, true, 1024, &mut vec![]),
            Err(Reject::TooLarge)
        );
    }

    #[test]
    fn h1_responses_lose_their_connection_fields() {
        let mut head = ResponseHead::new();
        let raw = b"HTTP/1.1 200 OK\r\nConnection: close, X-Hop\r\nX-Hop: 1\r\nKeep-Alive: t=5\r\n\
                    Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n\r\n";
        crate::h1::parse_response(raw, &Default::default(), crate::h1::Method::Get, &mut head)
            .unwrap();
        let r = response_to_h2(&head).unwrap();
        let names: Vec<_> = r.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type"]);
    }

    #[test]
    fn h1_requests_become_h2_with_authority() {
        let mut head = RequestHead::new();
        let raw = b"GET /p?q HTTP/1.1\r\nHost: origin:81\r\nTE: trailers\r\nConnection: keep-alive\r\n\r\n";
        crate::h1::parse_request(raw, &Default::default(), &mut head).unwrap();
        let r = request_to_h2(&head, "http").unwrap();
        assert_eq!(r.uri().to_string(), "http://origin:81/p?q");
        let names: Vec<_> = r.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["te"]);
    }

    #[test]
    fn h2_responses_frame_their_bodies_for_h1() {
        let (p, _) = http::Response::builder()
            .status(200)
            .body(())
            .unwrap()
            .into_parts();
        let mut out = vec![];
        assert_eq!(response_to_h1(&p, false, false, &mut out), Framing::Chunked);
        assert!(out.ends_with(b"transfer-encoding: chunked\r\n\r\n"));
        assert_eq!(response_to_h1(&p, false, true, &mut out), Framing::None);
        assert!(out.ends_with(b"content-length: 0\r\n\r\n"));
        let mut t = vec![];
        let mut map = HeaderMap::new();
        map.insert("grpc-status", HeaderValue::from_static("0"));
        trailers_to_h1(Some(&map), &mut t);
        assert_eq!(t, b"0\r\ngrpc-status: 0\r\n\r\n");
        let back = trailers_to_h2(b"grpc-status: 0\r\nX-A:  b \r\n");
        assert_eq!(back.get("grpc-status").unwrap(), "0");
        assert_eq!(back.get("x-a").unwrap(), "b");
    }
}
