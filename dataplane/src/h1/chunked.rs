//! The chunked transfer coding's wire pieces (RFC 9112 §7.1): parsing a chunk-size line
//! (size, extensions, CRLF) and writing chunk headers, the last chunk and trailers.
//!
//! Invariants: a chunk-size line is accepted only if it matches the grammar exactly
//! (`1*HEXDIG *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] ) CRLF`),
//! the size stays below 2^52 like HAProxy (no float-precision surprises downstream), and
//! the line fits in [`MAX_CHUNK_LINE`] bytes. Extensions are validated then dropped: the
//! encoder always writes fresh, canonical chunk headers, so a quirk in how a peer wrote
//! its sizes can never reach the other side.

use super::errors::{ErrorKind as K, H1Error, Side};
use super::syntax::{is_tchar, quoted_string_len};

/// Longest chunk-size line accepted, extensions included.
pub(crate) const MAX_CHUNK_LINE: usize = 4096;

/// Sizes at or above this are refused (13 hex digits, HAProxy's bound).
const MAX_CHUNK_SIZE: u64 = 1 << 52;

/// The last chunk of a chunked body; trailer lines (if any) and [`TRAILERS_END`] follow.
pub const LAST_CHUNK: &[u8] = b"0\r\n";

/// The empty line ending a chunked body's trailer section.
pub const TRAILERS_END: &[u8] = b"\r\n";

/// The CRLF closing each chunk's data.
pub(crate) const CHUNK_DATA_END: &[u8] = b"\r\n";

/// Parses a chunk-size line at the start of `input` (`base` is its offset for errors).
/// `Ok(Some((size, line_len)))` when complete, `Ok(None)` when more bytes are needed.
pub(crate) fn parse_chunk_line(
    input: &[u8],
    base: usize,
    side: Side,
) -> Result<Option<(u64, usize)>, H1Error> {
    let window = &input[..input.len().min(MAX_CHUNK_LINE)];
    let Some(lf) = memchr::memchr(b'\n', window) else {
        if let Some(&c) = input.first() {
            if !c.is_ascii_hexdigit() {
                return Err(side.err(K::ChunkSize, base));
            }
        }
        if input.len() >= MAX_CHUNK_LINE {
            return Err(side.err(K::ChunkLineTooLong, base + MAX_CHUNK_LINE));
        }
        return Ok(None);
    };
    if lf == 0 || input[lf - 1] != b'\r' {
        return Err(side.err(K::BareLf, base + lf));
    }
    let line = &input[..lf - 1];
    let mut size: u64 = 0;
    let mut i = 0;
    while i < line.len() && line[i].is_ascii_hexdigit() {
        let d = (line[i] as char).to_digit(16).unwrap_or(0);
        size = (size << 4) | u64::from(d);
        if size >= MAX_CHUNK_SIZE {
            return Err(side.err(K::ChunkSize, base + i));
        }
        i += 1;
    }
    if i == 0 {
        return Err(side.err(K::ChunkSize, base));
    }
    check_extensions(&line[i..]).map_err(|o| side.err(K::ChunkExtension, base + i + o))?;
    Ok(Some((size, lf + 1)))
}

/// Validates `*( BWS ";" BWS name [ BWS "=" BWS value ] )`; `Err(offset)` of the
/// offending byte.
fn check_extensions(s: &[u8]) -> Result<(), usize> {
    let ws = |i: &mut usize| {
        while *i < s.len() && matches!(s[*i], b' ' | b'\t') {
            *i += 1;
        }
    };
    let token = |i: &mut usize| -> Result<(), usize> {
        let start = *i;
        while *i < s.len() && is_tchar(s[*i]) {
            *i += 1;
        }
        if *i == start {
            Err(start)
        } else {
            Ok(())
        }
    };
    let mut i = 0;
    loop {
        ws(&mut i);
        if i == s.len() {
            // Whitespace after the size with no extension is not in the grammar.
            return if i == 0 || s[i - 1] == b';' || !matches!(s[i - 1], b' ' | b'\t') {
                Ok(())
            } else {
                Err(i - 1)
            };
        }
        if s[i] != b';' {
            return Err(i);
        }
        i += 1;
        ws(&mut i);
        token(&mut i)?;
        let save = i;
        ws(&mut i);
        if i < s.len() && s[i] == b'=' {
            i += 1;
            ws(&mut i);
            if i < s.len() && s[i] == b'"' {
                i += quoted_string_len(&s[i..]).ok_or(i)?;
            } else {
                token(&mut i)?;
            }
        } else {
            i = save;
        }
    }
}

