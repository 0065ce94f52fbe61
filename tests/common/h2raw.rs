//! A tiny hand-rolled HTTP/2 frame toolkit for adversarial tests (RFC 9113 §4, §6;
//! RFC 7541 for the header blocks). It writes frames no well-behaved library would
//! send (floods, uppercase names, oversized header lists) and reads back what the
//! proxy answers: GOAWAY, RST_STREAM and the `:status` of response HEADERS.
//!
//! Header blocks use only the HPACK static table and literals without indexing, so
//! no dynamic table is involved on our side. Connections announce
//! `SETTINGS_HEADER_TABLE_SIZE = 0` so the peer's encoder cannot reference its own
//! dynamic table either, which keeps the decoder here a few lines long.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Frame types.
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const PRIORITY: u8 = 0x2;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PUSH_PROMISE: u8 = 0x5;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const WINDOW_UPDATE: u8 = 0x8;
pub const CONTINUATION: u8 = 0x9;

/// Frame flags.
pub const END_STREAM: u8 = 0x1;
pub const ACK: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// Error codes (RFC 9113 §7).
pub const NO_ERROR: u32 = 0x0;
pub const PROTOCOL_ERROR: u32 = 0x1;
pub const INTERNAL_ERROR: u32 = 0x2;
pub const FLOW_CONTROL_ERROR: u32 = 0x3;
pub const STREAM_CLOSED: u32 = 0x5;
pub const FRAME_SIZE_ERROR: u32 = 0x6;
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const COMPRESSION_ERROR: u32 = 0x9;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// Settings identifiers.
pub const SETTINGS_HEADER_TABLE_SIZE: u16 = 0x1;
pub const SETTINGS_ENABLE_PUSH: u16 = 0x2;
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
pub const SETTINGS_MAX_FRAME_SIZE: u16 = 0x5;

/// The default (and minimum) SETTINGS_MAX_FRAME_SIZE.
pub const MAX_FRAME: usize = 16384;

/// The name of an error code, for messages.
pub fn code_name(code: u32) -> &'static str {
    match code {
        0x0 => "NO_ERROR",
        0x1 => "PROTOCOL_ERROR",
        0x2 => "INTERNAL_ERROR",
        0x3 => "FLOW_CONTROL_ERROR",
        0x4 => "SETTINGS_TIMEOUT",
        0x5 => "STREAM_CLOSED",
        0x6 => "FRAME_SIZE_ERROR",
        0x7 => "REFUSED_STREAM",
        0x8 => "CANCEL",
        0x9 => "COMPRESSION_ERROR",
        0xa => "CONNECT_ERROR",
        0xb => "ENHANCE_YOUR_CALM",
        0xc => "INADEQUATE_SECURITY",
        0xd => "HTTP_1_1_REQUIRED",
        _ => "unknown",
    }
}

// ---------------------------------------------------------------- encoding frames

