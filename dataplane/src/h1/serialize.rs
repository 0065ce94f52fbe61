//! Serialisation of request and response heads into a reusable byte vector.
//!
//! Invariant: output is canonical HTTP/1.1 syntax (single spaces, `name: value` with one
//! space, CRLF everywhere), built only from validated parts, so it re-parses to the same
//! head; nothing is allocated once `out` has grown to the largest head.

use super::head::{RequestHead, ResponseHead};
use super::headers::HeaderList;

fn write_fields(headers: &HeaderList, out: &mut Vec<u8>) {
    for (name, value) in headers.iter() {
        out.extend_from_slice(name);
        out.extend_from_slice(b": ");
        out.extend_from_slice(value);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Appends the request head (request line, fields, empty line) to `out`.
pub fn write_request(head: &RequestHead, out: &mut Vec<u8>) {
    out.reserve(head.method().len() + head.target().len() + 13 + head.headers.wire_len());
    out.extend_from_slice(head.method());
    out.push(b' ');
    out.extend_from_slice(head.target());
    out.push(b' ');
    out.extend_from_slice(head.version.as_bytes());
    out.extend_from_slice(b"\r\n");
    write_fields(&head.headers, out);
}

/// Bytes [`write_response`] appends for `head`, without writing them.
pub fn response_wire_len(head: &ResponseHead) -> usize {
    // "HTTP/1.x" " NNN " reason CRLF, the fields, CRLF.
    8 + 5 + head.reason().len() + 2 + head.headers.wire_len() + 2
}

/// Appends the response head (status line, fields, empty line) to `out`. The status
/// line always has the SP before the (possibly empty) reason, as RFC 9112 §4 wants.
pub fn write_response(head: &ResponseHead, out: &mut Vec<u8>) {
    out.reserve(response_wire_len(head));
    out.extend_from_slice(head.version.as_bytes());
    let s = head.status();
    out.extend_from_slice(&[
        b' ',
        b'0' + (s / 100 % 10) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
        b' ',
    ]);
    out.extend_from_slice(head.reason());
    out.extend_from_slice(b"\r\n");
    write_fields(&head.headers, out);
}

#[cfg(test)]
mod tests {
    use super::super::Version;
    use super::*;

    #[test]
    fn request_bytes() {
        let mut r = RequestHead::new();
        r.set_method(b"GET").unwrap();
        r.set_target(b"/x?y").unwrap();
        r.headers.append(b"Host", b"a").unwrap();
        r.headers.append(b"X-Empty", b"").unwrap();
        let mut out = Vec::new();
        write_request(&r, &mut out);
        assert_eq!(out, b"GET /x?y HTTP/1.1\r\nHost: a\r\nX-Empty: \r\n\r\n");
    }

    #[test]
    fn response_bytes() {
        let mut r = ResponseHead::new();
        r.version = Version::Http10;
        r.set_status(204, Some(b"")).unwrap();
        let mut out = b"prefix".to_vec();
        write_response(&r, &mut out);
        assert_eq!(out, b"prefixHTTP/1.0 204 \r\n\r\n");
        assert_eq!(response_wire_len(&r), out.len() - 6);
    }

    #[test]
    fn response_length_without_writing() {
        let mut r = ResponseHead::new();
        r.set_status(200, Some(b"OK")).unwrap();
        r.headers.append(b"Content-Length", b"6").unwrap();
        r.headers.append(b"X-Empty", b"").unwrap();
        let mut out = Vec::new();
        write_response(&r, &mut out);
        assert_eq!(
            out,
            b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Empty: \r\n\r\n".as_slice()
        );
        assert_eq!(response_wire_len(&r), out.len());
    }
}