/// A chunk-size line ready to send: hex size and CRLF, on the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkHeader {
    buf: [u8; 18],
    len: u8,
}

impl ChunkHeader {
    /// An empty header (for zero-length data, which must not be sent as a chunk).
    pub(crate) const EMPTY: ChunkHeader = ChunkHeader {
        buf: [0; 18],
        len: 0,
    };

    /// The bytes to send.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len as usize]
    }
}

/// The chunk header for `size` bytes of data (`size` must not be 0: that would end the
/// body; use [`LAST_CHUNK`]).
pub fn chunk_header(size: u64) -> ChunkHeader {
    debug_assert!(size > 0);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 18];
    let digits = (64 - size.leading_zeros() as usize).div_ceil(4).max(1);
    for (d, slot) in buf[..digits].iter_mut().enumerate() {
        let shift = 4 * (digits - 1 - d);
        *slot = HEX[((size >> shift) & 0xf) as usize];
    }
    buf[digits] = b'\r';
    buf[digits + 1] = b'\n';
    ChunkHeader {
        buf,
        len: (digits + 2) as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &[u8]) -> Result<Option<(u64, usize)>, H1Error> {
        parse_chunk_line(s, 0, Side::Request)
    }

    #[test]
    fn sizes() {
        assert_eq!(line(b"0\r\n"), Ok(Some((0, 3))));
        assert_eq!(line(b"1a\r\nxx"), Ok(Some((26, 4))));
        assert_eq!(line(b"FFff\r\n"), Ok(Some((0xffff, 6))));
        assert_eq!(line(b"000000000000000000001\r\n"), Ok(Some((1, 23))));
        assert_eq!(line(b"fffffffffffff\r\n"), Ok(Some(((1 << 52) - 1, 15))));
        assert_eq!(line(b"10000000000000\r\n").unwrap_err().kind, K::ChunkSize);
        assert_eq!(line(b"1a"), Ok(None));
        assert_eq!(line(b""), Ok(None));
        assert_eq!(line(b"x").unwrap_err().kind, K::ChunkSize);
        assert_eq!(line(b"\r\n").unwrap_err().kind, K::ChunkSize);
        assert_eq!(line(b"-1\r\n").unwrap_err().kind, K::ChunkSize);
        assert_eq!(line(b"0x1\r\n").unwrap_err().kind, K::ChunkExtension);
        assert_eq!(line(b"1\n").unwrap_err().kind, K::BareLf);
        assert_eq!(line(b"1 \r\n").unwrap_err().kind, K::ChunkExtension);
        let e = line(b"1\rx\r\n").unwrap_err();
        assert_eq!((e.kind, e.offset), (K::ChunkExtension, 1));
        let long = vec![b'1'; MAX_CHUNK_LINE];
        assert_eq!(line(&long).unwrap_err().kind, K::ChunkLineTooLong);
    }

    #[test]
    fn extensions() {
        assert_eq!(line(b"5;name\r\n"), Ok(Some((5, 8))));
        assert_eq!(
            line(b"5 ; a=b ;c = \"q;\\\"x\"\r\n").map(|o| o.map(|x| x.0)),
            Ok(Some(5))
        );
        assert_eq!(line(b"5;\r\n").unwrap_err().kind, K::ChunkExtension);
        assert_eq!(line(b"5;a=\r\n").unwrap_err().kind, K::ChunkExtension);
        assert_eq!(
            line(b"5;a=\"unterminated\r\n").unwrap_err().kind,
            K::ChunkExtension
        );
        assert_eq!(line(b"5;a b\r\n").unwrap_err().kind, K::ChunkExtension);
        assert_eq!(line(b"5;a\0\r\n").unwrap_err().kind, K::ChunkExtension);
        assert_eq!(line(b"5,a\r\n").unwrap_err().kind, K::ChunkExtension);
    }

    #[test]
    fn headers_written() {
        assert_eq!(chunk_header(1).as_bytes(), b"1\r\n");
        assert_eq!(chunk_header(4096).as_bytes(), b"1000\r\n");
        assert_eq!(chunk_header(0xabc).as_bytes(), b"abc\r\n");
        assert_eq!(chunk_header(u64::MAX).as_bytes(), b"ffffffffffffffff\r\n");
        assert_eq!(ChunkHeader::EMPTY.as_bytes(), b"");
        for n in [1u64, 15, 16, 255, 256, 65535, 1 << 40] {
            let h = chunk_header(n);
            assert_eq!(line(h.as_bytes()), Ok(Some((n, h.as_bytes().len()))));
        }
    }
}
