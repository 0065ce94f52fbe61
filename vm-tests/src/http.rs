//! The minimal HTTP/1.1 the helper binaries speak: read a message head, read a body
//! (content-length, chunked or until close) into a checksum, write pattern bodies.
//!
//! Owns: no state; functions over `BufRead`/`Write`. Invariant: bodies are streamed
//! through [`Sum`] (only a short prefix is kept), so 10 MB bodies cost no memory.
//! This is a test tool, not a validating parser: it trusts well-formed input.

use crate::pattern::{self, Sum};
use std::io::{self, BufRead, Write};

/// How much of a body is kept verbatim (the rest is only checksummed).
pub const KEEP: usize = 4096;

/// A request or response head.
#[derive(Clone, Debug, Default)]
pub struct Head {
    /// The request line or status line.
    pub start: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")
            .and_then(|v| v.trim().parse().ok())
    }

    pub fn chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }

    /// True when the message asks for the connection to be closed.
    pub fn close(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.to_ascii_lowercase().contains("close"))
    }
}

/// Reads a head; `Ok(None)` on a clean end of stream before its first byte.
pub fn read_head(r: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut head = Head::default();
    let mut line = String::new();
    loop {
        line.clear();
        let n = r.read_line(&mut line)?;
        if n == 0 {
            if head.start.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "end of stream inside a head",
            ));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if head.start.is_empty() {
            if l.is_empty() {
                continue; // tolerate a stray CRLF between messages
            }
            head.start = l.to_string();
        } else if l.is_empty() {
            return Ok(Some(head));
        } else if let Some((n, v)) = l.split_once(':') {
            head.headers
                .push((n.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// How a body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    None,
    Length(u64),
    Chunked,
    UntilClose,
}

/// Reads a body framed by `framing`, passing every byte to `sink`.
pub fn read_body(
    r: &mut impl BufRead,
    framing: Framing,
    sink: &mut dyn FnMut(&[u8]),
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    match framing {
        Framing::None => Ok(()),
        Framing::Length(mut left) => {
            while left > 0 {
                let k = (left as usize).min(buf.len());
                let n = r.read(&mut buf[..k])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("body ended {left} bytes early"),
                    ));
                }
                sink(&buf[..n]);
                left -= n as u64;
            }
            Ok(())
        }
        Framing::UntilClose => loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(());
            }
            sink(&buf[..n]);
        },
        Framing::Chunked => {
            let mut line = String::new();
            loop {
                line.clear();
                r.read_line(&mut line)?;
                let size = line.trim().split(';').next().unwrap_or("");
                let size = u64::from_str_radix(size.trim(), 16).map_err(|_| {
                    io::Error::new(io::ErrorKind::InvalidData, format!("chunk size {line:?}"))
                })?;
                if size == 0 {
                    // Trailers, up to the empty line.
                    loop {
                        line.clear();
                        if r.read_line(&mut line)? == 0 || line.trim().is_empty() {
                            return Ok(());
                        }
                    }
                }
                read_body(r, Framing::Length(size), sink)?;
                line.clear();
                r.read_line(&mut line)?; // CRLF after the chunk
            }
        }
    }
}

/// A body seen through its checksum and first [`KEEP`] bytes.
#[derive(Clone, Debug, Default)]
pub struct Body {
    pub sum: Sum,
    pub prefix: Vec<u8>,
}

impl Body {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.prefix).trim().to_string()
    }
}

/// Reads a body into a [`Body`].
pub fn read_body_sum(r: &mut impl BufRead, framing: Framing) -> io::Result<Body> {
    let mut b = Body::default();
    read_body(r, framing, &mut |d| {
        b.sum.update(d);
        if b.prefix.len() < KEEP {
            let k = (KEEP - b.prefix.len()).min(d.len());
            b.prefix.extend_from_slice(&d[..k]);
        }
    })?;
    Ok(b)
}

/// A response as a client saw it.
#[derive(Clone, Debug)]
pub struct Response {
    pub status: u16,
    pub head: Head,
    pub body: Body,
}

/// Reads a final response (skipping 1xx) to a request of `method`.
pub fn read_response(r: &mut impl BufRead, method: &str) -> io::Result<Response> {
    loop {
        let head = read_head(r)?.ok_or_else(|| {
            io::Error::new(io::ErrorKind::UnexpectedEof, "closed before a response")
        })?;
        let status: u16 = head
            .start
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("status line {:?}", head.start),
                )
            })?;
        if (100..200).contains(&status) && status != 101 {
            continue;
        }
        let framing = if method == "HEAD" || status == 204 || status == 304 {
            Framing::None
        } else if head.chunked() {
            Framing::Chunked
        } else if let Some(n) = head.content_length() {
            Framing::Length(n)
        } else {
            Framing::UntilClose
        };
        let body = read_body_sum(r, framing)?;
        return Ok(Response { status, head, body });
    }
}

/// Writes `n` pattern bytes.
pub fn write_pattern(w: &mut impl Write, n: u64) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0;
    while off < n {
        let k = (n - off).min(buf.len() as u64) as usize;
        pattern::fill(off, &mut buf[..k]);
        w.write_all(&buf[..k])?;
        off += k as u64;
    }
    Ok(())
}