/// One frame: 9-byte header + payload.
pub fn frame(ty: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 1 << 24, "frame payload too long");
    let len = payload.len() as u32;
    let mut v = Vec::with_capacity(9 + payload.len());
    v.extend_from_slice(&len.to_be_bytes()[1..]);
    v.push(ty);
    v.push(flags);
    v.extend_from_slice(&(stream & 0x7fff_ffff).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// SETTINGS with these parameters (none: an empty SETTINGS).
pub fn settings(params: &[(u16, u32)]) -> Vec<u8> {
    let mut p = Vec::with_capacity(params.len() * 6);
    for (id, val) in params {
        p.extend_from_slice(&id.to_be_bytes());
        p.extend_from_slice(&val.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &p)
}

pub fn settings_ack() -> Vec<u8> {
    frame(SETTINGS, ACK, 0, &[])
}

pub fn ping(data: [u8; 8]) -> Vec<u8> {
    frame(PING, 0, 0, &data)
}

pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

pub fn window_update(stream: u32, increment: u32) -> Vec<u8> {
    frame(WINDOW_UPDATE, 0, stream, &increment.to_be_bytes())
}

pub fn data(stream: u32, payload: &[u8], end_stream: bool) -> Vec<u8> {
    frame(
        DATA,
        if end_stream { END_STREAM } else { 0 },
        stream,
        payload,
    )
}

/// HEADERS carrying `block` (a whole block or its first fragment).
pub fn headers(stream: u32, block: &[u8], end_stream: bool, end_headers: bool) -> Vec<u8> {
    let mut flags = 0;
    if end_stream {
        flags |= END_STREAM;
    }
    if end_headers {
        flags |= END_HEADERS;
    }
    frame(HEADERS, flags, stream, block)
}

pub fn continuation(stream: u32, fragment: &[u8], end_headers: bool) -> Vec<u8> {
    frame(
        CONTINUATION,
        if end_headers { END_HEADERS } else { 0 },
        stream,
        fragment,
    )
}

/// A header block split over HEADERS + CONTINUATION frames of at most `max` bytes each.
pub fn headers_split(stream: u32, block: &[u8], end_stream: bool, max: usize) -> Vec<u8> {
    let mut chunks = block.chunks(max.max(1)).peekable();
    let first = chunks.next().unwrap_or(&[]);
    let mut out = headers(stream, first, end_stream, chunks.peek().is_none());
    while let Some(c) = chunks.next() {
        out.extend(continuation(stream, c, chunks.peek().is_none()));
    }
    out
}

/// The preface and our SETTINGS: no dynamic table, no push.
pub fn client_preface() -> Vec<u8> {
    let mut v = PREFACE.to_vec();
    v.extend(settings(&[
        (SETTINGS_HEADER_TABLE_SIZE, 0),
        (SETTINGS_ENABLE_PUSH, 0),
    ]));
    v
}

// ---------------------------------------------------------------- HPACK (encoding)

/// An integer with an `n`-bit prefix, the prefix's high bits set to `first` (RFC 7541 §5.1).
fn hpack_int(out: &mut Vec<u8>, first: u8, n: u32, mut value: usize) {
    let max = (1usize << n) - 1;
    if value < max {
        out.push(first | value as u8);
        return;
    }
    out.push(first | max as u8);
    value -= max;
    while value >= 128 {
        out.push((value % 128) as u8 | 0x80);
        value /= 128;
    }
    out.push(value as u8);
}

/// A raw (not Huffman-coded) string literal.
fn hpack_str(out: &mut Vec<u8>, s: &[u8]) {
    hpack_int(out, 0x00, 7, s.len());
    out.extend_from_slice(s);
}

/// Builds a header block from static-table entries and literals without indexing.
#[derive(Default, Clone)]
pub struct Block(pub Vec<u8>);

impl Block {
    pub fn new() -> Block {
        Block(Vec::new())
    }

    /// An indexed field from the static table (e.g. 2 = `:method GET`).
    pub fn indexed(mut self, idx: usize) -> Block {
        hpack_int(&mut self.0, 0x80, 7, idx);
        self
    }

    /// A literal without indexing whose name is static-table entry `idx`.
    pub fn name_idx(mut self, idx: usize, value: &str) -> Block {
        hpack_int(&mut self.0, 0x00, 4, idx);
        hpack_str(&mut self.0, value.as_bytes());
        self
    }

    /// A literal without indexing with a literal name (sent as given, any case).
    pub fn literal(mut self, name: &str, value: &str) -> Block {
        self.0.push(0x00);
        hpack_str(&mut self.0, name.as_bytes());
        hpack_str(&mut self.0, value.as_bytes());
        self
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// `:method` (GET and POST indexed), `:scheme http`, `:path`, `:authority`.
pub fn request_block(method: &str, path: &str, authority: &str) -> Block {
    let b = match method {
        "GET" => Block::new().indexed(2),
        "POST" => Block::new().indexed(3),
        m => Block::new().name_idx(2, m),
    };
    b.indexed(6).name_idx(4, path).name_idx(1, authority)
}

/// A complete GET request on `stream` (HEADERS with END_STREAM and END_HEADERS).
pub fn get(stream: u32, path: &str) -> Vec<u8> {
    headers(
        stream,
        request_block("GET", path, "test.local").bytes(),
        true,
        true,
    )
}

// ---------------------------------------------------------------- decoding

/// One frame as received.
#[derive(Clone)]
pub struct Frame {
    pub ty: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = match self.ty {
            DATA => "DATA",
            HEADERS => "HEADERS",
            PRIORITY => "PRIORITY",
            RST_STREAM => "RST_STREAM",
            SETTINGS => "SETTINGS",
            PUSH_PROMISE => "PUSH_PROMISE",
            PING => "PING",
            GOAWAY => "GOAWAY",
            WINDOW_UPDATE => "WINDOW_UPDATE",
            CONTINUATION => "CONTINUATION",
            _ => "?",
        };
        write!(
            f,
            "{name}(stream={} flags={:#x} len={}",
            self.stream,
            self.flags,
            self.payload.len()
        )?;
        if let Some(g) = self.goaway() {
            write!(
                f,
                " last={} code={} debug={:?}",
                g.last_stream,
                code_name(g.code),
                String::from_utf8_lossy(&g.debug)
            )?;
        }
        if let Some(c) = self.rst_code() {
            write!(f, " code={}", code_name(c))?;
        }
        if let Some(s) = self.status() {
            write!(f, " :status={s}")?;
        }
        write!(f, ")")
    }
}

/// The content of a GOAWAY frame.
#[derive(Clone, Debug)]
pub struct GoAway {
    pub last_stream: u32,
    pub code: u32,
    pub debug: Vec<u8>,
}

impl Frame {
    pub fn goaway(&self) -> Option<GoAway> {
        if self.ty != GOAWAY || self.payload.len() < 8 {
            return None;
        }
        let p = &self.payload;
        Some(GoAway {
            last_stream: u32::from_be_bytes([p[0], p[1], p[2], p[3]]) & 0x7fff_ffff,
            code: u32::from_be_bytes([p[4], p[5], p[6], p[7]]),
            debug: p[8..].to_vec(),
        })
    }

    pub fn rst_code(&self) -> Option<u32> {
        if self.ty != RST_STREAM || self.payload.len() != 4 {
            return None;
        }
        let p = &self.payload;
        Some(u32::from_be_bytes([p[0], p[1], p[2], p[3]]))
    }

    /// The `:status` of a response HEADERS (see `decode_status`).
    pub fn status(&self) -> Option<u16> {
        if self.ty != HEADERS {
            return None;
        }
        decode_status(self.header_block())
    }

    /// The header block fragment of a HEADERS frame, without padding and priority.
    pub fn header_block(&self) -> &[u8] {
        let mut p = &self.payload[..];
        let mut pad = 0;
        if self.flags & 0x8 != 0 && !p.is_empty() {
            pad = p[0] as usize;
            p = &p[1..];
        }
        if self.flags & 0x20 != 0 && p.len() >= 5 {
            p = &p[5..];
        }
        &p[..p.len().saturating_sub(pad)]
    }
}

fn read_int(b: &[u8], pos: &mut usize, n: u32) -> Option<usize> {
    let max = (1usize << n) - 1;
    let mut v = (*b.get(*pos)? as usize) & max;
    *pos += 1;
    if v < max {
        return Some(v);
    }
    let mut shift = 0;
    loop {
        let c = *b.get(*pos)? as usize;
        *pos += 1;
        v += (c & 0x7f) << shift;
        shift += 7;
        if c & 0x80 == 0 || shift > 28 {
            return Some(v);
        }
    }
}

/// Huffman codes of the ten digits (RFC 7541 Appendix B): (code, bit length).
const HUFFMAN_DIGITS: [(u32, u32); 10] = [
    (0x0, 5),
    (0x1, 5),
    (0x2, 5),
    (0x19, 6),
    (0x1a, 6),
    (0x1b, 6),
    (0x1c, 6),
    (0x1d, 6),
    (0x1e, 6),
    (0x1f, 6),
];

/// Decodes a Huffman-coded string of digits (a status code); None for anything else.
fn huffman_digits(b: &[u8]) -> Option<String> {
    let bits: Vec<u8> = b
        .iter()
        .flat_map(|byte| (0..8).rev().map(move |i| (byte >> i) & 1))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    'outer: while i < bits.len() {
        for (d, (code, len)) in HUFFMAN_DIGITS.iter().enumerate() {
            let len = *len as usize;
            if i + len > bits.len() {
                continue;
            }
            let v = bits[i..i + len]
                .iter()
                .fold(0u32, |a, &bit| (a << 1) | bit as u32);
            if v == *code {
                out.push((b'0' + d as u8) as char);
                i += len;
                continue 'outer;
            }
        }
        // The rest must be EOS padding: fewer than 8 one bits.
        return (bits.len() - i < 8 && bits[i..].iter().all(|&x| x == 1)).then_some(out);
    }
    Some(out)
}

fn read_str(b: &[u8], pos: &mut usize) -> Option<(bool, Vec<u8>)> {
    let huff = *b.get(*pos)? & 0x80 != 0;
    let len = read_int(b, pos, 7)?;
    let s = b.get(*pos..*pos + len)?.to_vec();
    *pos += len;
    Some((huff, s))
}

/// `:status` from a response header block: an indexed static entry (8..=14), or a
/// literal whose name is static entry 8 and whose value is raw or Huffman-coded
/// digits. None when it cannot tell (e.g. a dynamic-table reference).
pub fn decode_status(b: &[u8]) -> Option<u16> {
    const STATIC_STATUS: [u16; 7] = [200, 204, 206, 304, 400, 404, 500];
    let mut pos = 0;
    while pos < b.len() {
        let c = b[pos];
        if c & 0x80 != 0 {
            let idx = read_int(b, &mut pos, 7)?;
            if (8..=14).contains(&idx) {
                return Some(STATIC_STATUS[idx - 8]);
            }
            if idx > 61 {
                return None;
            }
            continue;
        }
        if c & 0xe0 == 0x20 {
            // Dynamic table size update.
            read_int(b, &mut pos, 5)?;
            continue;
        }
        let prefix = if c & 0x40 != 0 { 6 } else { 4 };
        let idx = read_int(b, &mut pos, prefix)?;
        if idx == 0 {
            read_str(b, &mut pos)?;
        }
        let (huff, value) = read_str(b, &mut pos)?;
        if idx == 8 {
            let text = if huff {
                huffman_digits(&value)?
            } else {
                String::from_utf8(value).ok()?
            };
            return text.parse().ok();
        }
    }
    None
}

// ---------------------------------------------------------------- a connection

/// A raw HTTP/2 client connection: write frames, read frames with deadlines.
pub struct RawConn {
    pub sock: TcpStream,
    buf: Vec<u8>,
    /// True once the peer closed (or reset) the connection.
    pub closed: bool,
}

/// What happened to a connection after an attack.
#[derive(Debug, Default)]
pub struct Outcome {
    pub goaway: Option<GoAway>,
    pub closed: bool,
    pub frames: usize,
    /// The first few frames received, for messages.
    pub sample: Vec<String>,
}

impl RawConn {
    /// Connects to 127.0.0.1:`port` and sends the client preface.
    pub fn open(port: u16) -> RawConn {
        let sock =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(5))
                .unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"));
        sock.set_nodelay(true).unwrap();
        sock.set_write_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let mut c = RawConn {
            sock,
            buf: Vec::new(),
            closed: false,
        };
        c.send(&client_preface()).expect("send preface");
        c
    }

    pub fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sock.write_all(bytes)
    }

    /// The next frame, or None when the connection closed or `limit` passed.
    pub fn read_frame(&mut self, limit: Duration) -> Option<Frame> {
        let deadline = Instant::now() + limit;
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let f = Frame {
                        ty: self.buf[3],
                        flags: self.buf[4],
                        stream: u32::from_be_bytes([
                            self.buf[5],
                            self.buf[6],
                            self.buf[7],
                            self.buf[8],
                        ]) & 0x7fff_ffff,
                        payload: self.buf[9..9 + len].to_vec(),
                    };
                    self.buf.drain(..9 + len);
                    return Some(f);
                }
            }
            if self.closed {
                return None;
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            let wait = (deadline - now).max(Duration::from_millis(1));
            self.sock.set_read_timeout(Some(wait)).unwrap();
            let mut tmp = [0u8; 65536];
            match self.sock.read(&mut tmp) {
                Ok(0) => self.closed = true,
                Ok(n) => self.buf.extend_from_slice(&tmp[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => self.closed = true,
            }
        }
    }

    /// Reads frames until `stop` says so, the connection closes or `limit` passes;
    /// acknowledges the peer's SETTINGS on the way. Returns the frames read.
    pub fn read_until(
        &mut self,
        limit: Duration,
        mut stop: impl FnMut(&Frame) -> bool,
    ) -> Vec<Frame> {
        let deadline = Instant::now() + limit;
        let mut out = Vec::new();
        while let Some(f) = self.read_frame(deadline.saturating_duration_since(Instant::now())) {
            if f.ty == SETTINGS && f.flags & ACK == 0 {
                let _ = self.send(&settings_ack());
            }
            let done = stop(&f);
            out.push(f);
            if done {
                break;
            }
        }
        out
    }

    /// Reads (without answering anything) until a GOAWAY and then closure, or `limit`.
    pub fn outcome(&mut self, limit: Duration) -> Outcome {
        let deadline = Instant::now() + limit;
        let mut o = Outcome::default();
        while let Some(f) = self.read_frame(deadline.saturating_duration_since(Instant::now())) {
            o.frames += 1;
            if o.sample.len() < 8 || f.ty == GOAWAY {
                o.sample.push(format!("{f:?}"));
            }
            if let Some(g) = f.goaway() {
                if o.goaway.is_none() || g.code != NO_ERROR {
                    o.goaway = Some(g);
                }
            }
        }
        o.closed = self.closed;
        o
    }

    /// Writes `bytes` from another thread (the peer may stop reading): each write
    /// gives up after the socket's 3 s write timeout, errors end the thread.
    pub fn flood(&self, bytes: Vec<u8>) -> JoinHandle<usize> {
        let mut w = self.sock.try_clone().expect("clone socket");
        thread::spawn(move || {
            let mut sent = 0;
            for chunk in bytes.chunks(4096) {
                if w.write_all(chunk).is_err() {
                    break;
                }
                sent += chunk.len();
            }
            sent
        })
    }

    pub fn shutdown(&self) {
        let _ = self.sock.shutdown(Shutdown::Both);
    }
}

