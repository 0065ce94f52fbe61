//! Benchmark support for sluice: sample inputs shared by the criterion benches in `benches/`.
//!
//! Invariant: samples are realistic and valid (each bench asserts it parses), so a
//! benchmark never measures an error path by accident.

/// A typical browser navigation request: 10 header fields, about 500 bytes.
pub const BROWSER_REQUEST: &[u8] =
    b"GET /articles/2024/rust-proxies?page=2&sort=recent HTTP/1.1\r\n\
Host: www.example.com\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Accept-Language: en-US,en;q=0.5\r\n\
Accept-Encoding: gzip, deflate, br\r\n\
Referer: https://www.example.com/articles/2024\r\n\
Connection: keep-alive\r\n\
Cookie: session=7f3a9c2e1b4d; theme=dark; consent=yes\r\n\
Upgrade-Insecure-Requests: 1\r\n\
Sec-Fetch-Dest: document\r\n\
\r\n";

/// A typical response head from an origin server (HTML page, content-length framed).
pub const TYPICAL_RESPONSE_HEAD: &[u8] = b"HTTP/1.1 200 OK\r\n\
Date: Mon, 27 May 2024 10:15:30 GMT\r\n\
Server: nginx/1.24.0\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Length: 15320\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=600, public\r\n\
ETag: \"66544b2a-3bd8\"\r\n\
Last-Modified: Mon, 27 May 2024 08:00:10 GMT\r\n\
Vary: Accept-Encoding\r\n\
\r\n";

/// A chunked body of `total` bytes sent in chunks of `chunk` bytes, then the last chunk
/// with no trailer. Returns the wire bytes.
pub fn chunked_body(total: usize, chunk: usize) -> Vec<u8> {
    let mut wire = Vec::with_capacity(total + total / chunk.max(1) * 8 + 8);
    let mut left = total;
    let mut i = 0u8;
    while left > 0 {
        let n = left.min(chunk);
        wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        wire.extend((0..n).map(|j| b'a' + ((j as u8).wrapping_add(i)) % 26));
        wire.extend_from_slice(b"\r\n");
        left -= n;
        i = i.wrapping_add(1);
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    wire
}

#[cfg(test)]
mod tests {
    use super::*;
    use dataplane::h1::{
        parse_request, parse_response, BodyDecoder, BodyKind, BodyStep, Limits, Method, Parsed,
        RequestHead, ResponseHead,
    };

    #[test]
    fn samples_are_valid() {
        let limits = Limits::default();
        let mut req = RequestHead::new();
        let r = parse_request(BROWSER_REQUEST, &limits, &mut req).unwrap();
        assert_eq!(
            r,
            Parsed::Complete {
                head_len: BROWSER_REQUEST.len()
            }
        );
        assert_eq!(req.headers.len(), 10);
        assert!((450..=600).contains(&BROWSER_REQUEST.len()));
        let mut resp = ResponseHead::new();
        parse_response(TYPICAL_RESPONSE_HEAD, &limits, Method::Get, &mut resp).unwrap();
        assert_eq!(resp.body_kind(), BodyKind::Length(15320));

        let wire = chunked_body(65536, 4096);
        let mut dec = BodyDecoder::response(BodyKind::Chunked, &limits);
        let (mut pos, mut total) = (0, 0);
        loop {
            let d = dec.decode(&wire[pos..]).unwrap();
            match d.step {
                BodyStep::Data { start, end } => total += end - start,
                BodyStep::End => break,
                _ => {}
            }
            pos += d.consumed;
        }
        assert_eq!(total, 65536);
    }
}