/// Sends GET `path` on stream `stream` of `c` and returns its `:status` (None when the
/// stream was reset, the connection closed, or nothing came within `limit`), with the
/// frames seen on the way for messages.
pub fn request_status(
    c: &mut RawConn,
    stream: u32,
    path: &str,
    limit: Duration,
) -> (Option<u16>, Vec<Frame>) {
    if c.send(&get(stream, path)).is_err() {
        return (None, Vec::new());
    }
    wait_status(c, stream, limit)
}

/// Waits for the response HEADERS (or RST_STREAM, or GOAWAY) of `stream`.
pub fn wait_status(c: &mut RawConn, stream: u32, limit: Duration) -> (Option<u16>, Vec<Frame>) {
    let frames = c.read_until(limit, |f| {
        (f.stream == stream && (f.ty == HEADERS || f.ty == RST_STREAM)) || f.ty == GOAWAY
    });
    let st = frames
        .iter()
        .find(|f| f.stream == stream && f.ty == HEADERS)
        .and_then(|f| f.status());
    (st, frames)
}

/// A fresh connection, one GET, its status.
pub fn get_status(port: u16, path: &str) -> (Option<u16>, Vec<Frame>) {
    let mut c = RawConn::open(port);
    let r = request_status(&mut c, 1, path, Duration::from_secs(5));
    c.shutdown();
    r
}
